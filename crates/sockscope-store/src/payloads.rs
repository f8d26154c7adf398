//! Payload bytes of larger frames live in one append-only file per session beside the database
//! (schema v11), not in the `frames` row: SQLite copies every byte it stores into the record,
//! the page, the WAL and, at the checkpoint, the database file; a payload file takes each byte
//! once, in one `write` per transaction (issue 7: 1 KiB frames 6.1 → 1.6 µs, 16 KiB 75 → 5 µs
//! of CPU each, `sockscope-bench store`).
//!
//! - The directory is the database path with `.payloads` appended; a session's file is
//!   `<session id>.bin`.
//! - A frame whose stored payload has at least [`SIDE_MIN`] bytes gets `payload = x''`,
//!   `poff` (offset in its session's file) and `plen` (bytes there); smaller payloads and
//!   every frame written before v11 stay in the row (`poff IS NULL`). Imports put payloads
//!   where capture does (`import.rs`).
//! - The writer appends a batch's payloads, writes them out before the batch commits, and on a
//!   failed batch cuts each file back to where the batch began: a row never points past what
//!   was written, and a batch that is retried (disk full) writes its payloads again.
//! - Readers get the bytes through the SQL function `sockscope_payload(session_id, payload,
//!   poff, plen[, max])` ([`register`]), so every query reads both kinds of rows alike. A file
//!   that is missing or shorter than a row says (a database restored without its payload
//!   directory, a crash of the machine) yields the bytes that are there, never an error.
//! - Deleting a session removes its file once its rows are gone (`purge.rs`); files of
//!   sessions that no longer exist are removed when the store opens.

use crate::StoreError;
use bytes::Bytes;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension};
// Keys are session ids the store hands out, never peer input: a fast hasher is safe here.
use rustc_hash::FxHashMap as HashMap;
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Payloads of at least this many stored bytes go to the session's payload file. It was 512
/// until the eleventh pass (docs/benchmarks.md): with 256-B payloads in rows, each passed
/// through the row, the WAL and the checkpoint, a 16 KiB leaf held about 50 rows instead of
/// about 250, and `fanout` (100 connections, 256 B) was 31 % slower.
pub const SIDE_MIN: usize = 128;
/// Files the writer keeps open between batches (sessions written to recently). An open file
/// holds no buffer between batches, only its descriptor.
const OPEN_FILES: usize = 64;
/// A reader reads a payload file this much at a time.
const READ_CHUNK: usize = 1 << 20;
/// Most bytes buffered per file before they go to the payload thread. A file's buffer grows to
/// this as needed and goes back to a pool for reuse when the batch commits (the pool keeps at
/// most [`IN_FLIGHT`] + 2; at most [`IN_FLIGHT`] more are with the payload thread).
/// Each `write` into the page cache has a cost of its own besides the copy: on `pipelined`
/// (1 KiB frames) 256 KiB gave 4 % more round trips/s than 64 KiB; 1 MiB (past the CPU's L2
/// cache) was slower again.
const BUFFER: usize = 256 << 10;
/// A payload of at least this many bytes is written straight through (after what is
/// buffered), not copied into the buffer first: for large payloads the extra copy costs more
/// than the `write` it saves.
const STRAIGHT: usize = 64 << 10;

/// The payload directory of the database at `db`.
pub fn dir_for(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".payloads");
    PathBuf::from(s)
}

fn file_for(dir: &Path, session: i64) -> PathBuf {
    dir.join(format!("{session}.bin"))
}

struct Appender {
    file: Arc<OpenFile>,
    /// Appended bytes not yet handed to the payload thread (capacity 0 between batches).
    buf: Vec<u8>,
    /// Bytes in the file, buffered ones and those the payload thread has yet to write included.
    len: u64,
    /// `len` when the current batch began (where a failed batch cuts back to).
    batch_start: u64,
}

/// Payload files written since they were last synced. The database's rows become durable when
/// a checkpoint copies them from the WAL into the database file (`synchronous=NORMAL`); every
/// checkpoint first syncs these files, so a row that survives a power cut finds its payload.
#[derive(Clone)]
pub(crate) struct Unsynced {
    dir: PathBuf,
    ids: Arc<Mutex<HashSet<i64>>>,
}

impl Unsynced {
    pub(crate) fn new(db: &Path) -> Unsynced {
        Unsynced {
            dir: dir_for(db),
            ids: Arc::default(),
        }
    }

    fn mark(&self, id: i64) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(id);
        }
    }

    /// Syncs (`fdatasync`) every payload file written since the last call. A file removed
    /// meanwhile is skipped.
    pub(crate) fn sync(&self) {
        let ids = match self.ids.lock() {
            Ok(mut ids) => std::mem::take(&mut *ids),
            Err(_) => return,
        };
        for id in ids {
            if let Ok(f) = File::open(file_for(&self.dir, id)) {
                let _ = f.sync_data();
            }
        }
    }
}

/// Full buffers (and large payloads) handed to the payload thread and not yet written: past
/// this many the writer waits for it.
const IN_FLIGHT: usize = 8;

/// Bytes for the payload thread to append to one session's file.
enum Chunk {
    /// A full buffer (given back for reuse once written).
    Buffer(Vec<u8>),
    /// A payload of at least [`STRAIGHT`] bytes, written without a copy.
    Payload(Bytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Buffer(b) => b,
            Chunk::Payload(p) => p,
        }
    }
}

struct Job {
    session: i64,
    file: Arc<OpenFile>,
    chunk: Chunk,
}

/// What the payload thread has done: jobs finished and the first write that failed.
#[derive(Default)]
struct Done {
    count: u64,
    failed: Option<(i64, std::io::Error)>,
}

type DoneCell = Arc<(Mutex<Done>, Condvar)>;

/// The payload thread and the writer's side of it.
///
/// Copying payload bytes into the page cache (`write`) was 40 % of the writer thread's time
/// on `pipelined` (1 KiB frames), and that thread bounds it. The writer now fills buffers and
/// hands each full one to this thread, which writes it while the writer goes on with the
/// batch's rows. Before a commit the writer waits until every handed buffer is written, then
/// writes the partly filled ones itself (a handoff would only add a wake-up): a row still
/// never commits before its payload is in the file. One thread writes the jobs in the order
/// they came, so each file grows in the order of its appends.
struct Flusher {
    jobs: Option<flume::Sender<Job>>,
    /// Written buffers, back for reuse.
    spare: flume::Receiver<Vec<u8>>,
    /// Where the writer puts back the buffers of a batch that committed.
    give_back: flume::Sender<Vec<u8>>,
    done: DoneCell,
    /// Jobs handed to the thread.
    sent: u64,
    /// A write the writer made itself that failed (the thread's are in `done`).
    failed: Option<(i64, std::io::Error)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn new() -> Flusher {
        let (jobs, queue) = flume::bounded::<Job>(IN_FLIGHT);
        let (give_back, spare) = flume::bounded(IN_FLIGHT + 2);
        let done = DoneCell::default();
        let thread = {
            let done = done.clone();
            let give_back = give_back.clone();
            std::thread::Builder::new()
                .name("sockscope-payloads".into())
                .spawn(move || write_jobs(&queue, &give_back, &done))
                .ok()
        };
        Flusher {
            // Without the thread (it could not be started) the writer writes every job itself.
            jobs: thread.as_ref().map(|_| jobs),
            spare,
            give_back,
            done,
            sent: 0,
            failed: None,
            thread,
        }
    }

    /// An empty buffer: one back for reuse, else a new one that grows as it is filled (a
    /// batch that appends a little to many sessions does not take [`BUFFER`] bytes for each).
    fn buffer(&self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_default()
    }

    /// Keeps `buf` (emptied) for reuse, unless enough are kept already.
    fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 {
            buf.clear();
            let _ = self.give_back.try_send(buf);
        }
    }

    /// Hands `chunk` to the payload thread (waiting while [`IN_FLIGHT`] are queued), or
    /// writes it here when there is no thread.
    fn send(&mut self, session: i64, file: &Arc<OpenFile>, chunk: Chunk) {
        let job = Job {
            session,
            file: file.clone(),
            chunk,
        };
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => {
                    self.sent += 1;
                    return;
                }
                Err(flume::SendError(job)) => job,
            },
            None => job,
        };
        self.write_here(job.session, &job.file.file, job.chunk.bytes());
    }

    /// Writes `bytes` from the writer's thread (the payload thread must have nothing queued).
    fn write_here(&mut self, session: i64, file: &File, bytes: &[u8]) {
        if let Err(e) = (&*file).write_all(bytes) {
            self.failed.get_or_insert((session, e));
        }
    }

    /// Waits until the payload thread has written every job handed to it; returns the first
    /// write that failed since the last call.
    fn wait(&mut self) -> Option<(i64, std::io::Error)> {
        let (lock, cv) = &*self.done;
        let sent = self.sent;
        let thread_failed = match lock
            .lock()
            .and_then(|done| cv.wait_while(done, |d| d.count < sent))
        {
            Ok(mut done) => done.failed.take(),
            Err(_) => Some((0, std::io::Error::other("the payload thread stopped"))),
        };
        self.failed.take().or(thread_failed)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // The thread ends once its queue is closed and empty.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Once this many bytes were written to a payload file since the last time, the payload
/// thread asks the kernel to start writing them to the disk (`posix_fadvise(DONTNEED)` on
/// that range, which starts writeback without waiting for it; pages still dirty stay cached).
/// Every checkpoint syncs the payload files it covers (`Unsynced::sync`): left to the kernel,
/// up to 190 MB were dirty by then at `pipelined`'s 600 MB/s, and the writer waited 20–94 ms
/// at a time for the checkpointer (`perf`'s off-CPU samples). Started early, the disk writes
/// as the payloads come and the sync finds little left (fourteenth pass, docs/benchmarks.md).
#[cfg(target_os = "linux")]
const WRITEBACK_AFTER: u64 = 4 << 20;

/// A payload file the writer holds open, shared with the payload thread's jobs for it. It is
/// closed once the writer lets it go (past [`OPEN_FILES`], or its session's file removed) and
/// the payload thread has written its last job for it; what that thread notes of the file goes
/// with it.
struct OpenFile {
    file: File,
    /// Where the payload thread's early writeback has reached (see [`WRITEBACK_AFTER`]); only
    /// that thread uses it. Through the fifteenth pass a map by session id kept it, which never
    /// shrank: one entry for every session written to since the store opened.
    #[cfg(target_os = "linux")]
    writeback_from: AtomicU64,
}

impl OpenFile {
    /// `file` was just opened for appending; `len` bytes are in it.
    fn new(file: File, len: u64) -> OpenFile {
        #[cfg(not(target_os = "linux"))]
        let _ = len;
        OpenFile {
            file,
            // Bytes written before it was opened are left to the checkpoint's sync.
            #[cfg(target_os = "linux")]
            writeback_from: AtomicU64::new(len),
        }
    }

    /// The payload thread has just appended to the file.
    #[cfg(target_os = "linux")]
    fn written(&self) {
        use std::io::Seek;
        // Appends leave the file position at the file's end.
        let Ok(end) = (&self.file).stream_position() else {
            return;
        };
        // A file cut back (a failed batch) starts over from its new end.
        let from = self.writeback_from.load(Ordering::Relaxed).min(end);
        if let Some(len) = std::num::NonZeroU64::new(end - from) {
            if len.get() >= WRITEBACK_AFTER {
                let _ =
                    rustix::fs::fadvise(&self.file, from, Some(len), rustix::fs::Advice::DontNeed);
                self.writeback_from.store(end, Ordering::Relaxed);
                return;
            }
        }
        self.writeback_from.store(from, Ordering::Relaxed);
    }

    #[cfg(not(target_os = "linux"))]
    fn written(&self) {}
}

/// The payload thread: writes each job, gives its buffer back, counts it done.
fn write_jobs(queue: &flume::Receiver<Job>, give_back: &flume::Sender<Vec<u8>>, done: &DoneCell) {
    for job in queue.iter() {
        let result = (&job.file.file).write_all(job.chunk.bytes());
        if result.is_ok() {
            job.file.written();
        }
        if let Chunk::Buffer(mut b) = job.chunk {
            b.clear();
            let _ = give_back.try_send(b);
        }
        let (lock, cv) = &**done;
        if let Ok(mut d) = lock.lock() {
            d.count += 1;
            if let Err(e) = result {
                d.failed.get_or_insert((job.session, e));
            }
        }
        cv.notify_all();
    }
}

/// The writer's side: appends payloads, session by session.
pub(crate) struct PayloadWriter {
    dir: PathBuf,
    open: HashMap<i64, Appender>,
    /// Writes full buffers on a thread of its own.
    flusher: Flusher,
    /// Bytes in all payload files (for the size limit and the storage status).
    total: u64,
    /// Payloads of at least this many bytes are appended here ([`SIDE_MIN`] unless the store
    /// was opened otherwise).
    min: usize,
    /// Told of every file removed (readers then reopen theirs).
    removals: Removals,
    /// Where committed appends are noted for the next checkpoint's sync.
    unsynced: Unsynced,
}

/// `SQLITE_FULL`, as SQLite reports a full disk: a payload file that meets a full disk or the
/// size limit pauses capture exactly as the database would (`writer.rs`).
pub(crate) fn full(what: String) -> StoreError {
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some(what),
    ))
}

fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl PayloadWriter {
    pub(crate) fn new(
        db: &Path,
        min: usize,
        removals: Removals,
        unsynced: Unsynced,
    ) -> PayloadWriter {
        let dir = dir_for(db);
        let total = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        PayloadWriter {
            dir,
            open: HashMap::default(),
            flusher: Flusher::new(),
            total,
            min,
            removals,
            unsynced,
        }
    }

    /// Bytes in all payload files.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    fn err(&self, session: i64, source: std::io::Error) -> StoreError {
        let path = file_for(&self.dir, session);
        if is_disk_full(&source) {
            return full(format!(
                "database or disk is full (payload file {}: {source})",
                path.display()
            ));
        }
        StoreError::PayloadFile { path, source }
    }

    /// Where a frame's stored payload goes: appended to the session's file when it has
    /// `min` bytes or more ([`SIDE_MIN`] unless the store was opened otherwise), and then the `(poff, plen)` its row holds (with
    /// `payload = x''`); `None` when it stays in the row. Capture and imports both place
    /// payloads so.
    pub(crate) fn place(
        &mut self,
        session: i64,
        payload: &Bytes,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        if payload.len() < self.min {
            return Ok(None);
        }
        let at = self.append(session, payload)?;
        Ok(Some((
            i64::try_from(at).unwrap_or(i64::MAX),
            i64::try_from(payload.len()).unwrap_or(i64::MAX),
        )))
    }

    /// Appends `bytes` to the session's file; returns their offset. They reach the file at the
    /// latest in [`PayloadWriter::flush`]; a write that fails is reported there.
    pub(crate) fn append(&mut self, session: i64, bytes: &Bytes) -> Result<u64, StoreError> {
        let a = match self.open.entry(session) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let path = file_for(&self.dir, session);
                let opened = std::fs::create_dir_all(&self.dir)
                    .and_then(|()| {
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&path)
                    })
                    .and_then(|file| Ok((file.metadata()?.len(), file)));
                let (len, file) = match opened {
                    Ok(opened) => opened,
                    Err(source) => return Err(self.err(session, source)),
                };
                e.insert(Appender {
                    file: Arc::new(OpenFile::new(file, len)),
                    buf: Vec::new(),
                    len,
                    batch_start: len,
                })
            }
        };
        let f = &mut self.flusher;
        if bytes.len() >= STRAIGHT {
            // After what is buffered, without a copy.
            if !a.buf.is_empty() {
                let full = std::mem::take(&mut a.buf);
                f.send(session, &a.file, Chunk::Buffer(full));
            }
            f.send(session, &a.file, Chunk::Payload(bytes.clone()));
        } else {
            if a.buf.len() + bytes.len() > BUFFER {
                let full = std::mem::take(&mut a.buf);
                f.send(session, &a.file, Chunk::Buffer(full));
            }
            if a.buf.capacity() == 0 {
                a.buf = f.buffer();
            }
            // Grows by doubling, never past BUFFER (which `need` is within).
            let need = a.buf.len() + bytes.len();
            if need > a.buf.capacity() {
                let to = (2 * a.buf.capacity()).max(need).clamp(4096, BUFFER);
                a.buf.reserve_exact(to - a.buf.len());
            }
            a.buf.extend_from_slice(bytes);
        }
        let at = a.len;
        a.len += bytes.len() as u64;
        self.total += bytes.len() as u64;
        Ok(at)
    }

    /// Writes out everything appended (before the batch commits): waits for the payload
    /// thread, then writes the partly filled buffers here.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        let mut failed = self.flusher.wait();
        if failed.is_none() {
            for (session, a) in &mut self.open {
                if !a.buf.is_empty() {
                    self.flusher.write_here(*session, &a.file.file, &a.buf);
                    a.buf.clear();
                }
            }
            failed = self.flusher.failed.take();
        }
        match failed {
            Some((session, e)) => Err(self.err(session, e)),
            None => Ok(()),
        }
    }

    /// The batch committed: what it appended stays. The (empty) buffers go back for reuse;
    /// beyond [`OPEN_FILES`] open files, those the batch did not write to are closed, and if
    /// that is not enough, all.
    pub(crate) fn committed(&mut self) {
        let mut written = 0;
        for (id, a) in &mut self.open {
            if a.len != a.batch_start {
                self.unsynced.mark(*id);
                written += 1;
            }
            self.flusher.recycle(std::mem::take(&mut a.buf));
        }
        if self.open.len() > OPEN_FILES {
            if written <= OPEN_FILES {
                self.open.retain(|_, a| a.len != a.batch_start);
            } else {
                self.open.clear();
            }
        }
        for a in self.open.values_mut() {
            a.batch_start = a.len;
        }
    }

    /// The batch failed: each file is cut back to where the batch began (what could not be
    /// written is dropped from the buffers) and closed. A write that failed half-way may have
    /// left bytes past what was counted, so every file is cut, not only those the batch grew;
    /// the next append reopens it at its real length.
    pub(crate) fn rolled_back(&mut self) {
        // What the payload thread still holds is written first, so that nothing lands after
        // the cut; its failures belong to the batch that failed.
        let _ = self.flusher.wait();
        for (_, a) in std::mem::take(&mut self.open) {
            self.cut_back(a);
        }
        // Readers may have read ahead past what committed: they forget it before the bytes
        // are written again.
        self.removals.fetch_add(1, Ordering::Release);
    }

    /// Cuts `a`'s file back to where the batch began; what is still in its buffer was never
    /// written. The payload thread must hold nothing of it.
    fn cut_back(&mut self, a: Appender) {
        self.flusher.recycle(a.buf);
        self.total = self.total.saturating_sub(a.len - a.batch_start);
        let _ = a.file.file.set_len(a.batch_start);
    }

    /// Waits until the payload thread has written all it was handed (between batches it is
    /// idle); a failure stays for the next [`PayloadWriter::flush`] to report.
    fn settle(&mut self) {
        if let Some(failed) = self.flusher.wait() {
            self.flusher.failed = Some(failed);
        }
    }

    /// Takes back what the current batch appended to the session's file, while the rest of
    /// the batch goes on (an import that failed in its savepoint): the file is cut back to
    /// where the batch began and closed.
    pub(crate) fn discard(&mut self, session: i64) {
        // Nothing of it may be written after the cut; failures of other files stay reported.
        self.settle();
        if let Some(a) = self.open.remove(&session) {
            self.cut_back(a);
            // Readers may have read ahead into what is taken back.
            self.removals.fetch_add(1, Ordering::Release);
        }
    }

    /// The session is gone: its file is closed and removed.
    pub(crate) fn remove(&mut self, session: i64) {
        // The file is removed only once nothing of it is left to write.
        self.settle();
        self.open.remove(&session);
        let path = file_for(&self.dir, session);
        if let Ok(m) = std::fs::metadata(&path) {
            if std::fs::remove_file(&path).is_ok() {
                self.total = self.total.saturating_sub(m.len());
            }
            self.removals.fetch_add(1, Ordering::Release);
        }
    }
}

/// Removes payload files whose session is not in the database (a delete finished its rows
/// but not its file, then the process stopped).
pub(crate) fn remove_orphans(conn: &Connection, db: &Path) {
    let dir = dir_for(db);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".bin"))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        // Only a session known to be gone loses its file: a query that fails keeps it.
        let gone = conn
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .is_ok_and(|found| found.is_none());
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Counts the payload files the writer removed or cut back (a failed batch): a reader that
/// sees it change closes the files it holds and forgets what it read ahead (a session id may
/// be used again after a delete, and its new file must not be read through the old one's
/// handle; bytes past a cut are written again, maybe differently).
pub(crate) type Removals = Arc<AtomicU64>;

/// A sequential reader reads this much of a payload file at once, and answers the next small
/// payloads from it: a scan (a filter, timeline pages, the full-text index) reads a session's
/// payloads in seq order, which is the order they were appended in. Since the eleventh pass
/// payloads of 128 B and more live in the file; one `pread` each made a text filter over
/// 300,000 frames of 256 B 1.7× slower than with the bytes in the rows.
const AHEAD: usize = 64 << 10;

/// Bytes read ahead from one session's file.
#[derive(Default)]
struct Ahead {
    session: i64,
    /// File offset of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
    /// Where the last read ended (session, offset): a read that starts there is sequential.
    last_end: Option<(i64, u64)>,
}

impl Ahead {
    /// The bytes `[off, off + n)` of `session`'s file, if they were read ahead.
    fn get(&self, session: i64, off: u64, n: usize) -> Option<&[u8]> {
        if self.session != session || off < self.start {
            return None;
        }
        let at = usize::try_from(off - self.start).ok()?;
        self.bytes.get(at..at.checked_add(n)?)
    }
}

/// A reader's open payload files.
struct Readers {
    dir: PathBuf,
    open: HashMap<i64, File>,
    removals: Removals,
    seen: u64,
    ahead: Ahead,
}

impl Readers {
    /// Up to `n` bytes at `off` of the session's file (fewer when the file is shorter).
    fn read(&mut self, session: i64, off: u64, n: usize) -> Vec<u8> {
        let removals = self.removals.load(Ordering::Acquire);
        if removals != self.seen {
            self.open.clear();
            self.ahead = Ahead::default();
            self.seen = removals;
        }
        let sequential = self.ahead.last_end == Some((session, off));
        self.ahead.last_end = Some((session, off.saturating_add(n as u64)));
        if let Some(b) = self.ahead.get(session, off, n) {
            return b.to_vec();
        }
        let file = match self.open.entry(session) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match File::open(file_for(&self.dir, session)) {
                    Ok(f) => e.insert(f),
                    Err(_) => return Vec::new(),
                }
            }
        };
        if sequential && n < AHEAD / 4 {
            // The next payloads are most likely right behind this one.
            let mut buf = std::mem::take(&mut self.ahead.bytes);
            buf.resize(AHEAD, 0);
            let got = read_at(file, &mut buf, off).unwrap_or(0);
            buf.truncate(got);
            self.ahead.session = session;
            self.ahead.start = off;
            self.ahead.bytes = buf;
            // Fewer bytes than asked: the file is shorter than the row says.
            return self.ahead.bytes[..n.min(got)].to_vec();
        }
        // `n` comes from the database, which may be damaged: memory grows with what the file
        // holds (plus at most one chunk), never with what a row claims. Bytes are read
        // straight into the answer.
        let mut out = Vec::new();
        while out.len() < n {
            let got = out.len();
            out.resize(got + (n - got).min(READ_CHUNK), 0);
            match read_at(file, &mut out[got..], off + got as u64) {
                Ok(0) | Err(_) => {
                    out.truncate(got);
                    break;
                }
                Ok(k) => out.truncate(got + k),
            }
        }
        out
    }
}

#[cfg(unix)]
fn read_at(f: &mut File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, off)
}

#[cfg(not(unix))]
fn read_at(f: &mut File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    f.seek(SeekFrom::Start(off))?;
    f.read(buf)
}

/// Registers `sockscope_payload(session_id, payload, poff, plen[, max])` on `c`, a connection
/// to the database at `db`: the stored payload of a frame row (its first `max` bytes when
/// given), from the row or from the session's payload file. Every connection of the store has
/// it; a tool that reads frames with its own SQL registers it too.
///
/// A tool's connection holds its files open: use it for one pass, not across deletes made by a
/// running Sockscope meanwhile.
pub fn register(c: &Connection, db: &Path) -> Result<(), StoreError> {
    register_with(c, db, Removals::default())
}

/// [`register`] for the store's own connections, told of the writer's removals.
pub(crate) fn register_with(
    c: &Connection,
    db: &Path,
    removals: Removals,
) -> Result<(), StoreError> {
    let readers = Mutex::new(Readers {
        dir: dir_for(db),
        open: HashMap::default(),
        seen: removals.load(Ordering::Acquire),
        removals,
        ahead: Ahead::default(),
    });
    c.create_scalar_function(
        "sockscope_payload",
        -1,
        FunctionFlags::SQLITE_UTF8,
        move |ctx: &mut Context<'_>| {
            if !(4..=5).contains(&ctx.len()) {
                return Err(rusqlite::Error::UserFunctionError(
                    "sockscope_payload takes 4 or 5 arguments".into(),
                ));
            }
            let max = if ctx.len() == 5 {
                match ctx.get_raw(4) {
                    ValueRef::Integer(m) => usize::try_from(m.max(0)).unwrap_or(usize::MAX),
                    _ => usize::MAX,
                }
            } else {
                usize::MAX
            };
            let (ValueRef::Integer(off), ValueRef::Integer(plen)) =
                (ctx.get_raw(2), ctx.get_raw(3))
            else {
                // In the row.
                return Ok(match ctx.get_raw(1) {
                    ValueRef::Blob(b) => Value::Blob(b[..b.len().min(max)].to_vec()),
                    ValueRef::Text(t) => Value::Blob(t[..t.len().min(max)].to_vec()),
                    ValueRef::Null => Value::Null,
                    _ => Value::Blob(Vec::new()),
                });
            };
            let ValueRef::Integer(session) = ctx.get_raw(0) else {
                return Ok(Value::Blob(Vec::new()));
            };
            let n = usize::try_from(plen.max(0)).unwrap_or(0).min(max);
            let off = u64::try_from(off).unwrap_or(0);
            let bytes = match readers.lock() {
                Ok(mut r) => r.read(session, off, n),
                Err(_) => Vec::new(),
            };
            Ok(Value::Blob(bytes))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan reads ahead and answers the next payloads from memory; what it read past the
    /// last commit is forgotten when that batch fails, so the bytes written again in its
    /// place are what the next read gets.
    #[test]
    fn reading_ahead_gives_the_bytes_and_forgets_them_when_a_batch_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("r.db");
        let removals = Removals::default();
        let mut w = PayloadWriter::new(&db, SIDE_MIN, removals.clone(), Unsynced::new(&db));
        let mut r = Readers {
            dir: dir_for(&db),
            open: HashMap::default(),
            seen: removals.load(Ordering::Acquire),
            removals,
            ahead: Ahead::default(),
        };
        // Committed: 300 payloads of 200 B, each its own byte.
        let one = |i: usize| vec![(i % 251) as u8; 200];
        for i in 0..300 {
            assert_eq!(w.append(1, &Bytes::from(one(i))).ok(), Some(200 * i as u64));
        }
        assert!(w.flush().is_ok());
        w.committed();
        // A scan front to back: every payload right, most from what was read ahead.
        for i in 0..300 {
            assert_eq!(r.read(1, 200 * i as u64, 200), one(i), "payload {i}");
        }
        assert_eq!(
            (r.ahead.start, r.ahead.bytes.len()),
            (200, 200 * 299),
            "the scan did not read ahead"
        );
        // Out of order, and past the end of the file.
        assert_eq!(r.read(1, 200 * 7, 200), one(7));
        assert_eq!(r.read(1, 200 * 300, 200), Vec::<u8>::new());
        // A batch is written to the file, a reader reads ahead into it, the batch fails.
        assert!(w.append(1, &Bytes::from(vec![0xbb; 200])).is_ok());
        assert!(w.flush().is_ok());
        r.ahead = Ahead::default();
        assert_eq!(r.read(1, 200 * 298, 200), one(298));
        assert_eq!(r.read(1, 200 * 299, 200), one(299));
        assert!(
            r.ahead.get(1, 200 * 300, 200).is_some(),
            "nothing read ahead"
        );
        w.rolled_back();
        // Written again, differently, and committed.
        assert_eq!(
            w.append(1, &Bytes::from(vec![0xcc; 200])).ok(),
            Some(200 * 300)
        );
        assert!(w.flush().is_ok());
        w.committed();
        assert_eq!(r.read(1, 200 * 300, 200), vec![0xcc; 200]);
    }

    fn pending(u: &Unsynced) -> Vec<i64> {
        let mut v: Vec<i64> = u
            .ids
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Small payloads go through the buffer (past its size, more than once), large ones
    /// straight to the file after what is buffered: the file holds them all in order, each
    /// at the offset `append` returned.
    #[test]
    fn buffered_and_straight_appends_keep_their_order_and_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("o.db");
        let mut w = PayloadWriter::new(&db, SIDE_MIN, Removals::default(), Unsynced::new(&db));
        let sizes = [600, STRAIGHT, 700, BUFFER + 1, 900, STRAIGHT - 1, 1000];
        let mut want = Vec::new();
        for round in 0..3u8 {
            for (i, &n) in sizes.iter().enumerate() {
                let byte = round.wrapping_mul(16).wrapping_add(i as u8);
                let at = w.append(1, &Bytes::from(vec![byte; n])).expect("append");
                assert_eq!(at, want.len() as u64, "round {round}, payload {i}");
                want.extend(std::iter::repeat_n(byte, n));
            }
        }
        // Many small ones: the buffer fills and is written out several times.
        for i in 0..1000u32 {
            let payload = vec![(i % 251) as u8; 600];
            assert_eq!(
                w.append(1, &Bytes::copy_from_slice(&payload)).ok(),
                Some(want.len() as u64)
            );
            want.extend(payload);
        }
        assert!(w.flush().is_ok());
        w.committed();
        let got = std::fs::read(dir_for(&db).join("1.bin")).expect("read");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the file differs from what was appended");
    }

    /// The payload thread starts a file's writeback once [`WRITEBACK_AFTER`] bytes were
    /// appended since the last time, from where the last one ended; a file cut back starts
    /// over from its new end, a file opened again from where it was opened.
    #[cfg(target_os = "linux")]
    #[test]
    fn writeback_starts_every_few_megabytes_from_where_it_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.bin");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        let file = OpenFile::new(file, 0);
        let at = || file.writeback_from.load(Ordering::Relaxed);
        let chunk = vec![5u8; 1 << 20];
        let mut marks = Vec::new();
        for _ in 0..10 {
            (&file.file).write_all(&chunk).expect("write");
            file.written();
            marks.push(at() >> 20);
        }
        assert_eq!(marks, [0, 0, 0, 4, 4, 4, 4, 8, 8, 8]);
        // Cut back to 2 MiB (a failed batch): counted from the end the next append leaves.
        file.file.set_len(2 << 20).expect("cut");
        (&file.file).write_all(&chunk[..1]).expect("write");
        file.written();
        assert_eq!(at(), (2 << 20) + 1);
        for _ in 0..4 {
            (&file.file).write_all(&chunk).expect("write");
            file.written();
        }
        assert_eq!(at(), (6 << 20) + 1);
        assert_eq!(std::fs::metadata(&path).expect("len").len(), (6 << 20) + 1);
        // A file opened again counts from where it was opened.
        let again = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        let len = again.metadata().expect("len").len();
        let again = OpenFile::new(again, len);
        (&again.file).write_all(&chunk).expect("write");
        again.written();
        assert_eq!(again.writeback_from.load(Ordering::Relaxed), len);
        for _ in 0..3 {
            (&again.file).write_all(&chunk).expect("write");
            again.written();
        }
        assert_eq!(
            again.writeback_from.load(Ordering::Relaxed),
            len + (4 << 20)
        );
    }

    /// Many sessions at once, over several batches: each file holds its own payloads in
    /// order; after a commit no open file holds a buffer, and past [`OPEN_FILES`] the files the
    /// batch did not write to are closed first (all of them when the batch wrote to more).
    #[test]
    fn many_sessions_keep_their_files_apart_and_idle_files_are_closed_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("m.db");
        let mut w = PayloadWriter::new(&db, SIDE_MIN, Removals::default(), Unsynced::new(&db));
        let sessions = 2 * OPEN_FILES as i64;
        let mut want: std::collections::BTreeMap<i64, Vec<u8>> = Default::default();
        // Batch 0 writes to every session; batches 1-3 to the first OPEN_FILES - 1 only.
        for batch in 0..4i64 {
            let touched = if batch == 0 {
                sessions
            } else {
                OPEN_FILES as i64 - 1
            };
            for i in 0..40 * touched {
                let session = 1 + i % touched;
                let n = 512 + ((i * 37 + batch * 11) % 9000) as usize;
                let byte = (i + batch) as u8;
                let file = want.entry(session).or_default();
                let at = w
                    .append(session, &Bytes::from(vec![byte; n]))
                    .expect("append");
                assert_eq!(at, file.len() as u64, "batch {batch}, session {session}");
                file.extend(std::iter::repeat_n(byte, n));
            }
            assert!(w.flush().is_ok());
            w.committed();
            assert!(w.open.values().all(|a| a.buf.capacity() == 0));
            if batch == 0 {
                assert!(w.open.is_empty(), "{} open", w.open.len());
            } else {
                assert_eq!(w.open.len(), OPEN_FILES - 1);
            }
        }
        // A batch to 10 others: OPEN_FILES + 9 are open, the 10 it wrote to stay open.
        for session in OPEN_FILES as i64..OPEN_FILES as i64 + 10 {
            let file = want.entry(session).or_default();
            let at = w
                .append(session, &Bytes::from(vec![7u8; 600]))
                .expect("append");
            assert_eq!(at, file.len() as u64);
            file.extend([7u8; 600]);
        }
        assert!(w.flush().is_ok());
        w.committed();
        let mut open: Vec<i64> = w.open.keys().copied().collect();
        open.sort_unstable();
        assert_eq!(
            open,
            (OPEN_FILES as i64..OPEN_FILES as i64 + 10).collect::<Vec<_>>()
        );
        for (session, bytes) in &want {
            let got = std::fs::read(dir_for(&db).join(format!("{session}.bin"))).expect("read");
            assert!(&got == bytes, "session {session}: the file differs");
        }
        assert_eq!(w.total, want.values().map(|v| v.len() as u64).sum::<u64>());
    }

    /// A write that fails, whether on the payload thread (a full buffer, a large payload) or
    /// in the flush (the last, partly filled buffer), fails the flush as a full disk, and the
    /// files the batch touched are cut back: the next batch starts where this one began.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_on_the_payload_thread_fails_the_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("f.db");
        std::fs::create_dir_all(dir_for(&db)).expect("payload dir");
        // Every write to /dev/full fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", dir_for(&db).join("7.bin")).expect("symlink");
        let mut w = PayloadWriter::new(&db, SIDE_MIN, Removals::default(), Unsynced::new(&db));
        let is_full = |r: Result<(), StoreError>| {
            matches!(r, Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::DiskFull)
        };
        for (case, sizes) in [
            ("full buffers", vec![1000; 2 * BUFFER / 1000]),
            ("a large payload", vec![STRAIGHT]),
            ("the last buffer", vec![600]),
        ] {
            // Session 1 writes fine beside it.
            assert!(w.append(1, &Bytes::copy_from_slice(&[1; 600])).is_ok());
            for n in sizes {
                assert!(w.append(7, &Bytes::from(vec![7; n])).is_ok(), "{case}");
            }
            assert!(is_full(w.flush()), "{case}: the flush did not fail");
            w.rolled_back();
            // The failure was reported once; a batch without session 7 goes through.
            assert!(w.append(1, &Bytes::copy_from_slice(&[2; 600])).is_ok());
            assert!(w.flush().is_ok(), "{case}: a failure was reported twice");
            w.committed();
        }
        let one = std::fs::read(dir_for(&db).join("1.bin")).expect("file 1");
        assert_eq!(one, [[2u8; 600]; 3].concat(), "rolled-back bytes stayed");
    }

    /// A session's appends of the current batch are taken back (written or still buffered)
    /// while the other sessions' stay; the session appends again from where the batch began.
    #[test]
    fn a_discarded_session_loses_only_its_appends_of_the_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        let removals = Removals::default();
        let unsynced = Unsynced::new(&db);
        let mut w = PayloadWriter::new(&db, SIDE_MIN, removals.clone(), unsynced.clone());
        assert_eq!(w.append(2, &Bytes::from(vec![1u8; 500])).ok(), Some(0));
        assert!(w.flush().is_ok());
        w.committed();
        unsynced.sync();
        // Session 2 gets more than a buffer (written by the payload thread) and a tail
        // (still buffered); session 1 some of its own.
        assert_eq!(w.append(1, &Bytes::from(vec![7u8; 900])).ok(), Some(0));
        for i in 0..(BUFFER / 1000 + 3) {
            assert_eq!(
                w.append(2, &Bytes::from(vec![2u8; 1000])).ok(),
                Some(500 + 1000 * i as u64)
            );
        }
        let seen = removals.load(Ordering::Acquire);
        w.discard(2);
        assert_ne!(
            removals.load(Ordering::Acquire),
            seen,
            "readers were not told"
        );
        assert!(w.flush().is_ok());
        w.committed();
        let file = |s: i64| std::fs::read(dir_for(&db).join(format!("{s}.bin"))).expect("read");
        assert_eq!(file(1), vec![7u8; 900]);
        assert_eq!(file(2), vec![1u8; 500]);
        assert_eq!(w.total(), 1400);
        assert_eq!(pending(&unsynced), [1]);
        // Appends go on from where the batch began.
        assert_eq!(w.append(2, &Bytes::from(vec![3u8; 600])).ok(), Some(500));
        assert!(w.flush().is_ok());
        w.committed();
        assert_eq!(file(2), [vec![1u8; 500], vec![3u8; 600]].concat());
        assert_eq!(w.total(), 2000);
    }

    #[test]
    fn committed_appends_wait_for_the_next_sync_and_rolled_back_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        let unsynced = Unsynced::new(&db);
        let mut w = PayloadWriter::new(&db, SIDE_MIN, Removals::default(), unsynced.clone());
        assert_eq!(
            w.append(1, &Bytes::copy_from_slice(&[1; 600])).ok(),
            Some(0)
        );
        assert_eq!(
            w.append(2, &Bytes::copy_from_slice(&[2; 700])).ok(),
            Some(0)
        );
        assert!(w.flush().is_ok());
        w.committed();
        assert_eq!(pending(&unsynced), [1, 2]);
        unsynced.sync();
        assert!(pending(&unsynced).is_empty());
        // A failed batch: cut back, nothing to sync, the next append starts where it began.
        assert_eq!(
            w.append(1, &Bytes::copy_from_slice(&[3; 800])).ok(),
            Some(600)
        );
        w.rolled_back();
        w.committed();
        assert!(pending(&unsynced).is_empty());
        assert_eq!(
            w.append(1, &Bytes::copy_from_slice(&[4; 900])).ok(),
            Some(600)
        );
        assert!(w.flush().is_ok());
        w.committed();
        assert_eq!(w.total(), 600 + 700 + 900);
        // Bytes that reached the file past what was counted (a write that failed half-way)
        // are cut too.
        assert!(w.flush().is_ok());
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir_for(&db).join("1.bin"))
            .and_then(|mut f| f.write_all(&[9; 50]))
            .expect("stray bytes");
        w.rolled_back();
        assert_eq!(
            w.append(1, &Bytes::copy_from_slice(&[5; 600])).ok(),
            Some(1500)
        );
        assert!(w.flush().is_ok());
        let one = std::fs::read(dir_for(&db).join("1.bin")).expect("file 1");
        assert_eq!(one.len(), 2100, "the stray bytes stayed");
        assert_eq!(&one[1500..], &[5; 600][..]);
        w.rolled_back();
        // A file removed before its sync is skipped.

        w.remove(1);
        assert_eq!(pending(&unsynced), [1]);
        unsynced.sync();
        assert!(pending(&unsynced).is_empty());
        assert_eq!(w.total(), 700);
        let two = std::fs::read(dir_for(&db).join("2.bin")).expect("file 2");
        assert_eq!(two, vec![2; 700]);
    }
}

//! The single writer thread: batches operations into transactions, assigns frame `seq`s,
//! and broadcasts what it committed.

use crate::connection_index::Recent;
use crate::model::*;
use crate::payloads::PayloadWriter;
use crate::purge::not_purging;
use crate::read;
use crate::writer_status::{PauseCause, StatusCell};
use crate::{StoreError, StoreEvent};
use rusqlite::{params, Connection, Transaction};
use sockscope_proto::{ConnectionId, FrameRecord, SessionId};
// Keys are ids the store hands out, never peer input: a fast hasher is safe here.
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// At most this many operations go into one transaction. Each commit of a capture from many
/// connections rewrites a page of the per-connection index for every connection, and the
/// first commit after a checkpoint syncs the WAL: fewer, bigger commits do less of both. With
/// this at 1,024 and [`BATCH_BYTES_MAX`] at 2 MiB (were 512 and 1 MiB), `fanout` (100
/// connections, 256 B) went 159,327 · 166,031 · 160,735 → 177,677 · 181,725 · 175,832 round
/// trips/s; `pipelined` did not move.
pub const BATCH_MAX: usize = 1024;
/// A batch is committed at the latest this long after its first operation arrived.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// While a batch fills, the writer looks for more operations this often (an operation
/// someone waits for, such as a flush, waits at most this much longer).
const BATCH_POLL: Duration = Duration::from_millis(1);

type Reply<T> = flume::Sender<Result<T, StoreError>>;

pub(crate) enum WriteOp {
    /// A frame, with the room it takes in the queue (given back when the op is dropped, once
    /// the batch holding it is done).
    Frame {
        frame: FrameRecord,
        _ticket: crate::admission::Ticket,
    },
    /// The frames of one read of a relay, in order.
    Frames {
        frames: Vec<FrameRecord>,
        _ticket: crate::admission::Ticket,
    },
    /// Index every frame not yet in the full-text index, then answer (search asks first).
    CatchUpIndex(Reply<()>),
    CreateSession {
        name: String,
        kind: SessionKind,
        reply: Reply<SessionId>,
    },
    /// A session made from another one (a replay or a mock of it).
    CreateSessionWithOrigin {
        name: String,
        kind: SessionKind,
        origin_session: SessionId,
        origin_connection: Option<ConnectionId>,
        reply: Reply<SessionId>,
    },
    CreateConnection {
        conn: NewConnection,
        reply: Reply<ConnectionId>,
    },
    Connection(ConnectionEvent),
    Flush(Reply<()>),
    /// A whole parsed import, applied in one savepoint (all or nothing). Taken by the first
    /// attempt of its batch (a batch retried after a full disk answers it with an error).
    Import {
        import: Option<Box<crate::import::ParsedImport>>,
        reply: Reply<SessionId>,
    },
    /// Rename, notes, tags, pin, delete.
    Edit {
        edit: crate::organize::SessionEdit,
        reply: Reply<()>,
    },
    /// A workbench write (history, templates), applied in its own savepoint.
    Exec {
        f: crate::workbench::ExecFn,
        reply: Reply<()>,
    },
    /// `VACUUM` after the batch commits (outside any transaction).
    Vacuum(Reply<()>),
    /// Intercept rules: save, delete, reorder, toggle, count.
    Rules {
        op: crate::rules::RuleOp,
        reply: Reply<i64>,
    },
    Shutdown,
}

impl WriteOp {
    /// Someone is waiting for this one: commit without waiting for the batch window.
    fn is_urgent(&self) -> bool {
        !matches!(
            self,
            WriteOp::Frame { .. } | WriteOp::Frames { .. } | WriteOp::Connection(_)
        )
    }
}

/// Answers one waiter once the batch's fate is known.
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// Where the writer tells what it did: `all` (frames, sessions, connections, storage state)
/// and `status` (storage state and write errors only, for a headless process that shows
/// nothing else). Frame summaries are built only while someone listens on `all`.
#[derive(Clone)]
pub(crate) struct Events {
    pub all: broadcast::Sender<StoreEvent>,
    pub status: broadcast::Sender<StoreEvent>,
}

impl Events {
    /// A storage-state event: to every subscriber.
    fn status(&self, event: StoreEvent) {
        if self.status.receiver_count() > 0 {
            let _ = self.status.send(event.clone());
        }
        let _ = self.all.send(event);
    }
}

/// What one batch produced, to broadcast after commit and to answer waiters.
#[derive(Default)]
struct Outcome {
    /// Whether to build [`FrameSummary`]s (someone subscribed to frames).
    summaries: bool,
    frames: HashMap<SessionId, Vec<FrameSummary>>,
    /// The first seq written per session in this batch (seqs within a batch are consecutive).
    first_seq: HashMap<SessionId, i64>,
    /// The last seq written per session (for the commit log).
    last_seq: HashMap<SessionId, i64>,
    sessions: Vec<SessionId>,
    connections: Vec<ConnectionId>,
    replies: Vec<Answer>,
    vacuums: Vec<Reply<()>>,
    /// Deletes committed (sessions now hidden): answered once the purge is done.
    purges: Vec<(SessionId, Reply<()>)>,
}

/// How the writer reports what it committed and reacts to a full disk.
pub(crate) struct WriterConfig {
    /// Appended to after each commit: one line `SESSION LAST_SEQ` per session with new frames.
    pub commit_log: Option<std::fs::File>,
    /// The storage state this writer keeps (paused, resumed, frames waiting), and the size
    /// cap in pages (`PRAGMA max_page_count`, applied before each attempt; 0 = none) that
    /// [`crate::Store::set_size_limit`] changes.
    pub status: Arc<StatusCell>,
    /// The database file (a damage marker goes beside it).
    pub db_path: std::path::PathBuf,
    /// At most this many operations per transaction.
    pub batch_max: usize,
    /// Payloads of at least this many bytes go to payload files.
    pub payload_file_min: usize,
    /// Counts payload files removed, for the readers.
    pub payload_removals: crate::payloads::Removals,
    /// Payload files to sync before a checkpoint.
    pub payload_unsynced: crate::payloads::Unsynced,
    /// Frames in the `-wal` after the last commit (set by the connection's WAL hook, which
    /// replaces SQLite's auto-checkpoint on the writer).
    pub wal_frames: Arc<AtomicU32>,
    /// Bytes one WAL frame takes (page size + 24-byte frame header).
    pub wal_frame_bytes: u64,
    /// The background checkpointer: asked to checkpoint once the WAL passes
    /// [`CHECKPOINT_AFTER_BYTES`]. Stopped and joined when the writer stops.
    pub checkpointer: Option<Checkpointer>,
}

/// The checkpointer thread's name (15 bytes at most: what Linux keeps of it).
pub const CHECKPOINT_THREAD: &str = "sockscope-ckpt";

/// A thread with its own connection that copies the WAL back into the database
/// (`PRAGMA wal_checkpoint(PASSIVE)`: never waits for readers or the writer), so the writer
/// thread does not pay for checkpoints (reading the WAL, writing the database, two fsyncs).
pub(crate) struct Checkpointer {
    wake: flume::Sender<()>,
    handle: std::thread::JoinHandle<()>,
    /// Held while a checkpoint runs (SQLite lets one run at a time and answers a second
    /// one "busy" at once): the writer takes it to wait for the checkpointer's run to end.
    running: Arc<std::sync::Mutex<()>>,
}

impl Checkpointer {
    pub(crate) fn spawn(
        conn: Connection,
        unsynced: crate::payloads::Unsynced,
    ) -> std::io::Result<Checkpointer> {
        let (wake, rx) = flume::bounded::<()>(1);
        let running = Arc::new(std::sync::Mutex::new(()));
        let lock = running.clone();
        let handle = std::thread::Builder::new()
            .name(CHECKPOINT_THREAD.into())
            .spawn(move || {
                let _ = conn.busy_timeout(Duration::ZERO);
                while rx.recv().is_ok() {
                    let _guard = lock.lock();
                    // The payloads of the rows this makes durable first.
                    unsynced.sync();
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })?;
        Ok(Checkpointer {
            wake,
            handle,
            running,
        })
    }

    /// Asks for a checkpoint (at most one is pending; a request while one runs is kept).
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    fn stop(self) {
        drop(self.wake);
        let _ = self.handle.join();
    }
}

/// The writer counts as idle once nothing has been queued for this long: a steady stream of
/// capture (even a slow one) is never slowed down by indexing.
const IDLE_AFTER: Duration = Duration::from_millis(10);
/// While idle, the writer indexes at most this many frames per transaction…
const IDLE_INDEX_FRAMES: usize = 4096;
/// …and for at most this long, so capture arriving meanwhile waits little.
const IDLE_INDEX_TIME: Duration = Duration::from_millis(20);
/// At most this many frames go into one transaction (a batch of `Frames` ops may hold many).
const BATCH_FRAMES_MAX: usize = 16_384;

/// At most this many payload bytes per capture transaction go into the database itself: a
/// bigger transaction outgrows the page cache (pages spill into the WAL mid-transaction) and a
/// single commit fills the WAL past [`WAL_CHECKPOINT_BYTES`], so the writer would checkpoint
/// after every commit. Payloads bound for payload files do not count here (they never touch
/// the WAL or the page cache); they have their own cap, [`BATCH_FILE_BYTES_MAX`]. Like that
/// one, it must stay well under the queue's budget. A 16 MiB page cache instead of 8 bought
/// nothing more at 2 MiB.
const BATCH_BYTES_MAX: usize = 2 << 20;
const _: () = assert!(BATCH_BYTES_MAX <= crate::QUEUE_BYTES / 4);

/// At most this many payload bytes per capture transaction go to payload files: it bounds how
/// long a commit (and the frames a live view waits for) can take, not the WAL. It must stay
/// well under the queue's budget ([`crate::QUEUE_BYTES`]): a batch holds the room of the
/// operations in it until it commits, so a cap near the budget would have the batch wait for
/// operations that cannot be queued (until [`BATCH_WINDOW`] ends it).
const BATCH_FILE_BYTES_MAX: usize = 2 << 20;
const _: () = assert!(BATCH_FILE_BYTES_MAX <= crate::QUEUE_BYTES / 4);

/// The payload bytes an operation queues, as (into the database, into payload files).
fn bytes_in(op: &WriteOp, file_min: usize) -> (usize, usize) {
    let split = |f: &FrameRecord| {
        let inflated = f.inflated.as_ref().map_or(0, |b| b.len());
        if f.payload.len() >= file_min {
            (inflated, f.payload.len())
        } else {
            (f.payload.len() + inflated, 0)
        }
    };
    match op {
        WriteOp::Frame { frame, .. } => split(frame),
        WriteOp::Frames { frames, .. } => frames
            .iter()
            .map(split)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        _ => (0, 0),
    }
}

/// A frame's payload bytes, inflated form included (what the store writes of it).
pub(crate) fn payload_bytes(f: &FrameRecord) -> usize {
    f.payload.len() + f.inflated.as_ref().map_or(0, |b| b.len())
}

fn frames_in(op: &WriteOp) -> usize {
    match op {
        WriteOp::Frame { .. } => 1,
        WriteOp::Frames { frames, .. } => frames.len(),
        _ => 0,
    }
}

/// Whether a batch holds only capture traffic: frames, and updates of the connections they
/// belong to. Such a batch runs with SQLite's foreign-key checks off (see
/// [`foreign_keys`]); any other operation runs with them on. (Purge steps run with them off
/// and do the cascades themselves: `purge.rs`.)
fn capture_only(batch: &[WriteOp]) -> bool {
    batch.iter().all(|op| {
        matches!(
            op,
            WriteOp::Frame { .. } | WriteOp::Frames { .. } | WriteOp::Connection(_)
        )
    })
}

/// Turns SQLite's foreign-key enforcement on the writer's connection on or off, outside a
/// transaction. Only when it changes: setting it expires every prepared statement.
///
/// Why capture batches run without it: a multi-row `INSERT` into `frames` checks two
/// immediate foreign keys, and such a statement may abort half-way, so SQLite gives it a
/// statement journal that copies every page the statement touches that existed before it
/// (16 KiB each: the tails of `frames` and its indexes; before schema 12, with many
/// connections, also a leaf of the per-connection index each). With the checks off (and
/// `INSERT OR FAIL`, see [`insert_frames_sql`]) no statement of a capture batch can abort
/// half-way, and no journal is kept. What the checks guarded, the writer guarantees itself:
/// a frame's session is looked up before it gets a seq (`next_seq`: it exists and is not
/// being deleted), and its connection id was handed out by a committed `CreateConnection`.
/// Deletes are purge steps, which do the cascades themselves. Measured in
/// `docs/benchmarks.md` (eleventh pass).
pub(crate) fn foreign_keys(conn: &Connection, on: bool) -> Result<(), StoreError> {
    let now: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if now != on {
        conn.pragma_update(None, "foreign_keys", on)?;
    }
    Ok(())
}

/// Indexes a slice of the frames not yet searchable in its own transaction; returns whether
/// more remain. A failure (e.g. a full disk) stops idle indexing until new frames arrive.
/// The per-connection index (`connection_index.rs`) catches up first: a step of it, or a
/// slice of the full-text index, per call.
fn index_idle(conn: &mut Connection, recent: &mut Recent) -> bool {
    let deadline = Instant::now() + IDLE_INDEX_TIME;
    let mut run = |conn: &mut Connection| -> Result<bool, StoreError> {
        let tx = conn.transaction()?;
        if crate::connection_index::catch_up(&tx, recent)? {
            tx.commit()?;
            return Ok(true);
        }
        let more = crate::search::index_pending(&tx, IDLE_INDEX_FRAMES, Some(deadline))?;
        tx.commit()?;
        Ok(more)
    };
    run(conn).unwrap_or(false)
}

/// Adds the frames committed since the last catch-up to the per-connection index, in its
/// own transaction, once [`crate::connection_index::CHUNK`] of them have accumulated. A
/// failure (e.g. a full disk) leaves them to the next chunk or to idle time: until then,
/// per-connection reads find them in `frames` itself.
fn index_connections(conn: &mut Connection, recent: &mut Recent) {
    let mut run = |conn: &mut Connection| -> Result<(), StoreError> {
        let tx = conn.transaction()?;
        crate::connection_index::catch_up(&tx, recent)?;
        Ok(tx.commit()?)
    };
    let _ = run(conn);
}

/// A batch that failed for a reason that may pass (disk full, I/O error, locked by another
/// process) is retried this often; nothing queued is dropped meanwhile.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// While stopping, a failing batch is retried this long before it is given up.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(5);
/// Once the WAL holds this much after a commit, the background checkpointer is woken. A
/// checkpoint copies each page once however often the WAL holds it, so fewer, larger runs copy
/// less: with 100 connections the per-connection index dirties some 100 pages per commit. From
/// 4 and 16 MiB to 8 and 32 MiB `fanout` went from 151,000–154,000 to 166,000–170,000 round
/// trips/s with the same p99; 16 and 48 MiB gained no more and doubled the worst stall.
pub const CHECKPOINT_AFTER_BYTES: u64 = 8 * 1024 * 1024;
/// Once the WAL holds this much after a commit (the checkpointer fell behind, or never
/// caught up in a gap between two transactions so the WAL could start over), the writer
/// checkpoints itself (`PASSIVE`: copies what the checkpointer has not, never waits for
/// readers). The WAL then starts over from its beginning at the next transaction; with
/// `journal_size_limit` this bounds the `-wal` file.
pub const WAL_CHECKPOINT_BYTES: u64 = 32 * 1024 * 1024;

pub(crate) fn run(
    mut conn: Connection,
    rx: flume::Receiver<WriteOp>,
    events: Events,
    mut config: WriterConfig,
) {
    // The frame inserts of every size (`INSERT_SIZES`) stay prepared beside the writer's
    // other statements.
    conn.set_prepared_statement_cache_capacity(64);
    let mut seqs: HashMap<SessionId, i64> = HashMap::default();
    let mut stopping = false;
    let mut applied_pages = 0u64;
    // A previous run may have left frames unindexed, or a session half deleted.
    let mut index_pending = true;
    let mut purge = crate::purge::Purge::resume(&conn);
    let mut payloads = PayloadWriter::new(
        &config.db_path,
        config.payload_file_min,
        config.payload_removals.clone(),
        config.payload_unsynced.clone(),
    );
    let mut wal = WalBound::default();
    let mut idle = false;
    // Frames committed since the per-connection index last caught up (about).
    let mut unindexed = 0usize;
    // The entries of the frames committed since then, while the writer is sure of them.
    let mut recent = Recent::default();
    let dropper = Dropper::spawn();
    while !stopping {
        let first = if index_pending || purge.busy() {
            let next = if idle {
                rx.try_recv()
                    .map_err(|e| matches!(e, flume::TryRecvError::Empty))
            } else {
                rx.recv_timeout(IDLE_AFTER)
                    .map_err(|e| matches!(e, flume::RecvTimeoutError::Timeout))
            };
            match next {
                Ok(op) => {
                    idle = false;
                    op
                }
                Err(true) => {
                    // Nothing to capture: go on deleting, else make a slice of the recent
                    // frames searchable.
                    idle = true;
                    if purge.busy() {
                        purge.step(&mut conn, false, &mut payloads);
                        recent.forget();
                        wal.keep_bounded(&conn, &config);
                    } else {
                        index_pending = index_idle(&mut conn, &mut recent);
                    }
                    continue;
                }
                Err(false) => break,
            }
        } else {
            let Ok(first) = rx.recv() else { break };
            first
        };
        let deadline = Instant::now() + BATCH_WINDOW;
        let mut frames = frames_in(&first);
        let (mut bytes, mut to_files) = bytes_in(&first, config.payload_file_min);
        let mut batch = vec![first];
        while batch.len() < config.batch_max
            && frames < BATCH_FRAMES_MAX
            && bytes < BATCH_BYTES_MAX
            && to_files < BATCH_FILE_BYTES_MAX
            && !batch.last().is_some_and(WriteOp::is_urgent)
        {
            // Polls rather than waits on the queue while a batch fills: a waiting receiver
            // makes every sender (a relay, on the path of the frame it just forwarded) pay
            // a futex wake, and the writer a context switch, per operation.
            match rx.try_recv() {
                Ok(op) => {
                    frames += frames_in(&op);
                    let (b, f) = bytes_in(&op, config.payload_file_min);
                    bytes += b;
                    to_files += f;
                    batch.push(op);
                }
                Err(flume::TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    std::thread::sleep(BATCH_POLL.min(deadline - now));
                }
                Err(flume::TryRecvError::Disconnected) => break,
            }
        }
        if batch.iter().any(|op| matches!(op, WriteOp::Shutdown)) {
            // Commit everything still queued, then stop.
            batch.extend(rx.drain());
            stopping = true;
        }
        if batch
            .iter()
            .any(|op| frames_in(op) > 0 || matches!(op, WriteOp::Import { .. }))
        {
            index_pending = true;
        }
        unindexed += frames;
        if batch.iter().any(|op| matches!(op, WriteOp::Import { .. })) {
            unindexed = unindexed.max(crate::connection_index::CHUNK);
        }
        let mut paused_since: Option<Instant> = None;
        loop {
            let pages = config.status.max_pages.load(Ordering::Relaxed);
            if pages != applied_pages {
                // 0 restores SQLite's own maximum.
                let value = if pages == 0 { 1_073_741_823 } else { pages };
                let _ = conn.query_row(&format!("PRAGMA max_page_count = {value}"), [], |_| Ok(()));
                applied_pages = pages;
            }
            let mut outcome = Outcome {
                summaries: events.all.receiver_count() > 0,
                ..Outcome::default()
            };
            let result = foreign_keys(&conn, !capture_only(&batch))
                .and_then(|()| conn.transaction().map_err(StoreError::from))
                .and_then(|tx| {
                    apply_batch(
                        &tx,
                        &mut batch,
                        &mut seqs,
                        &mut payloads,
                        &mut outcome,
                        &mut recent,
                    )
                    .and_then(|()| within_limit(&tx, pages, payloads.total()))
                    // The payloads a row points at are written before the row commits.
                    .and_then(|()| payloads.flush())
                    .and_then(|()| Ok(tx.commit()?))
                });
            match result {
                Ok(()) => {
                    payloads.committed();
                    recent.committed();
                    if paused_since.is_some() {
                        config.status.resume();
                        events.status(StoreEvent::WriteResumed);
                        send_status(&events, &config.status);
                    }
                    let file_bytes = (pages != 0)
                        .then(|| file_bytes(&conn))
                        .flatten()
                        .map(|b| b + payloads.total());
                    if config.status.committed(frames_of(&batch), file_bytes) {
                        send_status(&events, &config.status);
                    }
                    if let Some(log) = config.commit_log.as_mut() {
                        log_commit(log, &outcome);
                    }
                    for (session, reply) in std::mem::take(&mut outcome.purges) {
                        purge.wait(session, reply);
                    }
                    // Broadcast first: whoever waited (flush) then sees the events already sent.
                    let replies = std::mem::take(&mut outcome.replies);
                    let vacuums = std::mem::take(&mut outcome.vacuums);
                    broadcast_outcome(&conn, &events, outcome);
                    for reply in replies {
                        reply(Ok(()));
                    }
                    for reply in vacuums {
                        let _ = reply.send(crate::organize::vacuum(&conn));
                    }
                    break;
                }
                Err(e) => {
                    // Sequence numbers handed out in the failed batch were not committed,
                    // nor the payloads it appended.
                    seqs.clear();
                    payloads.rolled_back();
                    let closing = stopping || config.status.closing.load(Ordering::Relaxed);
                    let gave_up =
                        closing && paused_since.is_some_and(|t| t.elapsed() >= SHUTDOWN_RETRY);
                    if is_transient(&e) && !gave_up {
                        // Keep the batch (and, through back-pressure, everything behind it)
                        // until the disk has room again.
                        if paused_since.is_none() {
                            paused_since = Some(Instant::now());
                            let cause = pause_cause(&e, &conn, pages, payloads.total(), &batch);
                            config.status.pause(cause, e.to_string());
                            events.status(StoreEvent::WriteError(format!(
                                "capture paused, nothing is lost yet: {e}; retrying every {} ms",
                                RETRY_INTERVAL.as_millis()
                            )));
                            send_status(&events, &config.status);
                        }
                        std::thread::sleep(RETRY_INTERVAL);
                        continue;
                    }
                    if crate::recover::is_damage(&e) {
                        crate::recover::mark_for_check(&config.db_path, &e.to_string());
                        config.status.damaged(e.to_string());
                    }
                    if paused_since.is_some() {
                        // Given up while stopping: the held frames are lost with the batch.
                        config.status.resume();
                    }
                    for reply in outcome.replies.drain(..) {
                        reply(Err(&e));
                    }
                    for reply in outcome.vacuums.drain(..) {
                        let _ = reply.send(Err(StoreError::Pragma(e.to_string())));
                    }
                    for (_, reply) in outcome.purges.drain(..) {
                        let _ = reply.send(Err(StoreError::Pragma(e.to_string())));
                    }
                    events.status(StoreEvent::WriteError(e.to_string()));
                    break;
                }
            }
        }
        config.status.done(frames_of(&batch));
        // Gives the batch's room in the queue back (the frame operations' tickets), and frees
        // its payloads, on another thread.
        dropper.release(batch);
        if unindexed >= crate::connection_index::CHUNK && !stopping {
            index_connections(&mut conn, &mut recent);
            unindexed = 0;
        }
        wal.keep_bounded(&conn, &config);
        if purge.busy() && !stopping {
            // A slice of a session being deleted, between two capture batches.
            purge.step(&mut conn, true, &mut payloads);
            recent.forget();
            wal.keep_bounded(&conn, &config);
        }
    }
    dropper.stop();
    if let Some(c) = config.checkpointer.take() {
        c.stop();
    }
    // Closing the connection checkpoints what is left.
    config.payload_unsynced.sync();
}

/// The thread name of [`Dropper`].
pub const DROP_THREAD: &str = "sockscope-drop";

/// Drops committed batches on a thread of its own: freeing a batch's payloads (allocated
/// by the relays' threads) and giving its room in the queue back (waking the relays that
/// wait for it) took 8-10 % of the writer thread, which is the one that limits capture.
/// At most [`DROP_QUEUE`] batches wait; past that the writer drops them itself.
struct Dropper(Option<(flume::Sender<Vec<WriteOp>>, std::thread::JoinHandle<()>)>);

/// Committed batches waiting for [`Dropper`]'s thread.
const DROP_QUEUE: usize = 4;

impl Dropper {
    fn spawn() -> Dropper {
        let (tx, rx) = flume::bounded::<Vec<WriteOp>>(DROP_QUEUE);
        let thread = std::thread::Builder::new()
            .name(DROP_THREAD.into())
            .spawn(move || rx.iter().for_each(drop));
        // No thread: the writer drops its batches itself, as it did before.
        Dropper(thread.ok().map(|t| (tx, t)))
    }

    /// Hands `batch` to the thread; drops it here when the thread has [`DROP_QUEUE`] waiting
    /// (or is gone).
    fn release(&self, batch: Vec<WriteOp>) {
        if let Some((tx, _)) = &self.0 {
            // On failure the batch comes back in the error, dropped with it.
            let _ = tx.try_send(batch);
        }
    }

    /// Waits until every batch handed over is dropped.
    fn stop(self) {
        if let Some((tx, thread)) = self.0 {
            // The thread ends once its queue is closed and empty.
            drop(tx);
            let _ = thread.join();
        }
    }
}

/// Keeps the WAL bounded after each commit: see [`WalBound::keep_bounded`].
struct WalBound {
    /// When the writer may next wait for readers of old snapshots.
    next_restart: Instant,
    /// How long after a failed wait the next is tried (doubles up to [`RESTART_BACKOFF_MAX`]
    /// once the wait is at its longest).
    backoff: Duration,
    /// Waits in a row that ended with a reader still on an old snapshot: each doubles the
    /// next wait.
    failures: u32,
}

impl Default for WalBound {
    fn default() -> Self {
        WalBound {
            next_restart: Instant::now(),
            backoff: RESTART_BACKOFF_MIN,
            failures: 0,
        }
    }
}

/// Once the WAL holds this much after a commit, readers keep it from starting over: a
/// passive checkpoint copies only what every open snapshot may see, and the WAL starts
/// over only at a commit with no reader in it. Readers back to back (an export, another
/// process checking a session) keep one open at nearly every commit, so without this the
/// WAL grows by everything captured meanwhile ("checkpoint starvation"; 8.5 GB in the
/// full-load soak). Past this size the writer runs `wal_checkpoint(RESTART)`: it waits up
/// to [`RESTART_WAIT`] for the readers of old snapshots to finish (readers starting
/// meanwhile read the database file, not the WAL), so the next commit starts the WAL over
/// and `journal_size_limit` cuts the file back.
pub const WAL_RESTART_BYTES: u64 = 64 * 1024 * 1024;
/// How long the writer waits for old readers at [`WAL_RESTART_BYTES`] (capture waits as
/// long, in the queue). The wait grows with the WAL (twice the bound: twice as long) and
/// doubles after each wait in a row that was too short, up to [`RESTART_WAIT_MAX`]: a reader
/// whose read transactions each last longer than the wait would otherwise keep the WAL
/// growing for ever.
const RESTART_WAIT: Duration = Duration::from_millis(100);
const RESTART_WAIT_MAX: Duration = Duration::from_secs(1);
/// After a wait that did not end with the WAL starting over, the next is tried this much
/// later; once even the longest wait fails (a reader holds one snapshot for long), twice as
/// late each time, up to the maximum: a reader that holds one snapshot for minutes (another
/// process's long transaction) costs capture at most 1 s in 30, not a wait after every batch.
const RESTART_BACKOFF_MIN: Duration = Duration::from_millis(100);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl WalBound {
    /// After a commit: wakes the checkpointer once the WAL passes [`CHECKPOINT_AFTER_BYTES`];
    /// from [`WAL_CHECKPOINT_BYTES`] waits for its run and copies the rest itself; from
    /// [`WAL_RESTART_BYTES`] waits a little for old readers so the WAL can start over.
    fn keep_bounded(&mut self, conn: &Connection, config: &WriterConfig) {
        let wal_bytes = u64::from(config.wal_frames.load(Ordering::Relaxed))
            .saturating_mul(config.wal_frame_bytes);
        if wal_bytes >= WAL_RESTART_BYTES && Instant::now() >= self.next_restart {
            let _guard = config.checkpointer.as_ref().map(|c| c.running.lock());
            let times = u32::try_from(wal_bytes / WAL_RESTART_BYTES)
                .unwrap_or(u32::MAX)
                .saturating_mul(1 << self.failures.min(4));
            let wait = RESTART_WAIT.saturating_mul(times).min(RESTART_WAIT_MAX);
            config.payload_unsynced.sync();
            if checkpoint_restart(conn, wait) {
                self.failures = 0;
                self.backoff = RESTART_BACKOFF_MIN;
                self.next_restart = Instant::now();
            } else {
                self.failures = self.failures.saturating_add(1);
                self.next_restart = Instant::now() + self.backoff;
                if wait >= RESTART_WAIT_MAX {
                    // Even the longest wait was too short: try less often.
                    self.backoff = (self.backoff * 2).min(RESTART_BACKOFF_MAX);
                }
            }
        } else if wal_bytes >= WAL_CHECKPOINT_BYTES {
            // Wait for the checkpointer's run (it did most of the copying), copy the rest.
            // While a reader holds an old snapshot nothing can be copied and this is cheap.
            let _guard = config.checkpointer.as_ref().map(|c| c.running.lock());
            config.payload_unsynced.sync();
            checkpoint_passive(conn);
        } else if wal_bytes >= CHECKPOINT_AFTER_BYTES {
            if let Some(c) = &config.checkpointer {
                c.wake();
            }
        }
    }
}

fn frames_of(batch: &[WriteOp]) -> usize {
    batch.iter().map(frames_in).sum()
}

fn send_status(events: &Events, status: &StatusCell) {
    events.status(StoreEvent::Storage(Arc::new(status.snapshot())));
}

/// The file's size as SQLite sees it (page count × page size).
fn file_bytes(conn: &Connection) -> Option<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).ok()?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).ok()?;
    u64::try_from(pages.saturating_mul(size)).ok()
}

/// The database's page size (4096 if it cannot be read).
fn page_size(conn: &Connection) -> u64 {
    conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .ok()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(4096)
}

/// With a size limit of `max_pages` (0: none), the database and its payload files together
/// must fit under it; beyond, the batch fails as on a full disk.
fn within_limit(conn: &Connection, max_pages: u64, payload_bytes: u64) -> Result<(), StoreError> {
    if max_pages == 0 {
        return Ok(());
    }
    let used = file_bytes(conn).unwrap_or(0) + payload_bytes;
    if used > max_pages.saturating_mul(page_size(conn)) {
        return Err(crate::payloads::full(
            "database or disk is full (the size limit, payload files included)".into(),
        ));
    }
    Ok(())
}

/// Why a batch could not be written: `SQLITE_FULL` is the size limit when one is set and the
/// batch would not fit under it, else a full disk.
fn pause_cause(
    e: &StoreError,
    conn: &Connection,
    max_pages: u64,
    payload_bytes: u64,
    batch: &[WriteOp],
) -> PauseCause {
    use rusqlite::ErrorCode as C;
    let code = match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => f.code,
        _ => return PauseCause::Io,
    };
    match code {
        C::DiskFull => {
            if max_pages == 0 {
                return PauseCause::DiskFull;
            }
            let used = file_bytes(conn).unwrap_or(0) + payload_bytes;
            let room = max_pages
                .saturating_mul(page_size(conn))
                .saturating_sub(used);
            let need: u64 = batch
                .iter()
                .map(|op| match op {
                    WriteOp::Frame { frame: f, .. } => f.payload.len() as u64,
                    WriteOp::Frames { frames, .. } => {
                        frames.iter().map(|f| f.payload.len() as u64).sum()
                    }
                    _ => 0,
                })
                .sum();
            // The batch (with its index and row overhead) would not fit under the limit.
            if room < need.saturating_mul(2).max(1 << 20) {
                PauseCause::SizeLimit
            } else {
                PauseCause::DiskFull
            }
        }
        C::DatabaseBusy | C::DatabaseLocked => PauseCause::Locked,
        _ => PauseCause::Io,
    }
}

/// Errors after which the same batch may succeed later.
fn is_transient(e: &StoreError) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            C::DiskFull | C::SystemIoFailure | C::DatabaseBusy | C::DatabaseLocked
        ),
        // A payload file that cannot be written (a full disk): like the database's own.
        StoreError::PayloadFile { .. } => true,
        _ => false,
    }
}

/// Appends `SESSION LAST_SEQ` lines in one write (a kill leaves at most a partial last line).
fn log_commit(log: &mut std::fs::File, outcome: &Outcome) {
    use std::io::Write;
    let mut lines = String::new();
    for (session, last) in &outcome.last_seq {
        lines.push_str(&format!("{} {}\n", session.0, last));
    }
    if !lines.is_empty() {
        let _ = log.write_all(lines.as_bytes());
    }
}

/// Copies the WAL back into the database from the writer thread, never waiting for readers
/// (what an old snapshot still needs stays; it is tried again after the next commit).
fn checkpoint_passive(conn: &Connection) {
    let _ = conn.busy_timeout(Duration::ZERO);
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    let _ = conn.busy_timeout(Duration::from_secs(5));
}

/// Copies the whole WAL back and waits up to `wait` for readers of old snapshots, so the
/// next commit starts the WAL over; returns whether it got that far.
fn checkpoint_restart(conn: &Connection, wait: Duration) -> bool {
    let _ = conn.busy_timeout(wait);
    // (busy, frames in the WAL, frames copied): busy is 1 when a reader outlasted the wait.
    let done = conn
        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))
        .is_ok_and(|busy| busy == 0);
    let _ = conn.busy_timeout(Duration::from_secs(5));
    done
}

fn apply_batch(
    tx: &Transaction<'_>,
    batch: &mut [WriteOp],
    seqs: &mut HashMap<SessionId, i64>,
    payloads: &mut PayloadWriter,
    out: &mut Outcome,
    recent: &mut Recent,
) -> Result<(), StoreError> {
    // Per session: frames added, and the sum of their lengths.
    let mut counts: HashMap<SessionId, (i64, i64)> = HashMap::default();
    // Frames wait here and go in `ROWS_PER_INSERT` rows per statement (see `PendingRows`).
    let mut rows = PendingRows::new(tx, recent)?;
    for i in 0..batch.len() {
        let frames = match &batch[i] {
            WriteOp::Frame { frame, .. } => Some(std::slice::from_ref(frame)),
            WriteOp::Frames { frames, .. } => Some(&frames[..]),
            _ => None,
        };
        if let Some(frames) = frames {
            for (j, f) in frames.iter().enumerate() {
                let at = (i, j);
                add_frame(
                    tx,
                    &mut rows,
                    batch,
                    at,
                    f,
                    seqs,
                    payloads,
                    &mut counts,
                    out,
                )?;
            }
            continue;
        }
        // Anything else may read or change `frames` (or the sessions the seqs come from): the
        // frames before it are written first, so it sees the batch in order.
        rows.flush(batch)?;
        match &mut batch[i] {
            // Queued above.
            WriteOp::Frame { .. } | WriteOp::Frames { .. } => {}
            WriteOp::CatchUpIndex(reply) => {
                crate::search::index_pending(tx, usize::MAX, None)?;
                push_reply(out, reply.clone(), ());
            }
            WriteOp::CreateSession { name, kind, reply } => {
                tx.prepare_cached(
                    "INSERT INTO sessions (name, kind, created_at_us) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    &*name,
                    kind.as_str(),
                    sockscope_proto::now_us()
                ])?;
                let id = SessionId(tx.last_insert_rowid());
                seqs.insert(id, 0);
                out.sessions.push(id);
                push_reply(out, reply.clone(), id);
            }
            WriteOp::CreateSessionWithOrigin {
                name,
                kind,
                origin_session,
                origin_connection,
                reply,
            } => {
                tx.prepare_cached(
                    "INSERT INTO sessions (name, kind, created_at_us, origin_session_id, origin_connection_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    &*name,
                    kind.as_str(),
                    sockscope_proto::now_us(),
                    origin_session.0,
                    origin_connection.map(|c| c.0)
                ])?;
                let id = SessionId(tx.last_insert_rowid());
                seqs.insert(id, 0);
                out.sessions.push(id);
                push_reply(out, reply.clone(), id);
            }
            WriteOp::CreateConnection { conn, reply } => {
                // The session may have been deleted meanwhile: refuse this one, not the batch.
                if let Err(e) = crate::organize::session_exists(tx, conn.session) {
                    let _ = reply.send(Err(e));
                    continue;
                }
                let headers = headers_json(&conn.request_headers)?;
                tx.prepare_cached(
                    "INSERT INTO connections (session_id, url, state, request_headers, created_at_us, insecure) \
                     VALUES (?1, ?2, 'connecting', ?3, ?4, ?5)",
                )?
                .execute(params![conn.session.0, conn.url, headers, conn.created_at_us, conn.insecure])?;
                let id = ConnectionId(tx.last_insert_rowid());
                if conn.insecure {
                    // An unverified upstream marks the whole session.
                    tx.prepare_cached("UPDATE sessions SET insecure = 1 WHERE id = ?1")?
                        .execute(params![conn.session.0])?;
                }
                out.connections.push(id);
                push_reply(out, reply.clone(), id);
            }
            WriteOp::Connection(event) => {
                update_connection(tx, event)?;
                out.connections.push(event.id());
            }
            WriteOp::Flush(reply) => push_reply(out, reply.clone(), ()),
            WriteOp::Import { import, reply } => {
                rows.recent.unknown_batch();
                let Some(parsed) = import.take() else {
                    // Its first attempt failed with the batch (disk full…): not kept twice.
                    let _ = reply.send(Err(StoreError::Invalid(
                        "the import could not be written (the database could not be written; \
                         try again)"
                            .into(),
                    )));
                    continue;
                };
                match crate::import::apply_isolated(tx, *parsed, payloads)? {
                    Ok((id, last_seq)) => {
                        seqs.insert(id, last_seq);
                        out.sessions.push(id);
                        push_reply(out, reply.clone(), id);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            WriteOp::Edit { edit, reply } => {
                match crate::organize::apply_isolated(tx, edit, seqs)? {
                    Ok(()) => {
                        out.sessions.push(edit.session());
                        if let crate::organize::SessionEdit::Delete { session } = edit {
                            // Answered once the purge has removed its rows (`purge.rs`).
                            out.purges.push((*session, reply.clone()));
                        } else {
                            push_reply(out, reply.clone(), ());
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            WriteOp::Exec { f, reply } => match crate::organize::isolated(tx, || f(tx))? {
                Ok(()) => push_reply(out, reply.clone(), ()),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            WriteOp::Vacuum(reply) => out.vacuums.push(reply.clone()),
            WriteOp::Rules { op, reply } => match crate::rules::apply_isolated(tx, op.clone())? {
                Ok(id) => push_reply(out, reply.clone(), id),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            WriteOp::Shutdown => {}
        }
    }
    rows.flush(batch)?;
    drop(rows);
    let mut stmt = tx.prepare_cached(
        "UPDATE sessions SET frame_count = frame_count + ?2, bytes = bytes + ?3 WHERE id = ?1",
    )?;
    for (session, (n, bytes)) in counts {
        stmt.execute(params![session.0, n, bytes])?;
    }
    Ok(())
}

/// Queues one frame's row and notes it for the session counters and the broadcast.
#[allow(clippy::too_many_arguments)]
fn add_frame(
    tx: &Transaction<'_>,
    rows: &mut PendingRows<'_, '_>,
    batch: &[WriteOp],
    at: (usize, usize),
    f: &FrameRecord,
    seqs: &mut HashMap<SessionId, i64>,
    payloads: &mut PayloadWriter,
    counts: &mut HashMap<SessionId, (i64, i64)>,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    if let Some((seq, summary)) =
        insert_frame(tx, rows, batch, at, f, seqs, payloads, out.summaries)?
    {
        let c = counts.entry(f.session).or_default();
        c.0 += 1;
        c.1 =
            c.1.saturating_add(i64::try_from(f.len_wire).unwrap_or(i64::MAX));
        out.first_seq.entry(f.session).or_insert(seq);
        out.last_seq.insert(f.session, seq);
        if let Some(summary) = summary {
            out.frames.entry(f.session).or_default().push(summary);
        }
    }
    Ok(())
}

const FRAME_COLUMNS: usize = 14;

/// Rows per multi-row frame insert. With one statement per frame, every frame reopened the
/// cursors on the table and its two indexes and searched each from its root. Within one
/// statement the cursors stay where the last row went, and a row that lands at the end of a
/// b-tree (the usual case: ids and seqs only grow) takes SQLite's append fast path. The writer
/// thread spent 1.69 µs per 1 KiB frame one row per statement, 1.43 at 32 rows, 1.33 at 128
/// (`sockscope-bench store --sizes 1024 --per-op 64 --batches 512`).
const ROWS_PER_INSERT: usize = 128;

/// The statement sizes a batch's rows are written with, largest first: full groups of
/// [`ROWS_PER_INSERT`], then the tail (at the end of a batch, or before an operation that is
/// not a frame) in as few statements as these sizes allow.
const INSERT_SIZES: [usize; 3] = [ROWS_PER_INSERT, 16, 1];

/// `INSERT OR FAIL INTO frames … VALUES (…), (…), …` with `rows` rows of [`FRAME_COLUMNS`]
/// parameters each. `OR FAIL`: a violated constraint ends the statement where it is instead
/// of undoing its earlier rows, so the statement needs no statement journal (see
/// [`foreign_keys`]). The writer never goes on after a failed statement: the whole batch's
/// transaction is rolled back.
fn insert_frames_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; FRAME_COLUMNS].join(", "));
    format!(
        "INSERT OR FAIL INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, payload, note, inflated, mask_key, poff, plen) VALUES {}",
        vec![one; rows].join(", ")
    )
}

static INSERT_SQL: std::sync::LazyLock<[String; 3]> =
    std::sync::LazyLock::new(|| INSERT_SIZES.map(insert_frames_sql));

/// A frame whose row is still to be written: where it is in the batch, and what the writer
/// decided for it (its seq, where its payload went).
struct PendingRow {
    op: usize,
    frame: usize,
    seq: i64,
    /// Offset and length in the session's payload file; `None`: the payload is in the row.
    file: Option<(i64, i64)>,
}

/// The frame rows of a batch, written [`ROWS_PER_INSERT`] at a time, in the order they came.
struct PendingRows<'t, 'r> {
    tx: &'t Transaction<'t>,
    /// One statement per size of [`INSERT_SIZES`].
    inserts: Vec<rusqlite::CachedStatement<'t>>,
    rows: Vec<PendingRow>,
    /// Told the (connection, seq) and ids of the rows of each statement.
    recent: &'r mut Recent,
    /// The (connection, seq) of the rows of one statement.
    keys: Vec<(i64, i64)>,
}

impl<'t, 'r> PendingRows<'t, 'r> {
    fn new(tx: &'t Transaction<'t>, recent: &'r mut Recent) -> Result<Self, StoreError> {
        let mut inserts = Vec::with_capacity(INSERT_SIZES.len());
        for sql in INSERT_SQL.iter() {
            inserts.push(tx.prepare_cached(sql)?);
        }
        recent.begin_batch();
        Ok(Self {
            tx,
            inserts,
            rows: Vec::with_capacity(ROWS_PER_INSERT),
            recent,
            keys: Vec::with_capacity(ROWS_PER_INSERT),
        })
    }

    fn push(&mut self, batch: &[WriteOp], row: PendingRow) -> Result<(), StoreError> {
        self.rows.push(row);
        if self.rows.len() == ROWS_PER_INSERT {
            self.flush(batch)?;
        }
        Ok(())
    }

    /// Writes the rows waiting, in order, with the largest statements that fit.
    fn flush(&mut self, batch: &[WriteOp]) -> Result<(), StoreError> {
        let mut rows = &self.rows[..];
        for (size, stmt) in INSERT_SIZES.iter().zip(self.inserts.iter_mut()) {
            while rows.len() >= *size {
                let (group, rest) = rows.split_at(*size);
                self.keys.clear();
                for (k, row) in group.iter().enumerate() {
                    let frame = frame_at(batch, row)?;
                    bind_row(stmt, k * FRAME_COLUMNS, frame, row)?;
                    self.keys.push((frame.connection.0, row.seq));
                }
                stmt.raw_execute()?;
                self.recent
                    .inserted(self.tx.last_insert_rowid(), self.keys.iter().copied());
                rows = rest;
            }
        }
        self.rows.clear();
        Ok(())
    }
}

/// The frame a pending row stands for.
fn frame_at<'b>(batch: &'b [WriteOp], row: &PendingRow) -> Result<&'b FrameRecord, StoreError> {
    let frame = match batch.get(row.op) {
        Some(WriteOp::Frame { frame, .. }) if row.frame == 0 => Some(frame),
        Some(WriteOp::Frames { frames, .. }) => frames.get(row.frame),
        _ => None,
    };
    frame.ok_or_else(|| StoreError::Corrupt("writer: a pending row lost its frame".into()))
}

fn frame_flags(f: &FrameRecord) -> i64 {
    FrameBits {
        fin: f.fin,
        rsv1: f.rsv1,
        rsv2: f.rsv2,
        rsv3: f.rsv3,
        injected: f.injected,
        masked: f.masked,
        truncated: f.truncated,
        invalid: f.issues.is_some(),
        marks: f.marks,
    }
    .pack()
}

/// Binds one row's 14 values from parameter `base + 1` on, each with its own type (not through
/// `params!`'s `&dyn ToSql`: the binds were 6–7 % of the writer thread at 1 KiB frames, `perf`,
/// most of it dispatch).
fn bind_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    base: usize,
    f: &FrameRecord,
    row: &PendingRow,
) -> Result<(), StoreError> {
    let len = i64::try_from(f.len_wire).unwrap_or(i64::MAX);
    let in_row: &[u8] = if row.file.is_some() { &[] } else { &f.payload };
    stmt.raw_bind_parameter(base + 1, f.session.0)?;
    stmt.raw_bind_parameter(base + 2, row.seq)?;
    stmt.raw_bind_parameter(base + 3, f.connection.0)?;
    stmt.raw_bind_parameter(base + 4, f.ts_us)?;
    stmt.raw_bind_parameter(base + 5, dir_to_i64(f.dir))?;
    stmt.raw_bind_parameter(base + 6, i64::from(f.opcode.to_u8()))?;
    stmt.raw_bind_parameter(base + 7, frame_flags(f))?;
    stmt.raw_bind_parameter(base + 8, len)?;
    stmt.raw_bind_parameter(base + 9, in_row)?;
    stmt.raw_bind_parameter(base + 10, f.issues.as_deref())?;
    stmt.raw_bind_parameter(base + 11, f.inflated.as_deref())?;
    stmt.raw_bind_parameter(
        base + 12,
        f.mask_key.map(|k| i64::from(u32::from_be_bytes(k))),
    )?;
    stmt.raw_bind_parameter(base + 13, row.file.map(|(at, _)| at))?;
    stmt.raw_bind_parameter(base + 14, row.file.map(|(_, n)| n))?;
    Ok(())
}

fn push_reply<T: Clone + Send + 'static>(out: &mut Outcome, reply: Reply<T>, value: T) {
    out.replies
        .push(Box::new(move |r: Result<(), &StoreError>| {
            let msg = match r {
                Ok(()) => Ok(value),
                // Errors are not Clone: each waiter gets the same text.
                Err(e) => Err(StoreError::Pragma(e.to_string())),
            };
            let _ = reply.send(msg);
        }));
}

fn headers_json(h: &Headers) -> Result<String, StoreError> {
    serde_json::to_string(h).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

fn next_seq(
    tx: &Transaction<'_>,
    seqs: &mut HashMap<SessionId, i64>,
    session: SessionId,
) -> Result<Option<i64>, StoreError> {
    if let Some(s) = seqs.get_mut(&session) {
        *s += 1;
        return Ok(Some(*s));
    }
    let exists: bool = tx
        .prepare_cached(concat!(
            "SELECT EXISTS(SELECT 1 FROM sessions WHERE id = ?1 AND id",
            not_purging!(),
            ")"
        ))?
        .query_row(params![session.0], |r| r.get(0))?;
    if !exists {
        return Ok(None);
    }
    let max: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM frames WHERE session_id = ?1")?
        .query_row(params![session.0], |r| r.get(0))?;
    seqs.insert(session, max + 1);
    Ok(Some(max + 1))
}

#[allow(clippy::too_many_arguments)]
fn insert_frame(
    tx: &Transaction<'_>,
    rows: &mut PendingRows<'_, '_>,
    batch: &[WriteOp],
    (op, frame): (usize, usize),
    f: &FrameRecord,
    seqs: &mut HashMap<SessionId, i64>,
    payloads: &mut PayloadWriter,
    summary: bool,
) -> Result<Option<(i64, Option<FrameSummary>)>, StoreError> {
    // A frame for a session that no longer exists (deleted meanwhile) is dropped.
    let Some(seq) = next_seq(tx, seqs, f.session)? else {
        return Ok(None);
    };
    // Larger payloads go to the session's payload file, the row says where (`payloads.rs`).
    let file = payloads.place(f.session.0, &f.payload)?;
    rows.push(
        batch,
        PendingRow {
            op,
            frame,
            seq,
            file,
        },
    )?;
    if !summary {
        return Ok(Some((seq, None)));
    }
    Ok(Some((
        seq,
        Some(summarize(
            FrameHead {
                seq,
                connection: f.connection,
                ts_us: f.ts_us,
                dir: f.dir,
                opcode: f.opcode,
                flags: frame_flags(f),
                len: f.len_wire,
                note: f.issues.clone(),
                inflated_len: f.inflated.as_ref().map(|b| b.len() as u64),
            },
            f.inflated.as_deref().unwrap_or(&f.payload),
        )),
    )))
}

fn update_connection(tx: &Transaction<'_>, event: &ConnectionEvent) -> Result<(), StoreError> {
    match event {
        ConnectionEvent::Opened {
            id,
            at_us,
            request_headers,
            response_status,
            response_headers,
            subprotocol,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'open', opened_at_us = ?2, request_headers = ?3, \
                 response_status = ?4, response_headers = ?5, subprotocol = ?6 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                at_us,
                headers_json(request_headers)?,
                response_status,
                headers_json(response_headers)?,
                subprotocol
            ])?;
        }
        ConnectionEvent::Closed {
            id,
            at_us,
            code,
            reason,
            by,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'closed', closed_at_us = ?2, close_code = ?3, \
                 close_reason = ?4, closed_by = ?5 WHERE id = ?1",
            )?
            .execute(params![id.0, at_us, code, reason, by.as_str()])?;
        }
        ConnectionEvent::Failed {
            id,
            at_us,
            error,
            response_status,
            response_headers,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'failed', closed_at_us = ?2, error = ?3, \
                 closed_by = 'error', response_status = COALESCE(?4, response_status), \
                 response_headers = CASE WHEN ?5 = '[]' THEN response_headers ELSE ?5 END \
                 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                at_us,
                error,
                response_status,
                headers_json(response_headers)?
            ])?;
        }
        ConnectionEvent::Details {
            id,
            options,
            handshake,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET options = COALESCE(?2, options), \
                 handshake = COALESCE(?3, handshake) WHERE id = ?1",
            )?
            .execute(params![id.0, options, handshake])?;
        }
    }
    Ok(())
}

fn broadcast_outcome(conn: &Connection, events: &Events, out: Outcome) {
    let events = &events.all;
    if events.receiver_count() == 0 {
        return;
    }
    for id in out.sessions {
        let _ = events.send(StoreEvent::Session(id));
    }
    let mut seen = Vec::new();
    for id in out.connections {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Ok(info) = read::connection(conn, id) {
            let _ = events.send(StoreEvent::Connection(Arc::new(info)));
        }
    }
    for (session, frames) in out.frames {
        let _ = events.send(StoreEvent::Frames(Arc::new(frames), session));
    }
    if out.summaries {
        return;
    }
    // Nobody listened when the batch began, so no summaries were built; someone subscribed
    // before the commit, and their first read may have come before it too. Read the batch's
    // frames back so that every frame committed after a subscription is announced.
    for (session, first) in out.first_seq {
        let Some(&last) = out.last_seq.get(&session) else {
            continue;
        };
        let count = usize::try_from(last - first + 1).unwrap_or(0);
        // Should this read fail, the next batch's frames show subscribers the gap, and they
        // read it from the database (as `Frames` promises nothing about earlier seqs).
        if let Ok(frames) = read::frames_after(conn, session, first - 1, count) {
            if !frames.is_empty() {
                let _ = events.send(StoreEvent::Frames(Arc::new(frames), session));
            }
        }
    }
}

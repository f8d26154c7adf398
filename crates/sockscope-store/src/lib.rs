//! Sockscope's SQLite store.
//!
//! * [`Store::open`] applies the embedded migrations (keyed on `PRAGMA user_version`, one
//!   transaction each) and refuses a database written by a newer Sockscope.
//! * One writer thread owns the only writing connection; it drains up to [`BATCH_MAX`] operations
//!   or [`BATCH_WINDOW`] per transaction, assigns each frame its per-session `seq`, then
//!   broadcasts what it committed ([`StoreEvent`]). The database is the source of truth; the
//!   broadcast may lag and readers re-query.
//! * Readers use their own connection and never block the writer (WAL).

mod admission;
mod connection_index;
mod connection_packs;
mod decoders;
mod detail;
mod error;
mod export;
mod har;
mod import;
mod migrations;
mod model;
mod organize;
mod paths;
mod payloads;
mod purge;
mod query;
mod read;
mod recover;
mod rules;
mod search;
mod stats;
mod workbench;
mod writer;
mod writer_status;

pub use admission::{QUIET_BYTES, QUIET_TOTAL};
pub use decoders::{DecoderChoices, MAX_DECODER_NAME};
pub use detail::{FrameFacts, MessagePayload, MessageSpan, MESSAGE_CAP};
pub use error::StoreError;
pub use import::{
    ImportFormat, ImportLimits, ImportOptions, ImportPhase, ImportProgress, ImportSummary,
};
pub use model::{
    ClosedBy, ConnState, ConnectionEvent, ConnectionInfo, FrameSummary, Headers, NewConnection,
    SessionKind, SessionSummary, StoredFrame,
};
pub use organize::{
    SessionSort, StorageInfo, MAX_NAME_CHARS, MAX_NOTES_CHARS, MAX_TAGS, MAX_TAG_CHARS,
};
pub use paths::{default_db_path, resolve_db_path, DB_ENV};
pub use payloads::{
    dir_for as payload_dir, register as register_payload_function, SIDE_MIN as PAYLOAD_FILE_MIN,
};
pub use query::{
    payload_matches, FrameFilter, FrameQuery, JsonExpr, PayloadMatches, QueryCount, RowIndex,
    TextFilter, TimelineRow, MAX_PAGE, MAX_PAYLOAD_MATCHES,
};
pub use recover::{check_file, check_file_full, OpenCheck, Recovered, CHECK_MARKER_SUFFIX};
pub use rules::{StoredRule, MAX_RULES, MAX_RULE_SPEC};
pub use search::SearchHit;
pub use stats::{
    DirCounts, SizeBucket, Stats, StatsTotals, TimeBucket, SIZE_EDGES, STATS_BUCKETS,
    STATS_BUCKETS_MAX,
};
pub use workbench::{
    history_target, HistoryEntry, TemplateRow, HISTORY_KEEP, HISTORY_MAX_BODY, TEMPLATE_MAX_BODY,
};
pub use writer::{
    BATCH_MAX, BATCH_WINDOW, CHECKPOINT_AFTER_BYTES, CHECKPOINT_THREAD, DROP_THREAD,
    RETRY_INTERVAL, WAL_CHECKPOINT_BYTES, WAL_RESTART_BYTES,
};
pub use writer_status::{PauseCause, Resumed, StorageState, StorageStatus};

use rusqlite::Connection;
use sockscope_proto::{ConnectionId, FrameRecord, SessionId};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::broadcast;
use writer::WriteOp;

/// What the writer committed, for live views. Lossy under load: re-query on lag.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    Session(SessionId),
    Frames(Arc<Vec<FrameSummary>>, SessionId),
    Connection(Arc<ConnectionInfo>),
    /// A batch could not be committed (disk full, I/O error…). When the cause may pass (disk
    /// full, I/O error, file locked) the writer keeps the batch and retries it every
    /// [`RETRY_INTERVAL`]; capture waits (back-pressure) and nothing is dropped.
    WriteError(String),
    /// A batch that had failed with a passing cause was committed after all: capture goes on.
    WriteResumed,
    /// The storage state changed: paused, resumed, or every frame that waited during a pause
    /// is written ([`Store::storage_status`] has the same at any time).
    Storage(Arc<StorageStatus>),
}

/// How a [`Store`] is opened beyond its path. `Default` is what the app and CLI use.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// After each commit, the writer appends one line `SESSION LAST_SEQ` per session that
    /// received frames in it (a crash-test aid: every frame up to LAST_SEQ is durable). The
    /// CLI sets it with `--commit-log FILE`.
    pub commit_log: Option<PathBuf>,
    /// Caps the database at this many pages (`PRAGMA max_page_count`): writes beyond fail as
    /// on a full disk. For tests; see [`Store::set_max_page_count`].
    pub max_page_count: Option<u64>,
    /// The database size limit in bytes (the user setting `SOCKSCOPE_DB_MAX_MB` /
    /// `--db-max-mb`; see [`Store::set_size_limit`]). Overrides `max_page_count`.
    pub max_bytes: Option<u64>,
    /// At most this many operations per transaction (`None`: [`BATCH_MAX`]); the capture-store
    /// micro-bench varies it.
    pub batch_max: Option<usize>,
    /// The page size of a new file (`None`: [`PAGE_SIZE`]); an existing file keeps its own.
    /// The capture-store micro-bench varies it.
    pub page_size: Option<u32>,
    /// Payloads of at least this many bytes go to the session's payload file (`None`:
    /// [`PAYLOAD_FILE_MIN`]; `Some(usize::MAX)`: every payload stays in its row, as before
    /// schema v11). For the micro-bench's comparison and for tests of the WAL.
    pub payload_file_min: Option<usize>,
    /// The writer checkpoints itself as SQLite does by default (auto-checkpoint every 1,000
    /// pages), with no checkpointer thread: what Sockscope did before, kept for the
    /// micro-bench's comparison.
    #[doc(hidden)]
    pub writer_checkpoints: bool,
}

/// The page size of new database files. Larger pages mean fewer WAL frames (two `write`s
/// each), page headers and B-tree splits per frame captured (measured: docs/benchmarks.md).
pub const PAGE_SIZE: u32 = 16384;

#[doc(hidden)]
pub use migrations::migrate_to;

/// Highest schema version this build knows.
pub const SCHEMA_VERSION: i64 = migrations::LATEST;

/// A handle to one database file. Cheap to clone; the writer thread stops when the last
/// clone is dropped (after committing what was queued).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    reader: Mutex<Connection>,
    /// A second read connection for long analytical reads ([`Store::stats`]), so the
    /// timeline's page queries on `reader` never wait behind them (WAL: readers run
    /// concurrently, each on its own snapshot).
    stats_reader: Mutex<Connection>,
    tx: flume::Sender<WriteOp>,
    events: broadcast::Sender<StoreEvent>,
    /// Storage state and write errors only ([`Store::subscribe_status`]).
    status_events: broadcast::Sender<StoreEvent>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Storage state kept by the writer (paused on a full disk…), the size limit, and the
    /// count of frames queued and not yet written.
    status: Arc<writer_status::StatusCell>,
    /// What the open-time check did.
    open_check: OpenCheck,
    /// Room for frames in the writer's queue (bytes, per connection and shared).
    admission: Arc<admission::Admission>,
    /// Counts payload files the writer removed (for the export readers' payload function).
    payload_removals: payloads::Removals,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A writer paused on a full disk is told too: it would otherwise retry for ever and
        // never read the Shutdown queued behind its batch.
        self.status
            .closing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.tx.send(WriteOp::Shutdown);
        if let Ok(mut slot) = self.writer.lock() {
            if let Some(handle) = slot.take() {
                let _ = handle.join();
            }
        }
    }
}

/// How many committed-event messages a slow subscriber may fall behind before it lags.
const EVENT_CAPACITY: usize = 1024;
/// How many payload bytes of frames may be queued (beyond each connection's small allowance,
/// [`QUIET_BYTES`]) before senders wait, so a writer that falls behind holds memory bounded
/// whatever the frame sizes. The queue itself is unbounded: every frame operation is admitted
/// by bytes (`admission.rs`), the other operations are answered one by one.
pub const QUEUE_BYTES: usize = 8 << 20;
/// What a queued frame costs the byte budget beyond its payload.
const FRAME_OVERHEAD: usize = 160;

impl Store {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    /// A damaged file is refused ([`StoreError::Damaged`]) and left untouched; see
    /// [`Store::open_or_recover`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`], except that a damaged file (not SQLite, empty, truncated, failing
    /// `PRAGMA quick_check`) is renamed aside — `NAME.corrupt-UNIXTIME`, with its `-wal` and
    /// `-shm` — and a fresh database is created in its place. The caller tells the user
    /// where the old file went ([`Recovered`]). Never deletes or writes the damaged file.
    pub fn open_or_recover(
        path: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<(Store, Option<Recovered>), StoreError> {
        let path = path.as_ref();
        match Store::open_with(path, options.clone()) {
            Err(StoreError::Damaged { reason, .. }) => {
                let moved_to = recover::move_aside(path)?;
                let store = Store::open_with(path, options)?;
                Ok((store, Some(Recovered { moved_to, reason })))
            }
            other => other.map(|s| (s, None)),
        }
    }

    /// [`Store::open`] with [`StoreOptions`].
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Io {
                    path: parent.to_path_buf(),
                    source: e,
                })?;
            }
        }
        let open_check = recover::check_file(&path)?;
        let opened = Store::start(path.clone(), options, open_check);
        match opened {
            // SQLite found damage the quick look at open did not: the same as a failed check.
            Err(e) if recover::is_damage(&e) => Err(StoreError::Damaged {
                path,
                reason: e.to_string(),
            }),
            other => other,
        }
    }

    fn start(
        path: PathBuf,
        options: StoreOptions,
        open_check: OpenCheck,
    ) -> Result<Store, StoreError> {
        if open_check.full_check.is_some() {
            // The whole file was read and is sound: a damage marker has done its job.
            recover::clear_check_marker(&path);
        }
        organize::prepare_new_file(&path, options.page_size.unwrap_or(PAGE_SIZE))?;
        let mut write_conn = open_connection(&path)?;
        migrations::apply(&mut write_conn, &path)?;
        // The full-text indexing on the writer reads payloads too.
        let removals = payloads::Removals::default();
        payloads::register_with(&write_conn, &path, removals.clone())?;
        payloads::remove_orphans(&write_conn, &path);
        // After a checkpoint resets it, the -wal is cut back to this size. The writer's page
        // cache holds a batch (8 MiB instead of SQLite's 2 MiB): smaller, a big batch
        // spills and pages are read back from the file (measured: see docs/benchmarks.md).
        write_conn
            .execute_batch("PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -8192")
            .map_err(|e| StoreError::open(&path, e))?;
        // Checkpoints are not the writer's job: this hook (which replaces SQLite's
        // auto-checkpoint on this connection) tells it how large the WAL is after each
        // commit, and it wakes the checkpointer thread (or, far behind, checkpoints itself).
        let wal_frames = Arc::new(std::sync::atomic::AtomicU32::new(0));
        if !options.writer_checkpoints {
            let wal_frames = wal_frames.clone();
            write_conn
                .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: i32| {
                    wal_frames.store(
                        u32::try_from(frames).unwrap_or(0),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    Ok(())
                }))
                .map_err(|e| StoreError::open(&path, e))?;
        }
        // Payload files written since their last sync: synced before every checkpoint.
        let unsynced = payloads::Unsynced::new(&path);
        let checkpointer = if options.writer_checkpoints {
            None
        } else {
            Some(
                writer::Checkpointer::spawn(open_connection(&path)?, unsynced.clone()).map_err(
                    |e| StoreError::Io {
                        path: path.clone(),
                        source: e,
                    },
                )?,
            )
        };
        let reader = open_connection(&path)?;
        query::register(&reader)?;
        payloads::register_with(&reader, &path, removals.clone())?;
        let stats_reader = open_connection(&path)?;
        payloads::register_with(&stats_reader, &path, removals.clone())?;
        let commit_log = match &options.commit_log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| StoreError::Io {
                        path: p.clone(),
                        source: e,
                    })?,
            ),
            None => None,
        };
        let page_size: u64 = write_conn
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
            .map_err(|e| StoreError::open(&path, e))?
            .try_into()
            .unwrap_or(4096);
        let max_pages = match options.max_bytes {
            Some(bytes) => pages_for(bytes, page_size),
            None => options.max_page_count.unwrap_or(0),
        };
        let status = Arc::new(writer_status::StatusCell::new(&path, max_pages, page_size));
        let config = writer::WriterConfig {
            commit_log,
            status: status.clone(),
            db_path: path.clone(),
            wal_frames,
            wal_frame_bytes: page_size + 24,
            checkpointer,
            batch_max: options.batch_max.unwrap_or(BATCH_MAX).max(1),
            payload_file_min: options.payload_file_min.unwrap_or(PAYLOAD_FILE_MIN),
            payload_removals: removals.clone(),
            payload_unsynced: unsynced,
        };
        let (tx, rx) = flume::unbounded();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (status_events, _) = broadcast::channel(EVENT_CAPACITY);
        let writer_events = writer::Events {
            all: events.clone(),
            status: status_events.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("sockscope-store-writer".into())
            .spawn(move || writer::run(write_conn, rx, writer_events, config))
            .map_err(|e| StoreError::Io {
                path: path.clone(),
                source: e,
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                reader: Mutex::new(reader),
                stats_reader: Mutex::new(stats_reader),
                tx,
                events,
                status_events,
                writer: Mutex::new(Some(handle)),
                status,
                open_check,
                admission: admission::Admission::new(),
                payload_removals: removals,
            }),
        })
    }

    /// Caps the database at `pages` pages from the next batch on (`None`: no cap), as if the
    /// disk were full beyond it. For tests of the full-disk path.
    pub fn set_max_page_count(&self, pages: Option<u64>) {
        self.inner
            .status
            .max_pages
            .store(pages.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Limits the database file to about `bytes` (rounded up to whole pages; `None`: no
    /// limit) from the next batch on. Beyond it, capture pauses exactly as on a full disk
    /// ([`StorageState::Paused`] with [`PauseCause::SizeLimit`]) and resumes by itself once
    /// the limit is raised or space is freed inside the file. A limit below the file's
    /// current size holds it at its current size.
    pub fn set_size_limit(&self, bytes: Option<u64>) {
        let page_size = self
            .inner
            .status
            .page_size
            .load(std::sync::atomic::Ordering::Relaxed);
        self.set_max_page_count(bytes.map(|b| pages_for(b, page_size)));
    }

    /// The storage state the writer keeps: writing, or paused (why, since when, how many
    /// frames wait), how the last pause ended, the size limit, damage reported in use.
    pub fn storage_status(&self) -> StorageStatus {
        self.inner.status.snapshot()
    }

    /// What the check at open did (whether the whole file was read, and why; how long).
    pub fn open_check(&self) -> &OpenCheck {
        &self.inner.open_check
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Live notifications of committed data.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.events.subscribe()
    }

    /// Only [`StoreEvent::Storage`], [`StoreEvent::WriteError`] and
    /// [`StoreEvent::WriteResumed`]: for a process that reports the storage state and shows
    /// no frames. While nobody uses [`Store::subscribe`], the writer builds no frame
    /// summaries (their previews cost about 7 % of its time at 1 KiB frames).
    pub fn subscribe_status(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.status_events.subscribe()
    }

    // ---- writes (through the writer thread) ----

    /// Queues a frame. Waits (asynchronously) while the queue is full: capture never drops.
    /// A connection with little queued is let in at once (see [`QUIET_BYTES`]).
    pub async fn record_frame(&self, frame: FrameRecord) -> Result<(), StoreError> {
        let ticket = self
            .inner
            .admission
            .admit(frame.connection, queued_bytes(&frame))
            .await?;
        self.send_frames(
            WriteOp::Frame {
                frame,
                _ticket: ticket,
            },
            1,
        )
    }

    /// Queues the frames of one read (a relay's chunk, all of one connection), in order, as
    /// one operation: far less queue traffic than one [`Store::record_frame`] each. Waits
    /// while [`QUEUE_BYTES`] of frames are queued already (back-pressure, never a drop),
    /// unless the connection has little queued itself.
    pub async fn record_frames(&self, frames: Vec<FrameRecord>) -> Result<(), StoreError> {
        let Some(first) = frames.first() else {
            return Ok(());
        };
        let bytes: usize = frames.iter().map(queued_bytes).sum();
        let ticket = self.inner.admission.admit(first.connection, bytes).await?;
        let n = frames.len();
        self.send_frames(
            WriteOp::Frames {
                frames,
                _ticket: ticket,
            },
            n,
        )
    }

    /// Hands an admitted frame operation to the writer (the queue is unbounded: admission
    /// bounds it). The writer drops the ticket once the batch holding it is done.
    fn send_frames(&self, op: WriteOp, frames: usize) -> Result<(), StoreError> {
        let queued = Queued::new(&self.inner.status, frames);
        self.inner.tx.send(op).map_err(|_| StoreError::WriterGone)?;
        queued.sent();
        Ok(())
    }

    /// Makes every committed frame searchable now (the writer indexes in the background
    /// otherwise). Blocking: call from a blocking context.
    pub(crate) fn catch_up_index_blocking(&self) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.inner
            .tx
            .send(WriteOp::CatchUpIndex(reply))
            .map_err(|_| StoreError::WriterGone)?;
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Blocking variant of [`Store::record_frame`] for non-async callers.
    pub fn record_frame_blocking(&self, frame: FrameRecord) -> Result<(), StoreError> {
        let ticket = self
            .inner
            .admission
            .admit_blocking(frame.connection, queued_bytes(&frame))?;
        self.send_frames(
            WriteOp::Frame {
                frame,
                _ticket: ticket,
            },
            1,
        )
    }

    pub async fn create_session(
        &self,
        name: &str,
        kind: SessionKind,
    ) -> Result<SessionId, StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::CreateSession {
            name: name.to_owned(),
            kind,
            reply,
        })
        .await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Creates a session made from another one (a replay or mock of it): its
    /// `origin_session_id` / `origin_connection_id` point there.
    pub async fn create_session_with_origin(
        &self,
        name: &str,
        kind: SessionKind,
        origin_session: SessionId,
        origin_connection: Option<ConnectionId>,
    ) -> Result<SessionId, StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::CreateSessionWithOrigin {
            name: name.to_owned(),
            kind,
            origin_session,
            origin_connection,
            reply,
        })
        .await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    pub async fn create_connection(&self, conn: NewConnection) -> Result<ConnectionId, StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::CreateConnection { conn, reply })
            .await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Records a state change of a connection (opened, closed, failed).
    pub async fn update_connection(&self, event: ConnectionEvent) -> Result<(), StoreError> {
        self.send_async(WriteOp::Connection(event)).await
    }

    /// Waits until everything queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::Flush(reply)).await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Blocking variant of [`Store::flush`].
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.inner
            .tx
            .send(WriteOp::Flush(reply))
            .map_err(|_| StoreError::WriterGone)?;
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub(crate) async fn send_op(&self, op: WriteOp) -> Result<(), StoreError> {
        self.send_async(op).await
    }

    async fn send_async(&self, op: WriteOp) -> Result<(), StoreError> {
        self.inner
            .tx
            .send_async(op)
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    // ---- reads (own connection; synchronous: call from a blocking context) ----

    pub(crate) fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.inner.reader.lock().map_err(|_| StoreError::Poisoned)?;
        let r = f(&guard);
        drop(guard);
        self.note_damage(r)
    }

    /// Runs an export on a connection of its own, opened for it: an export of a big session
    /// takes long, and the timeline's queries on the shared reader must not wait behind it.
    pub(crate) fn with_export_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let r = open_connection(&self.inner.path).and_then(|c| {
            payloads::register_with(&c, &self.inner.path, self.inner.payload_removals.clone())?;
            f(&c)
        });
        self.note_damage(r)
    }

    /// A read that SQLite answered with `SQLITE_CORRUPT` / `SQLITE_NOTADB`: the status says
    /// so, and a marker makes the next start check the whole file (and move it aside if it
    /// is damaged).
    fn note_damage<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            if recover::is_damage(e) {
                let what = e.to_string();
                recover::mark_for_check(&self.inner.path, &what);
                self.inner.status.damaged(what);
            }
        }
        r
    }

    /// [`Store::with_reader`] on the statistics connection.
    fn with_stats_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self
            .inner
            .stats_reader
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        let r = f(&guard);
        drop(guard);
        self.note_damage(r)
    }

    pub fn sessions(&self) -> Result<Vec<SessionSummary>, StoreError> {
        self.with_reader(read::sessions)
    }

    pub fn session(&self, id: SessionId) -> Result<SessionSummary, StoreError> {
        self.with_reader(|c| read::session(c, id))
    }

    pub fn connections(&self, session: SessionId) -> Result<Vec<ConnectionInfo>, StoreError> {
        self.with_reader(|c| read::connections(c, session))
    }

    pub fn connection(&self, id: ConnectionId) -> Result<ConnectionInfo, StoreError> {
        self.with_reader(|c| read::connection(c, id))
    }

    /// The messages of a connection in order: data messages reassembled from their fragments
    /// (inflated when compressed), control frames as they are (what replay, mock and diff use).
    pub fn connection_messages(
        &self,
        conn: ConnectionId,
    ) -> Result<Vec<sockscope_proto::diff::Message>, StoreError> {
        self.with_reader(|c| read::connection_messages(c, conn))
    }

    /// Frame summaries with `seq > after_seq`, in seq order, at most `limit`.
    pub fn frames_after(
        &self,
        session: SessionId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<FrameSummary>, StoreError> {
        self.with_reader(|c| read::frames_after(c, session, after_seq, limit))
    }

    /// One frame with its payload.
    pub fn frame(&self, session: SessionId, seq: i64) -> Result<StoredFrame, StoreError> {
        self.with_reader(|c| read::frame(c, session, seq))
    }

    // ---- the timeline's queries (see `query.rs`) ----

    /// Rows `offset..offset + limit` (at most [`MAX_PAGE`]) of the query's filtered list,
    /// scanning as far as needed.
    pub fn query_page(
        &self,
        q: &mut FrameQuery,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<TimelineRow>, StoreError> {
        self.fts_ready(q)?;
        self.with_reader(|c| q.page(c, offset, limit))
    }

    /// A query with a full-text condition needs the index up to date (it is built beside
    /// capture): the writer indexes what is pending first.
    fn fts_ready(&self, q: &FrameQuery) -> Result<(), StoreError> {
        if q.filter()
            .fts
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
        {
            self.catch_up_index_blocking()?;
        }
        Ok(())
    }

    /// Scans on (frames committed since included) for about `budget`, taking the reading
    /// connection one chunk at a time, and says how many frames match so far.
    pub fn query_count(
        &self,
        q: &mut FrameQuery,
        budget: std::time::Duration,
    ) -> Result<QueryCount, StoreError> {
        let started = std::time::Instant::now();
        self.fts_ready(q)?;
        let mut more = self.with_reader(|c| q.refresh(c))?;
        while more && started.elapsed() < budget {
            more = self.with_reader(|c| q.scan_step(c))?;
        }
        Ok(q.count())
    }

    /// Where the frame `seq` is, or would be, in the query's list.
    pub fn query_index_of(&self, q: &mut FrameQuery, seq: i64) -> Result<RowIndex, StoreError> {
        self.fts_ready(q)?;
        self.with_reader(|c| q.index_of(c, seq))
    }

    /// The frames of the message that starts at `seq`: it, then its continuation frames up to
    /// FIN (at most `limit`). A frame that is a whole message comes alone.
    pub fn message_fragments(
        &self,
        session: SessionId,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<FrameSummary>, StoreError> {
        self.with_reader(|c| query::message_fragments(c, session, seq, limit))
    }

    /// [`Store::message_fragments`] with `filter`'s highlights in each fragment's preview
    /// (an expanded message of a filtered timeline).
    pub fn message_fragment_rows(
        &self,
        session: SessionId,
        seq: i64,
        limit: usize,
        filter: &FrameFilter,
    ) -> Result<Vec<TimelineRow>, StoreError> {
        self.with_reader(|c| query::fragment_rows(c, session, seq, limit, filter))
    }

    // ---- the detail view and statistics (see `detail.rs`, `stats.rs`) ----

    /// A frame's header facts (RSV bits, raw opcode, masking key) and its message.
    pub fn frame_facts(&self, session: SessionId, seq: i64) -> Result<FrameFacts, StoreError> {
        self.with_reader(|c| detail::frame_facts(c, session, seq))
    }

    /// The whole message `seq` belongs to, fragments joined (inflated when compressed), at
    /// most `cap` bytes.
    pub fn message_payload(
        &self,
        session: SessionId,
        seq: i64,
        cap: usize,
    ) -> Result<MessagePayload, StoreError> {
        self.with_reader(|c| detail::message_payload(c, session, seq, cap))
    }

    /// Frames and bytes per direction over time (about `buckets` buckets), a size histogram
    /// and totals, for a session or one of its connections. Runs on its own read connection:
    /// timeline queries are not held up while it scans.
    pub fn stats(
        &self,
        session: SessionId,
        connection: Option<ConnectionId>,
        buckets: usize,
    ) -> Result<Stats, StoreError> {
        self.with_stats_reader(|c| stats::stats(c, session, connection, buckets))
    }

    /// Frames per connection of a session with `seq <= max_seq` (the timeline's counts when it
    /// opens a session; frames streamed after `max_seq` are counted as they arrive).
    pub fn connection_frame_counts(
        &self,
        session: SessionId,
        max_seq: i64,
    ) -> Result<Vec<(ConnectionId, i64)>, StoreError> {
        self.with_reader(|c| query::connection_frame_counts(c, session, max_seq))
    }

    /// Writes the session in the lossless JSONL format (DESIGN.md §5).
    pub fn export_jsonl(
        &self,
        session: SessionId,
        out: &mut dyn std::io::Write,
    ) -> Result<(), StoreError> {
        self.with_export_reader(|c| export::jsonl(c, session, out))
    }
}

/// Pages needed for `bytes` (at least one).
fn pages_for(bytes: u64, page_size: u64) -> u64 {
    bytes.div_ceil(page_size.max(512)).max(1)
}

/// Environment variable holding the database size limit in MB (`0` or unset: none).
pub const DB_MAX_MB_ENV: &str = "SOCKSCOPE_DB_MAX_MB";

/// Reads a database size limit given in MB (the value of `SOCKSCOPE_DB_MAX_MB` or
/// `--db-max-mb`): a whole number, `0` meaning no limit; the result is in bytes.
pub fn parse_size_limit_mb(value: &str) -> Result<Option<u64>, String> {
    let v = value.trim();
    let mb: u64 = v.parse().map_err(|_| {
        format!("the database size limit must be a whole number of MB (0 = none), not {v:?}")
    })?;
    if mb > 1 << 30 {
        return Err(format!("the database size limit of {mb} MB is too large"));
    }
    Ok((mb > 0).then_some(mb << 20))
}

/// The limit from `SOCKSCOPE_DB_MAX_MB` (`Ok(None)` when unset or empty).
pub fn size_limit_from_env() -> Result<Option<u64>, String> {
    match std::env::var(DB_MAX_MB_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            parse_size_limit_mb(&v).map_err(|e| format!("{DB_MAX_MB_ENV}: {e}"))
        }
        _ => Ok(None),
    }
}

/// What a queued frame costs the queue's byte budget.
fn queued_bytes(f: &FrameRecord) -> usize {
    writer::payload_bytes(f) + FRAME_OVERHEAD
}

/// Counts frames queued to the writer from before the send until the writer is done with
/// them; a send that fails or is abandoned half-way takes them back.
struct Queued<'a> {
    status: &'a writer_status::StatusCell,
    n: usize,
}

impl<'a> Queued<'a> {
    fn new(status: &'a writer_status::StatusCell, n: usize) -> Queued<'a> {
        status.queued(n);
        Queued { status, n }
    }

    /// The writer has them: it counts them out.
    fn sent(mut self) {
        self.n = 0;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.status.done(self.n);
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| StoreError::open(path, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Pragma(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        .map_err(|e| StoreError::open(path, e))?;
    connection_packs::register(&conn).map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// Fills the per-connection index with every frame up to id `limit` not in it yet, on a
/// connection of a tool that wrote frames with its own SQL (the `timeline_db` example, tests),
/// as the writer does when it is idle. Not a stable API.
#[doc(hidden)]
pub fn index_connections_now(c: &Connection, limit: i64) -> Result<(), StoreError> {
    connection_index::catch_up_all(c, limit)
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API): the import parsers on
/// arbitrary bytes, without a database.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{ImportOptions, StoreError};

    /// Parses `data` as a JSONL session (all checks, no writes); the frame count.
    pub fn parse_jsonl(data: &[u8]) -> Result<usize, StoreError> {
        let mut reader = std::io::BufReader::new(data);
        crate::import::parse_jsonl(&mut reader, &ImportOptions::default(), &|_| {})
            .map(|p| p.frames.len())
    }

    /// Parses `data` as a HAR file (all checks, no writes); the frame count.
    pub fn parse_har(data: &[u8]) -> Result<usize, StoreError> {
        let mut reader = data;
        crate::har::parse(&mut reader, &ImportOptions::default(), &|_| {}).map(|p| p.frames.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sockscope_proto::{Direction, Opcode};
    use std::sync::mpsc;
    use std::time::Duration;

    /// A timeline page is answered while statistics hold their connection (mid-scan): the
    /// statistics closure signals, then waits for the page's answer, which could never come
    /// if pages queued behind it on one connection (the wait is bounded so the test fails
    /// instead of hanging).
    #[test]
    fn a_page_is_answered_while_statistics_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("t.db")).expect("open");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let s = rt
            .block_on(store.create_session("busy", SessionKind::Client))
            .expect("session");
        let c = rt
            .block_on(store.create_connection(NewConnection {
                session: s,
                url: "ws://127.0.0.1:9/".into(),
                request_headers: vec![],
                insecure: false,
                created_at_us: 1_000_000,
            }))
            .expect("connection");
        for i in 0..500i64 {
            let dir = if i % 2 == 0 {
                Direction::Client
            } else {
                Direction::Server
            };
            let f = FrameRecord::message(
                s,
                c,
                dir,
                Opcode::Text,
                bytes::Bytes::from(format!("{{\"i\":{i}}}")),
                1_000_000 + i * 1000,
            );
            rt.block_on(store.record_frame(f)).expect("record");
        }
        rt.block_on(store.flush()).expect("flush");

        let (busy_tx, busy_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<usize>();
        let bg = store.clone();
        let stats_thread = std::thread::spawn(move || {
            bg.with_stats_reader(|conn| {
                let _ = busy_tx.send(());
                let st = stats::stats(conn, s, None, STATS_BUCKETS)?;
                // Still holding the statistics connection: the page must come back now.
                let rows = done_rx
                    .recv_timeout(Duration::from_secs(30))
                    .map_err(|_| StoreError::Corrupt("the page waited for statistics".into()))?;
                Ok((st, rows))
            })
        });
        busy_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("statistics started");
        let mut q = FrameQuery::new(s, FrameFilter::default()).expect("query");
        let page = store.query_page(&mut q, 0, 100).expect("page");
        done_tx.send(page.len()).expect("statistics thread alive");
        let (st, rows) = stats_thread
            .join()
            .expect("statistics thread")
            .expect("statistics and page overlapped");
        assert_eq!(rows, 100);
        assert_eq!(st.totals.client.frames + st.totals.server.frames, 500);
        assert_eq!(st.totals.text, 500);
        // And the public call, from two threads at once, agrees.
        let other = store.clone();
        let t = std::thread::spawn(move || other.stats(s, Some(c), STATS_BUCKETS));
        let mut q = FrameQuery::new(s, FrameFilter::default()).expect("query");
        assert_eq!(store.query_page(&mut q, 400, 200).expect("page").len(), 100);
        let by_conn = t.join().expect("thread").expect("stats");
        assert_eq!(by_conn.totals, st.totals);
        assert_eq!(by_conn.buckets, st.buckets);
    }
}

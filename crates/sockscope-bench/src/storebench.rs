//! The capture store alone: frames/s into a real SQLite file through [`Store::record_frame`],
//! with the schema (indexes, full-text index) exactly as the app uses it, by payload size and
//! writer batch size. Plus the bare SQLite ceiling on this machine for comparison.

use crate::codec::Pattern;
use bytes::Bytes;
use serde::Serialize;
use sockscope_proto::{Direction, FrameRecord, Opcode};
use sockscope_store::{NewConnection, SessionKind, Store, StoreOptions};
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct StoreRow {
    pub what: String,
    pub size: usize,
    /// Frames per queued operation (1: `record_frame`; more: `record_frames`, like a relay read).
    pub per_op: usize,
    /// The writer's batch limit (operations per transaction).
    pub batch: usize,
    pub frames: u64,
    pub secs: f64,
    pub frames_per_sec: f64,
    pub mb_per_sec: f64,
    /// CPU time of the writer thread per frame (µs): what the store costs, whatever else
    /// the machine is doing.
    pub writer_cpu_us: Option<f64>,
    /// CPU time of the checkpointer thread per frame (µs), when there is one.
    pub checkpoint_cpu_us: Option<f64>,
}

impl StoreRow {
    /// Frames per second one core could write at the measured CPU cost.
    pub fn per_core(&self) -> Option<f64> {
        self.writer_cpu_us.filter(|u| *u > 0.0).map(|u| 1e6 / u)
    }
}

const WRITER_THREAD: &str = "sockscope-store-writer";

/// CPU time of the writer thread and of the thread it leaves its committed batches to
/// (`sockscope_store::DROP_THREAD`): freeing them was the writer's own work until the
/// eleventh pass (docs/benchmarks.md), and still is what the store costs.
fn writer_cpu_time() -> Option<std::time::Duration> {
    let writer = crate::procstat::thread_cpu_time(WRITER_THREAD)?;
    Some(
        writer + crate::procstat::thread_cpu_time(sockscope_store::DROP_THREAD).unwrap_or_default(),
    )
}

/// How many frames a cell writes: enough for a few seconds, at most ~`budget_mb` of payload.
fn frames_for(size: usize, max_frames: u64, budget_mb: u64) -> u64 {
    (budget_mb * 1_000_000 / size as u64).clamp(1000, max_frames)
}

/// How the store is set up for one row (everything else as shipped).
#[derive(Debug, Clone, Default)]
pub struct Variant {
    /// Shown after the row's name; empty for the shipped settings.
    pub label: String,
    pub page_size: Option<u32>,
    /// The writer checkpoints itself (SQLite's auto-checkpoint), no checkpointer thread.
    pub writer_checkpoints: bool,
    /// Payloads from this size go to payload files (`None`: as shipped; `Some(usize::MAX)`:
    /// every payload in its row, as before schema v11).
    pub payload_file_min: Option<usize>,
    /// Sessions the frames are spread over, one operation each in turn (0 or 1: one), as
    /// the client engine records its connections.
    pub sessions: usize,
}

impl Variant {
    pub fn shipped() -> Variant {
        Variant::default()
    }
}

/// Frames/s through the store's writer (one producer thread, like one busy connection pair).
/// A subscriber drains the store's events on its own thread, as the app and the CLI do (the
/// writer builds each committed frame's summary for it).
pub fn through_store(
    size: usize,
    per_op: usize,
    batch: usize,
    frames: u64,
    text: bool,
) -> Result<StoreRow, String> {
    through_store_with(size, per_op, batch, frames, text, &Variant::shipped())
}

/// [`through_store`] with a [`Variant`] of the store's settings.
pub fn through_store_with(
    size: usize,
    per_op: usize,
    batch: usize,
    frames: u64,
    text: bool,
    variant: &Variant,
) -> Result<StoreRow, String> {
    let per_op = per_op.max(1);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Store::open_with(
        dir.path().join("store.db"),
        StoreOptions {
            batch_max: Some(batch),
            page_size: variant.page_size,
            writer_checkpoints: variant.writer_checkpoints,
            payload_file_min: variant.payload_file_min,
            ..StoreOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut events = store.subscribe();
    let subscriber = std::thread::spawn(move || {
        use tokio::sync::broadcast::error::RecvError;
        let mut n = 0u64;
        loop {
            match events.blocking_recv() {
                Ok(sockscope_store::StoreEvent::Frames(f, _)) => n += f.len() as u64,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break n,
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let targets = rt
        .block_on(async {
            let mut targets = Vec::new();
            for _ in 0..variant.sessions.max(1) {
                let s = store.create_session("bench", SessionKind::Proxy).await?;
                let c = store
                    .create_connection(NewConnection {
                        session: s,
                        url: "ws://127.0.0.1:1/".into(),
                        request_headers: vec![],
                        insecure: false,
                        created_at_us: sockscope_proto::now_us(),
                    })
                    .await?;
                targets.push((s, c));
            }
            Ok::<_, sockscope_store::StoreError>(targets)
        })
        .map_err(|e| e.to_string())?;
    let pattern = Pattern::new(size);
    // A few distinct payloads, as a relay would hand over (each its own Bytes).
    let payloads: Vec<Bytes> = (0..64u64)
        .map(|i| {
            let mut v = Vec::with_capacity(size);
            pattern.fill(&mut v, i, i, size);
            Bytes::from(v)
        })
        .collect();
    let opcode = if text { Opcode::Text } else { Opcode::Binary };
    let record = |i: u64| {
        let dir = if i.is_multiple_of(2) {
            Direction::Client
        } else {
            Direction::Server
        };
        // A fresh copy, as the relay makes when it unmasks a payload.
        let payload = Bytes::copy_from_slice(&payloads[(i % 64) as usize]);
        let (session, conn) = targets[(i / per_op as u64) as usize % targets.len()];
        let mut rec = FrameRecord::message(
            session,
            conn,
            dir,
            opcode,
            payload,
            sockscope_proto::now_us(),
        );
        rec.masked = dir == Direction::Client;
        rec
    };
    let cpu0 = writer_cpu_time();
    let ckpt0 = crate::procstat::thread_cpu_time(sockscope_store::CHECKPOINT_THREAD);
    let start = Instant::now();
    let mut i = 0u64;
    while i < frames {
        if per_op == 1 {
            store
                .record_frame_blocking(record(i))
                .map_err(|e| e.to_string())?;
            i += 1;
        } else {
            let n = (per_op as u64).min(frames - i);
            let read: Vec<FrameRecord> = (i..i + n).map(record).collect();
            rt.block_on(store.record_frames(read))
                .map_err(|e| e.to_string())?;
            i += n;
        }
    }
    store.flush_blocking().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = writer_cpu_time();
    let ckpt1 = crate::procstat::thread_cpu_time(sockscope_store::CHECKPOINT_THREAD);
    let per_frame = |a: Option<std::time::Duration>, b: Option<std::time::Duration>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() * 1e6 / frames as f64),
        _ => None,
    };
    let writer_cpu_us = per_frame(cpu0, cpu1);
    let checkpoint_cpu_us = per_frame(ckpt0, ckpt1);
    let mut stored = 0;
    for (session, _) in &targets {
        stored += store.session(*session).map_err(|e| e.to_string())?.frames;
    }
    drop(store);
    let _ = subscriber.join();
    if stored != frames as i64 {
        return Err(format!("{stored} frames stored, {frames} sent"));
    }
    Ok(StoreRow {
        what: format!(
            "store, {} frames{}",
            if text { "text" } else { "binary" },
            if variant.label.is_empty() {
                String::new()
            } else {
                format!(", {}", variant.label)
            }
        ),
        size,
        per_op,
        batch,
        frames,
        secs,
        frames_per_sec: frames as f64 / secs,
        mb_per_sec: frames as f64 * size as f64 / 1e6 / secs,
        writer_cpu_us,
        checkpoint_cpu_us,
    })
}

/// Bare SQLite: one row per frame (id, 3 integers, blob), 10,000 rows per transaction, with or
/// without one secondary index — the figures the issue quotes for this machine. With
/// `side_file`, the payload is appended to a file beside the database (written out before
/// each commit) and the row holds its offset instead.
pub fn bare_sqlite(
    size: usize,
    frames: u64,
    index: bool,
    side_file: bool,
) -> Result<StoreRow, String> {
    use std::io::Write;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut c =
        rusqlite::Connection::open(dir.path().join("bare.db")).map_err(|e| e.to_string())?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE f (id INTEGER PRIMARY KEY, conn INTEGER, seq INTEGER, ts INTEGER, payload BLOB);",
    )
    .map_err(|e| e.to_string())?;
    if index {
        c.execute_batch("CREATE INDEX f_conn_seq ON f(conn, seq);")
            .map_err(|e| e.to_string())?;
    }
    let side_path = dir.path().join("bare.payloads");
    let mut side = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&side_path).map_err(|e| e.to_string())?,
    );
    let mut side_len = 0i64;
    let payload = vec![b'x'; size];
    let cpu0 = crate::procstat::cpu_time(std::process::id());
    let start = Instant::now();
    let mut i = 0u64;
    while i < frames {
        let tx = c.transaction().map_err(|e| e.to_string())?;
        {
            let mut st = tx
                .prepare_cached("INSERT INTO f (conn, seq, ts, payload) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| e.to_string())?;
            for _ in 0..10_000.min(frames - i) {
                let (conn, seq) = ((i % 7) as i64, i as i64);
                if side_file {
                    side.write_all(&payload).map_err(|e| e.to_string())?;
                    st.execute(rusqlite::params![conn, seq, seq, side_len])
                        .map_err(|e| e.to_string())?;
                    side_len += size as i64;
                } else {
                    st.execute(rusqlite::params![conn, seq, seq, &payload[..]])
                        .map_err(|e| e.to_string())?;
                }
                i += 1;
            }
        }
        side.flush().map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    let (secs, writer_cpu_us) = since(start, cpu0, frames);
    Ok(bare_row(
        format!(
            "bare SQLite, {}{} (ceiling)",
            if index { "one index" } else { "no index" },
            side_label(side_file)
        ),
        size,
        frames,
        secs,
        writer_cpu_us,
    ))
}

/// Seconds since `start`, and the process's CPU µs per frame since `cpu0`.
fn since(start: Instant, cpu0: Option<std::time::Duration>, frames: u64) -> (f64, Option<f64>) {
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = crate::procstat::cpu_time(std::process::id());
    let cpu_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() * 1e6 / frames as f64),
        _ => None,
    };
    (secs, cpu_us)
}

fn side_label(side_file: bool) -> &'static str {
    if side_file {
        ", payloads in a side file"
    } else {
        ""
    }
}

/// A row of the bare-SQLite ceilings (one thread, 10,000 frames per transaction).
fn bare_row(
    what: String,
    size: usize,
    frames: u64,
    secs: f64,
    writer_cpu_us: Option<f64>,
) -> StoreRow {
    StoreRow {
        writer_cpu_us,
        checkpoint_cpu_us: None,
        what,
        size,
        per_op: 1,
        batch: 10_000,
        frames,
        secs,
        frames_per_sec: frames as f64 / secs,
        mb_per_sec: frames as f64 * size as f64 / 1e6 / secs,
    }
}

/// Bare SQLite with frames packed into per-connection segments (the storage design issue 7
/// names as the way past one row per frame): each frame gets a 24-byte header (seq, time,
/// length, kind) and is appended to its connection's buffer; a buffer of `per_segment` frames
/// becomes one row `(id, conn, first_seq, last_seq, body)` with one index on
/// `(conn, first_seq)`. Frames are spread over 7 connections and committed every 10,000, as in
/// [`bare_sqlite`]. With `side_file`, payloads are appended to a file beside the database
/// (written out before each commit) and the header carries their 8-byte offset instead, so
/// payload bytes skip the WAL and the checkpoint. The ceiling of that design on this machine,
/// packing included; no reader of the app uses it.
pub fn bare_segments(
    size: usize,
    frames: u64,
    per_segment: usize,
    side_file: bool,
) -> Result<StoreRow, String> {
    use std::io::Write;
    const CONNS: usize = 7;
    let header: usize = if side_file { 32 } else { 24 };
    let in_row = if side_file { 0 } else { size };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut c =
        rusqlite::Connection::open(dir.path().join("segments.db")).map_err(|e| e.to_string())?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE seg (id INTEGER PRIMARY KEY, conn INTEGER, first_seq INTEGER, last_seq INTEGER, body BLOB);
         CREATE INDEX seg_conn ON seg(conn, first_seq);",
    )
    .map_err(|e| e.to_string())?;
    let per_segment = per_segment.max(1);
    let payload = vec![b'x'; size];
    let mut open: Vec<(Vec<u8>, i64, usize)> = (0..CONNS)
        .map(|_| (Vec::with_capacity(per_segment * (in_row + header)), 0, 0))
        .collect();
    let side_path = dir.path().join("segments.payloads");
    let mut side = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&side_path).map_err(|e| e.to_string())?,
    );
    let mut side_len = 0u64;
    let insert = |tx: &rusqlite::Transaction<'_>,
                  conn: usize,
                  seg: &mut (Vec<u8>, i64, usize),
                  last: i64| {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO seg (conn, first_seq, last_seq, body) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| e.to_string())?;
        st.execute(rusqlite::params![conn as i64, seg.1, last, &seg.0[..]])
            .map_err(|e| e.to_string())?;
        seg.0.clear();
        seg.2 = 0;
        Ok::<(), String>(())
    };
    let cpu0 = crate::procstat::cpu_time(std::process::id());
    let start = Instant::now();
    let mut i = 0u64;
    while i < frames {
        let tx = c.transaction().map_err(|e| e.to_string())?;
        for _ in 0..10_000.min(frames - i) {
            let conn = (i % CONNS as u64) as usize;
            let seq = i as i64;
            let seg = &mut open[conn];
            if seg.2 == 0 {
                seg.1 = seq;
            }
            seg.0.extend_from_slice(&seq.to_le_bytes());
            seg.0.extend_from_slice(&seq.to_le_bytes());
            seg.0.extend_from_slice(&(size as u32).to_le_bytes());
            seg.0.extend_from_slice(&[1, 0, 0, 0]);
            if side_file {
                seg.0.extend_from_slice(&side_len.to_le_bytes());
                side.write_all(&payload).map_err(|e| e.to_string())?;
                side_len += size as u64;
            } else {
                seg.0.extend_from_slice(&payload);
            }
            seg.2 += 1;
            if seg.2 == per_segment {
                insert(&tx, conn, seg, seq)?;
            }
            i += 1;
        }
        // What a transaction captured is in it: partial segments are written too (a real
        // store would rewrite or extend them later; here they stay as they are).
        for (conn, seg) in open.iter_mut().enumerate() {
            if seg.2 > 0 {
                insert(&tx, conn, seg, i as i64 - 1)?;
            }
        }
        // The payloads a transaction points at reach the file before it commits.
        side.flush().map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    let (secs, writer_cpu_us) = since(start, cpu0, frames);
    // Every frame is in a segment, once.
    let stored: i64 = c
        .query_row("SELECT COALESCE(SUM(length(body)), 0) FROM seg", [], |r| {
            r.get(0)
        })
        .map_err(|e| e.to_string())?;
    let expected = frames as i64 * (in_row + header) as i64;
    if stored != expected {
        return Err(format!("segments hold {stored} bytes, expected {expected}"));
    }
    let side_bytes = std::fs::metadata(&side_path)
        .map_err(|e| e.to_string())?
        .len();
    if side_bytes != frames * (size - in_row) as u64 {
        return Err(format!("the payload file holds {side_bytes} bytes"));
    }
    Ok(bare_row(
        format!(
            "bare SQLite, segments of {per_segment} frames, one index{} (ceiling)",
            side_label(side_file)
        ),
        size,
        frames,
        secs,
        writer_cpu_us,
    ))
}

#[derive(Debug, Clone)]
pub struct StoreBenchOptions {
    pub sizes: Vec<usize>,
    /// Frames per queued operation.
    pub per_op: Vec<usize>,
    /// Writer batch limits also tried at 256 B.
    pub batches: Vec<usize>,
    pub max_frames: u64,
    pub budget_mb: u64,
}

impl Default for StoreBenchOptions {
    fn default() -> Self {
        StoreBenchOptions {
            sizes: vec![64, 256, 1024, 16384],
            per_op: vec![1, 64],
            batches: vec![64, 4096],
            max_frames: 400_000,
            budget_mb: 200,
        }
    }
}

/// The settings tried on the way to the shipped ones (256 B text frames, 64 per operation,
/// default batching), each `repeat` times, interleaved so machine noise spreads evenly.
pub fn variants(frames: u64, repeat: usize) -> Vec<Result<StoreRow, String>> {
    let list = vec![
        Variant {
            label: "4 KiB pages, writer checkpoints (before)".into(),
            page_size: Some(4096),
            writer_checkpoints: true,
            ..Variant::shipped()
        },
        Variant {
            label: "4 KiB pages, checkpointer thread".into(),
            page_size: Some(4096),
            writer_checkpoints: false,
            ..Variant::shipped()
        },
        Variant {
            label: "16 KiB pages, checkpointer thread".into(),
            page_size: Some(16384),
            writer_checkpoints: false,
            ..Variant::shipped()
        },
        Variant {
            label: "64 KiB pages, checkpointer thread".into(),
            page_size: Some(65536),
            writer_checkpoints: false,
            ..Variant::shipped()
        },
        Variant {
            label: "shipped".into(),
            ..Variant::shipped()
        },
    ];
    let mut rows = Vec::new();
    for _ in 0..repeat.max(1) {
        for v in &list {
            rows.push(through_store_with(
                256,
                64,
                sockscope_store::BATCH_MAX,
                frames,
                true,
                v,
            ));
        }
    }
    rows
}

/// Sessions in the many-sessions row of [`run`] (the mixed soak's 50 client connections).
const MANY_SESSIONS: usize = 50;

pub fn run(o: &StoreBenchOptions) -> Vec<Result<StoreRow, String>> {
    let mut rows = Vec::new();
    let default = sockscope_store::BATCH_MAX;
    let in_rows = Variant {
        label: "payloads in rows (before v11)".into(),
        payload_file_min: Some(usize::MAX),
        ..Variant::shipped()
    };
    for &size in &o.sizes {
        let frames = frames_for(size, o.max_frames, o.budget_mb);
        for &per_op in &o.per_op {
            rows.push(through_store(size, per_op, default, frames, true));
        }
        // What payload files bought, at the sizes that use them.
        if size >= sockscope_store::PAYLOAD_FILE_MIN {
            let per_op = o.per_op.iter().copied().max().unwrap_or(1);
            rows.push(through_store_with(
                size, per_op, default, frames, true, &in_rows,
            ));
        }
        // Many sessions written at once (the client engine: a session per connection).
        if size == 1024 {
            let many = Variant {
                label: format!("{MANY_SESSIONS} sessions in turn"),
                sessions: MANY_SESSIONS,
                ..Variant::shipped()
            };
            rows.push(through_store_with(size, 1, default, frames, true, &many));
        }
    }
    if o.sizes.contains(&256) {
        let frames = frames_for(256, o.max_frames, o.budget_mb);
        let per_op = o.per_op.iter().copied().max().unwrap_or(1);
        for &batch in o.batches.iter().filter(|b| **b != default) {
            rows.push(through_store(256, per_op, batch, frames, true));
        }
        rows.push(through_store(256, per_op, default, frames, false));
        rows.push(bare_sqlite(256, frames, false, false));
    }
    // One row per frame against the segment design, with payloads in the row or beside it.
    for size in o
        .sizes
        .iter()
        .copied()
        .filter(|s| [256, 1024, 16384].contains(s))
    {
        let frames = frames_for(size, o.max_frames, o.budget_mb);
        rows.push(bare_sqlite(size, frames, true, false));
        rows.push(bare_sqlite(size, frames, true, true));
        rows.push(bare_segments(size, frames, 64, false));
        rows.push(bare_segments(size, frames, 64, true));
    }
    rows
}

/// The sustained figure the target is about: 256 B text frames at the default batching,
/// queued the way the relay queues them (the most frames per operation measured).
pub fn headline(rows: &[Result<StoreRow, String>]) -> Option<f64> {
    let ok: Vec<&StoreRow> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    let per_op = ok.iter().map(|r| r.per_op).max()?;
    ok.iter()
        .find(|r| {
            r.size == 256
                && r.per_op == per_op
                && r.batch == sockscope_store::BATCH_MAX
                && r.what.starts_with("store, text")
        })
        .map(|r| r.frames_per_sec)
}

pub fn table(rows: &[Result<StoreRow, String>]) -> String {
    let mut out = String::from(
        "| what | payload B | frames/op | writer batch | frames | s | frames/s | MB/s | writer CPU µs/frame | checkpointer CPU µs/frame | frames/s per writer core |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        match r {
            Ok(r) => out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.1} | {} | {} | {} |\n",
                r.what,
                r.size,
                r.per_op,
                r.batch,
                r.frames,
                r.secs,
                r.frames_per_sec,
                r.mb_per_sec,
                r.writer_cpu_us
                    .map_or_else(|| "–".into(), |u| format!("{u:.2}")),
                r.checkpoint_cpu_us
                    .map_or_else(|| "–".into(), |u| format!("{u:.2}")),
                r.per_core()
                    .map_or_else(|| "–".into(), |f| format!("{f:.0}")),
            )),
            Err(e) => out.push_str(&format!("| ERROR: {e} | | | | | | | | | | |\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_hold_every_frame_once() {
        // 10,001 frames: one full transaction plus one frame, partial segments included.
        for side_file in [false, true] {
            let row = bare_segments(100, 10_001, 64, side_file).expect("segments");
            assert_eq!(row.frames, 10_001);
            assert!(row.frames_per_sec > 0.0);
        }
    }
}

//! Committed frames to the UI over one `Channel` per window: backfill from the database, then
//! the store's broadcast, coalesced into at most one `live` message per [`FLUSH_EVERY`]. A
//! message carries how many frames were committed, the newest rows and per-connection digests
//! (`bridge::live`), never every frame: the timeline pages older rows from SQLite. The database
//! is the source of truth: on a gap or a lag the bridge re-reads from the last seq it counted,
//! so the UI never misses or repeats a frame.

mod live;

use live::{LiveBatch, Pending};

use serde::Serialize;
use sockscope_proto::SessionId;
use sockscope_store::{ConnectionInfo, FrameSummary, Store, StoreError, StoreEvent};
use std::sync::Arc;
use std::time::Duration;
use tauri::ipc::Channel;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

#[derive(Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StreamMsg {
    Live(LiveBatch),
    Connection { connection: Box<ConnectionInfo> },
}

/// Rows per backfill read.
const PAGE: usize = 2000;
/// Live messages are at least this far apart (the first after a quiet spell goes at once).
pub const FLUSH_EVERY: Duration = Duration::from_millis(32);

/// Why streaming stopped: the window went away, or the database failed.
enum Stop {
    ChannelClosed,
    Store(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e.to_string())
    }
}

pub async fn stream(store: Store, session: SessionId, after_seq: i64, ch: Channel<StreamMsg>) {
    let mut out = Out {
        ch: &ch,
        pending: Pending::default(),
        last_sent: None,
    };
    if let Err(Stop::Store(e)) = run(store, session, after_seq, &mut out).await {
        eprintln!("sockscope-app: stream of session {session} stopped: {e}");
    }
}

async fn read<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Stop> {
    let store = store.clone();
    tauri::async_runtime::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Stop::Store(e.to_string()))?
        .map_err(Stop::from)
}

/// The channel with the batch being gathered.
struct Out<'a> {
    ch: &'a Channel<StreamMsg>,
    pending: Pending,
    last_sent: Option<Instant>,
}

impl Out<'_> {
    fn send(&self, msg: StreamMsg) -> Result<(), Stop> {
        self.ch.send(msg).map_err(|_| Stop::ChannelClosed)
    }

    /// Sends what was gathered (if anything).
    fn flush(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.pending.take();
        self.last_sent = Some(Instant::now());
        self.send(StreamMsg::Live(batch))
    }

    fn add(&mut self, f: &FrameSummary) -> Result<(), Stop> {
        if self.pending.is_full() {
            self.flush()?;
        }
        self.pending.add(f);
        Ok(())
    }

    /// When the gathered batch is due (None: nothing gathered).
    fn due(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(
            self.last_sent
                .map_or_else(Instant::now, |t| t + FLUSH_EVERY),
        )
    }

    fn flush_if_due(&mut self) -> Result<(), Stop> {
        match self.due() {
            Some(at) if at <= Instant::now() => self.flush(),
            _ => Ok(()),
        }
    }
}

/// Gathers every committed frame with `seq > *last`, updating `*last`.
async fn backfill(
    store: &Store,
    session: SessionId,
    last: &mut i64,
    out: &mut Out<'_>,
) -> Result<(), Stop> {
    loop {
        let after = *last;
        let page = read(store, move |s| s.frames_after(session, after, PAGE)).await?;
        let Some(tail) = page.last() else {
            return Ok(());
        };
        *last = tail.seq;
        for f in &page {
            out.add(f)?;
        }
        if page.len() < PAGE {
            return Ok(());
        }
    }
}

async fn send_connections(store: &Store, session: SessionId, out: &Out<'_>) -> Result<(), Stop> {
    for connection in read(store, move |s| s.connections(session)).await? {
        out.send(StreamMsg::Connection {
            connection: Box::new(connection),
        })?;
    }
    Ok(())
}

async fn run(
    store: Store,
    session: SessionId,
    after_seq: i64,
    out: &mut Out<'_>,
) -> Result<(), Stop> {
    // Subscribe first so nothing committed during the backfill is missed.
    let mut live = store.subscribe();
    let mut last = after_seq;
    send_connections(&store, session, out).await?;
    backfill(&store, session, &mut last, out).await?;
    out.flush()?;
    loop {
        let event = match out.due() {
            Some(at) => tokio::select! {
                e = live.recv() => e,
                () = tokio::time::sleep_until(at) => {
                    out.flush()?;
                    continue;
                }
            },
            None => live.recv().await,
        };
        match event {
            Ok(StoreEvent::Frames(frames, s)) if s == session => {
                match frames.iter().find(|f| f.seq > last) {
                    None => {}
                    Some(first) if first.seq == last + 1 => {
                        let from = last;
                        for f in frames.iter().filter(|f| f.seq > from) {
                            out.add(f)?;
                            last = f.seq;
                        }
                    }
                    // A gap: something was committed that we did not see; ask the database.
                    Some(_) => backfill(&store, session, &mut last, out).await?,
                }
            }
            Ok(StoreEvent::Connection(c)) if c.session_id == session => {
                // Frames before the change go first.
                out.flush()?;
                out.send(StreamMsg::Connection {
                    connection: Box::new(Arc::unwrap_or_clone(c)),
                })?;
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                out.flush()?;
                send_connections(&store, session, out).await?;
                backfill(&store, session, &mut last, out).await?;
            }
            Err(RecvError::Closed) => return out.flush(),
        }
        out.flush_if_due()?;
    }
}

#[cfg(test)]
mod tests {
    use super::live::TAIL_ROWS;
    use super::*;
    use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode};
    use sockscope_store::{NewConnection, SessionKind};
    use std::sync::Mutex;
    use tauri::ipc::InvokeResponseBody;

    type Got = Arc<Mutex<Vec<serde_json::Value>>>;

    fn channel() -> (Channel<StreamMsg>, Got) {
        let got: Got = Arc::default();
        let sink = got.clone();
        let ch = Channel::new(move |body| {
            if let InvokeResponseBody::Json(s) = body {
                if let (Ok(v), Ok(mut g)) = (serde_json::from_str(&s), sink.lock()) {
                    g.push(v);
                }
            }
            Ok(())
        });
        (ch, got)
    }

    fn frame(s: SessionId, c: ConnectionId, i: i64) -> FrameRecord {
        let dir = if i % 2 == 0 {
            Direction::Client
        } else {
            Direction::Server
        };
        let payload = bytes::Bytes::from(format!("{{\"n\":{i}}}"));
        FrameRecord::message(
            s,
            c,
            dir,
            Opcode::Text,
            payload,
            1_700_000_000_000_000 + i * 50,
        )
    }

    fn live(got: &Got) -> Vec<serde_json::Value> {
        got.lock()
            .map(|g| g.iter().filter(|v| v["kind"] == "live").cloned().collect())
            .unwrap_or_default()
    }

    async fn wait_for(got: &Got, frames: u64) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let msgs = live(got);
            let n: u64 = msgs.iter().filter_map(|m| m["count"].as_u64()).sum();
            if n >= frames || Instant::now() > deadline {
                return msgs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A real store on a temporary file, a session with one connection, `before` frames in it.
    async fn setup(before: i64) -> (tempfile::TempDir, Store, SessionId, ConnectionId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("bridge.db")).expect("open");
        let s = store
            .create_session("bridge", SessionKind::Client)
            .await
            .expect("session");
        let c = store
            .create_connection(NewConnection {
                session: s,
                url: "ws://127.0.0.1:9/".into(),
                request_headers: Default::default(),
                insecure: false,
                created_at_us: 1_700_000_000_000_000,
            })
            .await
            .expect("connection");
        for i in 1..=before {
            store.record_frame(frame(s, c, i)).await.expect("record");
        }
        store.flush().await.expect("flush");
        (dir, store, s, c)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_arrives_in_few_messages_with_exact_counts_and_the_newest_rows() {
        let (_dir, store, s, c) = setup(0).await;
        let (ch, got) = channel();
        let task = tokio::spawn(stream(store.clone(), s, 0, ch));
        // The connection first.
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().map(|g| g.is_empty()).unwrap_or(true) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = 20_000;
        let started = Instant::now();
        for i in 1..=n {
            store.record_frame(frame(s, c, i)).await.expect("record");
        }
        store.flush().await.expect("flush");
        let msgs = wait_for(&got, n as u64).await;
        let elapsed = started.elapsed();
        task.abort();

        let first = got.lock().expect("lock")[0].clone();
        assert_eq!(first["kind"], "connection");
        let total: u64 = msgs.iter().filter_map(|m| m["count"].as_u64()).sum();
        assert_eq!(total, n as u64, "every frame counted once");
        // Consecutive, non-overlapping seq ranges that cover 1..=n.
        let mut next = 1;
        for m in &msgs {
            assert_eq!(m["first_seq"].as_i64(), Some(next));
            let last = m["last_seq"].as_i64().expect("last_seq");
            assert_eq!(m["count"].as_i64(), Some(last - next + 1));
            let rows = m["rows"].as_array().expect("rows");
            assert!(!rows.is_empty() && rows.len() <= TAIL_ROWS);
            assert_eq!(rows.last().and_then(|r| r["seq"].as_i64()), Some(last));
            assert!(rows
                .windows(2)
                .all(|w| w[1]["seq"].as_i64() == w[0]["seq"].as_i64().map(|x| x + 1)));
            let conn_frames: u64 = m["conns"]
                .as_array()
                .expect("conns")
                .iter()
                .map(|d| {
                    d["client"]["frames"].as_u64().unwrap_or(0)
                        + d["server"]["frames"].as_u64().unwrap_or(0)
                })
                .sum();
            assert_eq!(conn_frames, m["count"].as_u64().unwrap_or(0));
            next = last + 1;
        }
        // At most one message per FLUSH_EVERY (plus the first, sent at once).
        let bound = elapsed.as_millis() / FLUSH_EVERY.as_millis() + 2;
        assert!(
            (msgs.len() as u128) <= bound,
            "{} messages for {n} frames in {elapsed:?}",
            msgs.len()
        );
        assert!(msgs.len() < 1000, "coalesced: {} messages", msgs.len());
        // The digest's statistics equal the store's.
        let st = store.stats(s, None, 240).expect("stats");
        let client: u64 = msgs
            .iter()
            .flat_map(|m| m["conns"].as_array().cloned().unwrap_or_default())
            .map(|d| d["client"]["bytes"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(client, st.totals.client.bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backfill_after_a_seq_then_live_without_repeats() {
        let (_dir, store, s, c) = setup(5000).await;
        let (ch, got) = channel();
        let task = tokio::spawn(stream(store.clone(), s, 1200, ch));
        for i in 5001..=5010 {
            store.record_frame(frame(s, c, i)).await.expect("record");
        }
        store.flush().await.expect("flush");
        let msgs = wait_for(&got, 3810).await;
        task.abort();
        let total: u64 = msgs.iter().filter_map(|m| m["count"].as_u64()).sum();
        assert_eq!(total, 3810);
        assert_eq!(msgs[0]["first_seq"].as_i64(), Some(1201));
        assert_eq!(msgs.last().and_then(|m| m["last_seq"].as_i64()), Some(5010));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trickle_is_sent_frame_by_frame() {
        let (_dir, store, s, c) = setup(0).await;
        let (ch, got) = channel();
        let task = tokio::spawn(stream(store.clone(), s, 0, ch));
        for i in 1..=3 {
            store.record_frame(frame(s, c, i)).await.expect("record");
            store.flush().await.expect("flush");
            let msgs = wait_for(&got, i as u64).await;
            assert_eq!(
                msgs.len() as i64,
                i,
                "one message per frame when they are far apart"
            );
            tokio::time::sleep(FLUSH_EVERY * 2).await;
        }
        task.abort();
    }
}

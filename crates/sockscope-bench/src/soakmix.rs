//! The mixed soak (issue 8, `make soak`): paced connections with random sizes and a little
//! binary garbage, reconnecting every so often, through Sockscope's capture proxy and from
//! Sockscope's own client engine (each in its own process, with its own database), while the
//! driver samples RSS, open file descriptors, WAL and database size and row counts into a CSV.
//!
//! Disk budget: every finished connection (client engine) or proxy generation (a listener and
//! its session, replaced every reconnect period) is checked against what was sent — data rows
//! and an order-independent digest of the payloads in each direction — and then deleted with
//! [`sockscope_store::Store::delete_session`], so the databases stay bounded however long the
//! run. The totals verified are what the pass criterion counts.

use crate::codec::Rng;
use futures_util::{SinkExt, StreamExt};
use sockscope_engine::{ConnEvent, ConnectOptions, Engine, Outgoing};
use sockscope_proto::{Opcode, SessionId};
use sockscope_store::Store;
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Smallest and largest message.
pub const MIN_SIZE: usize = 16;
pub const MAX_SIZE: usize = 64 * 1024;
/// One message in this many is random bytes sent as a binary message.
pub const GARBAGE_ONE_IN: u64 = 100;
/// A connection that receives nothing for this long while echoes are due fails.
const STALL: Duration = Duration::from_secs(30);
/// A connection whose handshake takes longer fails (generous: CI machines are loaded).
const HANDSHAKE: Duration = Duration::from_secs(30);
/// A sender further behind its schedule than this gives up the missed sends (counted as
/// `behind`) instead of bursting to catch up.
const MAX_LAG: Duration = Duration::from_secs(1);
/// Messages a connection may have sent and not yet seen echoed (about 1 MiB at the mean size).
const WINDOW: u64 = 128;

/// How each connection behaves.
#[derive(Debug, Clone)]
pub struct Pace {
    pub rate: u32,
    pub end: Instant,
    /// Each connection closes (1000) and opens a new one after about this long.
    pub reconnect: Duration,
}

/// Totals over every connection of one side.
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Payload bytes sent.
    pub bytes: AtomicU64,
    pub connections: AtomicU64,
    /// Sends given up because the sender was more than [`MAX_LAG`] behind its schedule.
    pub behind: AtomicU64,
    /// Seconds × 1000 the connections were open and sending (for the achieved rate).
    pub open_ms: AtomicU64,
    /// Data rows checked against what was sent (then deleted).
    pub verified_rows: AtomicU64,
    /// Sessions checked and deleted.
    pub verified_sessions: AtomicU64,
    pub errors: Mutex<Vec<String>>,
    pub error_count: AtomicU64,
}

impl Counts {
    pub fn error(&self, e: String) {
        self.error_count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut v) = self.errors.lock() {
            if v.len() < 100 {
                v.push(e);
            }
        }
    }
    pub fn error_list(&self) -> Vec<String> {
        self.errors.lock().map(|v| v.clone()).unwrap_or_default()
    }
    /// Messages per second per connection while connections were sending.
    pub fn achieved_rate(&self) -> f64 {
        let ms = self.open_ms.load(Ordering::Relaxed);
        if ms == 0 {
            return 0.0;
        }
        self.sent.load(Ordering::Relaxed) as f64 / (ms as f64 / 1000.0)
    }
}

/// An order-independent digest of a multiset of messages: how many, how many bytes, and the
/// wrapping sum of a 64-bit hash of each (kind + payload). Two sides that saw the same
/// messages in any order agree; a lost, added, changed or truncated message shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub count: u64,
    pub bytes: u64,
    pub sum: u64,
}

impl Digest {
    pub fn add(&mut self, binary: bool, payload: &[u8]) {
        // SipHash with fixed keys: the same in every process of the same build.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        h.write_u8(u8::from(binary));
        h.write(payload);
        self.count += 1;
        self.bytes += payload.len() as u64;
        self.sum = self.sum.wrapping_add(h.finish());
    }
    pub fn merge(&mut self, o: &Digest) {
        self.count += o.count;
        self.bytes += o.bytes;
        self.sum = self.sum.wrapping_add(o.sum);
    }
    /// `COUNT BYTES SUM`, as the soak's processes exchange it.
    pub fn to_words(&self) -> String {
        format!("{} {} {}", self.count, self.bytes, self.sum)
    }
    pub fn from_words(w: &[&str]) -> Option<Digest> {
        match w {
            [c, b, s] => Some(Digest {
                count: c.parse().ok()?,
                bytes: b.parse().ok()?,
                sum: s.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// The data frames (text and binary) of one session, one digest per direction (the `dir`
/// column), read with a connection of its own (read-only), [`CHECK_ROWS`] rows or
/// [`CHECK_BYTES`] per read transaction: one transaction over a whole generation (gigabytes)
/// held a snapshot for minutes, so the WAL could not start over and grew by everything
/// captured meanwhile (8.5 GB at the full-load soak).
pub fn session_digests(db: &Path, session: i64) -> Result<BTreeMap<i64, Digest>, String> {
    session_digests_by(db, session, CHECK_ROWS, CHECK_BYTES)
}

fn session_digests_by(
    db: &Path,
    session: i64,
    rows_per_read: i64,
    bytes_per_read: usize,
) -> Result<BTreeMap<i64, Digest>, String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    c.busy_timeout(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    sockscope_store::register_payload_function(&c, db).map_err(|e| e.to_string())?;
    let mut stmt = c
        .prepare(
            "SELECT seq, dir, opcode, sockscope_payload(session_id, payload, poff, plen) FROM frames \
             WHERE session_id = ?1 AND seq > ?2 AND opcode IN (1, 2) ORDER BY seq LIMIT ?3",
        )
        .map_err(|e| e.to_string())?;
    let mut out: BTreeMap<i64, Digest> = BTreeMap::new();
    let mut after = 0i64;
    loop {
        // Each query is its own read transaction (autocommit), ended when its rows are read.
        let mut rows = stmt
            .query(rusqlite::params![session, after, rows_per_read])
            .map_err(|e| e.to_string())?;
        let (mut n, mut bytes_read) = (0, 0usize);
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            after = r.get(0).map_err(|e| e.to_string())?;
            let dir: i64 = r.get(1).map_err(|e| e.to_string())?;
            let opcode: i64 = r.get(2).map_err(|e| e.to_string())?;
            let payload = r.get_ref(3).map_err(|e| e.to_string())?;
            let bytes = payload
                .as_blob()
                .or_else(|_| payload.as_bytes())
                .map_err(|e| e.to_string())?;
            out.entry(dir).or_default().add(opcode == 2, bytes);
            n += 1;
            bytes_read += bytes.len();
            if bytes_read >= bytes_per_read {
                break;
            }
        }
        if n < rows_per_read && bytes_read < bytes_per_read {
            return Ok(out);
        }
    }
}

/// Rows read per read transaction when checking a session…
const CHECK_ROWS: i64 = 20_000;
/// …and payload bytes: a read transaction ends after this much (so it lasts a few ms and the
/// writer's wait for old readers, which lets the WAL start over, is short).
const CHECK_BYTES: usize = 8 << 20;

/// Checks a session's recorded data frames against the digest of what was sent: each of the
/// two directions must hold exactly the messages sent (the peer is an echo server).
pub fn check_echo_session(recorded: &BTreeMap<i64, Digest>, sent: &Digest) -> Result<u64, String> {
    if sent.count == 0 && recorded.values().all(|d| d.count == 0) {
        return Ok(0);
    }
    let dirs: Vec<_> = recorded.iter().filter(|(_, d)| d.count > 0).collect();
    if dirs.len() != 2 || dirs.iter().any(|(_, d)| *d != sent) {
        return Err(format!(
            "recorded {:?}, expected {sent:?} in each direction",
            recorded
        ));
    }
    Ok(2 * sent.count)
}

/// A message: log-uniform size in [MIN_SIZE, MAX_SIZE] (most small, some large, mean about
/// 8 KiB), ASCII text, or — one in [`GARBAGE_ONE_IN`] — random bytes as a binary message.
pub fn message(rng: &mut Rng) -> (bool, Vec<u8>) {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let (lo, hi) = ((MIN_SIZE as f64).ln(), (MAX_SIZE as f64).ln());
    let size = ((lo + u * (hi - lo)).exp() as usize).clamp(MIN_SIZE, MAX_SIZE);
    let garbage = rng.next_u64().is_multiple_of(GARBAGE_ONE_IN);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        let v = rng.next_u64().to_le_bytes();
        if garbage {
            out.extend_from_slice(&v);
        } else {
            out.extend(v.iter().map(|b| b' ' + (b % 95)));
        }
    }
    out.truncate(size);
    (garbage, out)
}

/// The end of the current connection's life: `reconnect` ± 25 %, never past `end`.
fn life(rng: &mut Rng, pace: &Pace) -> Instant {
    let base = pace.reconnect.as_secs_f64();
    let jitter = (rng.next_u64() % 1000) as f64 / 1000.0 * 0.5 - 0.25;
    (Instant::now() + Duration::from_secs_f64((base * (1.0 + jitter)).max(1.0))).min(pace.end)
}

/// Sends on a fixed schedule (`rate` per second, no drift); a sender that fell more than
/// [`MAX_LAG`] behind drops the missed slots rather than bursting.
pub struct Pacer {
    period: Duration,
    next: Instant,
}

impl Pacer {
    pub fn new(rate: u32) -> Pacer {
        Pacer {
            period: Duration::from_secs(1) / rate.max(1),
            next: Instant::now(),
        }
    }
    /// Waits for the next slot; returns how many slots were given up.
    pub async fn wait(&mut self) -> u64 {
        let now = Instant::now();
        let mut skipped = 0;
        if self.next > now {
            tokio::time::sleep(self.next - now).await;
        } else if now - self.next > MAX_LAG {
            skipped = ((now - self.next).as_secs_f64() / self.period.as_secs_f64()) as u64;
            self.next = now;
        }
        self.next += self.period;
        skipped
    }
}

/// Which proxy generation (listener + session) new proxied connections go to, and what was
/// sent through each, until the generation is retired (checked, then deleted).
#[derive(Debug, Default)]
pub struct Generations {
    inner: Mutex<GenInner>,
}

#[derive(Debug, Default)]
struct GenInner {
    current: Option<u64>,
    gens: BTreeMap<u64, Generation>,
}

/// One proxy generation, as the proxied connections saw it.
#[derive(Debug, Default, Clone)]
pub struct Generation {
    pub url: String,
    /// Connections attached and not finished.
    pub live: u64,
    pub connections: u64,
    /// Every message sent through it (client to server).
    pub sent: Digest,
    /// Every echo received back.
    pub echoed: Digest,
}

impl Generations {
    /// A new generation becomes the current one.
    pub fn open(&self, g: u64, url: String) {
        if let Ok(mut i) = self.inner.lock() {
            i.gens.insert(
                g,
                Generation {
                    url,
                    ..Generation::default()
                },
            );
            i.current = Some(g);
        }
    }
    /// A connection starts on the current generation: its number and URL.
    fn attach(&self) -> Option<(u64, String)> {
        let mut i = self.inner.lock().ok()?;
        let g = i.current?;
        let e = i.gens.get_mut(&g)?;
        e.live += 1;
        e.connections += 1;
        Some((g, e.url.clone()))
    }
    fn detach(&self, g: u64, sent: &Digest, echoed: &Digest) {
        if let Ok(mut i) = self.inner.lock() {
            if let Some(e) = i.gens.get_mut(&g) {
                e.live = e.live.saturating_sub(1);
                e.sent.merge(sent);
                e.echoed.merge(echoed);
            }
        }
    }
    /// Generations no connection uses any more and that are not current (all of them when
    /// `all`), removed from the table.
    pub fn take_idle(&self, all: bool) -> Vec<(u64, Generation)> {
        let Ok(mut i) = self.inner.lock() else {
            return Vec::new();
        };
        let current = i.current;
        let idle: Vec<u64> = i
            .gens
            .iter()
            .filter(|(g, e)| e.live == 0 && (all || Some(**g) != current))
            .map(|(g, _)| *g)
            .collect();
        idle.into_iter()
            .filter_map(|g| i.gens.remove(&g).map(|e| (g, e)))
            .collect()
    }
    pub fn live(&self) -> usize {
        self.inner.lock().map(|i| i.gens.len()).unwrap_or(0)
    }
}

/// One paced connection through the proxy (tokio-tungstenite), reconnecting until `end`,
/// each time to the current proxy generation.
pub async fn proxied(gens: Arc<Generations>, pace: Pace, seed: u64, counts: Arc<Counts>) {
    let mut rng = Rng::new(seed);
    while Instant::now() < pace.end {
        let until = life(&mut rng, &pace);
        let Some((g, url)) = gens.attach() else {
            counts.error(format!("proxied {seed}: no proxy generation"));
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut sent_digest = Digest::default();
        let mut echo_digest = Digest::default();
        let ws =
            match tokio::time::timeout(HANDSHAKE, tokio_tungstenite::connect_async(url.as_str()))
                .await
            {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => {
                    counts.error(format!("proxied {seed}: connect: {e}"));
                    gens.detach(g, &sent_digest, &echo_digest);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(_) => {
                    counts.error(format!("proxied {seed}: handshake over {HANDSHAKE:?}"));
                    gens.detach(g, &sent_digest, &echo_digest);
                    continue;
                }
            };
        counts.connections.fetch_add(1, Ordering::Relaxed);
        let (mut tx, mut rx) = ws.split();
        let sent = AtomicU64::new(0);
        let got = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let opened = Instant::now();
        let writer = async {
            let mut pacer = Pacer::new(pace.rate);
            while Instant::now() < until {
                counts
                    .behind
                    .fetch_add(pacer.wait().await, Ordering::Relaxed);
                // At most WINDOW messages in flight: a machine that cannot keep up slows the
                // senders (counted as sends given up) instead of queueing without bound.
                while sent.load(Ordering::Relaxed) >= got.load(Ordering::Relaxed) + WINDOW
                    && Instant::now() < until
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let (bin, p) = message(&mut rng);
                sent_digest.add(bin, &p);
                let len = p.len() as u64;
                let m = if bin {
                    Message::Binary(p.into())
                } else {
                    Message::Text(String::from_utf8_lossy(&p).into_owned().into())
                };
                if let Err(e) = tx.send(m).await {
                    counts.error(format!("proxied {seed}: send: {e}"));
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                counts.sent.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(len, Ordering::Relaxed);
            }
            counts
                .open_ms
                .fetch_add(opened.elapsed().as_millis() as u64, Ordering::Relaxed);
            done.store(true, Ordering::Release);
        };
        let reader = async {
            let mut last = Instant::now();
            loop {
                if done.load(Ordering::Acquire)
                    && got.load(Ordering::Relaxed) >= sent.load(Ordering::Relaxed)
                {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(200), rx.next()).await {
                    Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => {
                        got.fetch_add(1, Ordering::Relaxed);
                        last = Instant::now();
                        echo_digest.add(matches!(m, Message::Binary(_)), &m.into_data());
                        counts.received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => {
                        counts.error(format!("proxied {seed}: receive: {e}"));
                        break;
                    }
                    Ok(None) => {
                        counts.error(format!("proxied {seed}: closed early"));
                        break;
                    }
                    Err(_) => {
                        if got.load(Ordering::Relaxed) < sent.load(Ordering::Relaxed)
                            && last.elapsed() > STALL
                        {
                            counts.error(format!("proxied {seed}: no echo for {STALL:?}"));
                            break;
                        }
                    }
                }
            }
        };
        tokio::join!(writer, reader);
        let _ = tx.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = rx.next().await {}
        })
        .await;
        if echo_digest != sent_digest {
            counts.error(format!(
                "proxied {seed}: echoes {echo_digest:?} differ from what was sent {sent_digest:?}"
            ));
        }
        gens.detach(g, &sent_digest, &echo_digest);
    }
}

/// One paced connection of Sockscope's own client engine, reconnecting until `end`. Each
/// connection is its own session: once it is closed its rows are checked against what was
/// sent and the session is deleted (the disk budget).
pub async fn engine_client(
    engine: Engine,
    store: Store,
    db: PathBuf,
    url: String,
    pace: Pace,
    seed: u64,
    counts: Arc<Counts>,
) {
    let mut rng = Rng::new(seed);
    let mut checks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    while Instant::now() < pace.end {
        let until = life(&mut rng, &pace);
        let mut opts = ConnectOptions::new(url.clone());
        opts.events = true;
        let h = match engine.connect(opts).await {
            Ok(h) => h,
            Err(e) => {
                counts.error(format!("client {seed}: connect: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let session = h.session;
        let Some(mut events) = h.events else {
            counts.error(format!("client {seed}: no events"));
            return;
        };
        let opened = tokio::time::timeout(HANDSHAKE, async {
            while let Some(e) = events.recv().await {
                match e {
                    ConnEvent::Open { .. } => return Ok(()),
                    ConnEvent::Failed { error } => return Err(error),
                    ConnEvent::Closed { reason, .. } => return Err(format!("closed: {reason}")),
                    ConnEvent::Received { .. } => {}
                }
            }
            Err("events ended".to_owned())
        })
        .await;
        match opened {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                counts.error(format!("client {seed}: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                counts.error(format!("client {seed}: handshake timed out"));
                let _ = engine.close(h.id, 1000, "").await;
                continue;
            }
        }
        counts.connections.fetch_add(1, Ordering::Relaxed);
        let sent = AtomicU64::new(0);
        let got = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let mut sent_digest = Digest::default();
        let mut echo_digest = Digest::default();
        let open_at = Instant::now();
        let writer = async {
            let mut pacer = Pacer::new(pace.rate);
            while Instant::now() < until {
                counts
                    .behind
                    .fetch_add(pacer.wait().await, Ordering::Relaxed);
                // At most WINDOW messages in flight: a machine that cannot keep up slows the
                // senders (counted as sends given up) instead of queueing without bound.
                while sent.load(Ordering::Relaxed) >= got.load(Ordering::Relaxed) + WINDOW
                    && Instant::now() < until
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let (bin, p) = message(&mut rng);
                sent_digest.add(bin, &p);
                let len = p.len() as u64;
                let m = if bin {
                    Outgoing::Binary(p.into())
                } else {
                    Outgoing::Text(String::from_utf8_lossy(&p).into_owned())
                };
                if let Err(e) = engine.send(h.id, m).await {
                    counts.error(format!("client {seed}: send: {e}"));
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                counts.sent.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(len, Ordering::Relaxed);
            }
            counts
                .open_ms
                .fetch_add(open_at.elapsed().as_millis() as u64, Ordering::Relaxed);
            done.store(true, Ordering::Release);
        };
        let reader = async {
            let mut last = Instant::now();
            loop {
                if done.load(Ordering::Acquire)
                    && got.load(Ordering::Relaxed) >= sent.load(Ordering::Relaxed)
                {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
                    Ok(Some(ConnEvent::Received {
                        opcode: opcode @ (Opcode::Text | Opcode::Binary),
                        payload,
                    })) => {
                        got.fetch_add(1, Ordering::Relaxed);
                        last = Instant::now();
                        echo_digest.add(opcode == Opcode::Binary, &payload);
                        counts.received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(ConnEvent::Received { .. } | ConnEvent::Open { .. })) => {}
                    Ok(Some(ConnEvent::Closed { reason, .. })) => {
                        counts.error(format!("client {seed}: closed early: {reason}"));
                        break;
                    }
                    Ok(Some(ConnEvent::Failed { error })) => {
                        counts.error(format!("client {seed}: failed: {error}"));
                        break;
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if got.load(Ordering::Relaxed) < sent.load(Ordering::Relaxed)
                            && last.elapsed() > STALL
                        {
                            counts.error(format!("client {seed}: no echo for {STALL:?}"));
                            break;
                        }
                    }
                }
            }
        };
        tokio::join!(writer, reader);
        let _ = engine.close(h.id, 1000, "").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(e) = events.recv().await {
                if matches!(e, ConnEvent::Closed { .. } | ConnEvent::Failed { .. }) {
                    break;
                }
            }
        })
        .await;
        if echo_digest != sent_digest {
            counts.error(format!(
                "client {seed}: echoes {echo_digest:?} differ from what was sent {sent_digest:?}"
            ));
        }
        // Checked in the background: the next connection starts at once.
        let (store, db, counts) = (store.clone(), db.clone(), counts.clone());
        checks.push(tokio::spawn(async move {
            if let Err(e) = verify_and_delete(&store, &db, session, &sent_digest, &counts).await {
                counts.error(format!("client {seed}: session {}: {e}", session.0));
            }
        }));
        checks.retain(|c| !c.is_finished());
    }
    for c in checks {
        if let Err(e) = c.await {
            counts.error(format!("client {seed}: check task: {e}"));
        }
    }
}

/// Waits until the store has written everything, checks the session's rows against what was
/// sent (both directions: the peer echoes), then deletes the session through the store.
pub async fn verify_and_delete(
    store: &Store,
    db: &Path,
    session: SessionId,
    sent: &Digest,
    counts: &Counts,
) -> Result<(), String> {
    store.flush().await.map_err(|e| format!("flush: {e}"))?;
    let db2 = db.to_owned();
    let id = session.0;
    let recorded = tokio::task::spawn_blocking(move || session_digests(&db2, id))
        .await
        .map_err(|e| format!("check task: {e}"))??;
    let rows = check_echo_session(&recorded, sent)?;
    store
        .delete_session(session)
        .await
        .map_err(|e| format!("delete: {e}"))?;
    counts.verified_rows.fetch_add(rows, Ordering::Relaxed);
    counts.verified_sessions.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// One row of the CSV.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub t_s: f64,
    pub proxy_rss: u64,
    pub proxy_fds: u64,
    pub proxy_wal: u64,
    pub proxy_db: u64,
    pub proxy_rows: u64,
    pub proxy_verified_rows: u64,
    pub client_rss: u64,
    pub client_fds: u64,
    pub client_wal: u64,
    pub client_db: u64,
    pub client_rows: u64,
    pub client_verified_rows: u64,
    pub proxied_sent: u64,
    pub proxied_received: u64,
    pub client_sent: u64,
    pub disk_free: u64,
}

pub const CSV_HEADER: &str = "t_s,proxy_rss_bytes,proxy_fds,proxy_wal_bytes,proxy_db_bytes,proxy_frame_rows,proxy_verified_rows,client_rss_bytes,client_fds,client_wal_bytes,client_db_bytes,client_frame_rows,client_verified_rows,proxied_sent,proxied_received,client_sent,disk_free_bytes";

impl Sample {
    pub fn csv(&self) -> String {
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.t_s,
            self.proxy_rss,
            self.proxy_fds,
            self.proxy_wal,
            self.proxy_db,
            self.proxy_rows,
            self.proxy_verified_rows,
            self.client_rss,
            self.client_fds,
            self.client_wal,
            self.client_db,
            self.client_rows,
            self.client_verified_rows,
            self.proxied_sent,
            self.proxied_received,
            self.client_sent,
            self.disk_free
        )
    }
}

/// Size of a file (0 when there is none).
pub fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Free bytes on the file system holding `p` (`df`), if it can be told.
pub fn disk_free(p: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(p)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// Open file descriptors of a process.
pub fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// Size of `DB-wal` (0 when there is none).
pub fn wal_size(db: &Path) -> u64 {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Frames (every opcode) in a database, read-only. Counted on an index, so that sampling
/// a multi-gigabyte file every 10 s does not read its payloads.
pub fn frame_rows(db: &Path) -> Result<u64, String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    c.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
        .map_err(|e| format!("{}: {e}", db.display()))?;
    Ok(n.max(0) as u64)
}

/// Data frames (text and binary) recorded in a database, read-only (reads the whole table).
pub fn data_rows(db: &Path) -> Result<u64, String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    c.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM frames WHERE opcode IN (1, 2)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("{}: {e}", db.display()))?;
    Ok(n.max(0) as u64)
}

/// Least-squares slope of `y` over `x`; `None` with fewer than 3 points.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The memory-growth verdict over the samples after warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct SlopeVerdict {
    /// Least-squares slope over the smoothed samples after warm-up, MiB/h.
    pub slope: f64,
    /// Highest smoothed value in the middle and in the last third of the window, MiB.
    pub middle_max: f64,
    pub last_max: f64,
    /// The same two over the raw samples (reported, not judged).
    pub raw_middle_max: f64,
    pub raw_last_max: f64,
    pub samples: usize,
    /// Growth: the slope is over the limit *and* the last third rises above the middle
    /// third's highest value by more than the margin. A single step (an allocator arena, a
    /// bigger SQLite cache) moves the slope but not the comparison of the two thirds; growth
    /// that goes on moves both.
    pub grows: bool,
}

/// Samples in the rolling median [`judge_growth`] smooths with (at one sample per 10 s,
/// about a minute).
pub const SMOOTH: usize = 7;

/// Each point's value replaced by the median of the `k` points centred on it (fewer at the
/// ends). A spike shorter than half the window goes; a step or a rise stays.
pub fn rolling_median(points: &[(f64, f64)], k: usize) -> Vec<(f64, f64)> {
    let h = k / 2;
    (0..points.len())
        .map(|i| {
            let mut w: Vec<f64> = points[i.saturating_sub(h)..(i + h + 1).min(points.len())]
                .iter()
                .map(|p| p.1)
                .collect();
            w.sort_by(f64::total_cmp);
            let m = w.len() / 2;
            let median = if w.len() % 2 == 1 {
                w[m]
            } else {
                (w[m - 1] + w[m]) / 2.0
            };
            (points[i].0, median)
        })
        .collect()
}

/// Judges `points` (hours, MiB) after warm-up; `None` with fewer than 6 points.
///
/// The samples are first smoothed by a rolling median of [`SMOOTH`]: RSS sampled every 10 s
/// catches, or misses, spikes of a few seconds (in the mixed soak the proxy host's own check
/// of a retired generation reads a million rows inside the measured process and lifts its RSS
/// by some 15 MiB until the next heap trim), and the highest raw sample of a third then says
/// more about where the samples fell than about the level. Memory that stays — a leak, a
/// step — outlasts the window and is judged as before.
pub fn judge_growth(
    points: &[(f64, f64)],
    limit_mib_h: f64,
    margin_mib: f64,
) -> Option<SlopeVerdict> {
    if points.len() < 6 {
        return None;
    }
    let smooth = rolling_median(points, SMOOTH);
    let slope = slope(&smooth)?;
    let n = points.len();
    let max = |s: &[(f64, f64)]| s.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let (middle, last) = (n / 3..2 * n / 3, 2 * n / 3..n);
    let middle_max = max(&smooth[middle.clone()]);
    let last_max = max(&smooth[last.clone()]);
    Some(SlopeVerdict {
        slope,
        middle_max,
        last_max,
        raw_middle_max: max(&points[middle]),
        raw_last_max: max(&points[last]),
        samples: n,
        grows: slope >= limit_mib_h && last_max > middle_max + margin_mib,
    })
}

/// One panel of [`plot`]: two series (proxy, client) in MiB over time.
fn panel(
    svg: &mut String,
    samples: &[Sample],
    top: f64,
    title: &str,
    warmup_s: f64,
    series: [&dyn Fn(&Sample) -> u64; 2],
) {
    let (w, h, l, r, t, b) = (720.0, 300.0, 60.0, 20.0, 30.0, 40.0);
    let tmax = samples.last().map(|s| s.t_s).unwrap_or(1.0).max(1.0);
    let mib = |v: u64| v as f64 / 1048576.0;
    let ymax = samples
        .iter()
        .map(|s| mib(series[0](s).max(series[1](s))))
        .fold(1.0f64, f64::max)
        * 1.1;
    let x = |ts: f64| l + ts / tmax * (w - l - r);
    let y = |v: f64| top + h - b - v / ymax * (h - t - b);
    *svg += &format!(
        "<text x=\"{l}\" y=\"{:.1}\" font-size=\"13\">{title}</text>\n\
         <rect x=\"{l}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eee\"/>\n\
         <line x1=\"{l}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{l}\" y1=\"{:.1}\" x2=\"{l}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        top + 18.0,
        top + t,
        x(warmup_s.min(tmax)) - l,
        h - t - b,
        y(0.0),
        w - r,
        y(0.0),
        top + t,
        y(0.0)
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        *svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>\n",
            l - 4.0,
            y(v) + 4.0
        );
        let ts = tmax * i as f64 / 4.0;
        *svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{ts:.0}</text>\n",
            x(ts),
            y(0.0) + 16.0
        );
    }
    for (f, colour, name, dx) in [
        (series[0], "#1f77b4", "capture proxy", 200.0),
        (series[1], "#d62728", "client engine", 100.0),
    ] {
        let points = samples
            .iter()
            .map(|s| format!("{:.1},{:.1}", x(s.t_s), y(mib(f(s)))))
            .collect::<Vec<_>>()
            .join(" ");
        *svg += &format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{name}</text>\n",
            w - r - dx,
            top + t + 14.0
        );
    }
}

/// RSS of both processes over time, and their database + WAL size, as an SVG line chart.
pub fn plot(samples: &[Sample], warmup_s: f64) -> String {
    let mut svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"600\" font-family=\"sans-serif\" font-size=\"11\">\n\
                   <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        .to_owned();
    panel(
        &mut svg,
        samples,
        0.0,
        "Soak: RSS (MiB) over time (s); grey = warm-up",
        warmup_s,
        [&|s| s.proxy_rss, &|s| s.client_rss],
    );
    panel(
        &mut svg,
        samples,
        300.0,
        "Database + WAL on disk (MiB): checked sessions are deleted",
        warmup_s,
        [&|s| s.proxy_db + s.proxy_wal, &|s| {
            s.client_db + s.client_wal
        }],
    );
    svg += "</svg>\n";
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_in_bounds_and_some_are_garbage() {
        let mut rng = Rng::new(7);
        let mut garbage = 0;
        for _ in 0..5_000 {
            let (bin, p) = message(&mut rng);
            assert!((MIN_SIZE..=MAX_SIZE).contains(&p.len()));
            if bin {
                garbage += 1;
            } else {
                assert!(p.iter().all(|b| (b' '..=b'~').contains(b)));
            }
        }
        // Binomial(5000, 1 %): mean 50, standard deviation 7.
        assert!((20..=90).contains(&garbage), "{garbage}");
    }

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        let s = slope(&pts).unwrap_or(f64::NAN);
        assert!((s - 3.0).abs() < 1e-9);
        assert_eq!(slope(&pts[..2]), None);
    }

    #[test]
    fn a_single_step_is_not_growth_but_a_steady_rise_is() {
        // The 10-minute run's proxy: flat, one 0.9 MiB step at 40 % of the window, flat.
        let step: Vec<(f64, f64)> = (0..60)
            .map(|i| (i as f64 / 360.0, if i < 24 { 56.5 } else { 57.4 }))
            .collect();
        let v = judge_growth(&step, 1.0, 0.25).unwrap_or_else(|| panic!("no verdict"));
        assert!(v.slope > 1.0, "the step moves the slope: {v:?}");
        assert!(!v.grows, "{v:?}");
        // 3 MiB/h for 25 minutes (0.42 MiB per third) with ±0.2 MiB of noise.
        let rise: Vec<(f64, f64)> = (0..150)
            .map(|i| {
                let h = i as f64 / 360.0;
                (h, 60.0 + 3.0 * h + if i % 2 == 0 { 0.2 } else { -0.2 })
            })
            .collect();
        let v = judge_growth(&rise, 1.0, 0.25).unwrap_or_else(|| panic!("no verdict"));
        assert!((v.slope - 3.0).abs() < 0.2, "{v:?}");
        assert!(v.grows, "{v:?}");
        // Flat noise is neither.
        let flat: Vec<(f64, f64)> = (0..150)
            .map(|i| (i as f64 / 360.0, 60.0 + ((i * 7) % 5) as f64 * 0.1))
            .collect();
        let v = judge_growth(&flat, 1.0, 0.25).unwrap_or_else(|| panic!("no verdict"));
        assert!(!v.grows, "{v:?}");
        assert_eq!(judge_growth(&flat[..5], 1.0, 0.25), None);
    }

    #[test]
    fn short_spikes_are_not_growth_but_growth_under_them_is() {
        // The 20-minute mixed soak's proxy: a level of 39 MiB, and at each retire (every
        // 12 samples) one sample 15-17 MiB higher, the later ones higher still.
        let spiky = |rise_mib_h: f64| -> Vec<(f64, f64)> {
            (0..90)
                .map(|i| {
                    let h = i as f64 / 360.0;
                    let spike = if i % 12 == 5 {
                        15.0 + i as f64 / 45.0
                    } else {
                        0.0
                    };
                    (
                        h,
                        39.0 + rise_mib_h * h + ((i * 7) % 5) as f64 * 0.1 + spike,
                    )
                })
                .collect()
        };
        let v = judge_growth(&spiky(0.0), 1.0, 0.25).unwrap_or_else(|| panic!("no verdict"));
        assert!(v.raw_last_max > v.raw_middle_max + 0.25, "{v:?}");
        assert!(!v.grows, "{v:?}");
        let v = judge_growth(&spiky(6.0), 1.0, 0.25).unwrap_or_else(|| panic!("no verdict"));
        assert!(v.grows, "{v:?}");
        // A step that stays is kept by the smoothing (and, as before, is not growth).
        let step: Vec<(f64, f64)> = (0..60)
            .map(|i| (i as f64 / 360.0, if i < 24 { 56.5 } else { 57.4 }))
            .collect();
        assert_eq!(rolling_median(&step, SMOOTH)[30].1, 57.4);
        assert_eq!(rolling_median(&step, SMOOTH)[20].1, 56.5);
        assert_eq!(rolling_median(&[(0.0, 1.0), (1.0, 9.0)], SMOOTH)[0].1, 5.0);
    }

    #[test]
    fn a_session_read_in_slices_gives_the_same_digests() {
        use sockscope_proto::{Direction, FrameRecord, Opcode};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("s.db");
        let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(11);
        let msgs: Vec<(bool, Vec<u8>)> = (0..53).map(|_| message(&mut rng)).collect();
        let session = rt.block_on(async {
            let store = sockscope_store::Store::open(&db).unwrap_or_else(|e| panic!("{e}"));
            let s = store
                .create_session("slices", sockscope_store::SessionKind::Proxy)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let c = store
                .create_connection(sockscope_store::NewConnection {
                    session: s,
                    url: "ws://127.0.0.1:1/".into(),
                    request_headers: vec![],
                    insecure: false,
                    created_at_us: sockscope_proto::now_us(),
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            for (i, (bin, p)) in msgs.iter().enumerate() {
                let op = if *bin { Opcode::Binary } else { Opcode::Text };
                for d in [Direction::Client, Direction::Server] {
                    let f = FrameRecord::message(s, c, d, op, p.clone().into(), i as i64);
                    store
                        .record_frame(f)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                if i % 10 == 0 {
                    // Control frames are not data: left out of the digests.
                    let ping = FrameRecord::message(
                        s,
                        c,
                        Direction::Client,
                        Opcode::Ping,
                        Vec::new().into(),
                        0,
                    );
                    store
                        .record_frame(ping)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            }
            store.flush().await.unwrap_or_else(|e| panic!("{e}"));
            s.0
        });
        let mut sent = Digest::default();
        for (b, p) in &msgs {
            sent.add(*b, p);
        }
        let whole =
            session_digests_by(&db, session, 1_000, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
        for rows in [1, 7, 53, 106] {
            for bytes in [1, 50_000, 300_000, usize::MAX] {
                let sliced =
                    session_digests_by(&db, session, rows, bytes).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(sliced, whole, "{rows} rows or {bytes} bytes per read");
            }
        }
        assert_eq!(check_echo_session(&whole, &sent), Ok(106));
    }

    #[test]
    fn digests_ignore_order_and_see_every_change() {
        let mut rng = Rng::new(3);
        let msgs: Vec<(bool, Vec<u8>)> = (0..50).map(|_| message(&mut rng)).collect();
        let mut a = Digest::default();
        for (b, p) in &msgs {
            a.add(*b, p);
        }
        let mut b = Digest::default();
        for (bin, p) in msgs.iter().rev() {
            b.add(*bin, p);
        }
        assert_eq!(a, b);
        assert_eq!(
            Digest::from_words(&a.to_words().split(' ').collect::<Vec<_>>()),
            Some(a)
        );
        // One byte changed, one message's kind changed, one message missing.
        let mut changed = msgs.clone();
        changed[7].1[0] ^= 1;
        let mut kind = msgs.clone();
        kind[3].0 = !kind[3].0;
        for other in [changed, kind, msgs[1..].to_vec()] {
            let mut d = Digest::default();
            for (bin, p) in &other {
                d.add(*bin, p);
            }
            assert_ne!(a, d);
        }
        // A session's check: both directions must hold exactly what was sent.
        let both: BTreeMap<i64, Digest> = [(0, a), (1, a)].into_iter().collect();
        assert_eq!(check_echo_session(&both, &a), Ok(100));
        let one: BTreeMap<i64, Digest> = [(0, a)].into_iter().collect();
        assert!(check_echo_session(&one, &a).is_err());
        let short: BTreeMap<i64, Digest> = [(0, a), (1, b)].into_iter().collect();
        let mut less = a;
        less.count -= 1;
        assert!(check_echo_session(&short, &less).is_err());
        assert_eq!(
            check_echo_session(&BTreeMap::new(), &Digest::default()),
            Ok(0)
        );
    }
}

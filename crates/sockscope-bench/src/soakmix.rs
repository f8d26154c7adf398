//! The mixed soak (issue 8, `make soak`): paced connections with random sizes and a little
//! binary garbage, reconnecting every so often, through `sockscope proxy` (reverse) and from
//! Sockscope's own client engine (in its own process, with its own database), while the
//! driver samples RSS, open file descriptors, WAL size and row counts into a CSV.

use crate::codec::Rng;
use futures_util::{SinkExt, StreamExt};
use sockscope_engine::{ConnEvent, ConnectOptions, Engine, Outgoing};
use sockscope_proto::Opcode;
use std::path::Path;
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
const STALL: Duration = Duration::from_secs(20);
/// A connection whose handshake takes longer fails (generous: CI machines are loaded).
const HANDSHAKE: Duration = Duration::from_secs(30);

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
    pub connections: AtomicU64,
    pub errors: Mutex<Vec<String>>,
}

impl Counts {
    fn error(&self, e: String) {
        if let Ok(mut v) = self.errors.lock() {
            if v.len() < 100 {
                v.push(e);
            }
        }
    }
    pub fn error_list(&self) -> Vec<String> {
        self.errors.lock().map(|v| v.clone()).unwrap_or_default()
    }
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

/// One paced connection through the proxy (tokio-tungstenite), reconnecting until `end`.
pub async fn proxied(url: String, pace: Pace, seed: u64, counts: Arc<Counts>) {
    let mut rng = Rng::new(seed);
    while Instant::now() < pace.end {
        let until = life(&mut rng, &pace);
        let ws =
            match tokio::time::timeout(HANDSHAKE, tokio_tungstenite::connect_async(url.as_str()))
                .await
            {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => {
                    counts.error(format!("proxied {seed}: connect: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(_) => {
                    counts.error(format!("proxied {seed}: handshake over {HANDSHAKE:?}"));
                    continue;
                }
            };
        counts.connections.fetch_add(1, Ordering::Relaxed);
        let (mut tx, mut rx) = ws.split();
        let sent = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let writer = async {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / pace.rate.max(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < until {
                tick.tick().await;
                let (bin, p) = message(&mut rng);
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
            }
            done.store(true, Ordering::Release);
        };
        let reader = async {
            let mut got = 0u64;
            let mut last = Instant::now();
            loop {
                if done.load(Ordering::Acquire) && got >= sent.load(Ordering::Relaxed) {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(200), rx.next()).await {
                    Ok(Some(Ok(Message::Text(_) | Message::Binary(_)))) => {
                        got += 1;
                        last = Instant::now();
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
                        if got < sent.load(Ordering::Relaxed) && last.elapsed() > STALL {
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
    }
}

/// One paced connection of Sockscope's own client engine, reconnecting until `end`.
pub async fn engine_client(
    engine: Engine,
    url: String,
    pace: Pace,
    seed: u64,
    counts: Arc<Counts>,
) {
    let mut rng = Rng::new(seed);
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
        let done = AtomicBool::new(false);
        let writer = async {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / pace.rate.max(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < until {
                tick.tick().await;
                let (bin, p) = message(&mut rng);
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
            }
            done.store(true, Ordering::Release);
        };
        let reader = async {
            let mut got = 0u64;
            let mut last = Instant::now();
            loop {
                if done.load(Ordering::Acquire) && got >= sent.load(Ordering::Relaxed) {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
                    Ok(Some(ConnEvent::Received {
                        opcode: Opcode::Text | Opcode::Binary,
                        ..
                    })) => {
                        got += 1;
                        last = Instant::now();
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
                        if got < sent.load(Ordering::Relaxed) && last.elapsed() > STALL {
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
    }
}

/// One row of the CSV.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub t_s: f64,
    pub proxy_rss: u64,
    pub proxy_fds: u64,
    pub proxy_wal: u64,
    pub proxy_rows: u64,
    pub client_rss: u64,
    pub client_fds: u64,
    pub client_wal: u64,
    pub client_rows: u64,
    pub proxied_sent: u64,
    pub proxied_received: u64,
}

pub const CSV_HEADER: &str = "t_s,proxy_rss_bytes,proxy_fds,proxy_wal_bytes,proxy_frame_rows,client_rss_bytes,client_fds,client_wal_bytes,client_frame_rows,proxied_sent,proxied_received";

impl Sample {
    pub fn csv(&self) -> String {
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{},{}",
            self.t_s,
            self.proxy_rss,
            self.proxy_fds,
            self.proxy_wal,
            self.proxy_rows,
            self.client_rss,
            self.client_fds,
            self.client_wal,
            self.client_rows,
            self.proxied_sent,
            self.proxied_received
        )
    }
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

/// Data frames (text and binary) recorded in a database, read-only.
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

/// RSS of both processes over time, as a small SVG line chart.
pub fn plot(samples: &[Sample], warmup_s: f64) -> String {
    let (w, h, l, r, t, b) = (720.0, 320.0, 60.0, 20.0, 30.0, 40.0);
    let tmax = samples.last().map(|s| s.t_s).unwrap_or(1.0).max(1.0);
    let mib = |v: u64| v as f64 / 1048576.0;
    let ymax = samples
        .iter()
        .map(|s| mib(s.proxy_rss.max(s.client_rss)))
        .fold(1.0f64, f64::max)
        * 1.1;
    let x = |ts: f64| l + ts / tmax * (w - l - r);
    let y = |v: f64| h - b - v / ymax * (h - t - b);
    let line = |f: &dyn Fn(&Sample) -> u64| {
        samples
            .iter()
            .map(|s| format!("{:.1},{:.1}", x(s.t_s), y(mib(f(s)))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{l}\" y=\"18\" font-size=\"13\">Soak: RSS (MiB) over time (s); grey = warm-up</text>\n\
         <rect x=\"{l}\" y=\"{t}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eee\"/>\n\
         <line x1=\"{l}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        x(warmup_s.min(tmax)) - l,
        h - t - b,
        h - b,
        w - r,
        h - b,
        h - b
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>\n",
            l - 4.0,
            y(v) + 4.0
        );
        let ts = tmax * i as f64 / 4.0;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{ts:.0}</text>\n",
            x(ts),
            h - b + 16.0
        );
    }
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>\n",
        line(&|s| s.proxy_rss)
    );
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"{}\"/>\n",
        line(&|s| s.client_rss)
    );
    svg += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f77b4\">sockscope proxy</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d62728\">client engine</text>\n</svg>\n",
        w - r - 200.0,
        t + 14.0,
        w - r - 100.0,
        t + 14.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_in_bounds_and_some_are_garbage() {
        let mut rng = Rng::new(7);
        let mut garbage = 0;
        for _ in 0..20_000 {
            let (bin, p) = message(&mut rng);
            assert!((MIN_SIZE..=MAX_SIZE).contains(&p.len()));
            if bin {
                garbage += 1;
            } else {
                assert!(p.iter().all(|b| (b' '..=b'~').contains(b)));
            }
        }
        assert!((100..=320).contains(&garbage), "{garbage}");
    }

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        let s = slope(&pts).unwrap_or(f64::NAN);
        assert!((s - 3.0).abs() < 1e-9);
        assert_eq!(slope(&pts[..2]), None);
    }
}

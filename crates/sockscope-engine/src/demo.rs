//! Built-in demo servers, so a newcomer sees traffic in the first minute (also used by tests
//! and docs): `echo`, `chat` (one room; every message and join/leave event goes to everyone),
//! `ticker` (JSON price updates at 1–10,000 msg/s per client; a client may send
//! `{"rate": N}` to change its rate), `telemetry` (binary MessagePack sensor readings, 10/s)
//! and `notifications` (server push at random intervals of 0.3–2 s).
//!
//! Loopback only unless allowed; at most [`MAX_CLIENTS`] clients; stopping closes every
//! client with 1001.

use crate::EngineError;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Clients served at once per demo server.
pub const MAX_CLIENTS: usize = 256;
/// Ticker rates accepted (messages per second per client).
pub const MIN_RATE: u32 = 1;
pub const MAX_RATE: u32 = 10_000;
/// Ticker rate when none is given.
pub const DEFAULT_RATE: u32 = 10;
/// Largest message a demo server accepts from a client.
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoKind {
    Echo,
    Chat,
    Ticker,
    Telemetry,
    Notifications,
}

impl DemoKind {
    pub const ALL: [DemoKind; 5] = [
        DemoKind::Echo,
        DemoKind::Chat,
        DemoKind::Ticker,
        DemoKind::Telemetry,
        DemoKind::Notifications,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DemoKind::Echo => "echo",
            DemoKind::Chat => "chat",
            DemoKind::Ticker => "ticker",
            DemoKind::Telemetry => "telemetry",
            DemoKind::Notifications => "notifications",
        }
    }
}

impl FromStr for DemoKind {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DemoKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                EngineError::InvalidOption(format!(
                    "unknown demo {s:?} (echo, chat, ticker, telemetry, notifications)"
                ))
            })
    }
}

/// How to start a demo server.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub kind: DemoKind,
    /// `IP:PORT`; port 0 picks a free one.
    pub listen: String,
    /// Ticker: messages per second per client (1–10,000).
    pub rate: Option<u32>,
    /// Allow a non-loopback listen address.
    pub allow_remote: bool,
}

impl DemoOptions {
    pub fn new(kind: DemoKind) -> DemoOptions {
        DemoOptions {
            kind,
            listen: "127.0.0.1:0".into(),
            rate: None,
            allow_remote: false,
        }
    }
}

/// A running demo server. Dropping it stops accepting and closes its clients.
pub struct Demo {
    kind: DemoKind,
    addr: SocketAddr,
    rate: Option<u32>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    kind: DemoKind,
    rate: u32,
    clients: AtomicUsize,
    next_user: AtomicU64,
    /// Chat room: every message goes to every client.
    room: broadcast::Sender<String>,
}

impl Demo {
    pub async fn start(opts: DemoOptions) -> Result<Demo, EngineError> {
        let addr: SocketAddr = opts.listen.trim().parse().map_err(|_| {
            EngineError::InvalidOption(format!("listen address {:?} is not IP:PORT", opts.listen))
        })?;
        if !addr.ip().is_loopback() && !opts.allow_remote {
            return Err(EngineError::InvalidOption(format!(
                "{addr} is not a loopback address (allow it explicitly to listen there)"
            )));
        }
        let rate = match opts.kind {
            DemoKind::Ticker => {
                let r = opts.rate.unwrap_or(DEFAULT_RATE);
                if !(MIN_RATE..=MAX_RATE).contains(&r) {
                    return Err(EngineError::InvalidOption(format!(
                        "rate {r} is outside {MIN_RATE}–{MAX_RATE} messages per second"
                    )));
                }
                Some(r)
            }
            _ => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| EngineError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let local = listener.local_addr().map_err(|e| EngineError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            kind: opts.kind,
            rate: rate.unwrap_or(DEFAULT_RATE),
            clients: AtomicUsize::new(0),
            next_user: AtomicU64::new(1),
            room: broadcast::channel(1024).0,
        });
        let task = tokio::spawn(accept_loop(listener, shared, stop_rx));
        Ok(Demo {
            kind: opts.kind,
            addr: local,
            rate,
            stop,
            task: Some(task),
        })
    }

    pub fn kind(&self) -> DemoKind {
        self.kind
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn rate(&self) -> Option<u32> {
        self.rate
    }

    /// `ws://IP:PORT/`
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Stops accepting, closes every client with 1001 and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut clients = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((tcp, _)) = r else { continue };
                if shared.clients.load(Ordering::Relaxed) >= MAX_CLIENTS {
                    drop(tcp);
                    continue;
                }
                shared.clients.fetch_add(1, Ordering::Relaxed);
                let shared2 = Arc::clone(&shared);
                let stop2 = stop.clone();
                clients.spawn(async move {
                    serve(tcp, &shared2, stop2).await;
                    shared2.clients.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    // Clients see the stop flag themselves and close with 1001.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    clients.abort_all();
}

fn now_ms() -> i64 {
    sockscope_proto::now_us() / 1000
}

fn json(v: serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

async fn serve(tcp: TcpStream, shared: &Shared, mut stop: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let accepted = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::accept_async_with_config(tcp, Some(config)),
    )
    .await;
    let Ok(Ok(mut ws)) = accepted else { return };
    let user = format!("guest-{}", shared.next_user.fetch_add(1, Ordering::Relaxed));
    let mut room = shared.room.subscribe();
    if shared.kind == DemoKind::Chat {
        let _ = shared.room.send(
            serde_json::json!({"type": "join", "user": user, "users": shared.clients.load(Ordering::Relaxed), "ts": now_ms()})
                .to_string(),
        );
    }
    let mut rate = shared.rate;
    let mut seq: u64 = 0;
    let start = tokio::time::Instant::now();
    let mut rate_start = start;
    let mut rate_sent: u64 = 0;
    let mut price = 100.0f64;
    let period = match shared.kind {
        DemoKind::Ticker => Duration::from_millis(1),
        DemoKind::Telemetry => Duration::from_millis(100),
        _ => Duration::from_secs(3600),
    };
    let mut timer = tokio::time::interval(period);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_notification =
        tokio::time::Instant::now() + Duration::from_millis(rand::random_range(300..2000));
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if shared.kind == DemoKind::Echo => {
                    if ws.send(Message::Text(t)).await.is_err() { break; }
                }
                Some(Ok(Message::Text(t))) => match shared.kind {
                    DemoKind::Chat => {
                        let _ = shared.room.send(serde_json::json!({"type": "message", "user": user, "text": t.as_str(), "ts": now_ms()}).to_string());
                    }
                    DemoKind::Ticker => {
                        // {"rate": N} changes this client's rate.
                        if let Some(r) = serde_json::from_str::<serde_json::Value>(t.as_str()).ok()
                            .and_then(|v| v.get("rate").and_then(serde_json::Value::as_u64))
                            .and_then(|r| u32::try_from(r).ok())
                            .filter(|r| (MIN_RATE..=MAX_RATE).contains(r))
                        {
                            rate = r;
                            rate_start = tokio::time::Instant::now();
                            rate_sent = 0;
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Binary(b))) => {
                    if shared.kind == DemoKind::Echo && ws.send(Message::Binary(b)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            r = room.recv(), if shared.kind == DemoKind::Chat => match r {
                Ok(text) => { if ws.send(Message::Text(text.into())).await.is_err() { break; } }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = timer.tick(), if matches!(shared.kind, DemoKind::Ticker | DemoKind::Telemetry) => {
                if shared.kind == DemoKind::Ticker {
                    // As many as the rate calls for since it was set (bounded per tick).
                    let due = (rate_start.elapsed().as_secs_f64() * f64::from(rate)) as u64 + 1;
                    let n = due.saturating_sub(rate_sent).min(u64::from(MAX_RATE) / 10);
                    for _ in 0..n {
                        seq += 1;
                        price = (price * (1.0 + (rand::random::<f64>() - 0.5) * 0.002)).max(0.01);
                        let m = json(serde_json::json!({"type": "tick", "symbol": "SCOPE", "seq": seq, "price": (price * 100.0).round() / 100.0, "ts": now_ms()}));
                        if ws.feed(m).await.is_err() { return; }
                    }
                    rate_sent += n;
                    if n > 0 && ws.flush().await.is_err() { break; }
                } else {
                    seq += 1;
                    let reading = Reading {
                        sensor: "env-1",
                        seq,
                        ts: now_ms(),
                        temperature: 21.0 + (seq as f64 / 10.0).sin() * 2.0,
                        humidity: 45.0 + rand::random::<f64>() * 5.0,
                        pressure: 1013.0 + rand::random::<f64>(),
                    };
                    let Ok(bytes) = rmp_serde::to_vec_named(&reading) else { break };
                    if ws.send(Message::Binary(bytes.into())).await.is_err() { break; }
                }
            }
            _ = tokio::time::sleep_until(next_notification), if shared.kind == DemoKind::Notifications => {
                seq += 1;
                let level = ["info", "info", "warning", "error"][rand::random_range(0..4)];
                let m = json(serde_json::json!({"type": "notification", "id": seq, "level": level, "title": format!("Event #{seq}"), "ts": now_ms()}));
                if ws.send(m).await.is_err() { break; }
                next_notification = tokio::time::Instant::now() + Duration::from_millis(rand::random_range(300..2000));
            }
            _ = stopped(&mut stop) => {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "demo server stopped".into() })).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = ws.next().await {} }).await;
                break;
            }
        }
    }
    if shared.kind == DemoKind::Chat {
        let _ = shared.room.send(
            serde_json::json!({"type": "leave", "user": user, "users": shared.clients.load(Ordering::Relaxed).saturating_sub(1), "ts": now_ms()})
                .to_string(),
        );
    }
}

/// One telemetry message (MessagePack map with these keys).
#[derive(Serialize)]
struct Reading {
    sensor: &'static str,
    seq: u64,
    ts: i64,
    temperature: f64,
    humidity: f64,
    pressure: f64,
}

/// Resolves once the flag is set (the watch guard is not held across an await).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

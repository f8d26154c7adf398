//! One task per client connection: handshake, then a `select!` over socket reads and
//! commands. Every frame is recorded; nothing here panics on peer input.

use crate::handshake::{self, Prepared};
use crate::options::ConnStats;
use crate::registry::Registry;
use crate::{Command, ConnEvent, EngineError, Limits, Outgoing};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sockscope_proto::{now_us, ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnectionEvent, Headers, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub(crate) struct Actor {
    pub store: Store,
    pub registry: Registry,
    pub session: SessionId,
    pub id: ConnectionId,
    pub prepared: Prepared,
    pub limits: Limits,
    pub ping_interval: Option<Duration>,
    pub stats: Arc<ConnStats>,
    pub commands: mpsc::Receiver<Command>,
    pub events: Option<mpsc::Sender<ConnEvent>>,
    pub state: Arc<AtomicBool>,
}

pub(crate) fn headers_of(map: &HeaderMap) -> Headers {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The close payload on the wire: 2-byte code and UTF-8 reason.
fn close_payload(frame: &Option<CloseFrame>) -> Bytes {
    match frame {
        None => Bytes::new(),
        Some(f) => {
            let mut v = u16::from(f.code).to_be_bytes().to_vec();
            v.extend_from_slice(f.reason.as_bytes());
            Bytes::from(v)
        }
    }
}

pub(crate) async fn run(mut a: Actor) {
    let id = a.id;
    let registry = a.registry.clone();
    // Whatever happens inside, the connection leaves the registry when its task ends.
    run_inner(&mut a).await;
    a.state.store(false, Ordering::Release);
    // Release the store handle before the connection counts as gone, so that whoever waits
    // for idle and then drops the engine really drops the last handle (which commits).
    drop(a);
    registry.remove(id);
}

impl Actor {
    async fn emit(&self, ev: ConnEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(ev).await;
        }
    }

    async fn record(&self, dir: Direction, opcode: Opcode, payload: Bytes, injected: bool) {
        match dir {
            Direction::Client => self.stats.sent(payload.len()),
            Direction::Server => self.stats.received(payload.len()),
        }
        let rec = FrameRecord::message(self.session, self.id, dir, opcode, payload, now_us())
            .injected(injected);
        // The store only fails when its writer has stopped (shutdown); nothing to do then.
        let _ = self.store.record_frame(rec).await;
    }

    async fn update(&self, ev: ConnectionEvent) {
        let _ = self.store.update_connection(ev).await;
    }

    async fn details(&self, record: &handshake::HandshakeRecord) {
        if let Ok(json) = serde_json::to_string(record) {
            self.update(ConnectionEvent::Details {
                id: self.id,
                options: None,
                handshake: Some(json),
            })
            .await;
        }
    }

    async fn fail(&self, error: String, status: Option<u16>, headers: Headers) {
        self.update(ConnectionEvent::Failed {
            id: self.id,
            at_us: now_us(),
            error: error.clone(),
            response_status: status,
            response_headers: headers,
        })
        .await;
        self.emit(ConnEvent::Failed { error }).await;
    }

    async fn closed(&self, code: Option<u16>, reason: String, by: ClosedBy) {
        self.update(ConnectionEvent::Closed {
            id: self.id,
            at_us: now_us(),
            code,
            reason: reason.clone(),
            by,
        })
        .await;
        self.emit(ConnEvent::Closed { code, reason, by }).await;
    }
}

/// A readable text for a handshake error.
fn describe(e: &WsError) -> String {
    match e {
        WsError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            _ => io.to_string(),
        },
        WsError::Http(resp) => format!(
            "server answered HTTP {} instead of 101 Switching Protocols",
            resp.status()
        ),
        other => other.to_string(),
    }
}

async fn run_inner(a: &mut Actor) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(a.limits.max_message_size))
        .max_frame_size(Some(a.limits.max_frame_size));
    let request_headers = a.prepared.headers.clone();
    let timeout = a.limits.handshake_timeout;
    let prepared = a.prepared.clone();
    let connecting = handshake::open(&prepared, config, a.limits.write_timeout);
    // Commands that arrive while connecting: a Close abandons the attempt.
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, connecting) => Some(r),
        () = wait_for_close(&mut a.commands) => None,
    };
    let opened = match outcome {
        None => {
            a.closed(None, "abandoned while connecting".into(), ClosedBy::Client)
                .await;
            return;
        }
        Some(Err(_)) => {
            a.details(&handshake::HandshakeRecord {
                request_line: prepared.request_line.clone(),
                subprotocols_offered: prepared.subprotocols.clone(),
                ..Default::default()
            })
            .await;
            let msg = format!("handshake timed out after {} s", timeout.as_secs_f64());
            a.fail(msg, None, Vec::new()).await;
            return;
        }
        Some(Ok(Err(f))) => {
            a.details(&f.record).await;
            a.fail(f.error, f.status, f.headers).await;
            return;
        }
        Some(Ok(Ok(opened))) => opened,
    };
    let handshake::Opened {
        mut ws,
        status,
        headers: response_headers,
        subprotocol,
        record,
    } = opened;
    a.details(&record).await;
    a.update(ConnectionEvent::Opened {
        id: a.id,
        at_us: now_us(),
        request_headers,
        response_status: status,
        response_headers,
        subprotocol: subprotocol.clone(),
    })
    .await;
    a.state.store(true, Ordering::Release);
    a.emit(ConnEvent::Open {
        status,
        subprotocol,
    })
    .await;

    // Keep-alive: a ping every interval, carrying a counter; its pong gives the round trip.
    let mut keepalive = a.ping_interval.map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut ping_counter: u64 = 0;
    let mut pending_ping: Option<(Bytes, Instant)> = None;
    // Anything from the server proves it alive; silent for a whole interval after a ping, it
    // is unresponsive (a half-open connection, a stopped process) and the connection ends.
    let mut last_rx = Instant::now();

    // Set once we sent a Close: the peer's Close then completes the handshake.
    let mut we_closed: Option<(u16, String)> = None;
    let mut close_deadline: Option<tokio::time::Instant> = None;
    let mut commands_open = true;
    loop {
        let deadline = close_deadline;
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(m)) => {
                    last_rx = Instant::now();
                    let (opcode, payload) = match m {
                        Message::Text(t) => (Opcode::Text, Bytes::from(t)),
                        Message::Binary(b) => (Opcode::Binary, b),
                        Message::Ping(p) => (Opcode::Ping, p),
                        Message::Pong(p) => (Opcode::Pong, p),
                        Message::Close(f) => (Opcode::Close, close_payload(&f)),
                        Message::Frame(_) => continue,
                    };
                    a.record(Direction::Server, opcode, payload.clone(), false).await;
                    if opcode == Opcode::Pong {
                        if let Some((sent, at)) = &pending_ping {
                            if *sent == payload {
                                let us = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                                a.stats.rtt_us.store(us, Ordering::Relaxed);
                                pending_ping = None;
                            }
                        }
                    }
                    if opcode == Opcode::Ping {
                        // tungstenite answers pings itself with the same payload.
                        a.record(Direction::Client, Opcode::Pong, payload.clone(), false).await;
                    }
                    if opcode == Opcode::Close {
                        let info = sockscope_proto::parse_close_payload(&payload).unwrap_or_default();
                        if let Some((code, reason)) = we_closed.take() {
                            // Our close completed.
                            a.state.store(false, Ordering::Release);
                            let _ = ws.close(None).await;
                            a.closed(Some(code), reason, ClosedBy::Client).await;
                            return;
                        }
                        // The server closes: tungstenite echoes its Close (RFC 6455 §5.5.1).
                        a.state.store(false, Ordering::Release);
                        a.record(Direction::Client, Opcode::Close, payload.clone(), false).await;
                        let _ = ws.flush().await;
                        // Let the server close the TCP connection first, briefly.
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        }).await;
                        a.closed(info.code, info.reason, ClosedBy::Server).await;
                        return;
                    }
                    a.emit(ConnEvent::Received { opcode, payload }).await;
                }
                Some(Err(e)) => {
                    a.state.store(false, Ordering::Release);
                    if let Some(reason) = stalled(&e) {
                        // tungstenite writes while reading (pongs, its Close reply).
                        a.closed(None, reason, ClosedBy::Error).await;
                        return;
                    }
                    if matches!(e, WsError::Protocol(tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake)) {
                        // The peer went away (killed, network gone): abnormal closure, no code.
                        a.closed(None, "connection lost without a close frame".into(), ClosedBy::Error).await;
                        return;
                    }
                    let (code, by) = match &e {
                        WsError::Capacity(_) => (Some(1009), ClosedBy::Error),
                        WsError::Protocol(_) => (Some(1002), ClosedBy::Error),
                        WsError::Utf8(_) => (Some(1007), ClosedBy::Error),
                        _ => (None, ClosedBy::Error),
                    };
                    a.closed(code, describe(&e), by).await;
                    return;
                }
                None => {
                    a.state.store(false, Ordering::Release);
                    match we_closed.take() {
                        Some((code, reason)) => a.closed(Some(code), reason, ClosedBy::Client).await,
                        None => a.closed(None, "connection lost without a close frame".into(), ClosedBy::Error).await,
                    }
                    return;
                }
            },
            cmd = a.commands.recv(), if commands_open => match cmd {
                Some(Command::Send(out, reply)) => {
                    if we_closed.is_some() {
                        let _ = reply.send(Err(EngineError::NotOpen(a.id)));
                        continue;
                    }
                    let (msg, opcode, payload) = match out {
                        Outgoing::Text(t) => {
                            let b = Bytes::from(t.clone());
                            (Message::Text(t.into()), Opcode::Text, b)
                        }
                        Outgoing::Binary(b) => (Message::Binary(b.clone()), Opcode::Binary, b),
                        Outgoing::Ping(p) => (Message::Ping(p.clone()), Opcode::Ping, p),
                    };
                    match ws.send(msg).await {
                        Ok(()) => {
                            a.record(Direction::Client, opcode, payload, true).await;
                            let _ = reply.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(EngineError::Send(describe(&e))));
                            if let Some(reason) = stalled(&e) {
                                a.state.store(false, Ordering::Release);
                                a.closed(None, reason, ClosedBy::Error).await;
                                return;
                            }
                        }
                    }
                }
                Some(Command::Close { code, reason }) => {
                    if we_closed.is_some() {
                        continue;
                    }
                    let frame = Some(CloseFrame { code: CloseCode::from(code), reason: reason.clone().into() });
                    let payload = close_payload(&frame);
                    a.state.store(false, Ordering::Release);
                    match ws.close(frame).await {
                        Ok(()) => a.record(Direction::Client, Opcode::Close, payload, true).await,
                        Err(e) => if let Some(why) = stalled(&e) {
                            a.closed(None, why, ClosedBy::Error).await;
                            return;
                        },
                    }
                    we_closed = Some((code, reason));
                    close_deadline = Some(tokio::time::Instant::now() + a.limits.close_timeout);
                }
                None => {
                    // Every handle is gone (the app or CLI is shutting down): say goodbye.
                    commands_open = false;
                    if we_closed.is_none() {
                        let frame = Some(CloseFrame { code: CloseCode::Away, reason: "".into() });
                        let payload = close_payload(&frame);
                        a.state.store(false, Ordering::Release);
                        if ws.close(frame).await.is_ok() {
                            a.record(Direction::Client, Opcode::Close, payload, true).await;
                        }
                        we_closed = Some((1001, String::new()));
                        close_deadline = Some(tokio::time::Instant::now() + a.limits.close_timeout);
                    }
                }
            },
            _ = tick(&mut keepalive), if we_closed.is_none() => {
                if let (Some((_, at)), Some(interval)) = (&pending_ping, a.ping_interval) {
                    if last_rx <= *at && at.elapsed() >= interval {
                        a.state.store(false, Ordering::Release);
                        let reason = format!(
                            "peer unresponsive (ping timeout): no pong within {:.1} s",
                            interval.as_secs_f64()
                        );
                        a.closed(None, reason, ClosedBy::Error).await;
                        return;
                    }
                }
                ping_counter += 1;
                let payload = Bytes::from(ping_counter.to_be_bytes().to_vec());
                match ws.send(Message::Ping(payload.clone())).await {
                    Ok(()) => {
                        a.record(Direction::Client, Opcode::Ping, payload.clone(), true).await;
                        pending_ping = Some((payload, Instant::now()));
                    }
                    Err(e) => if let Some(reason) = stalled(&e) {
                        a.state.store(false, Ordering::Release);
                        a.closed(None, reason, ClosedBy::Error).await;
                        return;
                    },
                }
            }
            _ = sleep_until(deadline) => {
                // The peer never answered our Close.
                let (code, reason) = we_closed.take().unwrap_or((1006, String::new()));
                a.closed(Some(code), format!("{reason} (no close reply within {} s)", a.limits.close_timeout.as_secs()).trim().to_owned(), ClosedBy::Client).await;
                return;
            }
        }
    }
}

/// The reason to record when `e` is a write that made no progress for the write timeout
/// (the peer stopped reading): the connection is given up, abnormally (no Close frame can
/// reach a peer that does not read).
fn stalled(e: &WsError) -> Option<String> {
    match e {
        WsError::Io(io) => crate::stall::write_timed_out(io).map(|after| {
            format!(
                "{}: nothing could be written for {:.1} s",
                crate::stall::WRITE_TIMEOUT_REASON,
                after.as_secs_f64()
            )
        }),
        _ => None,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Resolves when a Close command arrives (other commands fail: not open yet).
async fn wait_for_close(rx: &mut mpsc::Receiver<Command>) {
    loop {
        match rx.recv().await {
            Some(Command::Close { .. }) => return,
            Some(Command::Send(_, reply)) => {
                let _ = reply.send(Err(EngineError::Internal("not open yet".into())));
            }
            // No handle left: keep connecting; the connection closes once open.
            None => std::future::pending::<()>().await,
        }
    }
}

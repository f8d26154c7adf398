//! One task per client connection: handshake, then a `select!` over socket reads and
//! commands. Every frame is recorded; nothing here panics on peer input.

use crate::registry::Registry;
use crate::{Command, ConnEvent, EngineError, Limits, Outgoing};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sockscope_proto::{now_us, ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnectionEvent, Headers, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::http::{HeaderMap, Request};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub(crate) struct Actor {
    pub store: Store,
    pub registry: Registry,
    pub session: SessionId,
    pub id: ConnectionId,
    pub request: Request<()>,
    pub limits: Limits,
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
        let rec = FrameRecord::message(self.session, self.id, dir, opcode, payload, now_us())
            .injected(injected);
        // The store only fails when its writer has stopped (shutdown); nothing to do then.
        let _ = self.store.record_frame(rec).await;
    }

    async fn update(&self, ev: ConnectionEvent) {
        let _ = self.store.update_connection(ev).await;
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
    let request = a.request.clone();
    let request_headers = headers_of(request.headers());
    let timeout = a.limits.handshake_timeout;
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    // Commands that arrive while connecting: a Close abandons the attempt.
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, connecting) => Some(r),
        () = wait_for_close(&mut a.commands) => None,
    };
    let (mut ws, response) = match outcome {
        None => {
            a.closed(None, "abandoned while connecting".into(), ClosedBy::Client)
                .await;
            return;
        }
        Some(Err(_)) => {
            let msg = format!("handshake timed out after {} s", timeout.as_secs_f64());
            a.fail(msg, None, Vec::new()).await;
            return;
        }
        Some(Ok(Err(e))) => {
            let (status, headers) = match &e {
                WsError::Http(resp) => (Some(resp.status().as_u16()), headers_of(resp.headers())),
                _ => (None, Vec::new()),
            };
            a.fail(describe(&e), status, headers).await;
            return;
        }
        Some(Ok(Ok(pair))) => pair,
    };
    let subprotocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    a.update(ConnectionEvent::Opened {
        id: a.id,
        at_us: now_us(),
        request_headers,
        response_status: response.status().as_u16(),
        response_headers: headers_of(response.headers()),
        subprotocol: subprotocol.clone(),
    })
    .await;
    a.state.store(true, Ordering::Release);
    a.emit(ConnEvent::Open {
        status: response.status().as_u16(),
        subprotocol,
    })
    .await;

    // Set once we sent a Close: the peer's Close then completes the handshake.
    let mut we_closed: Option<(u16, String)> = None;
    let mut close_deadline: Option<tokio::time::Instant> = None;
    let mut commands_open = true;
    loop {
        let deadline = close_deadline;
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(m)) => {
                    let (opcode, payload) = match m {
                        Message::Text(t) => (Opcode::Text, Bytes::from(t)),
                        Message::Binary(b) => (Opcode::Binary, b),
                        Message::Ping(p) => (Opcode::Ping, p),
                        Message::Pong(p) => (Opcode::Pong, p),
                        Message::Close(f) => (Opcode::Close, close_payload(&f)),
                        Message::Frame(_) => continue,
                    };
                    a.record(Direction::Server, opcode, payload.clone(), false).await;
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
                    if ws.close(frame).await.is_ok() {
                        a.record(Direction::Client, Opcode::Close, payload, true).await;
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
            _ = sleep_until(deadline) => {
                // The peer never answered our Close.
                let (code, reason) = we_closed.take().unwrap_or((1006, String::new()));
                a.closed(Some(code), format!("{reason} (no close reply within {} s)", a.limits.close_timeout.as_secs()).trim().to_owned(), ClosedBy::Client).await;
                return;
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
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

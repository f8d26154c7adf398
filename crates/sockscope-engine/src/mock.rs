//! Mock (server side): a WebSocket server that plays the recorded server→client messages of
//! one connection to any client that connects, either on the recorded schedule (scaled by a
//! speed factor, from the connection's open) or conversationally (the server messages that
//! followed the k-th client message in the recording are sent after the client's k-th
//! message; those before the first client message on connect).
//!
//! Each client connection to the mock is recorded, frames in both directions, as a new
//! connection of one new session of kind `replay` whose origin is the mocked session. Frames
//! the mock plays are flagged `injected` (Sockscope sent them).

use crate::actor::headers_of;
use crate::replay::{check_speed, cut_reason, recorded_connection, scaled, sendable_close_code};
use crate::{EngineError, Limits};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sockscope_proto::diff::Message as Recorded;
use sockscope_proto::{now_us, ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{
    ClosedBy, ConnectionEvent, ConnectionInfo, Headers, NewConnection, SessionKind, Store,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// How the mock paces the recorded server messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MockMode {
    /// The recorded delays from the connection's open, divided by `speed` (0.1–100).
    Timed { speed: f64 },
    /// After each client message, the server messages that followed the corresponding client
    /// message in the recording.
    Conversational,
}

/// What to mock and where.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub session: SessionId,
    /// The connection to play; default: the session's first.
    pub connection: Option<ConnectionId>,
    /// `ADDR:PORT`; port 0 picks a free one ([`Mock::local_addr`]).
    pub listen: String,
    /// Allow a non-loopback listen address.
    pub allow_remote: bool,
    pub mode: MockMode,
    /// Handshake timeout, message and frame size limits, close timeout.
    pub limits: Limits,
    /// Clients served at once; more are refused.
    pub max_clients: usize,
}

impl MockOptions {
    pub fn new(session: SessionId, listen: impl Into<String>) -> MockOptions {
        MockOptions {
            session,
            connection: None,
            listen: listen.into(),
            allow_remote: false,
            mode: MockMode::Timed { speed: 1.0 },
            limits: Limits::default(),
            max_clients: 64,
        }
    }
}

/// One recorded server message to play.
#[derive(Debug, Clone, PartialEq)]
pub struct MockStep {
    /// `Text`, `Binary` or `Ping`.
    pub opcode: Opcode,
    pub payload: Bytes,
    /// When the server sent it in the recording, from the connection's open (µs).
    pub offset_us: i64,
    /// Client data messages the recording had before it.
    pub client_before: usize,
}

/// The recorded server-initiated close, if the server closed.
#[derive(Debug, Clone, PartialEq)]
pub struct MockClose {
    pub code: u16,
    pub reason: String,
    pub offset_us: i64,
    pub client_before: usize,
}

/// What the mock plays, from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct MockScript {
    pub origin_session: SessionId,
    pub origin_connection: ConnectionId,
    pub steps: Vec<MockStep>,
    pub close: Option<MockClose>,
    /// The subprotocol the recorded server chose (chosen again when a client offers it).
    pub subprotocol: Option<String>,
}

impl MockScript {
    /// Reads the recording (blocking: call from a blocking context).
    pub fn load(
        store: &Store,
        session: SessionId,
        connection: Option<ConnectionId>,
    ) -> Result<MockScript, EngineError> {
        let conn = recorded_connection(store, session, connection)?;
        let messages = store.connection_messages(conn.id)?;
        Ok(MockScript::from_recording(&conn, &messages))
    }

    pub fn from_recording(conn: &ConnectionInfo, messages: &[Recorded]) -> MockScript {
        let base = crate::replay::base_us(conn, messages);
        let mut steps = Vec::new();
        let mut clients = 0usize;
        let mut close = None;
        let mut client_closed = false;
        for m in messages {
            match (m.dir, m.opcode) {
                (Direction::Client, Opcode::Text | Opcode::Binary) => clients += 1,
                (Direction::Server, Opcode::Text | Opcode::Binary | Opcode::Ping) => {
                    steps.push(MockStep {
                        opcode: m.opcode,
                        payload: m.payload.clone(),
                        offset_us: (m.ts_us - base).max(0),
                        client_before: clients,
                    })
                }
                (Direction::Client, Opcode::Close) => client_closed = true,
                (Direction::Server, Opcode::Close) => {
                    // The server sends nothing after its Close. (After the client's Close it
                    // may still send messages, so that one does not end the script.)
                    let info = sockscope_proto::parse_close_payload(&m.payload).unwrap_or_default();
                    if !client_closed {
                        close = Some(MockClose {
                            code: info
                                .code
                                .filter(|c| sendable_close_code(*c))
                                .unwrap_or(1000),
                            reason: cut_reason(&info.reason),
                            offset_us: (m.ts_us - base).max(0),
                            client_before: clients,
                        });
                    }
                    break;
                }
                _ => {}
            }
        }
        MockScript {
            origin_session: conn.session_id,
            origin_connection: conn.id,
            steps,
            close,
            subprotocol: conn.subprotocol.clone(),
        }
    }
}

/// A running mock server. Stops (closing its clients with 1001) on [`Mock::stop`] or drop.
pub struct Mock {
    session: SessionId,
    addr: SocketAddr,
    clients: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

struct Ctx {
    store: Store,
    session: SessionId,
    script: MockScript,
    mode: MockMode,
    limits: Limits,
    local: SocketAddr,
}

impl Mock {
    /// Loads the recording, listens, creates the mock's session and starts accepting.
    pub async fn start(store: Store, opts: MockOptions) -> Result<Mock, EngineError> {
        if let MockMode::Timed { speed } = opts.mode {
            check_speed(speed)?;
        }
        let addr: SocketAddr = opts.listen.trim().parse().map_err(|_| {
            EngineError::InvalidOption(format!("listen address {:?} is not IP:PORT", opts.listen))
        })?;
        if !addr.ip().is_loopback() && !opts.allow_remote {
            return Err(EngineError::InvalidOption(format!(
                "{addr} is not a loopback address (allow it explicitly to listen there)"
            )));
        }
        let script = {
            let store = store.clone();
            let (session, connection) = (opts.session, opts.connection);
            tokio::task::spawn_blocking(move || MockScript::load(&store, session, connection))
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))??
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
        let session = store
            .create_session_with_origin(
                &format!("mock of #{} on {local}", script.origin_session),
                SessionKind::Replay,
                script.origin_session,
                Some(script.origin_connection),
            )
            .await?;
        let (stop, stop_rx) = watch::channel(false);
        let clients = Arc::new(AtomicUsize::new(0));
        let ctx = Arc::new(Ctx {
            store,
            session,
            script,
            mode: opts.mode,
            limits: opts.limits,
            local,
        });
        let task = tokio::spawn(accept_loop(
            listener,
            ctx,
            stop_rx,
            clients.clone(),
            opts.max_clients.max(1),
        ));
        Ok(Mock {
            session,
            addr: local,
            clients,
            stop,
            task: Some(task),
        })
    }

    /// The mock's session (kind `replay`, origin: the mocked session and connection).
    pub fn session(&self) -> SessionId {
        self.session
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR:PORT/`
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Client connections accepted so far.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Stops listening, closes every client (1001) and waits until their ends are recorded.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        // The accept loop closes the clients and ends by itself.
        self.stop.send_replace(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    clients: Arc<AtomicUsize>,
    max_clients: usize,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = wait_stop(&mut stop) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if tasks.len() >= max_clients {
                        drop(stream);
                        continue;
                    }
                    clients.fetch_add(1, Ordering::Relaxed);
                    tasks.spawn(serve(stream, ctx.clone(), stop.clone()));
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
    drop(listener);
    let bound = ctx.limits.close_timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(bound, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.shutdown().await;
}

/// What the handshake callback saw: path, request and response headers, chosen subprotocol.
type Seen = (String, Headers, Headers, Option<String>);

/// One client of the mock: handshake, record, play.
async fn serve(stream: TcpStream, ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let created_at_us = now_us();
    let seen: Arc<Mutex<Option<Seen>>> = Arc::new(Mutex::new(None));
    let callback = handshake_callback(seen.clone(), ctx.script.subprotocol.clone());
    let config = WebSocketConfig::default()
        .max_message_size(Some(ctx.limits.max_message_size))
        .max_frame_size(Some(ctx.limits.max_frame_size));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let Ok(Ok(ws)) = tokio::time::timeout(ctx.limits.handshake_timeout, handshake).await else {
        // Not a WebSocket client (or too slow): nothing to record.
        return;
    };
    let opened_at_us = now_us();
    let Some((path, request_headers, response_headers, subprotocol)) =
        seen.lock().ok().and_then(|mut s| s.take())
    else {
        return;
    };
    let Ok(id) = ctx
        .store
        .create_connection(NewConnection {
            session: ctx.session,
            url: format!("ws://{}{path}", ctx.local),
            request_headers: request_headers.clone(),
            insecure: false,
            created_at_us,
        })
        .await
    else {
        return;
    };
    let _ = ctx
        .store
        .update_connection(ConnectionEvent::Opened {
            id,
            at_us: opened_at_us,
            request_headers,
            response_status: 101,
            response_headers,
            subprotocol,
        })
        .await;
    // The schedule starts now that the connection is recorded, so the first messages are not
    // late by the store's round trip.
    let mut client = Client {
        ctx,
        id,
        ws,
        opened: Instant::now(),
        stop,
    };
    let (code, reason, by) = client.play().await;
    let _ = client
        .ctx
        .store
        .update_connection(ConnectionEvent::Closed {
            id,
            at_us: now_us(),
            code,
            reason,
            by,
        })
        .await;
}

/// Records what the client asked for and chooses the recorded subprotocol when offered.
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
fn handshake_callback(
    seen: Arc<Mutex<Option<Seen>>>,
    wanted: Option<String>,
) -> impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> {
    move |req: &Request, mut resp: Response| {
        let offered: Vec<&str> = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let chosen = wanted.filter(|w| offered.contains(&w.as_str()));
        if let Some(v) = chosen
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            resp.headers_mut().insert("sec-websocket-protocol", v);
        }
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        if let Ok(mut slot) = seen.lock() {
            *slot = Some((
                path,
                headers_of(req.headers()),
                headers_of(resp.headers()),
                chosen,
            ));
        }
        Ok(resp)
    }
}

struct Client {
    ctx: Arc<Ctx>,
    id: ConnectionId,
    ws: WebSocketStream<TcpStream>,
    opened: Instant,
    stop: watch::Receiver<bool>,
}

fn close_payload(code: u16, reason: &str) -> Bytes {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason.as_bytes());
    Bytes::from(v)
}

impl Client {
    async fn record(&self, dir: Direction, opcode: Opcode, payload: Bytes, injected: bool) {
        let rec = FrameRecord::message(self.ctx.session, self.id, dir, opcode, payload, now_us())
            .injected(injected);
        let _ = self.ctx.store.record_frame(rec).await;
    }

    /// When step `i` (or the close, at `i == steps.len()`) is due in timed mode.
    fn due_at(&self, offset_us: i64, speed: f64) -> Instant {
        self.opened + scaled(offset_us, speed)
    }

    /// Plays the script until the connection ends; returns how it ended.
    async fn play(&mut self) -> (Option<u16>, String, ClosedBy) {
        let steps = self.ctx.script.steps.clone();
        let scripted_close = self.ctx.script.close.clone();
        let mode = self.ctx.mode;
        let mut next = 0usize;
        let mut clients = 0usize;
        let mut stopping = false;
        let mut stop = self.stop.clone();
        // Set once we sent a Close: (code, reason, deadline for the client's reply).
        let mut we_closed: Option<(u16, String, Instant)> = None;
        loop {
            // Send whatever is due.
            while we_closed.is_none() && next < steps.len() {
                let step = &steps[next];
                let due = match mode {
                    MockMode::Timed { speed } => {
                        self.due_at(step.offset_us, speed) <= Instant::now()
                    }
                    MockMode::Conversational => step.client_before <= clients,
                };
                if !due {
                    break;
                }
                let msg = match step.opcode {
                    Opcode::Text => match std::str::from_utf8(&step.payload) {
                        Ok(t) => Message::Text(t.into()),
                        Err(_) => Message::Binary(step.payload.clone()),
                    },
                    Opcode::Ping => Message::Ping(step.payload.clone()),
                    _ => Message::Binary(step.payload.clone()),
                };
                let opcode = match &msg {
                    Message::Text(_) => Opcode::Text,
                    Message::Ping(_) => Opcode::Ping,
                    _ => Opcode::Binary,
                };
                if let Err(e) = self.ws.send(msg).await {
                    return (None, describe(&e), ClosedBy::Error);
                }
                self.record(Direction::Server, opcode, step.payload.clone(), true)
                    .await;
                next += 1;
            }
            // The recorded server close, once everything before it was played.
            if let (None, Some(c)) = (&we_closed, &scripted_close) {
                let due = next == steps.len()
                    && match mode {
                        MockMode::Timed { speed } => {
                            self.due_at(c.offset_us, speed) <= Instant::now()
                        }
                        MockMode::Conversational => c.client_before <= clients,
                    };
                if due {
                    if let Some(end) = self.send_close(c.code, &c.reason, &mut we_closed).await {
                        return end;
                    }
                }
            }
            let wake = match mode {
                MockMode::Timed { speed } if we_closed.is_none() => match steps.get(next) {
                    Some(s) => Some(self.due_at(s.offset_us, speed)),
                    None => scripted_close
                        .as_ref()
                        .map(|c| self.due_at(c.offset_us, speed)),
                },
                _ => None,
            };
            let close_deadline = we_closed.as_ref().map(|(_, _, d)| *d);
            tokio::select! {
                () = wait_stop(&mut stop), if !stopping => {
                    stopping = true;
                    if we_closed.is_none() {
                        if let Some(end) = self.send_close(1001, "mock stopping", &mut we_closed).await {
                            return end;
                        }
                    }
                }
                () = sleep_until(wake) => {}
                () = sleep_until(close_deadline) => {
                    let (code, reason, _) = we_closed.take().unwrap_or((1006, String::new(), Instant::now()));
                    return (Some(code), format!("{reason} (no close reply within {} s)", self.ctx.limits.close_timeout.as_secs()).trim().to_owned(), ClosedBy::Server);
                }
                msg = self.ws.next() => match msg {
                    Some(Ok(m)) => match m {
                        Message::Text(t) => {
                            self.record(Direction::Client, Opcode::Text, Bytes::from(t), false).await;
                            clients += 1;
                        }
                        Message::Binary(b) => {
                            self.record(Direction::Client, Opcode::Binary, b, false).await;
                            clients += 1;
                        }
                        Message::Ping(p) => {
                            self.record(Direction::Client, Opcode::Ping, p.clone(), false).await;
                            // tungstenite answers with the same payload on the next flush.
                            if we_closed.is_none() && self.ws.flush().await.is_ok() {
                                self.record(Direction::Server, Opcode::Pong, p, false).await;
                            }
                        }
                        Message::Pong(p) => {
                            self.record(Direction::Client, Opcode::Pong, p, false).await;
                        }
                        Message::Close(f) => {
                            let (code, reason) = f
                                .as_ref()
                                .map(|f| (Some(u16::from(f.code)), f.reason.as_str().to_owned()))
                                .unwrap_or((None, String::new()));
                            let payload = code.map_or_else(Bytes::new, |c| close_payload(c, &reason));
                            self.record(Direction::Client, Opcode::Close, payload.clone(), false).await;
                            if let Some((code, reason, _)) = we_closed.take() {
                                // Our close completed.
                                return (Some(code), reason, ClosedBy::Server);
                            }
                            // The client closes: tungstenite echoes its Close.
                            if self.ws.flush().await.is_ok() {
                                self.record(Direction::Server, Opcode::Close, payload, false).await;
                            }
                            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                                while let Some(Ok(_)) = self.ws.next().await {}
                            })
                            .await;
                            return (code, reason, ClosedBy::Client);
                        }
                        Message::Frame(_) => {}
                    },
                    Some(Err(e)) => {
                        let code = match &e {
                            WsError::Capacity(_) => Some(1009),
                            WsError::Protocol(_) => Some(1002),
                            WsError::Utf8(_) => Some(1007),
                            _ => None,
                        };
                        if let Some((code, reason, _)) = we_closed.take() {
                            return (Some(code), reason, ClosedBy::Server);
                        }
                        return (code, describe(&e), ClosedBy::Error);
                    }
                    None => {
                        return match we_closed.take() {
                            Some((code, reason, _)) => (Some(code), reason, ClosedBy::Server),
                            None => (None, "connection lost without a close frame".into(), ClosedBy::Error),
                        };
                    }
                },
            }
        }
    }

    /// Sends our Close; `Some(end)` when the connection is already gone.
    async fn send_close(
        &mut self,
        code: u16,
        reason: &str,
        we_closed: &mut Option<(u16, String, Instant)>,
    ) -> Option<(Option<u16>, String, ClosedBy)> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        match self.ws.close(Some(frame)).await {
            Ok(()) => {
                self.record(
                    Direction::Server,
                    Opcode::Close,
                    close_payload(code, reason),
                    true,
                )
                .await;
                *we_closed = Some((
                    code,
                    reason.to_owned(),
                    Instant::now() + self.ctx.limits.close_timeout,
                ));
                None
            }
            Err(e) => Some((None, describe(&e), ClosedBy::Error)),
        }
    }
}

fn describe(e: &WsError) -> String {
    match e {
        WsError::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        // The mock is gone without saying stop: same thing.
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

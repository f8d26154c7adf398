//! Replay (client side): sends the recorded client→server messages of one connection to a
//! server again, as a new client connection in a new session of kind `replay` whose origin is
//! the recorded session and connection.
//!
//! A replay is a driver on top of the engine's connection actor: it opens the connection with
//! [`Engine::connect`], sends with [`Engine::send`] and follows the connection's
//! [`ConnEvent`]s, so it is recorded live like any client connection. Three pacings
//! ([`ReplayMode`]): the recorded delays scaled by a speed factor, as fast as possible, or
//! conversational (before each client message, wait until the server has sent as many data
//! messages as it had at that point of the recording).

use crate::{ConnEvent, ConnectOptions, Engine, EngineError, Limits, Outgoing};
use bytes::Bytes;
use sockscope_proto::diff::{diff_messages, Diff, DiffOptions, Message};
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnectionInfo, Headers, SessionKind, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

/// Slowest speed factor of a timed replay or mock.
pub const MIN_SPEED: f64 = 0.1;
/// Fastest speed factor of a timed replay or mock.
pub const MAX_SPEED: f64 = 100.0;
/// Default wait for each server message in conversational mode.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a replay paces the client's messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayMode {
    /// The recorded delays (from the connection's open) divided by `speed` (0.1–100).
    Timed { speed: f64 },
    /// Each message as soon as the previous one is written.
    Max,
    /// Before each client message, wait (at most `timeout` each time) until the server has
    /// sent as many data messages as it had before that message in the recording; after the
    /// last one, wait for the rest of the server's recorded messages, then close.
    Conversational { timeout: Duration },
}

impl ReplayMode {
    pub fn check(&self) -> Result<(), EngineError> {
        match *self {
            ReplayMode::Timed { speed } => check_speed(speed),
            ReplayMode::Max => Ok(()),
            ReplayMode::Conversational { timeout } if timeout.is_zero() => Err(
                EngineError::InvalidOption("the conversational timeout must be positive".into()),
            ),
            ReplayMode::Conversational { .. } => Ok(()),
        }
    }
}

/// Speed factors outside [`MIN_SPEED`]..=[`MAX_SPEED`] are refused.
pub fn check_speed(speed: f64) -> Result<(), EngineError> {
    if speed.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&speed) {
        Ok(())
    } else {
        Err(EngineError::InvalidOption(format!(
            "speed {speed} is outside {MIN_SPEED}–{MAX_SPEED}"
        )))
    }
}

/// One message the replay sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStep {
    /// `Text`, `Binary` or `Ping`.
    pub opcode: Opcode,
    pub payload: Bytes,
    /// When it was sent in the recording, from the connection's open (µs).
    pub offset_us: i64,
    /// How many server data messages the recording had before it.
    pub server_before: usize,
    /// Only part of the recorded message is known; the part is sent.
    pub truncated: bool,
}

/// What a replay will do: built from the recording by [`ReplayPlan::load`], then editable
/// (URL, headers, subprotocols) before [`Engine::replay`] starts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    pub origin_session: SessionId,
    pub origin_connection: ConnectionId,
    /// Where to connect: the recorded URL unless changed.
    pub url: String,
    /// The recorded request headers, without hop-by-hop headers and those the WebSocket
    /// client sets itself (Host, Sec-WebSocket-Key/Version/Extensions/Protocol…).
    pub headers: Headers,
    /// The subprotocols the recorded client offered.
    pub subprotocols: Vec<String>,
    pub steps: Vec<ReplayStep>,
    /// Server data messages in the recording.
    pub server_messages: usize,
    /// How the replay closes after its last message: the code and reason of the client's
    /// recorded Close, else 1000.
    pub close_code: u16,
    pub close_reason: String,
    /// When the recorded connection closed, from its open (µs): a timed replay closes then.
    pub close_offset_us: Option<i64>,
    pub limits: Limits,
}

/// Request headers a replay never copies: hop-by-hop ones and those the WebSocket client
/// library sets (subprotocols travel in [`ReplayPlan::subprotocols`]).
const NOT_REPLAYED: &[&str] = &[
    "host",
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "sec-websocket-protocol",
];

impl ReplayPlan {
    /// Reads the recording (blocking: call from a blocking context). `connection` defaults to
    /// the session's first connection.
    pub fn load(
        store: &Store,
        session: SessionId,
        connection: Option<ConnectionId>,
    ) -> Result<ReplayPlan, EngineError> {
        let conn = recorded_connection(store, session, connection)?;
        let messages = store.connection_messages(conn.id)?;
        Ok(ReplayPlan::from_recording(&conn, &messages))
    }

    /// Builds the plan from a connection's row and messages.
    pub fn from_recording(conn: &ConnectionInfo, messages: &[Message]) -> ReplayPlan {
        let base = base_us(conn, messages);
        let mut steps = Vec::new();
        let mut server = 0usize;
        for m in messages {
            match (m.dir, m.opcode) {
                (Direction::Server, Opcode::Text | Opcode::Binary) => server += 1,
                (Direction::Client, Opcode::Text | Opcode::Binary | Opcode::Ping) => {
                    steps.push(ReplayStep {
                        opcode: m.opcode,
                        payload: m.payload.clone(),
                        offset_us: (m.ts_us - base).max(0),
                        server_before: server,
                        truncated: m.truncated,
                    });
                }
                _ => {}
            }
        }
        let first_close = messages.iter().find(|m| m.opcode == Opcode::Close);
        let (close_code, close_reason) = first_close
            .filter(|m| m.dir == Direction::Client)
            .and_then(|m| sockscope_proto::parse_close_payload(&m.payload).ok())
            .and_then(|info| Some((info.code.filter(|c| sendable_close_code(*c))?, info.reason)))
            .unwrap_or((1000, String::new()));
        let close_offset_us = first_close
            .map(|m| m.ts_us)
            .or(conn.closed_at_us)
            .map(|t| (t - base).max(0));
        let (headers, subprotocols) = replayable_headers(&conn.request_headers);
        ReplayPlan {
            origin_session: conn.session_id,
            origin_connection: conn.id,
            url: conn.url.clone(),
            headers,
            subprotocols,
            steps,
            server_messages: server,
            close_code,
            close_reason: cut_reason(&close_reason),
            close_offset_us,
            limits: Limits::default(),
        }
    }

    /// Sets a request header, replacing any of the same name (case-insensitive).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// The recorded connection: the one asked for (it must belong to `session`), else the
/// session's first.
pub fn recorded_connection(
    store: &Store,
    session: SessionId,
    connection: Option<ConnectionId>,
) -> Result<ConnectionInfo, EngineError> {
    store.session(session)?;
    match connection {
        Some(id) => {
            let conn = store.connection(id)?;
            if conn.session_id != session {
                return Err(EngineError::Replay(format!(
                    "connection {id} is not in session {session} (it is in session {})",
                    conn.session_id
                )));
            }
            Ok(conn)
        }
        None => store
            .connections(session)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::Replay(format!("session {session} has no connection"))),
    }
}

/// Time zero of a recorded connection: its open, else its first message, else its creation.
pub(crate) fn base_us(conn: &ConnectionInfo, messages: &[Message]) -> i64 {
    conn.opened_at_us
        .or_else(|| messages.iter().map(|m| m.ts_us).min())
        .unwrap_or(conn.created_at_us)
}

/// Close codes an endpoint may send (RFC 6455 §7.4).
pub(crate) fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close reason fits in 123 bytes.
pub(crate) fn cut_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

fn replayable_headers(recorded: &Headers) -> (Headers, Vec<String>) {
    let mut headers = Vec::new();
    let mut protocols = Vec::new();
    for (name, value) in recorded {
        let lower = name.trim().to_ascii_lowercase();
        if lower == "sec-websocket-protocol" {
            protocols.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        // HTTP/2 pseudo-headers (imports) and anything the client cannot send are left out.
        if lower.starts_with(':')
            || NOT_REPLAYED.contains(&lower.as_str())
            || HeaderName::from_bytes(name.trim().as_bytes()).is_err()
            || HeaderValue::from_str(value).is_err()
        {
            continue;
        }
        headers.push((name.trim().to_owned(), value.clone()));
    }
    (headers, protocols)
}

/// True when the URL's host is a loopback address (127.0.0.0/8, ::1) or `localhost`: the app
/// asks for confirmation before replaying anywhere else.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url
        .trim()
        .parse::<tokio_tungstenite::tungstenite::http::Uri>()
    else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Diff of two recorded connections' data messages (blocking: reads the store).
pub fn diff_connections(
    store: &Store,
    left: ConnectionId,
    right: ConnectionId,
    opts: &DiffOptions,
) -> Result<Diff, EngineError> {
    let l = store.connection_messages(left)?;
    let r = store.connection_messages(right)?;
    Ok(diff_messages(&l, &r, opts))
}

// ---- running a replay ----

/// Where a replay is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayState {
    Connecting,
    Running,
    /// All messages sent; waiting for the end (the server's last messages, the close).
    Closing,
    Finished,
    Stopped,
    Failed(String),
}

impl ReplayState {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ReplayState::Finished | ReplayState::Stopped | ReplayState::Failed(_)
        )
    }
}

/// Progress of a replay, published on a watch channel ([`Replay::progress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Client messages sent so far.
    pub sent: usize,
    /// Client messages to send.
    pub total: usize,
    /// Server data messages received so far.
    pub received: usize,
    pub state: ReplayState,
}

/// How a replay ended (when it did not fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub session: SessionId,
    pub connection: ConnectionId,
    pub sent: usize,
    pub total: usize,
    pub received: usize,
    /// Stopped by [`Replay::stop`] before the end.
    pub stopped: bool,
}

/// Stops a replay; cheap to clone.
#[derive(Clone)]
pub struct ReplayStopper(Arc<watch::Sender<bool>>);

impl ReplayStopper {
    /// Stops the replay: no further message is sent and the connection closes (1000,
    /// "replay stopped").
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A running replay. Dropping it does not stop it.
pub struct Replay {
    /// The new session (kind `replay`, origin set).
    pub session: SessionId,
    /// The replay's connection in that session.
    pub connection: ConnectionId,
    progress: watch::Receiver<ReplayProgress>,
    stop: ReplayStopper,
    task: JoinHandle<Result<ReplayReport, EngineError>>,
}

impl Replay {
    pub fn stop(&self) {
        self.stop.stop();
    }

    pub fn stopper(&self) -> ReplayStopper {
        self.stop.clone()
    }

    /// Progress updates (sent/total, received, state).
    pub fn progress(&self) -> watch::Receiver<ReplayProgress> {
        self.progress.clone()
    }

    /// Waits for the end: the report, or why the replay failed (also in the progress state).
    pub async fn wait(self) -> Result<ReplayReport, EngineError> {
        self.task
            .await
            .map_err(|e| EngineError::Internal(format!("replay task: {e}")))?
    }
}

/// What the replay has seen of its connection so far.
#[derive(Debug, Clone, Default)]
struct Observed {
    opened: bool,
    server: usize,
    ended: Option<Ended>,
}

#[derive(Debug, Clone)]
enum Ended {
    Closed {
        code: Option<u16>,
        reason: String,
        by: ClosedBy,
    },
    Failed(String),
}

impl Ended {
    fn describe(&self) -> String {
        match self {
            Ended::Closed { code, reason, by } => {
                let code = code.map_or_else(|| "no code".to_owned(), |c| c.to_string());
                let who = match by {
                    ClosedBy::Client => "we closed",
                    ClosedBy::Server => "the server closed",
                    ClosedBy::Error => "the connection broke",
                };
                if reason.is_empty() {
                    format!("{who} ({code})")
                } else {
                    format!("{who} ({code} {reason})")
                }
            }
            Ended::Failed(e) => format!("connection failed: {e}"),
        }
    }
}

enum Waited {
    Ok,
    Stopped,
    TimedOut,
}

impl Engine {
    /// Starts a replay of `plan` in a new session of kind `replay` (origin: the plan's session
    /// and connection). Returns once the session and connection exist; the replay goes on in
    /// its own task.
    pub async fn replay(&self, plan: ReplayPlan, mode: ReplayMode) -> Result<Replay, EngineError> {
        mode.check()?;
        check_request(&plan)?;
        let name = format!(
            "replay of #{}: {}",
            plan.origin_session,
            crate::session_name(&plan.url)
        );
        let session = self
            .store
            .create_session_with_origin(
                &name,
                SessionKind::Replay,
                plan.origin_session,
                Some(plan.origin_connection),
            )
            .await?;
        let mut handle = self
            .connect(ConnectOptions {
                url: plan.url.clone(),
                headers: plan.headers.clone(),
                subprotocols: plan.subprotocols.clone(),
                session: Some(session),
                limits: plan.limits,
                events: true,
                ..ConnectOptions::default()
            })
            .await?;
        let events = handle
            .events
            .take()
            .ok_or_else(|| EngineError::Internal("no event stream".into()))?;
        let total = plan.steps.len();
        let (progress_tx, progress_rx) = watch::channel(ReplayProgress {
            sent: 0,
            total,
            received: 0,
            state: ReplayState::Connecting,
        });
        let progress_tx = Arc::new(progress_tx);
        let (observed_tx, observed_rx) = watch::channel(Observed::default());
        tokio::spawn(pump_events(events, observed_tx, progress_tx.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let driver = Driver {
            engine: self.clone(),
            session,
            id: handle.id,
            plan,
            mode,
            observed: observed_rx,
            stop: stop_rx,
            progress: progress_tx,
            sent: 0,
        };
        let task = tokio::spawn(driver.run());
        Ok(Replay {
            session,
            connection: handle.id,
            progress: progress_rx,
            stop: ReplayStopper(Arc::new(stop_tx)),
            task,
        })
    }
}

/// URL and header errors before anything is created.
fn check_request(plan: &ReplayPlan) -> Result<(), EngineError> {
    let url = plan.url.trim();
    let scheme_ok = url
        .split_once("://")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("wss"));
    if !scheme_ok {
        return Err(EngineError::InvalidUrl {
            url: url.to_owned(),
            reason: "the URL must start with ws:// or wss://".into(),
        });
    }
    url.into_client_request()
        .map_err(|e| EngineError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    for (name, value) in &plan.headers {
        if HeaderName::from_bytes(name.trim().as_bytes()).is_err()
            || HeaderValue::from_str(value).is_err()
        {
            return Err(EngineError::InvalidHeader(format!("{name}: {value}")));
        }
    }
    Ok(())
}

/// Follows the connection's events until its task ends.
async fn pump_events(
    mut events: tokio::sync::mpsc::Receiver<ConnEvent>,
    observed: watch::Sender<Observed>,
    progress: Arc<watch::Sender<ReplayProgress>>,
) {
    while let Some(ev) = events.recv().await {
        match ev {
            ConnEvent::Open { .. } => observed.send_modify(|o| o.opened = true),
            ConnEvent::Received {
                opcode: Opcode::Text | Opcode::Binary,
                ..
            } => {
                observed.send_modify(|o| o.server += 1);
                progress.send_modify(|p| p.received += 1);
            }
            ConnEvent::Received { .. } => {}
            ConnEvent::Closed { code, reason, by } => {
                observed.send_modify(|o| o.ended = Some(Ended::Closed { code, reason, by }))
            }
            ConnEvent::Failed { error } => {
                observed.send_modify(|o| o.ended = Some(Ended::Failed(error)))
            }
        }
    }
    observed.send_modify(|o| {
        if o.ended.is_none() {
            o.ended = Some(Ended::Failed("the connection task ended".into()));
        }
    });
}

struct Driver {
    engine: Engine,
    session: SessionId,
    id: ConnectionId,
    plan: ReplayPlan,
    mode: ReplayMode,
    observed: watch::Receiver<Observed>,
    stop: watch::Receiver<bool>,
    progress: Arc<watch::Sender<ReplayProgress>>,
    sent: usize,
}

/// Why the drive ended early.
enum Halt {
    Stopped,
    Failed(String),
}

impl Driver {
    async fn run(mut self) -> Result<ReplayReport, EngineError> {
        let outcome = self.drive().await;
        let (state, result) = match outcome {
            Ok(()) => (ReplayState::Finished, Ok(false)),
            Err(Halt::Stopped) => {
                self.close_and_wait(1000, "replay stopped").await;
                (ReplayState::Stopped, Ok(true))
            }
            Err(Halt::Failed(msg)) => {
                self.close_and_wait(1000, &format!("replay failed: {msg}"))
                    .await;
                (
                    ReplayState::Failed(msg.clone()),
                    Err(EngineError::Replay(msg)),
                )
            }
        };
        let received = self.observed.borrow().server;
        self.progress.send_modify(|p| p.state = state);
        result.map(|stopped| ReplayReport {
            session: self.session,
            connection: self.id,
            sent: self.sent,
            total: self.plan.steps.len(),
            received,
            stopped,
        })
    }

    fn ended(&self) -> Option<Ended> {
        self.observed.borrow().ended.clone()
    }

    /// Waits until `cond` holds (or the connection ended), the replay is stopped, or the
    /// timeout passes.
    async fn wait_until(
        &mut self,
        cond: impl Fn(&Observed) -> bool,
        timeout: Option<Duration>,
    ) -> Waited {
        let deadline = timeout.map(|t| Instant::now() + t);
        let observed = &mut self.observed;
        let stop = &mut self.stop;
        tokio::select! {
            _ = observed.wait_for(|o| cond(o) || o.ended.is_some()) => Waited::Ok,
            () = stop_requested(stop) => Waited::Stopped,
            () = sleep_until(deadline) => Waited::TimedOut,
        }
    }

    async fn drive(&mut self) -> Result<(), Halt> {
        // The actor applies the handshake timeout; a failed handshake ends the connection.
        match self.wait_until(|o| o.opened, None).await {
            Waited::Stopped => return Err(Halt::Stopped),
            Waited::Ok | Waited::TimedOut => {}
        }
        if !self.observed.borrow().opened {
            let why = self.ended().map_or_else(
                || "the connection did not open".to_owned(),
                |e| e.describe(),
            );
            return Err(Halt::Failed(why));
        }
        self.progress
            .send_modify(|p| p.state = ReplayState::Running);
        let start = Instant::now();
        let total = self.plan.steps.len();
        for k in 0..total {
            let (offset_us, server_before) = {
                let s = &self.plan.steps[k];
                (s.offset_us, s.server_before)
            };
            match self.mode {
                ReplayMode::Timed { speed } => {
                    let at = start + scaled(offset_us, speed);
                    let wait = at.saturating_duration_since(Instant::now());
                    if let Waited::Stopped = self.wait_until(|_| false, Some(wait)).await {
                        return Err(Halt::Stopped);
                    }
                }
                ReplayMode::Max => {
                    if *self.stop.borrow() {
                        return Err(Halt::Stopped);
                    }
                }
                ReplayMode::Conversational { timeout } => {
                    match self
                        .wait_until(|o| o.server >= server_before, Some(timeout))
                        .await
                    {
                        Waited::Stopped => return Err(Halt::Stopped),
                        Waited::TimedOut => {
                            let got = self.observed.borrow().server;
                            return Err(Halt::Failed(format!(
                                "timed out after {} s waiting for server message {server_before} \
                                 (received {got}) before client message {} of {total}",
                                timeout.as_secs_f64(),
                                k + 1
                            )));
                        }
                        Waited::Ok => {}
                    }
                }
            }
            if let Some(e) = self.ended() {
                return Err(Halt::Failed(format!(
                    "{} after {k} of {total} messages",
                    e.describe()
                )));
            }
            let step = &self.plan.steps[k];
            let out = match step.opcode {
                Opcode::Text => match String::from_utf8(step.payload.to_vec()) {
                    Ok(t) => Outgoing::Text(t),
                    // Recorded invalid UTF-8 text cannot be sent as text by the client library.
                    Err(_) => Outgoing::Binary(step.payload.clone()),
                },
                Opcode::Ping => Outgoing::Ping(step.payload.clone()),
                _ => Outgoing::Binary(step.payload.clone()),
            };
            if let Err(e) = self.engine.send(self.id, out).await {
                let why = match self.ended() {
                    Some(end) => end.describe(),
                    None => e.to_string(),
                };
                return Err(Halt::Failed(format!("{why} after {k} of {total} messages")));
            }
            self.sent = k + 1;
            self.progress.send_modify(|p| p.sent = k + 1);
        }
        self.progress
            .send_modify(|p| p.state = ReplayState::Closing);
        match self.mode {
            ReplayMode::Timed { speed } => {
                if let Some(close_at) = self.plan.close_offset_us {
                    let at = start + scaled(close_at, speed);
                    let wait = at.saturating_duration_since(Instant::now());
                    if let Waited::Stopped = self.wait_until(|_| false, Some(wait)).await {
                        return Err(Halt::Stopped);
                    }
                }
            }
            ReplayMode::Max => {}
            ReplayMode::Conversational { timeout } => {
                let want = self.plan.server_messages;
                match self.wait_until(|o| o.server >= want, Some(timeout)).await {
                    Waited::Stopped => return Err(Halt::Stopped),
                    Waited::TimedOut => {
                        let got = self.observed.borrow().server;
                        return Err(Halt::Failed(format!(
                            "timed out after {} s waiting for server message {want} (received \
                             {got}) after the last client message",
                            timeout.as_secs_f64()
                        )));
                    }
                    Waited::Ok => {}
                }
            }
        }
        if self.ended().is_none() {
            let (code, reason) = (self.plan.close_code, self.plan.close_reason.clone());
            self.close_and_wait(code, &reason).await;
        }
        Ok(())
    }

    /// Closes the connection unless it ended, and waits (bounded) for its task to record the end.
    async fn close_and_wait(&mut self, code: u16, reason: &str) {
        if self.ended().is_some() {
            return;
        }
        let _ = self.engine.close(self.id, code, &cut_reason(reason)).await;
        let bound = self.plan.limits.close_timeout + Duration::from_secs(2);
        let _ = tokio::time::timeout(bound, self.observed.wait_for(|o| o.ended.is_some())).await;
    }
}

/// Resolves when `stop()` was called. With every handle dropped nobody can stop the replay
/// any more: it goes on to its end.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A recorded offset divided by the speed factor.
pub(crate) fn scaled(offset_us: i64, speed: f64) -> Duration {
    let us = offset_us.max(0) as f64 / speed;
    Duration::from_secs_f64(us / 1e6)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for url in [
            "ws://127.0.0.1:9000/x",
            "ws://127.1.2.3/",
            "wss://localhost/",
            "ws://LOCALHOST.:80",
            "ws://[::1]:9000/",
            "ws://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "ws://10.0.0.1/",
            "wss://example.com/",
            "ws://localhost.example.com/",
            "ws://[::2]/",
            "not a url",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn speeds() {
        assert!(check_speed(0.1).is_ok() && check_speed(100.0).is_ok());
        for bad in [0.0, 0.09, 100.5, f64::NAN, f64::INFINITY, -1.0] {
            assert!(check_speed(bad).is_err(), "{bad}");
        }
        assert_eq!(scaled(400_000, 2.0), Duration::from_millis(200));
    }

    #[test]
    fn headers_kept_and_dropped() {
        let recorded: Headers = [
            ("Host", "a.example"),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "abc"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ("Sec-WebSocket-Protocol", "v2.chat, v1.chat"),
            (":authority", "a.example"),
            ("Origin", "https://a.example"),
            ("Cookie", "sid=1"),
            ("Bad Name", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let (h, p) = replayable_headers(&recorded);
        assert_eq!(
            h,
            vec![
                ("Origin".to_owned(), "https://a.example".to_owned()),
                ("Cookie".to_owned(), "sid=1".to_owned())
            ]
        );
        assert_eq!(p, ["v2.chat", "v1.chat"]);
        assert_eq!(cut_reason(&"é".repeat(100)).len(), 122);
    }
}

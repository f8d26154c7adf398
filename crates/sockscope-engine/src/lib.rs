//! Sockscope's connection engine (no tauri here).
//!
//! Each client connection is one actor task that owns its socket and `select!`s over socket
//! reads and commands ([`Engine::send`], [`Engine::close`]). Every frame it sends or receives
//! is queued to the store; the store's writer commits in batches and broadcasts what it
//! committed, which is what live views follow. No lock is held across an `.await`.
//!
//! [`Engine::replay`] replays a recorded connection as a new client connection (a driver on
//! top of the same actor); [`Mock`] plays a recorded server to any client that connects.

mod actor;
mod error;
mod mock;
mod options;
mod registry;
mod replay;

pub use error::EngineError;
pub use mock::{Mock, MockClose, MockMode, MockOptions, MockScript, MockStep};
pub use options::{ConnectOptions, Limits};
pub use replay::{
    check_speed, diff_connections, is_loopback_url, recorded_connection, Replay, ReplayMode,
    ReplayPlan, ReplayProgress, ReplayReport, ReplayState, ReplayStep, ReplayStopper,
    DEFAULT_WAIT_TIMEOUT, MAX_SPEED, MIN_SPEED,
};

use bytes::Bytes;
use registry::Registry;
use sockscope_proto::{ConnectionId, Opcode, SessionId};
use sockscope_store::{ClosedBy, NewConnection, SessionKind, Store};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

/// What a connection's owner hears about it (the CLI prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    Open {
        status: u16,
        subprotocol: Option<String>,
    },
    /// A message or control frame from the server.
    Received {
        opcode: Opcode,
        payload: Bytes,
    },
    Closed {
        code: Option<u16>,
        reason: String,
        by: ClosedBy,
    },
    Failed {
        error: String,
    },
}

/// Something to send on an open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Binary(Bytes),
    Ping(Bytes),
}

pub(crate) enum Command {
    Send(Outgoing, oneshot::Sender<Result<(), EngineError>>),
    Close { code: u16, reason: String },
}

/// A connection just started. Dropping it does not close the connection; use
/// [`Engine::close`].
pub struct ConnectionHandle {
    pub session: SessionId,
    pub id: ConnectionId,
    pub url: String,
    /// Events of this connection, if the caller asked for them ([`ConnectOptions::events`]).
    pub events: Option<mpsc::Receiver<ConnEvent>>,
}

/// Owns the live connections. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    registry: Registry,
}

impl Engine {
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            registry: Registry::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts a client connection. Returns once the connection is recorded (state
    /// `connecting`); the handshake goes on in the connection's task. URL and header errors
    /// are returned here; network errors become the connection's `failed` state.
    pub async fn connect(&self, opts: ConnectOptions) -> Result<ConnectionHandle, EngineError> {
        let url = opts.url.trim().to_owned();
        let scheme_ok = url
            .split_once("://")
            .is_some_and(|(s, _)| s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("wss"));
        if !scheme_ok {
            return Err(EngineError::InvalidUrl {
                url,
                reason: "the URL must start with ws:// or wss://".into(),
            });
        }
        let mut request =
            url.as_str()
                .into_client_request()
                .map_err(|e| EngineError::InvalidUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        for (name, value) in &opts.headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| EngineError::InvalidHeader(name.clone()))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| EngineError::InvalidHeader(format!("{name}: {value}")))?;
            request.headers_mut().append(n, v);
        }
        if !opts.subprotocols.is_empty() {
            let v = HeaderValue::from_str(&opts.subprotocols.join(", "))
                .map_err(|_| EngineError::InvalidHeader("Sec-WebSocket-Protocol".into()))?;
            request.headers_mut().insert("sec-websocket-protocol", v);
        }
        let session = match opts.session {
            Some(s) => {
                // Fail early, with a clear message, for a session that does not exist.
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || store.session(s))
                    .await
                    .map_err(|e| EngineError::Internal(e.to_string()))??;
                s
            }
            None => {
                self.store
                    .create_session(&session_name(&url), SessionKind::Client)
                    .await?
            }
        };
        let request_headers = actor::headers_of(request.headers());
        let id = self
            .store
            .create_connection(NewConnection {
                session,
                url: url.clone(),
                request_headers,
                insecure: false,
                created_at_us: sockscope_proto::now_us(),
            })
            .await?;
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (events_tx, events_rx) = if opts.events {
            let (tx, rx) = mpsc::channel(1024);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let state = self.registry.insert(id, cmd_tx);
        tokio::spawn(actor::run(actor::Actor {
            store: self.store.clone(),
            registry: self.registry.clone(),
            session,
            id,
            request,
            limits: opts.limits,
            commands: cmd_rx,
            events: events_tx,
            state,
        }));
        Ok(ConnectionHandle {
            session,
            id,
            url,
            events: events_rx,
        })
    }

    /// Sends on an open connection; returns when the frame has been written.
    pub async fn send(&self, id: ConnectionId, msg: Outgoing) -> Result<(), EngineError> {
        let tx = self.registry.open_sender(id)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Command::Send(msg, reply))
            .await
            .map_err(|_| EngineError::NotConnected(id))?;
        rx.await.map_err(|_| EngineError::NotConnected(id))?
    }

    /// Starts the closing handshake (or abandons a connection still connecting).
    pub async fn close(
        &self,
        id: ConnectionId,
        code: u16,
        reason: &str,
    ) -> Result<(), EngineError> {
        let tx = self.registry.sender(id)?;
        tx.send(Command::Close {
            code,
            reason: reason.to_owned(),
        })
        .await
        .map_err(|_| EngineError::NotConnected(id))
    }

    /// Connections whose task is still running.
    pub fn live_connections(&self) -> Vec<ConnectionId> {
        self.registry.ids()
    }

    /// Waits until every connection task has finished (after [`Engine::close`] calls).
    pub async fn wait_idle(&self) {
        self.registry.wait_empty().await;
    }
}

/// A readable default session name: host, port and path of the URL.
fn session_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let name: String = rest.chars().take(80).collect();
    if name.is_empty() {
        url.to_owned()
    } else {
        name
    }
}

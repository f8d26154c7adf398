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
pub mod demo;
mod error;
mod fair;
pub mod handshake;
mod links;
mod mock;
mod options;
mod registry;
mod replay;
pub mod stall;
pub mod templates;
pub mod tls;
pub mod vars;

pub use error::EngineError;
pub use handshake::{accept_check, AcceptCheck, HandshakeRecord, WS_GUID};
pub use links::{
    check_close, handshake_info, HandshakeInfo, LinkId, LinkInfo, LinkState, ReconnectPolicy,
};
pub use mock::{Mock, MockClose, MockMode, MockOptions, MockScript, MockStep};
pub use options::{
    Auth, ClientCert, ConnStats, ConnectOptions, Limits, TlsOptions, MIN_PING_INTERVAL,
};
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
    links: links::Links,
}

impl Engine {
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            registry: Registry::default(),
            links: links::Links::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts a client connection. Returns once the connection is recorded (state
    /// `connecting`); the handshake goes on in the connection's task. URL and header errors
    /// are returned here; network errors become the connection's `failed` state.
    pub async fn connect(&self, opts: ConnectOptions) -> Result<ConnectionHandle, EngineError> {
        // URL, headers and TLS files are checked here, before anything is recorded.
        let prepared = handshake::prepare(&opts)?;
        let url = prepared.url.clone();
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
        let id = self
            .store
            .create_connection(NewConnection {
                session,
                url: url.clone(),
                request_headers: prepared.headers.clone(),
                insecure: opts.tls.insecure,
                created_at_us: sockscope_proto::now_us(),
            })
            .await?;
        let reconnect = opts
            .reconnect
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok());
        self.store
            .update_connection(sockscope_store::ConnectionEvent::Details {
                id,
                options: Some(opts.record(reconnect.as_ref()).to_string()),
                handshake: None,
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
            prepared,
            limits: opts.limits,
            ping_interval: opts
                .ping_interval
                .map(|d| d.max(options::MIN_PING_INTERVAL)),
            stats: opts.stats.clone().unwrap_or_default(),
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

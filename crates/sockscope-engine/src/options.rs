use sockscope_proto::SessionId;
use std::time::Duration;

/// Limits of one connection. Every limit has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// TCP connect + TLS + HTTP upgrade, all together.
    pub handshake_timeout: Duration,
    /// Largest message accepted from the peer (bytes).
    pub max_message_size: usize,
    /// Largest single frame accepted from the peer (bytes).
    pub max_frame_size: usize,
    /// How long to wait for the peer's Close after sending ours.
    pub close_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// How to open a client connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub url: String,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    /// Add the connection to this session; `None` makes a new client session.
    pub session: Option<SessionId>,
    pub limits: Limits,
    /// Deliver [`crate::ConnEvent`]s on the handle (the caller must read them).
    pub events: bool,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            ..ConnectOptions::default()
        }
    }
}

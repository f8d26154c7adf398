use sockscope_proto::ConnectionId;

/// Everything the engine reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    #[error("connection {0} is not running")]
    NotConnected(ConnectionId),
    #[error("no workbench connection {0}")]
    NoLink(u64),
    #[error("connection {0} is not open")]
    NotOpen(ConnectionId),
    #[error("send failed: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] sockscope_store::StoreError),
    /// A TLS option could not be used (unreadable CA/certificate/key file, bad PKCS#12…).
    #[error("{0}")]
    Tls(String),
    /// A template or watched file problem.
    #[error("{0}")]
    File(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A replay or mock option out of range (speed, timeout, listen address…).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A replay could not be prepared or did not finish (the message says why).
    #[error("replay: {0}")]
    Replay(String),
    /// The mock server could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

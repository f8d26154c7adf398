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
    #[error("connection {0} is not open")]
    NotOpen(ConnectionId),
    #[error("send failed: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] sockscope_store::StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

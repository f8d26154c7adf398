use std::path::PathBuf;

/// Everything the capture proxy reports.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid upstream {url:?}: {reason}")]
    InvalidUpstream { url: String, reason: String },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("local CA: {0}")]
    Ca(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("connection {0} is not live")]
    NotLive(i64),
    #[error("{0}")]
    Rule(String),
    #[error("message {0} is not held (already forwarded, dropped or timed out)")]
    NotHeld(u64),
    #[error(transparent)]
    Store(#[from] sockscope_store::StoreError),
}

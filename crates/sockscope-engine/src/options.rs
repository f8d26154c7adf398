use serde::Serialize;
use sockscope_proto::SessionId;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Limits of one connection. Every limit has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// TCP connect + TLS + HTTP upgrade, all together.
    #[serde(serialize_with = "ser_ms")]
    pub handshake_timeout: Duration,
    /// Largest message accepted from the peer (bytes).
    pub max_message_size: usize,
    /// Largest single frame accepted from the peer (bytes).
    pub max_frame_size: usize,
    /// How long to wait for the peer's Close after sending ours.
    #[serde(serialize_with = "ser_ms")]
    pub close_timeout: Duration,
    /// A write to the peer that makes no progress this long (the peer stopped reading) closes
    /// the connection, reason "peer stopped reading (write timeout)". `None`: never.
    #[serde(serialize_with = "ser_opt_ms")]
    pub write_timeout: Option<Duration>,
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            close_timeout: Duration::from_secs(5),
            write_timeout: Some(crate::stall::DEFAULT_WRITE_TIMEOUT),
        }
    }
}

/// TLS choices of a `wss://` connection. System roots are always trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trusted root certificate(s), PEM.
    pub ca_file: Option<PathBuf>,
    /// A client certificate.
    pub client_cert: Option<ClientCert>,
    /// "Do not verify": any server certificate and host name is accepted (handshake
    /// signatures are still checked). Recorded on the connection and its session.
    pub insecure: bool,
}

/// A client certificate for TLS client authentication.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCert {
    /// PEM certificate chain and PEM private key (PKCS#8, PKCS#1 or SEC1).
    Pem { cert: PathBuf, key: PathBuf },
    /// A PKCS#12 (.p12 / .pfx) file and its password.
    Pkcs12 { file: PathBuf, password: String },
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCert::Pem { cert, key } => f
                .debug_struct("Pem")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            // The password is never printed.
            ClientCert::Pkcs12 { file, .. } => {
                f.debug_struct("Pkcs12").field("file", file).finish()
            }
        }
    }
}

/// Authorization header helpers.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)`
    Basic { username: String, password: String },
    /// `Authorization: Bearer TOKEN`
    Bearer { token: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Auth {
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic { .. } => "basic",
            Auth::Bearer { .. } => "bearer",
        }
    }
}

/// Counters of one connection (or of a link across its attempts), readable while it runs.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Round trip of the last keep-alive ping in µs; 0 = none measured yet.
    pub rtt_us: AtomicU64,
}

impl ConnStats {
    pub(crate) fn sent(&self, len: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, len: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// The last ping round trip, if one was measured.
    pub fn rtt(&self) -> Option<Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// Shortest keep-alive interval accepted.
pub const MIN_PING_INTERVAL: Duration = Duration::from_millis(100);

/// How to open a client connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub url: String,
    /// Query parameters appended to the URL (percent-encoded), in order.
    pub query: Vec<(String, String)>,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    /// `Origin` header.
    pub origin: Option<String>,
    pub auth: Auth,
    pub tls: TlsOptions,
    /// Add the connection to this session; `None` makes a new client session.
    pub session: Option<SessionId>,
    pub limits: Limits,
    /// Keep-alive: a ping every interval; the pong's round trip goes to `stats`.
    pub ping_interval: Option<Duration>,
    /// Counters to update (shared by a link's attempts); `None` = private ones.
    pub stats: Option<Arc<ConnStats>>,
    /// Deliver [`crate::ConnEvent`]s on the handle (the caller must read them).
    pub events: bool,
    /// Which reconnect attempt this is (0 = first), recorded with the options.
    pub attempt: u32,
    /// Auto-reconnect policy of a link ([`crate::Engine::open_link`]); recorded here,
    /// `Engine::connect` itself never reconnects.
    pub reconnect: Option<crate::ReconnectPolicy>,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            ..ConnectOptions::default()
        }
    }

    /// The options as recorded with the connection: no passwords, tokens or header values.
    pub(crate) fn record(&self, reconnect: Option<&serde_json::Value>) -> serde_json::Value {
        let (client_cert, pkcs12_file) = match &self.tls.client_cert {
            Some(ClientCert::Pem { cert, .. }) => (Some(cert.display().to_string()), None),
            Some(ClientCert::Pkcs12 { file, .. }) => (None, Some(file.display().to_string())),
            None => (None, None),
        };
        serde_json::json!({
            "subprotocols": self.subprotocols,
            "origin": self.origin,
            "auth": self.auth.kind(),
            "ca_file": self.tls.ca_file.as_ref().map(|p| p.display().to_string()),
            "client_cert": client_cert,
            "pkcs12_file": pkcs12_file,
            "insecure": self.tls.insecure,
            "limits": {
                "max_message_size": self.limits.max_message_size,
                "max_frame_size": self.limits.max_frame_size,
                "handshake_timeout_ms": u64::try_from(self.limits.handshake_timeout.as_millis()).unwrap_or(u64::MAX),
            },
            "reconnect": reconnect,
            "ping_interval_ms": self.ping_interval.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "attempt": self.attempt,
        })
    }
}

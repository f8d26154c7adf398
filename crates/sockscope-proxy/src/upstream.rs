//! Where a proxied connection goes, and how to get there (TCP, then TLS for wss/https).

use crate::ProxyError;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream to a client or an upstream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// An upstream server: `ws[s]://host[:port][/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix from the upstream URL, without a trailing slash ("" for none).
    pub base: String,
}

impl Target {
    /// Parses `ws://`, `wss://`, `http://` or `https://` URLs.
    pub fn parse(url: &str) -> Result<Target, ProxyError> {
        let bad = |reason: &str| ProxyError::InvalidUpstream {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return Err(bad("the scheme must be ws, wss, http or https")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })
            .ok_or_else(|| bad("bad host or port"))?;
        let path = path.split(['?', '#']).next().unwrap_or("");
        Ok(Target {
            tls,
            host,
            port,
            base: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The `Host` header value for this target.
    pub fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The request target sent upstream for a client's path and query.
    pub fn request_target(&self, client_target: &str) -> String {
        let p = if client_target.starts_with('/') {
            client_target.to_owned()
        } else {
            format!("/{client_target}")
        };
        format!("{}{}", self.base, p)
    }

    /// The URL recorded for a WebSocket connection to `request_target`.
    pub fn ws_url(&self, request_target: &str) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "wss" } else { "ws" },
            self.host_header(),
            request_target
        )
    }
}

/// Splits `host[:port]` / `[v6][:port]`.
pub fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some((host, port))
}

/// Opens TCP (and TLS when the target asks for it) within `timeout`.
pub async fn connect(
    target: &Target,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<BoxIo, ProxyError> {
    let fut = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| ProxyError::Upstream(format!("{}:{}: {e}", target.host, target.port)))?;
        let _ = tcp.set_nodelay(true);
        if !target.tls {
            return Ok(Box::new(tcp) as BoxIo);
        }
        let name = crate::tls::server_name(&target.host)?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ProxyError::Upstream(format!("TLS with {}: {e}", target.host)))?;
        Ok(Box::new(stream) as BoxIo)
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        ProxyError::Upstream(format!(
            "{}:{} did not answer in {} s",
            target.host,
            target.port,
            timeout.as_secs()
        ))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let t = Target::parse("wss://Example.com/base/?q=1").expect("parse");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.base.as_str()),
            (true, "Example.com", 443, "/base")
        );
        assert_eq!(t.request_target("/chat?x=1"), "/base/chat?x=1");
        assert_eq!(t.host_header(), "Example.com");
        let t = Target::parse("ws://127.0.0.1:9000").expect("parse");
        assert_eq!(t.request_target("/"), "/");
        assert_eq!(t.ws_url("/a?b"), "ws://127.0.0.1:9000/a?b");
        let t = Target::parse("ws://[::1]:81/").expect("v6");
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header()),
            ("::1", 81, "[::1]:81".to_owned())
        );
        for bad in ["ftp://x", "ws://", "ws://h:0", "ws://u:p@h/", "nothing"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}

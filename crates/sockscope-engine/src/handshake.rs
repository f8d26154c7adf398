//! The client's opening handshake, done here rather than by tungstenite so that every byte is
//! known and recorded: the request line and headers as sent, the response status line,
//! headers and (for a refusal) a bounded body, the time to open, and the
//! `Sec-WebSocket-Key` → `Sec-WebSocket-Accept` check. A server that picks no subprotocol
//! when some were offered is accepted (as browsers do) and recorded as "none negotiated".

use crate::options::{Auth, ConnectOptions};
use crate::{tls, EngineError};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The GUID of RFC 6455 §1.3.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Largest refusal body kept.
pub const MAX_BODY: usize = 64 << 10;

pub type Ws =
    WebSocketStream<crate::fair::Fair<crate::stall::WriteStall<MaybeTlsStream<TcpStream>>>>;

/// Everything needed to open the connection, checked before anything is sent.
#[derive(Clone)]
pub(crate) struct Prepared {
    /// The URL with the query rows applied.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub key: String,
    pub subprotocols: Vec<String>,
}

/// What the handshake recorded beyond the connection row (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRecord {
    pub request_line: String,
    pub response_reason: Option<String>,
    pub response_body: Option<String>,
    pub response_body_truncated: bool,
    pub subprotocols_offered: Vec<String>,
    pub extensions: Option<String>,
    pub time_to_open_us: Option<u64>,
}

/// The `Sec-WebSocket-Accept` derivation, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptCheck {
    pub key: String,
    pub guid: &'static str,
    pub concatenated: String,
    pub sha1_hex: String,
    pub expected: String,
    pub received: Option<String>,
    pub ok: bool,
}

/// SHA-1 of key + GUID, base64: what the server must answer.
pub fn accept_check(key: &str, received: Option<&str>) -> AcceptCheck {
    let concatenated = format!("{key}{WS_GUID}");
    let digest = Sha1::digest(concatenated.as_bytes());
    let sha1_hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    let expected = base64::engine::general_purpose::STANDARD.encode(digest);
    let received = received.map(|r| r.trim().to_owned());
    AcceptCheck {
        ok: received.as_deref() == Some(expected.as_str()),
        key: key.to_owned(),
        guid: WS_GUID,
        concatenated,
        sha1_hex,
        expected,
        received,
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> EngineError {
    EngineError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL with query parameters appended.
pub fn url_with_query(url: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (k, v) in query {
        out.push_str(sep);
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
        sep = "&";
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn check_header(name: &str, value: &str) -> Result<(), EngineError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| EngineError::InvalidHeader(name.to_owned()))?;
    HeaderValue::from_str(value)
        .map_err(|_| EngineError::InvalidHeader(format!("{name}: {value}")))?;
    Ok(())
}

/// Sets `name` (replacing any header of that name, case-insensitively) or appends it.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    if let Some(i) = headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        headers[i].1 = value;
        headers.retain({
            let mut seen = false;
            move |(n, _)| {
                if n.eq_ignore_ascii_case(name) {
                    let keep = !seen;
                    seen = true;
                    keep
                } else {
                    true
                }
            }
        });
    } else {
        headers.push((name.to_owned(), value));
    }
}

/// Checks the options and builds the request.
pub(crate) fn prepare(opts: &ConnectOptions) -> Result<Prepared, EngineError> {
    let url = url_with_query(opts.url.trim(), &opts.query);
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| invalid(&url, "the URL must start with ws:// or wss://"))?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "ws" => false,
        "wss" => true,
        _ => return Err(invalid(&url, "the URL must start with ws:// or wss://")),
    };
    let without_fragment = url.split('#').next().unwrap_or(&url);
    let uri: Uri = without_fragment.parse().map_err(
        |e: tokio_tungstenite::tungstenite::http::uri::InvalidUri| invalid(&url, e.to_string()),
    )?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid(&url, "no host"))?
        .to_owned();
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid(
            &url,
            "user info in the URL is not sent; use the Basic auth helper",
        ));
    }
    let default_port = if secure { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    let host_header = if port == default_port {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let mut key_bytes = [0u8; 16];
    rand::fill(&mut key_bytes);
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), host_header),
        ("Upgrade".into(), "websocket".into()),
        ("Connection".into(), "Upgrade".into()),
        ("Sec-WebSocket-Key".into(), key),
        ("Sec-WebSocket-Version".into(), "13".into()),
    ];
    let subprotocols: Vec<String> = opts
        .subprotocols
        .iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !subprotocols.is_empty() {
        headers.push(("Sec-WebSocket-Protocol".into(), subprotocols.join(", ")));
    }
    if let Some(origin) = opts.origin.as_ref().filter(|o| !o.trim().is_empty()) {
        headers.push(("Origin".into(), origin.trim().to_owned()));
    }
    match &opts.auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            let v =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            headers.push(("Authorization".into(), format!("Basic {v}")));
        }
        Auth::Bearer { token } => {
            headers.push(("Authorization".into(), format!("Bearer {}", token.trim())));
        }
    }
    for (name, value) in &opts.headers {
        let name = name.trim();
        check_header(name, value)?;
        set_header(&mut headers, name, value.clone());
    }
    for (n, v) in &headers {
        check_header(n, v)?;
    }
    let key = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let tls = if secure {
        tls::server_name(&host)?;
        Some(tls::client_config(&opts.tls)?)
    } else {
        None
    };
    Ok(Prepared {
        request_line: format!("GET {path} HTTP/1.1"),
        url,
        host,
        port,
        tls,
        headers,
        key,
        subprotocols,
    })
}

/// A handshake that did not end in an open WebSocket.
pub(crate) struct Failure {
    pub error: String,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub record: HandshakeRecord,
}

pub(crate) struct Opened {
    pub ws: Ws,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    pub record: HandshakeRecord,
}

/// Connects, upgrades and checks the answer. The caller bounds the time.
/// `write_timeout`: once open, a write that makes no progress this long fails
/// ([`crate::stall`]).
pub(crate) async fn open(
    p: &Prepared,
    config: WebSocketConfig,
    write_timeout: Option<std::time::Duration>,
) -> Result<Opened, Failure> {
    let started = Instant::now();
    let mut record = HandshakeRecord {
        request_line: p.request_line.clone(),
        subprotocols_offered: p.subprotocols.clone(),
        ..HandshakeRecord::default()
    };
    let fail = |error: String, record: &HandshakeRecord| Failure {
        error,
        status: None,
        headers: Vec::new(),
        record: record.clone(),
    };
    let host = p
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&p.host);
    let tcp = match TcpStream::connect((host, p.port)).await {
        Ok(s) => s,
        Err(e) => {
            let msg = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                _ => format!("cannot connect to {}:{}: {e}", p.host, p.port),
            };
            return Err(fail(msg, &record));
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut stream = match &p.tls {
        None => MaybeTlsStream::Plain(tcp),
        Some(config) => {
            let name = match tls::server_name(&p.host) {
                Ok(n) => n,
                Err(e) => return Err(fail(e.to_string(), &record)),
            };
            match tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name, tcp)
                .await
            {
                Ok(s) => MaybeTlsStream::Rustls(s),
                Err(e) => return Err(fail(tls::describe_tls_error(&e), &record)),
            }
        }
    };
    let mut head = format!("{}\r\n", p.request_line);
    for (n, v) in &p.headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    if let Err(e) = stream.write_all(head.as_bytes()).await {
        return Err(fail(format!("sending the request failed: {e}"), &record));
    }
    let _ = stream.flush().await;

    // Read the response head.
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(fail(
                format!("the response head is larger than {MAX_HEAD} bytes"),
                &record,
            ));
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return Err(fail(
                    if buf.is_empty() {
                        "the server closed the connection without answering".into()
                    } else {
                        "the server closed the connection in the middle of its answer".into()
                    },
                    &record,
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                let msg = if p.tls.is_some() {
                    tls::describe_tls_error(&e)
                } else {
                    format!("reading the response failed: {e}")
                };
                return Err(fail(msg, &record));
            }
        }
    };
    let mut parsed_headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut parsed_headers);
    let (status, reason, headers) = match resp.parse(&buf[..head_end]) {
        Ok(httparse::Status::Complete(_)) => {
            let status = resp.code.unwrap_or(0);
            let reason = resp.reason.unwrap_or("").to_owned();
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            (status, reason, headers)
        }
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(fail(
                "the server's answer is not valid HTTP".into(),
                &record,
            ));
        }
    };
    record.response_reason = Some(reason.clone());
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = buf[head_end..].to_vec();
    if status != 101 {
        let (body, truncated) = read_body(&mut stream, rest, &headers).await;
        record.response_body = Some(String::from_utf8_lossy(&body).into_owned());
        record.response_body_truncated = truncated;
        return Err(Failure {
            error: format!(
                "server answered HTTP {status} {reason} instead of 101 Switching Protocols"
            )
            .trim_end()
            .replace("  ", " "),
            status: Some(status),
            headers,
            record,
        });
    }
    let refuse = |error: String, record: HandshakeRecord| Failure {
        error,
        status: Some(status),
        headers: headers.clone(),
        record,
    };
    if !header("upgrade").is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket")) {
        return Err(refuse(
            "the 101 answer lacks \"Upgrade: websocket\"".into(),
            record,
        ));
    }
    if !header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    }) {
        return Err(refuse(
            "the 101 answer lacks \"Connection: Upgrade\"".into(),
            record,
        ));
    }
    let check = accept_check(&p.key, header("sec-websocket-accept"));
    if !check.ok {
        return Err(refuse(
            format!(
                "Sec-WebSocket-Accept is {:?}, expected {:?} (base64 of SHA-1 of the key + {WS_GUID})",
                check.received.as_deref().unwrap_or(""),
                check.expected
            ),
            record,
        ));
    }
    let subprotocol = header("sec-websocket-protocol")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(chosen) = &subprotocol {
        if !p.subprotocols.iter().any(|o| o == chosen) {
            return Err(refuse(
                format!("the server chose subprotocol {chosen:?}, which was not offered"),
                record,
            ));
        }
    }
    let extensions = header("sec-websocket-extensions")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    record.extensions = extensions.clone();
    if let Some(ext) = extensions {
        return Err(refuse(
            format!("the server enabled extension(s) {ext:?}, which were not offered"),
            record,
        ));
    }
    record.time_to_open_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    let ws = WebSocketStream::from_partially_read(
        crate::fair::Fair::new(crate::stall::WriteStall::new(stream, write_timeout)),
        rest,
        Role::Client,
        Some(config),
    )
    .await;
    Ok(Opened {
        ws,
        status,
        headers,
        subprotocol,
        record,
    })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads a refusal's body: by Content-Length, else until the server closes; at most
/// [`MAX_BODY`] bytes and 2 s. Chunked bodies are decoded.
async fn read_body(
    stream: &mut MaybeTlsStream<TcpStream>,
    mut body: Vec<u8>,
    headers: &[(String, String)],
) -> (Vec<u8>, bool) {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let want = length.unwrap_or(usize::MAX).min(MAX_BODY + 1);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut chunk = [0u8; 4096];
    while body.len() < want && !(chunked && body.windows(5).any(|w| w == b"0\r\n\r\n")) {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    let truncated = body.len() > MAX_BODY || length.is_some_and(|l| l > MAX_BODY);
    body.truncate(MAX_BODY);
    (body, truncated)
}

/// Decodes a chunked body as far as it is complete.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if take < size || raw.len() < size + 2 {
            break;
        }
        raw = &raw[size + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_of_rfc_example() {
        // RFC 6455 §1.3.
        let c = accept_check(
            "dGhlIHNhbXBsZSBub25jZQ==",
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        assert!(c.ok);
        assert_eq!(c.expected, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(c.sha1_hex, "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
        assert!(!accept_check("dGhlIHNhbXBsZSBub25jZQ==", Some("x")).ok);
        assert!(!accept_check("dGhlIHNhbXBsZSBub25jZQ==", None).ok);
    }

    #[test]
    fn query_rows_are_encoded_and_appended() {
        let q = vec![
            ("a b".to_owned(), "1&2".to_owned()),
            ("c".into(), "é".into()),
        ];
        assert_eq!(
            url_with_query("ws://h/p", &q),
            "ws://h/p?a%20b=1%262&c=%C3%A9"
        );
        assert_eq!(
            url_with_query("ws://h/p?x=1#f", &q[1..]),
            "ws://h/p?x=1&c=%C3%A9#f"
        );
    }

    #[test]
    fn request_has_key_auth_origin_and_overrides() {
        let opts = ConnectOptions {
            url: "ws://127.0.0.1:9/chat".into(),
            headers: vec![
                ("X-A".into(), "1".into()),
                ("host".into(), "example".into()),
            ],
            subprotocols: vec!["v1".into(), " v2 ".into()],
            origin: Some("http://o".into()),
            auth: Auth::Basic {
                username: "u".into(),
                password: "p".into(),
            },
            ..ConnectOptions::default()
        };
        let p = prepare(&opts).expect("prepare");
        assert_eq!(p.request_line, "GET /chat HTTP/1.1");
        let h = |n: &str| {
            p.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(h("host"), ["example"]);
        assert_eq!(h("sec-websocket-protocol"), ["v1, v2"]);
        assert_eq!(h("origin"), ["http://o"]);
        assert_eq!(h("authorization"), ["Basic dTpw"]);
        assert_eq!(h("x-a"), ["1"]);
        assert_eq!(h("sec-websocket-key")[0].len(), 24);
        assert!(prepare(&ConnectOptions::new("http://h/")).is_err());
        assert!(prepare(&ConnectOptions::new("ws://u:p@h/")).is_err());
        let bad = ConnectOptions {
            headers: vec![("X".into(), "a\nb".into())],
            ..ConnectOptions::new("ws://h/")
        };
        assert!(matches!(prepare(&bad), Err(EngineError::InvalidHeader(_))));
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(dechunk(b"5\r\nhel"), b"hel");
    }
}

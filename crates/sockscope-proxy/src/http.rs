//! Just enough HTTP/1.1 for a WebSocket proxy: read a request or response head (bounded in
//! size and time), keep what followed it, and write heads back out.

use crate::ProxyError;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest head accepted (request line + headers).
pub const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 128;

/// Header names and raw values, in order, as received.
pub type RawHeaders = Vec<(String, Vec<u8>)>;

#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub headers: RawHeaders,
}

#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub headers: RawHeaders,
    /// The head exactly as received (forwarded unchanged).
    pub raw: Vec<u8>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// `Upgrade: websocket` with `Connection: upgrade`.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
            && self.header("connection").is_some_and(|c| {
                c.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
    }
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

pub fn header<'a>(headers: &'a RawHeaders, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// Header pairs as text, for the store.
pub fn text_headers(headers: &RawHeaders) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

async fn read_until_head<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<usize>, ProxyError> {
    let mut searched = 0;
    loop {
        if let Some(i) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(searched + i + 4));
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() >= MAX_HEAD {
            return Err(ProxyError::BadRequest(format!(
                "header block larger than {MAX_HEAD} bytes"
            )));
        }
        buf.reserve(4096);
        let n = r.read_buf(buf).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ProxyError::BadRequest(
                    "connection closed inside the header block".into(),
                ))
            };
        }
    }
}

fn collect(headers: &[httparse::Header<'_>]) -> RawHeaders {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

/// Reads a request head; bytes after it stay in `buf`. `None` on a clean EOF before any byte.
pub async fn read_request<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<RequestHead>, ProxyError> {
    let Some(end) = read_until_head(r, buf).await? else {
        return Ok(None);
    };
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match req.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ProxyError::BadRequest("incomplete request head".into()))
        }
        Err(e) => return Err(ProxyError::BadRequest(e.to_string())),
    }
    let head = RequestHead {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        headers: collect(req.headers),
    };
    let _ = buf.split_to(end);
    Ok(Some(head))
}

/// Reads a response head; bytes after it (early frames) stay in `buf`.
pub async fn read_response<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> Result<ResponseHead, ProxyError> {
    let Some(end) = read_until_head(r, buf)
        .await
        .map_err(|e| ProxyError::Upstream(e.to_string()))?
    else {
        return Err(ProxyError::Upstream("closed before answering".into()));
    };
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ProxyError::Upstream("incomplete response head".into()))
        }
        Err(e) => return Err(ProxyError::Upstream(format!("bad response: {e}"))),
    }
    let head = ResponseHead {
        status: resp.code.unwrap_or(0),
        reason: resp.reason.unwrap_or("").to_owned(),
        headers: collect(resp.headers),
        raw: buf[..end].to_vec(),
    };
    let _ = buf.split_to(end);
    Ok(head)
}

/// Serialises a request head with the given target and headers.
pub fn encode_request(method: &str, target: &str, headers: &RawHeaders) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A short error response that never echoes the request.
pub async fn respond_error<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    reason: &str,
    body: &str,
) {
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = w.write_all(msg.as_bytes()).await;
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_bytes_after_the_head() {
        let data =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi".to_vec();
        let mut r = &data[..];
        let mut buf = BytesMut::new();
        let head = read_response(&mut r, &mut buf).await.expect("head");
        assert_eq!(head.status, 101);
        assert_eq!(head.header("UPGRADE"), Some("websocket"));
        assert_eq!(&buf[..], b"\x81\x02hi");
    }

    #[tokio::test]
    async fn refuses_an_endless_head() {
        let data = vec![b'a'; MAX_HEAD + 10];
        let mut r = &data[..];
        let mut buf = BytesMut::new();
        assert!(read_request(&mut r, &mut buf).await.is_err());
    }

    #[tokio::test]
    async fn detects_upgrades() {
        let data = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n".to_vec();
        let mut r = &data[..];
        let mut buf = BytesMut::new();
        let head = read_request(&mut r, &mut buf)
            .await
            .expect("io")
            .expect("head");
        assert!(head.is_websocket_upgrade());
        assert_eq!(head.target, "/chat?x=1");
    }
}

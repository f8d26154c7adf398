//! Dev-only peers for Sockscope's tests. Everything listens on 127.0.0.1, port 0, and stops
//! when its handle is dropped.
//!
//! [`EchoServer`] echoes text and binary messages back. It also understands one command, so
//! tests can make the *server* end a connection: a text message `!close CODE REASON` makes it
//! send a Close frame with that code and reason (the command itself is not echoed).

pub mod hostile;

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// The text command that makes the echo server close: `!close 4001 reason words`.
pub const CLOSE_COMMAND: &str = "!close ";

/// A WebSocket echo server on 127.0.0.1 (port 0). Stops when dropped.
pub struct EchoServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Binds 127.0.0.1:0 and starts accepting. Must be called inside a tokio runtime.
    pub async fn start() -> std::io::Result<EchoServer> {
        Self::bind("127.0.0.1:0").await
    }

    pub async fn bind(addr: &str) -> std::io::Result<EchoServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, stop_rx));
        Ok(EchoServer {
            addr,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Waits until the accept loop and every connection have stopped.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { conns.spawn(echo(stream, stop.clone())); }
                Err(_) => continue,
            },
        }
    }
    // Give open connections a moment to send their Close frames, then stop the rest.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.shutdown().await;
}

/// Parses `!close CODE REASON` (reason may be empty).
pub fn parse_close_command(text: &str) -> Option<(u16, String)> {
    let rest = text.strip_prefix(CLOSE_COMMAND)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((code.trim().parse().ok()?, reason.to_owned()))
}

/// Accepts the first subprotocol the client offers, as most real servers do.
#[allow(clippy::result_large_err)]
fn choose_subprotocol(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let first = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .and_then(|p| HeaderValue::from_str(p).ok());
    if let Some(p) = first {
        resp.headers_mut().insert("sec-websocket-protocol", p);
    }
    Ok(resp)
}

async fn echo(stream: TcpStream, mut stop: watch::Receiver<bool>) {
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, choose_subprotocol).await else {
        return;
    };
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "server stopping".into() })).await;
                return;
            }
            msg = ws.next() => msg,
        };
        let reply = match msg {
            Some(Ok(Message::Text(t))) => match parse_close_command(t.as_str()) {
                Some((code, reason)) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    if ws.close(Some(frame)).await.is_err() {
                        return;
                    }
                    continue;
                }
                None => Message::Text(t),
            },
            Some(Ok(Message::Binary(b))) => Message::Binary(b),
            // Pings are answered by tungstenite itself; closes complete on the next read.
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_command_parses() {
        assert_eq!(
            parse_close_command("!close 4001 bye now"),
            Some((4001, "bye now".into()))
        );
        assert_eq!(
            parse_close_command("!close 1000"),
            Some((1000, String::new()))
        );
        assert_eq!(parse_close_command("!close x"), None);
        assert_eq!(parse_close_command("hello"), None);
    }
}

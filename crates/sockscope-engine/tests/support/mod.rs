//! Shared by the replay and mock tests: recordings written straight into a real SQLite store
//! (so their schedule is exact), and an in-process WebSocket server on 127.0.0.1 that logs
//! when each message arrived and when each reply left.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use sockscope_proto::{now_us, ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnectionEvent, Headers, NewConnection, SessionKind, Store};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("store");
    (dir, store)
}

/// One recorded frame: direction, time from the open (ms), opcode, payload, FIN.
pub struct Rec {
    pub dir: Direction,
    pub at_ms: i64,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
    pub fin: bool,
}

pub fn text(dir: Direction, at_ms: i64, t: &str) -> Rec {
    Rec {
        dir,
        at_ms,
        opcode: Opcode::Text,
        payload: t.as_bytes().to_vec(),
        fin: true,
    }
}

pub fn frame(dir: Direction, at_ms: i64, opcode: Opcode, payload: &[u8], fin: bool) -> Rec {
    Rec {
        dir,
        at_ms,
        opcode,
        payload: payload.to_vec(),
        fin,
    }
}

pub fn close(dir: Direction, at_ms: i64, code: u16, reason: &str) -> Rec {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    Rec {
        dir,
        at_ms,
        opcode: Opcode::Close,
        payload: p,
        fin: true,
    }
}

/// Writes a recorded client connection (a `client` session) with these frames.
pub async fn recording(
    store: &Store,
    url: &str,
    request_headers: &[(&str, &str)],
    subprotocol: Option<&str>,
    frames: &[Rec],
) -> (SessionId, ConnectionId) {
    let base = now_us() - 60_000_000;
    let session = store
        .create_session("recorded", SessionKind::Client)
        .await
        .expect("session");
    let headers: Headers = request_headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let conn = store
        .create_connection(NewConnection {
            session,
            url: url.to_owned(),
            request_headers: headers.clone(),
            insecure: false,
            created_at_us: base - 2_000,
        })
        .await
        .expect("connection");
    store
        .update_connection(ConnectionEvent::Opened {
            id: conn,
            at_us: base,
            request_headers: headers,
            response_status: 101,
            response_headers: Vec::new(),
            subprotocol: subprotocol.map(str::to_owned),
        })
        .await
        .expect("opened");
    let mut last = base;
    for f in frames {
        let ts = base + f.at_ms * 1000;
        last = last.max(ts);
        let mut rec = FrameRecord::message(
            session,
            conn,
            f.dir,
            f.opcode,
            bytes::Bytes::from(f.payload.clone()),
            ts,
        );
        rec.fin = f.fin;
        store.record_frame(rec).await.expect("frame");
    }
    store
        .update_connection(ConnectionEvent::Closed {
            id: conn,
            at_us: last,
            code: Some(1000),
            reason: String::new(),
            by: ClosedBy::Client,
        })
        .await
        .expect("closed");
    store.flush().await.expect("flush");
    (session, conn)
}

// ---- an in-process server that logs ----

/// What a server connection saw.
#[derive(Debug, Clone)]
pub struct ConnLog {
    pub opened: Instant,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub received: Vec<(Instant, Message)>,
    pub sent: Vec<(Instant, Message)>,
    pub closed: Option<(Option<u16>, String)>,
}

/// What the server answers to the k-th data message (0-based): messages, each after `delay`.
pub type ReplyFn = Arc<dyn Fn(usize, &Message) -> Vec<Message> + Send + Sync>;

pub struct LogServer {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<ConnLog>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogServer {
    /// A server that never answers.
    pub async fn sink() -> LogServer {
        LogServer::start(Duration::ZERO, Arc::new(|_, _| Vec::new()), Vec::new()).await
    }

    /// `greeting` is sent on connect; each data message gets `reply(k, msg)` after `delay`
    /// (measured from its arrival; replies never overtake each other).
    pub async fn start(delay: Duration, reply: ReplyFn, greeting: Vec<Message>) -> LogServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log: Arc<Mutex<Vec<ConnLog>>> = Arc::default();
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(
                    stream,
                    log2.clone(),
                    delay,
                    reply.clone(),
                    greeting.clone(),
                ));
            }
        });
        LogServer { addr, log, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub fn conns(&self) -> Vec<ConnLog> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until connection `i` has closed, and returns its log.
    pub async fn closed_conn(&self, i: usize) -> ConnLog {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.conns().get(i) {
                if c.closed.is_some() {
                    return c.clone();
                }
            }
            assert!(Instant::now() < deadline, "connection {i} did not close");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Path and request headers seen by the handshake.
type Seen = Arc<Mutex<(String, Vec<(String, String)>)>>;

#[allow(clippy::result_large_err)]
fn accept_first_protocol(
    seen: Seen,
) -> impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> {
    move |req, mut resp| {
        let first = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|p| p.trim().to_owned());
        if let Some(p) = first.and_then(|p| HeaderValue::from_str(&p).ok()) {
            resp.headers_mut().insert("sec-websocket-protocol", p);
        }
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        *seen.lock().unwrap() = (req.uri().to_string(), headers);
        Ok(resp)
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    log: Arc<Mutex<Vec<ConnLog>>>,
    delay: Duration,
    reply: ReplyFn,
    greeting: Vec<Message>,
) {
    let seen = Arc::new(Mutex::new((String::new(), Vec::new())));
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async(stream, accept_first_protocol(seen.clone())).await
    else {
        return;
    };
    let (path, headers) = seen.lock().unwrap().clone();
    let index = {
        let mut l = log.lock().unwrap();
        l.push(ConnLog {
            opened: Instant::now(),
            path,
            headers,
            received: Vec::new(),
            sent: Vec::new(),
            closed: None,
        });
        l.len() - 1
    };
    let (mut tx, mut rx) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(Instant, Message)>();
    for g in greeting {
        let _ = out_tx.send((Instant::now(), g));
    }
    let wlog = log.clone();
    let writer = tokio::spawn(async move {
        while let Some((due, msg)) = out_rx.recv().await {
            tokio::time::sleep_until(due).await;
            let is_close = matches!(msg, Message::Close(_));
            if tx.send(msg.clone()).await.is_err() {
                return;
            }
            wlog.lock().unwrap()[index].sent.push((Instant::now(), msg));
            if is_close {
                return;
            }
        }
    });
    let mut k = 0;
    while let Some(Ok(msg)) = rx.next().await {
        let now = Instant::now();
        log.lock().unwrap()[index].received.push((now, msg.clone()));
        match &msg {
            Message::Text(_) | Message::Binary(_) => {
                for r in reply(k, &msg) {
                    let _ = out_tx.send((now + delay, r));
                }
                k += 1;
            }
            Message::Close(f) => {
                let info = f
                    .as_ref()
                    .map(|f| (Some(u16::from(f.code)), f.reason.as_str().to_owned()))
                    .unwrap_or((None, String::new()));
                log.lock().unwrap()[index].closed = Some(info);
            }
            _ => {}
        }
    }
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    let mut l = log.lock().unwrap();
    if l[index].closed.is_none() {
        l[index].closed = Some((None, "no close frame".into()));
    }
}

/// The text of a text message (panics otherwise).
pub fn text_of(m: &Message) -> String {
    match m {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("not a text message: {other:?}"),
    }
}

/// Data messages of a log, with their arrival times.
pub fn data(received: &[(Instant, Message)]) -> Vec<(Instant, Message)> {
    received
        .iter()
        .filter(|(_, m)| matches!(m, Message::Text(_) | Message::Binary(_)))
        .cloned()
        .collect()
}

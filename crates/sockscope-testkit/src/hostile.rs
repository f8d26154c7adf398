//! Hostile peers for robustness tests: a WebSocket server that misbehaves on purpose after
//! the handshake (chosen by the request path), and raw clients that misbehave before or after
//! it. Everything is raw bytes on 127.0.0.1, so no library "fixes" what is sent.
//!
//! Server paths (`ws://ADDR/PATH?query`):
//! * `/echo` — a well-behaved echo server (for the "other connection" of a test), whose
//!   limits are [`ECHO_MAX`] per frame and per message (so "max + 1" stays cheap);
//! * `/huge-length` — a binary frame header declaring 2^63−1 bytes, then 1 MiB of it;
//! * `/oversize-frame?n=N` — one binary frame of N bytes;
//! * `/fragments?count=N&size=S` — one binary message of N fragments of S bytes each;
//! * `/invalid-utf8` — a text frame that is not UTF-8;
//! * `/close-1byte` — a Close frame with a 1-byte payload;
//! * `/close-bad-code` — a Close frame with code 999;
//! * `/deflate-bomb?mib=M` — answers with permessage-deflate and sends one compressed text
//!   message that inflates to M MiB of `0` bytes (~6.5 KB of wire per MiB);
//! * `/stop-reading` — never reads again after the handshake (and sends nothing);
//! * `/stop-reading-alive?every=MS` — never reads again, but stays visibly alive: a small
//!   text message every MS ms (default 200), so no keep-alive or idle check ever fires (the
//!   case only a write timeout ends);
//! * `/silent` — reads and discards, never sends (a peer that hangs).
//!
//! After its script a hostile connection reads and discards until the peer goes away (at
//! most a minute), so the test sees how the other side ends the connection.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const HEAD_CAP: usize = 64 << 10;
/// The `/echo` path's largest frame and message (bytes).
pub const ECHO_MAX: usize = 1 << 20;
const LINGER: Duration = Duration::from_secs(60);

/// A WebSocket frame on the wire (masked when `mask` is given).
pub fn frame(fin: bool, rsv1: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, rsv1, opcode, mask, payload.len() as u64);
    match mask {
        Some(m) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

/// Only the header of a frame that declares `len` payload bytes (any value, even absurd).
pub fn frame_header(fin: bool, rsv1: bool, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(14);
    out.push(u8::from(fin) << 7 | u8::from(rsv1) << 6 | (opcode & 0x0f));
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
    out
}

/// A raw deflate stream (fixed Huffman codes, ending with a sync flush whose `00 00 ff ff`
/// is left out, as permessage-deflate sends it) that inflates to `len` zero bytes `b'0'`.
pub fn deflate_bomb(len: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u64, bits: u32) {
            let mut rev = 0;
            for i in 0..bits {
                rev |= ((code >> i) & 1) << (bits - 1 - i);
            }
            self.put(rev, bits);
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(0, 1); // BFINAL = 0
    b.put(1, 2); // fixed Huffman
    if len > 0 {
        b.code(0x30 + u64::from(b'0'), 8); // literal '0'
        let mut left = len - 1;
        while left >= 258 {
            b.code(0xC5, 8); // length 258 (symbol 285)
            b.code(0, 5); // distance 1
            left -= 258;
        }
        for _ in 0..left {
            b.code(0x30 + u64::from(b'0'), 8);
        }
    }
    b.code(0, 7); // end of block
                  // Sync flush: an empty stored block; its LEN/NLEN (00 00 ff ff) are stripped.
    b.put(0, 3);
    if b.n > 0 {
        b.put(0, 8 - b.n);
    }
    b.out
}

/// Bytes of a long hostile message written at a time (then the server task yields).
const SLICE_BYTES: usize = 64 << 10;

/// The hostile server. Stops accepting when dropped (running connections end on their own).
pub struct HostileServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HostileServer {
    pub async fn start() -> std::io::Result<HostileServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        Ok(HostileServer { addr, task })
    }

    /// Runs the server on a thread of its own (its own runtime), so that producing hostile
    /// traffic does not take CPU time from the runtime under test.
    pub fn start_in_thread() -> std::io::Result<HostileThread> {
        HostileServer::start_in_runtime(None)
    }

    /// [`HostileServer::start_in_thread`] with a multi-threaded runtime of `workers` threads,
    /// for a server that must keep answering one connection while many others arrive at
    /// once (its own thread and `workers` runtime threads).
    pub fn start_in_runtime(workers: Option<usize>) -> std::io::Result<HostileThread> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("hostile-server".into())
            .spawn(move || {
                let built = match workers {
                    None => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build(),
                    Some(n) => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(n.max(1))
                        .enable_all()
                        .build(),
                };
                let rt = match built {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match HostileServer::start().await {
                        Ok(server) => {
                            let _ = tx.send(Ok(server.addr()));
                            let _ = stop_rx.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let addr = rx
            .recv()
            .map_err(|_| std::io::Error::other("hostile server thread died"))??;
        Ok(HostileThread { addr, _stop: stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A [`HostileServer`] on its own thread; stops when dropped.
pub struct HostileThread {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HostileThread {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

/// Reads an HTTP head (up to `\r\n\r\n`, at most 64 KiB); returns it and any bytes after it.
pub async fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > HEAD_CAP {
            return None;
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn query_num(query: &str, key: &str, default: u64) -> u64 {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

async fn serve(mut stream: TcpStream) {
    let Some((head, _rest)) = read_head(&mut stream).await else {
        return;
    };
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let Some(key) = header(&head, "sec-websocket-key") else {
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let deflate = path == "/deflate-bomb";
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if deflate {
        resp.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    resp.push_str("\r\n");
    if stream.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let script: Vec<u8> = match path {
        "/echo" => {
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(Some(ECHO_MAX))
                .max_frame_size(Some(ECHO_MAX));
            let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Text(_) | Message::Binary(_)) && ws.send(m).await.is_err() {
                    return;
                }
            }
            return;
        }
        "/huge-length" => {
            if stream
                .write_all(&frame_header(true, false, 2, None, (1 << 63) - 1))
                .await
                .is_err()
            {
                return;
            }
            vec![0u8; 1 << 20]
        }
        "/oversize-frame" => frame(
            true,
            false,
            2,
            None,
            &vec![b'x'; query_num(query, "n", 1 << 20) as usize],
        ),
        "/fragments" => {
            let count = query_num(query, "count", 1000).max(1);
            let size = query_num(query, "size", 1) as usize;
            let payload = vec![b'f'; size];
            // Written in slices of 64 KiB, so a huge message is never built whole, yielding
            // after each: the same (single-threaded) server answers the other connection's
            // echoes, which must not wait for a whole message to be produced.
            let first = frame(count == 1, false, 2, None, &payload);
            let middle = frame(false, false, 0, None, &payload);
            let last = frame(true, false, 0, None, &payload);
            let mut batch = Vec::with_capacity(SLICE_BYTES + middle.len());
            for i in 0..count {
                let f = if i == 0 {
                    &first
                } else if i + 1 == count {
                    &last
                } else {
                    &middle
                };
                batch.extend_from_slice(f);
                if batch.len() >= SLICE_BYTES {
                    if stream.write_all(&batch).await.is_err() {
                        return;
                    }
                    batch.clear();
                    tokio::task::yield_now().await;
                }
            }
            batch
        }
        "/invalid-utf8" => frame(true, false, 1, None, b"caf\xc3\x28 \xff\xfe"),
        "/close-1byte" => frame(true, false, 8, None, b"\x03"),
        "/close-bad-code" => frame(true, false, 8, None, &[0x03, 0xe7, b'b', b'a', b'd']),
        "/deflate-bomb" => {
            let mib = query_num(query, "mib", 1024);
            frame(true, true, 1, None, &deflate_bomb(mib << 20))
        }
        "/stop-reading" => {
            // Hold the socket without reading: the peer's writes fill the buffers.
            tokio::time::sleep(LINGER).await;
            return;
        }
        "/stop-reading-alive" => {
            // Never read; keep talking. Ends when the peer goes away (a write fails) or after
            // LINGER.
            let every = Duration::from_millis(query_num(query, "every", 200).max(1));
            let _ = tokio::time::timeout(LINGER, async {
                let mut n = 0u64;
                loop {
                    n += 1;
                    let f = frame(true, false, 1, None, format!("alive {n}").as_bytes());
                    if stream.write_all(&f).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            })
            .await;
            return;
        }
        _ => Vec::new(), // "/silent" and anything else
    };
    if stream.write_all(&script).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = vec![0u8; 64 << 10];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A raw client: TCP to `addr`, an upgrade request for `path` (offering permessage-deflate
/// when asked), and the response head read. Returns the stream and the status line.
pub async fn raw_client(
    addr: SocketAddr,
    path: &str,
    offer_deflate: bool,
) -> std::io::Result<(TcpStream, String)> {
    let mut s = TcpStream::connect(addr).await?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if offer_deflate {
        req.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    let (head, _) = read_head(&mut s)
        .await
        .ok_or_else(|| std::io::Error::other("no response head"))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((s, status))
}

/// Slowloris: sends an upgrade request one byte every `interval`, for at most `budget`.
/// Returns how long until the server closed the connection (`None`: it never did).
pub async fn slowloris(addr: SocketAddr, interval: Duration, budget: Duration) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let mut sink = [0u8; 1024];
    for b in req.iter().cycle() {
        if start.elapsed() > budget {
            return None;
        }
        if s.write_all(&[*b]).await.is_err() {
            return Some(start.elapsed());
        }
        // Between bytes, notice the server hanging up.
        match tokio::time::timeout(interval, s.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {
                // An error response: wait for the close.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Ok(n) = s.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
                return Some(start.elapsed());
            }
            Err(_) => {}
        }
    }
    None
}

/// An upgrade request whose header block is `bytes` long; returns the response's status line
/// (empty when the server closed without one).
pub async fn huge_header_block(addr: SocketAddr, bytes: usize) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let mut req = String::from(
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    let mut i = 0;
    while req.len() < bytes {
        req.push_str(&format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)));
        i += 1;
    }
    req.push_str("\r\n");
    // The server may stop reading and answer early: a failed write is fine.
    let (mut r, mut w) = s.split();
    let write = async {
        let _ = w.write_all(req.as_bytes()).await;
    };
    let read = async {
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
            if head.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        head
    };
    // Whichever way the server answers, stop writing once it has.
    let head = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            head = read => head,
            head = async {
                write.await;
                std::future::pending::<Vec<u8>>().await
            } => head,
        }
    })
    .await
    .unwrap_or_default();
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

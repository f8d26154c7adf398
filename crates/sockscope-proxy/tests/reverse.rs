//! Reverse mode end to end on 127.0.0.1: a real client, the proxy, a real echo server, and a
//! real SQLite file. What each end receives is exactly what the other sent; the recording
//! holds every frame as it was on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use sockscope_proto::parser::{encode_frame, FrameParser};
use sockscope_proto::{Direction, Opcode};
use sockscope_proxy::{Proxy, ProxyConfig, Toward};
use sockscope_store::{ClosedBy, ConnState, Store};
use sockscope_testkit::EchoServer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

async fn setup() -> (EchoServer, tempfile::TempDir, Store, Proxy) {
    let echo = EchoServer::start().await.expect("echo");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("proxy.db")).expect("store");
    let proxy = Proxy::start(
        store.clone(),
        ProxyConfig {
            listen: "127.0.0.1:0".into(),
            upstream: Some(echo.url()),
            ..ProxyConfig::default()
        },
    )
    .await
    .expect("proxy");
    (echo, dir, store, proxy)
}

async fn next_message<S>(ws: &mut S) -> Message
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("message")
}

async fn wait_live(proxy: &Proxy) -> sockscope_proto::ConnectionId {
    for _ in 0..200 {
        if let Some(c) = proxy.live_connections().first() {
            return *c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no live connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_and_records_text_binary_ping_injection_and_close() {
    let (_echo, _dir, store, proxy) = setup().await;
    let url = format!("ws://{}/chat?room=1", proxy.local_addr());
    let (mut ws, resp) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    assert_eq!(resp.status().as_u16(), 101);

    ws.send(Message::Text("hello ✓".into()))
        .await
        .expect("send");
    assert_eq!(next_message(&mut ws).await, Message::Text("hello ✓".into()));
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 253) as u8).collect();
    ws.send(Message::Binary(Bytes::from(big.clone())))
        .await
        .expect("send big");
    assert_eq!(
        next_message(&mut ws).await,
        Message::Binary(Bytes::from(big.clone()))
    );
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    assert_eq!(
        next_message(&mut ws).await,
        Message::Pong(Bytes::from_static(b"are you there"))
    );

    let conn = wait_live(&proxy).await;
    proxy
        .inject(
            conn,
            Toward::Client,
            Opcode::Text,
            Bytes::from_static(b"to the client"),
        )
        .await
        .expect("inject to client");
    assert_eq!(
        next_message(&mut ws).await,
        Message::Text("to the client".into())
    );
    proxy
        .inject(
            conn,
            Toward::Server,
            Opcode::Text,
            Bytes::from_static(b"to the server"),
        )
        .await
        .expect("inject to server");
    // The echo server answers what it received: proof it arrived intact and well masked.
    assert_eq!(
        next_message(&mut ws).await,
        Message::Text("to the server".into())
    );
    ws.send(Message::Text("after".into())).await.expect("send");
    assert_eq!(next_message(&mut ws).await, Message::Text("after".into()));

    ws.close(Some(CloseFrame {
        code: CloseCode::Library(4001),
        reason: "done here".into(),
    }))
    .await
    .expect("close");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}

    // The relay records the end once both sides are gone.
    let mut info = store.connection(conn).expect("conn");
    for _ in 0..300 {
        if info.state == ConnState::Closed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        info = store.connection(conn).expect("conn");
    }
    store.flush().await.expect("flush");
    assert_eq!(info.state, ConnState::Closed);
    assert_eq!(
        (info.close_code, info.closed_by),
        (Some(4001), Some(ClosedBy::Client))
    );
    assert_eq!(info.close_reason.as_deref(), Some("done here"));
    assert_eq!(info.url, format!("{}chat?room=1", _echo.url()));
    assert_eq!(info.response_status, Some(101));
    assert!(info
        .request_headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key")));

    let frames = store.frames_after(proxy.session(), 0, 100).expect("frames");
    let shape: Vec<(Direction, Opcode, bool)> = frames
        .iter()
        .map(|f| (f.dir, f.opcode, f.injected))
        .collect();
    use Direction::{Client as C, Server as S};
    assert_eq!(
        shape,
        [
            (C, Opcode::Text, false),
            (S, Opcode::Text, false),
            (C, Opcode::Binary, false),
            (S, Opcode::Binary, false),
            (C, Opcode::Ping, false),
            (S, Opcode::Pong, false),
            (S, Opcode::Text, true),
            (C, Opcode::Text, true),
            (S, Opcode::Text, false),
            (C, Opcode::Text, false),
            (S, Opcode::Text, false),
            (C, Opcode::Close, false),
            (S, Opcode::Close, false),
        ]
    );
    assert!(
        frames.iter().all(|f| f.masked == (f.dir == C)),
        "client frames masked, server not"
    );
    assert!(frames.iter().all(|f| !f.invalid), "{frames:?}");
    let big_frame = store.frame(proxy.session(), frames[2].seq).expect("big");
    assert_eq!(big_frame.payload, big);
    assert_eq!(frames[0].preview, "hello ✓");
    assert_eq!(frames[11].close_code, Some(4001));
    proxy.stop().await;
}

/// A raw client: handshake by hand, then frames exactly as we choose.
async fn raw_client(addr: std::net::SocketAddr) -> (tokio::net::TcpStream, BytesMut) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    s.write_all(
        b"GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write");
    let mut buf = BytesMut::new();
    loop {
        s.read_buf(&mut buf).await.expect("read");
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(
                buf.starts_with(b"HTTP/1.1 101"),
                "{:?}",
                String::from_utf8_lossy(&buf)
            );
            let _ = buf.split_to(i + 4);
            return (s, buf);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_pass_as_sent_and_are_recorded_one_by_one() {
    let (_echo, _dir, store, proxy) = setup().await;
    let (mut s, mut buf) = raw_client(proxy.local_addr()).await;
    let m = Some([7, 7, 7, 7]);
    let mut wire = encode_frame(false, false, Opcode::Text, m, b"frag");
    wire.extend(encode_frame(true, false, Opcode::Ping, m, b"mid"));
    wire.extend(encode_frame(false, false, Opcode::Continuation, m, b"men"));
    wire.extend(encode_frame(true, false, Opcode::Continuation, m, b"ted"));
    s.write_all(&wire).await.expect("write");
    // The server reassembles and echoes one message; its pong answers our ping.
    let mut parser = FrameParser::new(1 << 20);
    let mut got = Vec::new();
    while got.len() < 2 {
        parser.feed(&buf, &mut got);
        buf.clear();
        if got.len() < 2 {
            tokio::time::timeout(WAIT, s.read_buf(&mut buf))
                .await
                .expect("in time")
                .expect("read");
        }
    }
    let echoed: Vec<_> = got
        .iter()
        .map(|f| (f.header.opcode, f.payload.clone()))
        .collect();
    assert!(echoed.contains(&(Opcode::Pong, Bytes::from_static(b"mid"))));
    assert!(echoed.contains(&(Opcode::Text, Bytes::from_static(b"fragmented"))));
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.flush().await.expect("flush");
    let frames = store.frames_after(proxy.session(), 0, 100).expect("frames");
    let client: Vec<(Opcode, bool, String)> = frames
        .iter()
        .filter(|f| f.dir == Direction::Client)
        .map(|f| (f.opcode, f.fin, f.preview.clone()))
        .collect();
    assert_eq!(
        client,
        [
            (Opcode::Text, false, "frag".to_owned()),
            (Opcode::Ping, true, "mid".to_owned()),
            (Opcode::Continuation, false, "men".to_owned()),
            (Opcode::Continuation, true, "ted".to_owned()),
        ]
    );
    let conn = frames[0].connection;
    let mut info = store.connection(conn).expect("conn");
    for _ in 0..300 {
        if info.state == ConnState::Closed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        info = store.connection(conn).expect("conn");
    }
    assert_eq!(
        info.closed_by,
        Some(ClosedBy::Error),
        "TCP dropped without a close frame"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_frames_are_relayed_and_flagged() {
    let (_echo, _dir, store, proxy) = setup().await;
    let (mut s, _buf) = raw_client(proxy.local_addr()).await;
    // Unmasked client frame with RSV2 set and a 1-byte close: the echo server will reject,
    // but the proxy must pass and record them as they were.
    let mut bad = encode_frame(true, false, Opcode::Text, None, b"naked");
    bad[0] |= 0x20;
    s.write_all(&bad).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.flush().await.expect("flush");
    let frames = store.frames_after(proxy.session(), 0, 100).expect("frames");
    let first = frames.first().expect("recorded");
    assert_eq!(
        (first.dir, first.opcode, first.preview.as_str()),
        (Direction::Client, Opcode::Text, "naked")
    );
    assert!(first.invalid);
    let note = first.note.clone().unwrap_or_default();
    assert!(note.contains("unmasked") && note.contains("RSV2"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_short_4xx_and_the_proxy_keeps_going() {
    let (_echo, _dir, _store, proxy) = setup().await;
    let mut s = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("tcp");
    s.write_all(b"NOT HTTP AT ALL <script>\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(!text.contains("<script>"), "input is never echoed");
    // Still serving.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.local_addr()))
        .await
        .expect("connect after a bad request");
    ws.send(Message::Text("ok".into())).await.expect("send");
    assert_eq!(next_message(&mut ws).await, Message::Text("ok".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_listener_closes_its_live_connections_in_the_record() {
    let (_echo, _dir, store, proxy) = setup().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.local_addr()))
        .await
        .expect("connect");
    ws.send(Message::Text("hi".into())).await.expect("send");
    assert_eq!(next_message(&mut ws).await, Message::Text("hi".into()));
    let conn = wait_live(&proxy).await;
    proxy.stop().await;
    store.flush().await.expect("flush");
    let info = store.connection(conn).expect("conn");
    assert_eq!(info.state, ConnState::Closed);
    assert_eq!(info.closed_by, Some(ClosedBy::Error));
    assert_eq!(
        info.close_reason.as_deref(),
        Some("the listener was stopped")
    );
    // The client sees its connection end.
    let end = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time");
    assert!(!matches!(end, Some(Ok(Message::Text(_)))), "{end:?}");
}

//! The engine against real sockets on 127.0.0.1 and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use bytes::Bytes;
use sockscope_engine::{ConnEvent, ConnectOptions, Engine, EngineError, Limits, Outgoing};
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{ClosedBy, ConnState, Store};
use sockscope_testkit::EchoServer;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

async fn next(events: &mut Receiver<ConnEvent>) -> ConnEvent {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("event stream ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("engine.db")).expect("store");
    (dir, Engine::new(store))
}

fn with_events(url: String) -> ConnectOptions {
    ConnectOptions {
        events: true,
        ..ConnectOptions::new(url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_binary_round_trip_are_recorded() {
    let server = EchoServer::start().await.expect("server");
    let (_dir, engine) = engine();
    let mut h = engine
        .connect(with_events(server.url()))
        .await
        .expect("connect");
    let mut ev = h.events.take().expect("events");
    assert!(matches!(
        next(&mut ev).await,
        ConnEvent::Open { status: 101, .. }
    ));

    engine
        .send(h.id, Outgoing::Text("héllo".into()))
        .await
        .expect("send text");
    assert_eq!(
        next(&mut ev).await,
        ConnEvent::Received {
            opcode: Opcode::Text,
            payload: Bytes::from("héllo")
        }
    );
    let bin = Bytes::from_static(&[0, 1, 2, 255]);
    engine
        .send(h.id, Outgoing::Binary(bin.clone()))
        .await
        .expect("send binary");
    assert_eq!(
        next(&mut ev).await,
        ConnEvent::Received {
            opcode: Opcode::Binary,
            payload: bin.clone()
        }
    );
    engine.close(h.id, 1000, "done").await.expect("close");
    assert_eq!(
        next(&mut ev).await,
        ConnEvent::Closed {
            code: Some(1000),
            reason: "done".into(),
            by: ClosedBy::Client
        }
    );
    engine.wait_idle().await;

    let store = engine.store();
    store.flush().await.expect("flush");
    let frames = store.frames_after(h.session, 0, 100).expect("frames");
    let shape: Vec<(Direction, Opcode, bool)> = frames
        .iter()
        .map(|f| (f.dir, f.opcode, f.injected))
        .collect();
    assert_eq!(
        shape,
        [
            (Direction::Client, Opcode::Text, true),
            (Direction::Server, Opcode::Text, false),
            (Direction::Client, Opcode::Binary, true),
            (Direction::Server, Opcode::Binary, false),
            (Direction::Client, Opcode::Close, true),
            (Direction::Server, Opcode::Close, false),
        ]
    );
    assert_eq!(
        store.frame(h.session, 4).expect("frame").payload,
        bin.to_vec()
    );
    assert_eq!(frames[4].close_code, Some(1000));
    let conn = store.connection(h.id).expect("conn");
    assert_eq!(conn.state, ConnState::Closed);
    assert_eq!(conn.response_status, Some(101));
    assert!(conn.opened_at_us.is_some());
    assert!(conn
        .request_headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key")));
    assert_eq!(
        (conn.close_code, conn.closed_by),
        (Some(1000), Some(ClosedBy::Client))
    );
    // Sending on a closed connection is an error, not a panic.
    assert!(engine
        .send(h.id, Outgoing::Text("late".into()))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_initiated_close_records_code_and_reason() {
    let server = EchoServer::start().await.expect("server");
    let (_dir, engine) = engine();
    let mut h = engine
        .connect(with_events(server.url()))
        .await
        .expect("connect");
    let mut ev = h.events.take().expect("events");
    assert!(matches!(next(&mut ev).await, ConnEvent::Open { .. }));
    engine
        .send(h.id, Outgoing::Text("!close 4001 bye now".into()))
        .await
        .expect("send");
    assert_eq!(
        next(&mut ev).await,
        ConnEvent::Closed {
            code: Some(4001),
            reason: "bye now".into(),
            by: ClosedBy::Server
        }
    );
    engine.wait_idle().await;
    let store = engine.store();
    store.flush().await.expect("flush");
    let conn = store.connection(h.id).expect("conn");
    assert_eq!(conn.state, ConnState::Closed);
    assert_eq!(conn.close_code, Some(4001));
    assert_eq!(conn.close_reason.as_deref(), Some("bye now"));
    assert_eq!(conn.closed_by, Some(ClosedBy::Server));
    let frames = store.frames_after(h.session, 0, 100).expect("frames");
    let server_close = frames
        .iter()
        .find(|f| f.dir == Direction::Server && f.opcode == Opcode::Close)
        .expect("server close frame");
    assert_eq!(server_close.close_code, Some(4001));
    assert_eq!(server_close.close_reason.as_deref(), Some("bye now"));
    // The client's reply echoes the code (RFC 6455 §5.5.1).
    let reply = frames
        .iter()
        .find(|f| f.dir == Direction::Client && f.opcode == Opcode::Close)
        .expect("client close reply");
    assert_eq!(reply.close_code, Some(4001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_failed_state() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (_dir, engine) = engine();
    let mut h = engine
        .connect(with_events(format!("ws://127.0.0.1:{port}/")))
        .await
        .expect("connect starts");
    let mut ev = h.events.take().expect("events");
    match next(&mut ev).await {
        ConnEvent::Failed { error } => assert!(error.contains("refused"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    engine.wait_idle().await;
    engine.store().flush().await.expect("flush");
    let conn = engine.store().connection(h.id).expect("conn");
    assert_eq!(conn.state, ConnState::Failed);
    assert!(conn.error.as_deref().is_some_and(|e| e.contains("refused")));
    assert_eq!(conn.closed_by, Some(ClosedBy::Error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_hits_the_handshake_timeout() {
    // Accepts TCP but never answers the upgrade.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let (_dir, engine) = engine();
    let opts = ConnectOptions {
        limits: Limits {
            handshake_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
        ..with_events(format!("ws://{addr}/"))
    };
    let mut h = engine.connect(opts).await.expect("connect starts");
    let mut ev = h.events.take().expect("events");
    match next(&mut ev).await {
        ConnEvent::Failed { error } => assert!(error.contains("timed out"), "{error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_headers_are_refused_up_front() {
    let (_dir, engine) = engine();
    for url in ["http://127.0.0.1/", "127.0.0.1:9000", "ws://", ""] {
        match engine.connect(ConnectOptions::new(url)).await {
            Err(EngineError::InvalidUrl { .. }) => {}
            Err(e) => panic!("{url:?}: wrong error {e}"),
            Ok(_) => panic!("{url:?} was accepted"),
        }
    }
    let opts = ConnectOptions {
        headers: vec![("Bad Header".into(), "x".into())],
        ..ConnectOptions::new("ws://127.0.0.1:1/")
    };
    assert!(matches!(
        engine.connect(opts).await,
        Err(EngineError::InvalidHeader(_))
    ));
    // Nothing was recorded for refused attempts.
    assert!(engine.store().sessions().expect("sessions").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_connections_share_one_session() {
    let server = EchoServer::start().await.expect("server");
    let (_dir, engine) = engine();
    let mut a = engine.connect(with_events(server.url())).await.expect("a");
    let opts = ConnectOptions {
        session: Some(a.session),
        ..with_events(server.url())
    };
    let mut b = engine.connect(opts).await.expect("b");
    assert_eq!(a.session, b.session);
    let (mut ea, mut eb) = (a.events.take().expect("ea"), b.events.take().expect("eb"));
    assert!(matches!(next(&mut ea).await, ConnEvent::Open { .. }));
    assert!(matches!(next(&mut eb).await, ConnEvent::Open { .. }));
    engine
        .send(a.id, Outgoing::Text("to a".into()))
        .await
        .expect("a send");
    engine
        .send(b.id, Outgoing::Text("to b".into()))
        .await
        .expect("b send");
    assert_eq!(
        next(&mut ea).await,
        ConnEvent::Received {
            opcode: Opcode::Text,
            payload: Bytes::from("to a")
        }
    );
    assert_eq!(
        next(&mut eb).await,
        ConnEvent::Received {
            opcode: Opcode::Text,
            payload: Bytes::from("to b")
        }
    );
    engine.close(a.id, 1000, "").await.expect("close a");
    engine.close(b.id, 1000, "").await.expect("close b");
    engine.wait_idle().await;
    engine.store().flush().await.expect("flush");
    let s = engine.store().session(a.session).expect("session");
    assert_eq!((s.connections, s.frames), (2, 8));
}

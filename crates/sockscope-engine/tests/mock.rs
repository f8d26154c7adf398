//! The mock server against in-process tungstenite clients on 127.0.0.1: the recorded server
//! messages in order, on the scaled schedule or conversationally, several clients, the
//! recorded server close, stop, and each client connection recorded in the mock's session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sockscope_engine::{EngineError, Mock, MockMode, MockOptions};
use sockscope_proto::{Direction, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnState, SessionKind, Store};
use std::time::Duration;
use support::*;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use Direction::{Client as C, Server as S};

/// The tests of this file run one at a time: timing assertions need a quiet machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> (Ws, Instant) {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    (ws, Instant::now())
}

/// Reads until `n` data messages arrived (or the server closed); returns them with times.
async fn read_data(ws: &mut Ws, n: usize) -> Vec<(Instant, Message)> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => {
                out.push((Instant::now(), m))
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("no message within 10 s (got {})", out.len()),
        }
    }
    out
}

async fn mock(store: &Store, session: SessionId, mode: MockMode) -> Mock {
    let mut opts = MockOptions::new(session, "127.0.0.1:0");
    opts.mode = mode;
    Mock::start(store.clone(), opts).await.expect("mock")
}

fn texts(v: &[(Instant, Message)]) -> Vec<String> {
    v.iter().map(|(_, m)| text_of(m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_mock_plays_the_server_side_on_the_scaled_schedule() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let at = [0, 100, 300, 400, 800];
    let mut frames: Vec<Rec> = at
        .iter()
        .enumerate()
        .map(|(i, ms)| text(S, *ms, &format!("s{i}")))
        .collect();
    // Client messages in the recording are not played.
    frames.insert(1, text(C, 50, "client stuff"));
    frames.push(frame(S, 850, Opcode::Binary, &[9, 8, 7], true));
    let (orig, orig_conn) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let m = mock(&store, orig, MockMode::Timed { speed: 2.0 }).await;
    assert!(m.local_addr().ip().is_loopback());

    let (mut ws, opened) = connect(&format!("ws://{}/feed?x=1", m.local_addr())).await;
    let got = read_data(&mut ws, 6).await;
    assert_eq!(texts(&got[..5]), ["s0", "s1", "s2", "s3", "s4"]);
    assert_eq!(got[5].1, Message::Binary(Bytes::from_static(&[9, 8, 7])));
    let mut worst = 0f64;
    for (i, (t, _)) in got[..5].iter().enumerate() {
        let want = at[i] as f64 / 2.0;
        let have = t.duration_since(opened).as_secs_f64() * 1000.0;
        worst = worst.max((have - want).abs());
        assert!(
            (have - want).abs() <= 15.0,
            "s{i} at +{have:.1} ms, scheduled +{want:.1} ms"
        );
    }
    eprintln!("timed mock: worst deviation {worst:.2} ms");
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    m.stop().await;
    store.flush().await.unwrap();

    // The mock's session: kind replay, origin the mocked one, the client connection recorded.
    let s = store.session(m_session(&store, orig)).unwrap();
    assert_eq!(s.kind, SessionKind::Replay);
    let conns = store.connections(s.id).unwrap();
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert!(c.url.ends_with("/feed?x=1"), "{}", c.url);
    assert_eq!(c.state, ConnState::Closed);
    assert_eq!(c.closed_by, Some(ClosedBy::Client));
    let msgs = store.connection_messages(c.id).unwrap();
    let served: Vec<_> = msgs
        .iter()
        .filter(|m| m.dir == S && m.is_data())
        .map(|m| m.payload.clone())
        .collect();
    assert_eq!(served.len(), 6);
    assert_eq!(served[0], Bytes::from_static(b"s0"));
    assert!(msgs.iter().any(|m| m.dir == C && m.opcode == Opcode::Close));
    let c2 = rusqlite::Connection::open(store.path()).unwrap();
    let (os, oc): (i64, i64) = c2
        .query_row(
            "SELECT origin_session_id, origin_connection_id FROM sessions WHERE id = ?1",
            [s.id.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((os, oc), (orig.0, orig_conn.0));
}

/// The newest replay session made from `orig`.
fn m_session(store: &Store, orig: SessionId) -> SessionId {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    SessionId(
        c.query_row(
            "SELECT MAX(id) FROM sessions WHERE origin_session_id = ?1",
            [orig.0],
            |r| r.get(0),
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversational_mock_answers_each_client_message_with_what_followed_it() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let frames = [
        text(S, 0, "welcome"),
        text(C, 100, "login"),
        text(S, 150, "ok"),
        text(S, 160, "menu"),
        text(C, 5000, "order"),
        text(S, 9000, "confirmed"),
    ];
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let m = mock(&store, orig, MockMode::Conversational).await;
    let (mut ws, _) = connect(&m.url()).await;
    assert_eq!(texts(&read_data(&mut ws, 1).await), ["welcome"]);
    // Nothing more until the client speaks.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ws.next())
            .await
            .is_err(),
        "the mock sent something unprompted"
    );
    ws.send(Message::Text("anything".into())).await.unwrap();
    assert_eq!(texts(&read_data(&mut ws, 2).await), ["ok", "menu"]);
    let sent = Instant::now();
    ws.send(Message::Binary(Bytes::from_static(b"x")))
        .await
        .unwrap();
    let got = read_data(&mut ws, 1).await;
    assert_eq!(texts(&got), ["confirmed"]);
    // Conversational: not the recorded 4 s pause.
    assert!(got[0].0.duration_since(sent) < Duration::from_secs(1));
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    m.stop().await;
    store.flush().await.unwrap();
    let s = m_session(&store, orig);
    let conn = &store.connections(s).unwrap()[0];
    let msgs = store.connection_messages(conn.id).unwrap();
    let order: Vec<(Direction, String)> = msgs
        .iter()
        .filter(|m| m.is_data())
        .map(|m| (m.dir, String::from_utf8_lossy(&m.payload).into_owned()))
        .collect();
    assert_eq!(
        order,
        [
            (S, "welcome"),
            (C, "anything"),
            (S, "ok"),
            (S, "menu"),
            (C, "x"),
            (S, "confirmed")
        ]
        .map(|(d, t)| (d, t.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_the_whole_script_and_the_recorded_server_close() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let frames = [
        text(S, 0, "a"),
        text(S, 40, "b"),
        close(S, 80, 4002, "session over"),
        close(C, 81, 4002, "session over"),
    ];
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let m = mock(&store, orig, MockMode::Timed { speed: 1.0 }).await;
    let url = m.url();
    let clients = (0..3).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let (mut ws, _) = connect(&url).await;
            let mut got = Vec::new();
            let mut close = None;
            while let Ok(Some(Ok(msg))) =
                tokio::time::timeout(Duration::from_secs(10), ws.next()).await
            {
                match msg {
                    Message::Text(t) => got.push(t.as_str().to_owned()),
                    Message::Close(f) => {
                        close = f.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                    }
                    _ => {}
                }
            }
            (got, close)
        })
    });
    for c in clients.collect::<Vec<_>>() {
        let (got, close) = c.await.unwrap();
        assert_eq!(got, ["a", "b"]);
        assert_eq!(close, Some((4002, "session over".to_owned())));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = m_session(&store, orig);
    loop {
        store.flush().await.unwrap();
        let conns = store.connections(s).unwrap();
        if conns.len() == 3 && conns.iter().all(|c| c.state == ConnState::Closed) {
            assert!(conns
                .iter()
                .all(|c| c.close_code == Some(4002) && c.closed_by == Some(ClosedBy::Server)));
            break;
        }
        assert!(Instant::now() < deadline, "{conns:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(m.clients(), 3);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_clients_and_bad_options_are_refused() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let (orig, _) = recording(
        &store,
        "ws://127.0.0.1:1/",
        &[],
        Some("chat.v1"),
        &[text(S, 0, "hi"), text(S, 60_000, "much later")],
    )
    .await;
    let m = mock(&store, orig, MockMode::Timed { speed: 1.0 }).await;
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(m.url())
            .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "other, chat.v1".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("chat.v1"),
        "the recorded subprotocol is chosen when offered"
    );
    assert_eq!(texts(&read_data(&mut ws, 1).await), ["hi"]);
    let session = m.session();
    let stopping = tokio::spawn(m.stop());
    let mut close = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Close(f) = msg {
            close = f;
        }
    }
    assert_eq!(
        close,
        Some(CloseFrame {
            code: 1001.into(),
            reason: "mock stopping".into()
        })
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stop in time")
        .unwrap();
    store.flush().await.unwrap();
    let conn = &store.connections(session).unwrap()[0];
    assert_eq!(conn.subprotocol.as_deref(), Some("chat.v1"));
    assert_eq!(
        (conn.close_code, conn.closed_by),
        (Some(1001), Some(ClosedBy::Server))
    );

    let mut opts = MockOptions::new(orig, "0.0.0.0:0");
    assert!(matches!(
        Mock::start(store.clone(), opts.clone()).await,
        Err(EngineError::InvalidOption(_))
    ));
    opts.listen = "localhost:80".into();
    assert!(matches!(
        Mock::start(store.clone(), opts.clone()).await,
        Err(EngineError::InvalidOption(_))
    ));
    opts.listen = "127.0.0.1:0".into();
    opts.mode = MockMode::Timed { speed: 1000.0 };
    assert!(Mock::start(store.clone(), opts.clone()).await.is_err());
    opts.mode = MockMode::Conversational;
    opts.session = SessionId(4242);
    assert!(Mock::start(store.clone(), opts.clone()).await.is_err());
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    opts.session = orig;
    opts.listen = taken.local_addr().unwrap().to_string();
    assert!(matches!(
        Mock::start(store.clone(), opts).await,
        Err(EngineError::Listen { .. })
    ));
}

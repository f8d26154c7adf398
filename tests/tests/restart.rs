//! "Close the app, start it again": what the engine recorded in a database file is all there
//! after every handle is dropped and the file is opened again, and a session can go on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use sockscope_engine::{ConnEvent, ConnectOptions, Engine, Outgoing};
use sockscope_proto::Opcode;
use sockscope_store::{ConnState, Store};
use sockscope_testkit::EchoServer;
use std::time::Duration;

async fn open_event(engine: &Engine, opts: ConnectOptions) -> sockscope_engine::ConnectionHandle {
    let mut h = engine
        .connect(ConnectOptions {
            events: true,
            ..opts
        })
        .await
        .expect("connect");
    let ev = h.events.as_mut().expect("events");
    let first = tokio::time::timeout(Duration::from_secs(10), ev.recv()).await;
    assert!(
        matches!(first, Ok(Some(ConnEvent::Open { .. }))),
        "{first:?}"
    );
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_and_continues() {
    let server = EchoServer::start().await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("restart.db");

    // First run: one connection, three messages, left open when the "app" quits.
    let (session, first_conn) = {
        let engine = Engine::new(Store::open(&path).expect("store"));
        let h = open_event(&engine, ConnectOptions::new(server.url())).await;
        for m in ["one", "two", "three"] {
            engine
                .send(h.id, Outgoing::Text(m.into()))
                .await
                .expect("send");
        }
        engine.close(h.id, 1001, "app quit").await.expect("close");
        engine.wait_idle().await;
        (h.session, h.id)
        // engine and store dropped here: the writer commits and stops.
    };

    // Second run.
    let store = Store::open(&path).expect("reopen");
    let sessions = store.sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, session);
    assert_eq!(sessions[0].frames, 8, "3 sent + 3 echoed + close each way");
    let conn = store.connection(first_conn).expect("conn");
    assert_eq!(
        (conn.state, conn.close_code),
        (ConnState::Closed, Some(1001))
    );

    let engine = Engine::new(store.clone());
    let h = open_event(
        &engine,
        ConnectOptions {
            session: Some(session),
            ..ConnectOptions::new(server.url())
        },
    )
    .await;
    engine
        .send(h.id, Outgoing::Text("four".into()))
        .await
        .expect("send");
    engine.close(h.id, 1000, "").await.expect("close");
    engine.wait_idle().await;
    store.flush().await.expect("flush");

    let frames = store.frames_after(session, 0, 100).expect("frames");
    let seqs: Vec<i64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(
        seqs,
        (1..=12).collect::<Vec<_>>(),
        "seq continues across restarts"
    );
    let texts: Vec<&str> = frames
        .iter()
        .filter(|f| f.opcode == Opcode::Text)
        .map(|f| f.preview.as_str())
        .collect();
    assert_eq!(texts.iter().filter(|t| **t == "four").count(), 2);
    assert_eq!(store.connections(session).expect("conns").len(), 2);
}

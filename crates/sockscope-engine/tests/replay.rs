//! Replay of recorded connections against in-process WebSocket servers on 127.0.0.1 that log
//! when each message arrived: order, payloads, pacing (timed, max, conversational), stop,
//! progress, failures, the replay's own recording, and the diff of original vs replay.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use bytes::Bytes;
use sockscope_engine::{
    diff_connections, Engine, EngineError, ReplayMode, ReplayPlan, ReplayState,
};
use sockscope_proto::diff::{DiffOptions, DiffStatus};
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnState, SessionKind, Store};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio_tungstenite::tungstenite::Message;

use Direction::{Client as C, Server as S};

/// The tests of this file run one at a time: timing assertions need a quiet machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn plan(store: &Store, session: SessionId, url: &str) -> ReplayPlan {
    let store = store.clone();
    let mut p = tokio::task::spawn_blocking(move || ReplayPlan::load(&store, session, None))
        .await
        .unwrap()
        .expect("plan");
    p.url = url.to_owned();
    p
}

/// Origin columns of a session, read straight from the file.
fn origin(store: &Store, session: SessionId) -> (Option<i64>, Option<i64>) {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    c.query_row(
        "SELECT origin_session_id, origin_connection_id FROM sessions WHERE id = ?1",
        [session.0],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn messages(store: &Store, conn: ConnectionId) -> Vec<sockscope_proto::diff::Message> {
    store.connection_messages(conn).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_mode_sends_every_client_message_in_order_and_records_the_replay() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    let frames = [
        text(C, 0, "hello"),
        text(S, 5, "server says hi"),
        frame(C, 10, Opcode::Binary, &[0, 1, 2, 255], true),
        // A fragmented text message: replayed whole.
        frame(C, 20, Opcode::Text, b"frag", false),
        frame(C, 21, Opcode::Continuation, b"men", false),
        frame(C, 22, Opcode::Continuation, "ted ✓".as_bytes(), true),
        frame(S, 25, Opcode::Ping, b"srv", true),
        frame(C, 25, Opcode::Pong, b"srv", true),
        frame(C, 30, Opcode::Ping, b"p1", true),
        text(C, 40, r#"{"op":"last"}"#),
        close(C, 50, 4001, "bye now"),
        close(S, 51, 4001, "bye now"),
    ];
    let (orig, orig_conn) = recording(
        &store,
        "ws://127.0.0.1:1/orig",
        &[("Origin", "http://app.test"), ("X-Trace", "t-1")],
        None,
        &frames,
    )
    .await;
    let p = plan(&store, orig, &server.url("/replayed")).await;
    assert_eq!(
        p.steps.len(),
        5,
        "text, binary, fragmented text, ping, text"
    );
    assert_eq!((p.close_code, p.close_reason.as_str()), (4001, "bye now"));

    let replay = engine.replay(p, ReplayMode::Max).await.expect("replay");
    let (session, conn) = (replay.session, replay.connection);
    let progress = replay.progress();
    let report = tokio::time::timeout(Duration::from_secs(15), replay.wait())
        .await
        .expect("in time")
        .expect("finished");
    assert_eq!((report.sent, report.total, report.stopped), (5, 5, false));
    assert_eq!(progress.borrow().state, ReplayState::Finished);
    assert_eq!(progress.borrow().sent, 5);

    let log = server.closed_conn(0).await;
    assert_eq!(log.path, "/replayed");
    let got: Vec<Message> = log.received.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(
        got,
        vec![
            Message::Text("hello".into()),
            Message::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            Message::Text("fragmented ✓".into()),
            Message::Ping(Bytes::from_static(b"p1")),
            Message::Text(r#"{"op":"last"}"#.into()),
            Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 4001.into(),
                reason: "bye now".into()
            })),
        ]
    );
    assert_eq!(log.closed, Some((Some(4001), "bye now".into())));
    assert!(log
        .headers
        .iter()
        .any(|(k, v)| k == "x-trace" && v == "t-1"));
    assert!(log
        .headers
        .iter()
        .any(|(k, v)| k == "origin" && v == "http://app.test"));

    // The replay is its own session, linked to the original, recorded like a client.
    engine.wait_idle().await;
    store.flush().await.unwrap();
    let s = store.session(session).unwrap();
    assert_eq!(s.kind, SessionKind::Replay);
    assert_eq!(origin(&store, session), (Some(orig.0), Some(orig_conn.0)));
    let info = store.connection(conn).unwrap();
    assert_eq!(info.session_id, session);
    assert_eq!(info.state, ConnState::Closed);
    assert_eq!(info.close_code, Some(4001));
    assert_eq!(info.closed_by, Some(ClosedBy::Client));
    let sent: Vec<(Opcode, Bytes)> = messages(&store, conn)
        .into_iter()
        .filter(|m| m.dir == C && m.opcode != Opcode::Close)
        .map(|m| (m.opcode, m.payload))
        .collect();
    assert_eq!(
        sent,
        vec![
            (Opcode::Text, Bytes::from_static(b"hello")),
            (Opcode::Binary, Bytes::from_static(&[0, 1, 2, 255])),
            (Opcode::Text, Bytes::from("fragmented ✓")),
            (Opcode::Ping, Bytes::from_static(b"p1")),
            (Opcode::Text, Bytes::from_static(br#"{"op":"last"}"#)),
        ]
    );
    let frames = store.frames_after(session, 0, 100).unwrap();
    assert!(frames
        .iter()
        .filter(|f| f.dir == C && f.opcode != Opcode::Close)
        .all(|f| f.injected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_mode_follows_the_scaled_schedule() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    // Recorded gaps of 100–400 ms; at speed 2.0 they become 50–200 ms.
    let at = [200, 300, 700, 900, 1100, 1500];
    let frames: Vec<Rec> = at
        .iter()
        .enumerate()
        .map(|(i, ms)| text(C, *ms, &format!("m{i}")))
        .collect();
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let p = plan(&store, orig, &server.url("/")).await;
    let replay = engine
        .replay(p, ReplayMode::Timed { speed: 2.0 })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), replay.wait())
        .await
        .expect("in time")
        .expect("finished");
    let log = server.closed_conn(0).await;
    let got = data(&log.received);
    assert_eq!(
        got.iter().map(|(_, m)| text_of(m)).collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3", "m4", "m5"]
    );
    // Offsets from the first message, against the recorded ones halved.
    let t0 = got[0].0;
    let mut worst = 0f64;
    for (i, (t, _)) in got.iter().enumerate() {
        let want = (at[i] - at[0]) as f64 / 2.0;
        let have = t.duration_since(t0).as_secs_f64() * 1000.0;
        worst = worst.max((have - want).abs());
        assert!(
            (have - want).abs() <= 10.0,
            "message {i} arrived at +{have:.1} ms, scheduled +{want:.1} ms"
        );
    }
    // The first message waits for its recorded delay from the open too (200 ms / 2).
    let first = t0.duration_since(log.opened).as_secs_f64() * 1000.0;
    assert!(
        (first - 100.0).abs() <= 15.0,
        "first message at +{first:.1} ms"
    );
    eprintln!("timed replay: worst deviation {worst:.2} ms");
}

/// Replies `{"reply":k}` to the k-th message after 150 ms.
fn delayed_replies() -> (Duration, support::ReplyFn) {
    (
        Duration::from_millis(150),
        Arc::new(|k, _| vec![Message::Text(format!(r#"{{"reply":{k}}}"#).into())]),
    )
}

fn conversation() -> Vec<Rec> {
    vec![
        text(C, 0, "q0"),
        text(S, 150, r#"{"reply":0}"#),
        text(C, 160, "q1"),
        text(S, 310, r#"{"reply":1}"#),
        text(C, 320, "q2"),
        text(S, 470, r#"{"reply":2}"#),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversational_mode_waits_for_the_replies_and_max_mode_does_not() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let (delay, reply) = delayed_replies();
    let server = LogServer::start(delay, reply, Vec::new()).await;
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &conversation()).await;

    let p = plan(&store, orig, &server.url("/conv")).await;
    assert_eq!(
        p.steps.iter().map(|s| s.server_before).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let replay = engine
        .replay(
            p,
            ReplayMode::Conversational {
                timeout: Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
    let conn = replay.connection;
    let report = tokio::time::timeout(Duration::from_secs(15), replay.wait())
        .await
        .expect("in time")
        .expect("finished");
    assert_eq!((report.sent, report.received), (3, 3));
    let log = server.closed_conn(0).await;
    let got = data(&log.received);
    assert_eq!(
        got.iter().map(|(_, m)| text_of(m)).collect::<Vec<_>>(),
        ["q0", "q1", "q2"]
    );
    for (k, (arrived, _)) in got.iter().enumerate().skip(1) {
        let reply_sent = log.sent[k - 1].0;
        assert!(
            *arrived >= reply_sent,
            "q{k} arrived {:?} before reply {} was sent",
            reply_sent - *arrived,
            k - 1
        );
    }
    // All three replies were waited for before closing.
    engine.wait_idle().await;
    store.flush().await.unwrap();
    let server_msgs = messages(&store, conn)
        .into_iter()
        .filter(|m| m.dir == S && m.is_data())
        .count();
    assert_eq!(server_msgs, 3);

    // The same recording in max mode does not wait: q1 arrives before reply 0 leaves.
    let p = plan(&store, orig, &server.url("/max")).await;
    let replay = engine.replay(p, ReplayMode::Max).await.unwrap();
    replay.wait().await.expect("finished");
    let log = server.closed_conn(1).await;
    let got = data(&log.received);
    assert_eq!(got.len(), 3);
    let reply0_due = got[0].0 + delay;
    assert!(got[1].0 < reply0_due, "max mode waited for the reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversational_timeout_stops_with_a_clear_error() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &conversation()).await;
    let p = plan(&store, orig, &server.url("/")).await;
    let replay = engine
        .replay(
            p,
            ReplayMode::Conversational {
                timeout: Duration::from_millis(300),
            },
        )
        .await
        .unwrap();
    let progress = replay.progress();
    let conn = replay.connection;
    let started = std::time::Instant::now();
    let err = replay.wait().await.expect_err("must time out");
    let elapsed = started.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Replay(_)), "{err:?}");
    assert!(
        msg.contains("timed out after 0.3 s waiting for server message 1")
            && msg.contains("before client message 2 of 3"),
        "{msg}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        matches!(&progress.borrow().state, ReplayState::Failed(m) if m == msg.trim_start_matches("replay: "))
    );
    assert_eq!(progress.borrow().sent, 1);
    // Recorded: the connection was closed with the reason.
    engine.wait_idle().await;
    store.flush().await.unwrap();
    let info = store.connection(conn).unwrap();
    assert_eq!(info.state, ConnState::Closed);
    assert!(
        info.close_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("replay failed: timed out")),
        "{info:?}"
    );
    assert_eq!(data(&server.closed_conn(0).await.received).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_replay_at_once_and_progress_counts() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    let frames: Vec<Rec> = (0..5)
        .map(|i| text(C, i * 1000, &format!("m{i}")))
        .collect();
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let p = plan(&store, orig, &server.url("/")).await;
    // 1 s gaps at speed 0.5: 2 s each; stop after the first message.
    let replay = engine
        .replay(p, ReplayMode::Timed { speed: 0.5 })
        .await
        .unwrap();
    let mut progress = replay.progress();
    tokio::time::timeout(Duration::from_secs(5), progress.wait_for(|p| p.sent == 1))
        .await
        .expect("first message in time")
        .unwrap();
    assert_eq!(progress.borrow().total, 5);
    let stopped_at = std::time::Instant::now();
    replay.stop();
    let report = replay.wait().await.expect("stopped, not failed");
    assert!(report.stopped);
    assert_eq!(report.sent, 1);
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
    assert_eq!(progress.borrow().state, ReplayState::Stopped);
    let log = server.closed_conn(0).await;
    assert_eq!(data(&log.received).len(), 1);
    assert_eq!(log.closed, Some((Some(1000), "replay stopped".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_reported_and_nothing_is_created_for_bad_input() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let (orig, conn) = recording(&store, "ws://127.0.0.1:1/", &[], None, &[text(C, 0, "x")]).await;
    // A closed port: the connection fails, the replay says why.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = plan(&store, orig, &format!("ws://127.0.0.1:{closed_port}/")).await;
    let replay = engine.replay(p, ReplayMode::Max).await.unwrap();
    let err = replay.wait().await.expect_err("refused");
    assert!(err.to_string().contains("connection refused"), "{err}");

    let before = store.sessions().unwrap().len();
    let mut p = plan(&store, orig, "http://127.0.0.1/").await;
    assert!(matches!(
        engine.replay(p.clone(), ReplayMode::Max).await,
        Err(EngineError::InvalidUrl { .. })
    ));
    p.url = "ws://127.0.0.1:1/".into();
    for bad in [0.05, 101.0, f64::NAN] {
        assert!(matches!(
            engine
                .replay(p.clone(), ReplayMode::Timed { speed: bad })
                .await,
            Err(EngineError::InvalidOption(_))
        ));
    }
    assert_eq!(store.sessions().unwrap().len(), before, "no empty session");

    // A connection of another session is refused by name.
    let (other, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &[]).await;
    let err = ReplayPlan::load(&store, other, Some(conn)).expect_err("wrong session");
    assert!(err.to_string().contains("is not in session"), "{err}");
    assert!(ReplayPlan::load(&store, SessionId(9999), None).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subprotocol_and_header_overrides_reach_the_server() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    let (orig, _) = recording(
        &store,
        "ws://127.0.0.1:1/",
        &[
            ("Host", "old.example"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Protocol", "v2.chat, v1.chat"),
            ("Authorization", "Bearer old"),
        ],
        Some("v2.chat"),
        &[text(C, 0, "x")],
    )
    .await;
    let mut p = plan(&store, orig, &server.url("/")).await;
    assert_eq!(p.subprotocols, ["v2.chat", "v1.chat"]);
    p.set_header("authorization", "Bearer new");
    let replay = engine.replay(p, ReplayMode::Max).await.unwrap();
    let conn = replay.connection;
    replay.wait().await.expect("finished");
    let log = server.closed_conn(0).await;
    let h = |name: &str| -> Vec<String> {
        log.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(h("authorization"), ["Bearer new"]);
    assert_eq!(h("sec-websocket-protocol"), ["v2.chat, v1.chat"]);
    assert_eq!(h("host"), [server.addr.to_string()]);
    assert_eq!(h("sec-websocket-key").len(), 1);
    assert_ne!(h("sec-websocket-key")[0], "dGhlIHNhbXBsZSBub25jZQ==");
    engine.wait_idle().await;
    store.flush().await.unwrap();
    assert_eq!(
        store.connection(conn).unwrap().subprotocol.as_deref(),
        Some("v2.chat")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_of_original_and_replay_finds_the_changed_field() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let quote = |k: usize, price: u32| {
        format!(
            r#"{{"reply":{k},"data":[{{"sku":"a","price":10}},{{"sku":"b","price":{price}}}]}}"#
        )
    };
    // The original: three quotes, all priced 20.
    let frames = vec![
        text(C, 0, "q0"),
        text(S, 10, &quote(0, 20)),
        text(C, 20, "q1"),
        text(S, 30, &quote(1, 20)),
        text(C, 40, "q2"),
        text(S, 50, &quote(2, 20)),
    ];
    let (orig, orig_conn) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    // Today's server prices the second quote differently.
    let reply: support::ReplyFn =
        Arc::new(move |k, _| vec![Message::Text(quote(k, if k == 1 { 21 } else { 20 }).into())]);
    let server = LogServer::start(Duration::from_millis(5), reply, Vec::new()).await;
    let p = plan(&store, orig, &server.url("/")).await;
    let replay = engine
        .replay(
            p,
            ReplayMode::Conversational {
                timeout: Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
    let replay_conn = replay.connection;
    replay.wait().await.expect("finished");
    engine.wait_idle().await;
    store.flush().await.unwrap();

    let d = diff_connections(&store, orig_conn, replay_conn, &DiffOptions::default()).unwrap();
    assert_eq!(
        (
            d.summary.identical,
            d.summary.changed,
            d.summary.missing,
            d.summary.extra
        ),
        (5, 1, 0, 0),
        "{d:#?}"
    );
    let changed = d
        .entries
        .iter()
        .find(|e| e.status == DiffStatus::Changed)
        .unwrap();
    assert_eq!(changed.dir, S);
    assert_eq!(changed.changes.len(), 1);
    assert_eq!(changed.changes[0].path, "$.data[1].price");
    assert_eq!(
        (
            changed.changes[0].left.as_deref(),
            changed.changes[0].right.as_deref()
        ),
        (Some("20"), Some("21"))
    );
    let ignoring = DiffOptions {
        ignore: vec!["price".into()],
    };
    let d = diff_connections(&store, orig_conn, replay_conn, &ignoring).unwrap();
    assert!(d.summary.is_same(), "{d:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_messages_are_reassembled_for_replay() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let (session, conn) = recording(&store, "ws://127.0.0.1:1/", &[], None, &[]).await;
    let rec = |dir, opcode, payload: &'static [u8], fin: bool| {
        let mut r = sockscope_proto::FrameRecord::message(
            session,
            conn,
            dir,
            opcode,
            Bytes::from_static(payload),
            sockscope_proto::now_us(),
        );
        r.fin = fin;
        r
    };
    let mut frames = vec![
        // Fragments with a ping in between, and the server talking meanwhile.
        rec(C, Opcode::Text, b"ab", false),
        rec(C, Opcode::Ping, b"mid", true),
        rec(S, Opcode::Binary, &[1], true),
        rec(C, Opcode::Continuation, b"cd", true),
    ];
    // A compressed message: the wire bytes, and the inflated whole on the last frame.
    let mut z = rec(S, Opcode::Text, &[0xf2, 0x48], false);
    z.rsv1 = true;
    frames.push(z);
    let mut z2 = rec(S, Opcode::Continuation, &[0xcd, 0xc9, 0x01, 0x00], true);
    z2.inflated = Some(Bytes::from_static(b"Hello"));
    frames.push(z2);
    // Compressed but not inflatable: kept, flagged truncated.
    let mut bad = rec(S, Opcode::Text, &[0xff], true);
    bad.rsv1 = true;
    frames.push(bad);
    // A frame recorded cut.
    let mut cut = rec(C, Opcode::Binary, &[7; 4], true);
    cut.truncated = true;
    frames.push(cut);
    // A continuation with nothing started, then a message that never ends.
    frames.push(rec(S, Opcode::Continuation, b"orphan", true));
    frames.push(rec(C, Opcode::Text, b"never", false));
    for f in frames {
        store.record_frame(f).await.unwrap();
    }
    store.flush().await.unwrap();
    let got: Vec<(Direction, Opcode, Vec<u8>, bool)> = store
        .connection_messages(conn)
        .unwrap()
        .into_iter()
        .map(|m| (m.dir, m.opcode, m.payload.to_vec(), m.truncated))
        .collect();
    assert_eq!(
        got,
        vec![
            (C, Opcode::Ping, b"mid".to_vec(), false),
            (S, Opcode::Binary, vec![1], false),
            (C, Opcode::Text, b"abcd".to_vec(), false),
            (S, Opcode::Text, b"Hello".to_vec(), false),
            (S, Opcode::Text, vec![0xff], true),
            (C, Opcode::Binary, vec![7; 4], true),
            (C, Opcode::Text, b"never".to_vec(), true),
        ]
    );
    let p = ReplayPlan::load(&store, session, None).unwrap();
    assert_eq!(p.steps.len(), 4, "ping, text, binary, unfinished text");
    assert_eq!(
        p.steps.iter().map(|s| s.server_before).collect::<Vec<_>>(),
        [0, 1, 3, 3]
    );
    assert!(p.steps[2].truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_does_not_stop_the_replay() {
    let _serial = SERIAL.lock().await;
    let (_dir, store) = temp_store();
    let engine = Engine::new(store.clone());
    let server = LogServer::sink().await;
    let frames: Vec<Rec> = (0..3).map(|i| text(C, i * 100, &format!("m{i}"))).collect();
    let (orig, _) = recording(&store, "ws://127.0.0.1:1/", &[], None, &frames).await;
    let p = plan(&store, orig, &server.url("/")).await;
    let replay = engine
        .replay(p, ReplayMode::Timed { speed: 1.0 })
        .await
        .unwrap();
    let mut progress = replay.progress();
    drop(replay);
    tokio::time::timeout(
        Duration::from_secs(10),
        progress.wait_for(|p| p.state.is_final()),
    )
    .await
    .expect("in time")
    .unwrap();
    assert_eq!(progress.borrow().state, ReplayState::Finished);
    assert_eq!(data(&server.closed_conn(0).await.received).len(), 3);
}

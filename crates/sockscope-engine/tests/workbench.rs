//! Workbench parts of the engine against real sockets on 127.0.0.1 and real files: the
//! handshake captured (no-subprotocol answer accepted, refusals with body), keep-alive round
//! trip, links that reconnect, the templates folder and send-on-save through `notify`, and
//! every demo server with a real client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use futures_util::{SinkExt, StreamExt};
use sockscope_engine::demo::{Demo, DemoKind, DemoOptions};
use sockscope_engine::templates::{SendMode, SendOnSaveOptions, TemplateMode, Templates};
use sockscope_engine::{
    handshake_info, ConnectOptions, Engine, LinkInfo, LinkState, Outgoing, ReconnectPolicy,
};
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{ConnState, Store};
use sockscope_testkit::EchoServer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("wb.db")).expect("store");
    (dir, Engine::new(store))
}

/// Polls the link until `pred` holds.
async fn link_until(
    engine: &Engine,
    id: u64,
    what: &str,
    pred: impl Fn(&LinkInfo) -> bool,
) -> LinkInfo {
    let deadline = Instant::now() + WAIT;
    loop {
        let info = engine.link(id).expect("link");
        if pred(&info) {
            return info;
        }
        assert!(Instant::now() < deadline, "{what}: link is {info:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The frames of a session (after a flush).
async fn frames(
    engine: &Engine,
    session: sockscope_proto::SessionId,
) -> Vec<sockscope_store::FrameSummary> {
    engine.store().flush().await.expect("flush");
    engine
        .store()
        .frames_after(session, 0, 100_000)
        .expect("frames")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offered_subprotocols_and_none_chosen_is_open_with_handshake_recorded() {
    // The demo echo server chooses no subprotocol.
    let demo = Demo::start(DemoOptions::new(DemoKind::Echo))
        .await
        .expect("demo");
    let (_dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions {
            subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
            query: vec![("token".into(), "a b".into())],
            origin: Some("http://localhost:5173".into()),
            ..ConnectOptions::new(demo.url())
        })
        .await
        .expect("link");
    let open = link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
    assert_eq!(open.subprotocol, None);
    assert_eq!(open.url, format!("{}?token=a%20b", demo.url()));
    engine.store().flush().await.expect("flush");
    let store = engine.store().clone();
    let conn = link.connection_id;
    let info = tokio::task::spawn_blocking(move || handshake_info(&store, conn))
        .await
        .unwrap()
        .expect("handshake");
    assert_eq!(info.request_line, "GET /?token=a%20b HTTP/1.1");
    assert_eq!(info.response_status, Some(101));
    assert_eq!(info.response_reason.as_deref(), Some("Switching Protocols"));
    assert_eq!(info.subprotocols_offered, ["chat.v2", "chat.v1"]);
    assert_eq!(info.subprotocol, None);
    let accept = info.accept.expect("accept check");
    assert!(accept.ok, "{accept:?}");
    assert_eq!(accept.expected.len(), 28);
    assert_eq!(accept.sha1_hex.len(), 40);
    assert!(info
        .time_to_open_ms
        .is_some_and(|t| t > 0.0 && t < 10_000.0));
    assert!(info
        .request_headers
        .iter()
        .any(|(k, v)| k == "Origin" && v == "http://localhost:5173"));
    // Messages still flow.
    engine
        .link_send(link.id, Outgoing::Text("hi".into()))
        .await
        .expect("send");
    link_until(&engine, link.id, "echo", |l| l.messages_received >= 1).await;
    engine.link_close(link.id, 1000, "").await.expect("close");
    link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    demo.stop().await;
}

/// A server that refuses every upgrade with 403, headers and a body.
async fn refusing_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "{\"error\":\"token expired\"}";
            let resp = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-Reason: expired\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_records_status_headers_and_body() {
    let (addr, task) = refusing_server().await;
    let (_dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions::new(format!("ws://{addr}/socket")))
        .await
        .expect("link");
    let failed = link_until(&engine, link.id, "failed", |l| l.state == LinkState::Failed).await;
    assert!(
        failed.error.as_deref().unwrap_or("").contains("403"),
        "{failed:?}"
    );
    engine.store().flush().await.expect("flush");
    let store = engine.store().clone();
    let conn = link.connection_id;
    let info = tokio::task::spawn_blocking(move || handshake_info(&store, conn))
        .await
        .unwrap()
        .expect("handshake");
    assert_eq!(info.response_status, Some(403));
    assert_eq!(info.response_reason.as_deref(), Some("Forbidden"));
    assert_eq!(
        info.response_body.as_deref(),
        Some("{\"error\":\"token expired\"}")
    );
    assert!(!info.response_body_truncated);
    assert!(info
        .response_headers
        .iter()
        .any(|(k, v)| k == "X-Reason" && v == "expired"));
    let row = engine.store().connection(conn).expect("row");
    assert_eq!(row.state, ConnState::Failed);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_pings_measure_the_round_trip() {
    let server = EchoServer::start().await.expect("server");
    let (_dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions {
            ping_interval: Some(Duration::from_millis(150)),
            ..ConnectOptions::new(server.url())
        })
        .await
        .expect("link");
    let info = link_until(&engine, link.id, "rtt", |l| l.rtt_ms.is_some()).await;
    let rtt = info.rtt_ms.expect("rtt");
    assert!(rtt > 0.0 && rtt < 1000.0, "{rtt}");
    assert_eq!(info.ping_interval_ms, Some(150));
    engine.link_close(link.id, 1000, "").await.expect("close");
    link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    let f = frames(&engine, link.session_id).await;
    let pings: Vec<_> = f.iter().filter(|f| f.opcode == Opcode::Ping).collect();
    let pongs: Vec<_> = f.iter().filter(|f| f.opcode == Opcode::Pong).collect();
    assert!(!pings.is_empty() && !pongs.is_empty(), "{f:?}");
    assert!(pings
        .iter()
        .all(|p| p.dir == Direction::Client && p.injected && p.len == 8));
    assert!(pongs.iter().all(|p| p.dir == Direction::Server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_reconnects_after_the_server_restarts() {
    let server = EchoServer::start().await.expect("server");
    let addr = server.addr();
    let (_dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions {
            reconnect: Some(ReconnectPolicy {
                max_attempts: 50,
                initial_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(200),
            }),
            ..ConnectOptions::new(server.url())
        })
        .await
        .expect("link");
    link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
    server.stop().await;
    link_until(&engine, link.id, "reconnecting", |l| {
        l.state == LinkState::Reconnecting
    })
    .await;
    // Let a few attempts fail while the server is down.
    link_until(&engine, link.id, "failed attempts", |l| {
        l.attempts.len() >= 3
    })
    .await;
    let server = EchoServer::bind(&addr.to_string()).await.expect("restart");
    let back = link_until(&engine, link.id, "open again", |l| {
        l.state == LinkState::Open && l.attempt > 0
    })
    .await;
    assert_eq!(back.connection_id, *back.attempts.last().expect("attempts"));
    engine
        .link_send(link.id, Outgoing::Text("after".into()))
        .await
        .expect("send after reconnect");
    link_until(&engine, link.id, "echo", |l| l.messages_received >= 1).await;
    // Every attempt is a connection row of the link's session.
    engine.store().flush().await.expect("flush");
    let conns = engine.store().connections(link.session_id).expect("rows");
    assert_eq!(conns.len(), back.attempts.len());
    assert!(
        conns
            .iter()
            .filter(|c| c.state == ConnState::Failed)
            .count()
            >= 2
    );
    assert_eq!(conns[0].options.as_ref().expect("options")["attempt"], 0);
    assert!(
        conns
            .last()
            .expect("last")
            .options
            .as_ref()
            .expect("options")["attempt"]
            .as_u64()
            > Some(0)
    );
    engine.link_close(link.id, 1000, "").await.expect("close");
    link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_gives_up_after_the_limit() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions {
            reconnect: Some(ReconnectPolicy {
                max_attempts: 2,
                initial_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(40),
            }),
            ..ConnectOptions::new(format!("ws://127.0.0.1:{port}/"))
        })
        .await
        .expect("link");
    let done = link_until(&engine, link.id, "gave up", |l| {
        l.state == LinkState::Failed
    })
    .await;
    assert_eq!(done.attempts.len(), 3, "{done:?}");
    assert!(
        done.error
            .as_deref()
            .unwrap_or("")
            .contains("gave up after 2"),
        "{done:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_folder_follows_external_edits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("store");
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("hello.txt"), "hi {{counter}}").unwrap();
    std::fs::write(tdir.join("ignored.exe"), "x").unwrap();
    let t = Templates::open(store.clone(), tdir.clone())
        .await
        .expect("open");
    let list = t.list();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].mode),
        ("hello", TemplateMode::Text)
    );
    let mut changes = t.subscribe();

    // An external editor writes a new file: the app knows within a second.
    let started = Instant::now();
    std::fs::write(tdir.join("order.json"), "{\"buy\":1}").unwrap();
    let list = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .expect("change within 1 s")
        .expect("list");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["hello", "order"]
    );
    // ... edits it ...
    std::fs::write(tdir.join("order.json"), "{\"buy\":2}").unwrap();
    let list = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .expect("edit")
        .expect("list");
    assert_eq!(list[1].body, "{\"buy\":2}");
    // The store mirrors the folder.
    let rows = store.templates().expect("rows");
    assert_eq!(
        rows.iter()
            .map(|r| (r.name.as_str(), r.body.as_str()))
            .collect::<Vec<_>>(),
        [("hello", "hi {{counter}}"), ("order", "{\"buy\":2}")]
    );
    // ... and deletes it.
    std::fs::remove_file(tdir.join("order.json")).unwrap();
    let list = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .expect("delete")
        .expect("list");
    assert_eq!(list.len(), 1);

    // Saved from the app: a file; renamed with a new mode: the old file goes.
    let saved = t
        .save("ping", TemplateMode::Hex, "01 02", None)
        .await
        .expect("save");
    assert!(std::path::Path::new(&saved.path).is_file());
    t.save("ping2", TemplateMode::Base64, "AQI=", Some("ping"))
        .await
        .expect("rename");
    assert!(!tdir.join("ping.hex").exists());
    assert_eq!(
        std::fs::read_to_string(tdir.join("ping2.b64")).unwrap(),
        "AQI="
    );
    assert!(t
        .save("../evil", TemplateMode::Text, "x", None)
        .await
        .is_err());
    t.delete("ping2").await.expect("delete");
    assert_eq!(t.list().len(), 1);
    assert!(store
        .templates()
        .expect("rows")
        .iter()
        .all(|r| r.name != "ping2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_on_save_sends_each_save_once() {
    let server = EchoServer::start().await.expect("server");
    let (dir, engine) = engine();
    let link = engine
        .open_link(ConnectOptions::new(server.url()))
        .await
        .expect("link");
    link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
    let file = dir.path().join("payload.json");
    std::fs::write(&file, "{\"v\":0}").unwrap();
    let watch = engine
        .send_on_save(
            link.id,
            1,
            SendOnSaveOptions {
                expand: true,
                ..SendOnSaveOptions::new(&file)
            },
        )
        .expect("watch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watch.info().sent, 0, "nothing is sent before a save");

    // A save in several writes (truncate, then two writes) is one message.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&file).unwrap();
        f.write_all(b"{\"n\":{{counter}},").unwrap();
        f.flush().unwrap();
        f.write_all(b"\"v\":1}").unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while watch.info().sent < 1 {
        assert!(Instant::now() < deadline, "{:?}", watch.info());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(watch.info().sent, 1);
    // An editor's save: write a temporary file and rename it over.
    let tmp = dir.path().join(".payload.json.swp");
    std::fs::write(&tmp, "{\"n\":{{counter}},\"v\":2}").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    while watch.info().sent < 2 {
        assert!(Instant::now() < deadline, "{:?}", watch.info());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(watch.info().sent, 2);
    watch.stop().await;
    std::fs::write(&file, "after stop").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    let sent: Vec<String> = frames(&engine, link.session_id)
        .await
        .into_iter()
        .filter(|f| f.dir == Direction::Client && f.opcode == Opcode::Text)
        .map(|f| {
            assert!(f.injected);
            f.preview
        })
        .collect();
    assert_eq!(sent, ["{\"n\":1,\"v\":1}", "{\"n\":2,\"v\":2}"]);

    // Binary mode sends the bytes as they are.
    let bin = dir.path().join("blob.bin");
    std::fs::write(&bin, [0u8, 1, 2]).unwrap();
    let w = engine
        .send_on_save(
            link.id,
            2,
            SendOnSaveOptions {
                mode: SendMode::Binary,
                ..SendOnSaveOptions::new(&bin)
            },
        )
        .expect("watch bin");
    std::fs::write(&bin, [9u8, 8, 7, 255]).unwrap();
    while w.info().sent < 1 {
        assert!(Instant::now() < deadline, "{:?}", w.info());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.stop().await;
    let f = frames(&engine, link.session_id).await;
    let last_bin = f
        .iter()
        .rev()
        .find(|f| f.dir == Direction::Client && f.opcode == Opcode::Binary)
        .expect("binary sent");
    let stored = engine
        .store()
        .frame(link.session_id, last_bin.seq)
        .expect("frame");
    assert_eq!(&stored.payload[..], [9u8, 8, 7, 255]);
    assert!(engine
        .send_on_save(
            link.id,
            3,
            SendOnSaveOptions::new(dir.path().join("missing"))
        )
        .is_err());
    engine.link_close(link.id, 1000, "").await.expect("close");
    server.stop().await;
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn client(url: &str) -> Client {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("client connects")
        .0
}

async fn next_data(ws: &mut Client) -> Message {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("message in time")
            .expect("open")
            .expect("ok");
        if m.is_text() || m.is_binary() || m.is_close() {
            return m;
        }
    }
}

fn json(m: &Message) -> serde_json::Value {
    serde_json::from_str(m.to_text().expect("text")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_echo_and_chat() {
    let echo = Demo::start(DemoOptions::new(DemoKind::Echo))
        .await
        .expect("echo");
    let mut c = client(&echo.url()).await;
    c.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(next_data(&mut c).await, Message::Text("hello".into()));
    c.send(Message::Binary(vec![0u8, 255].into()))
        .await
        .unwrap();
    assert_eq!(
        next_data(&mut c).await,
        Message::Binary(vec![0u8, 255].into())
    );
    echo.stop().await;
    // Stopping closes clients with 1001.
    match next_data(&mut c).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1001),
        other => panic!("{other:?}"),
    }

    let chat = Demo::start(DemoOptions::new(DemoKind::Chat))
        .await
        .expect("chat");
    let mut a = client(&chat.url()).await;
    let join_a = json(&next_data(&mut a).await);
    assert_eq!(join_a["type"], "join");
    let mut b = client(&chat.url()).await;
    let join_b = json(&next_data(&mut a).await);
    assert_eq!(join_b["type"], "join");
    assert_ne!(join_a["user"], join_b["user"]);
    assert_eq!(json(&next_data(&mut b).await)["type"], "join");
    b.send(Message::Text("hi all".into())).await.unwrap();
    for ws in [&mut a, &mut b] {
        let m = json(&next_data(ws).await);
        assert_eq!(
            (m["type"].as_str(), m["text"].as_str()),
            (Some("message"), Some("hi all"))
        );
        assert_eq!(m["user"], join_b["user"]);
    }
    b.close(None).await.unwrap();
    let leave = json(&next_data(&mut a).await);
    assert_eq!(
        (leave["type"].as_str(), &leave["user"]),
        (Some("leave"), &join_b["user"])
    );
    chat.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_ticker_keeps_its_rate() {
    assert!(Demo::start(DemoOptions {
        rate: Some(0),
        ..DemoOptions::new(DemoKind::Ticker)
    })
    .await
    .is_err());
    assert!(Demo::start(DemoOptions {
        rate: Some(10_001),
        ..DemoOptions::new(DemoKind::Ticker)
    })
    .await
    .is_err());
    assert!(Demo::start(DemoOptions {
        listen: "0.0.0.0:0".into(),
        ..DemoOptions::new(DemoKind::Echo)
    })
    .await
    .is_err());
    let ticker = Demo::start(DemoOptions {
        rate: Some(2000),
        ..DemoOptions::new(DemoKind::Ticker)
    })
    .await
    .expect("ticker");
    let mut c = client(&ticker.url()).await;
    let first = json(&next_data(&mut c).await);
    assert_eq!(first["type"], "tick");
    assert!(first["price"].as_f64().is_some());
    let start = Instant::now();
    let mut n = 0u64;
    let mut last_seq = first["seq"].as_u64().unwrap();
    while start.elapsed() < Duration::from_secs(1) {
        let m = json(&next_data(&mut c).await);
        let seq = m["seq"].as_u64().unwrap();
        assert_eq!(seq, last_seq + 1);
        last_seq = seq;
        n += 1;
    }
    // 2000/s: within a generous band on a shared 2-core machine.
    assert!((1200..=2600).contains(&n), "{n} messages in 1 s");
    ticker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_telemetry_and_notifications() {
    let t = Demo::start(DemoOptions::new(DemoKind::Telemetry))
        .await
        .expect("telemetry");
    let mut c = client(&t.url()).await;
    for expected_seq in 1..=3u64 {
        let Message::Binary(b) = next_data(&mut c).await else {
            panic!("binary expected")
        };
        let v: serde_json::Value = rmp_serde::from_slice(&b).expect("MessagePack");
        assert_eq!(v["seq"], expected_seq);
        assert_eq!(v["sensor"], "env-1");
        assert!(v["temperature"].as_f64().is_some() && v["humidity"].as_f64().is_some());
    }
    t.stop().await;
    let n = Demo::start(DemoOptions::new(DemoKind::Notifications))
        .await
        .expect("notifications");
    let mut c = client(&n.url()).await;
    let started = Instant::now();
    let a = json(&next_data(&mut c).await);
    let b = json(&next_data(&mut c).await);
    assert_eq!(
        (a["type"].as_str(), a["id"].as_u64(), b["id"].as_u64()),
        (Some("notification"), Some(1), Some(2))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    n.stop().await;
}

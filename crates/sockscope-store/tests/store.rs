//! The store against real SQLite files in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use bytes::Bytes;
use common::{newer_version_db, session_with_connection};
use sockscope_proto::{Direction, FrameRecord, Opcode};
use sockscope_store::{
    ClosedBy, ConnState, ConnectionEvent, NewConnection, SessionKind, Store, StoreError,
    StoreEvent, BATCH_MAX, SCHEMA_VERSION,
};

fn user_version(path: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(path).expect("open");
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

#[test]
fn migrates_an_empty_file_to_the_latest_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/s.db");
    let store = Store::open(&path).expect("open");
    assert!(store.sessions().expect("sessions").is_empty());
    drop(store);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let c = rusqlite::Connection::open(&path).expect("open");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    for table in ["sessions", "connections", "frames"] {
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, 1, "table {table}");
    }
}

#[test]
fn refuses_a_database_from_a_newer_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = newer_version_db(&dir.path().join("new.db"));
    match Store::open(&path) {
        Err(e @ StoreError::TooNew { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("newer Sockscope"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer database was opened"),
    }
    // Refusing never changes the file.
    assert_eq!(user_version(&path), SCHEMA_VERSION + 1);
}

fn frame(s: sockscope_proto::SessionId, c: sockscope_proto::ConnectionId, i: usize) -> FrameRecord {
    let (dir, opcode, payload) = match i % 4 {
        0 => (
            Direction::Client,
            Opcode::Text,
            Bytes::from(format!("msg {i}")),
        ),
        1 => (
            Direction::Server,
            Opcode::Text,
            Bytes::from(format!("echo {i}")),
        ),
        2 => (
            Direction::Client,
            Opcode::Binary,
            Bytes::from(vec![i as u8, 0, 255]),
        ),
        _ => (Direction::Server, Opcode::Ping, Bytes::from_static(b"")),
    };
    FrameRecord::message(s, c, dir, opcode, payload, 1_000_000 + i as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_writer_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("rt.db")).expect("open");
    let mut events = store.subscribe();
    let s = store
        .create_session("rt", SessionKind::Client)
        .await
        .expect("session");
    let c = store
        .create_connection(NewConnection {
            session: s,
            url: "ws://127.0.0.1:1/x".into(),
            request_headers: vec![("X-Test".into(), "1".into())],
            insecure: false,
            created_at_us: 5,
        })
        .await
        .expect("connection");
    const N: usize = 1500;
    for i in 0..N {
        store.record_frame(frame(s, c, i)).await.expect("record");
    }
    store
        .update_connection(ConnectionEvent::Closed {
            id: c,
            at_us: 9,
            code: Some(4000),
            reason: "done".into(),
            by: ClosedBy::Server,
        })
        .await
        .expect("close");
    store.flush().await.expect("flush");

    let frames = store.frames_after(s, 0, 10_000).expect("frames");
    assert_eq!(frames.len(), N);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.seq, i as i64 + 1);
        let want = frame(s, c, i);
        assert_eq!(
            (f.dir, f.opcode, f.ts_us),
            (want.dir, want.opcode, want.ts_us)
        );
        assert_eq!(f.len, want.payload.len() as u64);
    }
    assert_eq!(frames[0].preview, "msg 0");
    assert_eq!(frames[2].preview, "02 00 ff");
    let full = store.frame(s, 3).expect("frame 3");
    assert_eq!(full.payload, vec![2u8, 0, 255]);
    assert!(matches!(
        store.frame(s, N as i64 + 1),
        Err(StoreError::NotFound(_))
    ));

    let after = store.frames_after(s, 1000, 100).expect("page");
    assert_eq!(after.first().map(|f| f.seq), Some(1001));
    assert_eq!(after.len(), 100);

    let summary = store.session(s).expect("summary");
    assert_eq!((summary.frames, summary.connections), (N as i64, 1));
    let conn = store.connection(c).expect("conn");
    assert_eq!(conn.state, ConnState::Closed);
    assert_eq!(
        (conn.close_code, conn.closed_by),
        (Some(4000), Some(ClosedBy::Server))
    );
    assert_eq!(
        conn.request_headers,
        vec![("X-Test".to_owned(), "1".to_owned())]
    );

    // The broadcast saw every frame, in order, in batches of at most BATCH_MAX.
    let mut seen = Vec::new();
    let mut batches = 0;
    while let Ok(ev) = events.try_recv() {
        if let StoreEvent::Frames(batch, sid) = ev {
            assert_eq!(sid, s);
            assert!(batch.len() <= BATCH_MAX);
            batches += 1;
            seen.extend(batch.iter().map(|f| f.seq));
        }
    }
    assert_eq!(seen, (1..=N as i64).collect::<Vec<_>>());
    assert!(batches >= N / BATCH_MAX, "{batches} batches");
}

/// The window a live view could fall into: nobody listened when a batch began (so the writer
/// built no summaries for it), then a view subscribed and read the database before the batch
/// was committed. The batch must still be announced, or the view misses it until the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_arriving_while_a_batch_is_written_hears_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.db");
    let store = Store::open(&path).expect("open");
    let (s, c) = session_with_connection(&store, "late", SessionKind::Client).await;
    store.flush().await.expect("flush");

    // Another connection holds the write lock: the writer's batch waits inside its transaction
    // (its busy timeout is 5 s) with its summaries already decided.
    let lock = rusqlite::Connection::open(&path).expect("open lock");
    lock.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let writing = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..3 {
                store.record_frame(frame(s, c, i)).await?;
            }
            store.flush().await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut events = store.subscribe();
    assert!(
        store.frames_after(s, 0, 10).expect("read").is_empty(),
        "the batch is not committed yet"
    );
    lock.execute_batch("COMMIT").expect("unlock");
    writing.await.expect("join").expect("written");

    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        match ev {
            StoreEvent::Frames(batch, sid) if sid == s => seen.extend(batch.iter().map(|f| f.seq)),
            StoreEvent::WriteError(e) => panic!("the writer paused instead of waiting: {e}"),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        vec![1, 2, 3],
        "the late subscriber hears of every frame"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_a_file_keeps_its_data_and_continues_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keep.db");
    let store = Store::open(&path).expect("open");
    let (s, c) = session_with_connection(&store, "keep", SessionKind::Client).await;
    for i in 0..10 {
        store.record_frame(frame(s, c, i)).await.expect("record");
    }
    // Dropping the last handle commits what is queued.
    drop(store);

    let store = Store::open(&path).expect("reopen");
    let sessions = store.sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].name.as_str(), sessions[0].frames),
        ("keep", 10)
    );
    store.record_frame(frame(s, c, 10)).await.expect("record");
    store.flush().await.expect("flush");
    let frames = store.frames_after(s, 0, 100).expect("frames");
    assert_eq!(
        frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_a_missing_session_are_dropped_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("m.db")).expect("open");
    let (s, c) = session_with_connection(&store, "ok", SessionKind::Client).await;
    let ghost = sockscope_proto::SessionId(999);
    store
        .record_frame(frame(ghost, c, 0))
        .await
        .expect("record");
    store.record_frame(frame(s, c, 1)).await.expect("record");
    store.flush().await.expect("flush");
    assert_eq!(store.frames_after(s, 0, 10).expect("frames").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_jsonl_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("e.db")).expect("open");
    let (s, c) = session_with_connection(&store, "exp", SessionKind::Client).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    for (dir, op, p) in [
        (
            Direction::Client,
            Opcode::Text,
            Bytes::from_static("héllo".as_bytes()),
        ),
        (
            Direction::Server,
            Opcode::Binary,
            Bytes::from_static(&[0, 1, 2]),
        ),
        (
            Direction::Server,
            Opcode::Text,
            Bytes::from_static(&[0xff, 0xfe]),
        ),
        (Direction::Server, Opcode::Close, Bytes::from(close)),
    ] {
        store
            .record_frame(
                FrameRecord::message(s, c, dir, op, p, 10).injected(dir == Direction::Client),
            )
            .await
            .expect("record");
    }
    store
        .update_connection(ConnectionEvent::Closed {
            id: c,
            at_us: 11,
            code: Some(1000),
            reason: "bye".into(),
            by: ClosedBy::Server,
        })
        .await
        .expect("closed");
    store.flush().await.expect("flush");
    let mut out = Vec::new();
    store.export_jsonl(s, &mut out).expect("export");
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.starts_with(r#"{"format":"sockscope-session","version":1,"session":{"id":"#),
        "{text}"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let types: Vec<&str> = lines[1..]
        .iter()
        .map(|v| v["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        types,
        ["connection", "frame", "frame", "frame", "frame", "close"]
    );
    assert_eq!(lines[2]["text"], "héllo");
    assert_eq!(lines[2]["injected"], true);
    assert_eq!(lines[3]["base64"], "AAEC");
    assert!(lines[3].get("injected").is_none());
    assert_eq!(
        lines[4]["base64"], "//4=",
        "invalid UTF-8 text goes out as base64"
    );
    assert_eq!(
        (
            lines[5]["close_code"].as_u64(),
            lines[5]["close_reason"].as_str()
        ),
        (Some(1000), Some("bye"))
    );
    assert_eq!(lines[6]["by"], "server");
    assert_eq!(lines[6]["code"], 1000);
}

/// Frame `i` of `s`: its size, kind and extras vary with `i`, so that some payloads go to the
/// payload file (≥ 512 bytes) and some stay in the row, and every column takes real values.
fn varied_frame(
    s: sockscope_proto::SessionId,
    c: sockscope_proto::ConnectionId,
    i: usize,
) -> FrameRecord {
    let size = [10, 700, 300, 2000, 0, 511, 512][i % 7];
    let mut body = format!("s{} f{i} ", s.0).into_bytes();
    body.resize(size.max(body.len()), b'a' + (i % 26) as u8);
    let dir = if i.is_multiple_of(2) {
        Direction::Client
    } else {
        Direction::Server
    };
    let opcode = if i.is_multiple_of(5) {
        Opcode::Binary
    } else {
        Opcode::Text
    };
    let mut f = FrameRecord::message(s, c, dir, opcode, Bytes::from(body), 7_000 + i as i64);
    f.fin = !i.is_multiple_of(3);
    f.rsv1 = i.is_multiple_of(4);
    if i.is_multiple_of(11) {
        f.issues = Some(format!("note {i}"));
    }
    if i.is_multiple_of(13) {
        f.inflated = Some(Bytes::from(format!("inflated {i}")));
    }
    if i.is_multiple_of(2) {
        f.masked = true;
        f.mask_key = Some([i as u8, 1, 2, 3]);
    }
    f
}

/// The writer puts a batch's frames in with many rows per statement. Two sessions interleaved,
/// reads of every size (more than one statement's worth, odd tails), and an operation that is
/// not a frame in the middle of a batch: every row must come back in order, each value where
/// it belongs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_written_many_rows_per_statement_keep_order_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("rows.db")).expect("open");
    let (s1, c1) = session_with_connection(&store, "one", SessionKind::Proxy).await;
    let (s2, c2) = session_with_connection(&store, "two", SessionKind::Proxy).await;
    let reads = [1usize, 300, 7, 129, 128, 16, 17, 3, 250, 64];
    let (mut n1, mut n2) = (0usize, 0usize);
    for (k, &len) in reads.iter().enumerate() {
        let a: Vec<FrameRecord> = (n1..n1 + len).map(|i| varied_frame(s1, c1, i)).collect();
        n1 += len;
        let b: Vec<FrameRecord> = (n2..n2 + len / 2 + 1)
            .map(|i| varied_frame(s2, c2, i))
            .collect();
        n2 += len / 2 + 1;
        if k == 4 {
            // An operation that is not a frame, queued between two reads without waiting for
            // it in between: it lands inside a batch.
            let (closed, first, second) = tokio::join!(
                store.update_connection(ConnectionEvent::Closed {
                    id: c2,
                    at_us: 8_000,
                    code: Some(1000),
                    reason: "bye".into(),
                    by: ClosedBy::Client,
                }),
                store.record_frames(a),
                store.record_frames(b),
            );
            closed.expect("close");
            first.expect("record");
            second.expect("record");
        } else {
            store.record_frames(a).await.expect("record");
            store.record_frames(b).await.expect("record");
        }
    }
    store.flush().await.expect("flush");

    for (s, c, n) in [(s1, c1, n1), (s2, c2, n2)] {
        let rows = store.frames_after(s, 0, 10_000).expect("frames");
        assert_eq!(rows.len(), n, "session {}", s.0);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.seq, i as i64 + 1);
        }
        for i in 0..n {
            let want = varied_frame(s, c, i);
            let got = store.frame(s, i as i64 + 1).expect("frame");
            assert_eq!(got.connection, c);
            assert_eq!(got.ts_us, want.ts_us, "frame {i}");
            assert_eq!((got.dir, got.opcode), (want.dir, want.opcode), "frame {i}");
            assert_eq!(
                (got.fin, got.rsv1, got.masked),
                (want.fin, want.rsv1, want.masked),
                "frame {i}"
            );
            assert_eq!(got.len, want.payload.len() as u64, "frame {i}");
            assert_eq!(got.payload, want.payload.to_vec(), "frame {i}");
            assert_eq!(got.note, want.issues, "frame {i}");
            assert_eq!(
                got.inflated,
                want.inflated.as_ref().map(|b| b.to_vec()),
                "frame {i}"
            );
            assert_eq!(got.mask_key, want.mask_key, "frame {i}");
        }
        let summary = store.session(s).expect("summary");
        assert_eq!(summary.frames, n as i64);
    }
    assert_eq!(store.connection(c2).expect("conn").state, ConnState::Closed);
}

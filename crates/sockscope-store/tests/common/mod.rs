//! Shared by the store's integration tests: a session with every kind of frame, and
//! helpers to compare exports.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use bytes::Bytes;
use serde_json::Value;
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{
    ClosedBy, ConnectionEvent, NewConnection, SessionKind, Store, SCHEMA_VERSION,
};
use std::collections::HashMap;

pub const T0: i64 = 1_764_000_000_000_000;

/// Payloads shorter than this stay in their rows in the stores [`rows_store`] opens.
pub const ROWS_UP_TO: usize = 512;
const _: () = assert!(ROWS_UP_TO > sockscope_store::PAYLOAD_FILE_MIN);

/// A store that keeps payloads under [`ROWS_UP_TO`] bytes in their rows, for tests about the
/// database's own pages (by default only payloads under `PAYLOAD_FILE_MIN` do).
pub fn rows_store(path: &std::path::Path) -> Store {
    Store::open_with(
        path,
        sockscope_store::StoreOptions {
            payload_file_min: Some(ROWS_UP_TO),
            ..Default::default()
        },
    )
    .expect("open")
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `p` with `suffix` appended to its file name (`x.db` → `x.db-wal`), as the store names a
/// database's companions.
pub fn sibling(p: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    std::path::PathBuf::from(s)
}

/// A multi-threaded runtime (2 workers), for tests whose threads read while the store writes.
pub fn rt_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Text frame `i` from the client: "frame i " padded with `x` to `size` bytes, timestamp `i`.
pub fn sized_frame(s: SessionId, c: ConnectionId, i: usize, size: usize) -> FrameRecord {
    let mut body = format!("frame {i} ").into_bytes();
    body.resize(size.max(body.len()), b'x');
    FrameRecord::message(
        s,
        c,
        Direction::Client,
        Opcode::Text,
        Bytes::from(body),
        i as i64,
    )
}

pub fn frame(
    s: SessionId,
    c: ConnectionId,
    dir: Direction,
    opcode: Opcode,
    payload: &[u8],
    ts: i64,
) -> FrameRecord {
    let mut f = FrameRecord::message(s, c, dir, opcode, Bytes::copy_from_slice(payload), T0 + ts);
    f.masked = dir == Direction::Client;
    f
}

/// A database at `path` made by this version, then stamped with the next schema version as
/// if a newer Sockscope had written it. Returns `path`.
pub fn newer_version_db(path: &std::path::Path) -> std::path::PathBuf {
    drop(Store::open(path).expect("open"));
    let c = rusqlite::Connection::open(path).expect("open");
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    path.to_path_buf()
}

/// A session of `kind` with one connection to `url` (no request headers) created at
/// `created_at_us`.
pub async fn session_with_connection_at(
    store: &Store,
    name: &str,
    kind: SessionKind,
    url: &str,
    created_at_us: i64,
) -> (SessionId, ConnectionId) {
    let s = store.create_session(name, kind).await.expect("session");
    let c = store
        .create_connection(NewConnection {
            session: s,
            url: url.into(),
            request_headers: vec![],
            insecure: false,
            created_at_us,
        })
        .await
        .expect("connection");
    (s, c)
}

/// A proxy session named `name` with `n` connections (`ws://127.0.0.1:9/<i>`, created at
/// [`T0`]).
pub async fn session_with_conns(
    store: &Store,
    name: &str,
    n: usize,
) -> (SessionId, Vec<ConnectionId>) {
    let s = store
        .create_session(name, SessionKind::Proxy)
        .await
        .expect("session");
    let mut conns = Vec::new();
    for i in 0..n {
        let c = store
            .create_connection(NewConnection {
                session: s,
                url: format!("ws://127.0.0.1:9/{i}"),
                request_headers: vec![],
                insecure: false,
                created_at_us: T0,
            })
            .await
            .expect("connection");
        conns.push(c);
    }
    (s, conns)
}

/// A session of `kind` with one connection to a port nothing listens on, created at 1 µs.
pub async fn session_with_connection(
    store: &Store,
    name: &str,
    kind: SessionKind,
) -> (SessionId, ConnectionId) {
    session_with_connection_at(store, name, kind, "ws://127.0.0.1:1/", 1).await
}

/// A proxy session with two interleaved connections and a failed one: every opcode,
/// fragments, binary, invalid UTF-8 text, an injected frame, compressed frames with their
/// inflated message, a reserved opcode with RSV2/RSV3, a truncated frame, closes.
pub async fn rich_session(store: &Store, name: &str) -> SessionId {
    let s = store
        .create_session(name, SessionKind::Proxy)
        .await
        .expect("session");
    let conn = |url: &str, at: i64| NewConnection {
        session: s,
        url: url.into(),
        request_headers: vec![
            ("Host".into(), "127.0.0.1:9".into()),
            (
                "Sec-WebSocket-Extensions".into(),
                "permessage-deflate".into(),
            ),
        ],
        insecure: false,
        created_at_us: T0 + at,
    };
    let a = store
        .create_connection(conn("ws://127.0.0.1:9/a?x=1&y", 0))
        .await
        .expect("conn a");
    store
        .update_connection(ConnectionEvent::Opened {
            id: a,
            at_us: T0 + 5,
            request_headers: vec![("Host".into(), "127.0.0.1:9".into())],
            response_status: 101,
            response_headers: vec![
                ("Upgrade".into(), "websocket".into()),
                ("Sec-WebSocket-Protocol".into(), "chat".into()),
            ],
            subprotocol: Some("chat".into()),
        })
        .await
        .expect("open a");
    let b = store
        .create_connection(conn("wss://example.test/b", 12))
        .await
        .expect("conn b");
    store
        .update_connection(ConnectionEvent::Opened {
            id: b,
            at_us: T0 + 20,
            request_headers: vec![],
            response_status: 101,
            response_headers: vec![],
            subprotocol: None,
        })
        .await
        .expect("open b");

    let mut frames = vec![
        {
            let mut f = frame(
                s,
                a,
                Direction::Client,
                Opcode::Text,
                b"hello <b>world</b>",
                10,
            );
            f.mask_key = Some([0x37, 0xfa, 0x21, 0x3d]);
            f
        },
        frame(s, b, Direction::Server, Opcode::Binary, &[0, 1, 2, 255], 21),
        {
            let mut f = frame(
                s,
                a,
                Direction::Server,
                Opcode::Text,
                &[0xff, 0xfe, b'a'],
                22,
            );
            f.issues = Some("invalid UTF-8 in a text message".into());
            f
        },
        frame(s, a, Direction::Client, Opcode::Ping, b"p1", 23),
        frame(s, a, Direction::Server, Opcode::Pong, b"p1", 24),
        {
            let mut f = frame(s, a, Direction::Server, Opcode::Text, b"frag-", 30);
            f.fin = false;
            f
        },
        frame(
            s,
            b,
            Direction::Client,
            Opcode::Text,
            b"between fragments",
            31,
        ),
        {
            let mut f = frame(s, a, Direction::Server, Opcode::Continuation, b"ment", 32);
            f.fin = false;
            f
        },
        frame(s, a, Direction::Server, Opcode::Continuation, b"ed", 33),
        {
            let mut f = frame(s, a, Direction::Client, Opcode::Text, b"injected!", 40);
            f.injected = true;
            f
        },
        {
            let mut f = frame(
                s,
                b,
                Direction::Server,
                Opcode::Text,
                &[0x2a, 0xca, 0x01],
                50,
            );
            f.rsv1 = true;
            f.inflated = Some(Bytes::from_static(b"inflated zebra text"));
            f
        },
        {
            let mut f = frame(s, b, Direction::Server, Opcode::Binary, &[0x63, 0x00], 51);
            f.rsv1 = true;
            f.inflated = Some(Bytes::from_static(&[0x80, 0x81, 0x00]));
            f
        },
        {
            let mut f = frame(s, b, Direction::Client, Opcode::Reserved(3), b"odd", 52);
            f.rsv2 = true;
            f.rsv3 = true;
            f.masked = false;
            f.issues = Some("reserved opcode 3; reserved bits RSV2/RSV3 set".into());
            f
        },
        {
            let mut f = frame(s, b, Direction::Server, Opcode::Binary, b"0123456789", 53);
            f.truncated = true;
            f.len_wire = 100_000;
            f
        },
    ];
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice("bye ✓".as_bytes());
    frames.push(frame(s, a, Direction::Client, Opcode::Close, &close, 60));
    frames.push(frame(s, a, Direction::Server, Opcode::Close, &close, 61));
    for f in frames {
        store.record_frame(f).await.expect("record");
    }
    store
        .update_connection(ConnectionEvent::Closed {
            id: a,
            at_us: T0 + 62,
            code: Some(1000),
            reason: "bye ✓".into(),
            by: ClosedBy::Client,
        })
        .await
        .expect("close a");
    store
        .update_connection(ConnectionEvent::Closed {
            id: b,
            at_us: T0 + 70,
            code: None,
            reason: String::new(),
            by: ClosedBy::Error,
        })
        .await
        .expect("close b");
    let failed = store
        .create_connection(conn("ws://127.0.0.1:1/refused", 80))
        .await
        .expect("conn c");
    store
        .update_connection(ConnectionEvent::Failed {
            id: failed,
            at_us: T0 + 81,
            error: "connection refused".into(),
            response_status: None,
            response_headers: vec![],
        })
        .await
        .expect("fail c");
    store.flush().await.expect("flush");
    s
}

pub fn export_jsonl(store: &Store, s: SessionId) -> String {
    let mut out = Vec::new();
    store.export_jsonl(s, &mut out).expect("export");
    String::from_utf8(out).expect("utf8")
}

pub fn export_har(store: &Store, s: SessionId) -> Value {
    let mut out = Vec::new();
    store.export_har(s, &mut out).expect("export har");
    serde_json::from_slice(&out).expect("har is JSON")
}

/// The JSONL lines with the session id dropped and connection ids renumbered by first
/// appearance, so that two exports of equal sessions compare equal.
pub fn normalized_jsonl(text: &str) -> Vec<Value> {
    let mut ids: HashMap<i64, i64> = HashMap::new();
    let mut renumber = |v: &mut Value| {
        if let Some(n) = v.as_i64() {
            let next = ids.len() as i64 + 1;
            *v = Value::from(*ids.entry(n).or_insert(next));
        }
    };
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("line is JSON");
            if let Some(s) = v.get_mut("session").and_then(Value::as_object_mut) {
                s.remove("id");
            }
            match v.get("type").and_then(Value::as_str) {
                Some("connection") => renumber(v.get_mut("id").expect("id")),
                Some("frame" | "close") => renumber(v.get_mut("connection").expect("connection")),
                _ => {}
            }
            v
        })
        .collect()
}

/// Row counts of the tables an import writes, read straight from the file.
pub fn row_counts(path: &std::path::Path) -> (i64, i64, i64, i64) {
    let c = rusqlite::Connection::open(path).expect("open");
    let n = |t: &str| -> i64 {
        c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
            .expect("count")
    };
    (
        n("sessions"),
        n("connections"),
        n("frames"),
        n("frames_fts"),
    )
}

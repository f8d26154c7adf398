//! HAR export (Chrome DevTools' shape) and import (Chrome, HTTP Toolkit, Sockscope; the
//! mitmproxy file is made live in tests/tests/har_mitmproxy.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use serde_json::{json, Value};
use sockscope_proto::{Direction, Opcode, SessionId};
use sockscope_store::{
    ClosedBy, ConnState, ImportFormat, ImportLimits, ImportOptions, SessionKind, Store, StoreError,
};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn import_har_text(
    store: &Store,
    text: &str,
    limits: ImportLimits,
) -> Result<SessionId, StoreError> {
    let opts = ImportOptions {
        source_name: Some("file.har".into()),
        total_bytes: None,
        limits,
    };
    store.import_har(&mut text.as_bytes(), &opts, &|_| {})
}

fn messages(entry: &Value) -> &Vec<Value> {
    entry["_webSocketMessages"].as_array().expect("messages")
}

#[test]
fn export_has_chrome_devtools_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("h.db")).expect("open");
    let s = rt().block_on(rich_session(&store, "rich"));
    let har = export_har(&store, s);
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert_eq!(log["creator"]["name"], "Sockscope");
    assert!(log["creator"]["version"].is_string());
    assert_eq!(log["pages"], json!([]));
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert_eq!(e["_resourceType"], "websocket");
        assert_eq!(e["request"]["method"], "GET");
        assert_eq!(e["request"]["httpVersion"], "HTTP/1.1");
        // Fields Chrome's importer reads as numbers must be numbers.
        for n in [
            &e["time"],
            &e["request"]["headersSize"],
            &e["request"]["bodySize"],
            &e["response"]["status"],
            &e["response"]["headersSize"],
            &e["response"]["bodySize"],
            &e["response"]["content"]["size"],
            &e["timings"]["send"],
            &e["timings"]["wait"],
            &e["timings"]["receive"],
        ] {
            assert!(n.is_number(), "{n} in {e}");
        }
        assert!(e["response"]["content"]["mimeType"].is_string());
        assert!(e["response"]["statusText"].is_string());
        assert!(e["response"]["redirectURL"].is_string());
        let started = e["startedDateTime"].as_str().expect("start");
        assert_eq!(started.len(), "2025-11-24T15:20:00.000Z".len(), "{started}");
        assert!(started.ends_with('Z'));
    }
    let a = &entries[0];
    assert_eq!(a["request"]["url"], "ws://127.0.0.1:9/a?x=1&y");
    assert_eq!(
        a["request"]["queryString"],
        json!([{"name": "x", "value": "1"}, {"name": "y", "value": ""}])
    );
    assert_eq!(
        a["request"]["headers"],
        json!([{"name": "Host", "value": "127.0.0.1:9"}])
    );
    assert_eq!(a["response"]["status"], 101);
    assert_eq!(a["response"]["statusText"], "Switching Protocols");
    assert_eq!(a["timings"]["wait"], json!(0.005));
    assert_eq!(
        a["_webSocketClose"],
        json!({"code": 1000, "reason": "bye ✓", "timestamp": (T0 + 62) as f64 / 1e6})
    );
    // Data messages only (no ping, pong or close), fragments joined, in order.
    let t = |us: i64| json!((T0 + us) as f64 / 1e6);
    assert_eq!(
        messages(a),
        &vec![
            json!({"type": "send", "time": t(10), "opcode": 1, "data": "hello <b>world</b>"}),
            json!({"type": "receive", "time": t(22), "opcode": 1, "data": "\u{fffd}\u{fffd}a"}),
            json!({"type": "receive", "time": t(33), "opcode": 1, "data": "frag-mented"}),
            json!({"type": "send", "time": t(40), "opcode": 1, "data": "injected!"}),
        ]
    );
    let b = &entries[1];
    assert_eq!(b["request"]["url"], "wss://example.test/b");
    assert_eq!(b["_webSocketClose"], "aborted");
    assert_eq!(
        messages(b),
        &vec![
            json!({"type": "receive", "time": t(21), "opcode": 2, "data": "AAEC/w=="}),
            json!({"type": "send", "time": t(31), "opcode": 1, "data": "between fragments"}),
            // Compressed messages are written inflated.
            json!({"type": "receive", "time": t(50), "opcode": 1, "data": "inflated zebra text"}),
            json!({"type": "receive", "time": t(51), "opcode": 2, "data": "gIEA"}),
            json!({"type": "receive", "time": t(53), "opcode": 2, "data": "MDEyMzQ1Njc4OQ=="}),
        ]
    );
    let c = &entries[2];
    assert_eq!(c["response"]["status"], 0);
    assert_eq!(c["response"]["_error"], "connection refused");
    assert_eq!(messages(c), &Vec::<Value>::new());
}

/// Entries without the connection ids (which a new import renumbers).
fn comparable(har: &Value) -> Vec<Value> {
    har["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().expect("entry").remove("connection");
            e
        })
        .collect()
}

#[test]
fn har_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("rt.db")).expect("open");
    let s = rt().block_on(rich_session(&store, "round <trip>"));
    let first = export_har(&store, s);
    let copy =
        import_har_text(&store, &first.to_string(), ImportLimits::default()).expect("import");
    let summary = store.session(copy).expect("session");
    assert_eq!(summary.name, "round <trip>");
    assert_eq!(summary.kind, SessionKind::Proxy);
    assert_eq!(summary.imported_from.as_deref(), Some("file.har"));
    assert_eq!((summary.connections, summary.frames), (3, 9));
    let second = export_har(&store, copy);
    let (e1, e2) = (comparable(&first), comparable(&second));
    assert_eq!(e1.len(), e2.len());
    for (x, y) in e1.iter().zip(&e2) {
        assert_eq!(x["_webSocketMessages"], y["_webSocketMessages"]);
        assert_eq!(x["request"], y["request"]);
        assert_eq!(x["response"], y["response"]);
        assert_eq!(x["_webSocketClose"], y["_webSocketClose"]);
    }
    // Start times are kept to the millisecond: a second round trip changes nothing.
    let again =
        import_har_text(&store, &second.to_string(), ImportLimits::default()).expect("again");
    assert_eq!(comparable(&export_har(&store, again)), e2);
    let conns = store.connections(copy).expect("conns");
    assert_eq!(conns[0].subprotocol.as_deref(), Some("chat"));
    assert_eq!(conns[2].state, ConnState::Failed);
    assert_eq!(conns[2].error.as_deref(), Some("connection refused"));
    assert_eq!(conns[1].closed_by, Some(ClosedBy::Error));
}

#[test]
fn imports_a_chrome_devtools_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("c.db")).expect("open");
    let summary = store
        .import_file(&fixture("chrome.har"), ImportLimits::default(), &|_| {})
        .expect("import");
    assert_eq!(summary.format, ImportFormat::Har);
    assert_eq!((summary.connections, summary.frames), (1, 3));
    let s = store.session(summary.session).expect("session");
    assert_eq!(
        (s.name.as_str(), s.kind),
        ("chrome.har", SessionKind::Client)
    );
    assert_eq!(s.imported_from.as_deref(), Some("chrome.har"));
    assert_eq!(s.created_at, "2026-11-26T15:20:12.25Z");
    let c = &store.connections(summary.session).expect("conns")[0];
    assert_eq!(c.url, "wss://chat.example.test/socket?room=7");
    assert_eq!(c.response_status, Some(101));
    assert_eq!(c.subprotocol.as_deref(), Some("chat.v2"));
    assert_eq!(
        c.request_headers[0],
        ("Host".to_owned(), "chat.example.test".to_owned())
    );
    assert_eq!(c.opened_at_us, Some(c.created_at_us + 8411));
    assert_eq!(c.state, ConnState::Closed);
    let f1 = store.frame(summary.session, 1).expect("frame");
    assert_eq!(
        (f1.dir, f1.opcode, f1.fin),
        (Direction::Client, Opcode::Text, true)
    );
    assert_eq!(f1.ts_us, 1_795_706_412_262_871);
    assert_eq!(f1.payload, br#"{"op":"join","room":7}"#);
    let f3 = store.frame(summary.session, 3).expect("frame");
    assert_eq!((f3.dir, f3.opcode), (Direction::Server, Opcode::Binary));
    assert_eq!(f3.payload, [0, 1, 2, 3, 255]);
    assert_eq!(f3.ts_us, 1_795_706_412_302_500);
    assert_eq!(store.search("welcome", 5).expect("search").len(), 1);
}

#[test]
fn imports_an_http_toolkit_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("open");
    let summary = store
        .import_file(
            &fixture("httptoolkit.har"),
            ImportLimits::default(),
            &|_| {},
        )
        .expect("import");
    assert_eq!((summary.connections, summary.frames), (1, 3));
    let s = store.session(summary.session).expect("session");
    assert_eq!(s.kind, SessionKind::Proxy);
    assert_eq!(s.created_at, "2026-06-26T16:33:12.12Z");
    let c = &store.connections(summary.session).expect("conns")[0];
    assert_eq!(c.url, "wss://ws.example.test/feed");
    assert_eq!(
        (c.close_code, c.close_reason.as_deref()),
        (Some(4001), Some("market closed"))
    );
    assert_eq!(c.closed_at_us, Some(1_782_491_596_370_500));
    assert_eq!(c.opened_at_us, Some(c.created_at_us + 12_250));
    let f2 = store.frame(summary.session, 2).expect("frame");
    assert_eq!(f2.payload, "price 101.5 ✓".as_bytes());
    let f3 = store.frame(summary.session, 3).expect("frame");
    assert_eq!(f3.payload, [0xde, 0xad, 0xbe, 0xef]);
    // Exported again, the close travels in HTTP Toolkit's extension.
    let har = export_har(&store, summary.session);
    let e = &har["log"]["entries"][0];
    assert_eq!(e["_webSocketClose"]["code"], 4001);
    assert_eq!(messages(e).len(), 3);
}

fn chrome_text() -> String {
    std::fs::read_to_string(fixture("chrome.har")).expect("fixture")
}

/// Imports `text`, expects an error containing `want`, checks nothing changed.
fn refused(text: &str, limits: ImportLimits, want: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let store = Store::open(&path).expect("open");
    rt().block_on(rich_session(&store, "existing"));
    let before = store.sessions().expect("sessions");
    // The full-text index is built beside capture: a search brings it up to date first.
    store.search("existing", 1).expect("search");
    let rows = row_counts(&path);
    let err = import_har_text(&store, text, limits).expect_err("the import must fail");
    assert!(matches!(err, StoreError::Import { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(want),
        "error {msg:?} does not contain {want:?}"
    );
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    assert_eq!(store.sessions().expect("sessions"), before);
    assert_eq!(row_counts(&path), rows);
    import_har_text(&store, &chrome_text(), ImportLimits::default()).expect("the fixture imports");
}

#[test]
fn hostile_har_files() {
    let text = chrome_text();
    refused(
        &text[..text.len() / 2],
        ImportLimits::default(),
        "the file ends too early",
    );
    refused(
        &text.replacen(r#""opcode": 1,"#, r#""opcode": "1","#, 1),
        ImportLimits::default(),
        r#"field "log.entries[1]._webSocketMessages[0].opcode": invalid type: string "1", expected i64"#,
    );
    refused(
        &text.replacen(r#""opcode": 1,"#, r#""opcode": "1","#, 1),
        ImportLimits::default(),
        "line 183: ",
    );
    refused(
        &text.replace("AAECA/8=", "not*base64"),
        ImportLimits::default(),
        r#"field "log.entries[1]._webSocketMessages[2].data": invalid base64"#,
    );
    refused(
        &text.replacen(r#""type": "send""#, r#""type": "sent""#, 1),
        ImportLimits::default(),
        r#"field "log.entries[1]._webSocketMessages[0].type": expected "send" or "receive", found "sent""#,
    );
    refused(
        &text.replace("1795706412.262871", "1e300"),
        ImportLimits::default(),
        "_webSocketMessages[0].time\": not a time",
    );
    refused(
        &text.replace(r#""opcode": 2,"#, r#""opcode": 99,"#),
        ImportLimits::default(),
        "unknown opcode 99",
    );
    refused(
        &text.replace("2026-11-26T15:20:12.250Z", "yesterday"),
        ImportLimits::default(),
        r#"field "log.entries[1].startedDateTime": not an ISO 8601 time"#,
    );
    refused(
        &text
            .replace("_webSocketMessages", "_other")
            .replace("\"websocket\"", "\"fetch\""),
        ImportLimits::default(),
        "no WebSocket connections in this HAR file",
    );
    refused(
        r#"{"log": {"entries": 5}}"#,
        ImportLimits::default(),
        r#"field "log.entries": invalid type: integer `5`"#,
    );
    refused(
        r#"{"log": {"entries": []}} trailing"#,
        ImportLimits::default(),
        "trailing characters",
    );
    refused(
        &text,
        ImportLimits {
            max_file_bytes: 1000,
            ..ImportLimits::default()
        },
        "the file is larger than 1000 bytes",
    );
    refused(
        &text,
        ImportLimits {
            max_payload_bytes: 10,
            ..ImportLimits::default()
        },
        r#"field "log.entries[1]._webSocketMessages[0].data": larger than 10 bytes"#,
    );
    refused(
        &text,
        ImportLimits {
            max_frames: 2,
            ..ImportLimits::default()
        },
        "more than 2 messages",
    );
}

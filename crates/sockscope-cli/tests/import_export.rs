//! `sockscope import` and `sockscope export --format jsonl|har` end to end on real files and a
//! real SQLite database: round trips, format detection, and bad files (exit 1, one line that
//! names the line and field, database unchanged).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use assert_cmd::Command;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

fn sockscope(db: &Path) -> Command {
    let mut cmd = Command::cargo_bin("sockscope").expect("binary");
    cmd.arg("--db")
        .arg(db)
        .env_remove("SOCKSCOPE_DB")
        .timeout(Duration::from_secs(60));
    cmd
}

/// A session in the JSONL format with every opcode, fragments, binary, invalid UTF-8, an
/// injected frame, a compressed message, a truncated frame, closes and a failed connection.
const SESSION: &str = r#"{"format":"sockscope-session","version":1,"session":{"id":41,"name":"<b>capture</b>","kind":"proxy","created_at":"2026-11-26T15:20:13Z","created_at_us":1795706413000000}}
{"type":"connection","id":5,"url":"ws://127.0.0.1:9000/feed","request_headers":[["Host","127.0.0.1:9000"],["Sec-WebSocket-Extensions","permessage-deflate"]],"response_status":101,"response_headers":[["Upgrade","websocket"]],"opened_at_us":1795706413000100,"created_at_us":1795706413000000}
{"type":"frame","connection":5,"seq":1,"ts_us":1795706413000200,"dir":"client","opcode":"text","fin":true,"rsv1":false,"len":5,"text":"hello","masked":true}
{"type":"frame","connection":5,"seq":2,"ts_us":1795706413000300,"dir":"server","opcode":"binary","fin":true,"rsv1":false,"len":4,"base64":"AAEC/w=="}
{"type":"frame","connection":5,"seq":3,"ts_us":1795706413000400,"dir":"server","opcode":"text","fin":true,"rsv1":false,"len":2,"base64":"//4=","issues":"invalid UTF-8 in a text message"}
{"type":"frame","connection":5,"seq":4,"ts_us":1795706413000500,"dir":"client","opcode":"ping","fin":true,"rsv1":false,"len":1,"base64":"cA==","masked":true}
{"type":"frame","connection":5,"seq":5,"ts_us":1795706413000600,"dir":"server","opcode":"pong","fin":true,"rsv1":false,"len":1,"base64":"cA=="}
{"type":"frame","connection":5,"seq":6,"ts_us":1795706413000700,"dir":"server","opcode":"text","fin":false,"rsv1":false,"len":5,"text":"frag-"}
{"type":"frame","connection":5,"seq":7,"ts_us":1795706413000800,"dir":"server","opcode":"continuation","fin":true,"rsv1":false,"len":2,"base64":"ZWQ="}
{"type":"frame","connection":5,"seq":8,"ts_us":1795706413000900,"dir":"client","opcode":"text","fin":true,"rsv1":false,"len":9,"text":"injected!","injected":true,"masked":true}
{"type":"frame","connection":5,"seq":9,"ts_us":1795706413001000,"dir":"server","opcode":"text","fin":true,"rsv1":true,"len":3,"base64":"KsoB","inflated_text":"inflated quokka"}
{"type":"frame","connection":5,"seq":10,"ts_us":1795706413001100,"dir":"server","opcode":"reserved-3","fin":true,"rsv1":false,"rsv2":true,"len":3,"base64":"b2Rk","issues":"reserved opcode 3"}
{"type":"frame","connection":5,"seq":11,"ts_us":1795706413001200,"dir":"server","opcode":"binary","fin":true,"rsv1":false,"len":100000,"base64":"MDEyMw==","truncated":true}
{"type":"frame","connection":5,"seq":12,"ts_us":1795706413001300,"dir":"client","opcode":"close","fin":true,"rsv1":false,"len":5,"base64":"A+hieWU=","close_code":1000,"close_reason":"bye","masked":true}
{"type":"frame","connection":5,"seq":13,"ts_us":1795706413001400,"dir":"server","opcode":"close","fin":true,"rsv1":false,"len":5,"base64":"A+hieWU=","close_code":1000,"close_reason":"bye"}
{"type":"close","connection":5,"ts_us":1795706413001500,"code":1000,"reason":"bye","by":"client"}
{"type":"connection","id":6,"url":"ws://127.0.0.1:1/","request_headers":[],"response_status":null,"response_headers":[],"opened_at_us":null,"created_at_us":1795706413002000}
{"type":"close","connection":6,"ts_us":1795706413002100,"code":1006,"reason":"","by":"error","error":"connection refused"}
"#;

fn session_id(stdout: &[u8]) -> i64 {
    let out = String::from_utf8_lossy(stdout);
    let line = out.lines().next().unwrap_or_default();
    line.strip_prefix("session ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("stdout is {out:?}"))
}

fn import(db: &Path, file: &Path) -> i64 {
    let out = sockscope(db).arg("import").arg(file).assert().success();
    session_id(&out.get_output().stdout)
}

fn export(db: &Path, id: i64, format: &str) -> String {
    let out = sockscope(db)
        .args(["export", &id.to_string(), "--format", format])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).expect("utf8")
}

/// JSONL lines without the session id, connection ids renumbered by first appearance.
fn normalized(text: &str) -> Vec<Value> {
    let mut ids: HashMap<i64, i64> = HashMap::new();
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("json line");
            if let Some(s) = v.get_mut("session").and_then(Value::as_object_mut) {
                s.remove("id");
            }
            for key in ["id", "connection"] {
                if v.get("type").is_some() {
                    if let Some(n) = v.get(key).and_then(Value::as_i64) {
                        let next = ids.len() as i64 + 1;
                        v[key] = Value::from(*ids.entry(n).or_insert(next));
                    }
                }
            }
            v
        })
        .collect()
}

#[test]
fn jsonl_import_export_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cli.db");
    let file = dir.path().join("capture.jsonl");
    std::fs::write(&file, SESSION).expect("write");

    let id = import(&db, &file);
    let first = export(&db, id, "jsonl");
    // What was written is what was read, frame for frame.
    assert_eq!(normalized(&first), normalized(SESSION));

    // export -o, then import that file: the same again.
    let out = dir.path().join("again.jsonl");
    sockscope(&db)
        .args(["export", &id.to_string(), "--format", "jsonl", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let id2 = import(&db, &out);
    assert_ne!(id, id2);
    assert_eq!(normalized(&export(&db, id2, "jsonl")), normalized(SESSION));

    let list = sockscope(&db)
        .args(["sessions", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).expect("json");
    let s = list
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["id"] == id)
        .expect("imported session listed");
    assert_eq!(s["name"], "<b>capture</b>");
    assert_eq!(s["kind"], "proxy");
    assert_eq!(s["imported_from"], "capture.jsonl");
    assert_eq!(s["frames"], 13);
    assert_eq!(s["connections"], 2);
    assert_eq!(s["pinned"], false);
    assert_eq!(s["tags"], serde_json::json!([]));
    assert_eq!(
        s["bytes"],
        5 + 4 + 2 + 1 + 1 + 5 + 2 + 9 + 3 + 3 + 100_000 + 5 + 5
    );
}

#[test]
fn har_export_import_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cli.db");
    let file = dir.path().join("capture.jsonl");
    std::fs::write(&file, SESSION).expect("write");
    let id = import(&db, &file);

    let har_file = dir.path().join("capture.har");
    sockscope(&db)
        .args(["export", &id.to_string(), "--format", "har", "-o"])
        .arg(&har_file)
        .assert()
        .success();
    let har: Value =
        serde_json::from_slice(&std::fs::read(&har_file).expect("read")).expect("har json");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let data: Vec<(&str, i64, &str)> = entries[0]["_webSocketMessages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["type"].as_str().expect("type"),
                m["opcode"].as_i64().expect("opcode"),
                m["data"].as_str().expect("data"),
            )
        })
        .collect();
    assert_eq!(
        data,
        [
            ("send", 1, "hello"),
            ("receive", 2, "AAEC/w=="),
            ("receive", 1, "\u{fffd}\u{fffd}"),
            ("receive", 1, "frag-ed"),
            ("send", 1, "injected!"),
            ("receive", 1, "inflated quokka"),
            ("receive", 2, "MDEyMw=="),
        ]
    );

    let id2 = import(&db, &har_file);
    let again: Value = serde_json::from_str(&export(&db, id2, "har")).expect("har json");
    let messages = |v: &Value| -> Vec<Value> {
        v["log"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["_webSocketMessages"].clone())
            .collect()
    };
    assert_eq!(messages(&again), messages(&har));
    assert_eq!(again["log"]["_sockscope"]["name"], "<b>capture</b>");
}

#[test]
fn bad_files_fail_with_line_and_field_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cli.db");
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, SESSION).expect("write");
    import(&db, &good);
    let before = sockscope(&db)
        .args(["sessions", "--json"])
        .assert()
        .success();
    let before = before.get_output().stdout.clone();

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "opcode.jsonl",
            SESSION.replace(r#""opcode":"ping""#, r#""opcode":"foo""#),
            r#": line 6: field "opcode": unknown opcode "foo""#,
        ),
        (
            "truncated.jsonl",
            SESSION[..SESSION.len() / 2].to_owned(),
            "not valid JSON",
        ),
        (
            "len.jsonl",
            SESSION.replace(
                r#""len":5,"text":"hello""#,
                r#""len":1073741824,"text":"hello""#,
            ),
            r#"line 3: field "len": 1073741824 does not match"#,
        ),
        (
            "conn.jsonl",
            SESSION.replace(r#""connection":5,"seq":4"#, r#""connection":8,"seq":4"#),
            r#"line 6: field "connection": unknown connection 8"#,
        ),
        (
            "bad.har",
            r#"{"log":{"entries":[{"startedDateTime":1}]}}"#.into(),
            "field \"log.entries[0].startedDateTime\"",
        ),
        ("empty.har", String::new(), "the file is empty"),
        (
            "text.txt",
            "hello".into(),
            "not a Sockscope JSONL session or a HAR file",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = sockscope(&db).arg("import").arg(&path).assert().code(1);
        let out = out.get_output();
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.starts_with("sockscope: "), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: names the file: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr:?} lacks {want:?}");
    }
    let after = sockscope(&db)
        .args(["sessions", "--json"])
        .assert()
        .success();
    assert_eq!(
        after.get_output().stdout,
        before,
        "the database is unchanged"
    );

    // Runtime error for a missing file, usage errors for missing or extra arguments.
    let missing = dir.path().join("missing.har");
    sockscope(&db).arg("import").arg(&missing).assert().code(1);
    sockscope(&db).arg("import").assert().code(2);
    sockscope(&db).args(["import", "a", "b"]).assert().code(2);
    sockscope(&db)
        .args(["export", "1", "--format", "csv"])
        .assert()
        .code(2);
    let out = sockscope(&db)
        .args(["export", "999", "--format", "har"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("session 999 not found"));
}

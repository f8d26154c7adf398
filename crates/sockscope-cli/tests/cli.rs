//! The `sockscope` binary end to end: connect → sessions → export against a real echo server
//! on 127.0.0.1 and a real SQLite file, checking the DESIGN.md §5 contract.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use assert_cmd::Command;
use serde_json::Value;
use sockscope_testkit::EchoServer;
use std::path::Path;
use std::time::Duration;

/// An echo server running on its own runtime for the length of a test.
struct Server {
    url: String,
    _rt: tokio::runtime::Runtime,
    _server: EchoServer,
}

fn server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(EchoServer::start()).expect("echo server");
    Server {
        url: server.url(),
        _rt: rt,
        _server: server,
    }
}

fn sockscope(db: &Path) -> Command {
    let mut cmd = Command::cargo_bin("sockscope").expect("binary");
    cmd.arg("--db")
        .arg(db)
        .env_remove("SOCKSCOPE_DB")
        .timeout(Duration::from_secs(30));
    cmd
}

#[test]
fn connect_sessions_export_round_trip() {
    let srv = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cli.db");

    let out = sockscope(&db)
        .args([
            "connect",
            &srv.url,
            "-H",
            "X-Trace: abc",
            "--subprotocol",
            "chat",
        ])
        .write_stdin("first line\nsecond ✓\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).expect("utf8");
    let mut lines = out.lines();
    let first = lines.next().expect("session line");
    let id: i64 = first
        .strip_prefix("session ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("first line is {first:?}"));
    assert_eq!(lines.collect::<Vec<_>>(), ["first line", "second ✓"]);

    let out = sockscope(&db)
        .args(["sessions", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sessions: Value = serde_json::from_slice(&out).expect("json");
    let s = &sessions[0];
    assert_eq!(s["id"], id);
    assert_eq!(s["kind"], "client");
    assert!(s["name"].as_str().is_some_and(|n| n.contains("127.0.0.1")));
    assert!(s["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') && t.contains('T')));
    assert_eq!(s["connections"], 1);
    assert_eq!(s["frames"], 6, "2 sent + 2 echoed + close each way");

    let table = sockscope(&db)
        .arg("sessions")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).expect("utf8");
    assert!(table
        .lines()
        .next()
        .is_some_and(|h| h.contains("ID") && h.contains("FRAMES")));

    let out = sockscope(&db)
        .args(["export", &id.to_string(), "--format", "jsonl"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let head = &lines[0];
    assert_eq!(head["format"], "sockscope-session");
    assert_eq!(head["version"], 1);
    assert_eq!(head["session"]["id"], id);
    assert_eq!(head["session"]["kind"], "client");

    let conn = &lines[1];
    assert_eq!(conn["type"], "connection");
    assert_eq!(conn["url"], srv.url.as_str());
    assert_eq!(conn["response_status"], 101);
    assert!(conn["opened_at_us"].as_i64().is_some());
    let has = |list: &Value, name: &str, value: Option<&str>| {
        list.as_array().is_some_and(|a| {
            a.iter().any(|kv| {
                kv[0].as_str().is_some_and(|k| k.eq_ignore_ascii_case(name))
                    && value.is_none_or(|v| kv[1] == v)
            })
        })
    };
    assert!(has(&conn["request_headers"], "x-trace", Some("abc")));
    assert!(has(
        &conn["request_headers"],
        "sec-websocket-protocol",
        Some("chat")
    ));
    assert!(has(&conn["response_headers"], "sec-websocket-accept", None));

    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 6);
    for f in &frames {
        for key in [
            "connection",
            "seq",
            "ts_us",
            "dir",
            "opcode",
            "fin",
            "rsv1",
            "len",
        ] {
            assert!(f.get(key).is_some(), "frame lacks {key}: {f}");
        }
        assert_eq!(f["connection"], conn["id"]);
    }
    let texts: Vec<(&str, &str)> = frames
        .iter()
        .filter(|f| f["opcode"] == "text")
        .map(|f| {
            (
                f["dir"].as_str().unwrap_or("?"),
                f["text"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    // Each direction keeps its order; how the two interleave depends on timing.
    for dir in ["client", "server"] {
        let mine: Vec<&str> = texts
            .iter()
            .filter(|(d, _)| *d == dir)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(mine, ["first line", "second ✓"], "{dir}");
    }
    assert!(frames
        .iter()
        .filter(|f| f["dir"] == "client")
        .all(|f| f["injected"] == true));
    let seqs: Vec<i64> = frames.iter().filter_map(|f| f["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let closes: Vec<&Value> = frames
        .iter()
        .copied()
        .filter(|f| f["opcode"] == "close")
        .collect();
    assert_eq!(closes.len(), 2);
    assert!(closes
        .iter()
        .all(|f| f["close_code"] == 1000 && f.get("base64").is_some()));
    let last = lines.last().expect("close line");
    assert_eq!(last["type"], "close");
    assert_eq!(
        (last["code"].as_i64(), last["by"].as_str()),
        (Some(1000), Some("client"))
    );
    assert!(last["ts_us"].as_i64().is_some());

    // -o writes the same bytes to a file.
    let file = dir.path().join("out.jsonl");
    sockscope(&db)
        .args(["export", &id.to_string(), "--format", "jsonl", "-o"])
        .arg(&file)
        .assert()
        .success()
        .stdout("");
    let written = std::fs::read_to_string(&file).expect("file");
    assert_eq!(written.lines().count(), lines.len());
}

#[test]
fn server_close_ends_connect_with_success() {
    let srv = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("close.db");
    // The server closes; stdin is still open (a sleeping writer), so only the close ends it.
    let assert = sockscope(&db)
        .args(["connect", &srv.url])
        .write_stdin("hi\n!close 4002 server says bye\n")
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("closed"), "{stderr}");
}

#[test]
fn errors_have_the_documented_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("err.db");
    // Usage error: 2.
    sockscope(&db)
        .args(["export", "1", "--format", "xml"])
        .assert()
        .code(2);
    sockscope(&db).arg("frobnicate").assert().code(2);
    // Runtime errors: 1, one line on stderr.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let out = sockscope(&db)
        .args(["connect", &format!("ws://127.0.0.1:{port}/")])
        .write_stdin("")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("session "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");

    let out = sockscope(&db)
        .args(["export", "999", "--format", "jsonl"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("session 999 not found"));
    sockscope(&db)
        .args(["connect", "http://example.invalid/"])
        .write_stdin("")
        .assert()
        .code(1);
    // A newer database is refused with a clear message and left alone.
    let newer = dir.path().join("newer.db");
    std::fs::write(&newer, b"").expect("touch");
    {
        sockscope(&newer).arg("sessions").assert().success();
    }
    let bump = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version=999'); c.commit()"])
        .arg(&newer)
        .status()
        .expect("python3");
    assert!(bump.success());
    let out = sockscope(&newer)
        .arg("sessions")
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer Sockscope"));
}

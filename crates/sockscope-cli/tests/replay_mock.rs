//! `sockscope replay`, `sockscope mock` and `sockscope diff` end to end: a recording made by
//! `sockscope connect` against a real echo server on 127.0.0.1, replayed to it, mocked (with
//! `sockscope connect` as the mock's client) and compared; exit codes 0/1/2.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use assert_cmd::Command;
use serde_json::Value;
use sockscope_testkit::EchoServer;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

fn session_of(stdout: &[u8]) -> i64 {
    let out = String::from_utf8_lossy(stdout);
    let first = out.lines().next().unwrap_or_default();
    first
        .strip_prefix("session ")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("first line is {first:?}"))
}

/// Records a session with `sockscope connect`: these lines out, echoed back.
fn record(db: &Path, url: &str, lines: &str) -> i64 {
    let out = sockscope(db)
        .args(["connect", url])
        .write_stdin(lines)
        .assert()
        .success();
    session_of(&out.get_output().stdout)
}

fn sessions(db: &Path) -> Vec<Value> {
    let out = sockscope(db)
        .args(["sessions", "--json"])
        .assert()
        .success();
    serde_json::from_slice::<Value>(&out.get_output().stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn texts(db: &Path, session: i64) -> Vec<(String, String)> {
    let out = sockscope(db)
        .args(["export", &session.to_string(), "--format", "jsonl"])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "frame" && v["opcode"] == "text")
        .map(|v| {
            (
                v["dir"].as_str().unwrap().to_owned(),
                v["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn replay_in_each_mode_then_diff_with_the_original() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let orig = record(&db, &srv.url, "{\"q\":1,\"ts\":5}\nsecond ✓\n");

    for mode in [
        &["--max"][..],
        &["--speed", "4"],
        &["--conversational", "--timeout", "5"],
    ] {
        let out = sockscope(&db)
            .args(["replay", &orig.to_string(), "--to", &srv.url])
            .args(mode)
            .assert()
            .success();
        let replay = session_of(&out.get_output().stdout);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("done: sent 2/2"), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("sent 2/2 (received"),
            "progress on stderr: {stderr}"
        );
        let mine: Vec<_> = texts(&db, replay)
            .into_iter()
            .filter(|(d, _)| d == "client")
            .map(|(_, t)| t)
            .collect();
        assert_eq!(mine, ["{\"q\":1,\"ts\":5}", "second ✓"], "{mode:?}");
    }
    let all = sessions(&db);
    let replays: Vec<&Value> = all.iter().filter(|s| s["kind"] == "replay").collect();
    assert_eq!(replays.len(), 3);

    // The conversational replay (newest) waited for both echoes: identical to the original.
    let newest = replays[0]["id"].as_i64().unwrap();
    let out = sockscope(&db)
        .args(["diff", &orig.to_string(), &newest.to_string(), "--json"])
        .assert()
        .success();
    let d: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(d["summary"]["identical"], 4, "{d}");
    assert_eq!(d["summary"]["changed"], 0);
    assert_eq!(d["left"]["session"], orig);

    // A different recording against the original: one changed message, the path named.
    let other = record(&db, &srv.url, "{\"q\":2,\"ts\":5}\nsecond ✓\n");
    let out = sockscope(&db)
        .args(["diff", &orig.to_string(), &other.to_string()])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("$.q: 1 → 2"), "{text}");
    assert!(
        text.contains("2 identical, 2 changed, 0 missing, 0 extra"),
        "{text}"
    );
    let out = sockscope(&db)
        .args([
            "diff",
            &orig.to_string(),
            &other.to_string(),
            "--ignore",
            "q",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("4 identical, 0 changed, 0 missing, 0 extra"),
        "{text}"
    );
}

#[test]
fn replay_and_mock_exit_codes() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let orig = record(&db, &srv.url, "x\n").to_string();
    let usage: &[&[&str]] = &[
        &["replay", &orig],
        &["replay", &orig, "--to", &srv.url, "--speed", "0.01"],
        &["replay", &orig, "--to", &srv.url, "--speed", "200"],
        &[
            "replay",
            &orig,
            "--to",
            &srv.url,
            "--max",
            "--conversational",
        ],
        &["replay", &orig, "--to", &srv.url, "--speed", "2", "--max"],
        &["replay", &orig, "--to", &srv.url, "--timeout", "0"],
        &["mock", &orig],
        &[
            "mock",
            &orig,
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "2",
            "--conversational",
        ],
        &["diff", &orig],
        &["diff", &orig, "x:1"],
        &["diff", &orig, &orig, "--ignore", "$."],
    ];
    for args in usage {
        sockscope(&db).args(*args).assert().code(2);
    }
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!("ws://127.0.0.1:{closed_port}/");
    let runtime: &[(&[&str], &str)] = &[
        (
            &["replay", "999", "--to", &srv.url],
            "session 999 not found",
        ),
        (&["replay", &orig, "--to", "http://x/"], "invalid URL"),
        (
            &["replay", &orig, "--to", &refused, "--max"],
            "connection refused",
        ),
        (
            &["replay", &orig, "--connection", "999", "--to", &srv.url],
            "connection 999 not found",
        ),
        (
            &["mock", &orig, "--listen", "0.0.0.0:0"],
            "not a loopback address",
        ),
        (&["diff", &orig, "999"], "session 999 not found"),
    ];
    for (args, msg) in runtime {
        let out = sockscope(&db).args(*args).assert().code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        // Progress may come first; the error is the last line, and one line.
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("sockscope: ") && last.contains(msg),
            "{args:?}: {stderr}"
        );
    }
}

/// A running `sockscope mock`, killed on drop.
struct MockProc {
    child: std::process::Child,
    session: i64,
    port: u16,
}

impl Drop for MockProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mock(db: &Path, args: &[&str]) -> MockProc {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sockscope"))
        .arg("--db")
        .arg(db)
        .arg("mock")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("SOCKSCOPE_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(l);
        }
    });
    let (mut session, mut port) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while session.is_none() || port.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("mock banner");
        if let Some(s) = line.strip_prefix("session ") {
            session = s.trim().parse().ok();
        }
        if let Some(p) = line.strip_prefix("listening 127.0.0.1:") {
            port = p.trim().parse().ok();
        }
    }
    MockProc {
        child,
        session: session.unwrap(),
        port: port.unwrap(),
    }
}

#[test]
fn mock_serves_the_recorded_server_side_until_sigterm() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let orig = record(&db, &srv.url, "one\ntwo\nthree\n").to_string();

    let mut mock = start_mock(&db, &[&orig, "--conversational"]);
    // `sockscope connect` is the mock's client: its three lines get the recorded echoes.
    let url = format!("ws://127.0.0.1:{}/", mock.port);
    let out = sockscope(&db)
        .args(["connect", &url])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    let printed: Vec<String> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert_eq!(printed, ["one", "two", "three"]);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &mock.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = mock.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "mock did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    let all = sessions(&db);
    let s = all.iter().find(|s| s["id"] == mock.session).unwrap();
    assert_eq!(s["kind"], "replay");
    assert_eq!(s["connections"], 1);
    let t = texts(&db, mock.session);
    let by = |d: &str| -> Vec<String> {
        t.iter()
            .filter(|(dir, _)| dir == d)
            .map(|(_, x)| x.clone())
            .collect()
    };
    assert_eq!(by("client"), ["a", "b", "c"]);
    assert_eq!(by("server"), ["one", "two", "three"]);
}

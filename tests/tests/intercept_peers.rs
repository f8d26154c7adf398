//! Intercept (breakpoints and rewrite rules) in the capture proxy, between real peers on
//! 127.0.0.1: a Python `websockets` client (`tests/peers/intercept_client.py`, driven line by
//! line from here) and a Node `ws` echo server (`tests/peers/ws_server.mjs`, which reports
//! every message it received when the connection closes). The proxy runs in this process
//! (`sockscope_proxy::Proxy`) so the test can hold, edit, forward and drop like the app does;
//! the CLI's `--rule FILE` is tested with the built `sockscope` binary.
//!
//! Needs `scripts/deps.sh test` (the venv with `websockets`, `npm ci` in `tests/peers`) and,
//! for the CLI test, `cargo build -p sockscope-cli`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use sockscope_proxy::{
    Action, Decision, DirMatch, HeldMessage, Intercept, InterceptEvent, Matcher, Proxy,
    ProxyConfig, Resolution, Rule,
};
use sockscope_store::Store;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn peers_dir() -> PathBuf {
    workspace().join("tests").join("peers")
}

/// A child process (own process group, killed on drop) whose stdout lines are JSON events.
struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    log: Arc<Mutex<String>>,
}

impl Peer {
    fn spawn(name: &str, mut cmd: Command) -> Peer {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(peers_dir())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut log) = l.lock() {
                    log.push_str(&format!(
                        "[out] {}\n",
                        line.chars().take(300).collect::<String>()
                    ));
                }
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut log) = l.lock() {
                    log.push_str(&format!("[err] {line}\n"));
                }
            }
        });
        Peer {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        }
    }

    fn context(&self) -> String {
        format!(
            "--- {} output ---\n{}",
            self.name,
            self.log.lock().map(|l| l.clone()).unwrap_or_default()
        )
    }

    /// The next event named `event` (others before it are skipped).
    fn event(&self, event: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event => return v,
                Ok(v) if v["event"] == "error" => {
                    panic!("{}: {v}\n{}", self.name, self.context())
                }
                Ok(_) => {}
                Err(_) => panic!(
                    "{}: no {event:?} within {timeout:?}\n{}",
                    self.name,
                    self.context()
                ),
            }
        }
    }

    /// Nothing but maybe `allowed` events for `d`.
    fn quiet_for(&self, d: Duration, allowed: &[&str]) {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => assert!(
                    allowed.iter().any(|a| v["event"] == *a),
                    "{}: unexpected {v} while a message is held\n{}",
                    self.name,
                    self.context()
                ),
                Err(_) => return,
            }
        }
    }

    fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{cmd}").expect("write to the client");
        stdin.flush().expect("flush");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The whole process group goes with the leader.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_client(url: &str, deflate: bool) -> Peer {
    let py = workspace().join(".venv").join("bin").join("python");
    assert!(
        py.is_file(),
        "{} missing: run scripts/deps.sh test",
        py.display()
    );
    let mut cmd = Command::new(py);
    cmd.arg(peers_dir().join("intercept_client.py"))
        .args(["--url", url]);
    if deflate {
        cmd.arg("--deflate");
    }
    let p = Peer::spawn("python client", cmd);
    let open = p.event("open", Duration::from_secs(15));
    if deflate {
        assert!(
            open["extensions"]
                .as_str()
                .is_some_and(|e| e.contains("permessage-deflate")),
            "deflate was not negotiated: {open}"
        );
    }
    p
}

fn node_server(deflate: bool) -> (Peer, u16) {
    assert!(
        peers_dir().join("node_modules").join("ws").is_dir(),
        "tests/peers/node_modules missing: run scripts/deps.sh test"
    );
    let mut cmd = Command::new("node");
    cmd.arg(peers_dir().join("ws_server.mjs"));
    if deflate {
        cmd.arg("--deflate");
    }
    let p = Peer::spawn("node server", cmd);
    let port = p.event("listening", Duration::from_secs(15))["port"]
        .as_u64()
        .expect("port") as u16;
    (p, port)
}

/// The texts of a Node server's `received` list (from its result line).
fn server_texts(result: &Value) -> Vec<String> {
    result["received"]
        .as_array()
        .expect("received")
        .iter()
        .map(|d| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d["b64"].as_str().expect("b64"))
                .expect("base64");
            String::from_utf8(bytes).expect("utf-8")
        })
        .collect()
}

fn rule(id: i64, matcher: Matcher, action: Action) -> Rule {
    Rule {
        id,
        name: format!("rule {id}"),
        enabled: true,
        matcher,
        action,
    }
}

fn to_server_containing(s: &str) -> Matcher {
    Matcher {
        direction: DirMatch::ToServer,
        contains: Some(s.into()),
        ..Default::default()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    proxy: Proxy,
    intercept: Arc<Intercept>,
    events: broadcast::Receiver<InterceptEvent>,
    server: Peer,
}

async fn setup(deflate: bool, rules: Vec<Rule>) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("store");
    let (server, port) = node_server(deflate);
    let intercept = Intercept::new();
    intercept.set_rules(rules).expect("rules");
    let events = intercept.subscribe();
    let proxy = Proxy::start(
        store.clone(),
        ProxyConfig {
            listen: "127.0.0.1:0".into(),
            upstream: Some(format!("ws://127.0.0.1:{port}")),
            interceptor: Some(intercept.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("proxy");
    Setup {
        _dir: dir,
        store,
        proxy,
        intercept,
        events,
        server,
    }
}

impl Setup {
    fn url(&self) -> String {
        format!("ws://{}/echo", self.proxy.local_addr())
    }

    async fn next_held(&mut self) -> HeldMessage {
        let deadline = Duration::from_secs(15);
        loop {
            match tokio::time::timeout(deadline, self.events.recv()).await {
                Ok(Ok(InterceptEvent::Held { message })) => return message,
                Ok(Ok(_)) => {}
                other => panic!("no held message: {other:?}\n{}", self.server.context()),
            }
        }
    }

    async fn next_resolved(&mut self) -> (u64, Resolution) {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.events.recv()).await {
                Ok(Ok(InterceptEvent::Resolved { id, resolution, .. })) => return (id, resolution),
                Ok(Ok(_)) => {}
                other => panic!("no resolution: {other:?}"),
            }
        }
    }

    /// Closes the client, waits for the server's report and returns it with the session's
    /// frame lines from the JSONL export.
    async fn finish(mut self, mut client: Peer) -> (Value, Vec<Value>) {
        client.send(json!({"close": 1000}));
        client.event("closed", Duration::from_secs(15));
        let result = self.server.event("result", Duration::from_secs(15));
        // The relay records the end once both sides are done.
        let deadline = Instant::now() + Duration::from_secs(10);
        let session = self.proxy.session();
        loop {
            self.store.flush().await.expect("flush");
            let closed = self
                .store
                .connections(session)
                .expect("connections")
                .iter()
                .all(|c| c.closed_at_us.is_some());
            if closed || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut out = Vec::new();
        self.store.export_jsonl(session, &mut out).expect("export");
        let frames = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
            .filter(|v| v["type"] == "frame")
            .collect();
        let _ = self.events.try_recv();
        self.proxy.stop().await;
        (result, frames)
    }
}

/// The text of a frame line (the inflated message when compressed).
fn frame_text(f: &Value) -> String {
    f["inflated_text"]
        .as_str()
        .or(f["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn client_messages(client: &Peer, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            client.event("message", Duration::from_secs(15))["text"]
                .as_str()
                .expect("text")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_message_is_forwarded_edited_while_pings_flow_and_order_is_kept() {
    let mut s = setup(
        false,
        vec![rule(
            7,
            to_server_containing("\"op\":\"buy\""),
            Action::Break,
        )],
    )
    .await;
    let mut client = python_client(&s.url(), false);
    client.send(json!({"send": "before"}));
    assert_eq!(client_messages(&client, 1), ["before"]);

    let original = r#"{"op":"buy","qty":1}"#;
    client.send(json!({"send": original}));
    let held = s.next_held().await;
    assert_eq!(held.text.as_deref(), Some(original));
    assert_eq!(held.rule_id, 7);
    assert_eq!(held.dir, sockscope_proto::Direction::Client);
    // Later messages of the same direction wait behind it; pings still flow both ways.
    client.send(json!({"send": "after"}));
    client.send(json!({"ping": "still-alive", "timeout": 5}));
    let pong = client.event("pong", Duration::from_secs(10));
    assert_eq!(pong["data"], "still-alive");
    client.quiet_for(Duration::from_millis(400), &["sent"]);
    assert_eq!(s.intercept.held().len(), 1, "still held after the ping");

    let edited = r#"{"op":"buy","qty":5}"#;
    s.intercept
        .decide(held.id, Decision::Edited(Bytes::from(edited)))
        .expect("decide");
    assert_eq!(s.next_resolved().await, (held.id, Resolution::Edited));
    assert_eq!(client_messages(&client, 2), [edited, "after"]);
    assert!(s.intercept.held().is_empty());
    assert!(matches!(
        s.intercept.decide(held.id, Decision::Forward),
        Err(sockscope_proxy::ProxyError::NotHeld(_))
    ));

    let (result, frames) = s.finish(client).await;
    assert_eq!(server_texts(&result), ["before", edited, "after"]);
    // Both versions are recorded: the original (held, replaced) then the edit (held, edited).
    let ups: Vec<&Value> = frames
        .iter()
        .filter(|f| f["dir"] == "client" && f["opcode"] == "text")
        .collect();
    let texts: Vec<String> = ups.iter().map(|f| frame_text(f)).collect();
    assert_eq!(texts, ["before", original, edited, "after"]);
    assert_eq!(ups[1]["held"], true);
    assert_eq!(ups[1]["replaced"], true);
    assert_eq!(ups[1].get("edited"), None);
    assert_eq!(ups[2]["held"], true);
    assert_eq!(ups[2]["edited"], true);
    assert_eq!(ups[2]["masked"], true);
    assert_eq!(ups[0].get("held"), None);
    assert_eq!(ups[3].get("held"), None);
    // Pings and pongs passed while the message was held.
    assert!(frames
        .iter()
        .any(|f| f["opcode"] == "ping" && f["dir"] == "client"));
    assert!(frames
        .iter()
        .any(|f| f["opcode"] == "pong" && f["dir"] == "server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_messages_never_arrive_and_later_ones_do_in_order() {
    let mut s = setup(
        false,
        vec![
            rule(1, to_server_containing("drop-by-rule"), Action::Drop),
            rule(2, to_server_containing("hold-me"), Action::Break),
            rule(
                3,
                Matcher {
                    direction: DirMatch::ToClient,
                    contains: Some("m3".into()),
                    ..Default::default()
                },
                Action::Drop,
            ),
        ],
    )
    .await;
    let mut client = python_client(&s.url(), false);
    for m in [
        "m1",
        "drop-by-rule 1",
        "m2",
        "hold-me",
        "m3",
        "drop-by-rule 2",
        "m4",
    ] {
        client.send(json!({ "send": m }));
    }
    let held = s.next_held().await;
    assert_eq!(held.text.as_deref(), Some("hold-me"));
    // m1 and m2 passed; everything after the held message waits.
    assert_eq!(client_messages(&client, 2), ["m1", "m2"]);
    client.quiet_for(Duration::from_millis(300), &["sent"]);
    s.intercept.decide(held.id, Decision::Drop).expect("drop");
    assert_eq!(s.next_resolved().await, (held.id, Resolution::Dropped));
    // The echo of m3 is dropped on its way back to the client (the other direction).
    assert_eq!(client_messages(&client, 1), ["m4"]);
    let mut counts = s.intercept.take_match_counts();
    counts.sort_unstable();
    assert_eq!(counts, [(1, 2), (2, 1), (3, 1)]);
    let (result, frames) = s.finish(client).await;
    assert_eq!(server_texts(&result), ["m1", "m2", "m3", "m4"]);
    let dropped: Vec<(String, String)> = frames
        .iter()
        .filter(|f| f["dropped"] == true)
        .map(|f| (f["dir"].as_str().unwrap_or("").to_owned(), frame_text(f)))
        .collect();
    assert_eq!(
        dropped,
        [
            ("client".to_owned(), "drop-by-rule 1".to_owned()),
            ("client".to_owned(), "hold-me".to_owned()),
            ("client".to_owned(), "drop-by-rule 2".to_owned()),
            ("server".to_owned(), "m3".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_breakpoint_times_out_and_forwards_as_is() {
    let mut s = setup(
        false,
        vec![rule(1, to_server_containing("slow"), Action::Break)],
    )
    .await;
    s.intercept
        .set_hold_timeout(Duration::from_millis(400))
        .expect("timeout");
    let mut client = python_client(&s.url(), false);
    let started = Instant::now();
    client.send(json!({"send": "slow one"}));
    let held = s.next_held().await;
    assert!(held.deadline_us - held.held_at_us >= 399_000);
    assert_eq!(s.next_resolved().await, (held.id, Resolution::TimedOut));
    assert_eq!(client_messages(&client, 1), ["slow one"]);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "forwarded after {waited:?}, before the timeout"
    );
    let (result, frames) = s.finish(client).await;
    assert_eq!(server_texts(&result), ["slow one"]);
    let f = frames
        .iter()
        .find(|f| f["dir"] == "client" && f["opcode"] == "text")
        .expect("frame");
    assert_eq!(f["held"], true);
    assert_eq!(f.get("edited"), None);
    assert_eq!(f.get("dropped"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_all_releases_every_held_message_of_every_connection() {
    let mut s = setup(
        false,
        vec![rule(1, to_server_containing("hold"), Action::Break)],
    )
    .await;
    let mut a = python_client(&s.url(), false);
    let mut b = python_client(&s.url(), false);
    a.send(json!({"send": "hold a"}));
    b.send(json!({"send": "hold b"}));
    let first = s.next_held().await;
    let second = s.next_held().await;
    assert_ne!(first.connection, second.connection);
    assert_eq!(s.intercept.held().len(), 2);
    assert_eq!(s.intercept.forward_all(), 2);
    let mut resolved = vec![s.next_resolved().await, s.next_resolved().await];
    resolved.sort_unstable_by_key(|r| r.0);
    assert_eq!(
        resolved,
        [
            (first.id.min(second.id), Resolution::Forwarded),
            (first.id.max(second.id), Resolution::Forwarded)
        ]
    );
    assert_eq!(client_messages(&a, 1), ["hold a"]);
    assert_eq!(client_messages(&b, 1), ["hold b"]);
    assert!(s.intercept.held().is_empty());
    b.send(json!({"close": 1000}));
    b.event("closed", Duration::from_secs(15));
    let _ = s.server.event("result", Duration::from_secs(15));
    let (_, frames) = s.finish(a).await;
    let held: Vec<String> = frames
        .iter()
        .filter(|f| f["held"] == true)
        .map(frame_text)
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_rules_apply_in_order_and_are_counted() {
    let s = setup(
        false,
        vec![
            rule(
                1,
                Matcher {
                    direction: DirMatch::ToServer,
                    ..Default::default()
                },
                Action::Replace {
                    find: "alice".into(),
                    with: "bob".into(),
                    regex: false,
                },
            ),
            // Sees rule 1's output: only "bob" messages get the key.
            rule(
                2,
                to_server_containing("bob"),
                Action::SetJson {
                    key: "meta.via".into(),
                    value: json!("sockscope"),
                },
            ),
            rule(
                3,
                Matcher {
                    direction: DirMatch::ToServer,
                    json_key: Some("meta.via".into()),
                    json_value: Some(json!("sockscope")),
                    ..Default::default()
                },
                Action::Duplicate { count: 1 },
            ),
            rule(
                4,
                Matcher {
                    direction: DirMatch::ToServer,
                    regex: Some("^slow-\\d+$".into()),
                    ..Default::default()
                },
                Action::Delay { ms: 300 },
            ),
        ],
    )
    .await;
    let mut client = python_client(&s.url(), false);
    let started = Instant::now();
    client.send(json!({"send": "slow-1"}));
    client.send(json!({"send": r#"{"user":"alice"}"#}));
    client.send(json!({"send": "plain"}));
    let got = client_messages(&client, 4);
    let waited = started.elapsed();
    let rewritten = r#"{"user":"bob","meta":{"via":"sockscope"}}"#;
    assert_eq!(got, ["slow-1", rewritten, rewritten, "plain"]);
    assert!(
        waited >= Duration::from_millis(300),
        "delay not kept: {waited:?}"
    );
    let counts: std::collections::HashMap<i64, u64> = s
        .intercept
        .rules()
        .into_iter()
        .map(|r| (r.rule.id, r.matches))
        .collect();
    assert_eq!(counts[&1], 3);
    assert_eq!(counts[&2], 1);
    assert_eq!(counts[&3], 1);
    assert_eq!(counts[&4], 1);
    // A disabled rule no longer applies.
    s.intercept.set_rule_enabled(1, false).expect("toggle");
    client.send(json!({"send": r#"{"user":"alice"}"#}));
    assert_eq!(client_messages(&client, 1), [r#"{"user":"alice"}"#]);
    let (result, frames) = s.finish(client).await;
    assert_eq!(
        server_texts(&result),
        [
            "slow-1",
            rewritten,
            rewritten,
            "plain",
            r#"{"user":"alice"}"#
        ]
    );
    let copy = frames
        .iter()
        .filter(|f| f["dir"] == "client" && frame_text(f) == rewritten)
        .collect::<Vec<_>>();
    assert_eq!(copy.len(), 2);
    assert_eq!(copy[0]["edited"], true);
    assert_eq!(copy[1]["injected"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_connection_survives_edits_and_drops_both_ways() {
    let mut s = setup(
        true,
        vec![
            rule(1, to_server_containing("edit-me"), Action::Break),
            rule(2, to_server_containing("drop-me"), Action::Drop),
            rule(
                3,
                Matcher {
                    direction: DirMatch::ToClient,
                    contains: Some("vanish".into()),
                    ..Default::default()
                },
                Action::Drop,
            ),
        ],
    )
    .await;
    let mut client = python_client(&s.url(), true);
    // Repetitive texts so that context takeover really refers back to earlier messages.
    let body = |i: usize| format!("{{\"n\":{i},\"text\":\"the same words again and again\"}}");
    client.send(json!({"send": body(1)}));
    assert_eq!(client_messages(&client, 1), [body(1)]);
    client.send(json!({"send": format!("edit-me {}", body(2))}));
    let held = s.next_held().await;
    assert!(held.compressed, "{held:?}");
    s.intercept
        .decide(held.id, Decision::Edited(Bytes::from(body(20))))
        .expect("decide");
    client.send(json!({"send": body(3)}));
    client.send(json!({"send": format!("drop-me {}", body(4))}));
    client.send(json!({"send": body(5)}));
    client.send(json!({"send": format!("vanish {}", body(6))}));
    client.send(json!({"send": body(7)}));
    let got = client_messages(&client, 4);
    assert_eq!(got, [body(20), body(3), body(5), body(7)]);
    client.send(json!({"ping": "ok", "timeout": 5}));
    client.event("pong", Duration::from_secs(10));
    let (result, frames) = s.finish(client).await;
    assert!(
        result["error"].is_null(),
        "the server saw a broken stream: {result}"
    );
    assert_eq!(result["close"]["code"], 1000, "{result}");
    assert_eq!(
        server_texts(&result),
        [
            body(1),
            body(20),
            body(3),
            body(5),
            format!("vanish {}", body(6)),
            body(7)
        ]
    );
    // Compressed on the wire from the client (recorded inflated), edits sent uncompressed.
    let first = frames
        .iter()
        .find(|f| f["dir"] == "client" && f["opcode"] == "text")
        .expect("frame");
    assert_eq!(first["rsv1"], true);
    let edited = frames
        .iter()
        .find(|f| f["edited"] == true)
        .expect("edited frame");
    assert_eq!(edited["rsv1"], false);
    assert_eq!(frame_text(edited), body(20));
    let replaced = frames
        .iter()
        .find(|f| f["replaced"] == true)
        .expect("replaced frame");
    assert_eq!(frame_text(replaced), format!("edit-me {}", body(2)));
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sockscope proxy --rule FILE` (TOML) between the same peers: the rules rewrite, drop and
/// duplicate in order, and the match counts are printed when the proxy stops.
#[test]
fn the_cli_loads_rewrite_rules_from_a_toml_file() {
    let bin = workspace().join("target").join("debug").join("sockscope");
    assert!(
        bin.is_file(),
        "{} missing: cargo build -p sockscope-cli",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "rename"
match = { direction = "to_server" }
action = { type = "replace", find = "alice", with = "bob" }

[[rule]]
name = "no noise"
match = { direction = "to_server", regex = "^noise" }
action = { type = "drop" }

[[rule]]
name = "twice"
match = { direction = "to_server", json_key = "user", json_value = "bob" }
action = { type = "duplicate", count = 1 }
"#,
    )
    .expect("rules file");
    let (server, port) = node_server(false);
    let mut cmd = Command::new(&bin);
    cmd.arg("--db")
        .arg(dir.path().join("cli.db"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("ws://127.0.0.1:{port}"))
        .arg("--rule")
        .arg(&rules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut proxy = KillOnDrop(cmd.spawn().expect("sockscope proxy"));
    let proxy = &mut proxy.0;
    let stderr = proxy.stderr.take().expect("stderr");
    let (tx, err_lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdout = BufReader::new(proxy.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("session line");
    assert!(first.starts_with("session "), "{first:?}");
    let mut seen = Vec::new();
    let listen = loop {
        let line = err_lines
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no listening line: {seen:?}"));
        if let Some(rest) = line.strip_prefix("listening ") {
            break rest.split(' ').next().expect("addr").to_owned();
        }
        seen.push(line);
    };
    let mut client = python_client(&format!("ws://{listen}/echo"), false);
    for m in [r#"{"user":"alice"}"#, "noise 1", "plain"] {
        client.send(json!({ "send": m }));
    }
    let got = client_messages(&client, 3);
    assert_eq!(got, [r#"{"user":"bob"}"#, r#"{"user":"bob"}"#, "plain"]);
    client.send(json!({"close": 1000}));
    client.event("closed", Duration::from_secs(15));
    let result = server.event("result", Duration::from_secs(15));
    assert_eq!(
        server_texts(&result),
        [r#"{"user":"bob"}"#, r#"{"user":"bob"}"#, "plain"]
    );
    let _ = Command::new("kill")
        .args(["-TERM", &proxy.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = proxy.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let rest: Vec<String> = err_lines.try_iter().collect();
    assert!(rest.iter().any(|l| l == "rules: 3 loaded"), "{rest:?}");
    for want in [
        "rule 1 \"rename\": 3 matches",
        "rule 2 \"no noise\": 1 matches",
        "rule 3 \"twice\": 1 matches",
    ] {
        assert!(rest.iter().any(|l| l == want), "{want:?} not in {rest:?}");
    }
    // A bad file is refused with one line naming it, exit 1.
    std::fs::write(&rules, "[[rule]]\naction = { type = \"explode\" }\n").expect("write");
    let out = Command::new(&bin)
        .arg("--db")
        .arg(dir.path().join("cli.db"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "ws://127.0.0.1:9",
        ])
        .arg("--rule")
        .arg(&rules)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.toml"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

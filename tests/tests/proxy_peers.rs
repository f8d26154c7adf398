//! The capture proxy (`sockscope proxy`, built binary) between real, independent WebSocket
//! implementations on 127.0.0.1: Python `websockets`, Node `ws`, a raw-socket Python server that
//! misbehaves on purpose, and headless Debian Chromium through the forward proxy with TLS
//! interception. Each side reports what it sent and received (JSON lines, base64 payloads, see
//! `tests/peers/`); the tests check both ends and the proxy's JSONL export of the session.
//!
//! Needs `cargo build -p sockscope-cli` (done by `make test`) and `scripts/deps.sh test` (the
//! project venv with `websockets` + `cryptography`, `npm ci` in `tests/peers`, Chromium).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use base64::Engine as _;
use serde_json::{json, Value};
use sockscope_e2e::*;
use sockscope_proto::SessionId;
use sockscope_store::{ConnState, Store};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The proxy's per-message inflation cap (ProxyLimits::default().relay.message_cap).
const INFLATE_CAP: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The proxy under test

struct Capture {
    proc: Proc,
    db: PathBuf,
    session: i64,
    port: u16,
    /// The stderr line `listening …`.
    banner: String,
}

impl Capture {
    fn start(db: &Path, args: &[&str]) -> Capture {
        let mut all = vec!["proxy", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let proc = Proc::spawn("sockscope proxy", sockscope(db, &all));
        let first = proc.recv(false, secs(15), "the session line");
        let session = first
            .strip_prefix("session ")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("first stdout line {first:?}\n{}", proc.context()));
        let banner = loop {
            let line = proc.recv(true, secs(15), "the listening line");
            if line.starts_with("listening ") {
                break line;
            }
        };
        let port = banner
            .strip_prefix("listening 127.0.0.1:")
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("listening line {banner:?}"));
        Capture {
            proc,
            db: db.to_path_buf(),
            session,
            port,
            banner,
        }
    }

    fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    fn export(&self) -> Export {
        export(&self.db, self.session)
    }

    /// Waits until `n` connections have ended in the recording, checks the proxy is still
    /// running, stops it with SIGTERM (exit 0 expected) and returns the final export.
    fn finish(mut self, n: usize) -> Export {
        let deadline = Instant::now() + secs(15);
        loop {
            let e = self.export();
            if e.of_type("close").len() >= n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{n} connections were not recorded as ended within 15 s: {}\n{}",
                e.summary(),
                self.proc.context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            self.proc.is_running(),
            "the proxy exited by itself\n{}",
            self.proc.context()
        );
        self.proc.signal("TERM");
        let status = self.proc.wait(secs(15));
        assert!(
            status.success(),
            "the proxy should exit 0 on SIGTERM, got {status}\n{}",
            self.proc.context()
        );
        self.export()
    }
}

struct Export {
    lines: Vec<Value>,
}

fn export(db: &Path, session: i64) -> Export {
    let lines = run_to_end(
        "sockscope export",
        sockscope(db, &["export", &session.to_string(), "--format", "jsonl"]),
        secs(60),
    );
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line ({e}): {l}")))
        .collect();
    assert_eq!(lines[0]["format"], "sockscope-session", "{:?}", lines[0]);
    assert_eq!(lines[0]["session"]["kind"], "proxy");
    Export { lines }
}

impl Export {
    fn of_type(&self, t: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["type"] == t).collect()
    }

    fn connections(&self) -> Vec<&Value> {
        self.of_type("connection")
    }

    fn frames(&self, conn: &Value) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["type"] == "frame" && l["connection"] == conn["id"])
            .collect()
    }

    fn frames_dir(&self, conn: &Value, dir: &str) -> Vec<&Value> {
        self.frames(conn)
            .into_iter()
            .filter(|f| f["dir"] == dir)
            .collect()
    }

    fn close_of(&self, conn: &Value) -> &Value {
        self.lines
            .iter()
            .find(|l| l["type"] == "close" && l["connection"] == conn["id"])
            .unwrap_or_else(|| panic!("no close line for connection {}", conn["id"]))
    }

    /// One line per record, payloads shortened: for failure messages.
    fn summary(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            let mut l = l.clone();
            if let Value::Object(m) = &mut l {
                for k in ["text", "base64", "inflated_text", "inflated_base64"] {
                    if let Some(Value::String(v)) = m.get_mut(k) {
                        if v.len() > 60 {
                            let cut = (0..=60).rev().find(|&i| v.is_char_boundary(i)).unwrap();
                            *v = format!("{}…({} chars)", &v[..cut], v.len());
                        }
                    }
                }
                m.remove("request_headers");
                m.remove("response_headers");
            }
            s.push_str(&l.to_string());
            s.push('\n');
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads and their descriptions

/// Same bytes as `pattern()` in tests/peers/common.{py,mjs}.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131 + seed * 17 + (i >> 8)) & 255) as u8)
        .collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 ({e}): {s}"))
}

/// `len`, a 64-bit FNV-1a digest and a short preview: compact, and still exact.
fn digest(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let preview: String = String::from_utf8_lossy(&b[..b.len().min(24)]).into_owned();
    format!("{}B#{h:016x}{preview:?}", b.len())
}

/// A frame line's payload bytes (`text` or `base64`).
fn payload(f: &Value) -> Vec<u8> {
    if let Some(t) = f["text"].as_str() {
        return t.as_bytes().to_vec();
    }
    unb64(
        f["base64"]
            .as_str()
            .unwrap_or_else(|| panic!("no payload in {f}")),
    )
}

/// A frame line's inflated message (`inflated_text` or `inflated_base64`), if any.
fn inflated(f: &Value) -> Option<Vec<u8>> {
    if let Some(t) = f["inflated_text"].as_str() {
        return Some(t.as_bytes().to_vec());
    }
    f["inflated_base64"].as_str().map(unb64)
}

fn frame_desc(f: &Value) -> String {
    format!(
        "{} fin={} rsv1={} {}",
        f["opcode"].as_str().unwrap_or("?"),
        f["fin"],
        f["rsv1"],
        digest(&payload(f))
    )
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    Python,
    Node,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Python => "python",
            Lib::Node => "node",
        }
    }

    fn client(self, args: &[&str]) -> Command {
        match self {
            Lib::Python => python("py_client.py", args),
            Lib::Node => node("ws_client.mjs", args),
        }
    }

    fn server(self, args: &[&str]) -> Command {
        match self {
            Lib::Python => python("py_server.py", args),
            Lib::Node => node("ws_server.mjs", args),
        }
    }
}

/// A message a peer sends: its spec for the peer scripts and its exact bytes.
#[derive(Debug, Clone)]
struct Msg {
    spec: Value,
    binary: bool,
    parts: Vec<Vec<u8>>,
}

impl Msg {
    fn text(s: &str) -> Msg {
        Msg {
            spec: json!({"type": "text", "data": s}),
            binary: false,
            parts: vec![s.as_bytes().to_vec()],
        }
    }

    fn pattern(len: usize, seed: usize) -> Msg {
        Msg {
            spec: json!({"type": "pattern", "len": len, "seed": seed}),
            binary: true,
            parts: vec![pattern(len, seed)],
        }
    }

    fn text_fragments(parts: &[&str]) -> Msg {
        Msg {
            spec: json!({"type": "fragments", "binary": false, "parts": parts}),
            binary: false,
            parts: parts.iter().map(|p| p.as_bytes().to_vec()).collect(),
        }
    }

    fn binary_fragments(parts: Vec<Vec<u8>>) -> Msg {
        Msg {
            spec: json!({"type": "fragments", "binary": true,
                         "parts": parts.iter().map(|p| b64(p)).collect::<Vec<_>>()}),
            binary: true,
            parts,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.parts.concat()
    }

    /// How a peer report describes the message once received whole.
    fn received_desc(&self) -> String {
        format!(
            "{} {}",
            if self.binary { "binary" } else { "text" },
            digest(&self.bytes())
        )
    }

    /// The uncompressed frames `sender` puts on the wire for this message. Python websockets
    /// sends each fragment of an iterable with FIN clear, then an empty final continuation.
    fn wire(&self, sender: Lib) -> Vec<String> {
        let first = if self.binary { "binary" } else { "text" };
        let n = self.parts.len();
        let mut v: Vec<String> = self
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let op = if i == 0 { first } else { "continuation" };
                let fin = i + 1 == n && (n == 1 || sender == Lib::Node);
                format!("{op} fin={fin} rsv1=false {}", digest(p))
            })
            .collect();
        if n > 1 && sender == Lib::Python {
            v.push(format!("continuation fin=true rsv1=false {}", digest(&[])));
        }
        v
    }
}

fn control(op: &str, p: &[u8]) -> String {
    format!("{op} fin=true rsv1=false {}", digest(p))
}

fn specs(msgs: &[Msg]) -> String {
    Value::Array(msgs.iter().map(|m| m.spec.clone()).collect()).to_string()
}

/// What a peer report says it received, described like `Msg::received_desc`.
fn received_descs(report: &Value) -> Vec<String> {
    report["received"]
        .as_array()
        .unwrap_or_else(|| panic!("no received list in {report}"))
        .iter()
        .map(|r| {
            let data = unb64(r["b64"].as_str().unwrap_or_else(|| panic!("no b64 in {r}")));
            assert_eq!(r["len"].as_u64(), Some(data.len() as u64), "{r}");
            format!("{} {}", r["type"].as_str().unwrap_or("?"), digest(&data))
        })
        .collect()
}

fn assert_no_issues(e: &Export, conn: &Value) {
    for f in e.frames(conn) {
        assert!(
            f.get("issues").is_none() && f.get("truncated").is_none(),
            "legal traffic must not be flagged: {f}\n{}",
            e.summary()
        );
        let masked = f.get("masked") == Some(&json!(true));
        assert_eq!(
            masked,
            f["dir"] == "client",
            "client frames are masked, server frames are not: {f}"
        );
    }
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers.as_array()?.iter().find_map(|h| {
        (h[0].as_str()?.eq_ignore_ascii_case(name))
            .then(|| h[1].as_str())
            .flatten()
    })
}

// ---------------------------------------------------------------------------------------------
// 1. Scripted exchange between two libraries through the reverse proxy

fn scripted_exchange(client: Lib, server: Lib, close_by: &str) {
    let (c, s) = (client.name(), server.name());
    let closer = if close_by == "client" { c } else { s };
    let close_reason = format!("{closer} {close_by} closes \u{2014} bye");
    let frag1 = format!("frag-1 from {c} client|");
    let client_batch = [
        Msg::text(&format!(
            "hello from {c} client \u{2014} \u{fc}n\u{ef}c\u{f8}d\u{e9} \u{2713}"
        )),
        Msg::pattern(126, 3),
        Msg::pattern(1 << 20, 1),
        Msg::text_fragments(&[frag1.as_str(), "frag-2|", "frag-3 \u{e9}nd"]),
    ];
    let server_batch = [
        Msg::text(&format!("hello from {s} server \u{2713}")),
        Msg::pattern(65536, 4),
        Msg::pattern(1 << 20, 2),
        Msg::binary_fragments(vec![pattern(1000, 5), pattern(10, 6), pattern(300, 7)]),
    ];
    let client_ping = format!("ping from {c} client");
    let server_ping = format!("ping from {s} server");
    let (client_done, server_done) = ("client batch done", "server batch done");
    let script = json!({
        "client": client_batch.iter().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "server": server_batch.iter().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "client_ping": client_ping,
        "server_ping": server_ping,
        "client_done": client_done,
        "server_done": server_done,
        "close_by": close_by,
        "close_code": 4001,
        "close_reason": close_reason,
    })
    .to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("capture.db");
    let (srv, port) = start_server(
        &format!("{s} server"),
        server.server(&["--script", &script]),
    );
    let upstream = format!("ws://127.0.0.1:{port}");
    let cap = Capture::start(&db, &["--upstream", &upstream]);
    assert!(
        cap.banner
            .contains(&format!("(reverse proxy to {upstream})")),
        "{}",
        cap.banner
    );
    let crep = run_client(
        &format!("{c} client"),
        client.client(&["--url", &cap.ws_url("/script"), "--script", &script]),
        secs(40),
    );
    let srep = srv.event("result", secs(20));

    // Both ends got exactly what the other sent.
    let mut to_server: Vec<String> = client_batch.iter().map(Msg::received_desc).collect();
    to_server.push(Msg::text(client_done).received_desc());
    let mut to_client: Vec<String> = server_batch.iter().map(Msg::received_desc).collect();
    if close_by == "client" {
        to_client.push(Msg::text(server_done).received_desc());
    }
    assert_eq!(crep["error"], Value::Null, "client report: {crep}");
    assert_eq!(srep["error"], Value::Null, "server report: {srep}");
    assert_eq!(
        received_descs(&crep),
        to_client,
        "what the {c} client received"
    );
    assert_eq!(
        received_descs(&srep),
        to_server,
        "what the {s} server received"
    );
    assert_eq!(
        crep["pongs"],
        json!([b64(client_ping.as_bytes())]),
        "{crep}"
    );
    assert_eq!(
        srep["pongs"],
        json!([b64(server_ping.as_bytes())]),
        "{srep}"
    );
    if client == Lib::Node {
        assert_eq!(crep["pings"], json!([b64(server_ping.as_bytes())]));
    }
    if server == Lib::Node {
        assert_eq!(srep["pings"], json!([b64(client_ping.as_bytes())]));
    }
    let close = json!({"code": 4001, "reason": close_reason});
    assert_eq!(crep["close"], close, "close seen by the client: {crep}");
    assert_eq!(srep["close"], close, "close seen by the server: {srep}");

    // The recording holds every frame as it was on the wire.
    let e = cap.finish(1);
    let conns = e.connections();
    assert_eq!(conns.len(), 1, "{}", e.summary());
    let conn = conns[0];
    assert_eq!(conn["url"], format!("{upstream}/script"));
    assert_eq!(conn["response_status"], 101);
    let close_frame = control("close", &close_payload(4001, &close_reason));
    let mut want_client: Vec<String> = client_batch.iter().flat_map(|m| m.wire(client)).collect();
    want_client.push(control("ping", client_ping.as_bytes()));
    want_client.extend(Msg::text(client_done).wire(client));
    want_client.push(control("pong", server_ping.as_bytes()));
    want_client.push(close_frame.clone());
    let mut want_server = vec![control("pong", client_ping.as_bytes())];
    want_server.extend(server_batch.iter().flat_map(|m| m.wire(server)));
    want_server.push(control("ping", server_ping.as_bytes()));
    if close_by == "client" {
        want_server.extend(Msg::text(server_done).wire(server));
    }
    want_server.push(close_frame);
    let got_client: Vec<String> = e
        .frames_dir(conn, "client")
        .into_iter()
        .map(frame_desc)
        .collect();
    let got_server: Vec<String> = e
        .frames_dir(conn, "server")
        .into_iter()
        .map(frame_desc)
        .collect();
    assert_eq!(got_client, want_client, "client frames\n{}", e.summary());
    assert_eq!(got_server, want_server, "server frames\n{}", e.summary());
    assert_no_issues(&e, conn);
    for f in e.frames(conn) {
        if f["opcode"] == "close" {
            assert_eq!(
                (&f["close_code"], &f["close_reason"]),
                (&json!(4001), &json!(close_reason)),
                "{f}"
            );
        }
        if f["opcode"] == "binary" && f["fin"] == true {
            assert_eq!(f["len"].as_u64(), Some(payload(f).len() as u64), "{f}");
        }
    }
    let big = e
        .frames_dir(conn, "client")
        .into_iter()
        .find(|f| f["len"] == 1 << 20)
        .expect("the 1 MiB frame");
    assert_eq!(
        payload(big),
        pattern(1 << 20, 1),
        "1 MiB payload recorded whole"
    );
    let end = e.close_of(conn);
    assert_eq!(
        (&end["code"], &end["reason"], &end["by"]),
        (&json!(4001), &json!(close_reason), &json!(close_by)),
        "{end}"
    );
}

#[test]
fn python_client_to_node_server_through_the_reverse_proxy() {
    scripted_exchange(Lib::Python, Lib::Node, "client");
}

#[test]
fn node_client_to_python_server_through_the_reverse_proxy() {
    scripted_exchange(Lib::Node, Lib::Python, "server");
}

// ---------------------------------------------------------------------------------------------
// 2. permessage-deflate negotiated end to end; a deflate bomb

/// Groups data frames into messages: (frames of the message).
fn messages<'a>(frames: &[&'a Value]) -> Vec<Vec<&'a Value>> {
    let mut out: Vec<Vec<&Value>> = Vec::new();
    let mut cur: Vec<&Value> = Vec::new();
    for f in frames {
        let op = f["opcode"].as_str().unwrap_or("");
        if !matches!(op, "text" | "binary" | "continuation") {
            continue;
        }
        cur.push(f);
        if f["fin"] == true {
            out.push(std::mem::take(&mut cur));
        }
    }
    assert!(cur.is_empty(), "unfinished message {cur:?}");
    out
}

fn deflate_round_trip(client: Lib, server: Lib) {
    let lorem = "The quick brown fox jumps over the lazy dog. ".repeat(8);
    let mut msgs: Vec<Msg> = (1..=5)
        .map(|i| Msg::text(&format!("context takeover #{i}: {lorem}")))
        .collect();
    msgs.push(Msg::pattern(4096, 9));
    msgs.push(Msg::text_fragments(&[
        "compressed fragment one|",
        "two|",
        "three \u{2713}",
    ]));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("capture.db");
    let (srv, port) = start_server(
        &format!("{} server", server.name()),
        server.server(&["--deflate"]),
    );
    let cap = Capture::start(&db, &["--upstream", &format!("ws://127.0.0.1:{port}")]);
    let crep = run_client(
        &format!("{} client", client.name()),
        client.client(&[
            "--url",
            &cap.ws_url("/echo"),
            "--deflate",
            "--send",
            &specs(&msgs),
        ]),
        secs(30),
    );
    let srep = srv.event("result", secs(20));
    let want: Vec<String> = msgs.iter().map(Msg::received_desc).collect();
    assert_eq!(crep["error"], Value::Null, "{crep}");
    assert_eq!(received_descs(&srep), want, "server received");
    assert_eq!(received_descs(&crep), want, "client received the echoes");
    let negotiated = srep["negotiated"].as_str().unwrap_or("");
    assert!(
        negotiated.starts_with("permessage-deflate"),
        "the peers must negotiate permessage-deflate: {srep}"
    );

    let e = cap.finish(1);
    let conn = e.connections()[0];
    let ext = header(&conn["response_headers"], "sec-websocket-extensions").unwrap_or("");
    assert!(ext.starts_with("permessage-deflate"), "{conn}");
    assert_no_issues(&e, conn);
    for dir in ["client", "server"] {
        let frames = e.frames_dir(conn, dir);
        let got = messages(&frames);
        assert_eq!(got.len(), msgs.len(), "{dir} messages\n{}", e.summary());
        for (m, frames) in msgs.iter().zip(&got) {
            let first = frames[0];
            let last = frames[frames.len() - 1];
            assert_eq!(first["rsv1"], true, "{dir}: compressed message: {first}");
            for f in &frames[1..] {
                assert_eq!(f["rsv1"], false, "{dir}: RSV1 only on the first frame: {f}");
            }
            let readable =
                inflated(last).unwrap_or_else(|| panic!("{dir}: no inflated payload on {last}"));
            assert_eq!(
                digest(&readable),
                digest(&m.bytes()),
                "{dir}: inflated message equals what was sent"
            );
            assert_ne!(
                payload(first),
                m.parts[0],
                "{dir}: the wire payload is compressed"
            );
        }
        // Context takeover: the repeats compress to a fraction of the first message.
        let first_len = got[0][0]["len"].as_u64().unwrap();
        for later in &got[1..5] {
            let len = later[0]["len"].as_u64().unwrap();
            assert!(
                len * 2 < first_len,
                "{dir}: a repeated message should use the shared window ({len} vs {first_len} \
                 bytes); is context takeover on?"
            );
        }
    }
}

#[test]
fn permessage_deflate_python_client_to_node_server_is_recorded_readable() {
    deflate_round_trip(Lib::Python, Lib::Node);
}

#[test]
fn permessage_deflate_node_client_to_python_server_is_recorded_readable() {
    deflate_round_trip(Lib::Node, Lib::Python);
}

#[test]
fn a_deflate_bomb_is_capped_and_the_proxy_keeps_serving() {
    const BOMB: usize = 64 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("capture.db");
    let (srv, port) = start_server("node server", Lib::Node.server(&["--deflate"]));
    let cap = Capture::start(&db, &["--upstream", &format!("ws://127.0.0.1:{port}")]);
    let bomb = json!([{"type": "repeat", "byte": 0x61, "len": BOMB, "binary": true}]).to_string();
    let crep = run_client(
        "python client (bomb)",
        python(
            "py_client.py",
            &["--url", &cap.ws_url("/sink"), "--deflate", "--send", &bomb],
        ),
        secs(40),
    );
    let srep = srv.event("result", secs(20));
    assert_eq!(crep["error"], Value::Null, "{crep}");
    // The Node server accepted the 64 MiB message (its limit is 256 MiB) and said what it got.
    let sent = &crep["sent"][0];
    assert_eq!(sent["len"], BOMB);
    let reply = unb64(crep["received"][0]["b64"].as_str().expect("a reply"));
    let reply: Value = serde_json::from_slice(&reply).expect("JSON reply");
    assert_eq!(reply, json!({"len": BOMB, "sha256": sent["sha256"]}));
    assert_eq!(srep["received"][0]["len"], BOMB, "{}", srep["received"]);

    // The proxy survived: a second connection goes through and is recorded readable.
    let msgs = [Msg::text("after the bomb")];
    let crep2 = run_client(
        "python client (after)",
        python(
            "py_client.py",
            &[
                "--url",
                &cap.ws_url("/echo"),
                "--deflate",
                "--send",
                &specs(&msgs),
            ],
        ),
        secs(20),
    );
    assert_eq!(
        received_descs(&crep2),
        vec![msgs[0].received_desc()],
        "{crep2}"
    );
    let e = cap.finish(2);
    let conns = e.connections();
    assert_eq!(conns.len(), 2, "{}", e.summary());
    let data: Vec<&Value> = e
        .frames_dir(conns[0], "client")
        .into_iter()
        .filter(|f| f["opcode"] == "binary")
        .collect();
    assert_eq!(data.len(), 1, "{}", e.summary());
    let frame = data[0];
    assert_eq!(frame["rsv1"], true);
    assert!(
        frame["len"].as_u64().unwrap() < 1 << 20,
        "compressed size {}",
        frame["len"]
    );
    let issues = frame["issues"].as_str().unwrap_or("");
    assert!(
        issues.contains(&INFLATE_CAP.to_string()),
        "the bomb's frame should carry an issue naming the {INFLATE_CAP}-byte cap, got {issues:?}"
    );
    let kept = inflated(frame).map_or(0, |b| b.len());
    assert!(
        kept <= INFLATE_CAP,
        "at most the cap is kept inflated, got {kept}"
    );
    assert_eq!(e.close_of(conns[0])["code"], 1000);
    // Second connection: readable and clean.
    assert_no_issues(&e, conns[1]);
    for dir in ["client", "server"] {
        let f = e.frames_dir(conns[1], dir)[0];
        assert_eq!(
            (&f["opcode"], &f["rsv1"], f["inflated_text"].as_str()),
            (&json!("text"), &json!(true), Some("after the bomb")),
            "{f}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A server that breaks the protocol

#[test]
fn a_broken_server_is_recorded_as_is_and_the_proxy_goes_on() {
    let bad_utf8: &[u8] = b"bad \xc3\x28 utf-8 \xff";
    let rsv2_text = "frame with RSV2 set";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("capture.db");
    let (srv, port) = start_server("raw server", python("raw_server.py", &[]));
    let cap = Capture::start(&db, &["--upstream", &format!("ws://127.0.0.1:{port}")]);
    let client = |path: &str| {
        run_client(
            &format!("python client {path}"),
            python(
                "py_client.py",
                &["--url", &cap.ws_url(path), "--send", "[]", "--replies", "1"],
            ),
            secs(30),
        )
    };
    let mut reports = Vec::new();
    for path in ["/bad-utf8", "/rsv2", "/normal"] {
        let crep = client(path);
        let srep = srv.event("result", secs(20));
        assert_eq!(srep["path"], path);
        reports.push((crep, srep));
    }
    // websockets fails the connection on what it receives: 1007 for invalid UTF-8, 1002 for
    // RSV2; the raw server gets that close frame through the proxy.
    for (i, want) in [(0, 1007), (1, 1002)] {
        let (crep, srep) = &reports[i];
        assert_eq!(crep["error"], Value::Null, "{crep}");
        assert_eq!(crep["received"], json!([]), "{crep}");
        assert_eq!(crep["sent_close"]["code"], want, "client: {crep}");
        assert_eq!(srep["error"], Value::Null, "{srep}");
        let got = &srep["received"][0];
        assert_eq!(
            (&got["opcode"], &got["masked"], &got["close_code"]),
            (&json!(8), &json!(true), &json!(want)),
            "server: {srep}"
        );
    }
    let (crep, srep) = &reports[2];
    assert_eq!(
        received_descs(crep),
        vec![Msg::text("raw hello").received_desc()],
        "{crep}"
    );
    assert_eq!(crep["close"], json!({"code": 1000, "reason": "done"}));
    assert_eq!(srep["received"][0]["close_code"], 1000, "{srep}");

    let e = cap.finish(3);
    let conns = e.connections();
    assert_eq!(conns.len(), 3, "{}", e.summary());
    let check_bad = |f: &Value| {
        assert_eq!(f["opcode"], "text", "{f}");
        assert_eq!(payload(f), bad_utf8, "{f}");
        assert!(
            f.get("text").is_none(),
            "invalid UTF-8 is exported as base64: {f}"
        );
        let issues = f["issues"].as_str().unwrap_or("");
        assert!(issues.contains("UTF-8"), "{f}");
    };
    let check_rsv2 = |f: &Value| {
        assert_eq!(f["opcode"], "text", "{f}");
        assert_eq!(payload(f), rsv2_text.as_bytes(), "{f}");
        assert_eq!(f["rsv2"], true, "{f}");
        let issues = f["issues"].as_str().unwrap_or("");
        assert!(issues.contains("RSV2"), "{f}");
    };
    for (i, code) in [(0, 1007u16), (1, 1002)] {
        let server = e.frames_dir(conns[i], "server");
        assert_eq!(
            server.len(),
            3,
            "two bad frames and the close echo\n{}",
            e.summary()
        );
        if i == 0 {
            check_bad(server[0]);
            check_rsv2(server[1]);
        } else {
            check_rsv2(server[0]);
            check_bad(server[1]);
        }
        assert_eq!(server[2]["close_code"], code);
        let client = e.frames_dir(conns[i], "client");
        assert_eq!(client.len(), 1, "{}", e.summary());
        assert_eq!(
            (&client[0]["opcode"], &client[0]["close_code"]),
            (&json!("close"), &json!(code))
        );
        let end = e.close_of(conns[i]);
        assert_eq!((&end["code"], &end["by"]), (&json!(code), &json!("client")));
    }
    assert_no_issues(&e, conns[2]);
    assert_eq!(e.frames_dir(conns[2], "server")[0]["text"], "raw hello");
}

// ---------------------------------------------------------------------------------------------
// 4. Forward mode: headless Chromium, TLS intercepted by the local CA

struct TlsSite {
    _dir: tempfile::TempDir,
    ca_pem: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A throwaway CA and a server certificate for localhost, signed by it.
fn make_certs() -> TlsSite {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = run_to_end(
        "make_certs",
        python("make_certs.py", &[dir.path().to_str().unwrap()]),
        secs(20),
    );
    let v: Value = serde_json::from_str(&lines[0]).expect("certs line");
    TlsSite {
        ca_pem: PathBuf::from(v["ca"].as_str().unwrap()),
        cert: PathBuf::from(v["cert"].as_str().unwrap()),
        key: PathBuf::from(v["key"].as_str().unwrap()),
        _dir: dir,
    }
}

fn ca_cmd(ca_dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(sockscope_bin());
    cmd.arg("ca").arg("--ca-dir").arg(ca_dir).args(args);
    let lines = run_to_end(&format!("sockscope ca {args:?}"), cmd, secs(20));
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].trim().to_owned()
}

struct ChromiumRun {
    /// `{"title", "result", "error"}` from chromium_page.mjs.
    page: Value,
    /// Chromium's exit status and output.
    log: String,
    wss: Proc,
    wss_port: u16,
    export: Export,
}

/// Serves an HTTPS page and a wss echo server (certificates from a test CA), runs the forward
/// proxy trusting that CA upstream, and loads the page in headless Chromium through the proxy
/// with `--ignore-certificate-errors-spki-list=<spki_list(proxy port, https port, ca spki)>`.
fn chromium_through_forward_proxy(spki_list: impl Fn(u16, u16, &str) -> String) -> ChromiumRun {
    let site = make_certs();
    let cert = site.cert.to_str().unwrap();
    let key = site.key.to_str().unwrap();
    let (wss, wss_port) = start_server(
        "wss server",
        python(
            "py_server.py",
            &["--deflate", "--tls-cert", cert, "--tls-key", key],
        ),
    );
    let (https, https_port) = start_server(
        "https server",
        python(
            "https_server.py",
            &[
                "--cert",
                cert,
                "--key",
                key,
                "--ws-port",
                &wss_port.to_string(),
            ],
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("capture.db");
    let ca_dir = dir.path().join("ca");
    let ca_spki = ca_cmd(&ca_dir, &["spki"]);
    let cap = Capture::start(
        &db,
        &[
            "--intercept",
            "localhost",
            "--upstream-ca",
            site.ca_pem.to_str().unwrap(),
            "--ca-dir",
            ca_dir.to_str().unwrap(),
        ],
    );
    let fingerprint = ca_cmd(&ca_dir, &["fingerprint"]);
    assert!(
        cap.banner
            .contains(&format!("(forward proxy; CA {fingerprint})")),
        "{}",
        cap.banner
    );
    let profile = dir.path().join("chromium-profile");
    let url = format!("https://localhost:{https_port}/");
    let proxy_arg = format!("--proxy-server=http://127.0.0.1:{}", cap.port);
    let spki_arg = format!(
        "--ignore-certificate-errors-spki-list={}",
        spki_list(cap.port, https_port, &ca_spki)
    );
    // playwright-core drives /usr/bin/chromium (headless, fresh profile): `--dump-dom` with a
    // virtual time budget dumps the DOM before the WebSocket exchange ends, now and then.
    let browser = node(
        "chromium_page.mjs",
        &[
            "--url",
            &url,
            "--profile",
            profile.to_str().unwrap(),
            "--timeout",
            "20",
            "--",
            &proxy_arg,
            "--proxy-bypass-list=<-loopback>",
            &spki_arg,
        ],
    );
    let (lines, status, log) = run_to_end_status("chromium via playwright-core", browser, secs(60));
    let page = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "page")
        .unwrap_or_else(|| panic!("no page report: {status}\n{log}"));
    drop(https);
    // When the page ran its exchange, the relay records the end of that one connection.
    let export = cap.finish(usize::from(page["title"] == "WS-OK"));
    ChromiumRun {
        page,
        log: format!("exit {status}\n{log}"),
        wss,
        wss_port,
        export,
    }
}

const CHROMIUM_OK: &str = "WS-OK open text=hello_from_chromium binary=1,2,3,250,251 \
     text=second_text_from_chromium close=4001/chromium_done";

/// The documented setup: Chromium trusts interception through `sockscope ca spki` alone.
#[test]
fn chromium_accepts_interception_with_the_ca_spki() {
    let run = chromium_through_forward_proxy(|_, _, ca| ca.to_owned());
    assert!(
        run.page["result"] == CHROMIUM_OK,
        "PROXY BUG: with --ignore-certificate-errors-spki-list=<`sockscope ca spki`> Chromium \
         should load https://localhost/ through the forward proxy and run the WebSocket \
         exchange. Chromium matches the SPKI list against the certificates the server sends; \
         the intercepting TLS server sends only the leaf (not the CA), so the CA's SPKI never \
         matches and the page fails with ERR_CERT_AUTHORITY_INVALID.\npage: {}\nrecording:\n{}\n{}",
        run.page,
        run.export.summary(),
        run.log
    );
}

/// Forward mode records the wss exchange of a real browser (the leaf's SPKI is added to the
/// list so that this does not depend on the chain the proxy sends).
#[test]
fn chromium_through_the_forward_proxy_is_recorded() {
    let run = chromium_through_forward_proxy(|proxy_port, https_port, ca| {
        let leaf = run_to_end(
            "leaf_spki",
            python(
                "leaf_spki.py",
                &[
                    "--proxy",
                    &format!("127.0.0.1:{proxy_port}"),
                    "--host",
                    "localhost",
                    "--port",
                    &https_port.to_string(),
                ],
            ),
            secs(20),
        );
        let leaf: Value = serde_json::from_str(&leaf[0]).expect("leaf line");
        assert_eq!(leaf["subject"], "CN=localhost", "{leaf}");
        assert!(
            leaf["issuer"]
                .as_str()
                .unwrap_or("")
                .contains("Sockscope Local CA"),
            "the proxy intercepts with its own CA: {leaf}"
        );
        format!("{ca},{}", leaf["spki"].as_str().unwrap())
    });
    assert!(
        run.page["title"] == "WS-OK" && run.page["result"] == CHROMIUM_OK,
        "page outcome: {}\n{}",
        run.page,
        run.log
    );
    let srep = run.wss.event("result", secs(10));
    let sent = [
        Msg::text("hello from chromium"),
        Msg {
            spec: Value::Null,
            binary: true,
            parts: vec![vec![1, 2, 3, 250, 251]],
        },
        Msg::text("second text from chromium"),
    ];
    let want: Vec<String> = sent.iter().map(Msg::received_desc).collect();
    assert_eq!(received_descs(&srep), want, "{srep}");
    assert_eq!(
        srep["close"],
        json!({"code": 4001, "reason": "chromium done"})
    );

    let e = &run.export;
    let conns = e.connections();
    assert_eq!(conns.len(), 1, "{}", e.summary());
    let conn = conns[0];
    assert_eq!(
        conn["url"],
        format!("wss://localhost:{}/echo", run.wss_port)
    );
    assert_eq!(conn["response_status"], 101);
    assert!(
        header(&conn["request_headers"], "user-agent")
            .unwrap_or("")
            .contains("Chrome"),
        "{conn}"
    );
    assert_no_issues(e, conn);
    for dir in ["client", "server"] {
        let frames = e.frames_dir(conn, dir);
        let got: Vec<String> = messages(&frames)
            .iter()
            .map(|m| {
                let last = m[m.len() - 1];
                let bytes = if m[0]["rsv1"] == true {
                    inflated(last).unwrap_or_else(|| panic!("not inflated: {last}"))
                } else {
                    m.iter().flat_map(|f| payload(f)).collect()
                };
                let kind = m[0]["opcode"].as_str().unwrap();
                format!("{kind} {}", digest(&bytes))
            })
            .collect();
        assert_eq!(got, want, "{dir} messages\n{}", e.summary());
        let close = frames.last().unwrap();
        assert_eq!(
            (
                &close["opcode"],
                &close["close_code"],
                &close["close_reason"]
            ),
            (&json!("close"), &json!(4001), &json!("chromium done")),
            "{}",
            e.summary()
        );
    }
    let end = e.close_of(conn);
    assert_eq!((&end["code"], &end["by"]), (&json!(4001), &json!("client")));
}

// ---------------------------------------------------------------------------------------------
// 5. The local CA and upstream TLS

#[test]
fn each_ca_dir_has_its_own_ca_with_a_private_key() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let (da, db) = (a.path().join("ca"), b.path().join("ca"));
    let fa = ca_cmd(&da, &["fingerprint"]);
    let fb = ca_cmd(&db, &["fingerprint"]);
    let hex_pairs = |f: &str| {
        f.split(':').count() == 32
            && f.split(':')
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
    };
    assert!(hex_pairs(&fa) && hex_pairs(&fb), "{fa} / {fb}");
    assert_ne!(fa, fb, "two CA directories must get two different CAs");
    assert_eq!(ca_cmd(&da, &["fingerprint"]), fa, "the CA is kept");
    assert_eq!(
        PathBuf::from(ca_cmd(&da, &["path"])),
        da.join("ca-cert.pem")
    );
    let key_mode = std::fs::metadata(da.join("ca-key.pem"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "ca-key.pem mode {key_mode:o}");
    let dir_mode = std::fs::metadata(&da).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "CA directory mode {dir_mode:o}");
    let spki = unb64(&ca_cmd(&da, &["spki"]));
    assert_eq!(spki.len(), 32, "spki is base64(SHA-256)");
    // SOCKSCOPE_CA_DIR names the same directory.
    let mut cmd = Command::new(sockscope_bin());
    cmd.args(["ca", "fingerprint"]).env("SOCKSCOPE_CA_DIR", &da);
    assert_eq!(run_to_end("ca via env", cmd, secs(20)), vec![fa.clone()]);
    // regenerate replaces it.
    ca_cmd(&da, &["regenerate"]);
    let fa2 = ca_cmd(&da, &["fingerprint"]);
    assert!(hex_pairs(&fa2));
    assert_ne!(fa2, fa, "regenerate makes a new CA");
}

/// `sockscope ca path|fingerprint|spki|regenerate [--ca-dir DIR]`: the option after the
/// subcommand, as documented.
#[test]
fn ca_dir_option_is_accepted_after_the_subcommand() {
    let a = tempfile::tempdir().expect("tempdir");
    let dir = a.path().join("ca");
    let before = ca_cmd(&dir, &["fingerprint"]);
    let mut p = Proc::spawn("sockscope ca fingerprint --ca-dir", {
        let mut cmd = Command::new(sockscope_bin());
        cmd.args(["ca", "fingerprint", "--ca-dir"]).arg(&dir);
        cmd
    });
    let out = p.stdout_to_end(secs(20));
    let status = p.wait(secs(10));
    assert!(
        status.success() && out == vec![before.clone()],
        "CLI BUG: `sockscope ca fingerprint --ca-dir DIR` should print {before}, got {status} \
         {out:?}\n{}",
        p.context()
    );
}

#[test]
fn an_untrusted_wss_upstream_is_refused_unless_insecure() {
    let site = make_certs();
    let (srv, port) = start_server(
        "wss server",
        python(
            "py_server.py",
            &[
                "--tls-cert",
                site.cert.to_str().unwrap(),
                "--tls-key",
                site.key.to_str().unwrap(),
            ],
        ),
    );
    let upstream = format!("wss://localhost:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let msgs = [Msg::text("through TLS upstream")];
    let client = |cap: &Capture| {
        run_client(
            "python client",
            python(
                "py_client.py",
                &["--url", &cap.ws_url("/echo"), "--send", &specs(&msgs)],
            ),
            secs(30),
        )
    };

    // 1. Not trusted: the client gets 502 and the connection is recorded as failed.
    let db1 = dir.path().join("refused.db");
    let cap = Capture::start(&db1, &["--upstream", &upstream]);
    let session = cap.session;
    let crep = client(&cap);
    assert_eq!(crep["status"], 502, "{crep}");
    assert_eq!(crep["opened"], false, "{crep}");
    let e = cap.finish(1);
    let conns = e.connections();
    assert_eq!(conns.len(), 1, "{}", e.summary());
    assert_eq!(conns[0]["url"], format!("{upstream}/echo"));
    assert!(e.frames(conns[0]).is_empty(), "{}", e.summary());
    let end = e.close_of(conns[0]);
    assert_eq!(end["by"], "error", "{end}");
    let error = end["error"].as_str().unwrap_or("");
    assert!(
        error.contains("certificate") || error.contains("UnknownIssuer"),
        "the recorded error should say why: {end}"
    );
    let store = Store::open(&db1).expect("store");
    let rows = store.connections(SessionId(session)).expect("connections");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, ConnState::Failed, "{:?}", rows[0]);
    drop(store);

    // 2. --insecure-upstream: it works, and the recording says it was insecure.
    let db2 = dir.path().join("insecure.db");
    let cap = Capture::start(&db2, &["--upstream", &upstream, "--insecure-upstream"]);
    assert!(
        cap.proc.context().contains("not verified"),
        "a warning about --insecure-upstream: {}",
        cap.proc.context()
    );
    let crep = client(&cap);
    assert_eq!(crep["error"], Value::Null, "{crep}");
    assert_eq!(received_descs(&crep), vec![msgs[0].received_desc()]);
    let e = cap.finish(1);
    let conn = e.connections()[0];
    assert_eq!(conn["insecure"], true, "{conn}");
    assert_eq!(conn["response_status"], 101);
    assert_eq!(
        e.frames_dir(conn, "client")[0]["text"],
        "through TLS upstream"
    );
    assert_eq!(e.close_of(conn)["code"], 1000);

    // 3. --upstream-ca with the test CA: verified, not insecure.
    let db3 = dir.path().join("trusted.db");
    let cap = Capture::start(
        &db3,
        &[
            "--upstream",
            &upstream,
            "--upstream-ca",
            site.ca_pem.to_str().unwrap(),
        ],
    );
    let crep = client(&cap);
    assert_eq!(crep["error"], Value::Null, "{crep}");
    assert_eq!(received_descs(&crep), vec![msgs[0].received_desc()]);
    let e = cap.finish(1);
    let conn = e.connections()[0];
    assert!(conn.get("insecure").is_none(), "{conn}");
    assert_eq!(
        e.frames_dir(conn, "server")[0]["text"],
        "through TLS upstream"
    );
    // Only the connections that reached it (2 and 3) were served by the upstream.
    for _ in 0..2 {
        let r = srv.event("result", secs(10));
        assert_eq!(r["path"], "/echo");
    }
}

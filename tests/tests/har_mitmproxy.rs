//! A HAR written by a real mitmproxy (`mitmdump --set hardump=FILE` as a reverse proxy in front
//! of a Python `websockets` echo server, driven by a Python client: `tests/peers/mitm_har.py`)
//! imports as a session whose frames are the messages that went through.
//!
//! Needs `scripts/deps.sh test` (the project venv with `tests/requirements.txt`, mitmproxy
//! included).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use base64::Engine as _;
use serde_json::Value;
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{ConnState, ImportFormat, ImportLimits, SessionKind, Store};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn venv_bin(name: &str) -> PathBuf {
    let bin = workspace().join(".venv").join("bin").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `scripts/deps.sh test` (installs tests/requirements.txt into .venv)",
        bin.display()
    );
    bin
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v["b64"].as_str().expect("b64"))
        .expect("base64")
}

#[test]
fn a_mitmproxy_hardump_imports() {
    venv_bin("mitmdump");
    let dir = tempfile::tempdir().expect("tempdir");
    let har = dir.path().join("mitmproxy.har");
    let out = Command::new(venv_bin("python"))
        .arg(workspace().join("tests/peers/mitm_har.py"))
        .arg("--har")
        .arg(&har)
        .current_dir(workspace().join("tests/peers"))
        .output()
        .expect("run mitm_har.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mitm_har.py failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value =
        serde_json::from_str(stdout.lines().last().expect("result line")).expect("result JSON");
    assert_eq!(result["event"], "result");
    // The exchange itself went through mitmproxy both ways.
    assert_eq!(result["sent"], result["received"]);

    let store = Store::open(dir.path().join("m.db")).expect("open");
    let summary = store
        .import_file(&har, ImportLimits::default(), &|_| {})
        .expect("the mitmproxy HAR imports");
    assert_eq!(summary.format, ImportFormat::Har);
    assert_eq!(summary.connections, 1);
    let session = store.session(summary.session).expect("session");
    assert_eq!(session.kind, SessionKind::Proxy);
    assert_eq!(session.imported_from.as_deref(), Some("mitmproxy.har"));

    let conns = store.connections(summary.session).expect("connections");
    let c = &conns[0];
    // mitmproxy writes the upstream's http:// URL; the connection gets its ws:// form.
    assert_eq!(c.url, result["upstream_url"].as_str().expect("url"));
    assert_eq!(c.response_status, Some(101));
    assert_eq!(c.state, ConnState::Closed);
    assert!(c
        .request_headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("upgrade") && v == "websocket"));

    // Each message sent and each echo, in order, as whole frames.
    let sent = result["sent"].as_array().expect("sent");
    let mut want = Vec::new();
    for m in sent {
        let op = if m["type"] == "text" {
            Opcode::Text
        } else {
            Opcode::Binary
        };
        want.push((Direction::Client, op, b64(m)));
        want.push((Direction::Server, op, b64(m)));
    }
    let frames = store.frames_after(summary.session, 0, 100).expect("frames");
    let got: Vec<_> = frames
        .iter()
        .map(|f| {
            let full = store.frame(summary.session, f.seq).expect("frame");
            (full.dir, full.opcode, full.payload)
        })
        .collect();
    assert_eq!(got, want);
    assert!(frames.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
    assert!(frames.iter().all(|f| f.fin && !f.rsv1));

    // Exported again as HAR, the messages are mitmproxy's.
    let original: Value =
        serde_json::from_slice(&std::fs::read(&har).expect("read")).expect("har json");
    let mut out = Vec::new();
    store
        .export_har(summary.session, &mut out)
        .expect("export har");
    let exported: Value = serde_json::from_slice(&out).expect("har json");
    let strip = |v: &Value| -> Vec<(String, i64, String)> {
        v["log"]["entries"][0]["_webSocketMessages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                (
                    m["type"].as_str().expect("type").to_owned(),
                    m["opcode"].as_i64().expect("opcode"),
                    m["data"].as_str().expect("data").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&exported), strip(&original));
}

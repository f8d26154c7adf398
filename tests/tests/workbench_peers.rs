//! The connection workbench against real, independent peers on 127.0.0.1: a Python
//! `websockets` server (headers, Origin, query, subprotocol, binary sizes byte-exact, ping
//! payloads, close codes both ways, reconnect across a restart, send on save), a Node `ws`
//! server over TLS with a CA made by the test (certificate errors, CA file, do-not-verify,
//! client certificates as PEM and PKCS#12), and the `sockscope` binary (`connect` flags,
//! `demo`).
//!
//! Needs `cargo build -p sockscope-cli` (done by `make test`) and `scripts/deps.sh test`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use base64::Engine as _;
use serde_json::Value;
use sockscope_e2e::*;
use sockscope_engine::templates::SendOnSaveOptions;
use sockscope_engine::{
    Auth, ClientCert, ConnectOptions, Engine, LinkInfo, LinkState, Outgoing, ReconnectPolicy,
    TlsOptions,
};
use sockscope_proto::{Direction, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnState, FrameSummary, Store};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn engine(dir: &Path) -> Engine {
    Engine::new(Store::open(dir.join("wb.db")).expect("store"))
}

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

async fn frames(engine: &Engine, session: SessionId) -> Vec<FrameSummary> {
    engine.store().flush().await.expect("flush");
    engine
        .store()
        .frames_after(session, 0, 1_000_000)
        .expect("frames")
}

/// Frames of one direction and opcode, waiting until there are `n` of them.
async fn wait_frames(
    engine: &Engine,
    session: SessionId,
    dir: Direction,
    op: Opcode,
    n: usize,
) -> Vec<FrameSummary> {
    let deadline = Instant::now() + WAIT;
    loop {
        let f: Vec<_> = frames(engine, session)
            .await
            .into_iter()
            .filter(|f| f.dir == dir && f.opcode == op)
            .collect();
        if f.len() >= n {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "{n} {dir:?} {op:?} frames expected, got {f:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn py_server(args: &[&str]) -> (Proc, u16) {
    start_server("wb_server.py", python("wb_server.py", args))
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131 + seed * 17 + (i >> 8)) & 255) as u8)
        .collect()
}

#[test]
fn python_server_sees_headers_origin_query_and_subprotocol() {
    let (server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let engine = engine(dir.path());
        let link = engine
            .open_link(ConnectOptions {
                query: vec![("room".into(), "a b&c".into()), ("n".into(), "1".into())],
                headers: vec![("X-Trace".into(), "t-42".into())],
                subprotocols: vec!["sockscope.v1".into(), "sockscope.v2".into()],
                origin: Some("https://app.example".into()),
                auth: Auth::Bearer {
                    token: "s3cret".into(),
                },
                ..ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo?fixed=yes"))
            })
            .await
            .expect("link");
        let open = link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
        assert_eq!(open.subprotocol.as_deref(), Some("sockscope.v2"));
        engine.link_close(link.id, 1000, "").await.unwrap();
        link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
        // The recorded options never hold the token.
        engine.store().flush().await.unwrap();
        let row = engine.store().connection(link.connection_id).unwrap();
        let options = row.options.expect("options").to_string();
        assert!(
            options.contains("\"auth\":\"bearer\"") && !options.contains("s3cret"),
            "{options}"
        );
    });
    let hs = server.event("handshake", WAIT);
    assert_eq!(hs["path"], "/echo");
    assert_eq!(
        hs["query"],
        serde_json::json!([["fixed", "yes"], ["room", "a b&c"], ["n", "1"]])
    );
    assert_eq!(hs["origin"], "https://app.example");
    assert_eq!(hs["authorization"], "Bearer s3cret");
    assert_eq!(
        hs["offered"],
        serde_json::json!(["sockscope.v1", "sockscope.v2"])
    );
    assert_eq!(hs["subprotocol"], "sockscope.v2");
    let headers = hs["headers"].as_array().unwrap();
    assert!(
        headers.iter().any(|h| h[0] == "X-Trace" && h[1] == "t-42"),
        "{headers:?}"
    );
    // No subprotocol offered the server knows: none negotiated, and the connection opens.
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let engine = engine(dir.path());
        let link = engine
            .open_link(ConnectOptions {
                subprotocols: vec!["mqtt".into()],
                ..ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo"))
            })
            .await
            .unwrap();
        let open = link_until(&engine, link.id, "open", |l| {
            l.state != LinkState::Connecting
        })
        .await;
        assert_eq!((open.state, open.subprotocol), (LinkState::Open, None));
        engine.link_close(link.id, 1000, "").await.unwrap();
    });
    let hs = server.event("handshake", WAIT);
    assert_eq!(hs["offered"], serde_json::json!(["mqtt"]));
    assert_eq!(hs["subprotocol"], Value::Null);
}

#[test]
fn binary_sizes_round_trip_byte_exact_and_ping_payload_comes_back() {
    let (server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1, 125, 126, 65535, 65536, 1 << 20];
    rt().block_on(async {
        let engine = engine(dir.path());
        let link = engine
            .open_link(ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo")))
            .await
            .unwrap();
        link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
        for (i, &n) in sizes.iter().enumerate() {
            engine
                .link_send(link.id, Outgoing::Binary(pattern(n, i).into()))
                .await
                .unwrap();
        }
        let echoed = wait_frames(
            &engine,
            link.session_id,
            Direction::Server,
            Opcode::Binary,
            sizes.len(),
        )
        .await;
        for (i, (f, &n)) in echoed.iter().zip(&sizes).enumerate() {
            let stored = engine.store().frame(link.session_id, f.seq).unwrap();
            assert_eq!(stored.payload.len(), n);
            assert!(stored.payload[..] == pattern(n, i)[..], "size {n} differs");
        }
        let sent = wait_frames(
            &engine,
            link.session_id,
            Direction::Client,
            Opcode::Binary,
            sizes.len(),
        )
        .await;
        assert!(sent.iter().all(|f| f.injected));
        // Ping with a payload: the pong carries it back.
        engine
            .link_send(link.id, Outgoing::Ping(b"are you there?".to_vec().into()))
            .await
            .unwrap();
        let pong = wait_frames(&engine, link.session_id, Direction::Server, Opcode::Pong, 1).await;
        let stored = engine.store().frame(link.session_id, pong[0].seq).unwrap();
        assert_eq!(&stored.payload[..], b"are you there?");
        engine.link_close(link.id, 1000, "").await.unwrap();
        link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    });
    let result = server.event("result", WAIT);
    let got: Vec<u64> = result["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["len"].as_u64().unwrap())
        .collect();
    assert_eq!(got, sizes.iter().map(|&n| n as u64).collect::<Vec<_>>());
    for (i, d) in result["received"].as_array().unwrap().iter().enumerate() {
        assert_eq!(d["type"], "binary");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d["b64"].as_str().unwrap())
            .unwrap();
        assert!(
            bytes == pattern(sizes[i], i),
            "server got size {} wrong",
            sizes[i]
        );
    }
}

#[test]
fn close_codes_travel_both_ways_and_are_recorded() {
    let (server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let engine = engine(dir.path());
        // Client closes: 1000, 1001, 4000 with a reason.
        for (code, reason) in [(1000u16, ""), (1001, "going away"), (4000, "custom reason")] {
            let link = engine
                .open_link(ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo")))
                .await
                .unwrap();
            link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
            engine.link_close(link.id, code, reason).await.unwrap();
            link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
            engine.store().flush().await.unwrap();
            let row = engine.store().connection(link.connection_id).unwrap();
            assert_eq!(
                (row.close_code, row.close_reason.as_deref(), row.closed_by),
                (Some(code), Some(reason), Some(ClosedBy::Client))
            );
            let sent = wait_frames(
                &engine,
                link.session_id,
                Direction::Client,
                Opcode::Close,
                1,
            )
            .await;
            assert_eq!(
                (sent[0].close_code, sent[0].close_reason.as_deref()),
                (Some(code), Some(reason))
            );
            let r = server.event("result", WAIT);
            assert_eq!(
                r["close_rcvd"],
                serde_json::json!({"code": code, "reason": reason})
            );
        }
        // Server closes: 1000, 1001, 4000 (reason "bye CODE").
        for code in [1000u16, 1001, 4000] {
            let link = engine
                .open_link(ConnectOptions::new(format!(
                    "ws://127.0.0.1:{port}/close/{code}"
                )))
                .await
                .unwrap();
            link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
            engine
                .link_send(link.id, Outgoing::Text("close-me".into()))
                .await
                .unwrap();
            let done = link_until(&engine, link.id, "closed by server", |l| {
                l.state == LinkState::Closed
            })
            .await;
            assert!(
                done.error
                    .as_deref()
                    .unwrap_or("")
                    .contains(&code.to_string()),
                "{done:?}"
            );
            engine.store().flush().await.unwrap();
            let row = engine.store().connection(link.connection_id).unwrap();
            let reason = format!("bye {code}");
            assert_eq!(
                (row.close_code, row.close_reason.as_deref(), row.closed_by),
                (Some(code), Some(reason.as_str()), Some(ClosedBy::Server))
            );
            let got = wait_frames(
                &engine,
                link.session_id,
                Direction::Server,
                Opcode::Close,
                1,
            )
            .await;
            assert_eq!(
                (got[0].close_code, got[0].close_reason.as_deref()),
                (Some(code), Some(reason.as_str()))
            );
            server.event("result", WAIT);
        }
    });
}

#[test]
fn reconnects_after_the_python_server_restarts() {
    let (mut server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let engine = engine(dir.path());
        let link = engine
            .open_link(ConnectOptions {
                reconnect: Some(ReconnectPolicy {
                    max_attempts: 100,
                    initial_delay: Duration::from_millis(100),
                    max_delay: Duration::from_millis(400),
                }),
                ..ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo"))
            })
            .await
            .unwrap();
        link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
        // Stopped: killed (SIGTERM ends the Python process without a closing handshake).
        server.signal("TERM");
        server.wait(WAIT);
        drop(server);
        link_until(&engine, link.id, "failed attempts", |l| {
            l.attempts.len() >= 3
        })
        .await;
        let (restarted, port2) = py_server(&["--port", &port.to_string()]);
        assert_eq!(port2, port);
        let back = link_until(&engine, link.id, "open again", |l| {
            l.state == LinkState::Open && l.attempt > 0
        })
        .await;
        engine
            .link_send(link.id, Outgoing::Text("after restart".into()))
            .await
            .unwrap();
        let echoed =
            wait_frames(&engine, link.session_id, Direction::Server, Opcode::Text, 1).await;
        assert_eq!(echoed[0].preview, "after restart");
        engine.store().flush().await.unwrap();
        let rows = engine.store().connections(link.session_id).unwrap();
        assert_eq!(rows.len(), back.attempts.len());
        assert_eq!(rows[0].state, ConnState::Closed);
        assert_eq!(
            (rows[0].close_code, rows[0].closed_by),
            (None, Some(ClosedBy::Error))
        );
        let failed = rows.iter().filter(|r| r.state == ConnState::Failed).count();
        assert!(failed >= 2, "{rows:#?}");
        assert!(rows
            .iter()
            .skip(1)
            .all(|r| r.options.as_ref().unwrap()["attempt"].as_u64() > Some(0)));
        assert_eq!(rows.last().unwrap().state, ConnState::Open);
        engine.link_close(link.id, 1000, "").await.unwrap();
        link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
        drop(restarted);
    });
}

#[test]
fn send_on_save_sends_exactly_one_message_per_edit() {
    let (server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("order.json");
    std::fs::write(&file, "{\"qty\":0}").unwrap();
    rt().block_on(async {
        let engine = engine(dir.path());
        let link = engine
            .open_link(ConnectOptions::new(format!("ws://127.0.0.1:{port}/echo")))
            .await
            .unwrap();
        link_until(&engine, link.id, "open", |l| l.state == LinkState::Open).await;
        let watch = engine
            .send_on_save(link.id, 1, SendOnSaveOptions::new(&file))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // An edit as an editor does it: truncate, write in pieces.
        {
            let mut f = std::fs::File::create(&file).unwrap();
            f.write_all(b"{\"qty\":").unwrap();
            f.flush().unwrap();
            f.write_all(b"5}").unwrap();
        }
        let echoed =
            wait_frames(&engine, link.session_id, Direction::Server, Opcode::Text, 1).await;
        assert_eq!(echoed[0].preview, "{\"qty\":5}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(watch.info().sent, 1);
        watch.stop().await;
        engine.link_close(link.id, 1000, "").await.unwrap();
        link_until(&engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    });
    let r = server.event("result", WAIT);
    let got: Vec<&str> = r["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        ["text"],
        "the server received exactly one message: {r}"
    );
}

// ---------------------------------------------------------------------------------------
// TLS with a CA made here

struct Pki {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
    client_p12: std::path::PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Workbench Test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "workbench-client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let pki = Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
        client_p12: dir.join("client.p12"),
    };
    // PKCS#12 made by OpenSSL (an independent implementation).
    let status = std::process::Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:p12-secret", "-in"])
        .arg(&pki.client_cert)
        .arg("-inkey")
        .arg(&pki.client_key)
        .arg("-out")
        .arg(&pki.client_p12)
        .stdout(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl pkcs12 -export failed");
    pki
}

fn tls_server(pki: &Pki, require_client_cert: bool) -> (Proc, u16) {
    let mut args = vec![
        "--cert".to_owned(),
        pki.server_cert.display().to_string(),
        "--key".to_owned(),
        pki.server_key.display().to_string(),
    ];
    if require_client_cert {
        args.push("--client-ca".into());
        args.push(pki.ca.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start_server("wb_tls_server.mjs", node("wb_tls_server.mjs", &args))
}

/// Opens a link and waits for it to open or fail; returns the final info and the echo check.
async fn try_tls(engine: &Engine, url: &str, tls: TlsOptions) -> LinkInfo {
    let link = engine
        .open_link(ConnectOptions {
            tls,
            ..ConnectOptions::new(url)
        })
        .await
        .expect("options accepted");
    let info = link_until(engine, link.id, "open or failed", |l| {
        matches!(l.state, LinkState::Open | LinkState::Failed)
    })
    .await;
    if info.state == LinkState::Open {
        engine
            .link_send(link.id, Outgoing::Text("over tls".into()))
            .await
            .unwrap();
        let echoed = wait_frames(engine, link.session_id, Direction::Server, Opcode::Text, 1).await;
        assert_eq!(echoed[0].preview, "over tls");
        engine.link_close(link.id, 1000, "").await.unwrap();
        link_until(engine, link.id, "closed", |l| l.state == LinkState::Closed).await;
    }
    info
}

#[test]
fn tls_fails_by_default_and_succeeds_with_the_ca_or_without_verification() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, port) = tls_server(&pki, false);
    let url = format!("wss://localhost:{port}/");
    rt().block_on(async {
        let engine = engine(dir.path());
        let failed = try_tls(&engine, &url, TlsOptions::default()).await;
        assert_eq!(failed.state, LinkState::Failed);
        let err = failed.error.unwrap_or_default();
        assert!(
            err.contains("certificate") && err.contains("not trusted"),
            "{err}"
        );
        assert!(!failed.insecure);

        let ok = try_tls(
            &engine,
            &url,
            TlsOptions {
                ca_file: Some(pki.ca.clone()),
                ..TlsOptions::default()
            },
        )
        .await;
        assert_eq!(ok.state, LinkState::Open, "{ok:?}");
        assert!(!ok.insecure);
        assert!(!engine.store().session(ok.session_id).unwrap().insecure);

        let insecure = try_tls(
            &engine,
            &url,
            TlsOptions {
                insecure: true,
                ..TlsOptions::default()
            },
        )
        .await;
        assert_eq!(insecure.state, LinkState::Open, "{insecure:?}");
        assert!(insecure.insecure);
        engine.store().flush().await.unwrap();
        assert!(
            engine
                .store()
                .connection(insecure.connection_id)
                .unwrap()
                .insecure
        );
        assert!(
            engine
                .store()
                .session(insecure.session_id)
                .unwrap()
                .insecure,
            "the session is marked insecure"
        );

        // A CA file that is not PEM is refused before connecting.
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = engine
            .open_link(ConnectOptions {
                tls: TlsOptions {
                    ca_file: Some(bad),
                    ..TlsOptions::default()
                },
                ..ConnectOptions::new(url.clone())
            })
            .await
            .expect_err("bad CA file refused");
        assert!(e.to_string().contains("bad.pem"), "{e}");
    });
    drop(server);
}

#[test]
fn client_certificates_pem_and_pkcs12() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, port) = tls_server(&pki, true);
    let url = format!("wss://127.0.0.1:{port}/");
    rt().block_on(async {
        let engine = engine(dir.path());
        let ca = Some(pki.ca.clone());
        let without = try_tls(
            &engine,
            &url,
            TlsOptions {
                ca_file: ca.clone(),
                ..TlsOptions::default()
            },
        )
        .await;
        assert_eq!(without.state, LinkState::Failed, "{without:?}");

        let pem = try_tls(
            &engine,
            &url,
            TlsOptions {
                ca_file: ca.clone(),
                client_cert: Some(ClientCert::Pem {
                    cert: pki.client_cert.clone(),
                    key: pki.client_key.clone(),
                }),
                insecure: false,
            },
        )
        .await;
        assert_eq!(pem.state, LinkState::Open, "{pem:?}");
        let p12 = try_tls(
            &engine,
            &url,
            TlsOptions {
                ca_file: ca.clone(),
                client_cert: Some(ClientCert::Pkcs12 {
                    file: pki.client_p12.clone(),
                    password: "p12-secret".into(),
                }),
                insecure: false,
            },
        )
        .await;
        assert_eq!(p12.state, LinkState::Open, "{p12:?}");
        let wrong = engine
            .open_link(ConnectOptions {
                tls: TlsOptions {
                    ca_file: ca.clone(),
                    client_cert: Some(ClientCert::Pkcs12 {
                        file: pki.client_p12.clone(),
                        password: "wrong".into(),
                    }),
                    insecure: false,
                },
                ..ConnectOptions::new(url.clone())
            })
            .await
            .expect_err("wrong PKCS#12 password refused");
        assert!(wrong.to_string().contains("client.p12"), "{wrong}");
    });
    // The server saw the client certificate twice (PEM, then PKCS#12).
    for _ in 0..2 {
        let c = server.event("client", WAIT);
        assert_eq!(c["cn"], "workbench-client");
        assert_eq!(c["authorized"], true);
    }
}

// ---------------------------------------------------------------------------------------
// The binary: `sockscope connect` flags and `sockscope demo`

#[test]
fn cli_connect_binary_hex_with_headers_and_subprotocol() {
    let (server, port) = py_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut cmd = sockscope(
        &db,
        &[
            "connect",
            &format!("ws://127.0.0.1:{port}/echo"),
            "-H",
            "X-Cli: yes",
            "--subprotocol",
            "sockscope.v2",
            "--origin",
            "http://cli.test",
            "--binary",
            "--ping-interval",
            "0.2",
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"00 01 fe ff\n\ndeadbeef\n").unwrap();
        // Let a keep-alive round trip happen, then ctrl-D.
        std::thread::sleep(Duration::from_millis(800));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("session "), "{stdout}");
    assert_eq!(&lines[1..], ["00 01 fe ff", "", "de ad be ef"], "{stdout}");
    assert!(stderr.contains("subprotocol sockscope.v2"), "{stderr}");
    assert!(stderr.contains("rtt "), "{stderr}");
    let hs = server.event("handshake", WAIT);
    assert_eq!(hs["origin"], "http://cli.test");
    assert!(hs["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "X-Cli" && h[1] == "yes"));
    let r = server.event("result", WAIT);
    assert_eq!(
        r["close_rcvd"],
        serde_json::json!({"code": 1000, "reason": ""}),
        "ctrl-D closes with 1000"
    );
    let sizes: Vec<u64> = r["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["len"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [4, 0, 4]);
}

#[test]
fn cli_tls_flags() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (_server, port) = tls_server(&pki, true);
    let db = dir.path().join("cli.db");
    let url = format!("wss://localhost:{port}/");
    let run = |extra: &[&str]| {
        let mut args = vec!["connect", url.as_str()];
        args.extend_from_slice(extra);
        let mut cmd = sockscope(&db, &args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello tls\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ca = pki.ca.display().to_string();
    let cert = pki.client_cert.display().to_string();
    let key = pki.client_key.display().to_string();
    let p12 = pki.client_p12.display().to_string();
    let out = run(&["--ca", &ca]);
    assert_eq!(out.status.code(), Some(1), "no client certificate: refused");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not trusted"));
    for extra in [
        vec![
            "--ca",
            ca.as_str(),
            "--cert",
            cert.as_str(),
            "--key",
            key.as_str(),
        ],
        vec![
            "--insecure",
            "--cert",
            p12.as_str(),
            "--cert-password",
            "p12-secret",
        ],
    ] {
        let out = run(&extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l == "hello tls"),
            "{extra:?}"
        );
    }
    // The --insecure session is marked.
    let sessions = std::process::Command::new(sockscope_bin())
        .arg("--db")
        .arg(&db)
        .args(["sessions", "--json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&sessions.stdout).unwrap();
    let insecure: Vec<bool> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["insecure"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(insecure.iter().filter(|i| **i).count(), 1, "{list}");
}

#[test]
fn cli_demo_servers_with_real_clients() {
    // echo, through `sockscope connect`.
    let demo = Proc::spawn(
        "sockscope demo echo",
        sockscope(
            Path::new("/nonexistent/unused.db"),
            &["demo", "echo", "--listen", "127.0.0.1:0"],
        ),
    );
    let line = demo.recv(false, WAIT, "the listening line");
    let url = line
        .strip_prefix("listening ")
        .expect("listening line")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sockscope(&dir.path().join("d.db"), &["connect", &url]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().skip(1).collect::<Vec<_>>(), ["one", "two"]);
    drop(demo);

    // chat, ticker, telemetry, notifications, through a Python websockets client.
    for (kind, extra) in [
        ("chat", vec![]),
        ("ticker", vec!["--rate", "500"]),
        ("telemetry", vec![]),
        ("notifications", vec![]),
    ] {
        let mut args = vec!["demo", kind, "--listen", "127.0.0.1:0"];
        args.extend(extra);
        let mut demo = Proc::spawn(kind, sockscope(Path::new("/nonexistent/unused.db"), &args));
        let url = demo
            .recv(false, WAIT, "the listening line")
            .strip_prefix("listening ")
            .unwrap()
            .to_owned();
        let report = run_client(
            &format!("demo_client.py {kind}"),
            python("demo_client.py", &[kind, &url]),
            WAIT,
        );
        match kind {
            "chat" => {
                assert_eq!(report["a"][0]["type"], "join");
                assert_eq!(
                    report["a"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|m| m["type"] == "message" && m["text"] == "hello room")
                        .count(),
                    1,
                    "{report}"
                );
                assert_eq!(
                    report["b"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|m| m["type"] == "message" && m["text"] == "hello room")
                        .count(),
                    1,
                    "{report}"
                );
                assert!(
                    report["a"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m["type"] == "leave"),
                    "{report}"
                );
            }
            "ticker" => {
                let n = report["count"].as_u64().unwrap();
                assert!((300..=650).contains(&n), "{n} ticks in 1 s at 500/s");
                assert_eq!(report["gaps"], 0);
            }
            "telemetry" => {
                assert_eq!(report["first"]["sensor"], "env-1");
                assert!(report["count"].as_u64().unwrap() >= 5);
            }
            _ => {
                assert!(report["count"].as_u64().unwrap() >= 1);
                assert_eq!(report["first"]["type"], "notification");
            }
        }
        demo.signal("TERM");
        assert!(demo.wait(WAIT).success());
    }
}

#[test]
fn cli_reconnect_reports_each_attempt_and_gives_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let mut cmd = sockscope(
        &db,
        &[
            "connect",
            &format!("ws://127.0.0.1:{port}/"),
            "--reconnect",
            "--reconnect-max",
            "2",
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // stdin stays open (end of stdin would close the link and stop reconnecting).
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failures = stderr
        .lines()
        .filter(|l| *l == "connection failed: connection refused")
        .count();
    assert_eq!(failures, 3, "{stderr}");
    // The CLI prints the time left until the attempt when it notices the schedule (it polls),
    // so the first wait is at most the policy's initial 0.5 s.
    let first_wait: f64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("reconnecting in ")?
                .strip_suffix(" s (attempt 1)")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no first reconnect line: {stderr}"));
    assert!((0.0..=0.5).contains(&first_wait), "{stderr}");
    assert!(stderr.contains("(attempt 2)"), "{stderr}");
    assert!(
        stderr.contains("gave up after 2 reconnect attempts"),
        "{stderr}"
    );
    // Every attempt is a connection of the session.
    let session: i64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("session "))
        .and_then(|n| n.parse().ok())
        .expect("session line");
    let store = Store::open(&db).unwrap();
    let conns = store.connections(SessionId(session)).unwrap();
    assert_eq!(conns.len(), 3);
    assert!(conns.iter().all(|c| c.state == ConnState::Failed));
}

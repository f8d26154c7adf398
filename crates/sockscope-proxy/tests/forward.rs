//! Forward proxy mode on 127.0.0.1: absolute-form upgrades, CONNECT with TLS interception by
//! the local CA toward a TLS upstream, tunnelling of hosts not intercepted, plain HTTP
//! passing through, and refusal to proxy to itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use sockscope_proto::{Direction, Opcode};
use sockscope_proxy::ca::LocalCa;
use sockscope_proxy::{Proxy, ProxyConfig};
use sockscope_store::Store;
use sockscope_testkit::EchoServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

const WAIT: Duration = Duration::from_secs(10);

struct Env {
    _dirs: tempfile::TempDir,
    store: Store,
    proxy: Proxy,
    /// The CA dir of a pretend "real" upstream, trusted by the proxy through --upstream-ca.
    upstream_ca: std::path::PathBuf,
}

async fn forward(intercept: Option<Vec<String>>) -> Env {
    let dirs = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dirs.path().join("fwd.db")).expect("store");
    let upstream_ca = dirs.path().join("upstream-ca");
    LocalCa::load_or_create(&upstream_ca).expect("upstream ca");
    let proxy = Proxy::start(
        store.clone(),
        ProxyConfig {
            listen: "127.0.0.1:0".into(),
            intercept,
            upstream_ca: Some(LocalCa::cert_path(&dirs.path().join("upstream-ca"))),
            ca_dir: Some(dirs.path().join("proxy-ca")),
            ..ProxyConfig::default()
        },
    )
    .await
    .expect("proxy");
    Env {
        _dirs: dirs,
        store,
        proxy,
        upstream_ca,
    }
}

/// A wss:// echo server whose certificate (for "localhost") the upstream CA signed.
async fn tls_echo(ca_dir: &std::path::Path) -> std::net::SocketAddr {
    let ca = Arc::new(LocalCa::load_or_create(ca_dir).expect("ca"));
    let cfg = sockscope_proxy::tls::intercept_server_config(ca, "localhost").expect("cfg");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn connect_through(proxy: std::net::SocketAddr, authority: &str) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.expect("tcp");
    s.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = BytesMut::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        tokio::time::timeout(WAIT, s.read_buf(&mut buf))
            .await
            .expect("in time")
            .expect("read");
    }
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    s
}

fn trusting(ca: &LocalCa) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn wait_frames(
    store: &Store,
    session: sockscope_proto::SessionId,
    n: usize,
) -> Vec<sockscope_store::FrameSummary> {
    for _ in 0..300 {
        store.flush().await.expect("flush");
        let f = store.frames_after(session, 0, 1000).expect("frames");
        if f.len() >= n {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} frames recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_intercepted_and_wss_frames_are_recorded() {
    let env = forward(None).await;
    let upstream = tls_echo(&env.upstream_ca).await;
    let authority = format!("localhost:{}", upstream.port());
    let tunnel = connect_through(env.proxy.local_addr(), &authority).await;
    let proxy_ca = env.proxy.ca().expect("forward mode has a CA").clone();
    let (mut ws, resp) = tokio_tungstenite::client_async_tls_with_config(
        format!("wss://{authority}/secure?x=1"),
        tunnel,
        None,
        Some(Connector::Rustls(trusting(&proxy_ca))),
    )
    .await
    .expect("wss through the proxy, trusting only the proxy's CA");
    assert_eq!(resp.status().as_u16(), 101);
    ws.send(Message::Text("secret".into())).await.expect("send");
    let echoed = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("msg");
    assert_eq!(echoed, Message::Text("secret".into()));
    ws.close(None).await.expect("close");

    let frames = wait_frames(&env.store, env.proxy.session(), 2).await;
    assert_eq!(
        (frames[0].dir, frames[0].opcode, frames[0].preview.as_str()),
        (Direction::Client, Opcode::Text, "secret")
    );
    assert_eq!(
        (frames[1].dir, frames[1].preview.as_str()),
        (Direction::Server, "secret")
    );
    let conns = env.store.connections(env.proxy.session()).expect("conns");
    assert_eq!(conns[0].url, format!("wss://{authority}/secure?x=1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_upgrades_are_relayed() {
    let env = forward(None).await;
    let echo = EchoServer::start().await.expect("echo");
    let mut s = TcpStream::connect(env.proxy.local_addr())
        .await
        .expect("tcp");
    // What an HTTP proxy client sends for a plain upgrade: an absolute-form target.
    let req = format!(
        "GET http://{0}/abs?q=2 HTTP/1.1\r\nHost: {0}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nProxy-Connection: keep-alive\r\n\r\n",
        echo.addr()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = BytesMut::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        tokio::time::timeout(WAIT, s.read_buf(&mut buf))
            .await
            .expect("in time")
            .expect("read");
    }
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        s,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    ws.send(Message::Text("abs".into())).await.expect("send");
    let m = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("msg");
    assert_eq!(m, Message::Text("abs".into()));
    let frames = wait_frames(&env.store, env.proxy.session(), 2).await;
    assert_eq!(frames[0].preview, "abs");
    let conns = env.store.connections(env.proxy.session()).expect("conns");
    assert_eq!(conns[0].url, format!("ws://{}/abs?q=2", echo.addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_not_intercepted_are_tunnelled_untouched() {
    let env = forward(Some(vec!["intercept.only.example".into()])).await;
    let upstream = tls_echo(&env.upstream_ca).await;
    let authority = format!("localhost:{}", upstream.port());
    let tunnel = connect_through(env.proxy.local_addr(), &authority).await;
    // Untouched: the client sees the upstream's own certificate, not the proxy's.
    let upstream_ca = LocalCa::load_or_create(&env.upstream_ca).expect("ca");
    let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(
        format!("wss://{authority}/"),
        tunnel,
        None,
        Some(Connector::Rustls(trusting(&upstream_ca))),
    )
    .await
    .expect("tunnelled wss");
    ws.send(Message::Text("tunnelled".into()))
        .await
        .expect("send");
    let m = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("msg");
    assert_eq!(m, Message::Text("tunnelled".into()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.store.flush().await.expect("flush");
    assert!(env
        .store
        .frames_after(env.proxy.session(), 0, 10)
        .expect("frames")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_passes_through_and_loops_are_refused() {
    let env = forward(None).await;
    // A tiny HTTP server.
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http_addr = http.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = http.accept().await {
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                let seen = String::from_utf8_lossy(&buf).into_owned();
                let body = if seen.starts_with("GET /page HTTP/1.1") {
                    "page body"
                } else {
                    "wrong target"
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    let mut s = TcpStream::connect(env.proxy.local_addr())
        .await
        .expect("tcp");
    s.write_all(format!("GET http://{http_addr}/page HTTP/1.1\r\nHost: {http_addr}\r\nProxy-Connection: keep-alive\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("page body"),
        "{text}"
    );

    let me = env.proxy.local_addr();
    let mut s = TcpStream::connect(me).await.expect("tcp");
    s.write_all(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", me.port()).as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("in time")
        .expect("read");
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 508"));
}

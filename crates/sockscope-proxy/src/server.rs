//! The capture listener: reverse mode (every client connection goes to one upstream) and
//! forward HTTP proxy mode (CONNECT with TLS interception, and absolute-form requests).

use crate::ca::LocalCa;
use crate::http::{self, RequestHead};
use crate::intercept::Intercept;
use crate::relay::{Injection, Relay, RelayLimits};
use crate::upstream::{self, split_host_port, BoxIo, Target};
use crate::ProxyError;
use bytes::{Bytes, BytesMut};
use sockscope_proto::observer::negotiated_deflate;
use sockscope_proto::{now_us, ConnectionId, Opcode, SessionId};
use sockscope_store::{ClosedBy, ConnectionEvent, NewConnection, SessionKind, Store};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{copy_bidirectional, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// Limits of a listener; every one has a default.
#[derive(Debug, Clone, Copy)]
pub struct ProxyLimits {
    /// Reading a request or response head.
    pub handshake_timeout: Duration,
    /// TCP + TLS to the upstream.
    pub connect_timeout: Duration,
    /// Client connections handled at once (more get 503).
    pub max_connections: usize,
    pub relay: RelayLimits,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_connections: 1024,
            relay: RelayLimits {
                frame_cap: 16 << 20,
                message_cap: 16 << 20,
                ping_timeout: Some(Duration::from_secs(30)),
                write_timeout: Some(sockscope_engine::stall::DEFAULT_WRITE_TIMEOUT),
            },
        }
    }
}

/// How to start a listener.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// `127.0.0.1:PORT` (port 0 picks one).
    pub listen: String,
    /// Reverse mode: `ws[s]://host[:port]`. `None` is forward proxy mode.
    pub upstream: Option<String>,
    /// Forward mode: only these CONNECT hosts are intercepted (`None`: all).
    pub intercept: Option<Vec<String>>,
    /// Extra trusted root (PEM) for upstream TLS.
    pub upstream_ca: Option<PathBuf>,
    /// Do not verify upstream certificates (recorded on every connection).
    pub insecure_upstream: bool,
    /// Where the local CA lives (default: the platform data dir's `ca/`).
    pub ca_dir: Option<PathBuf>,
    /// Listening on a non-loopback address needs this.
    pub allow_remote: bool,
    pub limits: ProxyLimits,
    /// Record into this session instead of a new one.
    pub session: Option<SessionId>,
    /// Breakpoints and rewrite rules, shared with other listeners (default: this listener's
    /// own, with no rules).
    pub interceptor: Option<Arc<Intercept>>,
}

/// Which way an injected message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    Server,
    Client,
}

struct Live {
    to_server: mpsc::Sender<Injection>,
    to_client: mpsc::Sender<Injection>,
}

struct Shared {
    store: Store,
    session: SessionId,
    listen: SocketAddr,
    target: Option<Target>,
    intercept: Option<Vec<String>>,
    client_tls: Arc<rustls::ClientConfig>,
    ca: Option<Arc<LocalCa>>,
    insecure: bool,
    limits: ProxyLimits,
    live: Mutex<HashMap<ConnectionId, Live>>,
    slots: Arc<Semaphore>,
    /// Upgrades being set up at once (upstream connect and handshake, recording the
    /// connection): see [`HANDSHAKES_AT_ONCE`].
    handshakes: Arc<Semaphore>,
    interceptor: Arc<Intercept>,
}

/// At most this many upgrades are set up at once; more wait their turn (up to the handshake
/// timeout, then `503`). A burst of thousands of connections would otherwise put thousands
/// of runnable set-up tasks ahead of every live relay in the runtime's queue (a proxied echo
/// took 55–125 ms while 5,000 connections arrived at once, hostile-peer tests).
pub const HANDSHAKES_AT_ONCE: usize = 32;

/// A running listener. Stops when [`Proxy::stop`] is called or it is dropped.
pub struct Proxy {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Proxy {
    /// Binds the listener, creates (or reuses) the capture session and starts accepting.
    pub async fn start(store: Store, cfg: ProxyConfig) -> Result<Proxy, ProxyError> {
        let target = cfg.upstream.as_deref().map(Target::parse).transpose()?;
        let listener =
            TcpListener::bind(&cfg.listen)
                .await
                .map_err(|source| ProxyError::Listen {
                    addr: cfg.listen.clone(),
                    source,
                })?;
        let listen = listener.local_addr()?;
        if !listen.ip().is_loopback() && !cfg.allow_remote {
            return Err(ProxyError::Listen {
                addr: cfg.listen.clone(),
                source: std::io::Error::other(
                    "not a loopback address; pass the explicit allow-remote option to listen there",
                ),
            });
        }
        let client_tls =
            crate::tls::upstream_client_config(cfg.upstream_ca.as_deref(), cfg.insecure_upstream)?;
        let ca = if target.is_none() {
            let dir = cfg.ca_dir.clone().unwrap_or_else(crate::ca::default_ca_dir);
            Some(Arc::new(LocalCa::load_or_create(&dir)?))
        } else {
            None
        };
        let session = match cfg.session {
            Some(s) => s,
            None => {
                let name = match &target {
                    Some(t) => format!(
                        "proxy {listen} → {}",
                        t.ws_url(if t.base.is_empty() { "/" } else { &t.base })
                    ),
                    None => format!("proxy {listen} (forward)"),
                };
                store.create_session(&name, SessionKind::Proxy).await?
            }
        };
        let shared = Arc::new(Shared {
            store,
            session,
            listen,
            target,
            intercept: cfg.intercept.clone(),
            client_tls,
            ca,
            insecure: cfg.insecure_upstream,
            limits: cfg.limits,
            live: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(cfg.limits.max_connections)),
            handshakes: Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE)),
            interceptor: cfg.interceptor.clone().unwrap_or_default(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(shared.clone(), listener, stop_rx));
        Ok(Proxy {
            shared,
            stop,
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.listen
    }

    pub fn session(&self) -> SessionId {
        self.shared.session
    }

    /// The listener's intercept state (rules, held messages).
    pub fn interceptor(&self) -> &Arc<Intercept> {
        &self.shared.interceptor
    }

    /// The local CA of a forward-mode listener.
    pub fn ca(&self) -> Option<&Arc<LocalCa>> {
        self.shared.ca.as_ref()
    }

    /// Proxied WebSocket connections currently relayed.
    pub fn live_connections(&self) -> Vec<ConnectionId> {
        self.shared
            .live
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A handle for injecting into this listener's connections (cheap to clone).
    pub fn injector(&self) -> Injector {
        Injector {
            shared: self.shared.clone(),
        }
    }

    /// Writes a whole, uncompressed message into a live proxied connection, between messages.
    pub async fn inject(
        &self,
        connection: ConnectionId,
        toward: Toward,
        opcode: Opcode,
        payload: Bytes,
    ) -> Result<(), ProxyError> {
        self.injector()
            .inject(connection, toward, opcode, payload)
            .await
    }

    /// Stops accepting and waits for the accept loop to end. Live relays are abandoned.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Injects messages into the live connections of one listener.
#[derive(Clone)]
pub struct Injector {
    shared: Arc<Shared>,
}

impl Injector {
    /// Writes a whole, uncompressed message into a live proxied connection, between messages.
    pub async fn inject(
        &self,
        connection: ConnectionId,
        toward: Toward,
        opcode: Opcode,
        payload: Bytes,
    ) -> Result<(), ProxyError> {
        let tx = {
            let map = self
                .shared
                .live
                .lock()
                .map_err(|_| ProxyError::NotLive(connection.0))?;
            let live = map
                .get(&connection)
                .ok_or(ProxyError::NotLive(connection.0))?;
            match toward {
                Toward::Server => live.to_server.clone(),
                Toward::Client => live.to_client.clone(),
            }
        };
        tx.send(Injection { opcode, payload })
            .await
            .map_err(|_| ProxyError::NotLive(connection.0))
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let shared = shared.clone();
                match shared.slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(async move {
                            handle_client(shared, tcp).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        conns.spawn(async move {
                            let mut tcp = tcp;
                            http::respond_error(&mut tcp, 503, "Service Unavailable", "too many connections\n").await;
                        });
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // Relays still running end with the listener; their connections are recorded as such.
    let live: Vec<ConnectionId> = shared
        .live
        .lock()
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default();
    conns.shutdown().await;
    for id in live {
        let _ = shared
            .store
            .update_connection(ConnectionEvent::Closed {
                id,
                at_us: now_us(),
                code: None,
                reason: "the listener was stopped".into(),
                by: ClosedBy::Error,
            })
            .await;
    }
}

async fn handle_client(shared: Arc<Shared>, mut tcp: TcpStream) {
    let mut buf = BytesMut::new();
    let head = match tokio::time::timeout(
        shared.limits.handshake_timeout,
        http::read_request(&mut tcp, &mut buf),
    )
    .await
    {
        Err(_) => {
            return http::respond_error(&mut tcp, 408, "Request Timeout", "request head too slow\n")
                .await
        }
        Ok(Err(_)) => {
            return http::respond_error(&mut tcp, 400, "Bad Request", "bad request\n").await
        }
        Ok(Ok(None)) => return,
        Ok(Ok(Some(h))) => h,
    };
    if let Some(target) = shared.target.clone() {
        let path = head.target.clone();
        return serve(&shared, Box::new(tcp), buf, head, target, &path).await;
    }
    if head.method.eq_ignore_ascii_case("CONNECT") {
        return tunnel(&shared, tcp, buf, head).await;
    }
    match absolute_form(&head.target) {
        Some((target, path)) => serve(&shared, Box::new(tcp), buf, head, target, &path).await,
        None => http::respond_error(&mut tcp, 400, "Bad Request", "not a proxy request\n").await,
    }
}

/// `http://host[:port]/path?q` → target without base, and `/path?q`.
fn absolute_form(uri: &str) -> Option<(Target, String)> {
    let (scheme, rest) = uri.split_once("://")?;
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let path = match &rest[cut..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut target = Target::parse(&format!("{scheme}://{}", &rest[..cut])).ok()?;
    target.base.clear();
    Some((target, path))
}

fn is_self(shared: &Shared, host: &str, port: u16) -> bool {
    if port != shared.listen.port() {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| {
            ip == shared.listen.ip() || (ip.is_loopback() && shared.listen.ip().is_loopback())
        })
}

/// CONNECT host:port: intercept (TLS with a leaf from the local CA) or tunnel untouched.
async fn tunnel(shared: &Arc<Shared>, mut tcp: TcpStream, buf: BytesMut, head: RequestHead) {
    let Some((host, port)) = split_host_port(&head.target, 443) else {
        return http::respond_error(&mut tcp, 400, "Bad Request", "bad CONNECT target\n").await;
    };
    if is_self(shared, &host, port) {
        return http::respond_error(
            &mut tcp,
            508,
            "Loop Detected",
            "the proxy does not proxy to itself\n",
        )
        .await;
    }
    let intercept = shared
        .intercept
        .as_ref()
        .is_none_or(|hosts| hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)));
    if !intercept {
        let connect = tokio::time::timeout(
            shared.limits.connect_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await;
        let Ok(Ok(mut upstream)) = connect else {
            return http::respond_error(&mut tcp, 502, "Bad Gateway", "upstream unreachable\n")
                .await;
        };
        if tcp
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
            || upstream.write_all(&buf).await.is_err()
        {
            return;
        }
        let _ = copy_bidirectional(&mut tcp, &mut upstream).await;
        return;
    }
    if tcp
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    // TLS inside the tunnel starts with a handshake record (0x16); anything else is plain HTTP.
    let mut first = [0u8; 1];
    let is_tls =
        match tokio::time::timeout(shared.limits.handshake_timeout, tcp.peek(&mut first)).await {
            Ok(Ok(1)) => first[0] == 0x16,
            _ => return,
        };
    let mut target = Target {
        tls: is_tls,
        host: host.clone(),
        port,
        base: String::new(),
    };
    let client: BoxIo = if is_tls {
        let Some(ca) = shared.ca.clone() else { return };
        let Ok(cfg) = crate::tls::intercept_server_config(ca, &host) else {
            return;
        };
        let accept = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp);
        match tokio::time::timeout(shared.limits.handshake_timeout, accept).await {
            Ok(Ok(tls)) => Box::new(tls),
            _ => return,
        }
    } else {
        Box::new(tcp)
    };
    let mut client = client;
    let mut buf = buf;
    let head = match tokio::time::timeout(
        shared.limits.handshake_timeout,
        http::read_request(&mut client, &mut buf),
    )
    .await
    {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => return,
        _ => return http::respond_error(&mut client, 400, "Bad Request", "bad request\n").await,
    };
    // Inside a tunnel the target is origin-form; an absolute-form one names the same host.
    let path = match absolute_form(&head.target) {
        Some((_, p)) => p,
        None => head.target.clone(),
    };
    target.base.clear();
    serve(shared, client, buf, head, target, &path).await;
}

/// Headers a proxy must not pass on.
fn strip_proxy_headers(headers: &mut http::RawHeaders) {
    headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("proxy-connection")
            && !k.eq_ignore_ascii_case("proxy-authorization")
    });
}

/// Sends one request upstream; relays and records it if it becomes a WebSocket.
async fn serve(
    shared: &Arc<Shared>,
    mut client: BoxIo,
    client_buf: BytesMut,
    head: RequestHead,
    target: Target,
    client_path: &str,
) {
    let handshake = tokio::time::timeout(
        shared.limits.handshake_timeout,
        shared.handshakes.clone().acquire_owned(),
    )
    .await;
    let Ok(Ok(handshake)) = handshake else {
        return http::respond_error(
            &mut client,
            503,
            "Service Unavailable",
            "too many connections being set up\n",
        )
        .await;
    };
    if is_self(shared, &target.host, target.port) {
        return http::respond_error(
            &mut client,
            508,
            "Loop Detected",
            "the proxy does not proxy to itself\n",
        )
        .await;
    }
    let upgrade = head.is_websocket_upgrade();
    let request_target = target.request_target(client_path);
    let url = target.ws_url(&request_target);
    let mut headers = head.headers.clone();
    strip_proxy_headers(&mut headers);
    let host = target.host_header();
    match headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        Some((_, v)) => *v = host.into_bytes(),
        None => headers.insert(0, ("Host".to_owned(), host.into_bytes())),
    }
    if !upgrade {
        // Plain HTTP passes through, one request per connection.
        headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("keep-alive")
        });
        headers.push(("Connection".to_owned(), b"close".to_vec()));
    }
    let conn = if upgrade {
        let created = shared
            .store
            .create_connection(NewConnection {
                session: shared.session,
                url: url.clone(),
                request_headers: http::text_headers(&head.headers),
                insecure: shared.insecure,
                created_at_us: now_us(),
            })
            .await;
        match created {
            Ok(id) => Some(id),
            Err(_) => {
                return http::respond_error(
                    &mut client,
                    500,
                    "Internal Server Error",
                    "recording failed\n",
                )
                .await
            }
        }
    } else {
        None
    };
    let fail = |error: String, status: Option<u16>, response_headers| async move {
        if let Some(id) = conn {
            let _ = shared
                .store
                .update_connection(ConnectionEvent::Failed {
                    id,
                    at_us: now_us(),
                    error,
                    response_status: status,
                    response_headers,
                })
                .await;
        }
    };

    let mut upstream =
        match upstream::connect(&target, &shared.client_tls, shared.limits.connect_timeout).await {
            Ok(u) => u,
            Err(e) => {
                fail(e.to_string(), None, Vec::new()).await;
                return http::respond_error(
                    &mut client,
                    502,
                    "Bad Gateway",
                    "upstream unreachable\n",
                )
                .await;
            }
        };
    let request = http::encode_request(&head.method, &request_target, &headers);
    if upstream.write_all(&request).await.is_err() || upstream.write_all(&client_buf).await.is_err()
    {
        fail(
            "upstream closed while sending the request".into(),
            None,
            Vec::new(),
        )
        .await;
        return http::respond_error(&mut client, 502, "Bad Gateway", "upstream closed\n").await;
    }
    if !upgrade {
        let _ = copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    let mut ubuf = BytesMut::new();
    let response = match tokio::time::timeout(
        shared.limits.handshake_timeout,
        http::read_response(&mut upstream, &mut ubuf),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            fail(e.to_string(), None, Vec::new()).await;
            return http::respond_error(&mut client, 502, "Bad Gateway", "bad upstream response\n")
                .await;
        }
        Err(_) => {
            fail(
                "upstream did not answer the upgrade in time".into(),
                None,
                Vec::new(),
            )
            .await;
            return http::respond_error(&mut client, 504, "Gateway Timeout", "upstream too slow\n")
                .await;
        }
    };
    if client.write_all(&response.raw).await.is_err() {
        fail(
            "client went away during the handshake".into(),
            Some(response.status),
            http::text_headers(&response.headers),
        )
        .await;
        return;
    }
    let Some(id) = conn else { return };
    if response.status != 101 {
        fail(
            format!(
                "upstream answered HTTP {} {}",
                response.status, response.reason
            ),
            Some(response.status),
            http::text_headers(&response.headers),
        )
        .await;
        let _ = client.write_all(&ubuf).await;
        let _ = copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    let _ = shared
        .store
        .update_connection(ConnectionEvent::Opened {
            id,
            at_us: now_us(),
            request_headers: http::text_headers(&head.headers),
            response_status: 101,
            response_headers: http::text_headers(&response.headers),
            subprotocol: response.header("sec-websocket-protocol").map(str::to_owned),
        })
        .await;
    let deflate = response
        .header("sec-websocket-extensions")
        .and_then(negotiated_deflate);
    let (to_server_tx, to_server) = mpsc::channel(64);
    let (to_client_tx, to_client) = mpsc::channel(64);
    if let Ok(mut live) = shared.live.lock() {
        live.insert(
            id,
            Live {
                to_server: to_server_tx,
                to_client: to_client_tx,
            },
        );
    }
    let relay = Relay {
        store: shared.store.clone(),
        session: shared.session,
        connection: id,
        deflate,
        limits: shared.limits.relay,
        intercept: shared.interceptor.clone(),
    };
    // Set up: the next upgrade may start.
    drop(handshake);
    let ending = relay
        .run(
            client,
            client_buf_after_upgrade(),
            upstream,
            ubuf,
            to_server,
            to_client,
        )
        .await;
    if let Ok(mut live) = shared.live.lock() {
        live.remove(&id);
    }
    let _ = shared
        .store
        .update_connection(ConnectionEvent::Closed {
            id,
            at_us: now_us(),
            code: ending.code,
            reason: ending.reason,
            by: ending.by,
        })
        .await;
}

/// The client's leftover bytes were sent upstream with the request; nothing remains.
fn client_buf_after_upgrade() -> BytesMut {
    BytesMut::new()
}

//! Links: the workbench's managed client connections. A link opens a connection with
//! [`crate::Engine::connect`] and follows its events; with auto-reconnect on, a connection
//! that fails or is closed by the server is opened again (same session, a new connection row
//! per attempt, so every attempt is in the timeline) after a doubling delay, up to a limit.
//! Counters and the keep-alive round trip are shared by the attempts ([`ConnStats`]).
//! Changes are broadcast as [`LinkInfo`] snapshots (lossy; [`crate::Engine::links`] is the truth).

use crate::handshake::{accept_check, AcceptCheck, HandshakeRecord};
use crate::options::ConnStats;
use crate::{ConnEvent, ConnectOptions, Engine, EngineError, Outgoing};
use serde::Serialize;
use sockscope_proto::{now_us, ConnectionId, SessionId};
use sockscope_store::{history_target, ClosedBy, ConnState, Store};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub type LinkId = u64;

/// Auto-reconnect: after a failure or a close by the server, wait `initial_delay`, doubled
/// after each failed attempt up to `max_delay`; give up after `max_attempts` attempts in a
/// row without an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReconnectPolicy {
    pub max_attempts: u32,
    #[serde(rename = "initial_delay_ms", serialize_with = "ser_ms")]
    pub initial_delay: Duration,
    #[serde(rename = "max_delay_ms", serialize_with = "ser_ms")]
    pub max_delay: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before the `n`-th attempt in a row (n ≥ 1).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32
            .checked_shl(n.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Connecting,
    Open,
    Reconnecting,
    Closed,
    Failed,
}

/// What the workbench shows of a link (docs/ipc.md `LiveConnection`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkInfo {
    pub id: LinkId,
    pub session_id: SessionId,
    pub connection_id: ConnectionId,
    pub url: String,
    pub target: String,
    pub state: LinkState,
    pub insecure: bool,
    pub subprotocol: Option<String>,
    pub created_at_us: i64,
    pub opened_at_us: Option<i64>,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub ping_interval_ms: Option<u64>,
    pub rtt_ms: Option<f64>,
    pub attempt: u32,
    pub attempts: Vec<ConnectionId>,
    pub next_retry_at_us: Option<i64>,
    pub error: Option<String>,
}

struct Entry {
    info: LinkInfo,
    stats: Arc<ConnStats>,
    stop: watch::Sender<bool>,
    counter: Arc<AtomicU64>,
}

/// The links of an engine.
#[derive(Clone)]
pub(crate) struct Links {
    map: Arc<Mutex<BTreeMap<LinkId, Entry>>>,
    next: Arc<AtomicU64>,
    changes: broadcast::Sender<LinkInfo>,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            map: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            changes: broadcast::channel(1024).0,
        }
    }
}

fn snapshot(e: &Entry) -> LinkInfo {
    let mut info = e.info.clone();
    info.messages_sent = e.stats.messages_sent.load(Ordering::Relaxed);
    info.messages_received = e.stats.messages_received.load(Ordering::Relaxed);
    info.bytes_sent = e.stats.bytes_sent.load(Ordering::Relaxed);
    info.bytes_received = e.stats.bytes_received.load(Ordering::Relaxed);
    info.rtt_ms = e.stats.rtt().map(|d| d.as_secs_f64() * 1000.0);
    info
}

impl Links {
    fn update(&self, id: LinkId, f: impl FnOnce(&mut LinkInfo)) {
        let snap = match self.map.lock() {
            Ok(mut m) => match m.get_mut(&id) {
                Some(e) => {
                    f(&mut e.info);
                    snapshot(e)
                }
                None => return,
            },
            Err(_) => return,
        };
        let _ = self.changes.send(snap);
    }

    fn publish(&self, id: LinkId) {
        self.update(id, |_| {});
    }

    fn get(&self, id: LinkId) -> Option<LinkInfo> {
        self.map.lock().ok()?.get(&id).map(snapshot)
    }
}

/// Checks a close code and reason one may send (RFC 6455 §7.4).
pub fn check_close(code: u16, reason: &str) -> Result<(), EngineError> {
    let ok = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !ok {
        return Err(EngineError::InvalidOption(format!(
            "close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(EngineError::InvalidOption(format!(
            "the close reason is {} bytes; at most 123 fit in a close frame",
            reason.len()
        )));
    }
    Ok(())
}

impl Engine {
    /// Opens a link: a connection with keep-alive and optional auto-reconnect
    /// (`opts.reconnect`). Option errors are returned here; network errors become states.
    pub async fn open_link(&self, opts: ConnectOptions) -> Result<LinkInfo, EngineError> {
        self.start_link(opts, None).await
    }

    /// [`Engine::open_link`], also handing every attempt's [`ConnEvent`]s to the caller (who
    /// must read them); the channel ends when the link has ended.
    pub async fn open_link_with_events(
        &self,
        opts: ConnectOptions,
    ) -> Result<(LinkInfo, tokio::sync::mpsc::Receiver<ConnEvent>), EngineError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let info = self.start_link(opts, Some(tx)).await?;
        Ok((info, rx))
    }

    async fn start_link(
        &self,
        mut opts: ConnectOptions,
        forward: Option<tokio::sync::mpsc::Sender<ConnEvent>>,
    ) -> Result<LinkInfo, EngineError> {
        let stats = Arc::new(ConnStats::default());
        opts.stats = Some(Arc::clone(&stats));
        opts.events = true;
        opts.attempt = 0;
        let mut handle = self.connect(opts.clone()).await?;
        let events = handle
            .events
            .take()
            .ok_or_else(|| EngineError::Internal("no events".into()))?;
        opts.session = Some(handle.session);
        let id = self.links.next.fetch_add(1, Ordering::Relaxed);
        let (stop, stop_rx) = watch::channel(false);
        let info = LinkInfo {
            id,
            session_id: handle.session,
            connection_id: handle.id,
            url: handle.url.clone(),
            target: history_target(&handle.url),
            state: LinkState::Connecting,
            insecure: opts.tls.insecure,
            subprotocol: None,
            created_at_us: now_us(),
            opened_at_us: None,
            messages_sent: 0,
            messages_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            ping_interval_ms: opts.ping_interval.map(|d| {
                u64::try_from(d.max(crate::MIN_PING_INTERVAL).as_millis()).unwrap_or(u64::MAX)
            }),
            rtt_ms: None,
            attempt: 0,
            attempts: vec![handle.id],
            next_retry_at_us: None,
            error: None,
        };
        if let Ok(mut m) = self.links.map.lock() {
            m.insert(
                id,
                Entry {
                    info: info.clone(),
                    stats,
                    stop,
                    counter: Arc::new(AtomicU64::new(0)),
                },
            );
        }
        let _ = self.links.changes.send(info.clone());
        tokio::spawn(supervise(self.clone(), id, opts, events, stop_rx, forward));
        Ok(info)
    }

    /// Every link, oldest first.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.links
            .map
            .lock()
            .map(|m| m.values().map(snapshot).collect())
            .unwrap_or_default()
    }

    pub fn link(&self, id: LinkId) -> Result<LinkInfo, EngineError> {
        self.links.get(id).ok_or(EngineError::NoLink(id))
    }

    /// Link changes (state, counters at most 4×/s, round trip), lossy.
    pub fn subscribe_links(&self) -> broadcast::Receiver<LinkInfo> {
        self.links.changes.subscribe()
    }

    /// Sends on the link's current connection.
    pub async fn link_send(&self, id: LinkId, msg: Outgoing) -> Result<(), EngineError> {
        let conn = self.link(id)?.connection_id;
        self.send(conn, msg).await
    }

    /// The next `{{counter}}` value of the link (1, 2, …).
    pub fn link_next_counter(&self, id: LinkId) -> Result<u64, EngineError> {
        let m = self
            .links
            .map
            .lock()
            .map_err(|_| EngineError::Internal("links poisoned".into()))?;
        let e = m.get(&id).ok_or(EngineError::NoLink(id))?;
        Ok(e.counter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Closes the link (no more reconnects, no more pings).
    pub async fn link_close(&self, id: LinkId, code: u16, reason: &str) -> Result<(), EngineError> {
        let conn = {
            let m = self
                .links
                .map
                .lock()
                .map_err(|_| EngineError::Internal("links poisoned".into()))?;
            let e = m.get(&id).ok_or(EngineError::NoLink(id))?;
            let _ = e.stop.send(true);
            e.info.connection_id
        };
        match self.close(conn, code, reason).await {
            // Between attempts there is no connection to close: the stop flag ends the link.
            Ok(()) | Err(EngineError::NotConnected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Closes the link if needed and forgets it (its session stays).
    pub async fn link_remove(&self, id: LinkId) -> Result<(), EngineError> {
        self.link_close(id, 1000, "").await?;
        if let Ok(mut m) = self.links.map.lock() {
            m.remove(&id);
        }
        Ok(())
    }
}

async fn supervise(
    engine: Engine,
    id: LinkId,
    mut opts: ConnectOptions,
    mut events: tokio::sync::mpsc::Receiver<ConnEvent>,
    mut stop: watch::Receiver<bool>,
    forward: Option<tokio::sync::mpsc::Sender<ConnEvent>>,
) {
    let links = engine.links.clone();
    let policy = opts.reconnect;
    let mut in_a_row: u32 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_counts = (0u64, 0u64, 0u64);
    loop {
        // Follow the current attempt until it ends.
        let ended: Option<String> = loop {
            tokio::select! {
                ev = events.recv() => {
                if let (Some(f), Some(ev)) = (&forward, &ev) {
                    let _ = f.send(ev.clone()).await;
                }
                match ev {
                    Some(ConnEvent::Open { subprotocol, .. }) => {
                        in_a_row = 0;
                        links.update(id, |i| {
                            i.state = LinkState::Open;
                            i.subprotocol = subprotocol;
                            i.opened_at_us = Some(now_us());
                            i.next_retry_at_us = None;
                            i.error = None;
                        });
                    }
                    Some(ConnEvent::Received { .. }) => {}
                    Some(ConnEvent::Closed { code, reason, by }) => {
                        let text = match code {
                            Some(c) => format!("closed {c} {reason}").trim().to_owned(),
                            None => format!("closed: {reason}"),
                        };
                        if by == ClosedBy::Client || *stop.borrow() {
                            links.update(id, |i| {
                                i.state = LinkState::Closed;
                                i.next_retry_at_us = None;
                            });
                            return;
                        }
                        break Some(text);
                    }
                    Some(ConnEvent::Failed { error }) => break Some(error),
                    None => break Some("the connection task ended".into()),
                }},
                _ = tick.tick() => {
                    let counts = links.map.lock().ok().and_then(|m| m.get(&id).map(|e| (
                        e.stats.messages_sent.load(Ordering::Relaxed) + e.stats.messages_received.load(Ordering::Relaxed),
                        e.stats.bytes_sent.load(Ordering::Relaxed) + e.stats.bytes_received.load(Ordering::Relaxed),
                        e.stats.rtt_us.load(Ordering::Relaxed),
                    )));
                    match counts {
                        None => return, // removed
                        Some(c) if c != last_counts => {
                            last_counts = c;
                            links.publish(id);
                        }
                        Some(_) => {}
                    }
                }
            }
        };
        let error = ended.unwrap_or_default();
        let Some(policy) = policy.filter(|_| !*stop.borrow()) else {
            let closed_by_server = error.starts_with("closed");
            links.update(id, |i| {
                i.state = if closed_by_server {
                    LinkState::Closed
                } else {
                    LinkState::Failed
                };
                i.error = Some(error);
                i.next_retry_at_us = None;
            });
            return;
        };
        in_a_row += 1;
        if in_a_row > policy.max_attempts {
            links.update(id, |i| {
                i.state = LinkState::Failed;
                i.error = Some(format!(
                    "{error}; gave up after {} reconnect attempts",
                    policy.max_attempts
                ));
                i.next_retry_at_us = None;
            });
            return;
        }
        let delay = policy.delay(in_a_row);
        let retry_at = now_us() + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2);
        links.update(id, |i| {
            i.state = LinkState::Reconnecting;
            i.error = Some(error);
            i.opened_at_us = None;
            i.next_retry_at_us = Some(retry_at);
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => {
                links.update(id, |i| {
                    i.state = LinkState::Closed;
                    i.next_retry_at_us = None;
                });
                return;
            }
        }
        if *stop.borrow() {
            links.update(id, |i| i.state = LinkState::Closed);
            return;
        }
        let attempt = links.get(id).map_or(1, |i| i.attempt + 1);
        opts.attempt = attempt;
        match engine.connect(opts.clone()).await {
            Ok(mut handle) => {
                let Some(ev) = handle.events.take() else {
                    return;
                };
                events = ev;
                links.update(id, |i| {
                    i.state = LinkState::Connecting;
                    i.connection_id = handle.id;
                    i.attempt = attempt;
                    i.attempts.push(handle.id);
                    i.next_retry_at_us = None;
                });
            }
            Err(e) => {
                links.update(id, |i| {
                    i.state = LinkState::Failed;
                    i.error = Some(e.to_string());
                });
                return;
            }
        }
    }
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The handshake of a connection, in full (docs/ipc.md `HandshakeInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandshakeInfo {
    pub connection_id: ConnectionId,
    pub url: String,
    pub request_line: String,
    pub request_headers: Vec<(String, String)>,
    pub response_status: Option<u16>,
    pub response_reason: Option<String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub response_body_truncated: bool,
    pub subprotocols_offered: Vec<String>,
    pub subprotocol: Option<String>,
    pub extensions: Option<String>,
    pub time_to_open_ms: Option<f64>,
    pub accept: Option<AcceptCheck>,
    pub insecure: bool,
    pub error: Option<String>,
}

/// Reads a connection's handshake from the store (blocking: call off the async threads).
pub fn handshake_info(store: &Store, id: ConnectionId) -> Result<HandshakeInfo, EngineError> {
    let conn = store.connection(id)?;
    let record: HandshakeRecord = store
        .connection_handshake(id)?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_else(|| {
            // Connections not opened by the workbench: rebuild what the row knows.
            let path = conn
                .url
                .split_once("://")
                .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
                .unwrap_or_else(|| "/".into());
            HandshakeRecord {
                request_line: format!("GET {path} HTTP/1.1"),
                ..HandshakeRecord::default()
            }
        });
    let find = |h: &[(String, String)], n: &str| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let accept = find(&conn.request_headers, "sec-websocket-key").map(|key| {
        accept_check(
            &key,
            find(&conn.response_headers, "sec-websocket-accept").as_deref(),
        )
    });
    let extensions = record
        .extensions
        .clone()
        .or_else(|| find(&conn.response_headers, "sec-websocket-extensions"));
    let subprotocols_offered = if record.subprotocols_offered.is_empty() {
        find(&conn.request_headers, "sec-websocket-protocol")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    } else {
        record.subprotocols_offered.clone()
    };
    Ok(HandshakeInfo {
        connection_id: id,
        url: conn.url,
        request_line: record.request_line,
        request_headers: conn.request_headers,
        response_status: conn.response_status,
        response_reason: record.response_reason,
        response_headers: conn.response_headers,
        response_body: record.response_body,
        response_body_truncated: record.response_body_truncated,
        subprotocols_offered,
        subprotocol: conn.subprotocol,
        extensions,
        time_to_open_ms: record
            .time_to_open_us
            .map(|us| us as f64 / 1000.0)
            .or_else(|| {
                (conn.state != ConnState::Connecting)
                    .then_some(())
                    .and(conn.opened_at_us)
                    .map(|o| (o - conn.created_at_us) as f64 / 1000.0)
            }),
        accept,
        insecure: conn.insecure,
        error: conn.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let p = ReconnectPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let d: Vec<u128> = (1..=5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        assert_eq!(p.delay(400), Duration::from_millis(500));
    }

    #[test]
    fn close_codes_that_may_be_sent() {
        assert!(check_close(1000, "").is_ok());
        assert!(check_close(4000, "bye").is_ok());
        assert!(check_close(1005, "").is_err());
        assert!(check_close(1006, "").is_err());
        assert!(check_close(2000, "").is_err());
        assert!(check_close(5000, "").is_err());
        assert!(check_close(1000, &"x".repeat(124)).is_err());
    }
}

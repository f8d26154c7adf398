//! The Proxy panel's commands: capture listeners, injection, the local CA.

use super::Res;
use crate::state::AppState;
use serde::Serialize;
use sockscope_proto::ConnectionId;
use sockscope_proxy::{Proxy, ProxyConfig, Toward};
use tauri::State;

/// A running capture listener, as the Proxy panel shows it.
#[derive(Clone, Serialize)]
pub struct ProxyInfo {
    pub session_id: i64,
    /// The address actually bound, e.g. "127.0.0.1:8080".
    pub listen: String,
    /// Reverse mode's upstream; `None` in forward mode.
    pub upstream: Option<String>,
    /// SHA-256 fingerprint of the local CA (forward mode).
    pub ca_fingerprint: Option<String>,
}

#[tauri::command]
pub async fn start_proxy(
    state: State<'_, AppState>,
    intercept: State<'_, super::intercept::InterceptState>,
    listen: String,
    upstream: Option<String>,
) -> Res<ProxyInfo> {
    let store = state.services()?.store.clone();
    let upstream = upstream
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    let cfg = ProxyConfig {
        listen: listen.trim().to_owned(),
        upstream: upstream.clone(),
        ca_dir: Some(crate::state::ca_dir()),
        interceptor: Some(super::intercept::hub(&state, &intercept).await?),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(store, cfg).await.map_err(|e| e.to_string())?;
    let info = ProxyInfo {
        session_id: proxy.session().0,
        listen: proxy.local_addr().to_string(),
        upstream,
        ca_fingerprint: proxy.ca().map(|c| c.fingerprint_sha256()),
    };
    let running = crate::state::RunningProxy {
        proxy,
        info: info.clone(),
    };
    state
        .proxies
        .lock()
        .map_err(|e| e.to_string())?
        .insert(info.session_id, running);
    Ok(info)
}

#[tauri::command]
pub async fn stop_proxy(state: State<'_, AppState>, session_id: i64) -> Res<()> {
    let running = state
        .proxies
        .lock()
        .map_err(|e| e.to_string())?
        .remove(&session_id)
        .ok_or_else(|| format!("no listener records into session {session_id}"))?;
    running.proxy.stop().await;
    Ok(())
}

#[tauri::command]
pub async fn list_proxies(state: State<'_, AppState>) -> Res<Vec<ProxyInfo>> {
    let map = state.proxies.lock().map_err(|e| e.to_string())?;
    let mut list: Vec<ProxyInfo> = map.values().map(|r| r.info.clone()).collect();
    list.sort_by_key(|p| p.session_id);
    Ok(list)
}

fn parse_toward(toward: &str) -> Res<Toward> {
    match toward {
        "server" => Ok(Toward::Server),
        "client" => Ok(Toward::Client),
        other => Err(format!(
            "toward must be \"server\" or \"client\", not {other:?}"
        )),
    }
}

/// The injector of the listener recording into `session_id` (the lock is released before any
/// `.await`).
fn injector(state: &AppState, session_id: i64) -> Res<sockscope_proxy::Injector> {
    let map = state.proxies.lock().map_err(|e| e.to_string())?;
    map.get(&session_id)
        .map(|running| running.proxy.injector())
        .ok_or_else(|| format!("no listener records into session {session_id}"))
}

/// Injects a text message into a proxied connection, toward "server" or "client".
#[tauri::command]
pub async fn inject_text(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: i64,
    toward: String,
    text: String,
) -> Res<()> {
    let toward = parse_toward(&toward)?;
    let sender = injector(&state, session_id)?;
    sender
        .inject(
            ConnectionId(connection_id),
            toward,
            sockscope_proto::Opcode::Text,
            text.into_bytes().into(),
        )
        .await
        .map_err(|e| e.to_string())
}

/// Injects one frame of any kind: `opcode` "text" | "binary" | "ping" | "pong" | "close",
/// payload as base64 (a close payload is the 2-byte code and the reason).
#[tauri::command]
pub async fn inject_frame(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: i64,
    toward: String,
    opcode: String,
    payload_base64: String,
) -> Res<()> {
    use base64::Engine as _;
    let toward = parse_toward(&toward)?;
    let opcode: sockscope_proto::Opcode = opcode.parse().map_err(|e| format!("{e}"))?;
    if matches!(
        opcode,
        sockscope_proto::Opcode::Continuation | sockscope_proto::Opcode::Reserved(_)
    ) {
        return Err(format!("cannot inject a {opcode} frame"));
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(payload_base64.as_bytes())
        .map_err(|e| format!("payload is not base64: {e}"))?;
    if opcode.is_control() && payload.len() > 125 {
        return Err("control frames carry at most 125 bytes".into());
    }
    let sender = injector(&state, session_id)?;
    sender
        .inject(ConnectionId(connection_id), toward, opcode, payload.into())
        .await
        .map_err(|e| e.to_string())
}

/// The local CA, as the Proxy panel shows it (the key never leaves the backend).
#[derive(Serialize)]
pub struct CaInfo {
    pub path: String,
    pub common_name: String,
    pub fingerprint: String,
    /// base64(SHA-256(SPKI)), for Chromium's --ignore-certificate-errors-spki-list.
    pub spki_sha256: String,
    /// The certificate (public), PEM.
    pub pem: String,
}

fn ca_info_of(dir: &std::path::Path, ca: &sockscope_proxy::ca::LocalCa) -> CaInfo {
    CaInfo {
        path: sockscope_proxy::ca::LocalCa::cert_path(dir)
            .display()
            .to_string(),
        common_name: ca.common_name().to_owned(),
        fingerprint: ca.fingerprint_sha256(),
        spki_sha256: ca.spki_sha256_base64(),
        pem: ca.cert_pem().to_owned(),
    }
}

/// Loads the local CA, creating it on first use.
#[tauri::command]
pub async fn ca_info() -> Res<CaInfo> {
    let dir = crate::state::ca_dir();
    tauri::async_runtime::spawn_blocking(move || {
        sockscope_proxy::ca::LocalCa::load_or_create(&dir)
            .map(|ca| ca_info_of(&dir, &ca))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Replaces the local CA. Running forward listeners keep the old one until restarted.
#[tauri::command]
pub async fn ca_regenerate() -> Res<CaInfo> {
    let dir = crate::state::ca_dir();
    tauri::async_runtime::spawn_blocking(move || {
        sockscope_proxy::ca::LocalCa::regenerate(&dir)
            .map(|ca| ca_info_of(&dir, &ca))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

//! The connection workbench (docs/ipc.md "Workbench"): links with their full options, sending
//! by hand, handshake details, history, templates (+ change notifications), send on save and
//! demo servers. One-liners into the engine and the store.

use super::{blocking, Res};
use crate::state::AppState;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sockscope_engine::demo::{Demo, DemoKind, DemoOptions};
use sockscope_engine::templates::{
    SendMode, SendOnSaveInfo, SendOnSaveOptions, Template, TemplateMode, Templates,
};
use sockscope_engine::vars::{expand, expand_message, VarContext};
use sockscope_engine::{
    check_close, Auth, ClientCert, ConnectOptions, HandshakeInfo, Limits, LinkInfo, Outgoing,
    ReconnectPolicy, TlsOptions,
};
use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::HistoryEntry;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::broadcast::error::RecvError;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[derive(Deserialize, Default)]
pub struct KeyValue {
    pub name: String,
    pub value: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn rows(v: Option<Vec<KeyValue>>) -> Vec<(String, String)> {
    v.unwrap_or_default()
        .into_iter()
        .filter(|r| r.enabled && !r.name.trim().is_empty())
        .map(|r| (r.name.trim().to_owned(), r.value))
        .collect()
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuthSpec {
    None,
    Basic { username: String, password: String },
    Bearer { token: String },
}

#[derive(Deserialize, Default)]
pub struct TlsSpec {
    pub ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub pkcs12_file: Option<String>,
    pub pkcs12_password: Option<String>,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Deserialize, Default)]
pub struct LimitsSpec {
    pub max_message_size: Option<usize>,
    pub max_frame_size: Option<usize>,
    pub handshake_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
pub struct ReconnectSpec {
    pub enabled: bool,
    pub max_attempts: Option<u32>,
    pub initial_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
}

#[derive(Deserialize)]
pub struct ConnectSpec {
    pub url: String,
    pub query: Option<Vec<KeyValue>>,
    pub headers: Option<Vec<KeyValue>>,
    pub subprotocols: Option<Vec<String>>,
    pub origin: Option<String>,
    pub auth: Option<AuthSpec>,
    pub tls: Option<TlsSpec>,
    pub limits: Option<LimitsSpec>,
    pub reconnect: Option<ReconnectSpec>,
    pub ping_interval_ms: Option<u64>,
    pub session_id: Option<i64>,
}

fn nonempty(p: Option<String>) -> Option<PathBuf> {
    p.map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// The engine's options for a spec (validation of values; files are checked by the engine).
pub fn connect_options(spec: ConnectSpec) -> Res<ConnectOptions> {
    let tls = spec.tls.unwrap_or_default();
    let client_cert = match (
        nonempty(tls.client_cert),
        nonempty(tls.client_key),
        nonempty(tls.pkcs12_file),
    ) {
        (None, None, None) => None,
        (Some(cert), Some(key), None) => Some(ClientCert::Pem { cert, key }),
        (None, None, Some(file)) => Some(ClientCert::Pkcs12 {
            file,
            password: tls.pkcs12_password.unwrap_or_default(),
        }),
        (Some(_), None, None) | (None, Some(_), None) => {
            return Err(
                "a PEM client certificate needs both the certificate and the key file".into(),
            )
        }
        _ => return Err("choose either a PEM certificate + key or a PKCS#12 file".into()),
    };
    let defaults = Limits::default();
    let l = spec.limits.unwrap_or_default();
    let limits = Limits {
        max_message_size: l.max_message_size.unwrap_or(defaults.max_message_size),
        max_frame_size: l.max_frame_size.unwrap_or(defaults.max_frame_size),
        handshake_timeout: l
            .handshake_timeout_ms
            .map_or(defaults.handshake_timeout, Duration::from_millis),
        ..defaults
    };
    if limits.max_message_size == 0 || limits.max_frame_size == 0 {
        return Err("size limits must be positive".into());
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&limits.handshake_timeout)
    {
        return Err("the handshake timeout must be 100 ms – 600 s".into());
    }
    let reconnect = match spec.reconnect {
        Some(r) if r.enabled => {
            let d = ReconnectPolicy::default();
            let p = ReconnectPolicy {
                max_attempts: r.max_attempts.unwrap_or(d.max_attempts),
                initial_delay: r
                    .initial_delay_ms
                    .map_or(d.initial_delay, Duration::from_millis),
                max_delay: r.max_delay_ms.map_or(d.max_delay, Duration::from_millis),
            };
            if p.initial_delay < Duration::from_millis(10) || p.max_delay < p.initial_delay {
                return Err("reconnect delays: initial ≥ 10 ms and max ≥ initial".into());
            }
            Some(p)
        }
        _ => None,
    };
    let ping_interval = match spec.ping_interval_ms {
        None | Some(0) => None,
        Some(ms) if ms < 100 => {
            return Err("the keep-alive interval must be at least 100 ms".into())
        }
        Some(ms) => Some(Duration::from_millis(ms)),
    };
    Ok(ConnectOptions {
        url: spec.url,
        query: rows(spec.query),
        headers: rows(spec.headers),
        subprotocols: spec.subprotocols.unwrap_or_default(),
        origin: spec.origin.filter(|o| !o.trim().is_empty()),
        auth: match spec.auth {
            None | Some(AuthSpec::None) => Auth::None,
            Some(AuthSpec::Basic { username, password }) => Auth::Basic { username, password },
            Some(AuthSpec::Bearer { token }) => Auth::Bearer { token },
        },
        tls: TlsOptions {
            ca_file: nonempty(tls.ca_file),
            client_cert,
            insecure: tls.insecure,
        },
        session: spec.session_id.map(SessionId),
        limits,
        ping_interval,
        reconnect,
        ..ConnectOptions::default()
    })
}

#[tauri::command]
pub async fn wb_connect(state: State<'_, AppState>, spec: ConnectSpec) -> Res<LinkInfo> {
    let opts = connect_options(spec)?;
    state.services()?.engine.open_link(opts).await.map_err(s)
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutgoingMsg {
    Text {
        text: String,
        #[serde(default)]
        expand: bool,
    },
    Binary {
        base64: String,
    },
    Ping {
        base64: String,
    },
    Close {
        code: u16,
        reason: String,
    },
}

#[derive(Serialize)]
pub struct SendResult {
    pub len: usize,
    pub text: Option<String>,
}

fn b64(v: &str) -> Res<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|e| format!("invalid base64: {e}"))
}

#[tauri::command]
pub async fn wb_send(state: State<'_, AppState>, id: u64, message: OutgoingMsg) -> Res<SendResult> {
    let engine = &state.services()?.engine;
    let (out, result) = match message {
        OutgoingMsg::Text { text, expand: ex } => {
            let text = if ex {
                engine.link(id).map_err(s)?;
                let now_ms = sockscope_proto::now_us() / 1000;
                expand_message(&text, now_ms, || {
                    engine.link_next_counter(id).unwrap_or_default()
                })
                .0
            } else {
                text
            };
            let r = SendResult {
                len: text.len(),
                text: Some(text.clone()),
            };
            (Outgoing::Text(text), r)
        }
        OutgoingMsg::Binary { base64 } => {
            let b = b64(&base64)?;
            let r = SendResult {
                len: b.len(),
                text: None,
            };
            (Outgoing::Binary(b.into()), r)
        }
        OutgoingMsg::Ping { base64 } => {
            let b = b64(&base64)?;
            if b.len() > 125 {
                return Err(format!(
                    "a ping payload is at most 125 bytes ({} given)",
                    b.len()
                ));
            }
            let r = SendResult {
                len: b.len(),
                text: None,
            };
            (Outgoing::Ping(b.into()), r)
        }
        OutgoingMsg::Close { code, reason } => {
            check_close(code, &reason).map_err(s)?;
            engine.link_close(id, code, &reason).await.map_err(s)?;
            return Ok(SendResult {
                len: reason.len() + 2,
                text: None,
            });
        }
    };
    engine.link_send(id, out).await.map_err(s)?;
    Ok(result)
}

#[tauri::command]
pub async fn wb_close(
    state: State<'_, AppState>,
    id: u64,
    code: Option<u16>,
    reason: Option<String>,
) -> Res<()> {
    let code = code.unwrap_or(1000);
    let reason = reason.unwrap_or_default();
    check_close(code, &reason).map_err(s)?;
    state
        .services()?
        .engine
        .link_close(id, code, &reason)
        .await
        .map_err(s)
}

#[tauri::command]
pub async fn wb_remove(state: State<'_, AppState>, id: u64) -> Res<()> {
    state.services()?.engine.link_remove(id).await.map_err(s)?;
    let _ = state.workbench_events.send(WorkbenchMsg::Removed { id });
    Ok(())
}

#[tauri::command]
pub async fn wb_list(state: State<'_, AppState>) -> Res<Vec<LinkInfo>> {
    Ok(state.services()?.engine.links())
}

#[tauri::command]
pub async fn wb_handshake(state: State<'_, AppState>, connection_id: i64) -> Res<HandshakeInfo> {
    let store = state.services()?.store.clone();
    tauri::async_runtime::spawn_blocking(move || {
        sockscope_engine::handshake_info(&store, ConnectionId(connection_id)).map_err(s)
    })
    .await
    .map_err(s)?
}

#[tauri::command]
pub async fn wb_expand(text: String, counter: Option<u64>) -> Res<String> {
    Ok(expand(&text, &VarContext::now(counter.unwrap_or(1))))
}

#[derive(Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkbenchMsg {
    Connections { connections: Vec<LinkInfo> },
    Connection { connection: LinkInfo },
    Removed { id: u64 },
    Templates { templates: Vec<Template> },
    SendOnSave { watch: SendOnSaveInfo },
    Demos { demos: Vec<DemoInfo> },
}

/// The templates folder, opened (and watched) on first use.
pub async fn templates(state: &AppState) -> Res<Templates> {
    let store = state.services()?.store.clone();
    state
        .templates
        .get_or_try_init(|| async move {
            Templates::open(store, sockscope_engine::templates::templates_dir())
                .await
                .map_err(s)
        })
        .await
        .cloned()
}

#[tauri::command]
pub async fn wb_subscribe(
    window: tauri::Window,
    state: State<'_, AppState>,
    channel: Channel<WorkbenchMsg>,
) -> Res<()> {
    let engine = state.services()?.engine.clone();
    // Links work even when the templates folder cannot be used (its commands say why).
    let templates = templates(&state).await.ok();
    let mut links = engine.subscribe_links();
    let mut tmpl = match &templates {
        Some(t) => t.subscribe(),
        None => tokio::sync::broadcast::channel(1).1,
    };
    let mut shell = state.workbench_events.subscribe();
    let demos = demo_infos(&state);
    let first = [
        WorkbenchMsg::Connections {
            connections: engine.links(),
        },
        WorkbenchMsg::Templates {
            templates: templates.as_ref().map(Templates::list).unwrap_or_default(),
        },
        WorkbenchMsg::Demos { demos },
    ];
    for m in first {
        channel.send(m).map_err(s)?;
    }
    let task = tauri::async_runtime::spawn(async move {
        loop {
            let msg = tokio::select! {
                r = links.recv() => match r {
                    Ok(info) => WorkbenchMsg::Connection { connection: info },
                    Err(RecvError::Lagged(_)) => WorkbenchMsg::Connections { connections: engine.links() },
                    Err(RecvError::Closed) => return,
                },
                r = tmpl.recv(), if templates.is_some() => match r {
                    Ok(list) => WorkbenchMsg::Templates { templates: list },
                    Err(RecvError::Lagged(_)) => WorkbenchMsg::Templates {
                        templates: templates.as_ref().map(Templates::list).unwrap_or_default(),
                    },
                    Err(RecvError::Closed) => return,
                },
                r = shell.recv() => match r {
                    Ok(m) => m,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
            };
            if channel.send(msg).is_err() {
                return; // the window is gone
            }
        }
    });
    let mut subs = state.wb_subscriptions.lock().map_err(s)?;
    if let Some(old) = subs.insert(window.label().to_owned(), task) {
        old.abort();
    }
    Ok(())
}

#[tauri::command]
pub async fn history_get(
    state: State<'_, AppState>,
    target: String,
    limit: Option<usize>,
) -> Res<Vec<HistoryEntry>> {
    let store = state.services()?.store.clone();
    blocking(move || store.history(&target, limit.unwrap_or(200))).await
}

#[tauri::command]
pub async fn history_append(
    state: State<'_, AppState>,
    target: String,
    mode: String,
    body: String,
) -> Res<()> {
    state
        .services()?
        .store
        .history_append(&target, &mode, &body, sockscope_proto::now_us())
        .await
        .map_err(s)
}

#[tauri::command]
pub async fn templates_list(state: State<'_, AppState>) -> Res<Vec<Template>> {
    Ok(templates(&state).await?.list())
}

#[tauri::command]
pub async fn templates_dir(state: State<'_, AppState>) -> Res<String> {
    Ok(templates(&state).await?.dir().display().to_string())
}

#[tauri::command]
pub async fn template_save(
    state: State<'_, AppState>,
    name: String,
    mode: String,
    body: String,
    previous_name: Option<String>,
) -> Res<Template> {
    let mode = TemplateMode::parse(&mode).map_err(s)?;
    templates(&state)
        .await?
        .save(&name, mode, &body, previous_name.as_deref())
        .await
        .map_err(s)
}

#[tauri::command]
pub async fn template_delete(state: State<'_, AppState>, name: String) -> Res<()> {
    templates(&state).await?.delete(&name).await.map_err(s)
}

#[tauri::command]
pub async fn send_on_save_start(
    state: State<'_, AppState>,
    id: u64,
    path: String,
    mode: Option<String>,
    expand: Option<bool>,
    debounce_ms: Option<u64>,
) -> Res<SendOnSaveInfo> {
    let engine = &state.services()?.engine;
    let mode = match mode.as_deref() {
        None | Some("text") => SendMode::Text,
        Some("binary") => SendMode::Binary,
        Some(other) => return Err(format!("unknown mode {other:?} (text or binary)")),
    };
    let opts = SendOnSaveOptions {
        path: PathBuf::from(path),
        mode,
        expand: expand.unwrap_or(false),
        debounce: Duration::from_millis(debounce_ms.unwrap_or(200)),
    };
    let watch_id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let watch = engine.send_on_save(id, watch_id, opts).map_err(s)?;
    let info = watch.info();
    // Forward each change to the workbench subscribers.
    let mut rx = watch.subscribe();
    let events = state.workbench_events.clone();
    tauri::async_runtime::spawn(async move {
        while rx.changed().await.is_ok() {
            let info = rx.borrow_and_update().clone();
            let _ = events.send(WorkbenchMsg::SendOnSave { watch: info });
        }
    });
    state
        .send_on_save
        .lock()
        .map_err(s)?
        .insert(watch_id, watch);
    let _ = state.workbench_events.send(WorkbenchMsg::SendOnSave {
        watch: info.clone(),
    });
    Ok(info)
}

#[tauri::command]
pub async fn send_on_save_stop(state: State<'_, AppState>, watch_id: u64) -> Res<()> {
    let watch = state
        .send_on_save
        .lock()
        .map_err(s)?
        .remove(&watch_id)
        .ok_or_else(|| format!("no send-on-save watch {watch_id}"))?;
    let mut info = watch.info();
    watch.stop().await;
    info.active = false;
    let _ = state
        .workbench_events
        .send(WorkbenchMsg::SendOnSave { watch: info });
    Ok(())
}

#[tauri::command]
pub async fn send_on_save_list(state: State<'_, AppState>) -> Res<Vec<SendOnSaveInfo>> {
    let map = state.send_on_save.lock().map_err(s)?;
    let mut v: Vec<_> = map.values().map(|w| w.info()).collect();
    v.sort_by_key(|i| i.watch_id);
    Ok(v)
}

#[derive(Clone, Serialize)]
pub struct DemoInfo {
    pub id: u64,
    pub kind: DemoKind,
    pub listen: String,
    pub url: String,
    pub rate: Option<u32>,
}

fn demo_infos(state: &AppState) -> Vec<DemoInfo> {
    let mut v: Vec<DemoInfo> = state
        .demos
        .lock()
        .map(|m| {
            m.iter()
                .map(|(id, d)| DemoInfo {
                    id: *id,
                    kind: d.kind(),
                    listen: d.addr().to_string(),
                    url: d.url(),
                    rate: d.rate(),
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|d| d.id);
    v
}

#[tauri::command]
pub async fn demo_start(
    state: State<'_, AppState>,
    kind: String,
    listen: Option<String>,
    rate: Option<u32>,
) -> Res<DemoInfo> {
    let kind: DemoKind = kind.parse().map_err(s)?;
    let demo = Demo::start(DemoOptions {
        kind,
        listen: listen
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "127.0.0.1:0".into()),
        rate,
        allow_remote: false,
    })
    .await
    .map_err(s)?;
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let info = DemoInfo {
        id,
        kind,
        listen: demo.addr().to_string(),
        url: demo.url(),
        rate: demo.rate(),
    };
    state.demos.lock().map_err(s)?.insert(id, demo);
    let _ = state.workbench_events.send(WorkbenchMsg::Demos {
        demos: demo_infos(&state),
    });
    Ok(info)
}

#[tauri::command]
pub async fn demo_stop(state: State<'_, AppState>, id: u64) -> Res<()> {
    let demo = state
        .demos
        .lock()
        .map_err(s)?
        .remove(&id)
        .ok_or_else(|| format!("no demo server {id}"))?;
    demo.stop().await;
    let _ = state.workbench_events.send(WorkbenchMsg::Demos {
        demos: demo_infos(&state),
    });
    Ok(())
}

#[tauri::command]
pub async fn demo_list(state: State<'_, AppState>) -> Res<Vec<DemoInfo>> {
    Ok(demo_infos(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Res<ConnectOptions> {
        connect_options(serde_json::from_value(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn spec_rows_auth_tls_and_defaults() {
        let o = spec(serde_json::json!({
            "url": "wss://h/x",
            "query": [{"name": "a", "value": "1", "enabled": true}, {"name": "b", "value": "2", "enabled": false}],
            "headers": [{"name": " X-A ", "value": "v", "enabled": true}, {"name": "", "value": "x", "enabled": true}],
            "subprotocols": ["p1"],
            "origin": "  ",
            "auth": {"kind": "bearer", "token": "t"},
            "tls": {"ca_file": "/ca.pem", "client_cert": null, "client_key": null, "pkcs12_file": "/c.p12", "pkcs12_password": "pw", "insecure": true},
            "reconnect": {"enabled": true, "max_attempts": 3},
            "ping_interval_ms": 1000
        }))
        .expect("valid");
        assert_eq!(o.query, [("a".to_owned(), "1".to_owned())]);
        assert_eq!(o.headers, [("X-A".to_owned(), "v".to_owned())]);
        assert_eq!(o.origin, None);
        assert_eq!(o.auth, Auth::Bearer { token: "t".into() });
        assert!(o.tls.insecure);
        assert_eq!(o.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert!(matches!(o.tls.client_cert, Some(ClientCert::Pkcs12 { .. })));
        let r = o.reconnect.expect("reconnect");
        assert_eq!(
            (r.max_attempts, r.initial_delay),
            (3, Duration::from_millis(500))
        );
        assert_eq!(o.ping_interval, Some(Duration::from_secs(1)));
        assert_eq!(o.limits, Limits::default());

        let minimal = spec(serde_json::json!({"url": "ws://h/"})).expect("minimal");
        assert!(minimal.reconnect.is_none() && minimal.ping_interval.is_none());
        assert_eq!(minimal.auth, Auth::None);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for bad in [
            serde_json::json!({"url": "ws://h/", "tls": {"client_cert": "/c.pem"}}),
            serde_json::json!({"url": "ws://h/", "tls": {"client_cert": "/c.pem", "client_key": "/k", "pkcs12_file": "/p"}}),
            serde_json::json!({"url": "ws://h/", "limits": {"handshake_timeout_ms": 5}}),
            serde_json::json!({"url": "ws://h/", "limits": {"max_message_size": 0}}),
            serde_json::json!({"url": "ws://h/", "ping_interval_ms": 50}),
            serde_json::json!({"url": "ws://h/", "reconnect": {"enabled": true, "initial_delay_ms": 500, "max_delay_ms": 100}}),
        ] {
            assert!(spec(bad.clone()).is_err(), "{bad}");
        }
    }
}

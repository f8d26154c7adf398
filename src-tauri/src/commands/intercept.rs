//! The Intercept panel's commands: saved rules (breakpoints and rewrite rules, in SQLite),
//! messages held at breakpoints and the decisions about them. One intercept hub serves every
//! listener the app starts (`start_proxy` passes it on).

use super::Res;
use crate::state::AppState;
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use sockscope_proxy::{Decision, HeldMessage, Intercept, InterceptEvent, Rule};
use sockscope_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::broadcast::error::RecvError;

/// How often match counts are written to the database.
const COUNT_FLUSH: Duration = Duration::from_secs(2);

/// The app's intercept hub (managed state).
pub struct InterceptState {
    pub hub: Arc<Intercept>,
    /// Rules read from the database once, and the count writer started.
    loaded: tokio::sync::OnceCell<()>,
    subscriptions: Mutex<std::collections::HashMap<String, tauri::async_runtime::JoinHandle<()>>>,
}

impl Default for InterceptState {
    fn default() -> Self {
        InterceptState {
            hub: Intercept::new(),
            loaded: tokio::sync::OnceCell::new(),
            subscriptions: Mutex::new(Default::default()),
        }
    }
}

/// A saved rule as the panel shows it.
#[derive(Clone, Serialize)]
pub struct RuleView {
    pub id: i64,
    pub position: i64,
    pub enabled: bool,
    pub rule: Rule,
    /// Messages matched, over every run of the app.
    pub match_count: i64,
}

#[derive(Clone, Serialize)]
pub struct InterceptSnapshot {
    pub rules: Vec<RuleView>,
    pub held: Vec<HeldMessage>,
    pub timeout_ms: u64,
}

/// Messages of `intercept_subscribe`.
#[derive(Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InterceptMsg {
    /// Everything held now (first message, and after a lag).
    Held {
        held: Vec<HeldMessage>,
    },
    Event {
        event: InterceptEvent,
    },
}

fn parse_rule(spec: &str) -> Res<Rule> {
    serde_json::from_str(spec).map_err(|e| format!("saved rule is unreadable: {e}"))
}

async fn saved_rules(store: &Store) -> Res<Vec<(sockscope_store::StoredRule, Rule)>> {
    let store = store.clone();
    let rows = tokio::task::spawn_blocking(move || store.rules())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // A rule this build cannot read is skipped, not fatal: the others still work.
    Ok(rows
        .into_iter()
        .filter_map(|r| parse_rule(&r.spec).ok().map(|rule| (r, rule)))
        .collect())
}

/// Loads the saved rules into the hub (ids and enabled from the database).
async fn reload(hub: &Intercept, store: &Store) -> Res<Vec<RuleView>> {
    let saved = saved_rules(store).await?;
    let rules: Vec<Rule> = saved
        .iter()
        .map(|(row, rule)| Rule {
            id: row.id,
            enabled: row.enabled,
            ..rule.clone()
        })
        .collect();
    hub.set_rules(rules).map_err(|e| e.to_string())?;
    Ok(saved
        .into_iter()
        .map(|(row, rule)| RuleView {
            id: row.id,
            position: row.position,
            enabled: row.enabled,
            rule: Rule {
                id: row.id,
                enabled: row.enabled,
                ..rule
            },
            match_count: row.match_count,
        })
        .collect())
}

async fn flush_counts(hub: &Intercept, store: &Store) -> Res<()> {
    let counts: Vec<(i64, i64)> = hub
        .take_match_counts()
        .into_iter()
        .map(|(id, n)| (id, i64::try_from(n).unwrap_or(i64::MAX)))
        .collect();
    store
        .add_rule_matches(counts)
        .await
        .map_err(|e| e.to_string())
}

/// The hub with the saved rules loaded (first call) and match counts being saved.
pub async fn hub(state: &AppState, ic: &InterceptState) -> Res<Arc<Intercept>> {
    let store = state.services()?.store.clone();
    ic.loaded
        .get_or_try_init(|| async {
            reload(&ic.hub, &store).await?;
            let hub = ic.hub.clone();
            tauri::async_runtime::spawn(async move {
                loop {
                    tokio::time::sleep(COUNT_FLUSH).await;
                    let _ = flush_counts(&hub, &store).await;
                }
            });
            Ok::<(), String>(())
        })
        .await?;
    Ok(ic.hub.clone())
}

async fn snapshot(state: &AppState, ic: &InterceptState) -> Res<InterceptSnapshot> {
    let hub = hub(state, ic).await?;
    let store = state.services()?.store.clone();
    flush_counts(&hub, &store).await?;
    let rules = reload(&hub, &store).await?;
    Ok(InterceptSnapshot {
        rules,
        held: hub.held(),
        timeout_ms: hub.hold_timeout().as_millis() as u64,
    })
}

#[tauri::command]
pub async fn intercept_state(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
) -> Res<InterceptSnapshot> {
    snapshot(&state, &ic).await
}

/// Saves a rule (new when `id` is null) after checking it; returns the fresh state.
#[tauri::command]
pub async fn intercept_save_rule(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    id: Option<i64>,
    rule: Rule,
) -> Res<InterceptSnapshot> {
    hub(&state, &ic).await?;
    sockscope_proxy::rules::compile(rule.clone()).map_err(|e| e.to_string())?;
    let enabled = rule.enabled;
    let spec = serde_json::to_string(&Rule { id: 0, ..rule }).map_err(|e| e.to_string())?;
    state
        .services()?
        .store
        .save_rule(id, &spec, enabled)
        .await
        .map_err(|e| e.to_string())?;
    snapshot(&state, &ic).await
}

#[tauri::command]
pub async fn intercept_delete_rule(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    id: i64,
) -> Res<InterceptSnapshot> {
    hub(&state, &ic).await?;
    state
        .services()?
        .store
        .delete_rule(id)
        .await
        .map_err(|e| e.to_string())?;
    snapshot(&state, &ic).await
}

#[tauri::command]
pub async fn intercept_reorder_rules(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    ids: Vec<i64>,
) -> Res<InterceptSnapshot> {
    hub(&state, &ic).await?;
    state
        .services()?
        .store
        .reorder_rules(&ids)
        .await
        .map_err(|e| e.to_string())?;
    snapshot(&state, &ic).await
}

#[tauri::command]
pub async fn intercept_set_rule_enabled(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    id: i64,
    enabled: bool,
) -> Res<InterceptSnapshot> {
    hub(&state, &ic).await?;
    state
        .services()?
        .store
        .set_rule_enabled(id, enabled)
        .await
        .map_err(|e| e.to_string())?;
    snapshot(&state, &ic).await
}

/// Seconds a held message waits before it is forwarded as is (0.1 – 86400).
#[tauri::command]
pub async fn intercept_set_timeout(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    secs: f64,
) -> Res<()> {
    let hub = hub(&state, &ic).await?;
    if !secs.is_finite() || !(0.1..=86_400.0).contains(&secs) {
        return Err("the hold timeout is 0.1 s to 24 h".into());
    }
    hub.set_hold_timeout(Duration::from_secs_f64(secs))
        .map_err(|e| e.to_string())
}

/// `action`: "forward", "drop", or "edit" with the new payload as `text` (text messages) or
/// `base64` (binary).
#[tauri::command]
pub async fn intercept_decide(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    id: u64,
    action: String,
    text: Option<String>,
    base64: Option<String>,
) -> Res<()> {
    let hub = hub(&state, &ic).await?;
    let decision = match action.as_str() {
        "forward" => Decision::Forward,
        "drop" => Decision::Drop,
        "edit" => match (text, base64) {
            (Some(t), None) => Decision::Edited(Bytes::from(t)),
            (None, Some(b)) => Decision::Edited(Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| format!("bad base64: {e}"))?,
            )),
            _ => return Err("an edit needs exactly one of text or base64".into()),
        },
        other => return Err(format!("unknown action {other:?}")),
    };
    hub.decide(id, decision).map_err(|e| e.to_string())
}

/// Forwards every held message as it is; returns how many.
#[tauri::command]
pub async fn intercept_forward_all(
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
) -> Res<usize> {
    Ok(hub(&state, &ic).await?.forward_all())
}

/// Streams held messages and what happens to them (replaces the window's previous stream).
#[tauri::command]
pub async fn intercept_subscribe(
    window: tauri::Window,
    state: State<'_, AppState>,
    ic: State<'_, InterceptState>,
    channel: Channel<InterceptMsg>,
) -> Res<()> {
    let hub = hub(&state, &ic).await?;
    let mut events = hub.subscribe();
    channel
        .send(InterceptMsg::Held { held: hub.held() })
        .map_err(|e| e.to_string())?;
    let task = tauri::async_runtime::spawn(async move {
        loop {
            let msg = match events.recv().await {
                Ok(event) => InterceptMsg::Event { event },
                Err(RecvError::Lagged(_)) => InterceptMsg::Held { held: hub.held() },
                Err(RecvError::Closed) => return,
            };
            if channel.send(msg).is_err() {
                return; // the window is gone
            }
        }
    });
    let mut subs = ic.subscriptions.lock().map_err(|e| e.to_string())?;
    if let Some(old) = subs.insert(window.label().to_owned(), task) {
        old.abort();
    }
    Ok(())
}

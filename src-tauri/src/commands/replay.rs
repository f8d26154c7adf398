//! Replay, mock and diff commands: recordings put to work again.

use super::{blocking, Res};
use crate::state::AppState;
use serde::Serialize;
use sockscope_engine::{
    is_loopback_url, Mock, MockMode, MockOptions, ReplayMode, ReplayPlan, ReplayState,
};
use sockscope_proto::diff::{diff_messages, DiffOptions, DiffStatus, DiffSummary, PathChange};
use sockscope_proto::{ConnectionId, Direction, SessionId};
use std::time::Duration;
use tauri::ipc::Channel;
use tauri::State;

/// What the replay dialog shows (and lets the user edit) before starting.
#[derive(Serialize)]
pub struct ReplayPlanInfo {
    pub origin_session_id: i64,
    pub origin_connection_id: i64,
    pub url: String,
    pub url_is_loopback: bool,
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub client_messages: usize,
    pub server_messages: usize,
}

fn plan_info(plan: &ReplayPlan) -> ReplayPlanInfo {
    ReplayPlanInfo {
        origin_session_id: plan.origin_session.0,
        origin_connection_id: plan.origin_connection.0,
        url: plan.url.clone(),
        url_is_loopback: is_loopback_url(&plan.url),
        headers: plan.headers.clone(),
        subprotocols: plan.subprotocols.clone(),
        client_messages: plan.steps.len(),
        server_messages: plan.server_messages,
    }
}

async fn load_plan(
    state: &AppState,
    session_id: i64,
    connection_id: Option<i64>,
) -> Res<ReplayPlan> {
    let store = state.services()?.store.clone();
    tauri::async_runtime::spawn_blocking(move || {
        ReplayPlan::load(
            &store,
            SessionId(session_id),
            connection_id.map(ConnectionId),
        )
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

#[tauri::command]
pub async fn replay_plan(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: Option<i64>,
) -> Res<ReplayPlanInfo> {
    Ok(plan_info(
        &load_plan(&state, session_id, connection_id).await?,
    ))
}

/// True for ws(s) URLs whose host is loopback (no confirmation needed).
#[tauri::command]
pub fn url_is_loopback(url: String) -> bool {
    is_loopback_url(&url)
}

/// Progress of a running replay, streamed until it ends.
#[derive(Clone, Serialize)]
pub struct ReplayProgressMsg {
    pub sent: usize,
    pub total: usize,
    pub received: usize,
    /// "connecting" | "running" | "closing" | "finished" | "stopped" | "failed"
    pub state: &'static str,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct ReplayStarted {
    pub session_id: i64,
    pub connection_id: i64,
    pub total: usize,
}

fn parse_replay_mode(mode: &str, speed: Option<f64>, timeout_secs: Option<f64>) -> Res<ReplayMode> {
    match mode {
        "timed" => Ok(ReplayMode::Timed {
            speed: speed.unwrap_or(1.0),
        }),
        "max" => Ok(ReplayMode::Max),
        "conversational" => {
            let secs = timeout_secs.unwrap_or(10.0);
            if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
                return Err(format!("invalid timeout {secs} s (0–3600)"));
            }
            Ok(ReplayMode::Conversational {
                timeout: Duration::from_secs_f64(secs),
            })
        }
        other => Err(format!(
            "unknown replay mode {other:?} (timed, max or conversational)"
        )),
    }
}

/// Starts replaying a recorded connection to `url`. A URL whose host is not loopback needs
/// `confirmedRemote: true` (the UI asks the user first, showing the host).
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn start_replay(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: Option<i64>,
    url: String,
    mode: String,
    speed: Option<f64>,
    timeout_secs: Option<f64>,
    headers: Option<Vec<(String, String)>>,
    subprotocols: Option<Vec<String>>,
    confirmed_remote: bool,
    progress: Channel<ReplayProgressMsg>,
) -> Res<ReplayStarted> {
    let mode = parse_replay_mode(&mode, speed, timeout_secs)?;
    mode.check().map_err(|e| e.to_string())?;
    let url = url.trim().to_owned();
    if !is_loopback_url(&url) && !confirmed_remote {
        return Err(format!(
            "{url} is not on this machine: confirm before sending to it"
        ));
    }
    let mut plan = load_plan(&state, session_id, connection_id).await?;
    plan.url = url;
    if let Some(h) = headers {
        plan.headers = h;
    }
    if let Some(p) = subprotocols {
        plan.subprotocols = p;
    }
    let engine = state.services()?.engine.clone();
    let replay = engine.replay(plan, mode).await.map_err(|e| e.to_string())?;
    let started = ReplayStarted {
        session_id: replay.session.0,
        connection_id: replay.connection.0,
        total: replay.progress().borrow().total,
    };
    let mut rx = replay.progress();
    let started_session = started.session_id;
    state
        .replays
        .lock()
        .map_err(|e| e.to_string())?
        .insert(started.session_id, replay.stopper());
    tauri::async_runtime::spawn(async move {
        loop {
            let p = rx.borrow_and_update().clone();
            let (state, error) = match &p.state {
                ReplayState::Connecting => ("connecting", None),
                ReplayState::Running => ("running", None),
                ReplayState::Closing => ("closing", None),
                ReplayState::Finished => ("finished", None),
                ReplayState::Stopped => ("stopped", None),
                ReplayState::Failed(e) => ("failed", Some(e.clone())),
            };
            let msg = ReplayProgressMsg {
                sent: p.sent,
                total: p.total,
                received: p.received,
                state,
                error,
            };
            if progress.send(msg).is_err() || p.state.is_final() || rx.changed().await.is_err() {
                break;
            }
        }
        // The report (and its error, already streamed) is not needed beyond this point.
        let _ = replay.wait().await;
        // A finished replay can no longer be stopped: forget its handle.
        use tauri::Manager as _;
        if let Ok(mut replays) = app.state::<AppState>().replays.lock() {
            replays.remove(&started_session);
        }
    });
    Ok(started)
}

#[tauri::command]
pub async fn stop_replay(state: State<'_, AppState>, session_id: i64) -> Res<()> {
    let stopper = state
        .replays
        .lock()
        .map_err(|e| e.to_string())?
        .remove(&session_id)
        .ok_or_else(|| format!("no replay is running into session {session_id}"))?;
    stopper.stop();
    Ok(())
}

/// A running mock server.
#[derive(Clone, Serialize)]
pub struct MockInfo {
    /// The session recording the mock's client connections.
    pub session_id: i64,
    pub origin_session_id: i64,
    pub listen: String,
    pub url: String,
    pub mode: &'static str,
}

#[tauri::command]
pub async fn start_mock(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: Option<i64>,
    listen: String,
    mode: String,
    speed: Option<f64>,
) -> Res<MockInfo> {
    let (mode, mode_name) = match mode.as_str() {
        "timed" => (
            MockMode::Timed {
                speed: speed.unwrap_or(1.0),
            },
            "timed",
        ),
        "conversational" => (MockMode::Conversational, "conversational"),
        other => {
            return Err(format!(
                "unknown mock mode {other:?} (timed or conversational)"
            ))
        }
    };
    let store = state.services()?.store.clone();
    let opts = MockOptions {
        connection: connection_id.map(ConnectionId),
        mode,
        ..MockOptions::new(SessionId(session_id), listen.trim())
    };
    let mock = Mock::start(store, opts).await.map_err(|e| e.to_string())?;
    let info = MockInfo {
        session_id: mock.session().0,
        origin_session_id: session_id,
        listen: mock.local_addr().to_string(),
        url: mock.url(),
        mode: mode_name,
    };
    state
        .mocks
        .lock()
        .map_err(|e| e.to_string())?
        .insert(info.session_id, (mock, info.clone()));
    Ok(info)
}

#[tauri::command]
pub async fn stop_mock(state: State<'_, AppState>, session_id: i64) -> Res<()> {
    let (mock, _) = state
        .mocks
        .lock()
        .map_err(|e| e.to_string())?
        .remove(&session_id)
        .ok_or_else(|| format!("no mock records into session {session_id}"))?;
    mock.stop().await;
    Ok(())
}

#[tauri::command]
pub async fn list_mocks(state: State<'_, AppState>) -> Res<Vec<MockInfo>> {
    let map = state.mocks.lock().map_err(|e| e.to_string())?;
    let mut list: Vec<MockInfo> = map.values().map(|(_, info)| info.clone()).collect();
    list.sort_by_key(|m| m.session_id);
    Ok(list)
}

/// One side of a diff row, with what the user needs to see it.
#[derive(Serialize)]
pub struct DiffSide {
    pub seq: i64,
    pub ts_us: i64,
    pub opcode: String,
    pub preview: String,
}

#[derive(Serialize)]
pub struct DiffRow {
    pub dir: Direction,
    pub status: DiffStatus,
    pub json: bool,
    pub changes: Vec<PathChange>,
    pub left: Option<DiffSide>,
    pub right: Option<DiffSide>,
}

#[derive(Serialize)]
pub struct DiffView {
    pub summary: DiffSummary,
    pub rows: Vec<DiffRow>,
}

/// Side by side comparison of two connections' data messages (JSON structurally, leaving out
/// the `ignore` keys or paths).
#[tauri::command]
pub async fn diff_connections(
    state: State<'_, AppState>,
    left: i64,
    right: i64,
    ignore: Vec<String>,
) -> Res<DiffView> {
    let opts = DiffOptions { ignore };
    sockscope_proto::diff::check_ignore(&opts).map_err(|e| e.to_string())?;
    let store = state.services()?.store.clone();
    let (l, r) = blocking(move || {
        Ok((
            store.connection_messages(ConnectionId(left))?,
            store.connection_messages(ConnectionId(right))?,
        ))
    })
    .await?;
    let diff = diff_messages(&l, &r, &opts);
    let side = |msgs: &[sockscope_proto::diff::Message], i: Option<usize>| {
        i.and_then(|i| msgs.get(i)).map(|m| DiffSide {
            seq: m.seq,
            ts_us: m.ts_us,
            opcode: m.opcode.name(),
            preview: sockscope_proto::preview(
                &m.payload,
                matches!(m.opcode, sockscope_proto::Opcode::Text),
            ),
        })
    };
    let rows = diff
        .entries
        .into_iter()
        .map(|e| DiffRow {
            dir: e.dir,
            status: e.status,
            json: e.json,
            left: side(&l, e.left),
            right: side(&r, e.right),
            changes: e.changes,
        })
        .collect();
    Ok(DiffView {
        summary: diff.summary,
        rows,
    })
}

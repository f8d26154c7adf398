//! The commands the UI calls (docs/ipc.md). Each is a one-liner into the engine or store;
//! store reads run on the blocking pool. Errors reach the UI as one readable string.

use crate::bridge;
use crate::state::AppState;
use sockscope_engine::{ConnectOptions, Outgoing};
use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::{ConnectionInfo, SessionSummary};
use tauri::ipc::{Channel, Response};
use tauri::State;

pub mod decoders;
pub mod intercept;
pub mod proxy;
pub mod replay;
pub mod sessions;
pub mod stats;
pub mod timeline;
pub mod workbench;

pub type Res<T> = Result<T, String>;

/// Runs a store call on the blocking pool; its error becomes the UI's message.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, sockscope_store::StoreError> + Send + 'static,
) -> Res<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Set when the database was damaged at start: where it was moved (shown as a banner).
#[tauri::command]
pub fn store_notice(state: State<'_, AppState>) -> Option<String> {
    state.store_notice.clone()
}

/// The storage state the store's writer keeps: writing, or paused on a full disk / the size
/// limit with frames waiting; how the last pause ended; damage reported while in use.
#[tauri::command]
pub fn storage_status(state: State<'_, AppState>) -> Res<sockscope_store::StorageStatus> {
    Ok(state.services()?.store.storage_status())
}

/// Sets the database size limit for this run in MB (`null` or 0: none). A paused capture
/// resumes by itself within a retry interval once the limit leaves room.
#[tauri::command]
pub fn set_db_size_limit(
    state: State<'_, AppState>,
    mb: Option<u64>,
) -> Res<sockscope_store::StorageStatus> {
    let store = &state.services()?.store;
    let bytes = match mb {
        None | Some(0) => None,
        Some(mb) if mb > 1 << 30 => return Err(format!("{mb} MB is too large a limit")),
        Some(mb) => Some(mb << 20),
    };
    store.set_size_limit(bytes);
    Ok(store.storage_status())
}

#[tauri::command]
pub async fn list_sessions(state: State<'_, AppState>) -> Res<Vec<SessionSummary>> {
    let store = state.services()?.store.clone();
    blocking(move || store.sessions()).await
}

#[tauri::command]
pub async fn list_connections(
    state: State<'_, AppState>,
    session_id: i64,
) -> Res<Vec<ConnectionInfo>> {
    let store = state.services()?.store.clone();
    blocking(move || store.connections(SessionId(session_id))).await
}

#[tauri::command]
pub async fn connect(
    state: State<'_, AppState>,
    url: String,
    session_id: Option<i64>,
) -> Res<ConnectionInfo> {
    let s = state.services()?;
    let opts = ConnectOptions {
        session: session_id.map(SessionId),
        ..ConnectOptions::new(url)
    };
    let handle = s.engine.connect(opts).await.map_err(|e| e.to_string())?;
    let store = s.store.clone();
    blocking(move || store.connection(handle.id)).await
}

#[tauri::command]
pub async fn send_text(state: State<'_, AppState>, connection_id: i64, text: String) -> Res<()> {
    let engine = &state.services()?.engine;
    engine
        .send(ConnectionId(connection_id), Outgoing::Text(text))
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn disconnect(state: State<'_, AppState>, connection_id: i64) -> Res<()> {
    let engine = &state.services()?.engine;
    engine
        .close(ConnectionId(connection_id), 1000, "")
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn subscribe_session(
    window: tauri::Window,
    state: State<'_, AppState>,
    session_id: i64,
    after_seq: i64,
    channel: Channel<bridge::StreamMsg>,
) -> Res<()> {
    let store = state.services()?.store.clone();
    let task = tauri::async_runtime::spawn(bridge::stream(
        store,
        SessionId(session_id),
        after_seq,
        channel,
    ));
    let mut subs = state.subscriptions.lock().map_err(|e| e.to_string())?;
    if let Some(old) = subs.insert(window.label().to_owned(), task) {
        old.abort();
    }
    Ok(())
}

#[tauri::command]
pub async fn get_payload(
    state: State<'_, AppState>,
    session_id: i64,
    seq: i64,
    inflated: Option<bool>,
) -> Res<Response> {
    let store = state.services()?.store.clone();
    let frame = blocking(move || store.frame(SessionId(session_id), seq)).await?;
    // The inflated message when asked for and there is one; the wire payload otherwise.
    let bytes = match (inflated.unwrap_or(false), frame.inflated) {
        (true, Some(inflated)) => inflated,
        _ => frame.payload,
    };
    Ok(Response::new(bytes))
}

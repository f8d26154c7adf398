//! The detail view's and the statistics panel's commands (docs/ipc.md, "Detail and
//! statistics"): a frame's header facts, a whole message's payload, bucketed statistics.

use super::{blocking, Res};
use crate::state::AppState;
use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::{FrameFacts, Stats, MESSAGE_CAP, STATS_BUCKETS};
use tauri::ipc::Response;
use tauri::State;

#[tauri::command]
pub async fn frame_facts(state: State<'_, AppState>, session_id: i64, seq: i64) -> Res<FrameFacts> {
    let store = state.services()?.store.clone();
    blocking(move || store.frame_facts(SessionId(session_id), seq)).await
}

/// The message `seq` belongs to, fragments joined (inflated when compressed): raw bytes,
/// preceded by nothing else (the span comes from `frame_facts`). At most 64 MiB.
#[tauri::command]
pub async fn get_message(state: State<'_, AppState>, session_id: i64, seq: i64) -> Res<Response> {
    let store = state.services()?.store.clone();
    let m =
        blocking(move || store.message_payload(SessionId(session_id), seq, MESSAGE_CAP)).await?;
    Ok(Response::new(m.bytes))
}

#[tauri::command]
pub async fn session_stats(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: Option<i64>,
    buckets: Option<usize>,
) -> Res<Stats> {
    let store = state.services()?.store.clone();
    let buckets = buckets.unwrap_or(STATS_BUCKETS);
    blocking(move || {
        store.stats(
            SessionId(session_id),
            connection_id.map(ConnectionId),
            buckets,
        )
    })
    .await
}

//! The detail view's decoder choice (docs/ipc.md, "Decoder choice"): per connection and a
//! session default, saved in the store so it survives a restart.

use super::{blocking, Res};
use crate::state::AppState;
use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::DecoderChoices;
use tauri::State;

#[tauri::command]
pub async fn get_decoder_choices(
    state: State<'_, AppState>,
    session_id: i64,
) -> Res<DecoderChoices> {
    let store = state.services()?.store.clone();
    blocking(move || store.decoder_choices(SessionId(session_id))).await
}

/// Saves `decoder` for `connection_id` (or, without one, as the session's default); a null
/// `decoder` forgets the choice.
#[tauri::command]
pub async fn set_decoder_choice(
    state: State<'_, AppState>,
    session_id: i64,
    connection_id: Option<i64>,
    decoder: Option<String>,
) -> Res<()> {
    let store = &state.services()?.store;
    store
        .set_decoder_choice(
            SessionId(session_id),
            connection_id.map(ConnectionId),
            decoder.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())
}

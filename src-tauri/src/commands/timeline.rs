//! The timeline's paging commands (docs/ipc.md, "Timeline"): the UI holds only the pages it
//! shows; rows are fetched by index under a filter that runs in SQLite.
//!
//! Each window keeps its last few queries (the matches found so far), so scrolling and
//! re-counting a live session only scan frames committed since.

use super::{blocking, Res};
use crate::state::AppState;
use sockscope_proto::SessionId;
use sockscope_store::{
    FrameFilter, FrameQuery, FrameSummary, QueryCount, RowIndex, Store, TimelineRow,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::State;

/// Queries kept per window (e.g. the unfiltered list and two filters being switched).
const KEPT_PER_WINDOW: usize = 3;
/// Default and longest time one count call scans before answering.
const COUNT_BUDGET: Duration = Duration::from_millis(150);
const MAX_COUNT_BUDGET: Duration = Duration::from_secs(5);
/// Most fragments listed for one message.
const MAX_FRAGMENTS: usize = 10_000;

type Shared = Arc<Mutex<FrameQuery>>;

/// The queries of each window, most recently used last.
#[derive(Default)]
pub struct TimelineQueries {
    by_window: Mutex<HashMap<String, Vec<Shared>>>,
}

impl TimelineQueries {
    /// The window's query for this session and filter, made (and the filter checked) if new.
    fn get(&self, window: &str, session: SessionId, filter: FrameFilter) -> Res<Shared> {
        let mut all = self.by_window.lock().map_err(|e| e.to_string())?;
        let list = all.entry(window.to_owned()).or_default();
        let found = list.iter().position(|q| {
            q.lock()
                .map(|q| q.session() == session && *q.filter() == filter)
                .unwrap_or(false)
        });
        let q = match found {
            Some(i) => list.remove(i),
            None => Arc::new(Mutex::new(
                FrameQuery::new(session, filter).map_err(|e| e.to_string())?,
            )),
        };
        list.push(q.clone());
        if list.len() > KEPT_PER_WINDOW {
            list.remove(0);
        }
        Ok(q)
    }
}

async fn with_query<T: Send + 'static>(
    window: &tauri::Window,
    state: &State<'_, AppState>,
    queries: &State<'_, TimelineQueries>,
    session_id: i64,
    filter: Option<FrameFilter>,
    f: impl FnOnce(&Store, &mut FrameQuery) -> Result<T, sockscope_store::StoreError> + Send + 'static,
) -> Res<T> {
    let store = state.services()?.store.clone();
    let q = queries.get(
        window.label(),
        SessionId(session_id),
        filter.unwrap_or_default(),
    )?;
    blocking(move || {
        let mut q = q
            .lock()
            .map_err(|_| sockscope_store::StoreError::Poisoned)?;
        f(&store, &mut q)
    })
    .await
}

#[tauri::command]
pub async fn timeline_count(
    window: tauri::Window,
    state: State<'_, AppState>,
    queries: State<'_, TimelineQueries>,
    session_id: i64,
    filter: Option<FrameFilter>,
    budget_ms: Option<u64>,
) -> Res<QueryCount> {
    let budget = budget_ms
        .map(Duration::from_millis)
        .unwrap_or(COUNT_BUDGET)
        .min(MAX_COUNT_BUDGET);
    with_query(
        &window,
        &state,
        &queries,
        session_id,
        filter,
        move |s, q| s.query_count(q, budget),
    )
    .await
}

#[tauri::command]
pub async fn timeline_page(
    window: tauri::Window,
    state: State<'_, AppState>,
    queries: State<'_, TimelineQueries>,
    session_id: i64,
    filter: Option<FrameFilter>,
    offset: u64,
    limit: usize,
) -> Res<Vec<TimelineRow>> {
    with_query(
        &window,
        &state,
        &queries,
        session_id,
        filter,
        move |s, q| s.query_page(q, offset, limit),
    )
    .await
}

#[tauri::command]
pub async fn timeline_index_of(
    window: tauri::Window,
    state: State<'_, AppState>,
    queries: State<'_, TimelineQueries>,
    session_id: i64,
    filter: Option<FrameFilter>,
    seq: i64,
) -> Res<RowIndex> {
    with_query(
        &window,
        &state,
        &queries,
        session_id,
        filter,
        move |s, q| s.query_index_of(q, seq),
    )
    .await
}

#[tauri::command]
pub async fn message_fragments(
    state: State<'_, AppState>,
    session_id: i64,
    seq: i64,
) -> Res<Vec<FrameSummary>> {
    let store = state.services()?.store.clone();
    blocking(move || store.message_fragments(SessionId(session_id), seq, MAX_FRAGMENTS)).await
}

/// Frames per connection of a session up to `maxSeq`, as `[connection id, frames]` pairs.
#[tauri::command]
pub async fn connection_frame_counts(
    state: State<'_, AppState>,
    session_id: i64,
    max_seq: i64,
) -> Res<Vec<(i64, i64)>> {
    let store = state.services()?.store.clone();
    let counts =
        blocking(move || store.connection_frame_counts(SessionId(session_id), max_seq)).await?;
    Ok(counts.into_iter().map(|(c, n)| (c.0, n)).collect())
}

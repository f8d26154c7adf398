//! The timeline's paging commands (docs/ipc.md, "Timeline"): the UI holds only the pages it
//! shows; rows are fetched by index under a filter that runs in SQLite.
//!
//! Each window keeps its last few queries (the matches found so far), so scrolling and
//! re-counting a live session only scan frames committed since.

use super::{blocking, Res};
use crate::state::AppState;
use sockscope_proto::SessionId;
use sockscope_store::{
    FrameFilter, FrameQuery, PayloadMatches, QueryCount, RowIndex, Store, TimelineRow,
    MAX_PAYLOAD_MATCHES,
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

/// The fragments of the message starting at `seq`, with the filter's highlights.
#[tauri::command]
pub async fn message_fragments(
    state: State<'_, AppState>,
    session_id: i64,
    seq: i64,
    filter: Option<FrameFilter>,
) -> Res<Vec<TimelineRow>> {
    let store = state.services()?.store.clone();
    let filter = filter.unwrap_or_default();
    blocking(move || {
        store.message_fragment_rows(SessionId(session_id), seq, MAX_FRAGMENTS, &filter)
    })
    .await
}

/// Largest filter JSON at the head of a `find_matches` body.
const MAX_FILTER_JSON: usize = 64 * 1024;

/// Splits a `find_matches` body: a little-endian u32 length, the filter as JSON, the bytes.
fn split_match_body(body: &[u8]) -> Res<(FrameFilter, &[u8])> {
    let (len, rest) = body
        .split_first_chunk::<4>()
        .ok_or("find_matches: the body is shorter than its length prefix")?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_FILTER_JSON || len > rest.len() {
        return Err("find_matches: bad filter length".into());
    }
    let (json, hay) = rest.split_at(len);
    let filter: FrameFilter =
        serde_json::from_slice(json).map_err(|e| format!("find_matches: bad filter: {e}"))?;
    Ok((filter, hay))
}

/// Where the filter's text (or full-text words) matches in the bytes the detail view shows
/// (a payload, pretty JSON or decoded text as UTF-8): the pattern the timeline's filter runs.
#[tauri::command]
pub async fn find_matches(request: tauri::ipc::Request<'_>) -> Res<PayloadMatches> {
    let tauri::ipc::InvokeBody::Raw(body) = request.body() else {
        return Err("find_matches expects a raw body".into());
    };
    let body = body.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let (filter, hay) = split_match_body(&body)?;
        sockscope_store::payload_matches(&filter, hay, MAX_PAYLOAD_MATCHES)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
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

#[cfg(test)]
mod tests {
    use super::split_match_body;

    fn body(json: &str, hay: &[u8]) -> Vec<u8> {
        let mut b = (json.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(json.as_bytes());
        b.extend_from_slice(hay);
        b
    }

    #[test]
    fn match_bodies() {
        let b = body(
            r#"{"text":{"pattern":"a","regex":false,"case_sensitive":true}}"#,
            b"xax",
        );
        let (f, hay) = split_match_body(&b)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hay, b"xax");
        assert_eq!(f.text.map(|t| t.pattern), Some("a".to_owned()));
        assert!(split_match_body(b"\x01").is_err());
        assert!(split_match_body(&[9, 0, 0, 0, b'{']).is_err());
        assert!(split_match_body(&body("{\"nope\":1}", b"")).is_err());
        assert!(split_match_body(&body("{}", b"")).is_ok());
    }
}

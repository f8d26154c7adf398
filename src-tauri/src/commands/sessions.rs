//! The Sessions commands: organise, search, import and export.

use super::{blocking, Res};
use crate::state::AppState;
use sockscope_proto::SessionId;
use sockscope_store::{
    ImportLimits, ImportSummary, SearchHit, SessionSort, SessionSummary, StorageInfo,
};
use std::path::{Path, PathBuf};
use tauri::ipc::Request;
use tauri::State;

#[tauri::command]
pub async fn list_sessions_sorted(
    state: State<'_, AppState>,
    sort: SessionSort,
) -> Res<Vec<SessionSummary>> {
    let store = state.services()?.store.clone();
    blocking(move || store.sessions_sorted(sort)).await
}

#[tauri::command]
pub async fn rename_session(state: State<'_, AppState>, session_id: i64, name: String) -> Res<()> {
    let store = &state.services()?.store;
    store
        .rename_session(SessionId(session_id), &name)
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn set_session_notes(
    state: State<'_, AppState>,
    session_id: i64,
    notes: String,
) -> Res<()> {
    let store = &state.services()?.store;
    store
        .set_notes(SessionId(session_id), &notes)
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn set_session_tags(
    state: State<'_, AppState>,
    session_id: i64,
    tags: Vec<String>,
) -> Res<()> {
    let store = &state.services()?.store;
    store
        .set_tags(SessionId(session_id), &tags)
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn set_session_pinned(
    state: State<'_, AppState>,
    session_id: i64,
    pinned: bool,
) -> Res<()> {
    let store = &state.services()?.store;
    store
        .set_pinned(SessionId(session_id), pinned)
        .await
        .map_err(|e| e.to_string())
}

/// Deletes a session with its connections and frames. A listener still recording into it is
/// stopped first.
#[tauri::command]
pub async fn delete_session(state: State<'_, AppState>, session_id: i64) -> Res<()> {
    let running = state
        .proxies
        .lock()
        .map_err(|e| e.to_string())?
        .remove(&session_id);
    if let Some(running) = running {
        running.proxy.stop().await;
    }
    let store = &state.services()?.store;
    store
        .delete_session(SessionId(session_id))
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn storage_info(state: State<'_, AppState>) -> Res<StorageInfo> {
    let store = state.services()?.store.clone();
    blocking(move || store.storage_info()).await
}

/// Full-text search over every session's text payloads.
#[tauri::command]
pub async fn search_payloads(
    state: State<'_, AppState>,
    query: String,
    limit: Option<usize>,
) -> Res<Vec<SearchHit>> {
    let store = state.services()?.store.clone();
    let limit = limit.unwrap_or(200).clamp(1, 10_000);
    blocking(move || store.search(&query, limit)).await
}

/// A file name safe to create in a temporary directory (no path, no control characters).
fn safe_file_name(name: &str) -> String {
    let base = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("import");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(120)
        .collect();
    if clean.trim().is_empty() || clean == "." || clean == ".." {
        "import".to_owned()
    } else {
        clean
    }
}

/// Imports a JSONL or HAR file whose bytes are the raw request body (header `x-file-name`
/// carries its name). Nothing is written unless the whole file is valid.
#[tauri::command]
pub async fn import_data(state: State<'_, AppState>, request: Request<'_>) -> Res<ImportSummary> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err("import_data expects the file's bytes as the request body".into());
    };
    let name = request
        .headers()
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(safe_file_name)
        .unwrap_or_else(|| "import".to_owned());
    let bytes = bytes.clone();
    let store = state.services()?.store.clone();
    tauri::async_runtime::spawn_blocking(move || -> Res<ImportSummary> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        store
            .import_file(&path, ImportLimits::default(), &|_| {})
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Where exports go: the user's Downloads folder (else home, else the temp dir).
fn export_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|d| {
            d.download_dir()
                .map(Path::to_path_buf)
                .or_else(|| Some(d.home_dir().to_path_buf()))
        })
        .unwrap_or_else(std::env::temp_dir)
}

/// Writes the session as JSONL or HAR into the Downloads folder; returns the file's path.
/// The file appears only once complete (temporary file, then rename).
#[tauri::command]
pub async fn export_session(
    state: State<'_, AppState>,
    session_id: i64,
    format: String,
    dir: Option<String>,
) -> Res<String> {
    let ext = match format.as_str() {
        "jsonl" => "jsonl",
        "har" => "har",
        other => return Err(format!("unknown export format {other:?} (jsonl or har)")),
    };
    let store = state.services()?.store.clone();
    let dir = dir.map(PathBuf::from).unwrap_or_else(export_dir);
    tauri::async_runtime::spawn_blocking(move || -> Res<String> {
        let session = SessionId(session_id);
        store.session(session).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut target = dir.join(format!("sockscope-session-{session_id}.{ext}"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = dir.join(format!("sockscope-session-{session_id} ({n}).{ext}"));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".sockscope-export-")
            .tempfile_in(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        {
            let mut out = std::io::BufWriter::new(tmp.as_file());
            match ext {
                "har" => store.export_har(session, &mut out),
                _ => store.export_jsonl(session, &mut out),
            }
            .map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut out).map_err(|e| e.to_string())?;
        }
        tmp.persist_noclobber(&target)
            .map_err(|e| format!("{}: {}", target.display(), e.error))?;
        Ok(target.display().to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn import_names_cannot_escape_the_temp_dir() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("/abs/a.har"), "a.har");
        assert_eq!(safe_file_name(".."), "import");
        assert_eq!(safe_file_name("a\nb.jsonl"), "ab.jsonl");
        assert_eq!(safe_file_name(""), "import");
    }
}

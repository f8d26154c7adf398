//! Organising sessions: rename, notes, tags, pin, delete (through the writer thread), sorted
//! lists, and reclaiming space.
//!
//! Deleting hides the session at once; the writer then removes its FTS rows, frames,
//! connections and row in steps between capture batches (`purge.rs`). Databases created by
//! this version use `auto_vacuum = INCREMENTAL`, so the purge then gives the freed pages back
//! to the file system, in steps too.
//! Older files keep their free pages for reuse by later writes until [`Store::vacuum`] (a full
//! `VACUUM`, which also switches them to incremental auto-vacuum) is run; the app decides when
//! (e.g. when [`StorageInfo::free_fraction`] is large and nothing is recording).

use crate::model::SessionSummary;
use crate::purge::not_purging;
use crate::read;
use crate::writer::WriteOp;
use crate::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sockscope_proto::SessionId;
// Keys are ids the store hands out, never peer input: a fast hasher is safe here.
use rustc_hash::FxHashMap as HashMap;

/// Longest session name (characters).
pub const MAX_NAME_CHARS: usize = 1000;
/// Longest notes (characters).
pub const MAX_NOTES_CHARS: usize = 100_000;
/// Most tags on one session.
pub const MAX_TAGS: usize = 64;
/// Longest tag (characters).
pub const MAX_TAG_CHARS: usize = 64;

/// How [`Store::sessions_sorted`] orders sessions; pinned sessions always come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionSort {
    /// Newest first.
    #[default]
    Date,
    /// Largest (sum of payload lengths) first.
    Size,
}

/// Space used by the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StorageInfo {
    pub page_size: i64,
    pub page_count: i64,
    /// Pages that are free inside the file (reused by later writes).
    pub free_pages: i64,
    /// The file returns freed pages to the file system after deletes.
    pub incremental_vacuum: bool,
}

impl StorageInfo {
    pub fn file_bytes(&self) -> i64 {
        self.page_size.saturating_mul(self.page_count)
    }

    /// Share of the file that is free pages (0.0 – 1.0).
    pub fn free_fraction(&self) -> f64 {
        if self.page_count <= 0 {
            0.0
        } else {
            self.free_pages as f64 / self.page_count as f64
        }
    }
}

/// A change to one session, applied by the writer thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionEdit {
    Rename {
        session: SessionId,
        name: String,
    },
    Notes {
        session: SessionId,
        notes: String,
    },
    Tags {
        session: SessionId,
        tags: Vec<String>,
    },
    Pin {
        session: SessionId,
        pinned: bool,
    },
    Delete {
        session: SessionId,
    },
}

impl SessionEdit {
    pub(crate) fn session(&self) -> SessionId {
        match self {
            SessionEdit::Rename { session, .. }
            | SessionEdit::Notes { session, .. }
            | SessionEdit::Tags { session, .. }
            | SessionEdit::Pin { session, .. }
            | SessionEdit::Delete { session } => *session,
        }
    }
}

/// Runs `f` inside a savepoint of the writer's transaction: on `Ok(Err(_))` everything `f`
/// wrote is rolled back and the rest of the batch goes on; `Err(_)` means the savepoint
/// itself failed (the batch fails).
pub(crate) fn isolated<T>(
    tx: &Connection,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    tx.execute_batch("SAVEPOINT sockscope_isolated")?;
    match f() {
        Ok(v) => {
            tx.execute_batch("RELEASE sockscope_isolated")?;
            Ok(Ok(v))
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO sockscope_isolated; RELEASE sockscope_isolated")?;
            Ok(Err(e))
        }
    }
}

pub(crate) fn apply_isolated(
    tx: &Connection,
    edit: &SessionEdit,
    seqs: &mut HashMap<SessionId, i64>,
) -> Result<Result<(), StoreError>, StoreError> {
    isolated(tx, || apply(tx, edit, seqs))
}

pub(crate) fn session_exists(tx: &Connection, session: SessionId) -> Result<(), StoreError> {
    tx.prepare_cached(concat!(
        "SELECT 1 FROM sessions WHERE id = ?1 AND id",
        not_purging!()
    ))?
    .query_row(params![session.0], |_| Ok(()))
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("session {session}")))
}

fn apply(
    tx: &Connection,
    edit: &SessionEdit,
    seqs: &mut HashMap<SessionId, i64>,
) -> Result<(), StoreError> {
    session_exists(tx, edit.session())?;
    match edit {
        SessionEdit::Rename { session, name } => {
            tx.prepare_cached("UPDATE sessions SET name = ?2 WHERE id = ?1")?
                .execute(params![session.0, name])?;
        }
        SessionEdit::Notes { session, notes } => {
            tx.prepare_cached("UPDATE sessions SET notes = ?2 WHERE id = ?1")?
                .execute(params![session.0, notes])?;
        }
        SessionEdit::Tags { session, tags } => {
            let json = serde_json::to_string(tags)
                .map_err(|e| StoreError::Invalid(format!("tags: {e}")))?;
            tx.prepare_cached("UPDATE sessions SET tags = ?2 WHERE id = ?1")?
                .execute(params![session.0, json])?;
        }
        SessionEdit::Pin { session, pinned } => {
            tx.prepare_cached("UPDATE sessions SET pinned = ?2 WHERE id = ?1")?
                .execute(params![session.0, pinned])?;
        }
        SessionEdit::Delete { session } => {
            delete(tx, *session)?;
            // Frames still queued for it are dropped (next_seq finds no session).
            seqs.remove(session);
        }
    }
    Ok(())
}

/// Hides the session at once and queues it for the writer's purge (`purge.rs`), which
/// deletes its frames, connections and row in steps and then gives the space back.
fn delete(tx: &Connection, session: SessionId) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO purge (session_id) VALUES (?1)")?
        .execute(params![session.0])?;
    Ok(())
}

/// A new (empty) file gets `auto_vacuum = INCREMENTAL` and its page size (`page_size`
/// bytes, a power of two from 512 to 65536): both can only be set before the first page is
/// written, so before the WAL journal mode. An existing file keeps its own.
pub(crate) fn prepare_new_file(path: &std::path::Path, page_size: u32) -> Result<(), StoreError> {
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(StoreError::Invalid(format!(
            "page size {page_size}: a power of two from 512 to 65536"
        )));
    }
    let conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if pages == 0 {
        conn.execute_batch(&format!(
            "PRAGMA page_size = {page_size}; PRAGMA auto_vacuum = INCREMENTAL"
        ))
        .map_err(|e| StoreError::open(path, e))?;
        // Writes the header (with the auto-vacuum mode) now.
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| StoreError::open(path, e))?;
    }
    Ok(())
}

/// A full `VACUUM` (outside any transaction), switching the file to incremental auto-vacuum.
pub(crate) fn vacuum(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    Ok(())
}

fn clean_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid("a session name cannot be empty".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "a session name is at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// Trims tags, drops duplicates (first kept), refuses empty or over-long ones and control
/// characters.
pub(crate) fn clean_tags(tags: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(StoreError::Invalid("a tag cannot be empty".into()));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(StoreError::Invalid(format!(
                "a tag is at most {MAX_TAG_CHARS} characters"
            )));
        }
        if tag.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a tag cannot contain control characters".into(),
            ));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(StoreError::Invalid(format!(
            "a session has at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

pub(crate) fn check_notes(notes: &str) -> Result<(), StoreError> {
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(StoreError::Invalid(format!(
            "notes are at most {MAX_NOTES_CHARS} characters"
        )));
    }
    Ok(())
}

pub(crate) fn sessions_sorted(
    c: &Connection,
    sort: SessionSort,
) -> Result<Vec<SessionSummary>, StoreError> {
    let order = match sort {
        SessionSort::Date => "s.pinned DESC, s.created_at_us DESC, s.id DESC",
        SessionSort::Size => "s.pinned DESC, s.bytes DESC, s.frame_count DESC, s.id DESC",
    };
    let mut stmt = c.prepare_cached(&format!(
        concat!(
            "SELECT {} FROM sessions s WHERE s.id",
            not_purging!(),
            " ORDER BY {}"
        ),
        read::SESSION_COLS,
        order
    ))?;
    let rows = stmt.query_map([], read::session_row)?;
    rows.map(|r| read::to_session(r?)).collect()
}

fn storage_info(c: &Connection) -> Result<StorageInfo, StoreError> {
    let get = |pragma: &str| -> Result<i64, StoreError> {
        Ok(c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))?)
    };
    Ok(StorageInfo {
        page_size: get("page_size")?,
        page_count: get("page_count")?,
        free_pages: get("freelist_count")?,
        incremental_vacuum: get("auto_vacuum")? == 2,
    })
}

impl Store {
    async fn edit(&self, edit: SessionEdit) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::Edit { edit, reply }).await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Renames a session (trimmed; not empty, at most [`MAX_NAME_CHARS`]). Stored as plain
    /// text.
    pub async fn rename_session(&self, session: SessionId, name: &str) -> Result<(), StoreError> {
        let name = clean_name(name)?;
        self.edit(SessionEdit::Rename { session, name }).await
    }

    /// Replaces a session's notes (at most [`MAX_NOTES_CHARS`]).
    pub async fn set_notes(&self, session: SessionId, notes: &str) -> Result<(), StoreError> {
        check_notes(notes)?;
        self.edit(SessionEdit::Notes {
            session,
            notes: notes.to_owned(),
        })
        .await
    }

    /// Replaces a session's tags: trimmed, duplicates dropped, each 1–[`MAX_TAG_CHARS`]
    /// characters without control characters, at most [`MAX_TAGS`].
    pub async fn set_tags(&self, session: SessionId, tags: &[String]) -> Result<(), StoreError> {
        let tags = clean_tags(tags)?;
        self.edit(SessionEdit::Tags { session, tags }).await
    }

    pub async fn set_pinned(&self, session: SessionId, pinned: bool) -> Result<(), StoreError> {
        self.edit(SessionEdit::Pin { session, pinned }).await
    }

    /// Deletes a session with its connections, frames and search entries, in one
    /// transaction. Frames still arriving for it (a live connection) are dropped; stop its
    /// connections first.
    pub async fn delete_session(&self, session: SessionId) -> Result<(), StoreError> {
        self.edit(SessionEdit::Delete { session }).await
    }

    /// Sessions with pinned ones first, then by date (newest first) or size (largest first).
    pub fn sessions_sorted(&self, sort: SessionSort) -> Result<Vec<SessionSummary>, StoreError> {
        self.with_reader(|c| sessions_sorted(c, sort))
    }

    /// How big the file is and how much of it is free.
    pub fn storage_info(&self) -> Result<StorageInfo, StoreError> {
        self.with_reader(storage_info)
    }

    /// Rewrites the whole file (`VACUUM`) to give free pages back, and switches it to
    /// incremental auto-vacuum so later deletes shrink it at once. Takes time proportional to
    /// the file and needs as much free disk; recording waits meanwhile.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::Vacuum(reply)).await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }
}

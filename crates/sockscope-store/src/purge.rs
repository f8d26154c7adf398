//! Deleting a session in steps, so that deleting gigabytes never stops capture and never
//! grows the WAL without bound.
//!
//! [`crate::Store::delete_session`] commits at once only a row in `purge` (schema v10): from
//! then on the session is hidden (listings, edits, search and new frames skip it). The writer
//! then works through it between capture batches, and back to back when idle, one bounded
//! transaction at a time:
//! 1. up to [`PURGE_FRAMES`] of its frames (and their full-text entries);
//! 2. once none is left, its connections, the session row and the `purge` row — whoever waits
//!    for the delete is answered then;
//! 3. on a file with incremental auto-vacuum, free pages are given back to the file system,
//!    [`VACUUM_PAGES`] per step when idle and [`VACUUM_PAGES_BUSY`] between capture batches,
//!    taking turns with step 1 while other sessions wait, until none is free.
//!
//! The session's payload file (`payloads.rs`), most of its bytes when its frames are large, is
//! removed at its first step: a user who deletes a session to make room gets the room at once,
//! not after the last of its rows (one step per [`PURGE_FRAMES`] frames, each between capture
//! batches). Nothing reads it by then: the session is hidden, and new frames of it are refused.
//!
//! Free pages are reused by new frames at once, so a capture running meanwhile does not grow
//! the file. A purge left unfinished by a crash or a quit goes on at the next start.
//!
//! Before this, one transaction deleted every frame and vacuumed the whole file: deleting a
//! 22 GB session during the full-load soak held the writer (and so capture) for minutes while
//! the WAL grew by 160 MB/s, past 7 GB.

use crate::payloads::PayloadWriter;
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use sockscope_proto::SessionId;
use std::collections::HashMap;

/// Frames deleted per step (with their index and full-text entries).
pub const PURGE_FRAMES: usize = 2_000;
/// Pages given back to the file system per step when the writer is idle (8 MiB at 16 KiB
/// pages).
pub const VACUUM_PAGES: u32 = 512;
/// Pages given back per step between capture batches (2 MiB at 16 KiB pages): each moved page
/// is read and written again, so this bounds what giving space back takes from capture.
pub const VACUUM_PAGES_BUSY: u32 = 128;

type Reply = flume::Sender<Result<(), StoreError>>;

/// SQL, after a session id column: the session is not being deleted. Every read of sessions
/// (and the writer's check before adding a frame) hides the ones in `purge`.
macro_rules! not_purging {
    () => {
        " NOT IN (SELECT session_id FROM purge)"
    };
}
pub(crate) use not_purging;

/// The writer's purge state.
#[derive(Default)]
pub(crate) struct Purge {
    /// Sessions may wait in `purge` (a delete committed, or one left by a previous run).
    pending: bool,
    /// Free pages may remain to give back.
    vacuum: bool,
    /// Who waits for which session's delete to be done.
    waiters: HashMap<SessionId, Vec<Reply>>,
    /// The last step was a purge step (with both to do, they take turns).
    purged_last: bool,
}

impl Purge {
    /// At start: a purge left by a previous run goes on.
    pub(crate) fn resume(conn: &Connection) -> Purge {
        let pending = conn
            .query_row("SELECT EXISTS(SELECT 1 FROM purge)", [], |r| r.get(0))
            .unwrap_or(false);
        Purge {
            pending,
            vacuum: pending,
            ..Purge::default()
        }
    }

    /// `reply` is answered once the rows of `session` are gone.
    pub(crate) fn wait(&mut self, session: SessionId, reply: Reply) {
        self.pending = true;
        self.vacuum = true;
        self.waiters.entry(session).or_default().push(reply);
    }

    pub(crate) fn busy(&self) -> bool {
        self.pending || self.vacuum
    }

    /// One bounded step, in its own transaction; `busy`: capture is running (smaller vacuum
    /// steps). An error stops purging until the next delete or start (the rows stay hidden;
    /// nothing is lost).
    pub(crate) fn step(&mut self, conn: &mut Connection, busy: bool, payloads: &mut PayloadWriter) {
        let vacuum_turn = self.vacuum && (!self.pending || self.purged_last);
        if self.pending && !vacuum_turn {
            self.purged_last = true;
            match purge_step(conn) {
                Ok(Some(Purged::Frames(session))) => {
                    // Gone at the first step; at the next ones there is no file to remove
                    // (a `stat` per 2,000 frames).
                    payloads.remove(session.0);
                    return;
                }
                Ok(Some(Purged::Session(session))) => {
                    // Its payload file (if it had no frame step) goes before whoever waits is
                    // told it is gone.
                    payloads.remove(session.0);
                    for reply in self.waiters.remove(&session).unwrap_or_default() {
                        let _ = reply.send(Ok(()));
                    }
                    return;
                }
                Ok(None) => {
                    self.pending = false;
                    // Waiters for sessions no longer in `purge` (deleted twice) are done too.
                    self.answer_all(|| Ok(()));
                }
                Err(e) => {
                    self.pending = false;
                    self.answer_all(|| Err(StoreError::Pragma(e.to_string())));
                    return;
                }
            }
        }
        self.purged_last = false;
        if self.vacuum {
            let pages = if busy {
                VACUUM_PAGES_BUSY
            } else {
                VACUUM_PAGES
            };
            match vacuum_step(conn, pages) {
                Ok(true) => return,
                Ok(false) | Err(_) => self.vacuum = false,
            }
        }
        if self.pending {
            // The vacuum's turn, with nothing left to give back.
            self.step(conn, busy, payloads);
        }
    }

    fn answer_all(&mut self, result: impl Fn() -> Result<(), StoreError>) {
        for (_, replies) in self.waiters.drain() {
            for reply in replies {
                let _ = reply.send(result());
            }
        }
    }
}

/// What a purge step removed.
enum Purged {
    /// Some frames of the first session waiting (this one).
    Frames(SessionId),
    /// That session itself: it had no frames left.
    Session(SessionId),
}

/// Deletes up to [`PURGE_FRAMES`] frames of the first session waiting, or, when it has none
/// left, the session itself. `None` when no session waits.
fn purge_step(conn: &mut Connection) -> Result<Option<Purged>, StoreError> {
    // The schema's cascades are done here by hand, with SQLite's checks off: `frames` has
    // no index on `connection_id` (see `connection_index.rs`), so with the checks on,
    // deleting a connection would scan every frame of the file for its children. By then
    // the session has no frames left; what else points at a session or a connection is
    // below (decoder choices, the origins of sessions made from it).
    crate::writer::foreign_keys(conn, false)?;
    let tx = conn.transaction()?;
    let Some(session) = tx
        .query_row(
            "SELECT session_id FROM purge ORDER BY session_id LIMIT 1",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM frames WHERE session_id = ?1 ORDER BY seq LIMIT ?2")?
        .query_map(params![session, PURGE_FRAMES as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        // Nothing of it is left but the rows the frames hung on.
        tx.prepare_cached("DELETE FROM decoder_choices WHERE session_id = ?1")?
            .execute(params![session])?;
        tx.prepare_cached(
            "UPDATE sessions SET origin_connection_id = NULL WHERE origin_connection_id IN \
             (SELECT id FROM connections WHERE session_id = ?1)",
        )?
        .execute(params![session])?;
        tx.prepare_cached(
            "UPDATE sessions SET origin_session_id = NULL WHERE origin_session_id = ?1",
        )?
        .execute(params![session])?;
        tx.prepare_cached("DELETE FROM connections WHERE session_id = ?1")?
            .execute(params![session])?;
        tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
            .execute(params![session])?;
        tx.prepare_cached("DELETE FROM purge WHERE session_id = ?1")?
            .execute(params![session])?;
        tx.commit()?;
        return Ok(Some(Purged::Session(SessionId(session))));
    }
    // The per-connection index of a session being deleted is of no use: all its packs go at
    // once (with those made of its frames since the last step).
    tx.prepare_cached(
        "DELETE FROM connection_packs WHERE conn_id IN \
         (SELECT id FROM connections WHERE session_id = ?1)",
    )?
    .execute(params![session])?;
    let watermark: i64 = tx
        .query_row(
            "SELECT indexed_upto FROM fts_progress WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    {
        let mut fts = tx.prepare_cached("DELETE FROM frames_fts WHERE rowid = ?1")?;
        let mut frame = tx.prepare_cached("DELETE FROM frames WHERE id = ?1")?;
        for &id in &ids {
            // Frames above the watermark were never indexed.
            if id <= watermark {
                fts.execute(params![id])?;
            }
            frame.execute(params![id])?;
        }
    }
    // New frames may reuse the ids of deleted ones: the watermarks of the indexes filled
    // after capture (full text, and per connection: `connection_index.rs`) must stay below
    // them.
    for progress in ["fts_progress", "connection_index_progress"] {
        tx.prepare_cached(&format!(
            "UPDATE {progress} SET indexed_upto = \
             MIN(indexed_upto, (SELECT COALESCE(MAX(id), 0) FROM frames)) WHERE id = 1"
        ))?
        .execute([])?;
    }
    tx.commit()?;
    Ok(Some(Purged::Frames(SessionId(session))))
}

/// Gives up to `pages` free pages back (incremental auto-vacuum only); `false` when there
/// was nothing to give back.
fn vacuum_step(conn: &mut Connection, pages: u32) -> Result<bool, StoreError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    if mode != 2 || free == 0 {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    {
        // The pragma frees one page per step (one result row each): step it to the end.
        let mut stmt = tx.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payloads::{dir_for, Removals, Unsynced, SIDE_MIN};

    /// A session of frames with their payloads in its file, being deleted over several steps:
    /// the file goes at the first step while rows remain, the rows step by step, the session
    /// at the end; another session's file stays.
    #[test]
    fn a_purged_sessions_payload_file_goes_at_its_first_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.db");
        let mut conn = crate::open_connection(&path).expect("open");
        crate::migrations::apply(&mut conn, &path).expect("schema");
        let mut payloads =
            PayloadWriter::new(&path, SIDE_MIN, Removals::default(), Unsynced::new(&path));
        let frames = 2 * PURGE_FRAMES + 10;
        for s in [1i64, 2] {
            conn.execute(
                "INSERT INTO sessions (id, name, kind, created_at_us) VALUES (?1, 's', 'proxy', 0)",
                [s],
            )
            .expect("session");
            conn.execute(
                "INSERT INTO connections (id, session_id, url, state, created_at_us) \
                 VALUES (?1, ?1, 'ws://x/', 'open', 0)",
                [s],
            )
            .expect("connection");
            let tx = conn.transaction().expect("tx");
            for seq in 1..=frames as i64 {
                let at = payloads
                    .append(s, &bytes::Bytes::from_static(&[7u8; 200]))
                    .expect("append");
                tx.execute(
                    "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, \
                     flags, len, payload, poff, plen) VALUES (?1, ?2, ?1, 0, 0, 1, 1, 200, x'', ?3, 200)",
                    params![s, seq, at as i64],
                )
                .expect("frame");
            }
            payloads.flush().expect("flush");
            tx.commit().expect("commit");
            payloads.committed();
        }
        let file = |s: i64| dir_for(&path).join(format!("{s}.bin"));
        let rows = |conn: &Connection, s: i64| -> i64 {
            conn.query_row(
                "SELECT COUNT(*) FROM frames WHERE session_id = ?1",
                [s],
                |r| r.get(0),
            )
            .expect("count")
        };
        assert!(file(1).exists() && file(2).exists());
        conn.execute("INSERT INTO purge (session_id) VALUES (1)", [])
            .expect("purge row");
        let mut purge = Purge::resume(&conn);
        // Purge and vacuum steps take turns: the first is a purge step.
        purge.step(&mut conn, false, &mut payloads);
        assert_eq!(rows(&conn, 1), (frames - PURGE_FRAMES) as i64);
        assert!(!file(1).exists(), "the payload file is still there");
        while purge.busy() {
            purge.step(&mut conn, false, &mut payloads);
        }
        assert_eq!(rows(&conn, 1), 0);
        let sessions: i64 = conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .expect("sessions");
        assert_eq!(sessions, 1);
        assert_eq!(rows(&conn, 2), frames as i64);
        assert_eq!(
            std::fs::metadata(file(2)).expect("file 2").len(),
            200 * frames as u64
        );
    }
}

//! The per-connection index: each connection's frames in seq order, for the timeline's
//! connection filter, the message reader, stats and HAR export. It is written in packs
//! (`connection_packs.rs`), one row per connection and catch-up, rather than row by row.
//!
//! Why not an index on `frames(connection_id, seq)` (schema versions 3 to 11): capture
//! appends to `frames` and to `frames(session_id, seq)` at their ends, but with many
//! connections at once every row went into another leaf of a per-connection index. A commit
//! of 1,024 frames over 100 connections dirtied some 100 of its 16 KiB leaves, each written
//! to the WAL and checkpointed again for about ten rows. On `fanout` (100 connections) that
//! index cost a third of the proxy's throughput (`docs/benchmarks.md`, twelfth pass).
//!
//! Why not one row per frame in a table filled in chunks (schema 12): the inserts still went
//! into the middle of the table, 100 places at once on `fanout`, and cost 0.6 µs of the
//! writer per frame, a fifth of the proxy's throughput (thirteenth pass). Now, every
//! [`CHUNK`] frames and whenever it is idle (like the full-text index, `search.rs`), the
//! writer takes the frames committed since the last time, groups them by connection and
//! writes one pack per connection: about 100 rows per chunk on `fanout`, 8 on a single
//! connection. It takes them from what it kept of the rows it inserted ([`Recent`]), or reads
//! them back from `frames` when it cannot be sure that is all of them.
//! Frames with `id` above `connection_index_progress.indexed_upto` are in no pack yet;
//! [`frames_of`] and [`Parts`] read them from `frames` itself (at most about [`CHUNK`] rows
//! past the last catch-up). A purge step deletes the packs of the session it deletes and keeps
//! the watermark below the ids new frames may reuse (`purge.rs`).
//!
//! Readers see the packs as the table `sockscope_connection_frames(conn_id)` with the columns
//! `frame_seq` and `frame_id`, in seq order. Its columns share no name with `frames`, so a
//! query joining the two can keep naming `frames`' columns unqualified. Readers that scan all
//! of a connection's frames (statistics, the timeline's filter, a connection's messages) read
//! the two parts with two statements ([`Parts`]): through one `UNION ALL` every row passed a
//! co-routine, which made them up to twice as slow as an index.
//!
//! The frames past the watermark are read `FROM frames NOT INDEXED`, by rowid: given
//! `session_id = ?` as well, SQLite's planner preferred `frames(session_id, seq)` and read
//! the whole session (60 ms for a million frames) to find none.

use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap as HashMap;

use crate::StoreError;

/// Once this many frames were committed since the last catch-up, the writer packs them
/// (after the batch that reached it). It bounds the rows a per-connection read scans
/// in `frames` itself.
pub(crate) const CHUNK: usize = 32_768;

/// At most this many frames are packed in one transaction (an import, or a file written by
/// an older version, may leave many more).
const STEP_MAX: i64 = 65_536;

/// The columns of `frames`, as [`frames_of`] returns them (with these names).
const COLUMNS: [&str; 15] = [
    "id",
    "session_id",
    "seq",
    "connection_id",
    "ts_us",
    "dir",
    "opcode",
    "flags",
    "len",
    "payload",
    "note",
    "inflated",
    "mask_key",
    "poff",
    "plen",
];

/// A table expression (for `FROM`) with the columns of `frames` holding the frames of the
/// connection `connection` (an SQL parameter such as `?1`, or an integer literal), for
/// queries that go by seq: conditions on `seq` and `ORDER BY seq … LIMIT` go to the packs'
/// table (which seeks and keeps the order), and the frames not yet in a pack come from
/// `frames` past the watermark. Alias it (`AS frames`) to keep the queries' column names.
/// The join checks the frame's connection too: an entry whose frame was deleted and whose id
/// went to a new frame is not this connection's (a purge step deletes a session's packs with
/// its frames; this holds anyway).
pub(crate) fn frames_of(connection: &str) -> String {
    let indexed: Vec<String> = COLUMNS
        .iter()
        .map(|c| match *c {
            "seq" => "c.frame_seq AS seq".to_owned(),
            other => format!("f.{other} AS {other}"),
        })
        .collect();
    format!(
        "(SELECT {indexed} FROM sockscope_connection_frames AS c CROSS JOIN frames AS f \
         ON f.id = c.frame_id AND f.connection_id = {connection} WHERE c.conn_id = {connection} \
         UNION ALL SELECT {all} FROM frames NOT INDEXED \
         WHERE id > (SELECT indexed_upto FROM connection_index_progress WHERE id = 1) \
         AND connection_id = {connection})",
        indexed = indexed.join(", "),
        all = COLUMNS.join(", "),
    )
}

/// A connection's frames as two `FROM … WHERE …` clauses over `frames`' columns (named
/// unqualified), for a reader that runs a statement on each and combines the rows itself:
/// the frames in the table, then those past the watermark. `seq_range` ends each part with
/// `seq > ? AND seq <= ?` (two positional parameters) on the column its key can serve it by.
pub(crate) struct Parts {
    pub(crate) indexed: String,
    pub(crate) recent: String,
}

impl Parts {
    /// `connection` is an SQL parameter (`?1`) or an integer literal. Without `ORDER BY`,
    /// each part comes in seq order in practice (the packs in order, `frames` by rowid), but
    /// SQLite does not promise it: a reader that needs the order sorts.
    pub(crate) fn new(connection: &str, seq_range: bool) -> Parts {
        let range = |seq: &str| {
            if seq_range {
                format!(" AND {seq} > ? AND {seq} <= ?")
            } else {
                String::new()
            }
        };
        Parts {
            indexed: format!(
                "sockscope_connection_frames CROSS JOIN frames ON frames.id = frame_id \
                 AND frames.connection_id = {connection} WHERE conn_id = {connection}{}",
                range("frame_seq")
            ),
            recent: format!(
                "frames NOT INDEXED WHERE id > (SELECT indexed_upto FROM connection_index_progress \
                 WHERE id = 1) AND connection_id = {connection}{}",
                range("seq")
            ),
        }
    }

    /// Both parts, the table's first.
    pub(crate) fn both(&self) -> [&str; 2] {
        [&self.indexed, &self.recent]
    }

    /// Both parts with the conditions `and` (` AND …`, or empty), each in seq order. Read one
    /// after the other they give the connection's frames in seq order: a session's frames
    /// are written in seq order, and a live session's frames never lose their ids to new
    /// ones (ids are only reused past the largest left), so within a session seq grows with
    /// id and every frame in the table comes before every frame past the watermark.
    pub(crate) fn in_order(&self, and: &str) -> [String; 2] {
        [
            format!("{}{and} ORDER BY frame_seq", self.indexed),
            format!("{}{and} ORDER BY seq", self.recent),
        ]
    }
}

/// How many frames connection `connection` has with `seq <= max_seq`, from the packs' counts
/// (one pack decoded) and the frames past the watermark.
pub(crate) fn count_upto(c: &Connection, connection: i64, max_seq: i64) -> Result<i64, StoreError> {
    let packed = crate::connection_packs::count_upto(c, connection, max_seq)?;
    let recent: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM frames NOT INDEXED \
             WHERE id > (SELECT indexed_upto FROM connection_index_progress WHERE id = 1) \
             AND connection_id = ?1 AND seq <= ?2",
        )?
        .query_row(params![connection, max_seq], |r| r.get(0))?;
    Ok(packed + recent)
}

/// Packs up to [`STEP_MAX`] of the frames in no pack yet and moves the watermark past them;
/// returns whether more remain. Runs inside the caller's transaction (the writer's): when
/// `recent` holds the entries of every frame past the watermark, they are packed from there,
/// else read back from `frames`.
pub(crate) fn catch_up(c: &Connection, recent: &mut Recent) -> Result<bool, StoreError> {
    let (upto, max) = bounds(c, i64::MAX)?;
    if max <= upto {
        // Nothing to pack (below the watermark only after a purge step, see `purge.rs`).
        if max == upto {
            recent.rebase(c, max)?;
        } else {
            recent.forget();
        }
        return Ok(false);
    }
    if let Some(entries) = recent.drain_if_exact(c, upto, max)? {
        write_packs(c, entries, max)?;
        return Ok(false);
    }
    let more = read_back(c, upto, max)?;
    if more {
        recent.forget();
    } else {
        recent.rebase(c, max)?;
    }
    Ok(more)
}

/// [`catch_up`] of the frames up to id `limit` only, read back.
fn catch_up_to(c: &Connection, limit: i64) -> Result<bool, StoreError> {
    let (upto, max) = bounds(c, limit)?;
    read_back(c, upto, max)
}

/// The watermark, and the largest frame id (at most `limit`).
fn bounds(c: &Connection, limit: i64) -> Result<(i64, i64), StoreError> {
    let upto: i64 = c
        .prepare_cached("SELECT indexed_upto FROM connection_index_progress WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let max: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM frames")?
        .query_row([], |r| r.get::<_, i64>(0))?
        .min(limit);
    Ok((upto, max))
}

/// Packs up to [`STEP_MAX`] of the frames with ids in `(upto, max]`, read back from `frames`;
/// returns whether more remain.
fn read_back(c: &Connection, upto: i64, max: i64) -> Result<bool, StoreError> {
    if max <= upto {
        return Ok(false);
    }
    let to = max.min(upto.saturating_add(STEP_MAX));
    // Read back by rowid (the pages are still in the cache).
    let entries: Vec<Entry> = c
        .prepare_cached(
            "SELECT connection_id, seq, id FROM frames NOT INDEXED WHERE id > ?1 AND id <= ?2",
        )?
        .query_map(params![upto, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    write_packs(c, entries, to)?;
    Ok(to < max)
}

/// Groups `entries` by connection, writes one pack per connection and moves the watermark to
/// `to`. A connection's entries come in id order; they are sorted by seq for the pack (the
/// same order within a session, see `Parts::in_order`). A damaged file may repeat a seq: one
/// entry is kept.
fn write_packs(
    c: &Connection,
    entries: impl IntoIterator<Item = Entry>,
    to: i64,
) -> Result<(), StoreError> {
    let mut by_connection: HashMap<i64, Vec<(i64, i64)>> = HashMap::default();
    for (connection, seq, id) in entries {
        by_connection.entry(connection).or_default().push((seq, id));
    }
    let mut buf = Vec::new();
    for (connection, mut entries) in by_connection {
        entries.sort_unstable();
        entries.dedup_by_key(|e| e.0);
        crate::connection_packs::insert(c, connection, &entries, &mut buf)?;
    }
    c.prepare_cached(
        "INSERT OR REPLACE INTO connection_index_progress (id, indexed_upto) VALUES (1, ?1)",
    )?
    .execute(params![to])?;
    Ok(())
}

/// An entry `(connection, seq, id)` of a frame the writer committed.
type Entry = (i64, i64, i64);

/// What the writer knows of the frames past the watermark: the entries of every frame it
/// committed since the last catch-up, so that the next one packs them without reading them
/// back (the read-back was a tenth of the writer thread's time on `pipelined`, and 9 % of
/// the proxy's CPU per round trip; fourteenth pass in docs/benchmarks.md).
///
/// It holds them only while it is sure they are all of them, and forgets them otherwise; the
/// catch-up then reads back as before. It is sure when:
/// - the watermark is where the last catch-up left it and the largest frame id is the last it
///   saw committed;
/// - every statement that inserted frames gave them the ids that follow on (SQLite gives a
///   new row the largest id plus one; `last_insert_rowid` after each statement checks it);
/// - nothing else changed the database (`PRAGMA data_version`: another connection or process
///   committed), and the writer itself neither imported frames nor ran a purge step since.
#[derive(Default)]
pub(crate) struct Recent {
    known: Option<Known>,
    /// Entries of the batch being written, in id order.
    batch: Vec<Entry>,
    /// The id of the batch's last frame so far; `None` once the batch's ids are not known.
    batch_last: Option<i64>,
    /// Catch-ups that packed from here.
    #[cfg(test)]
    from_memory: u64,
}

struct Known {
    /// The watermark the entries start after.
    from: i64,
    /// The id of the last frame committed.
    to: i64,
    /// `PRAGMA data_version` when the entries were started.
    version: i64,
    entries: Vec<Entry>,
}

fn data_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

impl Recent {
    /// A batch begins (or is tried again): its entries start empty.
    pub(crate) fn begin_batch(&mut self) {
        self.batch.clear();
        self.batch_last = self.known.as_ref().map(|k| k.to);
    }

    /// A statement inserted `inserted` (connection, seq) pairs, in order; `last` is
    /// `last_insert_rowid` after it.
    pub(crate) fn inserted(
        &mut self,
        last: i64,
        inserted: impl ExactSizeIterator<Item = (i64, i64)>,
    ) {
        let Some(before) = self.batch_last else {
            return;
        };
        let n = inserted.len() as i64;
        if before.checked_add(n) != Some(last) {
            self.batch_last = None;
            return;
        }
        self.batch.extend(
            inserted
                .zip(before + 1..)
                .map(|((connection, seq), id)| (connection, seq, id)),
        );
        self.batch_last = Some(last);
    }

    /// The batch wrote frames some other way (an import): its ids are not known.
    pub(crate) fn unknown_batch(&mut self) {
        self.batch_last = None;
    }

    /// The batch committed: its entries are kept, if they are known.
    pub(crate) fn committed(&mut self) {
        match (self.known.as_mut(), self.batch_last) {
            (Some(k), Some(last)) => {
                k.entries.append(&mut self.batch);
                k.to = last;
            }
            _ => self.known = None,
        }
        self.batch.clear();
    }

    /// Frames were deleted, or the watermark moved (a purge step): what is held is forgotten.
    pub(crate) fn forget(&mut self) {
        self.known = None;
    }

    /// Every frame up to `max` is in a pack: entries start again from there (in the list
    /// held before, kept for its capacity).
    fn rebase(&mut self, c: &Connection, max: i64) -> Result<(), StoreError> {
        let mut entries = self.known.take().map(|k| k.entries).unwrap_or_default();
        entries.clear();
        self.known = Some(Known {
            from: max,
            to: max,
            version: data_version(c)?,
            entries,
        });
        Ok(())
    }

    /// The entries of the frames in `(upto, max]`, drained, if they are exactly what is held;
    /// entries then start again from `max`. Otherwise `None`, and nothing is held any more.
    fn drain_if_exact(
        &mut self,
        c: &Connection,
        upto: i64,
        max: i64,
    ) -> Result<Option<std::vec::Drain<'_, Entry>>, StoreError> {
        let exact = match &self.known {
            Some(k) => k.from == upto && k.to == max && k.version == data_version(c)?,
            None => return Ok(None),
        };
        if !exact {
            self.known = None;
            return Ok(None);
        }
        #[cfg(test)]
        {
            self.from_memory += 1;
        }
        // Held (checked above): borrowed again here, since a borrow returned from one branch
        // would keep `self.known` borrowed in the branch that clears it.
        let Some(k) = self.known.as_mut() else {
            return Ok(None);
        };
        k.from = max;
        Ok(Some(k.entries.drain(..)))
    }
}

/// Packs every frame up to id `limit` in no pack yet (a file converted from schema 12, or a
/// tool's copy), inside the caller's transaction.
pub(crate) fn catch_up_all(c: &Connection, limit: i64) -> Result<(), StoreError> {
    while catch_up_to(c, limit)? {}
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
    use super::*;
    use rusqlite::params_from_iter;

    fn open(path: &std::path::Path) -> Connection {
        let mut c = crate::open_connection(path).unwrap();
        crate::migrations::apply(&mut c, path).unwrap();
        c.execute_batch("PRAGMA foreign_keys=OFF").unwrap();
        c
    }

    /// What the writer does with a batch of frames `(connection, seq)`: statements of up to
    /// three rows, `recent` told of each; committed or rolled back.
    fn batch(c: &mut Connection, recent: &mut Recent, rows: &[(i64, i64)], commit: bool) {
        recent.begin_batch();
        let tx = c.transaction().unwrap();
        for group in rows.chunks(3) {
            let values = vec!["(1, ?, ?, 0, 0, 1, 0, 0, x'')"; group.len()].join(", ");
            tx.execute(
                &format!(
                    "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, \
                     flags, len, payload) VALUES {values}"
                ),
                params_from_iter(group.iter().flat_map(|&(conn, seq)| [seq, conn])),
            )
            .unwrap();
            recent.inserted(tx.last_insert_rowid(), group.iter().copied());
        }
        if commit {
            tx.commit().unwrap();
            recent.committed();
        }
    }

    /// One frame, not through [`batch`].
    fn insert_one(c: &Connection, conn: i64, seq: i64) {
        c.execute(
            "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, \
             payload) VALUES (1, ?1, ?2, 0, 0, 1, 0, 0, x'')",
            [seq, conn],
        )
        .unwrap();
    }

    /// `n` frames from seq `*next` on, over connections 1 to 3.
    fn frames(next: &mut i64, n: i64) -> Vec<(i64, i64)> {
        let rows = (*next..*next + n).map(|seq| (1 + seq % 3, seq)).collect();
        *next += n;
        rows
    }

    /// Catches up fully, as the writer does, and checks that it packed from `recent` or read
    /// back as `from_memory` says, and that every pack is right afterwards.
    fn caught_up(c: &mut Connection, recent: &mut Recent, from_memory: bool, when: &str) {
        let before = recent.from_memory;
        let tx = c.transaction().unwrap();
        while catch_up(&tx, recent).unwrap() {}
        tx.commit().unwrap();
        assert_eq!(
            recent.from_memory > before,
            from_memory,
            "{when}: packed from memory"
        );
        check(c, when);
    }

    /// Every connection's packed entries are its frames, and the packs count them right.
    fn check(c: &Connection, when: &str) {
        let (upto, max, packed, frames): (i64, i64, i64, i64) = c
            .query_row(
                "SELECT indexed_upto, (SELECT MAX(id) FROM frames), \
                 (SELECT SUM(n) FROM connection_packs), (SELECT COUNT(*) FROM frames) \
                 FROM connection_index_progress",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(upto, max, "{when}: watermark");
        assert_eq!(packed, frames, "{when}: packed entries");
        for conn in 1..=3 {
            let list = |sql: &str| -> Vec<(i64, i64)> {
                let mut s = c.prepare(sql).unwrap();
                s.query_map([conn], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            };
            assert_eq!(
                list("SELECT frame_seq, frame_id FROM sockscope_connection_frames(?1)"),
                list("SELECT seq, id FROM frames WHERE connection_id = ?1 ORDER BY seq"),
                "{when}: connection {conn}"
            );
        }
    }

    /// The writer packs the frames it committed from what it kept of them, and reads them
    /// back whenever it cannot be sure it kept them all: at first, after another connection
    /// inserted or deleted frames, after an import.
    #[test]
    fn catch_ups_pack_from_memory_only_what_is_sure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recent.db");
        let mut c = open(&path);
        let other = open(&path);
        let mut recent = Recent::default();
        let mut next = 1;

        batch(&mut c, &mut recent, &frames(&mut next, 10), true);
        caught_up(&mut c, &mut recent, false, "nothing known at first");

        batch(&mut c, &mut recent, &frames(&mut next, 10), true);
        batch(&mut c, &mut recent, &frames(&mut next, 7), true);
        caught_up(&mut c, &mut recent, true, "two batches");

        // Another connection inserts a frame between two batches.
        batch(&mut c, &mut recent, &frames(&mut next, 5), true);
        let [(conn, seq)] = frames(&mut next, 1)[..] else {
            unreachable!()
        };
        insert_one(&other, conn, seq);
        batch(&mut c, &mut recent, &frames(&mut next, 5), true);
        caught_up(&mut c, &mut recent, false, "after an insert elsewhere");

        // Another connection deletes a frame the writer kept (not the last one).
        batch(&mut c, &mut recent, &frames(&mut next, 8), true);
        caught_up(&mut c, &mut recent, true, "before the delete");
        batch(&mut c, &mut recent, &frames(&mut next, 8), true);
        other
            .execute(
                "DELETE FROM frames WHERE id = (SELECT MAX(id) - 3 FROM frames)",
                [],
            )
            .unwrap();
        caught_up(&mut c, &mut recent, false, "after a delete elsewhere");

        // A batch that rolled back, then one that committed.
        batch(&mut c, &mut recent, &frames(&mut next, 4), true);
        caught_up(&mut c, &mut recent, true, "before the rollback");
        batch(&mut c, &mut recent, &frames(&mut next, 6), false);
        batch(&mut c, &mut recent, &frames(&mut next, 9), true);
        caught_up(&mut c, &mut recent, true, "after a rollback");

        // A batch that wrote frames some other way (an import).
        recent.begin_batch();
        recent.unknown_batch();
        {
            let tx = c.transaction().unwrap();
            insert_one(&tx, 2, next);
            tx.commit().unwrap();
            recent.committed();
            next += 1;
        }
        caught_up(&mut c, &mut recent, false, "after an import");

        // Nothing new: nothing to do, and the next batches are known again.
        caught_up(&mut c, &mut recent, false, "nothing new");
        batch(&mut c, &mut recent, &frames(&mut next, 3), true);
        caught_up(&mut c, &mut recent, true, "after an idle catch-up");
    }
}

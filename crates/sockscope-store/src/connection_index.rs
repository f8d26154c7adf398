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
//! writer per frame, a fifth of the proxy's throughput (thirteenth pass). Now the writer reads
//! back the frames committed since the last time, every [`CHUNK`] frames and whenever it is
//! idle (like the full-text index, `search.rs`), groups them by connection and writes one
//! pack per connection: about 100 rows per chunk on `fanout`, 8 on a single connection.
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
/// returns whether more remain. Runs inside the caller's transaction.
pub(crate) fn catch_up(c: &Connection) -> Result<bool, StoreError> {
    catch_up_to(c, i64::MAX)
}

/// [`catch_up`] of the frames up to id `limit` only.
fn catch_up_to(c: &Connection, limit: i64) -> Result<bool, StoreError> {
    let upto: i64 = c
        .prepare_cached("SELECT indexed_upto FROM connection_index_progress WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let max: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM frames")?
        .query_row([], |r| r.get::<_, i64>(0))?
        .min(limit);
    if max <= upto {
        return Ok(false);
    }
    let to = max.min(upto.saturating_add(STEP_MAX));
    // Read back by rowid (the pages are still in the cache), grouped by connection. A
    // connection's frames come in id order; sorted by seq for the pack (the same order within
    // a session, see `Parts::in_order`). A damaged file may repeat a seq: one entry is kept.
    let mut by_connection: HashMap<i64, Vec<(i64, i64)>> = HashMap::default();
    {
        let mut stmt = c.prepare_cached(
            "SELECT connection_id, seq, id FROM frames NOT INDEXED WHERE id > ?1 AND id <= ?2",
        )?;
        let mut rows = stmt.query(params![upto, to])?;
        while let Some(r) = rows.next()? {
            by_connection
                .entry(r.get(0)?)
                .or_default()
                .push((r.get(1)?, r.get(2)?));
        }
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
    Ok(to < max)
}

/// Packs every frame up to id `limit` in no pack yet (a file converted from schema 12, or a
/// tool's copy), inside the caller's transaction.
pub(crate) fn catch_up_all(c: &Connection, limit: i64) -> Result<(), StoreError> {
    while catch_up_to(c, limit)? {}
    Ok(())
}

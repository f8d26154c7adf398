//! `frames_by_connection`: each connection's frames in seq order, the per-connection index
//! of the timeline, the message reader, stats and HAR export — written in chunks rather
//! than row by row.
//!
//! Why not an index on `frames(connection_id, seq)` (schema versions 3 to 11): capture
//! appends to `frames` and to `frames(session_id, seq)` at their ends, but with many
//! connections at once every row went into another leaf of a per-connection index. A commit
//! of 1,024 frames over 100 connections dirtied some 100 of its 16 KiB leaves, each written
//! to the WAL and checkpointed again for about ten rows. On `fanout` (100 connections) that
//! index cost a third of the proxy's throughput (`docs/benchmarks.md`, twelfth pass).
//!
//! Now the writer adds the frames committed since the last time in one statement every
//! [`CHUNK`] frames and whenever it is idle (like the full-text index, `search.rs`): each
//! leaf is written to the WAL about once per chunk instead of once per commit. (Sorting the
//! chunk by connection first bought nothing: the leaves stay in the page cache during the
//! statement, and SQLite's sorter cost 7 % of the writer.) Frames with `id` above
//! `connection_index_progress.indexed_upto` are not in the table yet; [`frames_of`] reads
//! them from `frames` itself (at most about [`CHUNK`] rows past the last catch-up). A
//! trigger removes a frame's entry when the frame is deleted; a purge step keeps the
//! watermark below the ids new frames may reuse (`purge.rs`).
//!
//! The table's columns (`conn_id`, `frame_seq`, `frame_id`) share no name with `frames`, so
//! a query joining the two can keep naming `frames`' columns unqualified. Readers that scan
//! all of a connection's frames (statistics, the timeline's filter, a connection's messages)
//! read the two parts with two statements ([`Parts`]): through one `UNION ALL` every row
//! passed a co-routine, which made them up to twice as slow as the index was.
//!
//! The frames past the watermark are read `FROM frames NOT INDEXED`, by rowid: given
//! `session_id = ?` as well, SQLite's planner preferred `frames(session_id, seq)` and read
//! the whole session (60 ms for a million frames) to find none.

use rusqlite::{params, Connection, OptionalExtension};

use crate::StoreError;

/// Once this many frames were committed since the last catch-up, the writer adds them to the
/// table (after the batch that reached it). It bounds the rows a per-connection read scans
/// in `frames` itself.
pub(crate) const CHUNK: usize = 32_768;

/// At most this many frames are added in one transaction (an import, or a file written by
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
/// queries that go by seq: conditions on `seq` and `ORDER BY seq … LIMIT` use the table's
/// key, and the frames not yet in it come from `frames` past the watermark. Alias it
/// (`AS frames`) to keep the queries' column names.
pub(crate) fn frames_of(connection: &str) -> String {
    let indexed: Vec<String> = COLUMNS
        .iter()
        .map(|c| match *c {
            "seq" => "c.frame_seq AS seq".to_owned(),
            "connection_id" => "c.conn_id AS connection_id".to_owned(),
            other => format!("f.{other} AS {other}"),
        })
        .collect();
    format!(
        "(SELECT {indexed} FROM frames_by_connection AS c CROSS JOIN frames AS f \
         ON f.id = c.frame_id WHERE c.conn_id = {connection} \
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
    /// each part comes in seq order in practice (the table by its key, `frames` by rowid),
    /// but SQLite does not promise it: a reader that needs the order sorts.
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
                "frames_by_connection CROSS JOIN frames ON frames.id = frame_id \
                 WHERE conn_id = {connection}{}",
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

/// How many frames connection `connection` has with `seq <= max_seq`, from the table's key
/// alone (no row of `frames` is read for the indexed part).
pub(crate) fn count_upto(c: &Connection, connection: i64, max_seq: i64) -> Result<i64, StoreError> {
    Ok(c.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM frames_by_connection WHERE conn_id = ?1 AND frame_seq <= ?2) \
         + (SELECT COUNT(*) FROM frames NOT INDEXED \
            WHERE id > (SELECT indexed_upto FROM connection_index_progress WHERE id = 1) \
            AND connection_id = ?1 AND seq <= ?2)",
    )?
    .query_row(params![connection, max_seq], |r| r.get(0))?)
}

/// Adds up to [`STEP_MAX`] of the frames not in the table yet and moves the watermark past
/// them; returns whether more remain. Runs inside the caller's transaction.
pub(crate) fn catch_up(c: &Connection) -> Result<bool, StoreError> {
    let upto: i64 = c
        .prepare_cached("SELECT indexed_upto FROM connection_index_progress WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let max: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM frames")?
        .query_row([], |r| r.get(0))?;
    if max <= upto {
        return Ok(false);
    }
    let to = max.min(upto.saturating_add(STEP_MAX));
    // Entries cannot conflict: a frame's entry is deleted with it (the trigger), and a frame
    // never changes its connection or seq. `OR IGNORE` only so that the statement cannot
    // abort half-way: SQLite then keeps no statement journal for it (a copy of every page it
    // touches; with `OR REPLACE`, which may delete, 6 % of the writer on `fanout`).
    c.prepare_cached(
        "INSERT OR IGNORE INTO frames_by_connection (conn_id, frame_seq, frame_id) \
         SELECT connection_id, seq, id FROM frames NOT INDEXED WHERE id > ?1 AND id <= ?2",
    )?
    .execute(params![upto, to])?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO connection_index_progress (id, indexed_upto) VALUES (1, ?1)",
    )?
    .execute(params![to])?;
    Ok(to < max)
}

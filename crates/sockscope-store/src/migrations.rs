//! Embedded schema migrations, keyed on `PRAGMA user_version`; each runs in one transaction.

use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: sessions, connections, frames.
    r#"
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY,
        name          TEXT    NOT NULL,
        kind          TEXT    NOT NULL CHECK (kind IN ('client', 'proxy', 'replay')),
        created_at_us INTEGER NOT NULL,
        notes         TEXT    NOT NULL DEFAULT '',
        frame_count   INTEGER NOT NULL DEFAULT 0,
        insecure      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE connections (
        id               INTEGER PRIMARY KEY,
        session_id       INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        url              TEXT    NOT NULL,
        state            TEXT    NOT NULL CHECK (state IN ('connecting', 'open', 'closed', 'failed')),
        request_headers  TEXT    NOT NULL DEFAULT '[]',
        response_status  INTEGER,
        response_headers TEXT    NOT NULL DEFAULT '[]',
        subprotocol      TEXT,
        created_at_us    INTEGER NOT NULL,
        opened_at_us     INTEGER,
        closed_at_us     INTEGER,
        close_code       INTEGER,
        close_reason     TEXT,
        closed_by        TEXT CHECK (closed_by IN ('client', 'server', 'error')),
        error            TEXT,
        insecure         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX connections_by_session ON connections(session_id);
    CREATE TABLE frames (
        id            INTEGER PRIMARY KEY,
        session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq           INTEGER NOT NULL,
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        ts_us         INTEGER NOT NULL,
        dir           INTEGER NOT NULL,
        opcode        INTEGER NOT NULL,
        flags         INTEGER NOT NULL,
        len           INTEGER NOT NULL,
        payload       BLOB    NOT NULL
    );
    CREATE UNIQUE INDEX frames_by_session_seq ON frames(session_id, seq);
    "#,
    // 1 -> 2: what the capture relay knows about a frame beyond its bytes.
    r#"
    ALTER TABLE frames ADD COLUMN note TEXT;
    ALTER TABLE frames ADD COLUMN inflated BLOB;
    "#,
    // 2 -> 3: organising sessions, and where a replay or import came from.
    r#"
    ALTER TABLE sessions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sessions ADD COLUMN origin_session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL;
    ALTER TABLE sessions ADD COLUMN origin_connection_id INTEGER REFERENCES connections(id) ON DELETE SET NULL;
    ALTER TABLE sessions ADD COLUMN imported_from TEXT;
    DROP INDEX connections_by_session;
    CREATE INDEX connections_by_session_id ON connections(session_id, id);
    CREATE INDEX frames_by_connection_seq ON frames(connection_id, seq);
    "#,
    // 3 -> 4: session sizes (sum of frame lengths, kept like frame_count) and full-text search
    // over text payloads (the inflated message when there is one). The FTS table is
    // contentless (rowid = frames.id, snippets are cut from the payload) with
    // contentless_delete, so deleting a session deletes its rows by rowid.
    r#"
    ALTER TABLE sessions ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET bytes = (SELECT COALESCE(SUM(f.len), 0) FROM frames f WHERE f.session_id = sessions.id);
    CREATE VIRTUAL TABLE frames_fts USING fts5(body, content = '', contentless_delete = 1);
    INSERT INTO frames_fts (rowid, body)
        SELECT id, CAST(substr(COALESCE(inflated, payload), 1, 1048576) AS TEXT) FROM frames
        WHERE opcode IN (0, 1) AND (flags & 2 = 0 OR inflated IS NOT NULL);
    "#,
    // v5: the connection workbench. `connections.options` (JSON, no secrets) and
    // `connections.handshake` (JSON: request line, response reason/body, timings) per attempt;
    // the history of messages sent by hand per connection target; saved message templates.
    r#"
    ALTER TABLE connections ADD COLUMN options TEXT;
    ALTER TABLE connections ADD COLUMN handshake TEXT;
    CREATE TABLE sent_history (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        mode TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX sent_history_target ON sent_history(target, id);
    CREATE TABLE templates (
        name TEXT PRIMARY KEY,
        mode TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at_us INTEGER NOT NULL
    );
    "#,
    // 5 -> 6: the masking key of a masked frame as seen on the wire (big-endian u32), for
    // the detail view's frame facts and anatomy. NULL when unknown.
    r#"
    ALTER TABLE frames ADD COLUMN mask_key INTEGER;
    "#,
    // 6 -> 7: intercept rules of the capture proxy (breakpoints and rewrite rules), in order,
    // with their match counts. `spec` is the rule as JSON, defined by the proxy crate.
    // (Frames marked held/edited/dropped/replaced use new bits of `frames.flags`: no change.)
    r#"
    CREATE TABLE intercept_rules (
        id            INTEGER PRIMARY KEY,
        position      INTEGER NOT NULL,
        enabled       INTEGER NOT NULL DEFAULT 1,
        spec          TEXT    NOT NULL,
        match_count   INTEGER NOT NULL DEFAULT 0,
        created_at_us INTEGER NOT NULL
    );
    "#,
    // 7 -> 8: the full-text index is built beside capture, not inside it. Frames with
    // `id <= indexed_upto` are in `frames_fts`; the writer indexes the rest when it is idle,
    // and before any search. Everything an older file holds is indexed already.
    r#"
    CREATE TABLE IF NOT EXISTS fts_progress (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_upto INTEGER NOT NULL
    );
    INSERT OR REPLACE INTO fts_progress (id, indexed_upto) SELECT 1, COALESCE(MAX(id), 0) FROM frames;
    "#,
    // 8 -> 9: the payload decoder chosen in the detail view, per connection and as a session's
    // default (`connection_id` 0), so the choice survives a restart. Removed with the session.
    r#"
    CREATE TABLE IF NOT EXISTS decoder_choices (
        session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        connection_id INTEGER NOT NULL,
        decoder       TEXT    NOT NULL,
        updated_at_us INTEGER NOT NULL,
        PRIMARY KEY (session_id, connection_id)
    ) WITHOUT ROWID;
    "#,
    // 9 -> 10: sessions being deleted (`purge.rs`): hidden at once, their frames deleted in
    // steps between capture batches, the row removed with the session.
    r#"
    CREATE TABLE IF NOT EXISTS purge (
        session_id INTEGER PRIMARY KEY
    );
    "#,
    // 10 -> 11: payloads of larger frames in a file per session beside the database
    // (`payloads.rs`): `poff` is where in it, `plen` how many bytes; NULL: in `payload`.
    r#"
    ALTER TABLE frames ADD COLUMN poff INTEGER;
    ALTER TABLE frames ADD COLUMN plen INTEGER;
    "#,
    // 11 -> 12: the per-connection index becomes a table the writer fills in chunks
    // (`connection_index.rs`): frames with `id > indexed_upto` are not in it yet. The index
    // it replaces cost capture a leaf write per row with many connections. (The table is left
    // empty, watermark 0: the next migration replaces it with packs built from `frames`.
    // Until the thirteenth pass this filled it from the old index, for nothing.)
    r#"
    CREATE TABLE IF NOT EXISTS frames_by_connection (
        conn_id   INTEGER NOT NULL,
        frame_seq INTEGER NOT NULL,
        frame_id  INTEGER NOT NULL,
        PRIMARY KEY (conn_id, frame_seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS connection_index_progress (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_upto INTEGER NOT NULL
    );
    INSERT OR REPLACE INTO connection_index_progress (id, indexed_upto) VALUES (1, 0);
    CREATE TRIGGER IF NOT EXISTS frames_by_connection_delete AFTER DELETE ON frames BEGIN
        DELETE FROM frames_by_connection
            WHERE conn_id = old.connection_id AND frame_seq = old.seq AND frame_id = old.id;
    END;
    DROP INDEX IF EXISTS frames_by_connection_seq;
    "#,
    // 12 -> 13: the per-connection index in packs, one row per connection and catch-up
    // (`connection_packs.rs`): the writer spent 0.6 µs per frame on the table's rows. The
    // packs are built from `frames` right after this runs, in the same transaction
    // ([`after`]).
    r#"
    CREATE TABLE IF NOT EXISTS connection_packs (
        conn_id   INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        first_id  INTEGER NOT NULL,
        n         INTEGER NOT NULL,
        data      BLOB    NOT NULL,
        PRIMARY KEY (conn_id, first_seq)
    ) WITHOUT ROWID;
    DROP TRIGGER IF EXISTS frames_by_connection_delete;
    DROP TABLE IF EXISTS frames_by_connection;
    UPDATE connection_index_progress SET indexed_upto = 0;
    "#,
];

/// What a migration does beyond its SQL, in its transaction: `version` is the one it brings
/// the file to.
fn after(tx: &Connection, version: i64) -> Result<(), StoreError> {
    if version == 13 {
        crate::connection_index::catch_up_all(tx, i64::MAX)?;
    }
    Ok(())
}

/// The schema version after every migration has run.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Creates (or brings) the file at `path` to schema `version` exactly, without the rest of
/// [`crate::Store::open`]. For tests of migrations (e.g. killing one half-way).
pub fn migrate_to(path: &Path, version: i64) -> Result<(), StoreError> {
    crate::organize::prepare_new_file(path, crate::PAGE_SIZE)?;
    let mut conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
    run(&mut conn, path, version.clamp(0, LATEST))
}

pub fn apply(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    run(conn, path, LATEST)
}

fn run(conn: &mut Connection, path: &Path, target: i64) -> Result<(), StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if current > LATEST {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current.max(0) as usize)
    {
        let version = i as i64 + 1;
        let run = |conn: &mut Connection| -> Result<(), StoreError> {
            let sql_err = |source| StoreError::Migration { version, source };
            let tx = conn.transaction().map_err(sql_err)?;
            tx.execute_batch(sql).map_err(sql_err)?;
            after(&tx, version)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(sql_err)?;
            tx.commit().map_err(sql_err)
        };
        run(conn)?;
    }
    Ok(())
}

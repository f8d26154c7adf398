//! Telling a damaged database file from a sound one, and moving a damaged one aside.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// A damaged database that [`crate::Store::open_or_recover`] renamed aside.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// Where the damaged file is now (its `-wal`/`-shm`, if any, beside it with the same name).
    pub moved_to: PathBuf,
    /// What was wrong with it.
    pub reason: String,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database was damaged ({}); it was moved to {} and a new, empty database was \
             created",
            self.reason,
            self.moved_to.display()
        )
    }
}

/// `path` with `suffix` appended to its file name (`db` + `-wal` = `db-wal`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Suffix of the marker file written beside the database when SQLite reports damage while the
/// file is in use (`NAME-sockscope-check`, holding SQLite's message): the next start checks
/// the whole file.
pub const CHECK_MARKER_SUFFIX: &str = "-sockscope-check";

/// What the open-time check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCheck {
    /// Why the whole file was read (`PRAGMA quick_check`), or `None` when only the header,
    /// the schema and each table's first page were (a clean previous shutdown, no damage
    /// reported).
    pub full_check: Option<String>,
    /// How long the check took.
    pub elapsed: std::time::Duration,
}

/// Checks an existing database file without writing to it. A missing file is fine (it will be
/// created).
///
/// Always: the SQLite header, the file length against the page count in the header, and a
/// read of the schema and of every table's root page (milliseconds, whatever the size). The
/// whole file is read (`PRAGMA quick_check`, ~0.2–0.5 s per 100 MB) only when there is a
/// reason: a `-wal` left beside it (the last run did not close the database: a crash, a kill,
/// or another process has it open), or a damage marker left by a run in which SQLite
/// reported `SQLITE_CORRUPT` / `SQLITE_NOTADB` ([`CHECK_MARKER_SUFFIX`]).
pub fn check_file(path: &Path) -> Result<OpenCheck, StoreError> {
    let started = std::time::Instant::now();
    let full_check = full_check_reason(path);
    check_with(path, full_check.is_some())?;
    Ok(OpenCheck {
        full_check,
        elapsed: started.elapsed(),
    })
}

/// [`check_file`] with the whole-file check whatever the state (tools and tests).
pub fn check_file_full(path: &Path) -> Result<(), StoreError> {
    check_with(path, true)
}

/// Why the next open must read the whole file, if it must.
fn full_check_reason(path: &Path) -> Option<String> {
    let marker = sibling(path, CHECK_MARKER_SUFFIX);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let text = text.trim();
        return Some(if text.is_empty() {
            "damage was reported while it was in use".to_owned()
        } else {
            format!("damage was reported while it was in use: {text}")
        });
    }
    if sibling(path, "-wal").exists() {
        return Some(
            "it was not closed cleanly (a -wal file is left: crash, kill, or another \
             process has it open)"
                .to_owned(),
        );
    }
    None
}

fn check_with(path: &Path, full: bool) -> Result<(), StoreError> {
    let damaged = |reason: String| StoreError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    if meta.len() == 0 {
        return Err(damaged("the file is empty (0 bytes)".into()));
    }
    let mut head = [0u8; 100];
    let got = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut got = 0;
        while got < head.len() {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(StoreError::Io {
                        path: path.to_path_buf(),
                        source: e,
                    })
                }
            }
        }
        got
    };
    if got < SQLITE_MAGIC.len() || &head[..16] != SQLITE_MAGIC {
        return Err(damaged(format!(
            "not an SQLite database: it starts with {}",
            sockscope_proto::hex_preview(&head[..got.min(16)])
        )));
    }
    if !full {
        if let Some(reason) = header_mismatch(&head[..got], meta.len()) {
            return Err(damaged(reason));
        }
    }
    let conn = Connection::open_with_flags(
        path,
        // Read-only: closing it never checkpoints or deletes a -wal of a damaged file.
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| StoreError::open(path, e))?;
    if !full {
        return probe_tables(&conn).map_err(|e| classify(path, e));
    }
    let mut problems = Vec::new();
    let checked = (|| -> rusqlite::Result<()> {
        let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let line: String = row.get(0)?;
            problems.push(line);
        }
        Ok(())
    })();
    checked.map_err(|e| classify(path, e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(damaged(format!(
        "integrity check failed: {}",
        problems.join("; ")
    )))
}

/// The 100-byte header against the file: a page size SQLite can have, and a file at least as
/// long as the page count the header vouches for (a truncated file is shorter). Only used
/// when no `-wal` is left (a checkpoint in progress may extend the file after the header).
fn header_mismatch(head: &[u8], file_len: u64) -> Option<String> {
    if head.len() < 100 {
        return Some(format!(
            "the file is too short for an SQLite header ({file_len} bytes)"
        ));
    }
    let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let raw = u32::from(u16::from_be_bytes([head[16], head[17]]));
    let page_size = if raw == 1 { 65_536 } else { raw };
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return Some(format!("the header names an impossible page size ({raw})"));
    }
    let pages = be32(28);
    // The in-header size is valid only when "version-valid-for" matches the change counter.
    if pages > 0 && be32(92) == be32(24) {
        let want = u64::from(pages) * u64::from(page_size);
        if file_len < want {
            return Some(format!(
                "the file is truncated: its header counts {pages} pages of {page_size} bytes \
                 ({want} bytes), the file holds {file_len}"
            ));
        }
    }
    None
}

/// Reads the schema, the schema version and the first page of every table (their root
/// pages): damage to the pages every start needs shows here, in milliseconds.
fn probe_tables(conn: &Connection) -> rusqlite::Result<()> {
    let _: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for t in tables {
        let quoted = t.replace('"', "\"\"");
        let mut stmt = conn.prepare(&format!("SELECT 1 FROM \"{quoted}\" LIMIT 1"))?;
        let mut rows = stmt.query([])?;
        let _ = rows.next()?;
    }
    Ok(())
}

/// Whether an error is SQLite saying the file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
pub(crate) fn is_damage(e: &StoreError) -> bool {
    let inner = match e {
        StoreError::Open { source, .. } | StoreError::Migration { source, .. } => source,
        StoreError::Sqlite(e) => e,
        _ => return false,
    };
    matches!(
        inner,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Leaves the marker that makes the next start check the whole file (first report kept).
pub(crate) fn mark_for_check(path: &Path, what: &str) {
    let marker = sibling(path, CHECK_MARKER_SUFFIX);
    if !marker.exists() {
        let _ = std::fs::write(&marker, what.as_bytes());
    }
}

/// The whole-file check passed: the marker has done its job.
pub(crate) fn clear_check_marker(path: &Path) {
    let _ = std::fs::remove_file(sibling(path, CHECK_MARKER_SUFFIX));
}

/// SQLite's "this is not a (sound) database" errors mean damage; anything else (permission,
/// locked) is an ordinary open error that must not send the file aside.
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, C::DatabaseCorrupt | C::NotADatabase) =>
        {
            StoreError::Damaged {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        }
        _ => StoreError::open(path, e),
    }
}

/// Renames `path` (and its `-wal`, `-shm`, `-journal` and payload directory `.payloads`) to
/// `path.corrupt-UNIXTIME[-N]`.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut target = sibling(path, &format!(".corrupt-{secs}"));
    let mut n = 2;
    while target.exists() || sibling(&target, "-wal").exists() {
        target = sibling(path, &format!(".corrupt-{secs}-{n}"));
        n += 1;
    }
    let io = |p: &Path, e| StoreError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    std::fs::rename(path, &target).map_err(|e| io(path, e))?;
    for suffix in ["-wal", "-shm", "-journal", ".payloads"] {
        let from = sibling(path, suffix);
        if from.exists() {
            std::fs::rename(&from, sibling(&target, suffix)).map_err(|e| io(&from, e))?;
        }
    }
    // Sockscope's own marker has done its job (its text is the recovery's reason).
    clear_check_marker(path);
    Ok(target)
}

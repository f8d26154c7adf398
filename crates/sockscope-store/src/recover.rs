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

/// Checks an existing database file without writing to it: the SQLite header, then
/// `PRAGMA quick_check` (reads every page; ~0.2–0.5 s per 100 MB from the page cache). A
/// missing file is fine (it will be created).
pub fn check_file(path: &Path) -> Result<(), StoreError> {
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
    let mut head = [0u8; 16];
    {
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
        if got < head.len() || &head != SQLITE_MAGIC {
            return Err(damaged(format!(
                "not an SQLite database: it starts with {}",
                sockscope_proto::hex_preview(&head[..got])
            )));
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

/// Renames `path` (and its `-wal`, `-shm`, `-journal`) to `path.corrupt-UNIXTIME[-N]`.
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
    for suffix in ["-wal", "-shm", "-journal"] {
        let from = sibling(path, suffix);
        if from.exists() {
            std::fs::rename(&from, sibling(&target, suffix)).map_err(|e| io(&from, e))?;
        }
    }
    Ok(target)
}

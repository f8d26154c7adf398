use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer Sockscope (schema version {found}; this build knows up to {supported}); \
         upgrade Sockscope or pass another file with --db / SOCKSCOPE_DB"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The file is not a sound SQLite database; it was left as it is.
    #[error("database {path} is damaged ({reason})")]
    Damaged { path: PathBuf, reason: String },
    #[error("migration to schema version {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database setting failed: {0}")]
    Pragma(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A payload file beside the database could not be written (`payloads.rs`).
    #[error("payload file {path}: {source}")]
    PayloadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("write error: {0}")]
    Write(std::io::Error),
    #[error("{0} not found")]
    NotFound(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("a database reader panicked earlier")]
    Poisoned,
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A file given to import is not acceptable; nothing was written.
    #[error("{}", import_message(*.line, .field.as_deref(), .message))]
    Import {
        /// 1-based line of the file (JSONL lines; HAR syntax and type errors).
        line: Option<u64>,
        /// The field at fault, e.g. `opcode` or `log.entries[2]._webSocketMessages[0].data`.
        field: Option<String>,
        message: String,
    },
    /// A value given to the store is not acceptable (empty name, bad tag, bad search…).
    #[error("{0}")]
    Invalid(String),
}

fn import_message(line: Option<u64>, field: Option<&str>, message: &str) -> String {
    let mut out = String::new();
    if let Some(line) = line {
        out.push_str(&format!("line {line}: "));
    }
    if let Some(field) = field {
        out.push_str(&format!("field {field:?}: "));
    }
    out.push_str(message);
    out
}

impl StoreError {
    pub(crate) fn open(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        StoreError::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}

use crate::{open_store, Failure};
use sockscope_store::{ImportLimits, ImportPhase, ImportProgress, StoreError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Imports a JSONL or HAR file as a new session and prints `session <id>`. On a terminal,
/// progress is shown on stderr. A bad file is a runtime error (exit 1) whose one line names
/// the file, the line and the field; nothing is written then.
pub async fn run(db: Option<PathBuf>, file: PathBuf) -> Result<ExitCode, Failure> {
    let store = open_store(db)?;
    let show = std::io::stderr().is_terminal();
    let name = file.display().to_string();
    let summary = tokio::task::spawn_blocking(move || {
        let progress = |p: ImportProgress| {
            if !show {
                return;
            }
            let mut err = std::io::stderr().lock();
            let _ = match (p.phase, p.total_bytes) {
                (ImportPhase::Reading, Some(total)) if total > 0 => write!(
                    err,
                    "\rreading… {}%",
                    p.bytes_read.saturating_mul(100) / total
                ),
                (ImportPhase::Reading, _) => write!(err, "\rreading… {} MiB", p.bytes_read >> 20),
                (ImportPhase::Writing, _) => write!(err, "\rwriting {} frames…\x1b[K", p.frames),
            };
        };
        let result = store.import_file(&file, ImportLimits::default(), &progress);
        if show {
            eprint!("\r\x1b[K");
        }
        result
    })
    .await?
    .map_err(|e| match e {
        StoreError::Import { .. } => Failure(format!("{name}: {e}")),
        e => Failure(e.to_string()),
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "session {}", summary.session.0)?;
    Ok(ExitCode::SUCCESS)
}

use crate::{open_store, Failure, Format};
use sockscope_proto::SessionId;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Writes the JSONL or HAR export to stdout, or to `output` through a temporary file renamed
/// on success, so a failed export never leaves a half-written file under the chosen name.
pub async fn run(
    db: Option<PathBuf>,
    session: i64,
    format: Format,
    output: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let store = open_store(db)?;
    let session = SessionId(session);
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        // Fails early, with "session N not found", before any file is created.
        store.session(session)?;
        let export = |out: &mut dyn Write| match format {
            Format::Jsonl => store.export_jsonl(session, out),
            Format::Har => store.export_har(session, out),
        };
        match output {
            None => {
                let stdout = std::io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                export(&mut out)?;
                out.flush()?;
            }
            Some(path) => {
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let tmp = tempfile_in(&dir)?;
                let mut out = BufWriter::new(tmp.as_file());
                export(&mut out)?;
                out.flush()?;
                drop(out);
                tmp.as_file().sync_all()?;
                tmp.persist(&path)
                    .map_err(|e| Failure(format!("{}: {}", path.display(), e.error)))?;
            }
        }
        Ok(())
    })
    .await??;
    Ok(ExitCode::SUCCESS)
}

fn tempfile_in(dir: &std::path::Path) -> Result<tempfile::NamedTempFile, Failure> {
    tempfile::Builder::new()
        .prefix(".sockscope-export-")
        .tempfile_in(dir)
        .map_err(|e| Failure(format!("{}: {e}", dir.display())))
}

use crate::{open_store, Failure};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub async fn run(db: Option<PathBuf>, json: bool) -> Result<ExitCode, Failure> {
    let store = open_store(db)?;
    let sessions = tokio::task::spawn_blocking(move || store.sessions()).await??;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &sessions)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:>6}  {:<7}  {:<24}  {:>5}  {:>8}  NAME",
            "ID", "KIND", "CREATED", "CONNS", "FRAMES"
        )?;
        for s in sessions {
            writeln!(
                out,
                "{:>6}  {:<7}  {:<24}  {:>5}  {:>8}  {}",
                s.id.0,
                s.kind.as_str(),
                s.created_at.chars().take(23).collect::<String>(),
                s.connections,
                s.frames,
                s.name.replace(|c: char| c.is_control(), " ")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `sockscope diff SESSION[:CONN] SESSION[:CONN]`: compares two connections' data messages
//! (e.g. an original and its replay).

use crate::{open_store, Failure};
use serde_json::json;
use sockscope_engine::recorded_connection;
use sockscope_proto::diff::{diff_messages, ChangeKind, DiffOptions, DiffStatus, Message};
use sockscope_proto::{ConnectionId, SessionId};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `SESSION` or `SESSION:CONN`.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    pub session: i64,
    pub connection: Option<i64>,
}

/// clap value parser for a side.
pub fn parse_side(s: &str) -> Result<Side, String> {
    let bad = || format!("{s:?} is not SESSION or SESSION:CONNECTION (numbers)");
    let (a, b) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let session = a.trim().parse().map_err(|_| bad())?;
    let connection = b.map(|b| b.trim().parse().map_err(|_| bad())).transpose()?;
    Ok(Side {
        session,
        connection,
    })
}

/// clap value parser for `--ignore`.
pub fn parse_ignore(s: &str) -> Result<String, String> {
    sockscope_proto::diff::check_ignore(&DiffOptions {
        ignore: vec![s.to_owned()],
    })
    .map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

pub async fn run(
    db: Option<PathBuf>,
    left: Side,
    right: Side,
    ignore: Vec<String>,
    json_out: bool,
) -> Result<ExitCode, Failure> {
    let store = open_store(db)?;
    let opts = DiffOptions { ignore };
    tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        let load = |side: Side| -> Result<(ConnectionId, Vec<Message>), Failure> {
            let conn = recorded_connection(
                &store,
                SessionId(side.session),
                side.connection.map(ConnectionId),
            )?;
            Ok((conn.id, store.connection_messages(conn.id)?))
        };
        let (lc, l) = load(left)?;
        let (rc, r) = load(right)?;
        let diff = diff_messages(&l, &r, &opts);
        let mut out = std::io::stdout().lock();
        if json_out {
            let mut v = serde_json::to_value(&diff)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert(
                    "left".into(),
                    json!({"session": left.session, "connection": lc}),
                );
                obj.insert(
                    "right".into(),
                    json!({"session": right.session, "connection": rc}),
                );
            }
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
            return Ok(());
        }
        writeln!(
            out,
            "left:  session {} connection {lc} ({} messages)",
            left.session, diff.summary.left_messages
        )?;
        writeln!(
            out,
            "right: session {} connection {rc} ({} messages)",
            right.session, diff.summary.right_messages
        )?;
        for e in &diff.entries {
            let seq = |s: Option<i64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let head = format!(
                "{:<8} {:<6} seq {:>5} | {:>5}",
                status_name(e.status),
                e.dir.as_str(),
                seq(e.left_seq),
                seq(e.right_seq)
            );
            match e.status {
                DiffStatus::Identical => {}
                DiffStatus::Changed if !e.changes.is_empty() => {
                    writeln!(out, "{head}")?;
                    for c in &e.changes {
                        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "∅".into());
                        let kind = match c.kind {
                            ChangeKind::Changed => "",
                            ChangeKind::Added => " (added)",
                            ChangeKind::Removed => " (removed)",
                        };
                        writeln!(
                            out,
                            "    {}{kind}: {} → {}",
                            c.path,
                            v(&c.left),
                            v(&c.right)
                        )?;
                    }
                }
                DiffStatus::Changed => {
                    let (a, b) = (e.left.map(|i| &l[i]), e.right.map(|i| &r[i]));
                    writeln!(out, "{head}")?;
                    writeln!(out, "    - {}", a.map(preview).unwrap_or_default())?;
                    writeln!(out, "    + {}", b.map(preview).unwrap_or_default())?;
                }
                DiffStatus::Missing => {
                    let m = e.left.map(|i| preview(&l[i])).unwrap_or_default();
                    writeln!(out, "{head}  {m}")?;
                }
                DiffStatus::Extra => {
                    let m = e.right.map(|i| preview(&r[i])).unwrap_or_default();
                    writeln!(out, "{head}  {m}")?;
                }
            }
        }
        let s = &diff.summary;
        writeln!(
            out,
            "{} identical, {} changed, {} missing, {} extra",
            s.identical, s.changed, s.missing, s.extra
        )?;
        Ok(())
    })
    .await??;
    Ok(ExitCode::SUCCESS)
}

fn status_name(s: DiffStatus) -> &'static str {
    match s {
        DiffStatus::Identical => "same",
        DiffStatus::Changed => "changed",
        DiffStatus::Missing => "missing",
        DiffStatus::Extra => "extra",
    }
}

fn preview(m: &Message) -> String {
    let p = sockscope_proto::preview(&m.payload, m.opcode == sockscope_proto::Opcode::Text);
    let cut: String = p.chars().take(100).collect();
    if cut.len() < p.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

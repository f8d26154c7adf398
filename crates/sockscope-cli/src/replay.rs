//! `sockscope replay SESSION --to URL`: sends a recorded connection's client messages again,
//! recorded as a new `replay` session. Progress goes to stderr.

use crate::{open_store, Failure};
use sockscope_engine::{Engine, Limits, ReplayMode, ReplayPlan};
use sockscope_proto::{ConnectionId, SessionId};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct Args {
    pub session: i64,
    pub connection: Option<i64>,
    pub to: String,
    pub speed: Option<f64>,
    pub max: bool,
    pub conversational: bool,
    pub timeout: f64,
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
}

pub async fn run(db: Option<PathBuf>, args: Args) -> Result<ExitCode, Failure> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let mode = if args.max {
        ReplayMode::Max
    } else if args.conversational {
        ReplayMode::Conversational { timeout }
    } else {
        ReplayMode::Timed {
            speed: args.speed.unwrap_or(1.0),
        }
    };
    let store = open_store(db)?;
    let engine = Engine::new(store.clone());
    let mut plan = {
        let store = store.clone();
        let (session, connection) = (SessionId(args.session), args.connection.map(ConnectionId));
        tokio::task::spawn_blocking(move || ReplayPlan::load(&store, session, connection)).await??
    };
    plan.url = args.to;
    for (name, value) in &args.headers {
        plan.set_header(name, value);
    }
    if !args.subprotocols.is_empty() {
        plan.subprotocols = args.subprotocols;
    }
    plan.limits = Limits {
        handshake_timeout: timeout,
        ..Limits::default()
    };
    let origin = plan.origin_connection;
    let replay = engine.replay(plan, mode).await?;
    println!("session {}", replay.session);
    let _ = std::io::stdout().flush();
    let pace = match mode {
        ReplayMode::Timed { speed } => format!("timed, speed {speed}"),
        ReplayMode::Max => "as fast as possible".to_owned(),
        ReplayMode::Conversational { timeout } => {
            format!("conversational, waits up to {} s", timeout.as_secs_f64())
        }
    };
    eprintln!("replaying connection {origin} ({pace})");
    let stopper = replay.stopper();
    let mut progress = replay.progress();
    let wait = replay.wait();
    tokio::pin!(wait);
    let mut interrupted = false;
    let mut last_print: Option<Instant> = None;
    let mut last_sent = 0;
    let mut progress_open = true;
    let result = loop {
        tokio::select! {
            r = &mut wait => break r,
            changed = progress.changed(), if progress_open => {
                if changed.is_err() {
                    // The sender is gone: stop polling it (it would be ready forever).
                    progress_open = false;
                    continue;
                }
                let p = progress.borrow_and_update().clone();
                // Each new count, at most ten lines a second, and always the last one.
                let due = last_print.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
                if p.sent != last_sent && (due || p.sent == p.total) {
                    eprintln!("sent {}/{} (received {})", p.sent, p.total, p.received);
                    last_print = Some(Instant::now());
                    last_sent = p.sent;
                }
            }
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                stopper.stop();
            }
        }
    };
    engine.wait_idle().await;
    store.flush().await?;
    let report = result?;
    // The run can end before the watch channel delivers its last count (a fast `--max`
    // replay of a few messages): the final count is always printed once.
    if report.sent != last_sent {
        eprintln!(
            "sent {}/{} (received {})",
            report.sent, report.total, report.received
        );
    }
    if report.stopped {
        return Err(Failure(format!(
            "replay interrupted after {} of {} messages",
            report.sent, report.total
        )));
    }
    eprintln!(
        "done: sent {}/{}, received {}",
        report.sent, report.total, report.received
    );
    Ok(ExitCode::SUCCESS)
}

/// clap value parser for `--speed` (0.1–100).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    sockscope_engine::check_speed(v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// clap value parser for a positive number of seconds.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0 < S ≤ 86400)")),
    }
}

/// clap value parser for `-H 'Name: value'`.
pub fn parse_header(h: &str) -> Result<(String, String), String> {
    match h.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("invalid header {h:?}: expected 'Name: value'")),
    }
}

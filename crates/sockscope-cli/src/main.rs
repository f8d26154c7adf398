//! `sockscope`: the headless side of Sockscope, over the same engine and database as the app.
//! Contract: DESIGN.md §5 (exit 0 on success, 2 on usage errors, 1 on runtime errors, one
//! line on stderr).

mod ca;
mod connect;
mod demo;
mod diff;
mod export;
mod import;
mod mock;
mod proxy;
mod replay;
mod sessions;
mod signal;

use clap::{Parser, Subcommand, ValueEnum};
use sockscope_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sockscope",
    version,
    about = "Sockscope: record, inspect and export WebSocket sessions"
)]
struct Cli {
    /// Database file (default: $SOCKSCOPE_DB, else ~/.local/share/sockscope/sockscope.db)
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// After each database commit, append a line `SESSION LAST_SEQ` to FILE (every frame up
    /// to LAST_SEQ is on disk; used by crash tests)
    #[arg(long, global = true, value_name = "FILE")]
    commit_log: Option<PathBuf>,
    /// Database size limit in MB (default: $SOCKSCOPE_DB_MAX_MB, else none; 0 = none). At the
    /// limit capture pauses, nothing is dropped, and it resumes once there is room
    #[arg(long, global = true, value_name = "MB", value_parser = parse_db_max_mb)]
    db_max_mb: Option<DbMax>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open a WebSocket connection: each stdin line is sent as a text message, every message
    /// received is printed. Recorded as a new client session (`session <id>` is printed first).
    /// Ctrl-D (end of stdin) closes with 1000.
    Connect(connect::Args),
    /// Run a built-in demo server until interrupted: echo, chat, ticker, telemetry or
    /// notifications. Prints `listening ws://ADDR/`.
    Demo {
        /// echo | chat | ticker | telemetry | notifications
        kind: String,
        /// Address to listen on (loopback unless --allow-remote); port 0 picks one
        #[arg(long, default_value = "127.0.0.1:9001", value_name = "ADDR:PORT")]
        listen: String,
        /// Ticker: messages per second per client (1-10000, default 10)
        #[arg(long, value_name = "N")]
        rate: Option<u32>,
        /// Allow listening on a non-loopback address
        #[arg(long)]
        allow_remote: bool,
    },
    /// Run a capture proxy: reverse mode with --upstream, else a forward HTTP proxy
    /// (CONNECT with TLS interception by the local CA, and absolute-form requests).
    /// Prints `session <id>`, records every WebSocket frame, runs until interrupted.
    Proxy {
        /// Address to listen on (loopback unless --allow-remote)
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
        listen: String,
        /// Reverse mode: relay every client connection to this ws[s]:// URL
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        /// Extra trusted root certificate (PEM) for upstream TLS
        #[arg(long, value_name = "FILE")]
        upstream_ca: Option<PathBuf>,
        /// Do not verify upstream TLS certificates (recorded on the session)
        #[arg(long)]
        insecure_upstream: bool,
        /// Forward mode: intercept only these CONNECT hosts (comma-separated; default all)
        #[arg(long, value_name = "HOST,...")]
        intercept: Option<String>,
        /// Allow listening on a non-loopback address
        #[arg(long)]
        allow_remote: bool,
        /// Directory of the local CA (default: $SOCKSCOPE_CA_DIR, else the data dir's ca/)
        #[arg(long, value_name = "DIR")]
        ca_dir: Option<PathBuf>,
        /// Seconds a client (and the upstream) get to send a complete HTTP head
        #[arg(long, default_value_t = 10.0, value_name = "S", value_parser = replay::parse_seconds)]
        handshake_timeout: f64,
        /// Keep-alive: a side silent this many seconds is pinged; silent as long again, the
        /// connection is closed as "peer unresponsive (ping timeout)". 0 turns it off
        #[arg(long, default_value_t = 30.0, value_name = "S", value_parser = parse_ping_timeout)]
        ping_timeout: f64,
        /// A side that takes no byte for this many seconds while the proxy has data for it
        /// (it stopped reading) is dropped and the other side gets Close 1001; recorded as
        /// "peer stopped reading (write timeout)". 0 turns it off
        #[arg(long, default_value_t = 30.0, value_name = "S", value_parser = parse_ping_timeout)]
        write_timeout: f64,
        /// Client connections handled at once; more are answered 503
        #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: u32,
        /// Rewrite rules (JSON or TOML file; repeatable, applied in order)
        #[arg(long = "rule", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// Seconds a message held by a `break` rule waits before it is forwarded as is
        #[arg(long, value_name = "SECS", default_value_t = 60.0)]
        hold_timeout: f64,
    },
    /// The local CA used to intercept TLS.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
        /// Directory of the local CA (default: $SOCKSCOPE_CA_DIR, else the data dir's ca/)
        #[arg(long, global = true, value_name = "DIR")]
        ca_dir: Option<PathBuf>,
    },
    /// Send a recorded connection's client messages to a server again (timed, as fast as
    /// possible, or conversationally). Recorded as a new `replay` session (`session <id>` is
    /// printed first); progress on stderr.
    Replay {
        /// Session id of the recording (see `sockscope sessions`)
        session: i64,
        /// Connection id to replay (default: the session's first)
        #[arg(long, value_name = "N")]
        connection: Option<i64>,
        /// ws:// or wss:// URL to send to
        #[arg(long, value_name = "URL")]
        to: String,
        /// Recorded delays divided by X (0.1–100; default 1)
        #[arg(long, value_name = "X", value_parser = replay::parse_speed, conflicts_with_all = ["max", "conversational"])]
        speed: Option<f64>,
        /// Send every message as fast as possible
        #[arg(long, conflicts_with = "conversational")]
        max: bool,
        /// Before each message, wait until the server has sent as many messages as it had at
        /// that point of the recording
        #[arg(long)]
        conversational: bool,
        /// Seconds to wait for the handshake, and for each server message when conversational
        #[arg(long, default_value_t = 10.0, value_name = "S", value_parser = replay::parse_seconds)]
        timeout: f64,
        /// Set a request header, replacing the recorded one: -H 'Name: value'
        #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = replay::parse_header)]
        headers: Vec<(String, String)>,
        /// Offer this subprotocol instead of the recorded ones (repeatable)
        #[arg(long = "subprotocol", value_name = "P")]
        subprotocols: Vec<String>,
    },
    /// Serve a recorded connection's server side to any client that connects (timed or
    /// conversational). Prints `session <id>` (each client is recorded there), runs until
    /// interrupted.
    Mock {
        /// Session id of the recording
        session: i64,
        /// Connection id to play (default: the session's first)
        #[arg(long, value_name = "N")]
        connection: Option<i64>,
        /// Address to listen on (loopback unless --allow-remote); port 0 picks one
        #[arg(long, value_name = "ADDR:PORT")]
        listen: String,
        /// Recorded delays divided by X (0.1–100; default 1)
        #[arg(long, value_name = "X", value_parser = replay::parse_speed, conflicts_with = "conversational")]
        speed: Option<f64>,
        /// After each client message, send what the server sent after it in the recording
        #[arg(long)]
        conversational: bool,
        /// Allow listening on a non-loopback address
        #[arg(long)]
        allow_remote: bool,
    },
    /// Compare the data messages of two connections (e.g. an original and its replay).
    Diff {
        /// SESSION or SESSION:CONNECTION (default: the session's first connection)
        #[arg(value_parser = diff::parse_side)]
        left: diff::Side,
        /// SESSION or SESSION:CONNECTION
        #[arg(value_parser = diff::parse_side)]
        right: diff::Side,
        /// Leave a JSON key (anywhere) or path ($.meta.time, $.items[*].id) out (repeatable)
        #[arg(long, value_name = "KEY", value_parser = diff::parse_ignore)]
        ignore: Vec<String>,
        /// Print the diff as JSON
        #[arg(long)]
        json: bool,
    },
    /// List recorded sessions, newest first.
    Sessions {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Import a session file: Sockscope JSONL, or the WebSocket connections of a HAR file
    /// (Chrome, mitmproxy, HTTP Toolkit). Prints `session <id>`.
    Import {
        /// The file (its format is told by its content)
        file: PathBuf,
    },
    /// Write a session to stdout or a file.
    Export {
        /// Session id (see `sockscope sessions`)
        session: i64,
        #[arg(long, value_enum)]
        format: Format,
        /// Output file (default: stdout)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Format {
    /// Sockscope's lossless JSONL session format
    Jsonl,
    /// HAR 1.2 in Chrome DevTools' shape (data messages only)
    Har,
}

/// A runtime failure: printed as one line, exit code 1.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// `--commit-log`, set once by `main` before any command runs.
static COMMIT_LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
/// `--db-max-mb` (in bytes; `None` inside: no limit), set once by `main`.
static DB_MAX: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// A parsed `--db-max-mb`: bytes, or `None` for "no limit" (0).
#[derive(Debug, Clone, Copy)]
struct DbMax(Option<u64>);

fn parse_db_max_mb(v: &str) -> Result<DbMax, String> {
    sockscope_store::parse_size_limit_mb(v).map(DbMax)
}

/// Opens the database. A damaged file is renamed aside (the user is told where) and a fresh
/// one is created; write errors (disk full…) and recoveries are reported on stderr.
fn open_store(db: Option<PathBuf>) -> Result<Store, Failure> {
    let path = sockscope_store::resolve_db_path(db);
    let max_bytes = match DB_MAX.get() {
        Some(flag) => *flag,
        None => sockscope_store::size_limit_from_env().map_err(Failure)?,
    };
    let options = sockscope_store::StoreOptions {
        commit_log: COMMIT_LOG.get().cloned(),
        max_bytes,
        ..Default::default()
    };
    let (store, recovered) = Store::open_or_recover(&path, options)?;
    if let Some(r) = recovered {
        eprintln!("sockscope: warning: {}: {r}", path.display());
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        // Storage state only: the writer then builds no frame summaries for nobody.
        let mut events = store.subscribe_status();
        handle.spawn(async move {
            use sockscope_store::StoreEvent;
            use tokio::sync::broadcast::error::RecvError;
            // The pause being reported, so each pause and its resume are told once.
            let mut told_pause = false;
            let mut told_resume = 0;
            loop {
                match events.recv().await {
                    Ok(StoreEvent::Storage(status)) => {
                        if let Some(text) = status.describe() {
                            if !told_pause {
                                told_pause = true;
                                eprintln!("sockscope: {text}");
                            }
                        } else if let Some(r) = &status.last_resume {
                            if told_pause && r.done && r.pause != told_resume {
                                told_pause = false;
                                told_resume = r.pause;
                                eprintln!("sockscope: {r}");
                            }
                        }
                    }
                    Ok(StoreEvent::WriteError(e)) if !e.starts_with("capture paused") => {
                        // Not a pause: a batch that could not be written at all.
                        eprintln!("sockscope: database write failed: {e}");
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
    Ok(store)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(log) = cli.commit_log.clone() {
        let _ = COMMIT_LOG.set(log);
    }
    if let Some(DbMax(limit)) = cli.db_max_mb {
        let _ = DB_MAX.set(limit);
    }
    // Hands the heap pages glibc keeps after frees back every 10 s (`SOCKSCOPE_TRIM_SECS`).
    let _trimmer = sockscope_heap::start_from_env("sockscope");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sockscope: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Connect(args) => connect::run(cli.db, args).await,
            Command::Demo {
                kind,
                listen,
                rate,
                allow_remote,
            } => demo::run(kind, listen, rate, allow_remote).await,
            Command::Replay {
                session,
                connection,
                to,
                speed,
                max,
                conversational,
                timeout,
                headers,
                subprotocols,
            } => {
                let args = replay::Args {
                    session,
                    connection,
                    to,
                    speed,
                    max,
                    conversational,
                    timeout,
                    headers,
                    subprotocols,
                };
                replay::run(cli.db, args).await
            }
            Command::Mock {
                session,
                connection,
                listen,
                speed,
                conversational,
                allow_remote,
            } => {
                let args = mock::Args {
                    session,
                    connection,
                    listen,
                    speed,
                    conversational,
                    allow_remote,
                };
                mock::run(cli.db, args).await
            }
            Command::Diff {
                left,
                right,
                ignore,
                json,
            } => diff::run(cli.db, left, right, ignore, json).await,
            Command::Sessions { json } => sessions::run(cli.db, json).await,
            Command::Proxy {
                listen,
                upstream,
                upstream_ca,
                insecure_upstream,
                intercept,
                allow_remote,
                ca_dir,
                handshake_timeout,
                ping_timeout,
                write_timeout,
                max_connections,
                rules,
                hold_timeout,
            } => {
                let args = proxy::Args {
                    handshake_timeout,
                    ping_timeout,
                    write_timeout,
                    max_connections: max_connections as usize,
                    listen,
                    upstream,
                    upstream_ca,
                    insecure_upstream,
                    intercept,
                    allow_remote,
                    ca_dir,
                    rules,
                    hold_timeout,
                };
                proxy::run(cli.db, args).await
            }
            Command::Ca { command, ca_dir } => ca::run(ca_dir, command),
            Command::Export {
                session,
                format,
                output,
            } => export::run(cli.db, session, format, output).await,
            Command::Import { file } => import::run(cli.db, file).await,
        }
    });
    // Do not wait for a blocked stdin reader.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(Failure(msg)) => {
            eprintln!("sockscope: {}", msg.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

/// clap value parser for `--ping-timeout` and `--write-timeout`: seconds, or 0 (off).
pub(crate) fn parse_ping_timeout(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        _ => replay::parse_seconds(s),
    }
}

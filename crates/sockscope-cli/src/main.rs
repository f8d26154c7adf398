//! `sockscope`: the headless side of Sockscope, over the same engine and database as the app.
//! Contract: DESIGN.md §5 (exit 0 on success, 2 on usage errors, 1 on runtime errors, one
//! line on stderr).

mod ca;
mod connect;
mod export;
mod proxy;
mod sessions;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open a WebSocket connection: each stdin line is sent as a text message, every message
    /// received is printed. Recorded as a new client session (`session <id>` is printed first).
    Connect {
        /// ws:// or wss:// URL
        url: String,
        /// Extra request header, repeatable: -H 'Name: value'
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// Offer a subprotocol (repeatable)
        #[arg(long = "subprotocol", value_name = "P")]
        subprotocols: Vec<String>,
        /// Handshake timeout in seconds
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
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
    },
    /// The local CA used to intercept TLS.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
        /// Directory of the local CA (default: $SOCKSCOPE_CA_DIR, else the data dir's ca/)
        #[arg(long, global = true, value_name = "DIR")]
        ca_dir: Option<PathBuf>,
    },
    /// List recorded sessions, newest first.
    Sessions {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
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
    Jsonl,
}

/// A runtime failure: printed as one line, exit code 1.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn open_store(db: Option<PathBuf>) -> Result<Store, Failure> {
    let path = sockscope_store::resolve_db_path(db);
    Ok(Store::open(&path)?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            Command::Connect {
                url,
                headers,
                subprotocols,
                timeout,
            } => connect::run(cli.db, url, headers, subprotocols, timeout).await,
            Command::Sessions { json } => sessions::run(cli.db, json).await,
            Command::Proxy {
                listen,
                upstream,
                upstream_ca,
                insecure_upstream,
                intercept,
                allow_remote,
                ca_dir,
            } => {
                let args = proxy::Args {
                    listen,
                    upstream,
                    upstream_ca,
                    insecure_upstream,
                    intercept,
                    allow_remote,
                    ca_dir,
                };
                proxy::run(cli.db, args).await
            }
            Command::Ca { command, ca_dir } => ca::run(ca_dir, command),
            Command::Export {
                session,
                format: Format::Jsonl,
                output,
            } => export::run(cli.db, session, output).await,
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

//! `sockscope mock SESSION --listen 127.0.0.1:PORT`: a WebSocket server playing a recorded
//! server side to any client, until interrupted.

use crate::{open_store, Failure};
use sockscope_engine::{Mock, MockMode, MockOptions};
use sockscope_proto::{ConnectionId, SessionId};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Args {
    pub session: i64,
    pub connection: Option<i64>,
    pub listen: String,
    pub speed: Option<f64>,
    pub conversational: bool,
    pub allow_remote: bool,
}

pub async fn run(db: Option<PathBuf>, args: Args) -> Result<ExitCode, Failure> {
    let store = open_store(db)?;
    let mut opts = MockOptions::new(SessionId(args.session), args.listen);
    opts.connection = args.connection.map(ConnectionId);
    opts.allow_remote = args.allow_remote;
    opts.mode = if args.conversational {
        MockMode::Conversational
    } else {
        MockMode::Timed {
            speed: args.speed.unwrap_or(1.0),
        }
    };
    let mock = Mock::start(store.clone(), opts).await?;
    let addr = mock.local_addr();
    println!("session {}", mock.session());
    let _ = std::io::stdout().flush();
    if !addr.ip().is_loopback() {
        eprintln!("warning: listening on {addr}, reachable from other machines");
    }
    eprintln!("listening {addr}");
    crate::signal::wait_for_signal().await;
    eprintln!("stopping");
    mock.stop().await;
    store.flush().await?;
    Ok(ExitCode::SUCCESS)
}

//! `sockscope demo KIND --listen 127.0.0.1:PORT`: a built-in demo server (echo, chat, ticker,
//! telemetry, notifications) until interrupted. Prints `listening ws://ADDR/` on stdout.

use crate::Failure;
use sockscope_engine::demo::{Demo, DemoKind, DemoOptions};
use std::io::Write;
use std::process::ExitCode;

pub async fn run(
    kind: String,
    listen: String,
    rate: Option<u32>,
    allow_remote: bool,
) -> Result<ExitCode, Failure> {
    let kind: DemoKind = kind.parse()?;
    let demo = Demo::start(DemoOptions {
        kind,
        listen,
        rate,
        allow_remote,
    })
    .await?;
    println!("listening {}", demo.url());
    let _ = std::io::stdout().flush();
    if !demo.addr().ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, reachable from other machines",
            demo.addr()
        );
    }
    let what = match kind {
        DemoKind::Echo => "echoes every text and binary message".to_owned(),
        DemoKind::Chat => {
            "one chat room: every message and join/leave event goes to every client".into()
        }
        DemoKind::Ticker => format!(
            "JSON price ticks at {} msg/s per client (send {{\"rate\": N}} to change)",
            demo.rate().unwrap_or_default()
        ),
        DemoKind::Telemetry => "binary MessagePack sensor readings, 10 per second".into(),
        DemoKind::Notifications => "JSON notifications pushed at random intervals".into(),
    };
    eprintln!("{} demo: {what}", kind.as_str());
    crate::signal::wait_for_signal().await;
    eprintln!("stopping");
    demo.stop().await;
    Ok(ExitCode::SUCCESS)
}

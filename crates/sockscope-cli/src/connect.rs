//! `sockscope connect URL`: stdin lines out as text messages, received messages to stdout.

use crate::{open_store, Failure};
use sockscope_engine::{ConnEvent, ConnectOptions, Engine, Limits, Outgoing};
use sockscope_proto::Opcode;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn parse_header(h: &str) -> Result<(String, String), Failure> {
    match h.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(Failure(format!(
            "invalid header {h:?}: expected 'Name: value'"
        ))),
    }
}

pub async fn run(
    db: Option<PathBuf>,
    url: String,
    headers: Vec<String>,
    subprotocols: Vec<String>,
    timeout: f64,
) -> Result<ExitCode, Failure> {
    let headers = headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(Failure(format!("invalid --timeout {timeout}")));
    }
    let store = open_store(db)?;
    let engine = Engine::new(store.clone());
    let mut handle = engine
        .connect(ConnectOptions {
            url,
            headers,
            subprotocols,
            session: None,
            limits: Limits {
                handshake_timeout: Duration::from_secs_f64(timeout),
                ..Limits::default()
            },
            events: true,
        })
        .await?;
    println!("session {}", handle.session);
    let _ = std::io::stdout().flush();
    let Some(mut events) = handle.events.take() else {
        return Err(Failure("no event stream".into()));
    };
    let id = handle.id;

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut open = false;
    let mut pending: Vec<String> = Vec::new();
    let mut result = Ok(ExitCode::SUCCESS);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ConnEvent::Open { status, subprotocol }) => {
                    open = true;
                    match subprotocol {
                        Some(p) => eprintln!("connected ({status}, subprotocol {p})"),
                        None => eprintln!("connected ({status})"),
                    }
                    for line in pending.drain(..) {
                        engine.send(id, Outgoing::Text(line)).await?;
                    }
                    if !stdin_open {
                        engine.close(id, 1000, "").await?;
                    }
                }
                Some(ConnEvent::Received { opcode, payload }) => print_message(opcode, &payload),
                Some(ConnEvent::Closed { code, reason, by }) => {
                    let code = code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                    eprintln!("closed {code} {reason} (by {})", by.as_str());
                    break;
                }
                Some(ConnEvent::Failed { error }) => {
                    result = Err(Failure(format!("connection failed: {error}")));
                    break;
                }
                None => break,
            },
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if open {
                        engine.send(id, Outgoing::Text(line)).await?;
                    } else {
                        pending.push(line);
                    }
                }
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    if open {
                        engine.close(id, 1000, "").await?;
                    }
                }
            },
            _ = tokio::signal::ctrl_c() => {
                let _ = engine.close(id, 1000, "interrupted").await;
                stdin_open = false;
            }
        }
    }
    engine.wait_idle().await;
    store.flush().await?;
    result
}

fn print_message(opcode: Opcode, payload: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = match opcode {
        Opcode::Text => match std::str::from_utf8(payload) {
            Ok(t) => writeln!(out, "{t}"),
            Err(_) => writeln!(
                out,
                "[invalid utf-8 text, {} B] {}",
                payload.len(),
                sockscope_proto::hex_preview(payload)
            ),
        },
        Opcode::Binary => writeln!(
            out,
            "[binary {} B] {}",
            payload.len(),
            sockscope_proto::hex_preview(payload)
        ),
        // Pings and pongs are recorded, not printed.
        _ => Ok(()),
    };
    let _ = out.flush();
}

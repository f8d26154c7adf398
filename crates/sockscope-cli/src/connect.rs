//! `sockscope connect URL`: stdin lines out as messages (text, or hex with `--binary`),
//! received messages to stdout; end of stdin closes with 1000.

use crate::{open_store, Failure};
use sockscope_engine::vars::expand_message;
use sockscope_engine::{
    Auth, ClientCert, ConnEvent, ConnectOptions, Engine, Limits, LinkState, Outgoing,
    ReconnectPolicy, TlsOptions,
};
use sockscope_proto::Opcode;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ws:// or wss:// URL
    pub url: String,
    /// Extra request header, repeatable: -H 'Name: value'
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Offer a subprotocol (repeatable); a server that picks none is accepted
    #[arg(long = "subprotocol", value_name = "P")]
    pub subprotocols: Vec<String>,
    /// Query parameter appended to the URL, repeatable: --query name=value
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// Origin header
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Authorization: Basic (USER:PASSWORD)
    #[arg(long, value_name = "USER:PASSWORD", conflicts_with = "bearer")]
    pub basic: Option<String>,
    /// Authorization: Bearer TOKEN
    #[arg(long, value_name = "TOKEN")]
    pub bearer: Option<String>,
    /// Handshake timeout in seconds (TCP + TLS + upgrade)
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Do not verify the server's TLS certificate (recorded on the session)
    #[arg(long)]
    pub insecure: bool,
    /// Extra trusted root certificate(s), PEM
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate: PEM (with --key) or PKCS#12 (.p12/.pfx, with --cert-password)
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Client certificate's PEM private key
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// PKCS#12 password (default: $SOCKSCOPE_CERT_PASSWORD, else empty)
    #[arg(long, value_name = "PASSWORD", requires = "cert")]
    pub cert_password: Option<String>,
    /// Stdin lines are hex bytes sent as binary messages (spaces allowed)
    #[arg(long)]
    pub binary: bool,
    /// Expand {{uuid}} {{now}} {{ts}} {{counter}} {{random_int a b}} in text lines
    #[arg(long)]
    pub expand: bool,
    /// Keep-alive: send a ping every S seconds and print its round trip on stderr
    #[arg(long, value_name = "S")]
    pub ping_interval: Option<f64>,
    /// Reconnect when the connection fails or the server closes it (backoff 0.5 s doubling to 30 s)
    #[arg(long)]
    pub reconnect: bool,
    /// Reconnect attempts in a row before giving up
    #[arg(long, default_value_t = 10, value_name = "N", requires = "reconnect")]
    pub reconnect_max: u32,
    /// Largest message accepted from the server (bytes)
    #[arg(long, value_name = "BYTES")]
    pub max_message: Option<usize>,
    /// A write to the server that makes no progress for S seconds (it stopped reading)
    /// closes the connection, "peer stopped reading (write timeout)"; 0 turns it off
    #[arg(long, default_value_t = 30.0, value_name = "S", value_parser = crate::parse_ping_timeout)]
    pub write_timeout: f64,
}

fn parse_header(h: &str) -> Result<(String, String), Failure> {
    match h.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(Failure(format!(
            "invalid header {h:?}: expected 'Name: value'"
        ))),
    }
}

/// Hex bytes, spaces and `:` allowed between pairs.
pub fn parse_hex(line: &str) -> Result<Vec<u8>, String> {
    let digits: String = line
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {line:?}"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("not hex: {:?}", &digits[i..i + 2]))
        })
        .collect()
}

impl Args {
    fn options(&self) -> Result<ConnectOptions, Failure> {
        let headers = self
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let query = self
            .query
            .iter()
            .map(|q| match q.split_once('=') {
                Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
                None => Err(Failure(format!(
                    "invalid --query {q:?}: expected name=value"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err(Failure(format!("invalid --timeout {}", self.timeout)));
        }
        let ping_interval = match self.ping_interval {
            None => None,
            Some(s) if s.is_finite() && s >= 0.1 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(Failure(format!(
                    "invalid --ping-interval {s} (at least 0.1)"
                )))
            }
        };
        let auth = match (&self.basic, &self.bearer) {
            (Some(b), _) => {
                let (u, p) = b.split_once(':').unwrap_or((b.as_str(), ""));
                Auth::Basic {
                    username: u.to_owned(),
                    password: p.to_owned(),
                }
            }
            (None, Some(t)) => Auth::Bearer { token: t.clone() },
            (None, None) => Auth::None,
        };
        let client_cert = match (&self.cert, &self.key) {
            (None, _) => None,
            (Some(cert), Some(key)) => Some(ClientCert::Pem {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (Some(file), None) => Some(ClientCert::Pkcs12 {
                file: file.clone(),
                password: self
                    .cert_password
                    .clone()
                    .or_else(|| std::env::var("SOCKSCOPE_CERT_PASSWORD").ok())
                    .unwrap_or_default(),
            }),
        };
        let defaults = Limits::default();
        Ok(ConnectOptions {
            url: self.url.clone(),
            query,
            headers,
            subprotocols: self.subprotocols.clone(),
            origin: self.origin.clone(),
            auth,
            tls: TlsOptions {
                ca_file: self.ca.clone(),
                client_cert,
                insecure: self.insecure,
            },
            limits: Limits {
                handshake_timeout: Duration::from_secs_f64(self.timeout),
                max_message_size: self.max_message.unwrap_or(defaults.max_message_size),
                max_frame_size: self
                    .max_message
                    .map_or(defaults.max_frame_size, |m| m.min(defaults.max_frame_size)),
                write_timeout: (self.write_timeout > 0.0)
                    .then(|| Duration::from_secs_f64(self.write_timeout)),
                ..defaults
            },
            ping_interval,
            reconnect: self.reconnect.then_some(ReconnectPolicy {
                max_attempts: self.reconnect_max,
                ..ReconnectPolicy::default()
            }),
            ..ConnectOptions::default()
        })
    }
}

pub async fn run(db: Option<PathBuf>, args: Args) -> Result<ExitCode, Failure> {
    let opts = args.options()?;
    let store = open_store(db)?;
    let engine = Engine::new(store.clone());
    let (link, mut events) = engine.open_link_with_events(opts).await?;
    println!("session {}", link.session_id);
    let _ = std::io::stdout().flush();
    if link.insecure {
        eprintln!("warning: TLS certificate verification is off (--insecure)");
    }
    let id = link.id;

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut open = false;
    let mut pending: Vec<Outgoing> = Vec::new();
    let mut failed: Option<String> = None;
    let mut counter: u64 = 0;
    let mut last_rtt: Option<f64> = None;
    let mut last_retry: Option<i64> = None;
    let mut rtt_tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ConnEvent::Open { status, subprotocol }) => {
                    open = true;
                    failed = None;
                    match subprotocol {
                        Some(p) => eprintln!("connected ({status}, subprotocol {p})"),
                        None if !args.subprotocols.is_empty() => {
                            eprintln!("connected ({status}, no subprotocol negotiated)");
                        }
                        None => eprintln!("connected ({status})"),
                    }
                    for msg in pending.drain(..) {
                        engine.link_send(id, msg).await?;
                    }
                    if !stdin_open {
                        engine.link_close(id, 1000, "").await?;
                    }
                }
                Some(ConnEvent::Received { opcode, payload }) => print_message(opcode, &payload, args.binary),
                Some(ConnEvent::Closed { code, reason, by }) => {
                    open = false;
                    let code = code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                    eprintln!("closed {code} {reason} (by {})", by.as_str());
                }
                Some(ConnEvent::Failed { error }) => {
                    open = false;
                    // Without --reconnect the final error line says it (one line, DESIGN.md §5).
                    if args.reconnect {
                        eprintln!("connection failed: {error}");
                    }
                    failed = Some(error);
                }
                // The link has ended (closed, or no more reconnects).
                None => break,
            },
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    let msg = if args.binary {
                        match parse_hex(&line) {
                            Ok(b) => Outgoing::Binary(b.into()),
                            Err(e) => {
                                eprintln!("not sent: {e}");
                                continue;
                            }
                        }
                    } else if args.expand {
                        let now_ms = sockscope_proto::now_us() / 1000;
                        Outgoing::Text(expand_message(&line, now_ms, || {
                            counter += 1;
                            counter
                        }).0)
                    } else {
                        Outgoing::Text(line)
                    };
                    if open {
                        if let Err(e) = engine.link_send(id, msg).await {
                            eprintln!("not sent: {e}");
                        }
                    } else {
                        pending.push(msg);
                    }
                }
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    if open || args.reconnect {
                        engine.link_close(id, 1000, "").await?;
                    }
                }
            },
            _ = rtt_tick.tick(), if args.ping_interval.is_some() || args.reconnect => {
                let Ok(info) = engine.link(id) else { continue };
                if let Some(ms) = info.rtt_ms.filter(|r| Some(*r) != last_rtt) {
                    eprintln!("rtt {ms:.2} ms");
                    last_rtt = Some(ms);
                }
                // Each scheduled reconnect, once.
                if let (LinkState::Reconnecting, Some(at)) = (info.state, info.next_retry_at_us) {
                    if last_retry != Some(at) {
                        last_retry = Some(at);
                        let wait = (at - sockscope_proto::now_us()).max(0) as f64 / 1e6;
                        eprintln!("reconnecting in {wait:.1} s (attempt {})", info.attempt + 1);
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = engine.link_close(id, 1000, "interrupted").await;
                stdin_open = false;
            }
        }
    }
    engine.wait_idle().await;
    store.flush().await?;
    match engine.link(id).map(|l| l.state) {
        Ok(LinkState::Failed) => Err(Failure(format!(
            "connection failed: {}",
            engine
                .link(id)
                .ok()
                .and_then(|l| l.error)
                .or(failed)
                .unwrap_or_default()
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn print_message(opcode: Opcode, payload: &[u8], full_hex: bool) {
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
        // With --binary, the whole message as hex (what stdin takes); else a preview.
        Opcode::Binary if full_hex => {
            let hex: Vec<String> = payload.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{}", hex.join(" "))
        }
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

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_lines() {
        assert_eq!(parse_hex("00 ff:10"), Ok(vec![0, 255, 16]));
        assert_eq!(parse_hex(""), Ok(vec![]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}

//! `sockscope proxy`: a capture listener recording into the database until interrupted.

use crate::{open_store, Failure};
use sockscope_proxy::rules::load_rules_file;
use sockscope_proxy::{Intercept, InterceptEvent, Proxy, ProxyConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub struct Args {
    pub listen: String,
    pub upstream: Option<String>,
    pub upstream_ca: Option<PathBuf>,
    pub insecure_upstream: bool,
    pub intercept: Option<String>,
    pub allow_remote: bool,
    pub ca_dir: Option<PathBuf>,
    pub handshake_timeout: f64,
    /// Seconds; 0 turns the keep-alive probe off.
    pub ping_timeout: f64,
    /// Seconds; 0 turns the write timeout off.
    pub write_timeout: f64,
    pub max_connections: usize,
    /// Rule files, applied in order.
    pub rules: Vec<PathBuf>,
    pub hold_timeout: f64,
}

/// Loads every rule file in order; ids are the rules' places in the whole list.
fn load_rules(files: &[PathBuf]) -> Result<Vec<sockscope_proxy::Rule>, Failure> {
    let mut all = Vec::new();
    for f in files {
        all.extend(load_rules_file(f)?);
    }
    for (i, r) in all.iter_mut().enumerate() {
        r.id = i as i64 + 1;
    }
    Ok(all)
}

pub async fn run(db: Option<PathBuf>, args: Args) -> Result<ExitCode, Failure> {
    if !(args.hold_timeout.is_finite() && (0.1..=86_400.0).contains(&args.hold_timeout)) {
        return Err(Failure("--hold-timeout: 0.1 to 86400 seconds".into()));
    }
    let interceptor = Intercept::new();
    interceptor.set_hold_timeout(Duration::from_secs_f64(args.hold_timeout))?;
    let rules = load_rules(&args.rules)?;
    let has_breakpoints = rules
        .iter()
        .any(|r| r.enabled && r.action == sockscope_proxy::Action::Break);
    let rule_count = rules.len();
    interceptor.set_rules(rules)?;
    let store = open_store(db)?;
    let intercept = args.intercept.map(|list| {
        list.split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>()
    });
    let proxy = Proxy::start(
        store.clone(),
        ProxyConfig {
            listen: args.listen,
            upstream: args.upstream.clone(),
            intercept,
            upstream_ca: args.upstream_ca,
            insecure_upstream: args.insecure_upstream,
            ca_dir: Some(crate::ca::dir(args.ca_dir)),
            allow_remote: args.allow_remote,
            limits: sockscope_proxy::ProxyLimits {
                handshake_timeout: std::time::Duration::from_secs_f64(args.handshake_timeout),
                max_connections: args.max_connections,
                relay: sockscope_proxy::RelayLimits {
                    ping_timeout: (args.ping_timeout > 0.0)
                        .then(|| std::time::Duration::from_secs_f64(args.ping_timeout)),
                    write_timeout: (args.write_timeout > 0.0)
                        .then(|| std::time::Duration::from_secs_f64(args.write_timeout)),
                    ..sockscope_proxy::ProxyLimits::default().relay
                },
                ..Default::default()
            },
            interceptor: Some(interceptor.clone()),
            ..ProxyConfig::default()
        },
    )
    .await?;
    let addr = proxy.local_addr();
    println!("session {}", proxy.session());
    if !addr.ip().is_loopback() {
        eprintln!("warning: listening on {addr}, reachable from other machines");
    }
    if args.insecure_upstream {
        eprintln!("warning: upstream certificates are not verified");
    }
    match &args.upstream {
        Some(u) => eprintln!("listening {addr} (reverse proxy to {u})"),
        None => eprintln!(
            "listening {addr} (forward proxy; CA {})",
            proxy
                .ca()
                .map_or_else(String::new, |c| c.fingerprint_sha256())
        ),
    }
    if rule_count > 0 {
        eprintln!("rules: {rule_count} loaded");
        if has_breakpoints {
            eprintln!(
                "note: `break` rules hold messages until the hold timeout ({} s) without the app",
                args.hold_timeout
            );
        }
    }
    let mut events = interceptor.subscribe();
    let log = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(InterceptEvent::Held { message }) => eprintln!(
                    "held message {} (connection {}, rule {})",
                    message.id, message.connection, message.rule_id
                ),
                Ok(InterceptEvent::Resolved { id, resolution, .. }) => {
                    eprintln!("message {id}: {}", resolution_text(resolution))
                }
                Ok(InterceptEvent::Rules) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    crate::signal::wait_for_signal().await;
    eprintln!("stopping");
    proxy.stop().await;
    log.abort();
    for r in interceptor.rules() {
        let name = if r.rule.name.is_empty() {
            String::new()
        } else {
            format!(" {:?}", r.rule.name)
        };
        eprintln!("rule {}{name}: {} matches", r.rule.id, r.matches);
    }
    store.flush().await?;
    Ok(ExitCode::SUCCESS)
}

fn resolution_text(r: sockscope_proxy::Resolution) -> &'static str {
    use sockscope_proxy::Resolution::*;
    match r {
        Forwarded => "forwarded",
        Edited => "forwarded edited",
        Dropped => "dropped",
        TimedOut => "forwarded as is after the hold timeout",
        ConnectionClosed => "never forwarded: the connection ended",
    }
}

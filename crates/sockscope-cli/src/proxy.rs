//! `sockscope proxy`: a capture listener recording into the database until interrupted.

use crate::{open_store, Failure};
use sockscope_proxy::{Proxy, ProxyConfig};
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Args {
    pub listen: String,
    pub upstream: Option<String>,
    pub upstream_ca: Option<PathBuf>,
    pub insecure_upstream: bool,
    pub intercept: Option<String>,
    pub allow_remote: bool,
    pub ca_dir: Option<PathBuf>,
    pub handshake_timeout: f64,
    pub max_connections: usize,
}

pub async fn run(db: Option<PathBuf>, args: Args) -> Result<ExitCode, Failure> {
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
                ..Default::default()
            },
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
    crate::signal::wait_for_signal().await;
    eprintln!("stopping");
    proxy.stop().await;
    store.flush().await?;
    Ok(ExitCode::SUCCESS)
}

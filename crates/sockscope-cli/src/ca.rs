//! `sockscope ca …`: the local CA used to intercept TLS in forward proxy mode.

use crate::Failure;
use sockscope_proxy::ca::LocalCa;
use std::path::PathBuf;
use std::process::ExitCode;

/// Environment variable that overrides the CA directory.
pub const CA_DIR_ENV: &str = "SOCKSCOPE_CA_DIR";

/// `--ca-dir`, then `SOCKSCOPE_CA_DIR`, then the platform data dir's `ca/`.
pub fn dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(CA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(sockscope_proxy::ca::default_ca_dir)
}

#[derive(Copy, Clone, Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Print the CA certificate's PEM path (the CA is created on first use)
    Path,
    /// Print the certificate's SHA-256 fingerprint
    Fingerprint,
    /// Print base64(SHA-256(SPKI)), for Chromium's --ignore-certificate-errors-spki-list
    Spki,
    /// Replace the CA with a new one (clients must trust the new certificate)
    Regenerate,
}

pub fn run(ca_dir: Option<PathBuf>, cmd: CaCommand) -> Result<ExitCode, Failure> {
    let dir = dir(ca_dir);
    let ca = match cmd {
        CaCommand::Regenerate => LocalCa::regenerate(&dir)?,
        _ => LocalCa::load_or_create(&dir)?,
    };
    match cmd {
        CaCommand::Path | CaCommand::Regenerate => {
            println!("{}", LocalCa::cert_path(&dir).display())
        }
        CaCommand::Fingerprint => println!("{}", ca.fingerprint_sha256()),
        CaCommand::Spki => println!("{}", ca.spki_sha256_base64()),
    }
    Ok(ExitCode::SUCCESS)
}

//! rustls configurations for both sides of an intercepted connection.
//!
//! Everything is built on the ring crypto provider passed explicitly, so nothing depends on a
//! process-wide default provider being installed.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
// The trust anchors and the "do not verify" verifier are the engine's, so the workbench client
// and the proxy's upstream client trust exactly the same way.
use sockscope_engine::tls::{provider, system_roots, AcceptAnyCertificate};

use crate::ca::LocalCa;
use crate::error::ProxyError;

/// The only application protocol either side offers: the relay speaks HTTP/1.1 (WebSocket
/// upgrades do not exist in HTTP/2 without RFC 8441).
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Server side of interception: presents a leaf from `ca` for the client's SNI (via a
/// [`ResolvesServerCert`] calling [`LocalCa::leaf_for`]); when the client sends no SNI (or an IP
/// literal, which rustls does not report as SNI), the leaf is for `fallback_host` (the CONNECT
/// target host). ALPN offers only "http/1.1".
///
/// `fallback_host` is validated here like an SNI name, so a bad CONNECT target fails early.
pub fn intercept_server_config(
    ca: Arc<LocalCa>,
    fallback_host: &str,
) -> Result<Arc<ServerConfig>, ProxyError> {
    ca.leaf_for(fallback_host)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls(format!("server protocol versions: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(LeafResolver {
            ca,
            fallback_host: fallback_host.to_owned(),
        }));
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Picks the leaf certificate for each client hello.
struct LeafResolver {
    ca: Arc<LocalCa>,
    fallback_host: String,
}

impl fmt::Debug for LeafResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafResolver")
            .field("fallback_host", &self.fallback_host)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = client_hello.server_name().unwrap_or(&self.fallback_host);
        // A refused name ends the handshake with a handshake-failure alert.
        self.ca.leaf_for(host).ok()
    }
}

/// Client side toward upstream servers. ALPN "http/1.1".
///
/// Without `insecure`, certificates are verified against the system roots (rustls-native-certs,
/// loaded once per process; certificates that fail to parse are skipped) plus every certificate
/// in the PEM file `extra_root` when given (an unreadable file, one without certificates or with
/// an unusable certificate is an error naming it). With `insecure`, any certificate chain and name
/// is accepted, but the handshake signatures are still checked with the provider's algorithms
/// (`extra_root` is then ignored).
pub fn upstream_client_config(
    extra_root: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, ProxyError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls(format!("client protocol versions: {e}")))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.roots.extend(system_roots().roots.iter().cloned());
        if let Some(path) = extra_root {
            add_pem_roots(&mut roots, path)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// `ServerName` for `host`: a DNS name or an IP literal (IPv6 optionally in brackets).
pub fn server_name(host: &str) -> Result<ServerName<'static>, ProxyError> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(unbracketed)
        .map(|name| name.to_owned())
        .map_err(|e| {
            let shown: String = host.chars().take(64).collect();
            ProxyError::Tls(format!("invalid server name {shown:?}: {e}"))
        })
}

fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), ProxyError> {
    let pem = std::fs::read(path).map_err(|source| ProxyError::File {
        path: path.to_owned(),
        source,
    })?;
    sockscope_engine::tls::add_pem_roots(roots, &pem)
        .map(|_| ())
        .map_err(|e| ProxyError::Tls(format!("{}: {e}", path.display())))
}

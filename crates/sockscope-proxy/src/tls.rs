//! rustls configurations for both sides of an intercepted connection.
//!
//! Everything is built on the ring crypto provider passed explicitly, so nothing depends on a
//! process-wide default provider being installed.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::ca::LocalCa;
use crate::error::ProxyError;

/// The only application protocol either side offers: the relay speaks HTTP/1.1 (WebSocket
/// upgrades do not exist in HTTP/2 without RFC 8441).
const ALPN_HTTP11: &[u8] = b"http/1.1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

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
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
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

/// The platform's trust anchors, read once (reading them can take tens of milliseconds).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        // Errors (unreadable stores) and unparsable certificates are skipped: a partial store
        // only makes verification stricter.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        roots
    })
}

fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), ProxyError> {
    let pem = std::fs::read(path).map_err(|source| ProxyError::File {
        path: path.to_owned(),
        source,
    })?;
    let mut count = 0usize;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| ProxyError::Tls(format!("{}: invalid PEM: {e}", path.display())))?;
        roots.add(cert).map_err(|e| {
            ProxyError::Tls(format!(
                "{}: unusable root certificate: {e}",
                path.display()
            ))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(ProxyError::Tls(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(())
}

/// `--insecure`: trusts any certificate, but still verifies that the server holds the key of
/// the certificate it sent (handshake signatures).
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

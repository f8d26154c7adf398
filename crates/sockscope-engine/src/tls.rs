//! rustls client configuration of a `wss://` connection: system roots (+ a CA file), an
//! optional client certificate (PEM or PKCS#12) and, explicitly, no verification. Built on the
//! ring provider passed explicitly (no process-wide default needed).

use crate::options::{ClientCert, TlsOptions};
use crate::EngineError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Largest certificate / key / PKCS#12 file read (bytes).
const MAX_FILE: u64 = 1 << 20;

/// The crypto provider every Sockscope TLS client and server uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(msg: impl Into<String>) -> EngineError {
    EngineError::Tls(msg.into())
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, EngineError> {
    let meta =
        std::fs::metadata(path).map_err(|e| tls_err(format!("{what} {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE {
        return Err(tls_err(format!(
            "{what} {}: larger than {MAX_FILE} bytes",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| tls_err(format!("{what} {}: {e}", path.display())))
}

/// The client configuration for `opts` (reads and checks the files now, so mistakes are
/// reported before connecting).
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, EngineError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("protocol versions: {e}")))?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        roots.roots.extend(system_roots().roots.iter().cloned());
        if let Some(path) = &opts.ca_file {
            add_pem_roots_file(&mut roots, path)?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &opts.client_cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let (chain, key) = load_client_cert(cert)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(format!("client certificate: {e}")))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_client_cert(
    cert: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), EngineError> {
    match cert {
        ClientCert::Pem { cert, key } => {
            let pem = read_file(cert, "client certificate")?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err(format!("client certificate {}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(tls_err(format!(
                    "client certificate {}: no PEM certificate found",
                    cert.display()
                )));
            }
            let key_pem = read_file(key, "client key")?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| tls_err(format!("client key {}: {e}", key.display())))?;
            Ok((chain, key))
        }
        ClientCert::Pkcs12 { file, password } => {
            let data = read_file(file, "PKCS#12 file")?;
            let store = p12_keystore::KeyStore::from_pkcs12(
                &data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| tls_err(format!("PKCS#12 file {}: {e}", file.display())))?;
            let (_, chain) = store.private_key_chain().ok_or_else(|| {
                tls_err(format!(
                    "PKCS#12 file {}: no private key with a certificate",
                    file.display()
                ))
            })?;
            let certs: Vec<CertificateDer<'static>> = chain
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
            Ok((certs, key))
        }
    }
}

/// `ServerName` for `host`: a DNS name or an IP literal (IPv6 optionally in brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, EngineError> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(unbracketed)
        .map(|n| n.to_owned())
        .map_err(|e| tls_err(format!("invalid server name {host:?}: {e}")))
}

/// The platform's trust anchors, read once (reading them can take tens of milliseconds).
/// Unreadable stores and unparsable certificates are skipped: a partial store only makes
/// verification stricter. Shared with the capture proxy's upstream client.
pub fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// Adds every certificate of the PEM text `pem` to `roots`. The error says what is wrong
/// without naming the file (callers prefix it); a text without any certificate is an error.
pub fn add_pem_roots(roots: &mut RootCertStore, pem: &[u8]) -> Result<usize, String> {
    let mut count = 0usize;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("invalid PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable root certificate: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("no PEM certificate found".into());
    }
    Ok(count)
}

fn add_pem_roots_file(roots: &mut RootCertStore, path: &Path) -> Result<(), EngineError> {
    let pem = read_file(path, "CA file")?;
    add_pem_roots(roots, &pem)
        .map(|_| ())
        .map_err(|e| tls_err(format!("CA file {}: {e}", path.display())))
}

/// A readable text for a TLS failure, naming certificate problems plainly.
pub(crate) fn describe_tls_error(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => format!(
            "TLS: the server's certificate is not trusted ({c:?}); add its CA with a CA file, or choose \"do not verify\""
        ),
        Some(rustls::Error::AlertReceived(a)) => {
            format!("TLS: the server refused the handshake (alert {a:?}); does it require a client certificate?")
        }
        Some(other) => format!("TLS: {other}"),
        None => format!("TLS: {e}"),
    }
}

/// "Do not verify": any certificate is accepted, but the server must still prove it holds the
/// key of the certificate it sent (handshake signatures).
/// Shared with the capture proxy's `--insecure` upstream client.
#[derive(Debug)]
pub struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCertificate {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
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

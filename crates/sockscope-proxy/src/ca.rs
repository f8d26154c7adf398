//! The local certificate authority used for TLS interception.
//!
//! Each install gets its own CA (a fresh ECDSA P-256 key pair) stored as two PEM files in a
//! directory only the user can read. Leaf certificates for intercepted hosts are minted on demand,
//! signed by that CA and cached in memory.
//!
//! The stored CA certificate is read back with x509-parser (the parser rcgen itself uses): its
//! SubjectPublicKeyInfo is checked against the key file, and [`Issuer::from_ca_cert_der`] takes
//! its subject name (re-encoded into the leaves' issuer field, checked byte for byte when loading)
//! and its subject key identifier (used as the leaves' authority key identifier).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SerialNumber,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::ProxyError;

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca-cert.pem";
/// File name of the CA private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How many leaf certificates [`LocalCa::leaf_for`] keeps in memory.
const LEAF_CACHE_CAPACITY: usize = 1024;
/// Longest host name accepted by [`LocalCa::leaf_for`] (RFC 1035 limit, without a trailing dot).
const MAX_HOST_LEN: usize = 253;
/// The CA is valid for ten years (counting leap days) from yesterday.
const CA_VALIDITY_DAYS: i64 = 3653;
/// Leaves are valid for one year from yesterday (below the 398 days browsers accept).
const LEAF_VALIDITY_DAYS: i64 = 366;

/// The local CA: its certificate, its key (never printed, see the `Debug` impl) and a cache of
/// leaf certificates minted for intercepted hosts.
pub struct LocalCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    spki_der: Vec<u8>,
    subject_cn: String,
    issuer: Issuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately leaves out the key.
        f.debug_struct("LocalCa")
            .field("subject_cn", &self.subject_cn)
            .field("fingerprint_sha256", &self.fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from `dir` (`ca-cert.pem` + `ca-key.pem`) or creates one there on first use.
    ///
    /// `dir` is created with mode 0700 when it does not exist, the key file with mode 0600 and the
    /// certificate with mode 0644 (Unix). A new CA has a fresh key pair, the common name
    /// "Sockscope Local CA (<8 random hex digits>)" and is valid for ten years from yesterday.
    ///
    /// A corrupt or unreadable file, or only one of the two files being present, is an error
    /// naming the file; nothing is overwritten (use [`LocalCa::regenerate`] for that).
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, ProxyError> {
        let cert_path = Self::cert_path(dir);
        let key_path = key_path(dir);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => Self::create(dir),
            (true, false) => Err(ProxyError::Ca(format!(
                "{} exists but {} is missing; regenerate the CA",
                cert_path.display(),
                key_path.display()
            ))),
            (false, true) => Err(ProxyError::Ca(format!(
                "{} exists but {} is missing; regenerate the CA",
                key_path.display(),
                cert_path.display()
            ))),
        }
    }

    /// Deletes the CA files in `dir` (if any) and creates a new CA there.
    ///
    /// Certificates minted by the old CA stop being trusted wherever the new one replaces it.
    pub fn regenerate(dir: &Path) -> Result<LocalCa, ProxyError> {
        for path in [Self::cert_path(dir), key_path(dir)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ProxyError::File { path, source }),
            }
        }
        Self::create(dir)
    }

    /// Path of the CA certificate in `dir`: `dir/ca-cert.pem`.
    pub fn cert_path(dir: &Path) -> PathBuf {
        dir.join(CA_CERT_FILE)
    }

    /// The CA certificate, PEM-encoded (as stored in `ca-cert.pem`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER-encoded.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA's common name, e.g. "Sockscope Local CA (1a2b3c4d)".
    pub fn common_name(&self) -> &str {
        &self.subject_cn
    }

    /// SHA-256 of the DER certificate as upper-case hex pairs joined by `:`.
    pub fn fingerprint_sha256(&self) -> String {
        let digest = Sha256::digest(self.cert_der.as_ref());
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// `base64(SHA-256(SubjectPublicKeyInfo DER))` of the CA certificate: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub fn spki_sha256_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&self.spki_der))
    }

    /// A leaf certificate and key for `host`, signed by this CA.
    ///
    /// `host` is a DNS name (SAN dNSName, compared case-insensitively, a trailing dot ignored) or
    /// an IP literal, IPv6 optionally in brackets (SAN iPAddress). The leaf is valid from
    /// yesterday for one year, with EKU serverAuth. Host names come from untrusted SNI: empty
    /// names, names over 253 bytes, names with characters outside `A-Z a-z 0-9 . - _ *` and
    /// names with empty labels are refused with [`ProxyError::Tls`].
    ///
    /// Results are cached per host (at most 1024 entries; an arbitrary one is evicted when
    /// full), so repeated calls return the same `Arc`. Safe to call from many threads.
    pub fn leaf_for(&self, host: &str) -> Result<Arc<CertifiedKey>, ProxyError> {
        let host = LeafHost::parse(host)?;
        let key = host.cache_key();
        if let Some(hit) = self.lock_leaves().get(&key) {
            return Ok(Arc::clone(hit));
        }
        // Minted outside the lock: signing takes a moment and other hosts should not wait.
        let fresh = Arc::new(self.mint_leaf(&host)?);
        let mut leaves = self.lock_leaves();
        if let Some(raced) = leaves.get(&key) {
            // Another thread minted the same host meanwhile: keep one answer per host.
            return Ok(Arc::clone(raced));
        }
        if leaves.len() >= LEAF_CACHE_CAPACITY {
            if let Some(victim) = leaves.keys().next().cloned() {
                leaves.remove(&victim);
            }
        }
        leaves.insert(key, Arc::clone(&fresh));
        Ok(fresh)
    }

    fn lock_leaves(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        // The map is consistent after any panic (single insert/remove calls), so a poisoned
        // lock is still usable.
        self.leaves
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mint_leaf(&self, host: &LeafHost) -> Result<CertifiedKey, ProxyError> {
        let leaf_key = KeyPair::generate().map_err(|e| ca_err("cannot generate a leaf key", e))?;
        let mut params = CertificateParams::default();
        let (cn, san) = match host {
            LeafHost::Dns(name) => {
                let ia5 = Ia5String::try_from(name.as_str())
                    .map_err(|e| ProxyError::Tls(format!("invalid host name: {e}")))?;
                (name.clone(), SanType::DnsName(ia5))
            }
            LeafHost::Ip(ip) => (ip.to_string(), SanType::IpAddress(*ip)),
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![san];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let yesterday = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_before = yesterday;
        params.not_after = yesterday + Duration::days(LEAF_VALIDITY_DAYS);

        let cert = params
            .signed_by(&leaf_key, &self.issuer)
            .map_err(|e| ca_err("cannot sign a leaf certificate", e))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing_key = self
            .provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| ProxyError::Tls(format!("cannot load the leaf key: {e}")))?;
        // Send the CA too: clients that pin or allow the CA by its SPKI (Chromium's
        // --ignore-certificate-errors-spki-list) only look at the certificates actually sent.
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signing_key,
        ))
    }

    /// Creates a new CA in `dir`; fails if either file already exists.
    fn create(dir: &Path) -> Result<LocalCa, ProxyError> {
        ensure_private_dir(dir)?;
        let key = KeyPair::generate().map_err(|e| ca_err("cannot generate the CA key", e))?;
        let suffix: [u8; 4] = rand::random();
        let cn = format!("Sockscope Local CA ({})", hex_lower(&suffix));

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial());
        let yesterday = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_before = yesterday;
        params.not_after = yesterday + Duration::days(CA_VALIDITY_DAYS);
        let cert = params
            .self_signed(&key)
            .map_err(|e| ca_err("cannot self-sign the CA certificate", e))?;

        let key_path = key_path(dir);
        let cert_path = Self::cert_path(dir);
        let key_pem = key.serialize_pem();
        let cert_pem = cert.pem();
        write_new_file(&key_path, key_pem.as_bytes(), 0o600)?;
        write_new_file(&cert_path, cert_pem.as_bytes(), 0o644)?;
        // The same path as a later load, so a fresh CA is checked exactly like a stored one.
        Self::from_pems(&cert_path, &cert_pem, &key_path, &key_pem)
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<LocalCa, ProxyError> {
        let cert_pem = read_text(cert_path)?;
        let key_pem = read_text(key_path)?;
        Self::from_pems(cert_path, &cert_pem, key_path, &key_pem)
    }

    fn from_pems(
        cert_path: &Path,
        cert_pem: &str,
        key_path: &Path,
        key_pem: &str,
    ) -> Result<LocalCa, ProxyError> {
        let bad_cert = |what: &str| {
            ProxyError::Ca(format!(
                "{}: not a usable CA certificate: {what}",
                cert_path.display()
            ))
        };
        // Only the error kind is reported for the key: never any of its content.
        let key = KeyPair::from_pem(key_pem).map_err(|e| {
            ProxyError::Ca(format!(
                "{}: not a usable CA private key: {e}",
                key_path.display()
            ))
        })?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad_cert(&format!("no PEM certificate ({e})")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert_der.as_ref())
            .map_err(|e| bad_cert(&format!("malformed DER ({e})")))?;
        let spki_der = parsed.public_key().raw;
        if spki_der != key.subject_public_key_info().as_slice() {
            return Err(ProxyError::Ca(format!(
                "{} does not belong to the key in {}",
                cert_path.display(),
                key_path.display()
            )));
        }
        let subject = parsed.subject();
        let subject_cn = match subject.iter_common_name().next() {
            Some(cn) => cn
                .as_str()
                .map_err(|e| bad_cert(&format!("unreadable common name ({e})")))?
                .to_owned(),
            None => String::new(),
        };
        // The subject name, the subject key identifier (SHA-256 of the key when absent) and the
        // key usages, as rcgen reads them.
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| bad_cert(&format!("unsupported subject name or key usage ({e})")))?;

        // Leaves name their issuer with rcgen's encoding of the decoded subject: it must be the
        // very bytes of the CA's subject or clients cannot build the chain.
        let probe = CertificateParams::default()
            .signed_by(issuer.key(), &issuer)
            .map_err(|e| ca_err("cannot sign with the CA key", e))?;
        let probe_issuer = x509_parser::parse_x509_certificate(probe.der().as_ref())
            .ok()
            .map(|(_, p)| p.tbs_certificate.issuer.as_raw());
        if probe_issuer != Some(subject.as_raw()) {
            return Err(bad_cert("its subject name cannot be reproduced"));
        }

        let spki_der = spki_der.to_vec();
        Ok(LocalCa {
            cert_pem: cert_pem.to_owned(),
            cert_der: cert_der.clone(),
            spki_der,
            subject_cn,
            issuer,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            leaves: Mutex::new(HashMap::new()),
        })
    }
}

/// `<platform data dir>/ca`, i.e. `~/.local/share/sockscope/ca` on Linux (`./sockscope-ca` when
/// no home directory is known).
pub fn default_ca_dir() -> PathBuf {
    match directories::ProjectDirs::from("", "", "sockscope") {
        Some(dirs) => dirs.data_dir().join("ca"),
        None => PathBuf::from("sockscope-ca"),
    }
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join(CA_KEY_FILE)
}

fn ca_err(what: &str, e: rcgen::Error) -> ProxyError {
    ProxyError::Ca(format!("{what}: {e}"))
}

fn exists(path: &Path) -> Result<bool, ProxyError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ProxyError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_text(path: &Path) -> Result<String, ProxyError> {
    let bytes = fs::read(path).map_err(|source| ProxyError::File {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes)
        .map_err(|_| ProxyError::Ca(format!("{}: not a PEM text file", path.display())))
}

/// Creates `dir` (and missing parents) when it does not exist; `dir` itself gets mode 0700.
fn ensure_private_dir(dir: &Path) -> Result<(), ProxyError> {
    let file_err = |path: &Path, source| ProxyError::File {
        path: path.to_owned(),
        source,
    };
    if exists(dir)? {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| file_err(parent, e))?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(file_err(dir, e)),
    }
    #[cfg(unix)]
    {
        // The umask can only have removed bits; set the mode exactly anyway.
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| file_err(dir, e))?;
    }
    Ok(())
}

/// Writes a file that must not exist yet, with `mode` on Unix (from the start, so the key is
/// never readable by others, even briefly).
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), ProxyError> {
    let file_err = |source| ProxyError::File {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    let mut file = options.open(path).map_err(file_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(file_err)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents).map_err(file_err)?;
    file.sync_all().map_err(file_err)
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and exactly 16 bytes long once DER-encoded.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A validated host from SNI or a CONNECT target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LeafHost {
    Dns(String),
    Ip(IpAddr),
}

impl LeafHost {
    fn parse(host: &str) -> Result<LeafHost, ProxyError> {
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(LeafHost::Ip(ip));
        }
        let refuse = |why: &str| {
            // Quote at most 64 characters of the hostile input.
            let shown: String = host.chars().take(64).collect();
            let more = if host.chars().nth(64).is_some() {
                "…"
            } else {
                ""
            };
            ProxyError::Tls(format!("refusing host name {shown:?}{more}: {why}"))
        };
        if host.is_empty() {
            return Err(refuse("empty"));
        }
        if host.len() > MAX_HOST_LEN + 1 || (host.len() > MAX_HOST_LEN && !host.ends_with('.')) {
            return Err(refuse("longer than 253 bytes"));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'))
        {
            return Err(refuse("characters other than A-Z a-z 0-9 . - _ *"));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.split('.').any(str::is_empty) {
            return Err(refuse("empty label"));
        }
        Ok(LeafHost::Dns(name.to_ascii_lowercase()))
    }

    fn cache_key(&self) -> String {
        match self {
            LeafHost::Dns(name) => name.clone(),
            LeafHost::Ip(ip) => ip.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::ParsedExtension;

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        match x509_parser::parse_x509_certificate(der) {
            Ok(([], cert)) => cert,
            other => panic!("not one certificate: {other:?}"),
        }
    }

    fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
        cert.iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
                _ => None,
            })
    }

    #[test]
    fn leaves_chain_to_the_loaded_ca() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("ca");
        let created = LocalCa::load_or_create(&dir).unwrap_or_else(|e| panic!("{e}"));
        let loaded = LocalCa::load_or_create(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.cert_der(), created.cert_der());
        assert_eq!(loaded.common_name(), created.common_name());
        let ca = parse(loaded.cert_der().as_ref());
        assert_eq!(loaded.spki_der, ca.public_key().raw);
        let ca_key_id = subject_key_id(&ca).unwrap_or_else(|| panic!("the CA has no SKI"));

        let leaf = loaded
            .leaf_for("example.com")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(leaf.cert.len(), 2);
        assert_eq!(&leaf.cert[1], loaded.cert_der());
        let leaf = parse(leaf.cert[0].as_ref());
        assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
        let aki = leaf
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("the leaf has no authority key identifier"));
        assert_eq!(aki.0, ca_key_id);
    }

    #[test]
    fn host_parsing() {
        assert_eq!(
            LeafHost::parse("Example.COM.").ok(),
            Some(LeafHost::Dns("example.com".into()))
        );
        assert_eq!(
            LeafHost::parse("[::1]").ok(),
            Some(LeafHost::Ip(
                "::1".parse().unwrap_or_else(|_| unreachable!())
            ))
        );
        assert!(LeafHost::parse("*.example.com").is_ok());
        assert!(LeafHost::parse("_srv.example.com").is_ok());
        for bad in ["", ".", "a..b", "a b", "a/b", "é.com", "x\0y", "[::1"] {
            assert!(LeafHost::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LeafHost::parse(&"a".repeat(253)).is_ok());
        assert!(LeafHost::parse(&format!("{}.", "a".repeat(253))).is_ok());
        assert!(LeafHost::parse(&"a".repeat(254)).is_err());
    }
}

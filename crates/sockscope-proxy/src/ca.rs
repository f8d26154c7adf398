//! The local certificate authority used for TLS interception.
//!
//! Each install gets its own CA (a fresh ECDSA P-256 key pair) stored as two PEM files in a
//! directory only the user can read. Leaf certificates for intercepted hosts are minted on demand,
//! signed by that CA and cached in memory.
//!
//! rcgen is built without its `x509-parser` feature, so the stored CA certificate is read back with
//! the small DER reader at the bottom of this file: it extracts the subject name (re-encoded
//! into the leaves' issuer field, checked byte for byte when loading), the SubjectPublicKeyInfo
//! (checked against the key file) and the subject key identifier (used as the leaves' authority key
//! identifier).

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
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SerialNumber,
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
        let parsed =
            der::parse_certificate(cert_der.as_ref()).ok_or_else(|| bad_cert("malformed DER"))?;
        if parsed.spki != key.subject_public_key_info().as_slice() {
            return Err(ProxyError::Ca(format!(
                "{} does not belong to the key in {}",
                cert_path.display(),
                key_path.display()
            )));
        }
        let (distinguished_name, subject_cn) =
            der::distinguished_name(parsed.subject).map_err(|e| bad_cert(&e))?;
        let key_identifier_method = match parsed.subject_key_id {
            Some(id) => KeyIdMethod::PreSpecified(id.to_vec()),
            None => KeyIdMethod::Sha256,
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name;
        params.key_identifier_method = key_identifier_method;
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(params, key);

        // Leaves name their issuer with rcgen's encoding of the decoded subject: it must be the
        // very bytes of the CA's subject or clients cannot build the chain.
        let probe = CertificateParams::default()
            .signed_by(issuer.key(), &issuer)
            .map_err(|e| ca_err("cannot sign with the CA key", e))?;
        let probe_issuer = der::parse_certificate(probe.der().as_ref()).map(|p| p.issuer);
        if probe_issuer != Some(parsed.subject) {
            return Err(bad_cert("its subject name cannot be reproduced"));
        }

        let spki_der = parsed.spki.to_vec();
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

/// Just enough DER to read back a certificate rcgen wrote.
mod der {
    use rcgen::string::{Ia5String, PrintableString};
    use rcgen::{DistinguishedName, DnType, DnValue};

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const OCTET_STRING: u8 = 0x04;
    const UTF8_STRING: u8 = 0x0c;
    const PRINTABLE_STRING: u8 = 0x13;
    const IA5_STRING: u8 = 0x16;
    const CONTEXT_0: u8 = 0xa0;
    const CONTEXT_3: u8 = 0xa3;
    /// 2.5.29.14, subjectKeyIdentifier.
    const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];

    /// Borrowed parts of a certificate, each the complete TLV (except `subject_key_id`, the bare
    /// key identifier).
    pub(super) struct Parsed<'a> {
        pub issuer: &'a [u8],
        pub subject: &'a [u8],
        pub spki: &'a [u8],
        pub subject_key_id: Option<&'a [u8]>,
    }

    struct Tlv<'a> {
        tag: u8,
        contents: &'a [u8],
        whole: &'a [u8],
    }

    /// Reads one TLV (single-byte tags, definite lengths up to 4 bytes) and returns the rest.
    fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let (&tag, after_tag) = input.split_first()?;
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return None;
        }
        let header = input.len() - after_len.len();
        let (contents, rest) = after_len.split_at(len);
        let whole = &input[..header + len];
        Some((
            Tlv {
                tag,
                contents,
                whole,
            },
            rest,
        ))
    }

    fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
        let (tlv, rest) = read(input)?;
        (tlv.tag == tag).then_some((tlv, rest))
    }

    pub(super) fn parse_certificate(der: &[u8]) -> Option<Parsed<'_>> {
        let (cert, _) = expect(der, SEQUENCE)?;
        let (tbs, _) = expect(cert.contents, SEQUENCE)?;
        let mut rest = tbs.contents;
        if rest.first() == Some(&CONTEXT_0) {
            rest = read(rest)?.1; // version
        }
        rest = read(rest)?.1; // serialNumber
        rest = expect(rest, SEQUENCE)?.1; // signature algorithm
        let (issuer, r) = expect(rest, SEQUENCE)?;
        let (_validity, r) = expect(r, SEQUENCE)?;
        let (subject, r) = expect(r, SEQUENCE)?;
        let (spki, mut r) = expect(r, SEQUENCE)?;
        let mut subject_key_id = None;
        while !r.is_empty() {
            let (field, next) = read(r)?;
            r = next;
            if field.tag == CONTEXT_3 {
                subject_key_id = find_subject_key_id(field.contents)?;
            }
        }
        Some(Parsed {
            issuer: issuer.whole,
            subject: subject.whole,
            spki: spki.whole,
            subject_key_id,
        })
    }

    /// `Some(None)` when there is no subjectKeyIdentifier, `None` when malformed.
    fn find_subject_key_id(explicit: &[u8]) -> Option<Option<&[u8]>> {
        let (extensions, _) = expect(explicit, SEQUENCE)?;
        let mut r = extensions.contents;
        while !r.is_empty() {
            let (ext, next) = expect(r, SEQUENCE)?;
            r = next;
            let (oid, mut fields) = expect(ext.contents, OID)?;
            if oid.contents != OID_SUBJECT_KEY_ID {
                continue;
            }
            loop {
                let (field, next) = read(fields)?;
                fields = next;
                if field.tag == OCTET_STRING {
                    let (id, _) = expect(field.contents, OCTET_STRING)?;
                    return Some(Some(id.contents));
                }
            }
        }
        Some(None)
    }

    /// Decodes a Name into rcgen's model (one attribute per RDN, string types rcgen writes) and
    /// returns it with its first common name.
    pub(super) fn distinguished_name(name: &[u8]) -> Result<(DistinguishedName, String), String> {
        let malformed = || "malformed subject name".to_owned();
        let (seq, _) = expect(name, SEQUENCE).ok_or_else(malformed)?;
        let mut dn = DistinguishedName::new();
        let mut cn = None;
        let mut r = seq.contents;
        while !r.is_empty() {
            let (rdn, next) = expect(r, SET).ok_or_else(malformed)?;
            r = next;
            let (atv, extra) = expect(rdn.contents, SEQUENCE).ok_or_else(malformed)?;
            if !extra.is_empty() {
                return Err("multi-valued subject name attributes are not supported".into());
            }
            let (oid, rest) = expect(atv.contents, OID).ok_or_else(malformed)?;
            let (value, _) = read(rest).ok_or_else(malformed)?;
            let ty = dn_type(oid.contents).ok_or_else(malformed)?;
            let text = std::str::from_utf8(value.contents).map_err(|_| malformed())?;
            let value = match value.tag {
                UTF8_STRING => DnValue::Utf8String(text.to_owned()),
                PRINTABLE_STRING => DnValue::PrintableString(
                    PrintableString::try_from(text).map_err(|_| malformed())?,
                ),
                IA5_STRING => {
                    DnValue::Ia5String(Ia5String::try_from(text).map_err(|_| malformed())?)
                }
                other => return Err(format!("unsupported string type 0x{other:02x} in subject")),
            };
            if ty == DnType::CommonName && cn.is_none() {
                cn = Some(text.to_owned());
            }
            dn.push(ty, value);
        }
        Ok((dn, cn.unwrap_or_default()))
    }

    fn dn_type(oid: &[u8]) -> Option<DnType> {
        Some(match oid {
            [0x55, 0x04, 0x03] => DnType::CommonName,
            [0x55, 0x04, 0x06] => DnType::CountryName,
            [0x55, 0x04, 0x07] => DnType::LocalityName,
            [0x55, 0x04, 0x08] => DnType::StateOrProvinceName,
            [0x55, 0x04, 0x0a] => DnType::OrganizationName,
            [0x55, 0x04, 0x0b] => DnType::OrganizationalUnitName,
            _ => DnType::CustomDnType(oid_arcs(oid)?),
        })
    }

    fn oid_arcs(oid: &[u8]) -> Option<Vec<u64>> {
        let mut arcs = Vec::new();
        let mut acc: u64 = 0;
        for (i, &b) in oid.iter().enumerate() {
            acc = acc.checked_mul(128)? | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (acc / 40).min(2);
                    arcs.push(first);
                    arcs.push(acc - first * 40);
                } else {
                    arcs.push(acc);
                }
                acc = 0;
            } else if i + 1 == oid.len() {
                return None;
            }
        }
        (arcs.len() >= 2).then_some(arcs)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn oid_arcs_decodes_multibyte() {
            // 1.2.840.113549
            assert_eq!(
                oid_arcs(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
                Some(vec![1, 2, 840, 113549])
            );
            assert_eq!(oid_arcs(&[0x2a, 0x86]), None);
        }

        #[test]
        fn long_lengths() {
            let mut der = vec![0x04, 0x82, 0x01, 0x00];
            der.extend(std::iter::repeat_n(7u8, 256));
            let (tlv, rest) = read(&der).unwrap_or_else(|| panic!("parse"));
            assert_eq!(tlv.contents.len(), 256);
            assert!(rest.is_empty());
            assert!(read(&der[..100]).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

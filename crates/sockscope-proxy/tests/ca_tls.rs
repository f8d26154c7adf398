#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local CA (files, identity, leaves) and the rustls configurations, over real TCP sockets
//! on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::PublicKeyData as _;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest as _, Sha256};
use sockscope_proxy::ca::{default_ca_dir, LocalCa};
use sockscope_proxy::tls::{intercept_server_config, server_name, upstream_client_config};
use sockscope_proxy::ProxyError;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn ca_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data").join("ca")
}

fn new_ca() -> (tempfile::TempDir, PathBuf, Arc<LocalCa>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ca_dir(&tmp);
    let ca = Arc::new(LocalCa::load_or_create(&dir).unwrap());
    (tmp, dir, ca)
}

/// A TLS server on 127.0.0.1:0 that echoes every byte of each connection it accepts.
async fn echo_server(config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tls.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            let _ = tls.flush().await;
                        }
                    }
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// A client that trusts only `ca` (TLS 1.3 only, ALPN http/1.1).
fn client_trusting(ca: &LocalCa) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Connects, checks the session, sends a message and expects it back.
async fn round_trip(
    client: Arc<ClientConfig>,
    addr: SocketAddr,
    name: ServerName<'static>,
) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::from(client).connect(name, tcp).await?;
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
    let msg = b"hello through the interception leaf";
    tls.write_all(msg).await?;
    tls.flush().await?;
    let mut back = vec![0u8; msg.len()];
    tls.read_exact(&mut back).await?;
    assert_eq!(&back, msg);
    tls.shutdown().await?;
    Ok(())
}

fn message(err: &ProxyError) -> String {
    err.to_string()
}

#[cfg(unix)]
#[test]
fn key_is_0600_cert_0644_and_dir_0700() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_tmp, dir, _ca) = new_ca();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&LocalCa::cert_path(&dir)), 0o644);
    assert_eq!(LocalCa::cert_path(&dir), dir.join("ca-cert.pem"));
}

#[test]
fn new_ca_has_the_expected_identity() {
    let (_tmp, dir, ca) = new_ca();
    let cn = ca.common_name();
    let hex = cn
        .strip_prefix("Sockscope Local CA (")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected CN {cn:?}"));
    assert_eq!(hex.len(), 8);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));

    let pem = std::fs::read_to_string(LocalCa::cert_path(&dir)).unwrap();
    assert_eq!(pem, ca.cert_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));

    // 32 bytes as upper-case hex pairs joined by ':'.
    let fp = ca.fingerprint_sha256();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert!(fp.split(':').all(|p| p.len() == 2
        && p.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))));
    let expected: Vec<String> = Sha256::digest(ca.cert_der().as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(fp, expected.join(":"));

    // The key never shows up in Debug output.
    let debug = format!("{ca:?}");
    assert!(debug.contains(&fp));
    assert!(!debug.contains("PRIVATE"));
}

#[test]
fn loading_twice_gives_the_same_ca() {
    let (_tmp, dir, first) = new_ca();
    let second = LocalCa::load_or_create(&dir).unwrap();
    assert_eq!(first.fingerprint_sha256(), second.fingerprint_sha256());
    assert_eq!(first.spki_sha256_base64(), second.spki_sha256_base64());
    assert_eq!(first.cert_pem(), second.cert_pem());
    assert_eq!(first.common_name(), second.common_name());
}

#[test]
fn two_fresh_dirs_give_different_cas() {
    let (_t1, _d1, a) = new_ca();
    let (_t2, _d2, b) = new_ca();
    assert_ne!(a.fingerprint_sha256(), b.fingerprint_sha256());
    assert_ne!(a.spki_sha256_base64(), b.spki_sha256_base64());
    assert_ne!(a.common_name(), b.common_name());
}

#[test]
fn regenerate_replaces_the_ca() {
    let (_tmp, dir, old) = new_ca();
    let new = LocalCa::regenerate(&dir).unwrap();
    assert_ne!(old.fingerprint_sha256(), new.fingerprint_sha256());
    assert_ne!(old.spki_sha256_base64(), new.spki_sha256_base64());
    let reloaded = LocalCa::load_or_create(&dir).unwrap();
    assert_eq!(reloaded.fingerprint_sha256(), new.fingerprint_sha256());
    // Regenerating an empty directory simply creates a CA.
    let tmp = tempfile::tempdir().unwrap();
    LocalCa::regenerate(&ca_dir(&tmp)).unwrap();
}

#[test]
fn garbage_key_is_an_error_naming_the_file_and_is_kept() {
    let (_tmp, dir, _ca) = new_ca();
    let key_path = dir.join("ca-key.pem");
    let garbage = b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    std::fs::write(&key_path, garbage).unwrap();
    let err = LocalCa::load_or_create(&dir).unwrap_err();
    assert!(matches!(err, ProxyError::Ca(_)), "{err:?}");
    assert!(
        message(&err).contains(&key_path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&key_path).unwrap(), garbage);

    // Not even PEM.
    std::fs::write(&key_path, b"\xff\xfe garbage").unwrap();
    let err = LocalCa::load_or_create(&dir).unwrap_err();
    assert!(
        message(&err).contains(&key_path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&key_path).unwrap(), b"\xff\xfe garbage");
}

#[test]
fn garbage_or_mismatched_cert_is_an_error_naming_the_file() {
    let (_tmp, dir, _ca) = new_ca();
    let cert_path = LocalCa::cert_path(&dir);
    std::fs::write(&cert_path, "not a certificate").unwrap();
    let err = LocalCa::load_or_create(&dir).unwrap_err();
    assert!(
        message(&err).contains(&cert_path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&cert_path).unwrap(),
        "not a certificate"
    );

    // Another CA's certificate next to this key.
    let (_t2, _d2, other) = new_ca();
    std::fs::write(&cert_path, other.cert_pem()).unwrap();
    let err = LocalCa::load_or_create(&dir).unwrap_err();
    assert!(
        message(&err).contains(&cert_path.display().to_string()),
        "{err}"
    );
}

#[test]
fn half_a_ca_is_an_error_not_a_new_ca() {
    let (_tmp, dir, _ca) = new_ca();
    std::fs::remove_file(LocalCa::cert_path(&dir)).unwrap();
    let err = LocalCa::load_or_create(&dir).unwrap_err();
    assert!(message(&err).contains("ca-cert.pem"), "{err}");
    assert!(dir.join("ca-key.pem").exists());
    assert!(!LocalCa::cert_path(&dir).exists());
}

#[test]
fn spki_hash_is_base64_sha256_of_the_public_key() {
    let (_tmp, dir, ca) = new_ca();
    let key_pem = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(key.subject_public_key_info()));
    assert_eq!(ca.spki_sha256_base64(), expected);
    assert_eq!(expected.len(), 44);
    // Stable across loads.
    let again = LocalCa::load_or_create(&dir).unwrap();
    assert_eq!(again.spki_sha256_base64(), expected);
}

#[test]
fn default_ca_dir_is_under_the_data_dir() {
    let dir = default_ca_dir();
    assert!(dir.ends_with("ca"), "{}", dir.display());
    assert!(dir.to_string_lossy().contains("sockscope"));
}

#[test]
fn leaves_are_cached_per_host() {
    let (_tmp, _dir, ca) = new_ca();
    let a = ca.leaf_for("example.com").unwrap();
    let b = ca.leaf_for("example.com").unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // DNS names are case-insensitive.
    assert!(Arc::ptr_eq(&a, &ca.leaf_for("EXAMPLE.com").unwrap()));
    let c = ca.leaf_for("other.example.com").unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    let ip = ca.leaf_for("127.0.0.1").unwrap();
    assert!(Arc::ptr_eq(&ip, &ca.leaf_for("127.0.0.1").unwrap()));
    let v6 = ca.leaf_for("::1").unwrap();
    assert!(Arc::ptr_eq(&v6, &ca.leaf_for("[::1]").unwrap()));
    // The leaf, then the CA (clients that allow the CA by SPKI need it sent); the key matches.
    assert_eq!(a.cert.len(), 2);
    assert_eq!(&a.cert[1], ca.cert_der());
    a.keys_match().unwrap();
}

#[test]
fn leaves_are_shared_across_threads() {
    let (_tmp, _dir, ca) = new_ca();
    let leaves: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| ca.leaf_for("concurrent.test").unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = ca.leaf_for("concurrent.test").unwrap();
    for leaf in &leaves {
        assert!(Arc::ptr_eq(leaf, &first));
    }
}

#[test]
fn hostile_sni_is_rejected() {
    let (_tmp, _dir, ca) = new_ca();
    let too_long = "a".repeat(254);
    let hostile = [
        "",
        " ",
        "exa mple.com",
        "example.com/evil",
        "evil\r\nHost: x",
        "nul\0byte",
        "émoji.example",
        "a..b",
        "..",
        "%41.example",
        "user@example.com",
        too_long.as_str(),
    ];
    for host in hostile {
        match ca.leaf_for(host) {
            Err(ProxyError::Tls(msg)) => assert!(msg.len() < 200, "{msg}"),
            other => panic!("{host:?} gave {other:?}"),
        }
    }
    // The boundary: 253 bytes is fine.
    let longest = format!("{}.{}", "a".repeat(63), "b".repeat(189));
    assert_eq!(longest.len(), 253);
    ca.leaf_for(&longest).unwrap();
    ca.leaf_for("*.example.com").unwrap();
    ca.leaf_for("_service.example-1.com").unwrap();
}

#[tokio::test]
async fn tls13_round_trip_with_dns_sni() {
    let (_tmp, dir, created) = new_ca();
    // The server uses the CA as read back from disk; the client trusts the one just created.
    let loaded = Arc::new(LocalCa::load_or_create(&dir).unwrap());
    let addr = echo_server(intercept_server_config(loaded, "localhost").unwrap()).await;
    round_trip(
        client_trusting(&created),
        addr,
        server_name("localhost").unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn tls13_round_trip_with_ip_san() {
    let (_tmp, _dir, ca) = new_ca();
    // rustls clients send no SNI for IP addresses (and rustls servers ignore IP-literal SNI),
    // so the leaf comes from the fallback host: the CONNECT target, here an IP.
    let addr = echo_server(intercept_server_config(Arc::clone(&ca), "127.0.0.1").unwrap()).await;
    round_trip(
        client_trusting(&ca),
        addr,
        server_name("127.0.0.1").unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn no_sni_uses_the_fallback_host() {
    let (_tmp, _dir, ca) = new_ca();
    let addr = echo_server(intercept_server_config(Arc::clone(&ca), "localhost").unwrap()).await;
    let mut config = (*client_trusting(&ca)).clone();
    config.enable_sni = false;
    round_trip(Arc::new(config), addr, server_name("localhost").unwrap())
        .await
        .unwrap();

    // A leaf for another name does not verify for this one.
    let addr = echo_server(intercept_server_config(Arc::clone(&ca), "example.com").unwrap()).await;
    let mut config = (*client_trusting(&ca)).clone();
    config.enable_sni = false;
    assert!(
        round_trip(Arc::new(config), addr, server_name("localhost").unwrap())
            .await
            .is_err()
    );
}

#[test]
fn intercept_config_refuses_a_bad_fallback_host() {
    let (_tmp, _dir, ca) = new_ca();
    assert!(matches!(
        intercept_server_config(ca, "bad host"),
        Err(ProxyError::Tls(_))
    ));
}

#[tokio::test]
async fn upstream_verification_follows_roots_and_insecure() {
    // An upstream whose certificate comes from a CA nobody trusts.
    let (_tmp, other_dir, other) = new_ca();
    let addr = echo_server(intercept_server_config(other, "localhost").unwrap()).await;
    let name = || server_name("localhost").unwrap();

    let strict = upstream_client_config(None, false).unwrap();
    assert_eq!(strict.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let err = round_trip(strict, addr, name()).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");

    let with_root = upstream_client_config(Some(&LocalCa::cert_path(&other_dir)), false).unwrap();
    round_trip(with_root, addr, name()).await.unwrap();

    let insecure = upstream_client_config(None, true).unwrap();
    assert_eq!(insecure.alpn_protocols, vec![b"http/1.1".to_vec()]);
    round_trip(insecure, addr, name()).await.unwrap();
}

#[test]
fn extra_root_problems_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let err = upstream_client_config(Some(&missing), false).unwrap_err();
    assert!(matches!(err, ProxyError::File { .. }), "{err:?}");
    assert!(message(&err).contains("missing.pem"), "{err}");

    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let err = upstream_client_config(Some(&empty), false).unwrap_err();
    assert!(matches!(err, ProxyError::Tls(_)), "{err:?}");
    assert!(message(&err).contains("empty.pem"), "{err}");

    // Several certificates in one file are all accepted.
    let (_t1, _d1, a) = new_ca();
    let (_t2, _d2, b) = new_ca();
    let both = tmp.path().join("both.pem");
    std::fs::write(&both, format!("{}{}", a.cert_pem(), b.cert_pem())).unwrap();
    upstream_client_config(Some(&both), false).unwrap();
}

#[test]
fn server_names_from_hosts() {
    assert!(matches!(
        server_name("example.com").unwrap(),
        ServerName::DnsName(_)
    ));
    assert!(matches!(
        server_name("127.0.0.1").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        server_name("::1").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        server_name("[::1]").unwrap(),
        ServerName::IpAddress(_)
    ));
    for bad in ["", "bad host", "a/b"] {
        assert!(
            matches!(server_name(bad), Err(ProxyError::Tls(_))),
            "{bad:?}"
        );
    }
}

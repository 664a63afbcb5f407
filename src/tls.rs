//! TLS: the rustls server configuration, the self-signed certificate of the embedded default, and
//! certificate fingerprints for the start-up banner.
//!
//! Only the *ring* provider is used (see STACK.md §5), restricted to AEAD suites over TLS 1.2 and
//! 1.3. Entra ID's provisioning client needs TLS 1.2 ECDHE with AES-GCM, so TLS 1.2 stays on.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SerialNumber,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use sha2::{Digest, Sha256};

/// File name of the self-signed certificate inside the directory given to [`ensure_self_signed`].
pub const SELF_SIGNED_CERT: &str = "cert.pem";
/// File name of the self-signed certificate's private key.
pub const SELF_SIGNED_KEY: &str = "key.pem";
/// Common name of the generated certificate.
pub const SELF_SIGNED_CN: &str = "scimd self-signed";

/// Why a certificate or key could not be loaded, generated or used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid PEM: {detail}", path.display())]
    Pem { path: PathBuf, detail: String },
    #[error("{} contains no certificate (no \"-----BEGIN CERTIFICATE-----\" block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{} contains no private key (no \"-----BEGIN PRIVATE KEY-----\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    #[error("the private key in {} is not usable: {detail}", path.display())]
    UnsupportedKey { path: PathBuf, detail: String },
    #[error("the first certificate in {} is not a valid X.509 certificate: {detail}", path.display())]
    BadCertificate { path: PathBuf, detail: String },
    #[error(
        "the private key in {} does not belong to the first certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("found {} but not {}", present.display(), missing.display())]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[source] rustls::Error),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("cannot read the operating system's random number generator: {0}")]
    Random(#[source] getrandom::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TlsError {
    /// What the operator can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            TlsError::Read { .. } => "check the path and that the scimd user may read the file",
            TlsError::Pem { .. } | TlsError::NoCertificate { .. } => {
                "cert must be a PEM file: the server certificate first, then any intermediates"
            }
            TlsError::NoPrivateKey { .. } => {
                "key must be the PEM private key of the certificate (check that cert and key are not swapped)"
            }
            TlsError::UnsupportedKey { .. } => {
                "use an unencrypted RSA (2048+ bits), ECDSA P-256/P-384 or Ed25519 key in PEM"
            }
            TlsError::BadCertificate { .. } => {
                "re-export the certificate chain as PEM, server certificate first"
            }
            TlsError::KeyMismatch { .. } => {
                "use the key the certificate was issued for; the first certificate in cert must be the server's own"
            }
            TlsError::Incomplete { .. } => {
                "restore the missing file, or remove the other one so a new pair is generated"
            }
            TlsError::Rustls(_) | TlsError::Generate(_) | TlsError::Random(_) => {
                "this is unexpected; please report it"
            }
            TlsError::Write { .. } => "check that the directory exists and is writable",
        }
    }

    /// The file at fault, if one is (for a key mismatch: the key file).
    pub fn path(&self) -> Option<&Path> {
        match self {
            TlsError::Read { path, .. }
            | TlsError::Pem { path, .. }
            | TlsError::NoCertificate { path }
            | TlsError::NoPrivateKey { path }
            | TlsError::UnsupportedKey { path, .. }
            | TlsError::BadCertificate { path, .. }
            | TlsError::Write { path, .. } => Some(path),
            TlsError::KeyMismatch { key, .. } => Some(key),
            TlsError::Incomplete { missing, .. } => Some(missing),
            TlsError::Rustls(_) | TlsError::Generate(_) | TlsError::Random(_) => None,
        }
    }
}

/// The *ring* provider restricted to AEAD cipher suites.
///
/// TLS 1.3: AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305. TLS 1.2: ECDHE (ECDSA or RSA) with
/// AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305 — Entra ID requires TLS 1.2 ECDHE-GCM.
pub fn provider() -> CryptoProvider {
    use ring::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..ring::default_provider()
    }
}

/// Builds the server configuration from a PEM certificate chain and its PEM private key.
///
/// TLS 1.2 and 1.3 only, AEAD suites only, ALPN `h2` then `http/1.1`, no client authentication.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(provider());
    let certified = load_certified_key(cert, key, &provider)?;
    build_server_config(provider, Arc::new(SingleCertAndKey::from(certified)))
}

/// Like [`server_config`], but the certificate can be replaced while the server runs (SIGHUP):
/// every handshake asks the returned [`LiveCert`] for the current pair, so a renewed certificate
/// reaches new connections while open ones keep the session they negotiated.
pub fn live_server_config(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<rustls::ServerConfig>, Arc<LiveCert>), TlsError> {
    let provider = Arc::new(provider());
    let certified = load_certified_key(cert, key, &provider)?;
    let live = Arc::new(LiveCert {
        current: ArcSwap::from_pointee(certified),
        provider: provider.clone(),
    });
    let config = build_server_config(provider, live.clone())?;
    Ok((config, live))
}

fn build_server_config(
    provider: Arc<CryptoProvider>,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server's certificate and key, swappable at run time.
///
/// rustls calls [`ResolvesServerCert::resolve`] once per handshake; an `ArcSwap` makes that read
/// lock-free, so a reload never stalls handshakes in progress.
pub struct LiveCert {
    current: ArcSwap<CertifiedKey>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for LiveCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCert")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl LiveCert {
    /// Loads and checks a new pair, without installing it: a reload prepares every part first
    /// and installs them only when all succeeded.
    pub fn load(&self, cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
        load_certified_key(cert, key, &self.provider).map(Arc::new)
    }

    /// Installs a pair from [`LiveCert::load`]: the next handshake presents it.
    pub fn install(&self, certified: Arc<CertifiedKey>) {
        self.current.store(certified);
    }

    /// SHA-256 fingerprint (`AB:CD:…`) of the certificate new handshakes present.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.current.load())
    }
}

/// SHA-256 fingerprint (`AB:CD:…`) of a loaded pair's server certificate.
pub fn fingerprint_of(certified: &CertifiedKey) -> String {
    certified
        .end_entity_cert()
        .map(|der| fingerprint_der(der.as_ref()))
        .unwrap_or_default()
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Checks that `cert` and `key` load and belong together, without building a server config.
pub fn check_pair(cert: &Path, key: &Path) -> Result<(), TlsError> {
    load_certified_key(cert, key, &provider()).map(|_| ())
}

fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_cert_chain(cert)?;
    let key_der = read_private_key(key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::UnsupportedKey {
            path: key.to_path_buf(),
            detail: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // The provider cannot tell for this key type: the handshake will be the judge.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        Err(e) => Err(TlsError::BadCertificate {
            path: cert.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Reads every certificate of a PEM file, in order.
pub fn read_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        other => pem_error(path, other),
    })
}

/// SHA-256 of the first certificate's DER encoding, as uppercase hex pairs joined by colons.
pub fn fingerprint_sha256(cert: &Path) -> Result<String, TlsError> {
    let chain = read_cert_chain(cert)?;
    let first = chain.first().ok_or_else(|| TlsError::NoCertificate {
        path: cert.to_path_buf(),
    })?;
    Ok(fingerprint_der(first.as_ref()))
}

fn fingerprint_der(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// Returns `dir/cert.pem` and `dir/key.pem`, generating a self-signed pair first when neither
/// exists (`created` is then true). The directory is created (mode 0700) when missing.
///
/// The certificate is ECDSA P-256, valid for about ten years, for `localhost`, `127.0.0.1`, `::1`
/// and this machine's host name. If only one of the two files exists, nothing is overwritten:
/// it may be the operator's own certificate.
pub fn ensure_self_signed(dir: &Path) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok((cert, key, false)),
        (true, false) => {
            return Err(TlsError::Incomplete {
                present: cert,
                missing: key,
            })
        }
        (false, true) => {
            return Err(TlsError::Incomplete {
                present: key,
                missing: cert,
            })
        }
        (false, false) => {}
    }
    create_private_dir(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;

    let (cert_pem, key_pem) = generate_self_signed()?;
    // Key first: a crash in between leaves a key without a certificate, which is refused at the
    // next start with a message that says what to remove.
    write_atomically(&key, key_pem.as_bytes(), 0o600)?;
    write_atomically(&cert, cert_pem.as_bytes(), 0o644)?;
    Ok((cert, key, true))
}

/// Generates a self-signed certificate and its key, both PEM.
fn generate_self_signed() -> Result<(String, String), TlsError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = machine_hostname() {
        if host != "localhost" {
            names.push(host);
        }
    }
    let mut params = CertificateParams::new(names).map_err(TlsError::Generate)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, SELF_SIGNED_CN);
    let now = time::OffsetDateTime::now_utc();
    // Backdated a day so a client with a slightly slow clock accepts it.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // A random serial: clients cache certificates by issuer + serial, and every generated
    // certificate has the same issuer name.
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(TlsError::Random)?;
    serial[0] &= 0x7f; // keep it positive (DER INTEGER)
    params.serial_number = Some(SerialNumber::from_slice(&serial));

    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let cert = params.self_signed(&key_pair).map_err(TlsError::Generate)?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

/// This machine's host name, if it is a valid DNS name: from `/etc/hostname`, else
/// `/proc/sys/kernel/hostname`, else `$HOSTNAME`.
pub fn machine_hostname() -> Option<String> {
    let candidates = [
        std::fs::read_to_string("/etc/hostname").ok(),
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        std::env::var("HOSTNAME").ok(),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_ascii_lowercase())
        .find(|s| is_dns_name(s))
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Creates `dir` and its missing parents; a directory created here gets mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `contents` to a temporary file next to `path` with `mode`, syncs it, and renames it over
/// `path`, so a reader never sees a half-written file.
pub(crate) fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    write_atomically_io(path, contents, mode, None).map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Like [`write_atomically`], for callers with their own error type. With `owner` (uid, gid), the
/// new file gets that owner when the process may set it (e.g. root editing a file that belongs to
/// the scimd user), so that replacing a file does not lock its owner out of it.
pub(crate) fn write_atomically_io(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.as_deref().unwrap_or("scimd"),
        std::process::id()
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // The mode given to open() is filtered by the umask; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                // Best effort: only root may give a file away, and a non-root caller editing its
                // own file needs nothing here.
                let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
            }
        }
        #[cfg(not(unix))]
        let _ = (mode, owner);
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cert_loads_into_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let (cert, key, created) = ensure_self_signed(&tls_dir).unwrap();
        assert!(created);
        let config = server_config(&cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&tls_dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn existing_pair_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _, created) = ensure_self_signed(dir.path()).unwrap();
        assert!(created);
        let before = fingerprint_sha256(&cert).unwrap();
        let (cert2, _, created2) = ensure_self_signed(dir.path()).unwrap();
        assert!(!created2);
        assert_eq!(cert, cert2);
        assert_eq!(before, fingerprint_sha256(&cert2).unwrap());
    }

    #[test]
    fn half_a_pair_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SELF_SIGNED_CERT), "mine").unwrap();
        let err = ensure_self_signed(dir.path()).unwrap_err();
        assert!(matches!(err, TlsError::Incomplete { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SELF_SIGNED_CERT)).unwrap(),
            "mine"
        );
    }

    #[test]
    fn mismatched_key_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (cert_a, _, _) = ensure_self_signed(a.path()).unwrap();
        let (_, key_b, _) = ensure_self_signed(b.path()).unwrap();
        let err = server_config(&cert_a, &key_b).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not belong"));
        assert!(check_pair(&cert_a, &key_b).is_err());
    }

    #[test]
    fn swapped_or_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = ensure_self_signed(dir.path()).unwrap();
        let err = server_config(&key, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert_eq!(err.path(), Some(key.as_path()));
        let missing = dir.path().join("nope.pem");
        let err = server_config(&cert, &missing).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }));
        assert!(err.to_string().contains("nope.pem"));
        let err = check_pair(&cert, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
        assert_eq!(err.path(), Some(cert.as_path()));
    }

    #[test]
    fn garbage_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key, _) = ensure_self_signed(dir.path()).unwrap();
        let bogus = dir.path().join("bogus.pem");
        std::fs::write(
            &bogus,
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = check_pair(&bogus, &key).unwrap_err();
        assert!(matches!(err, TlsError::BadCertificate { .. }), "{err}");
    }

    #[test]
    fn fingerprint_format() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _, _) = ensure_self_signed(dir.path()).unwrap();
        let fp = fingerprint_sha256(&cert).unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        for (i, part) in fp.split(':').enumerate() {
            assert!(i < 32);
            assert_eq!(part.len(), 2);
            assert!(part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        }
        assert_eq!(fingerprint_der(b"abc").split(':').count(), 32);
        assert!(fingerprint_der(b"abc").starts_with("BA:78:16:BF"));
    }

    #[test]
    fn provider_offers_only_aead_suites() {
        let p = provider();
        assert_eq!(p.cipher_suites.len(), 9);
        for s in &p.cipher_suites {
            let name = format!("{:?}", s.suite());
            assert!(
                name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
                "{name}"
            );
        }
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("scim-01.example.com"));
        assert!(!is_dns_name(""));
        assert!(!is_dns_name("bad_host"));
        assert!(!is_dns_name("-x"));
        assert!(!is_dns_name("a..b"));
    }

    /// A real handshake in memory: a client trusting the self-signed certificate connects over
    /// TLS 1.3 and over TLS 1.2 (as Entra may), and ALPN picks h2.
    #[test]
    fn clients_complete_handshakes_over_tls12_and_tls13() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = ensure_self_signed(dir.path()).unwrap();
        let server_config = server_config(&cert, &key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in read_cert_chain(&cert).unwrap() {
            roots.add(c).unwrap();
        }
        for (version, expected) in [
            (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
            (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        ] {
            let mut client_config =
                rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
                    .with_protocol_versions(&[version])
                    .unwrap()
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth();
            client_config.alpn_protocols = vec![b"h2".to_vec()];
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
            let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
            for _ in 0..10 {
                if !client.is_handshaking() && !server.is_handshaking() {
                    break;
                }
                let mut buf = Vec::new();
                client.write_tls(&mut buf).unwrap();
                server.read_tls(&mut buf.as_slice()).unwrap();
                server.process_new_packets().unwrap();
                let mut buf = Vec::new();
                server.write_tls(&mut buf).unwrap();
                client.read_tls(&mut buf.as_slice()).unwrap();
                client.process_new_packets().unwrap();
            }
            assert!(!client.is_handshaking());
            assert_eq!(client.protocol_version(), Some(expected));
            assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));
        }
    }

    /// The end-entity certificate a fresh client is shown by `server_config`.
    fn presented_fingerprint(server_config: &Arc<rustls::ServerConfig>, cert: &Path) -> String {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_cert_chain(cert).unwrap() {
            roots.add(c).unwrap();
        }
        let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
        let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        let peer = client.peer_certificates().unwrap();
        fingerprint_der(peer[0].as_ref())
    }

    #[test]
    fn a_live_certificate_is_replaced_for_the_next_handshake() {
        let old_dir = tempfile::tempdir().unwrap();
        let new_dir = tempfile::tempdir().unwrap();
        let (cert1, key1, _) = ensure_self_signed(old_dir.path()).unwrap();
        let (cert2, key2, _) = ensure_self_signed(new_dir.path()).unwrap();
        let (config, live) = live_server_config(&cert1, &key1).unwrap();
        let fp1 = fingerprint_sha256(&cert1).unwrap();
        let fp2 = fingerprint_sha256(&cert2).unwrap();
        assert_ne!(fp1, fp2);
        assert_eq!(live.fingerprint(), fp1);
        assert_eq!(presented_fingerprint(&config, &cert1), fp1);

        // A mismatched pair is refused at load, and nothing changes.
        assert!(matches!(
            live.load(&cert2, &key1).unwrap_err(),
            TlsError::KeyMismatch { .. }
        ));
        assert_eq!(presented_fingerprint(&config, &cert1), fp1);

        live.install(live.load(&cert2, &key2).unwrap());
        assert_eq!(live.fingerprint(), fp2);
        assert_eq!(presented_fingerprint(&config, &cert2), fp2);
    }
}

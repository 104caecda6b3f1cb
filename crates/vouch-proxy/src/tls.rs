//! TLS for the listeners (`[server.tls]`): rustls, TLS 1.2 and 1.3 only,
//! HTTP/2 and HTTP/1.1 by ALPN, a PEM certificate chain and key (ECDSA or
//! RSA) that are checked at startup and reloaded without a restart.
//!
//! At startup the certificate must be usable as served: the key must match
//! it, it must be valid now, and it must name `server.public_host` when
//! one is set. docker and containerd refuse such a certificate anyway;
//! failing at startup says why, once, instead of every client failing.
//!
//! Reloading: on SIGHUP, and when the files' contents change (checked
//! every [`RELOAD_CHECK_INTERVAL`]: cert-manager and Kubernetes secrets
//! replace files in place or swap symlinks), the pair is loaded and checked
//! again; a pair that fails the checks is logged and the served one kept.
//! New handshakes get the new certificate; open connections keep theirs.
//!
//! The ops listener can require client certificates from a CA of the
//! operator's (`ops_client_ca_file`), so `/metrics` and `/healthz` can be
//! exposed beyond a private network.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};

/// How often the certificate and key files are checked for new contents.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// The largest certificate-chain, key or CA file read: a chain of a few
/// certificates is a few KiB.
pub const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

/// The files of `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// The private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) the ops listener requires client certificates
    /// from; `None`: the ops listener stays plain HTTP.
    pub ops_client_ca_file: Option<PathBuf>,
}

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_PEM_FILE_BYTES`].
    #[error("{path} is larger than {MAX_PEM_FILE_BYTES} bytes: not a PEM certificate or key")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file holds no PEM certificate.
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A file holds no PEM private key.
    #[error("{path} holds no PEM private key (PKCS#8, SEC1 or PKCS#1)")]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key is of a kind rustls cannot sign with.
    #[error("the key in {path} cannot be used: {source}")]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The key is not the certificate's.
    #[error(
        "the key in {key} does not belong to the certificate in {cert} (their public keys differ)"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The leaf certificate cannot be parsed.
    #[error("the certificate in {path} cannot be parsed: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The leaf certificate is not valid now.
    #[error(
        "the certificate in {path} is valid from {not_before} to {not_after} (UTC); it is now {now}"
    )]
    NotValidNow {
        /// The file.
        path: PathBuf,
        /// Its notBefore.
        not_before: String,
        /// Its notAfter.
        not_after: String,
        /// The time of the check.
        now: String,
    },
    /// The leaf certificate does not name the public host.
    #[error(
        "the certificate in {path} is not valid for server.public_host {host} (its names: {names})"
    )]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The host clients use.
        host: String,
        /// The DNS names and IP addresses it does name.
        names: String,
    },
    /// The client CA file cannot be used.
    #[error("the client CA certificates in {path} cannot be used: {reason}")]
    BadClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Loads and checks the certificate chain and key: the key matches, the
/// leaf is valid at `now` and names `public_host` (without its port) when
/// one is given.
pub fn load_certified_key(
    files: &TlsFiles,
    public_host: Option<&str>,
    now: SystemTime,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = read_pem_file(&files.cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first().cloned() else {
        return Err(TlsError::NoCertificate {
            path: files.cert_file.clone(),
        });
    };
    let key_pem = read_pem_file(&files.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: files.key_file.clone(),
    })?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::UnusableKey {
            path: files.key_file.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    if let Err(rustls::Error::InconsistentKeys(_)) = certified.keys_match() {
        return Err(TlsError::KeyMismatch {
            cert: files.cert_file.clone(),
            key: files.key_file.clone(),
        });
    }
    check_validity(&files.cert_file, &leaf, now)?;
    if let Some(host) = public_host {
        check_name(&files.cert_file, &leaf, host)?;
    }
    Ok(Arc::new(certified))
}

/// The crypto provider the proxy serves TLS with (the one reqwest uses for
/// upstreams too).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a PEM file of at most [`MAX_PEM_FILE_BYTES`].
fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read as _;
    let read = |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// The leaf's validity window must contain `now`.
fn check_validity(path: &Path, leaf: &CertificateDer<'_>, now: SystemTime) -> Result<(), TlsError> {
    use x509_cert::der::Decode as _;
    let cert = x509_cert::Certificate::from_der(leaf).map_err(|e| TlsError::BadCertificate {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_system_time();
    let not_after = validity.not_after.to_system_time();
    if now < not_before || now > not_after {
        let show = |t: SystemTime| {
            jiff::Timestamp::try_from(t).map_or_else(|_| "?".to_string(), |t| t.to_string())
        };
        return Err(TlsError::NotValidNow {
            path: path.to_path_buf(),
            not_before: show(not_before),
            not_after: show(not_after),
            now: show(now),
        });
    }
    Ok(())
}

/// The leaf must be valid for `host` (`name`, `name:port`, an IP address
/// or `[v6]:port`), as a client checks it.
fn check_name(path: &Path, leaf: &CertificateDer<'_>, host: &str) -> Result<(), TlsError> {
    let name = host_without_port(host);
    let bad = |reason: String| TlsError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(|e| bad(e.to_string()))?;
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|_| bad(format!("server.public_host {host:?} is not a host name")))?;
    if end_entity
        .verify_is_valid_for_subject_name(&server_name)
        .is_ok()
    {
        return Ok(());
    }
    let names = subject_alt_names(leaf);
    Err(TlsError::NameMismatch {
        path: path.to_path_buf(),
        host: host.to_string(),
        names: if names.is_empty() {
            "no DNS names".to_string()
        } else {
            names.join(", ")
        },
    })
}

/// The DNS names and IP addresses in the leaf's subjectAltName, for the
/// message of a name mismatch.
fn subject_alt_names(leaf: &CertificateDer<'_>) -> Vec<String> {
    use x509_cert::der::Decode as _;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let Ok(cert) = x509_cert::Certificate::from_der(leaf) else {
        return Vec::new();
    };
    let Ok(Some((_, SubjectAltName(names)))) = cert.tbs_certificate.get::<SubjectAltName>() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DnsName(dns) => Some(dns.to_string()),
            GeneralName::IpAddress(ip) => match ip.as_bytes() {
                &[a, b, c, d] => Some(std::net::Ipv4Addr::new(a, b, c, d).to_string()),
                bytes => <[u8; 16]>::try_from(bytes)
                    .ok()
                    .map(|v6| std::net::Ipv6Addr::from(v6).to_string()),
            },
            _ => None,
        })
        .collect()
}

/// `registry.example.com:443` → `registry.example.com`; `[::1]:5000` → `::1`.
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(ip, _)| ip);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The certificate the listeners serve, swapped on reload.
#[derive(Debug)]
pub struct CertificateSlot {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateSlot {
    /// A slot serving `key`.
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(key),
        })
    }

    /// Serves `key` from the next handshake on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The TLS acceptors of both listeners.
#[derive(Clone)]
pub struct ServerTls {
    /// For the registry listener.
    pub main: tokio_rustls::TlsAcceptor,
    /// For the ops listener, when it requires client certificates.
    pub ops: Option<tokio_rustls::TlsAcceptor>,
}

/// Builds the acceptors serving the certificate in `slot`: TLS 1.2 and 1.3
/// (rustls supports nothing older), ALPN `h2` then `http/1.1`.
pub fn acceptors(slot: &Arc<CertificateSlot>, files: &TlsFiles) -> Result<ServerTls, TlsError> {
    let config = |verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>| {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the provider supports TLS 1.2 and 1.3");
        let builder = match verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(slot.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    };
    let ops = match &files.ops_client_ca_file {
        None => None,
        Some(path) => {
            let bad = |reason: String| TlsError::BadClientCa {
                path: path.clone(),
                reason,
            };
            let pem = read_pem_file(path)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| bad(e.to_string()))?;
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCertificate { path: path.clone() });
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Some(config(Some(verifier)))
        }
    };
    Ok(ServerTls {
        main: config(None),
        ops,
    })
}

/// Reloads the certificate into `slot` on SIGHUP and whenever the files'
/// contents change; runs until the process ends. A pair that fails
/// [`load_certified_key`] is logged and the served one kept.
pub async fn reload_on_change(
    slot: Arc<CertificateSlot>,
    files: TlsFiles,
    public_host: Option<String>,
) {
    let mut seen = fingerprint(&files);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let cause = tokio::select! {
            () = signalled => "SIGHUP",
            () = tokio::time::sleep(RELOAD_CHECK_INTERVAL) => {
                let now = fingerprint(&files);
                if now == seen {
                    continue;
                }
                seen = now;
                "the files changed"
            }
        };
        match load_certified_key(&files, public_host.as_deref(), SystemTime::now()) {
            Ok(key) => {
                slot.replace(key);
                tracing::info!(cause, cert = %files.cert_file.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(cause, error = %e, "TLS certificate not reloaded; still serving the previous one");
            }
        }
    }
}

/// A digest of both files' contents (`None` for one that cannot be read).
fn fingerprint(files: &TlsFiles) -> [Option<[u8; 32]>; 2] {
    let digest = |path: &Path| {
        read_pem_file(path)
            .ok()
            .map(|bytes| Sha256::digest(bytes).into())
    };
    [digest(&files.cert_file), digest(&files.key_file)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_not_part_of_the_name_checked() {
        assert_eq!(
            host_without_port("registry.example.com:443"),
            "registry.example.com"
        );
        assert_eq!(
            host_without_port("registry.example.com"),
            "registry.example.com"
        );
        assert_eq!(host_without_port("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:5000"), "::1");
        assert_eq!(host_without_port("::1"), "::1");
    }
}

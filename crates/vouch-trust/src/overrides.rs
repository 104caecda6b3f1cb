//! cosign's single-key overrides: `SIGSTORE_ROOT_FILE`,
//! `SIGSTORE_REKOR_PUBLIC_KEY`, `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE` and
//! `SIGSTORE_TSA_CERTIFICATE_FILE` (SPEC.md §4.4 and §6.1).
//!
//! cosign reads them when no `--trusted-root` is given. Each one *replaces*
//! one kind of trust material — the Fulcio CAs, the Rekor keys, the CT log
//! keys, the timestamp authorities — and the kinds not named still come from
//! Sigstore's TUF repository. vouch does the same: [`apply`] takes the trusted
//! root vouch would otherwise use (TUF, its cache or the embedded snapshot)
//! and swaps in one section per override, so verification runs through the
//! same checks as for any `trusted_root.json`.
//!
//! As in cosign, a key from the environment has no validity window (it is
//! valid from the Unix epoch on) and a certificate none beyond its own and
//! its issuers'. sigstore-verify makes *every* certificate of a trusted
//! root's CA a trust anchor and does not check an anchor's validity, so the
//! root file is not passed on as one chain: each certificate becomes its own
//! CA with its validity (within its issuers') as `validFor`, and only
//! certificates cosign would use are accepted — self-signed roots, and CA
//! certificates whose signature chains to one of them through the file. A TSA
//! file must run leaf first, each certificate signed by the next, root last.
//! Stricter than cosign, which ignores what does not fit: a key file must
//! hold exactly one `PUBLIC KEY` block (cosign silently uses the first), and
//! a certificate that does not chain is refused rather than skipped.
//!
//! Pure: bytes in, `trusted_root.json` bytes out; the caller reads the files.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::name::Name;

/// Upper bound on an override file: a PEM key is under 1 KiB and a CA chain
/// a few KiB; 256 KiB refuses anything that is clearly not one.
pub const MAX_OVERRIDE_FILE_SIZE: u64 = 256 * 1024;

/// Start of the validity window given to a log key from the environment:
/// cosign gives such a key none (status `Active`), and a trusted root needs a
/// start.
const OPEN_WINDOW_START: &str = "1970-01-01T00:00:00Z";

/// A trusted root with nothing in it, for [`crate::TrustSource::OverridesOnly`].
pub const EMPTY_TRUSTED_ROOT: &str = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#;

/// Whether `kinds` name every part keyless verification needs (Fulcio CAs,
/// Rekor keys, CT log keys). Then, as in cosign, nothing else is fetched:
/// the timestamp authorities are only those of `SIGSTORE_TSA_CERTIFICATE_FILE`.
pub fn covers_keyless(kinds: &[OverrideKind]) -> bool {
    [
        OverrideKind::FulcioRoots,
        OverrideKind::RekorKey,
        OverrideKind::CtLogKey,
    ]
    .iter()
    .all(|needed| kinds.contains(needed))
}

/// The four kinds of override, each named by cosign's environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverrideKind {
    /// `SIGSTORE_ROOT_FILE`: PEM Fulcio root (and intermediate) certificates.
    FulcioRoots,
    /// `SIGSTORE_REKOR_PUBLIC_KEY`: the PEM public key of the Rekor log.
    RekorKey,
    /// `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`: the PEM public key of the CT log.
    CtLogKey,
    /// `SIGSTORE_TSA_CERTIFICATE_FILE`: the PEM chain of a timestamp
    /// authority (leaf first, root last).
    TsaChain,
}

impl OverrideKind {
    /// Every kind, in the order cosign documents them.
    pub const ALL: [Self; 4] = [
        Self::FulcioRoots,
        Self::RekorKey,
        Self::CtLogKey,
        Self::TsaChain,
    ];

    /// The environment variable cosign reads for this kind.
    pub fn variable(self) -> &'static str {
        match self {
            Self::FulcioRoots => "SIGSTORE_ROOT_FILE",
            Self::RekorKey => "SIGSTORE_REKOR_PUBLIC_KEY",
            Self::CtLogKey => "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            Self::TsaChain => "SIGSTORE_TSA_CERTIFICATE_FILE",
        }
    }

    /// What the override replaces, for messages.
    pub fn replaces(self) -> &'static str {
        match self {
            Self::FulcioRoots => "Fulcio certificate authorities",
            Self::RekorKey => "Rekor transparency log keys",
            Self::CtLogKey => "certificate transparency log keys",
            Self::TsaChain => "timestamp authorities",
        }
    }

    /// The `trusted_root.json` field the override replaces.
    fn section(self) -> &'static str {
        match self {
            Self::FulcioRoots => "certificateAuthorities",
            Self::RekorKey => "tlogs",
            Self::CtLogKey => "ctlogs",
            Self::TsaChain => "timestampAuthorities",
        }
    }
}

impl fmt::Display for OverrideKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.variable())
    }
}

/// Why an override file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {problem}")]
pub struct OverrideError {
    /// Which override.
    pub kind: OverrideKind,
    /// What was expected and what was found.
    pub problem: OverrideProblem,
}

/// What is wrong with an override file (or the root it amends).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideProblem {
    /// The trusted root to amend is not JSON.
    #[error("the trusted root to amend is not JSON: {detail}")]
    RootNotJson {
        /// The parser's message.
        detail: String,
    },
    /// The trusted root to amend is JSON but not an object.
    #[error("the trusted root to amend is not a JSON object")]
    RootNotObject,
    /// The file is not PEM.
    #[error("not PEM: {detail}")]
    NotPem {
        /// The parser's message.
        detail: String,
    },
    /// A log key file holds another number of PEM blocks than one.
    #[error("expected one PEM `PUBLIC KEY` block, found {found} blocks")]
    KeyBlockCount {
        /// How many blocks it holds.
        found: usize,
    },
    /// A log key file's one block is not a public key.
    #[error("expected a PEM `PUBLIC KEY` block, found `{tag}`")]
    NotPublicKey {
        /// The block's label.
        tag: String,
    },
    /// The public key cannot be parsed, or is of an unsupported type.
    #[error("not a supported SubjectPublicKeyInfo: {detail}")]
    UnsupportedKey {
        /// The parser's message.
        detail: String,
    },
    /// The key is of a type no transparency log signs with.
    #[error("{algorithm} key cannot sign a transparency log")]
    NotALogKey {
        /// The key's algorithm, in words.
        algorithm: &'static str,
    },
    /// A certificate file holds no PEM block.
    #[error("no PEM `CERTIFICATE` block")]
    NoCertificate,
    /// A block of a certificate file is not a certificate.
    #[error("block {block}: expected a PEM `CERTIFICATE`, found `{tag}`")]
    NotCertificateBlock {
        /// Its position, from 1.
        block: usize,
        /// Its label.
        tag: String,
    },
    /// A certificate block does not parse.
    #[error("block {block}: not an X.509 certificate: {detail}")]
    MalformedCertificate {
        /// Its position, from 1.
        block: usize,
        /// The parser's message.
        detail: String,
    },
    /// A Fulcio roots file without a self-signed root.
    #[error(
        "expected at least one self-signed root certificate, found {found} certificate(s), none \
         self-signed"
    )]
    NoSelfSignedRoot {
        /// How many certificates it holds.
        found: usize,
    },
    /// A CA certificate of a Fulcio roots file that does not chain to one
    /// of its roots; cosign would never use it.
    #[error(
        "certificate {certificate} ({subject}) is a CA certificate not signed by a root (or a CA \
         chaining to one) in this file; cosign would not use it, so vouch refuses the file"
    )]
    Unchained {
        /// Its position, from 1.
        certificate: usize,
        /// Its subject.
        subject: String,
    },
    /// A certificate of a Fulcio roots file that is not a CA certificate
    /// (a leaf); cosign would never use it.
    #[error(
        "certificate {certificate} ({subject}) is not a CA certificate; cosign would not use it, \
         so vouch refuses the file"
    )]
    NotCa {
        /// Its position, from 1.
        certificate: usize,
        /// Its subject.
        subject: String,
    },
    /// A TSA chain that does not end in a self-signed root.
    #[error(
        "expected the chain leaf first and a self-signed root last; certificate {certificate} \
         ({subject}) is not self-signed"
    )]
    TsaChainUnrooted {
        /// The last certificate's position, from 1.
        certificate: usize,
        /// Its subject.
        subject: String,
    },
    /// A TSA chain certificate not signed by the CA after it.
    #[error(
        "expected each certificate signed by the next, a CA; certificate {certificate} \
         ({subject}) is not signed by certificate {} ({issuer})", certificate + 1
    )]
    TsaChainBroken {
        /// The certificate's position, from 1.
        certificate: usize,
        /// Its subject.
        subject: String,
        /// The next certificate's subject.
        issuer: String,
    },
}

/// One override: its kind, where it came from (shown in `vouch trust show`)
/// and the file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Override<'a> {
    /// Which section it replaces.
    pub kind: OverrideKind,
    /// Where it came from, e.g. the file's path.
    pub origin: &'a str,
    /// The PEM file's contents.
    pub pem: &'a [u8],
}

/// Returns `trusted_root` with one section replaced per override. The result
/// still has to pass [`vouch_verify::TrustedMaterial::from_json`].
pub fn apply(trusted_root: &[u8], overrides: &[Override<'_>]) -> Result<Vec<u8>, OverrideError> {
    let not_amendable = |problem| OverrideError {
        kind: overrides
            .first()
            .map_or(OverrideKind::FulcioRoots, |o| o.kind),
        problem,
    };
    let mut root: Value = serde_json::from_slice(trusted_root).map_err(|e| {
        not_amendable(OverrideProblem::RootNotJson {
            detail: e.to_string(),
        })
    })?;
    if !root.is_object() {
        return Err(not_amendable(OverrideProblem::RootNotObject));
    }
    for o in overrides {
        root[o.kind.section()] = Value::Array(section_entries(o)?);
    }
    Ok(serde_json::to_vec(&root).expect("a JSON value serializes"))
}

/// The `trusted_root.json` entries an override stands for.
fn section_entries(o: &Override<'_>) -> Result<Vec<Value>, OverrideError> {
    let fail = |problem| OverrideError {
        kind: o.kind,
        problem,
    };
    let blocks = pem::parse_many(o.pem).map_err(|e| {
        fail(OverrideProblem::NotPem {
            detail: e.to_string(),
        })
    })?;
    match o.kind {
        OverrideKind::RekorKey | OverrideKind::CtLogKey => {
            let [block] = blocks.as_slice() else {
                return Err(fail(OverrideProblem::KeyBlockCount {
                    found: blocks.len(),
                }));
            };
            if block.tag() != "PUBLIC KEY" {
                return Err(fail(OverrideProblem::NotPublicKey {
                    tag: block.tag().into(),
                }));
            }
            Ok(vec![log_entry(o.origin, block.contents()).map_err(fail)?])
        }
        OverrideKind::FulcioRoots => {
            fulcio_entries(o.origin, &certificates(&blocks).map_err(fail)?).map_err(fail)
        }
        OverrideKind::TsaChain => Ok(vec![
            tsa_entry(o.origin, &certificates(&blocks).map_err(fail)?).map_err(fail)?,
        ]),
    }
}

/// A transparency or CT log entry for a PKIX public key.
fn log_entry(origin: &str, spki: &[u8]) -> Result<Value, OverrideProblem> {
    use sigstore_crypto::KeyAlgorithm as K;
    let key = sigstore_types::DerPublicKey::new(spki.to_vec());
    let details = match K::from_spki(&key) {
        Ok(K::EcdsaP256) => "PKIX_ECDSA_P256_SHA_256",
        Ok(K::EcdsaP384) => "PKIX_ECDSA_P384_SHA_384",
        Ok(K::Ed25519) => "PKIX_ED25519",
        Ok(K::Rsa) => "PKIX_RSA_PKCS1V15_2048_SHA256",
        Ok(other) => {
            return Err(OverrideProblem::NotALogKey {
                algorithm: match other {
                    K::EcdsaP521 => "an ECDSA P-521",
                    K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => "an ML-DSA",
                    _ => "this kind of",
                },
            });
        }
        Err(e) => {
            return Err(OverrideProblem::UnsupportedKey {
                detail: e.to_string(),
            });
        }
    };
    Ok(json!({
        "baseUrl": origin,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": BASE64.encode(spki),
            "keyDetails": details,
            "validFor": { "start": OPEN_WINDOW_START },
        },
        "logId": { "keyId": BASE64.encode(Sha256::digest(spki)) },
    }))
}

/// A parsed certificate and its DER.
struct Cert {
    der: Vec<u8>,
    cert: Certificate,
    self_signed: bool,
    is_ca: bool,
    /// `notBefore` and `notAfter`.
    validity: (jiff::Timestamp, jiff::Timestamp),
}

impl Cert {
    fn subject(&self) -> &Name {
        &self.cert.tbs_certificate.subject
    }
}

/// A certificate time (the epoch if out of range).
fn timestamp(time: x509_cert::time::Time) -> jiff::Timestamp {
    let secs = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or_default();
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// A `validFor` window.
fn window((start, end): (jiff::Timestamp, jiff::Timestamp)) -> Value {
    json!({ "start": start.to_string(), "end": end.to_string() })
}

/// The overlap of two validity windows.
fn overlap(
    a: (jiff::Timestamp, jiff::Timestamp),
    b: (jiff::Timestamp, jiff::Timestamp),
) -> (jiff::Timestamp, jiff::Timestamp) {
    (a.0.max(b.0), a.1.min(b.1))
}

fn certificates(blocks: &[pem::Pem]) -> Result<Vec<Cert>, OverrideProblem> {
    if blocks.is_empty() {
        return Err(OverrideProblem::NoCertificate);
    }
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            if block.tag() != "CERTIFICATE" {
                return Err(OverrideProblem::NotCertificateBlock {
                    block: i + 1,
                    tag: block.tag().into(),
                });
            }
            let cert = Certificate::from_der(block.contents()).map_err(|e| {
                OverrideProblem::MalformedCertificate {
                    block: i + 1,
                    detail: e.to_string(),
                }
            })?;
            let tbs = &cert.tbs_certificate;
            Ok(Cert {
                der: block.contents().to_vec(),
                self_signed: tbs.subject == tbs.issuer,
                is_ca: is_ca(&cert),
                validity: (
                    timestamp(tbs.validity.not_before),
                    timestamp(tbs.validity.not_after),
                ),
                cert,
            })
        })
        .collect()
}

/// Whether the certificate says it is a CA (basicConstraints cA=TRUE).
fn is_ca(cert: &Certificate) -> bool {
    use x509_cert::ext::pkix::BasicConstraints;
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|ext| ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .any(|ext| BasicConstraints::from_der(ext.extn_value.as_bytes()).is_ok_and(|b| b.ca))
}

/// The certificate's own TBS bytes: the first element inside its outer
/// SEQUENCE, exactly as encoded (a re-encoding could differ from what was
/// signed).
fn tbs_bytes(der: &[u8]) -> Option<&[u8]> {
    use x509_cert::der::{Decode as _, Reader as _, SliceReader, asn1::AnyRef};
    let outer = AnyRef::from_der(der).ok()?;
    SliceReader::new(outer.value()).ok()?.tlv_bytes().ok()
}

/// Whether `child` is signed by `issuer`'s key (names matching too). The
/// signature is checked over the certificate's own TBS bytes, not a
/// re-encoding.
fn signed_by(child: &Cert, issuer: &Cert) -> bool {
    use sigstore_crypto::{KeyAlgorithm as K, SigningScheme as S};
    use x509_cert::der::Encode as _;
    if child.cert.tbs_certificate.issuer != *issuer.subject() {
        return false;
    }
    let Some(tbs) = tbs_bytes(&child.der) else {
        return false;
    };
    let Ok(spki) = issuer.cert.tbs_certificate.subject_public_key_info.to_der() else {
        return false;
    };
    let key = sigstore_types::DerPublicKey::new(spki);
    let Ok(algorithm) = K::from_spki(&key) else {
        return false;
    };
    let scheme = match (
        child.cert.signature_algorithm.oid.to_string().as_str(),
        algorithm,
    ) {
        ("1.2.840.10045.4.3.2", K::EcdsaP256) => S::EcdsaP256Sha256,
        ("1.2.840.10045.4.3.3", K::EcdsaP256) => S::EcdsaP256Sha384,
        ("1.2.840.10045.4.3.2", K::EcdsaP384) => S::EcdsaP384Sha256,
        ("1.2.840.10045.4.3.3", K::EcdsaP384) => S::EcdsaP384Sha384,
        ("1.3.101.112", K::Ed25519) => S::Ed25519,
        ("1.2.840.113549.1.1.11", K::Rsa) => S::RsaPkcs1Sha256,
        ("1.2.840.113549.1.1.12", K::Rsa) => S::RsaPkcs1Sha384,
        ("1.2.840.113549.1.1.13", K::Rsa) => S::RsaPkcs1Sha512,
        _ => return false,
    };
    let Some(signature) = child.cert.signature.as_bytes() else {
        return false;
    };
    let signature = sigstore_types::SignatureBytes::new(signature.to_vec());
    sigstore_crypto::verify_signature(&key, tbs, &signature, scheme).is_ok()
}

/// One CA per certificate, as cosign trusts them: every self-signed root,
/// and every CA certificate that chains to one of them through the file's
/// certificates. Each gets its own `validFor`: its validity within its
/// issuers' (sigstore-verify makes every listed certificate a trust anchor,
/// and does not check an anchor's own validity). A certificate that does not
/// chain to a root of the file would be ignored by cosign; vouch refuses the
/// file instead of trusting it.
fn fulcio_entries(origin: &str, certs: &[Cert]) -> Result<Vec<Value>, OverrideProblem> {
    if !certs.iter().any(|c| c.self_signed) {
        return Err(OverrideProblem::NoSelfSignedRoot { found: certs.len() });
    }
    // Windows of the certificates accepted so far, by index.
    let mut windows: Vec<Option<(jiff::Timestamp, jiff::Timestamp)>> = certs
        .iter()
        .map(|c| c.self_signed.then_some(c.validity))
        .collect();
    loop {
        let mut progress = false;
        for (i, child) in certs.iter().enumerate() {
            if windows[i].is_some() || !child.is_ca {
                continue;
            }
            let parent =
                (0..certs.len()).find(|&j| windows[j].is_some() && signed_by(child, &certs[j]));
            if let Some(j) = parent {
                windows[i] = windows[j].map(|w| overlap(child.validity, w));
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    if let Some(i) = windows.iter().position(Option::is_none) {
        let (certificate, subject) = (i + 1, certs[i].subject().to_string());
        return Err(if certs[i].is_ca {
            OverrideProblem::Unchained {
                certificate,
                subject,
            }
        } else {
            OverrideProblem::NotCa {
                certificate,
                subject,
            }
        });
    }
    Ok(certs
        .iter()
        .zip(windows)
        .map(|(cert, valid)| {
            json!({
                "subject": {
                    "organization": attribute(cert.subject(), x509_cert::der::oid::db::rfc4519::O),
                    "commonName": attribute(cert.subject(), x509_cert::der::oid::db::rfc4519::CN),
                },
                "uri": origin,
                "certChain": chain(std::iter::once(&cert.der)),
                "validFor": window(valid.expect("every certificate accepted")),
            })
        })
        .collect())
}

/// A timestamp authority from its chain: leaf first, each certificate signed
/// by the next, the last self-signed. `validFor` is the overlap of all.
fn tsa_entry(origin: &str, certs: &[Cert]) -> Result<Value, OverrideProblem> {
    let last = certs.last().expect("certificates() returns at least one");
    if !last.self_signed {
        return Err(OverrideProblem::TsaChainUnrooted {
            certificate: certs.len(),
            subject: last.subject().to_string(),
        });
    }
    for (i, pair) in certs.windows(2).enumerate() {
        if !signed_by(&pair[0], &pair[1]) || !pair[1].is_ca {
            return Err(OverrideProblem::TsaChainBroken {
                certificate: i + 1,
                subject: pair[0].subject().to_string(),
                issuer: pair[1].subject().to_string(),
            });
        }
    }
    let valid = certs
        .iter()
        .map(|c| c.validity)
        .reduce(overlap)
        .expect("at least one certificate");
    Ok(json!({
        "subject": {
            "organization": attribute(certs[0].subject(), x509_cert::der::oid::db::rfc4519::O),
            "commonName": attribute(certs[0].subject(), x509_cert::der::oid::db::rfc4519::CN),
        },
        "uri": origin,
        "certChain": chain(certs.iter().map(|c| &c.der)),
        "validFor": window(valid),
    }))
}

fn chain<'a>(ders: impl Iterator<Item = &'a Vec<u8>>) -> Value {
    let certificates: Vec<Value> = ders
        .map(|der| json!({ "rawBytes": BASE64.encode(der) }))
        .collect();
    json!({ "certificates": certificates })
}

/// The first value of `oid` in `name`, as text (empty when absent).
fn attribute(name: &Name, oid: x509_cert::der::oid::ObjectIdentifier) -> String {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .map(|atv| {
            let text = atv.to_string();
            text.split_once('=')
                .map_or(text.clone(), |(_, v)| v.to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_testkit::VirtualSigstore;

    const NOW: u64 = 1_780_000_000;

    fn base() -> Vec<u8> {
        sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT
            .as_bytes()
            .to_vec()
    }

    fn one(kind: OverrideKind, pem: &str) -> Result<Value, OverrideError> {
        let out = apply(
            &base(),
            &[Override {
                kind,
                origin: "/etc/x.pem",
                pem: pem.as_bytes(),
            }],
        )?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn each_override_replaces_only_its_section() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let original: Value = serde_json::from_slice(&base()).unwrap();
        let cases = [
            (OverrideKind::FulcioRoots, sigstore.fulcio_chain_pem()),
            (OverrideKind::RekorKey, sigstore.rekor_public_key_pem()),
            (OverrideKind::CtLogKey, sigstore.ct_log_public_key_pem()),
            (OverrideKind::TsaChain, sigstore.fulcio_chain_pem()),
        ];
        for (kind, pem) in cases {
            let root = one(kind, &pem).unwrap();
            for other in OverrideKind::ALL.iter().filter(|k| **k != kind) {
                assert_eq!(
                    root[other.section()],
                    original[other.section()],
                    "{kind} changed {}",
                    other.section()
                );
            }
            let section = root[kind.section()].as_array().unwrap();
            // The Fulcio chain is two CAs (intermediate, root), one per
            // certificate; everything else one entry.
            let entries = if kind == OverrideKind::FulcioRoots {
                2
            } else {
                1
            };
            assert_eq!(section.len(), entries, "{kind}");
            assert_ne!(root[kind.section()], original[kind.section()], "{kind}");
            // The amended root is one vouch-verify accepts.
            vouch_verify::TrustedMaterial::from_json(&serde_json::to_vec(&root).unwrap())
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }

    #[test]
    fn a_base_that_is_not_a_json_object_is_an_error_not_a_panic() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let key = sigstore.rekor_public_key_pem();
        let o = Override {
            kind: OverrideKind::RekorKey,
            origin: "k.pub",
            pem: key.as_bytes(),
        };
        for base in [&b"[1, 2]"[..], b"null"] {
            let err = apply(base, &[o]).unwrap_err();
            assert_eq!(err.problem, OverrideProblem::RootNotObject);
        }
        let err = apply(b"{", &[o]).unwrap_err();
        assert!(
            matches!(err.problem, OverrideProblem::RootNotJson { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn log_key_gets_its_log_id_and_an_open_window() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let root = one(OverrideKind::RekorKey, &sigstore.rekor_public_key_pem()).unwrap();
        let log = &root["tlogs"][0];
        let id = BASE64
            .decode(log["logId"]["keyId"].as_str().unwrap())
            .unwrap();
        assert_eq!(hex::encode(id), sigstore.rekor_log_id_hex());
        assert_eq!(log["publicKey"]["validFor"]["start"], OPEN_WINDOW_START);
        assert_eq!(log["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
        assert_eq!(log["baseUrl"], "/etc/x.pem");
    }

    fn der_of(entry: &Value) -> Vec<u8> {
        let certs = entry["certChain"]["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 1, "one certificate per CA: {entry}");
        BASE64
            .decode(certs[0]["rawBytes"].as_str().unwrap())
            .unwrap()
    }

    #[test]
    fn each_fulcio_certificate_is_its_own_ca_with_its_chains_window() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let pem = sigstore.fulcio_chain_pem(); // intermediate, then root
        let blocks = pem::parse_many(pem.as_bytes()).unwrap();
        // In any order.
        let reversed: String = blocks.iter().rev().map(pem::encode).collect();
        let root = one(OverrideKind::FulcioRoots, &reversed).unwrap();
        let cas = root["certificateAuthorities"].as_array().unwrap();
        assert_eq!(cas.len(), 2);
        let parsed = certificates(&blocks).unwrap();
        let (intermediate, root_cert) = (&parsed[0], &parsed[1]);
        for ca in cas {
            let der = der_of(ca);
            let expected = if der == root_cert.der {
                root_cert.validity
            } else {
                assert_eq!(der, intermediate.der);
                overlap(intermediate.validity, root_cert.validity)
            };
            assert_eq!(ca["validFor"], window(expected), "{ca}");
            assert!(
                !ca["subject"]["commonName"].as_str().unwrap().is_empty(),
                "{ca}"
            );
        }
    }

    #[test]
    fn the_public_good_fulcio_certificates_as_one_file_are_accepted() {
        // Two roots with the same name (2021, 2022) and the 2022 intermediate:
        // the intermediate must be matched to its root by signature.
        let original: Value = serde_json::from_slice(&base()).unwrap();
        let pem: String = original["certificateAuthorities"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|ca| ca["certChain"]["certificates"].as_array().unwrap().clone())
            .map(|c| {
                let der = BASE64.decode(c["rawBytes"].as_str().unwrap()).unwrap();
                pem::encode(&pem::Pem::new("CERTIFICATE", der))
            })
            .collect();
        let root = one(OverrideKind::FulcioRoots, &pem).unwrap();
        assert_eq!(root["certificateAuthorities"].as_array().unwrap().len(), 3);
        vouch_verify::TrustedMaterial::from_json(&serde_json::to_vec(&root).unwrap()).unwrap();
    }

    #[test]
    fn refuses_a_certificate_that_does_not_chain_to_a_root_of_the_file() {
        // Instance A's intermediate beside instance B's root: names match
        // (both virtual instances name their CAs alike), signatures do not.
        // cosign would never build a path through it.
        let a = VirtualSigstore::new("instance-a", NOW);
        let b = VirtualSigstore::new("instance-b", NOW);
        let a_blocks = pem::parse_many(a.fulcio_chain_pem().as_bytes()).unwrap();
        let b_blocks = pem::parse_many(b.fulcio_chain_pem().as_bytes()).unwrap();
        let mixed = pem::encode(&a_blocks[0]) + &pem::encode(&b_blocks[1]);
        let err = one(OverrideKind::FulcioRoots, &mixed).unwrap_err();
        assert!(
            matches!(
                err.problem,
                OverrideProblem::Unchained { certificate: 1, .. }
            ),
            "{err:?}"
        );
        // A's own intermediate and root are fine; a leaf (not a CA) is not.
        assert!(one(OverrideKind::FulcioRoots, &a.fulcio_chain_pem()).is_ok());
        let signed = a.sign_blob(
            b"x",
            vouch_testkit::Identity::github_actions(
                "acme/app",
                ".github/workflows/r.yml",
                "refs/tags/v1",
            ),
        );
        let with_leaf = signed.certificate_pem.clone() + &a.fulcio_chain_pem();
        let err = one(OverrideKind::FulcioRoots, &with_leaf).unwrap_err();
        assert!(
            matches!(err.problem, OverrideProblem::NotCa { certificate: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_tsa_chain_runs_leaf_to_root_each_signed_by_the_next() {
        let a = VirtualSigstore::new("instance-a", NOW);
        let blocks = pem::parse_many(a.fulcio_chain_pem().as_bytes()).unwrap();
        let good = one(OverrideKind::TsaChain, &a.fulcio_chain_pem()).unwrap();
        let tsa = &good["timestampAuthorities"][0];
        let parsed = certificates(&blocks).unwrap();
        assert_eq!(
            tsa["validFor"],
            window(overlap(parsed[0].validity, parsed[1].validity))
        );
        // Root first: refused, saying what order is expected.
        let reversed: String = blocks.iter().rev().map(pem::encode).collect();
        let err = one(OverrideKind::TsaChain, &reversed).unwrap_err();
        assert!(
            matches!(
                err.problem,
                OverrideProblem::TsaChainUnrooted { certificate: 2, .. }
            ),
            "{err:?}"
        );
        // Another instance's root: the signature does not match.
        let b = VirtualSigstore::new("instance-b", NOW);
        let b_root = pem::parse_many(b.fulcio_chain_pem().as_bytes()).unwrap();
        let mixed = pem::encode(&blocks[0]) + &pem::encode(&b_root[1]);
        let err = one(OverrideKind::TsaChain, &mixed).unwrap_err();
        assert!(
            matches!(
                err.problem,
                OverrideProblem::TsaChainBroken { certificate: 1, .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_what_cosign_would_misread() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let key = sigstore.rekor_public_key_pem();
        let chain = sigstore.fulcio_chain_pem();
        let intermediate_only = pem::encode(&pem::parse_many(chain.as_bytes()).unwrap()[0]);
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        type Check = fn(&OverrideProblem) -> bool;
        let cases: [(OverrideKind, String, Check); 9] = [
            (OverrideKind::RekorKey, format!("{key}{key}"), |p| {
                matches!(p, OverrideProblem::KeyBlockCount { found: 2 })
            }),
            (OverrideKind::RekorKey, String::new(), |p| {
                matches!(p, OverrideProblem::KeyBlockCount { found: 0 })
            }),
            (OverrideKind::CtLogKey, chain.clone(), |p| {
                matches!(p, OverrideProblem::KeyBlockCount { found: 2 })
            }),
            (
                OverrideKind::CtLogKey,
                intermediate_only.clone(),
                |p| matches!(p, OverrideProblem::NotPublicKey { tag } if tag == "CERTIFICATE"),
            ),
            (
                OverrideKind::RekorKey,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
                |p| matches!(p, OverrideProblem::UnsupportedKey { .. }),
            ),
            (OverrideKind::FulcioRoots, intermediate_only, |p| {
                matches!(p, OverrideProblem::NoSelfSignedRoot { found: 1 })
            }),
            (
                OverrideKind::FulcioRoots,
                format!("{chain}{key}"),
                |p| matches!(p, OverrideProblem::NotCertificateBlock { block: 3, tag } if tag == "PUBLIC KEY"),
            ),
            (
                OverrideKind::TsaChain,
                private.into(),
                |p| matches!(p, OverrideProblem::NotCertificateBlock { block: 1, tag } if tag == "PRIVATE KEY"),
            ),
            (
                OverrideKind::TsaChain,
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                |p| matches!(p, OverrideProblem::MalformedCertificate { block: 1, .. }),
            ),
        ];
        for (kind, pem, expected) in cases {
            let err = one(kind, &pem).unwrap_err();
            assert_eq!(err.kind, kind);
            // The message names the variable the file came from.
            assert!(err.to_string().starts_with(kind.variable()), "{err}");
            assert!(expected(&err.problem), "{kind}: {err:?}");
        }
        let err = one(OverrideKind::FulcioRoots, "not pem at all").unwrap_err();
        assert_eq!(err.problem, OverrideProblem::NoCertificate);
    }
}

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
//! valid from the Unix epoch on) and a CA or TSA none beyond its
//! certificates' own (its `validFor` is its root certificate's validity, which
//! chain building enforces anyway). Stricter than cosign: a key file must hold exactly one
//! `PUBLIC KEY` block (cosign silently uses the first of several), a root
//! file only `CERTIFICATE` blocks and at least one self-signed root (cosign
//! would fail later, at chain building).
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
#[error("{kind}: {detail}")]
pub struct OverrideError {
    /// Which override.
    pub kind: OverrideKind,
    /// What was expected and what was found.
    pub detail: String,
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
    let mut root: Value = serde_json::from_slice(trusted_root).map_err(|e| OverrideError {
        kind: overrides
            .first()
            .map_or(OverrideKind::FulcioRoots, |o| o.kind),
        detail: format!("the trusted root to amend is not JSON: {e}"),
    })?;
    for o in overrides {
        let entry = section_entry(o)?;
        root[o.kind.section()] = Value::Array(vec![entry]);
    }
    Ok(serde_json::to_vec(&root).expect("a JSON value serializes"))
}

/// The single `trusted_root.json` entry an override stands for.
fn section_entry(o: &Override<'_>) -> Result<Value, OverrideError> {
    let fail = |detail: String| OverrideError {
        kind: o.kind,
        detail,
    };
    let blocks = pem::parse_many(o.pem).map_err(|e| fail(format!("not PEM: {e}")))?;
    match o.kind {
        OverrideKind::RekorKey | OverrideKind::CtLogKey => {
            let [block] = blocks.as_slice() else {
                return Err(fail(format!(
                    "expected one PEM `PUBLIC KEY` block, found {} blocks",
                    blocks.len()
                )));
            };
            if block.tag() != "PUBLIC KEY" {
                return Err(fail(format!(
                    "expected a PEM `PUBLIC KEY` block, found `{}`",
                    block.tag()
                )));
            }
            log_entry(o.origin, block.contents()).map_err(fail)
        }
        OverrideKind::FulcioRoots | OverrideKind::TsaChain => {
            let certs = certificates(&blocks).map_err(fail)?;
            if o.kind == OverrideKind::FulcioRoots {
                fulcio_entry(o.origin, &certs).map_err(fail)
            } else {
                let root = certs.last().expect("at least one certificate");
                Ok(json!({
                    "uri": o.origin,
                    "certChain": chain(certs.iter().map(|c| &c.der)),
                    "validFor": valid_for(root),
                }))
            }
        }
    }
}

/// A transparency or CT log entry for a PKIX public key.
fn log_entry(origin: &str, spki: &[u8]) -> Result<Value, String> {
    let key = sigstore_types::DerPublicKey::new(spki.to_vec());
    let details = match sigstore_crypto::KeyAlgorithm::from_spki(&key) {
        Ok(sigstore_crypto::KeyAlgorithm::EcdsaP256) => "PKIX_ECDSA_P256_SHA_256",
        Ok(sigstore_crypto::KeyAlgorithm::EcdsaP384) => "PKIX_ECDSA_P384_SHA_384",
        Ok(sigstore_crypto::KeyAlgorithm::Ed25519) => "PKIX_ED25519",
        Ok(sigstore_crypto::KeyAlgorithm::Rsa) => "PKIX_RSA_PKCS1V15_2048_SHA256",
        Ok(other) => return Err(format!("a {other:?} key cannot sign a transparency log")),
        Err(e) => return Err(format!("not a supported SubjectPublicKeyInfo: {e}")),
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
    subject: Name,
    self_signed: bool,
    /// `notBefore` and `notAfter`, RFC 3339.
    validity: (String, String),
}

/// A certificate time as RFC 3339 (the epoch if out of range).
fn rfc3339(time: x509_cert::time::Time) -> String {
    let secs = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or_default();
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// `validFor` of an authority whose anchor is `cert`.
fn valid_for(cert: &Cert) -> Value {
    json!({ "start": cert.validity.0, "end": cert.validity.1 })
}

fn certificates(blocks: &[pem::Pem]) -> Result<Vec<Cert>, String> {
    if blocks.is_empty() {
        return Err("no PEM `CERTIFICATE` block".into());
    }
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            if block.tag() != "CERTIFICATE" {
                return Err(format!(
                    "block {}: expected a PEM `CERTIFICATE`, found `{}`",
                    i + 1,
                    block.tag()
                ));
            }
            let cert = Certificate::from_der(block.contents())
                .map_err(|e| format!("block {}: not an X.509 certificate: {e}", i + 1))?;
            let tbs = cert.tbs_certificate;
            Ok(Cert {
                der: block.contents().to_vec(),
                self_signed: tbs.subject == tbs.issuer,
                validity: (
                    rfc3339(tbs.validity.not_before),
                    rfc3339(tbs.validity.not_after),
                ),
                subject: tbs.subject,
            })
        })
        .collect()
}

/// One CA holding every certificate of the file, intermediates first and
/// roots last, as a `trusted_root.json` chain is ordered.
fn fulcio_entry(origin: &str, certs: &[Cert]) -> Result<Value, String> {
    let Some(root) = certs.iter().find(|c| c.self_signed) else {
        return Err(format!(
            "expected at least one self-signed root certificate, found {} certificate(s), \
             none self-signed",
            certs.len()
        ));
    };
    let ordered = certs
        .iter()
        .filter(|c| !c.self_signed)
        .chain(certs.iter().filter(|c| c.self_signed))
        .map(|c| &c.der);
    Ok(json!({
        "subject": {
            "organization": attribute(&root.subject, x509_cert::der::oid::db::rfc4519::O),
            "commonName": attribute(&root.subject, x509_cert::der::oid::db::rfc4519::CN),
        },
        "uri": origin,
        "certChain": chain(ordered),
        "validFor": valid_for(root),
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
            assert_eq!(section.len(), 1, "{kind}");
            assert_ne!(root[kind.section()], original[kind.section()], "{kind}");
            // The amended root is one vouch-verify accepts.
            vouch_verify::TrustedMaterial::from_json(&serde_json::to_vec(&root).unwrap())
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
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

    #[test]
    fn fulcio_chain_is_ordered_intermediates_then_roots() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let pem = sigstore.fulcio_chain_pem(); // intermediate, then root
        let blocks = pem::parse_many(pem.as_bytes()).unwrap();
        // Give them root first: the entry must still end with the root.
        let reversed: String = blocks.iter().rev().map(pem::encode).collect();
        let root = one(OverrideKind::FulcioRoots, &reversed).unwrap();
        let certs = root["certificateAuthorities"][0]["certChain"]["certificates"]
            .as_array()
            .unwrap();
        let der = |i: usize| {
            BASE64
                .decode(certs[i]["rawBytes"].as_str().unwrap())
                .unwrap()
        };
        assert_eq!(der(0), blocks[0].contents(), "intermediate first");
        assert_eq!(der(1), blocks[1].contents(), "root last");
        let ca = &root["certificateAuthorities"][0];
        // The root certificate's own validity.
        let root_cert = Certificate::from_der(&der(1)).unwrap();
        let validity = root_cert.tbs_certificate.validity;
        assert_eq!(
            ca["validFor"]["start"],
            rfc3339(validity.not_before),
            "{ca}"
        );
        assert_eq!(ca["validFor"]["end"], rfc3339(validity.not_after), "{ca}");
        assert!(
            ca["validFor"]["start"].as_str().unwrap().starts_with("20"),
            "{ca}"
        );
        assert!(
            !ca["subject"]["commonName"].as_str().unwrap().is_empty(),
            "{ca}"
        );
    }

    #[test]
    fn refuses_what_cosign_would_misread() {
        let sigstore = VirtualSigstore::new("overrides", NOW);
        let key = sigstore.rekor_public_key_pem();
        let chain = sigstore.fulcio_chain_pem();
        let intermediate_only = pem::encode(&pem::parse_many(chain.as_bytes()).unwrap()[0]);
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let cases: [(OverrideKind, String, &str); 9] = [
            (
                OverrideKind::RekorKey,
                format!("{key}{key}"),
                "expected one PEM `PUBLIC KEY` block, found 2 blocks",
            ),
            (
                OverrideKind::RekorKey,
                String::new(),
                "expected one PEM `PUBLIC KEY` block, found 0 blocks",
            ),
            (
                OverrideKind::CtLogKey,
                chain.clone(),
                "expected one PEM `PUBLIC KEY` block, found 2 blocks",
            ),
            (
                OverrideKind::CtLogKey,
                intermediate_only.clone(),
                "expected a PEM `PUBLIC KEY` block, found `CERTIFICATE`",
            ),
            (
                OverrideKind::RekorKey,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
                "not a supported SubjectPublicKeyInfo",
            ),
            (
                OverrideKind::FulcioRoots,
                intermediate_only,
                "expected at least one self-signed root certificate, found 1 certificate(s), none self-signed",
            ),
            (
                OverrideKind::FulcioRoots,
                format!("{chain}{key}"),
                "block 3: expected a PEM `CERTIFICATE`, found `PUBLIC KEY`",
            ),
            (
                OverrideKind::TsaChain,
                private.into(),
                "block 1: expected a PEM `CERTIFICATE`, found `PRIVATE KEY`",
            ),
            (
                OverrideKind::TsaChain,
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                "block 1: not an X.509 certificate",
            ),
        ];
        for (kind, pem, expected) in cases {
            let err = one(kind, &pem).unwrap_err();
            assert_eq!(err.kind, kind);
            let text = err.to_string();
            assert!(text.starts_with(kind.variable()), "{text}");
            assert!(
                text.contains(expected),
                "{kind}: expected {expected:?} in {text:?}"
            );
        }
        let err = one(OverrideKind::FulcioRoots, "not pem at all").unwrap_err();
        assert!(
            err.to_string().contains("no PEM `CERTIFICATE` block"),
            "{err}"
        );
    }
}

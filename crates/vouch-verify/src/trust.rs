//! Trusted material: the Fulcio CAs, CT logs, transparency logs and timestamp
//! authorities a signature may chain to, from a `trusted_root.json`.
//!
//! Loading is pure: bytes in, prepared keys out. Where the bytes come from
//! (embedded, a file, TUF) is `vouch-trust`'s business.

use sigstore_crypto::Keyring;
use sigstore_trust_root::TrustedRoot;
use sigstore_types::Sha256Hash;
use sigstore_verify::Verifier;

use crate::checks::Checks;
use crate::error::VerifyError;

/// Upper bound on a `trusted_root.json`. The public-good root is about 8 KiB
/// and grows by one key per rotation; 4 MiB leaves room for private instances
/// with many historical keys while refusing absurd input.
pub const MAX_TRUSTED_ROOT_SIZE: usize = 4 * 1024 * 1024;

/// The media types of `trusted_root.json` vouch accepts: v0.1, which
/// sigstore-go requires, and v0.2, which protobuf-specs says writers must use
/// (SPEC.md §6.2).
pub const TRUSTED_ROOT_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// A parsed and checked trusted root, ready to verify many signatures.
pub struct TrustedMaterial {
    verifier: Verifier,
    /// The log IDs of the transparency logs (`tlogs[].logId.keyId`).
    log_ids: Vec<Sha256Hash>,
    /// The transparency logs' keys, by log ID.
    log_keys: Keyring,
    /// Every certificate of every timestamp authority's chain (DER).
    tsa_certificates: Vec<Vec<u8>>,
    /// Every certificate of every Fulcio CA's chain (DER).
    ca_certificates: Vec<Vec<u8>>,
    /// Which checks verification runs with this material.
    checks: Checks,
}

impl TrustedMaterial {
    /// Parses a `trusted_root.json` document and prepares its keys.
    ///
    /// Refuses an unknown media type, a log key without `validFor.start`
    /// (SPEC.md §6.2, conformance `trust-root-tlog-missing-validity-start_fail`),
    /// duplicate log IDs and unparsable keys or certificates.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let bad = |detail: String| VerifyError::TrustedRoot { detail };
        if bytes.len() > MAX_TRUSTED_ROOT_SIZE {
            return Err(bad(format!(
                "{} bytes, over the {MAX_TRUSTED_ROOT_SIZE}-byte limit",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let media_type = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        if !TRUSTED_ROOT_MEDIA_TYPES.contains(&media_type) {
            return Err(bad(format!(
                "media type `{media_type}`, expected one of {}",
                TRUSTED_ROOT_MEDIA_TYPES.join(", ")
            )));
        }
        for (section, logs) in ["tlogs", "ctlogs"]
            .iter()
            .filter_map(|s| Some((s, value.get(*s)?.as_array()?)))
        {
            for (i, log) in logs.iter().enumerate() {
                if log.pointer("/publicKey/validFor/start").is_none() {
                    return Err(bad(format!(
                        "{section}[{i}] has no publicKey.validFor.start; a log key must say \
                         from when it is valid"
                    )));
                }
            }
        }
        let root = TrustedRoot::from_json(text).map_err(|e| bad(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|e| bad(e.to_string()))?;
        let log_ids = root
            .tlogs
            .iter()
            .map(|log| Sha256Hash::try_from(log.log_id.key_id.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("tlog log ID: {e}")))?;
        let log_keys = root.rekor_keys().map_err(|e| bad(e.to_string()))?;
        let tsa_certificates = root
            .timestamp_authorities
            .iter()
            .flat_map(|tsa| &tsa.cert_chain.certificates)
            .map(|cert| cert.raw_bytes.as_bytes().to_vec())
            .collect();
        let ca_certificates = root
            .certificate_authorities
            .iter()
            .flat_map(|ca| &ca.cert_chain.certificates)
            .map(|cert| cert.raw_bytes.as_bytes().to_vec())
            .collect();
        Ok(Self {
            verifier,
            log_ids,
            log_keys,
            tsa_certificates,
            ca_certificates,
            checks: Checks::all(),
        })
    }

    /// The same material, verifying with `checks` instead of every check.
    /// For trust domains without a transparency log or CT log, such as
    /// GitHub's instance for private repositories ([`crate::checks`]).
    pub fn with_checks(mut self, checks: Checks) -> Self {
        self.checks = checks;
        self
    }

    /// The checks verification runs with this material.
    pub fn checks(&self) -> Checks {
        self.checks
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether `id` is the log ID of a transparency log of this root.
    pub(crate) fn knows_log(&self, id: &Sha256Hash) -> bool {
        self.log_ids.contains(id)
    }

    /// The log IDs of this root's transparency logs.
    pub(crate) fn log_ids(&self) -> &[Sha256Hash] {
        &self.log_ids
    }

    /// The transparency logs' keys, by log ID.
    pub(crate) fn log_keys(&self) -> &Keyring {
        &self.log_keys
    }

    /// Whether `der` is one of the Fulcio CAs' certificates.
    pub(crate) fn is_ca_certificate(&self, der: &[u8]) -> bool {
        self.ca_certificates.iter().any(|c| c == der)
    }

    /// Whether `der` is one of the timestamp authorities' certificates.
    pub(crate) fn is_tsa_certificate(&self, der: &[u8]) -> bool {
        self.tsa_certificates.iter().any(|c| c == der)
    }
}

impl std::fmt::Debug for TrustedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustedMaterial { .. }")
    }
}

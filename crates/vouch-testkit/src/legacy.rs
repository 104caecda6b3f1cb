//! Legacy cosign material for an OCI image: the pieces `cosign sign` and
//! `cosign attest` (cosign 2.x without `--new-bundle-format`) store as a
//! layer of the `sha256-<hex>.sig` / `.att` image, with its annotations.

/// Layer media type of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer media type of a cosign attestation (a DSSE envelope).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Annotation holding the base64 signature (empty for attestations).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding the PEM leaf certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the PEM chain (intermediate, then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor bundle (SET and entry).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Annotation holding an attestation's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// A keyless `cosign sign` signature of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacySignature {
    /// The simple-signing payload (the layer content).
    pub payload: Vec<u8>,
    /// Base64 DER ECDSA signature over `payload`.
    pub signature_b64: String,
    /// PEM leaf certificate.
    pub certificate_pem: String,
    /// PEM chain: intermediate, then root.
    pub chain_pem: String,
    /// The Rekor bundle annotation JSON, `None` when the options left out the
    /// inclusion promise (cosign then has no offline proof of logging).
    pub rekor_bundle_json: Option<String>,
    /// Global Rekor log index of the `hashedrekord` entry.
    pub log_index: u64,
    /// Integrated time of the entry, Unix seconds.
    pub integrated_time: u64,
}

impl LegacySignature {
    /// Layer annotations as cosign writes them.
    pub fn annotations(&self) -> Vec<(String, String)> {
        annotations(
            &self.signature_b64,
            &self.certificate_pem,
            &self.chain_pem,
            self.rekor_bundle_json.as_deref(),
            None,
        )
    }
}

/// A keyless `cosign attest` attestation of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyAttestation {
    /// The DSSE envelope JSON (the layer content).
    pub payload: Vec<u8>,
    /// The statement inside the envelope.
    pub statement: Vec<u8>,
    /// `predicateType` of the statement, if it has one.
    pub predicate_type: Option<String>,
    /// PEM leaf certificate.
    pub certificate_pem: String,
    /// PEM chain: intermediate, then root.
    pub chain_pem: String,
    /// The Rekor bundle annotation JSON, `None` without inclusion promise.
    pub rekor_bundle_json: Option<String>,
    /// Global Rekor log index of the entry.
    pub log_index: u64,
    /// Integrated time of the entry, Unix seconds.
    pub integrated_time: u64,
}

impl LegacyAttestation {
    /// Layer annotations as cosign writes them (the signature annotation is
    /// present and empty: the signature is inside the envelope).
    pub fn annotations(&self) -> Vec<(String, String)> {
        annotations(
            "",
            &self.certificate_pem,
            &self.chain_pem,
            self.rekor_bundle_json.as_deref(),
            self.predicate_type.as_deref(),
        )
    }
}

/// Shared annotation list.
fn annotations(
    signature_b64: &str,
    certificate_pem: &str,
    chain_pem: &str,
    rekor_bundle: Option<&str>,
    predicate_type: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = vec![
        (SIGNATURE_ANNOTATION.to_owned(), signature_b64.to_owned()),
        (
            CERTIFICATE_ANNOTATION.to_owned(),
            certificate_pem.to_owned(),
        ),
        (CHAIN_ANNOTATION.to_owned(), chain_pem.to_owned()),
    ];
    if let Some(bundle) = rekor_bundle {
        out.push((BUNDLE_ANNOTATION.to_owned(), bundle.to_owned()));
    }
    if let Some(predicate_type) = predicate_type {
        out.push((
            PREDICATE_TYPE_ANNOTATION.to_owned(),
            predicate_type.to_owned(),
        ));
    }
    out
}

/// The simple-signing payload cosign signs for an image (cosign
/// `pkg/payload`, Go `json.Marshal` field order).
pub(crate) fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":{}}},\"image\":{{\"docker-manifest-digest\":{}}},\"type\":\"cosign container image signature\"}},\"optional\":null}}",
        quote(docker_reference),
        quote(manifest_digest),
    )
    .into_bytes()
}

/// The `dev.sigstore.cosign/bundle` annotation: cosign's `RekorBundle`
/// (`SignedEntryTimestamp`, then `Payload` with `body`, `integratedTime`,
/// `logIndex`, `logID`, in Go field order).
pub(crate) fn rekor_bundle_json(
    set_b64: &str,
    body_b64: &str,
    integrated_time: u64,
    log_index: u64,
    log_id_hex: &str,
) -> String {
    format!(
        "{{\"SignedEntryTimestamp\":\"{set_b64}\",\"Payload\":{{\"body\":\"{body_b64}\",\"integratedTime\":{integrated_time},\"logIndex\":{log_index},\"logID\":\"{log_id_hex}\"}}}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_matches_cosign_layout() {
        let payload = simple_signing_payload("index.docker.io/acme/app", "sha256:abc");
        assert_eq!(
            String::from_utf8(payload).expect("utf8"),
            r#"{"critical":{"identity":{"docker-reference":"index.docker.io/acme/app"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"cosign container image signature"},"optional":null}"#
        );
    }
}

//! cosign's simple-signing payload, the bytes a legacy `.sig` signature signs
//! (SPEC.md §2.1).
//!
//! Parsed strictly: Go's `encoding/json`, which cosign uses, matches field
//! names case-insensitively and lets a duplicate key win, so a crafted payload
//! could mean one digest to cosign and another to a case-sensitive parser
//! (ATTACKS.md B.25). vouch refuses unknown (including case-variant) and
//! duplicate fields instead of guessing.

use serde::Deserialize;

use crate::Sha256Digest;
use crate::error::VerifyError;

/// Upper bound on a simple-signing payload. Real ones are ~250 bytes plus
/// the `optional` annotations; 1 MiB is generous and far below cosign's
/// 128 MiB attachment cap.
pub const MAX_SIMPLE_SIGNING_SIZE: usize = 1024 * 1024;

/// The type string cosign writes in `critical.type`.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// A parsed simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimpleSigningPayload {
    /// `critical.identity.docker-reference` (not checked by cosign).
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub manifest_digest: Sha256Digest,
    /// `optional`, the annotations given at signing time.
    pub annotations: serde_json::Map<String, serde_json::Value>,
}

impl SimpleSigningPayload {
    /// Parses and checks a payload: known fields only, no duplicates, the
    /// cosign type string, a well-formed digest.
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let malformed = |detail: String| VerifyError::MalformedPayload {
            detail: format!("simple-signing payload: {detail}"),
        };
        if bytes.len() > MAX_SIMPLE_SIGNING_SIZE {
            return Err(malformed(format!(
                "{} bytes, over the {MAX_SIMPLE_SIGNING_SIZE}-byte limit",
                bytes.len()
            )));
        }
        let p: Payload = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if p.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(malformed(format!(
                "critical.type is `{}`, expected `{SIMPLE_SIGNING_TYPE}`",
                p.critical.kind
            )));
        }
        let manifest_digest = p
            .critical
            .image
            .docker_manifest_digest
            .parse()
            .map_err(|e: crate::DigestError| malformed(e.to_string()))?;
        Ok(Self {
            docker_reference: p.critical.identity.docker_reference,
            manifest_digest,
            annotations: p.optional.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(digest: &str) -> String {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    }

    #[test]
    fn parses_cosign_payload() {
        let d = Sha256Digest::of(b"img");
        let p = SimpleSigningPayload::parse(payload(&d.to_string()).as_bytes()).unwrap();
        assert_eq!(p.manifest_digest, d);
        assert_eq!(p.docker_reference, "r");
    }

    #[test]
    fn rejects_duplicate_digest_keys() {
        let d = Sha256Digest::of(b"img");
        let e = Sha256Digest::of(b"evil");
        let text = payload(&d.to_string()).replace(
            "\"docker-manifest-digest\"",
            &format!("\"docker-manifest-digest\":\"{e}\",\"docker-manifest-digest\""),
        );
        let err = SimpleSigningPayload::parse(text.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, VerifyError::MalformedPayload { detail } if detail.contains("duplicate field")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_case_variant_keys() {
        let d = Sha256Digest::of(b"img");
        let text = payload(&d.to_string()).replace("\"critical\"", "\"Critical\"");
        let err = SimpleSigningPayload::parse(text.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, VerifyError::MalformedPayload { detail } if detail.contains("unknown field")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_wrong_type_and_bad_digest() {
        let d = Sha256Digest::of(b"img").to_string();
        let text = payload(&d).replace("cosign container image signature", "other");
        assert!(SimpleSigningPayload::parse(text.as_bytes()).is_err());
        assert!(SimpleSigningPayload::parse(payload("sha256:abc").as_bytes()).is_err());
        assert!(SimpleSigningPayload::parse(b"[]").is_err());
    }
}

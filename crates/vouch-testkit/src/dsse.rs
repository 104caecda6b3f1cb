//! DSSE envelopes (secure-systems-lab/dsse `envelope.md`, `protocol.md`) and
//! in-toto Statement v1 payloads (in-toto/attestation `spec/v1`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// `_type` of an in-toto Statement v1.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// An in-toto Statement v1 about one subject, as compact JSON bytes.
///
/// `subject_sha256_hex` is the subject's lowercase hex SHA-256 digest,
/// `predicate` the predicate object.
pub fn in_toto_statement(
    subject_name: &str,
    subject_sha256_hex: &str,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Vec<u8> {
    let statement = json!({
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": subject_sha256_hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&statement).expect("JSON serializes")
}

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` (DSSE `protocol.md`).
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope with one signature.
#[derive(Clone, Debug)]
pub(crate) struct SignedEnvelope {
    /// `payloadType`.
    pub(crate) payload_type: String,
    /// Decoded payload.
    pub(crate) payload: Vec<u8>,
    /// DER ECDSA signature over the PAE.
    pub(crate) signature: Vec<u8>,
}

impl SignedEnvelope {
    /// The envelope as cosign writes it (Go `json.Marshal` of
    /// `dsse.Envelope`: `payloadType`, `payload`, `signatures` with `keyid`
    /// and `sig`). This is the attestation layer of a legacy cosign
    /// attestation and what Rekor hashes into `envelopeHash`.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Built by hand: field order matters for the envelope hash and
        // serde_json's `Value` sorts keys.
        format!(
            "{{\"payloadType\":{},\"payload\":\"{}\",\"signatures\":[{{\"keyid\":\"\",\"sig\":\"{}\"}}]}}",
            serde_json::Value::String(self.payload_type.clone()),
            STANDARD.encode(&self.payload),
            STANDARD.encode(&self.signature),
        )
        .into_bytes()
    }

    /// The envelope in Sigstore bundle (protobuf JSON) form.
    pub(crate) fn to_bundle_json(&self) -> serde_json::Value {
        json!({
            "payload": STANDARD.encode(&self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"sig": STANDARD.encode(&self.signature)}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_dsse_spec_example() {
        // DSSE protocol.md test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn statement_is_v1() {
        let s = in_toto_statement(
            "app",
            &"ab".repeat(32),
            "https://slsa.dev/provenance/v1",
            &json!({}),
        );
        let v: serde_json::Value = serde_json::from_slice(&s).expect("json");
        assert_eq!(v["_type"], IN_TOTO_STATEMENT_V1);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "ab".repeat(32));
    }
}

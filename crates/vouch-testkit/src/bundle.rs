//! Sigstore bundle v0.3 JSON (protobuf-specs `sigstore_bundle.proto`, JSON
//! mapping: int64 as strings, bytes as base64, default values omitted).

use crate::dsse::SignedEnvelope;
use crate::options::{HashAlg, LogOptions, Presence};
use crate::rekor::LoggedEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Media type of a v0.3 bundle.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Rekor v1 entry type and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// `hashedrekord` 0.0.1.
    HashedRekord,
    /// `dsse` 0.0.1.
    Dsse,
    /// `intoto` 0.0.1.
    IntotoV001,
    /// `intoto` 0.0.2.
    IntotoV002,
}

impl EntryKind {
    /// `(kind, version)`.
    fn kind_version(self) -> (&'static str, &'static str) {
        match self {
            EntryKind::HashedRekord => ("hashedrekord", "0.0.1"),
            EntryKind::Dsse => ("dsse", "0.0.1"),
            EntryKind::IntotoV001 => ("intoto", "0.0.1"),
            EntryKind::IntotoV002 => ("intoto", "0.0.2"),
        }
    }
}

/// What the bundle signs.
pub(crate) enum Content<'a> {
    /// A signature over an artifact with this digest.
    MessageSignature {
        /// The digest's algorithm.
        algorithm: HashAlg,
        /// The artifact's digest.
        digest: &'a [u8],
        /// The signature (DER ECDSA or RSA PKCS#1 v1.5).
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Dsse(&'a SignedEnvelope),
}

/// A `TransparencyLogEntry` in JSON form.
pub(crate) fn tlog_entry(
    entry: &LoggedEntry,
    kind: EntryKind,
    log_id: &[u8; 32],
    options: &LogOptions,
) -> Value {
    let (kind, version) = kind.kind_version();
    let mut value = json!({
        "logIndex": entry.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": entry.integrated_time.to_string(),
        "canonicalizedBody": STANDARD.encode(&entry.body),
    });
    if options.inclusion_promise == Presence::Present {
        value["inclusionPromise"] = json!({"signedEntryTimestamp": STANDARD.encode(&entry.set)});
    }
    if options.inclusion_proof == Presence::Present {
        let proof = &entry.proof;
        value["inclusionProof"] = json!({
            "logIndex": proof.tree_index.to_string(),
            "rootHash": STANDARD.encode(proof.root_hash),
            "treeSize": proof.tree_size.to_string(),
            "hashes": proof.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": proof.checkpoint},
        });
    }
    value
}

/// A v0.3 bundle with the leaf certificate, one log entry and `content`,
/// pretty-printed.
pub(crate) fn bundle_v03(cert_der: &[u8], tlog_entry: Value, content: Content<'_>) -> String {
    let mut bundle = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": STANDARD.encode(cert_der)},
            "tlogEntries": [tlog_entry],
        },
    });
    match content {
        Content::MessageSignature {
            algorithm,
            digest,
            signature,
        } => {
            bundle["messageSignature"] = json!({
                "messageDigest": {"algorithm": algorithm.bundle_name(), "digest": STANDARD.encode(digest)},
                "signature": STANDARD.encode(signature),
            });
        }
        Content::Dsse(envelope) => bundle["dsseEnvelope"] = envelope.to_bundle_json(),
    }
    serde_json::to_string_pretty(&bundle).expect("JSON serializes")
}

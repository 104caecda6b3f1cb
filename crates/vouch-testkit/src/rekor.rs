//! A virtual Rekor v1 transparency log: an RFC 6962 Merkle tree of
//! canonicalized entry bodies, Signed Entry Timestamps (inclusion promises),
//! inclusion proofs and signed checkpoints, all under one ECDSA P-256 key.
//!
//! Entry bodies are built the way Rekor canonicalizes them (Go `json.Marshal`
//! of the entry model: compact, fields in alphabetical order, certificates as
//! base64 of a 64-column PEM).

use crate::keys::{Curve, SigningKey};
use crate::merkle::{self, Hash};
use crate::options::HashAlg;
use crate::pem;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// Entries in the log's inactive shards: global log indexes of entries in the
/// active tree start here, so an entry's `logIndex` differs from its
/// inclusion proof's `logIndex` just as on the public Rekor instance, which
/// has rotated shards.
pub const INACTIVE_SHARDS_SIZE: u64 = 4_163_431;

/// Other parties' entries already in the active tree when the instance starts.
const PREFILLED_ENTRIES: usize = 7;

/// Other parties' entries integrated right after each entry of ours, so that
/// inclusion proofs have siblings on both sides.
const FILLER_ENTRIES_AFTER_EACH: usize = 2;

/// A Rekor-like log.
#[derive(Debug)]
pub(crate) struct TransparencyLog {
    key: SigningKey,
    host: String,
    origin: String,
    state: Mutex<Vec<Hash>>,
}

/// An inclusion proof with the checkpoint that signs its root.
#[derive(Clone, Debug)]
pub(crate) struct InclusionProof {
    /// Index of the leaf in the active tree.
    pub(crate) tree_index: u64,
    /// Tree size the proof is for.
    pub(crate) tree_size: u64,
    /// Root hash at that size.
    pub(crate) root_hash: Hash,
    /// Audit path, leaf first.
    pub(crate) hashes: Vec<Hash>,
    /// Signed note committing to size and root.
    pub(crate) checkpoint: String,
}

/// An entry once the log has integrated it.
#[derive(Clone, Debug)]
pub(crate) struct LoggedEntry {
    /// The canonicalized body.
    pub(crate) body: Vec<u8>,
    /// Global log index (what the SET signs).
    pub(crate) log_index: u64,
    /// Integrated time, Unix seconds.
    pub(crate) integrated_time: u64,
    /// Inclusion proof at the tree size right after integration.
    pub(crate) proof: InclusionProof,
    /// Signed Entry Timestamp, DER ECDSA.
    pub(crate) set: Vec<u8>,
}

impl TransparencyLog {
    /// A log named `rekor.<name>.test` with a key derived from `seed`.
    pub(crate) fn new(seed: &[u8], name: &str) -> Self {
        let key = SigningKey::derive(seed, "rekor", Curve::P256);
        let host = format!("rekor.{name}.test");
        // Rekor v1 origins are "<hostname> - <tree ID>".
        let tree_id = u64::from_be_bytes(key.key_id()[..8].try_into().expect("8 bytes")) >> 1;
        let origin = format!("{host} - {tree_id}");
        let prefill = (0..PREFILLED_ENTRIES)
            .map(|i| filler_leaf(name, i))
            .collect();
        Self {
            key,
            host,
            origin,
            state: Mutex::new(prefill),
        }
    }

    /// Log ID: SHA-256 of the log key's SubjectPublicKeyInfo.
    pub(crate) fn log_id(&self) -> [u8; 32] {
        self.key.key_id()
    }

    /// DER SubjectPublicKeyInfo of the log key.
    pub(crate) fn spki_der(&self) -> &[u8] {
        self.key.spki_der()
    }

    /// `https://rekor.<name>.test`.
    pub(crate) fn base_url(&self) -> String {
        format!("https://{}", self.host)
    }

    /// Appends `body`, integrated at `integrated_time`, and returns it with
    /// its SET and an inclusion proof.
    pub(crate) fn append(&self, body: Vec<u8>, integrated_time: u64) -> LoggedEntry {
        let (tree_index, leaves) = {
            let mut leaves = self.state.lock().expect("log state lock");
            let tree_index = leaves.len();
            leaves.push(merkle::leaf_hash(&body));
            for _ in 0..FILLER_ENTRIES_AFTER_EACH {
                let n = leaves.len();
                leaves.push(filler_leaf(&self.host, n));
            }
            (tree_index, leaves.clone())
        };
        let tree_size = leaves.len() as u64;
        let root_hash = merkle::root(&leaves);
        let proof = InclusionProof {
            tree_index: tree_index as u64,
            tree_size,
            root_hash,
            hashes: merkle::inclusion_proof(tree_index, &leaves),
            checkpoint: self.checkpoint(tree_size, &root_hash),
        };
        let log_index = INACTIVE_SHARDS_SIZE + tree_index as u64;
        let set = self.sign_entry_timestamp(&body, integrated_time, log_index);
        LoggedEntry {
            body,
            log_index,
            integrated_time,
            proof,
            set,
        }
    }

    /// Signed Entry Timestamp: ECDSA over the RFC 8785 canonical JSON of
    /// `{body, integratedTime, logID, logIndex}` (Rekor
    /// `pkg/api/entries.go`, verified by cosign `VerifySET`).
    fn sign_entry_timestamp(&self, body: &[u8], integrated_time: u64, log_index: u64) -> Vec<u8> {
        let payload = json!({
            "body": STANDARD.encode(body),
            "integratedTime": integrated_time,
            "logID": hex::encode(self.log_id()),
            "logIndex": log_index,
        });
        let canonical = serde_json_canonicalizer::to_vec(&payload).expect("JSON canonicalizes");
        self.key.sign(&canonical)
    }

    /// A signed note (C2SP signed-note, Rekor v1 checkpoint flavour):
    /// `<origin>\n<size>\n<b64 root>\n\n— <host> <b64(key hint || sig)>\n`,
    /// the key hint being the first 4 bytes of the log ID and the signature
    /// ECDSA over the note text up to and including the first blank line's
    /// preceding newline.
    fn checkpoint(&self, tree_size: u64, root_hash: &Hash) -> String {
        let note = format!(
            "{}\n{}\n{}\n",
            self.origin,
            tree_size,
            STANDARD.encode(root_hash)
        );
        let mut hint_and_sig = self.log_id()[..4].to_vec();
        hint_and_sig.extend(self.key.sign(note.as_bytes()));
        format!(
            "{note}\n\u{2014} {} {}\n",
            self.host,
            STANDARD.encode(hint_and_sig)
        )
    }
}

/// Leaf hash of another party's entry.
fn filler_leaf(salt: &str, n: usize) -> Hash {
    merkle::leaf_hash(format!("{{\"filler\":\"{salt}/{n}\"}}").as_bytes())
}

/// Hex SHA-256.
fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Base64 of the PEM of a certificate, as Rekor stores verifiers.
fn pem_b64(cert_der: &[u8]) -> String {
    STANDARD.encode(pem::certificate(cert_der))
}

/// Compact JSON bytes (Go `json.Marshal` style; the `json!` keys are written
/// in alphabetical order, which is also Rekor's model field order).
fn compact(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON serializes")
}

/// `hashedrekord` 0.0.1 body for a signature over an artifact with
/// `algorithm` digest `artifact_digest`.
pub(crate) fn hashedrekord_body(
    algorithm: HashAlg,
    artifact_digest: &[u8],
    signature: &[u8],
    cert_der: &[u8],
) -> Vec<u8> {
    compact(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm.rekor_name(), "value": hex::encode(artifact_digest)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": pem_b64(cert_der)},
            },
        },
    }))
}

/// `dsse` 0.0.1 body for a one-signature envelope whose JSON is
/// `envelope_json` (Rekor `pkg/types/dsse/v0.0.1`).
pub(crate) fn dsse_body(
    envelope_json: &[u8],
    payload: &[u8],
    signature: &[u8],
    cert_der: &[u8],
) -> Vec<u8> {
    compact(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": sha256_hex(envelope_json)},
            "payloadHash": {"algorithm": "sha256", "value": sha256_hex(payload)},
            "signatures": [{
                "signature": STANDARD.encode(signature),
                "verifier": pem_b64(cert_der),
            }],
        },
    }))
}

/// `intoto` 0.0.1 body (Rekor `pkg/types/intoto/v0.0.1`): only hashes of the
/// envelope and payload, and the verifier.
pub(crate) fn intoto_v001_body(envelope_json: &[u8], payload: &[u8], cert_der: &[u8]) -> Vec<u8> {
    compact(&json!({
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {
            "content": {
                "hash": {"algorithm": "sha256", "value": sha256_hex(envelope_json)},
                "payloadHash": {"algorithm": "sha256", "value": sha256_hex(payload)},
            },
            "publicKey": pem_b64(cert_der),
        },
    }))
}

/// `intoto` 0.0.2 body (Rekor `pkg/types/intoto/v0.0.2`): the envelope
/// without its payload; the signature gets an extra base64 layer.
pub(crate) fn intoto_v002_body(
    envelope_json: &[u8],
    payload_type: &str,
    payload: &[u8],
    signature: &[u8],
    cert_der: &[u8],
) -> Vec<u8> {
    compact(&json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": payload_type,
                    "signatures": [{
                        "publicKey": pem_b64(cert_der),
                        "sig": STANDARD.encode(STANDARD.encode(signature)),
                    }],
                },
                "hash": {"algorithm": "sha256", "value": sha256_hex(envelope_json)},
                "payloadHash": {"algorithm": "sha256", "value": sha256_hex(payload)},
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_indexes_grow_and_proofs_cover_the_entry() {
        let log = TransparencyLog::new(b"seed", "unit");
        let a = log.append(b"a".to_vec(), 100);
        let b = log.append(b"b".to_vec(), 101);
        assert_eq!(
            b.log_index,
            a.log_index + 1 + FILLER_ENTRIES_AFTER_EACH as u64
        );
        assert_eq!(a.proof.tree_index, PREFILLED_ENTRIES as u64);
        assert_eq!(a.log_index, INACTIVE_SHARDS_SIZE + a.proof.tree_index);
        assert!(b.proof.tree_size > b.proof.tree_index + 1);
        assert!(a.proof.checkpoint.starts_with("rekor.unit.test - "));
    }

    #[test]
    fn hashedrekord_body_has_rekor_layout() {
        let body = hashedrekord_body(HashAlg::Sha256, &[0xab; 32], b"sig", b"cert");
        let text = String::from_utf8(body).expect("utf8");
        assert!(text.starts_with(
            "{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",\"spec\":{\"data\":{\"hash\":{\"algorithm\":\"sha256\",\"value\":\"abab"
        ));
    }
}

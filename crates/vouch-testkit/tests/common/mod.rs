//! Helpers shared by the honesty tests: a fixed clock, tampering, and the
//! legacy-cosign-to-bundle conversion cosign and sigstore-go do internally.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vouch_testkit::{Identity, LegacyAttestation, LegacySignature};

/// Instance time of every test: 2025-06-15T15:06:40Z, safely in the past
/// (verifiers reject integrated times in the future of their clock).
pub const NOW: u64 = 1_750_000_000;

/// The workflow identity most tests sign with.
pub fn release_workflow() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

/// The SAN of [`release_workflow`].
pub const RELEASE_SAN: &str =
    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Flips the lowest bit of the last byte of the base64 field at `pointer`
/// (a JSON pointer) in `json`.
pub fn flip_b64_field(json: &str, pointer: &str) -> String {
    let mut value: Value = serde_json::from_str(json).expect("bundle JSON");
    let field = value.pointer_mut(pointer).expect("field exists");
    let mut bytes = STANDARD
        .decode(field.as_str().expect("string field"))
        .expect("base64");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    *field = Value::String(STANDARD.encode(bytes));
    serde_json::to_string(&value).expect("serializes")
}

/// Flips a bit in the middle of the base64 signature string `b64`.
pub fn flip_b64(b64: &str) -> String {
    let mut bytes = STANDARD.decode(b64).expect("base64");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    STANDARD.encode(bytes)
}

/// DER of the first PEM block in `pem`.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(b64).expect("PEM base64")
}

/// The transparency log entry of a legacy Rekor bundle annotation, in
/// bundle form with only an inclusion promise (what cosign's legacy
/// material proves).
fn tlog_entry_from_rekor_bundle(rekor_bundle_json: &str) -> Value {
    let rekor: Value = serde_json::from_str(rekor_bundle_json).expect("rekor bundle JSON");
    let payload = &rekor["Payload"];
    let body_b64 = payload["body"].as_str().expect("body");
    let body: Value = serde_json::from_slice(&STANDARD.decode(body_b64).expect("body base64"))
        .expect("body JSON");
    let log_id = hex::decode(payload["logID"].as_str().expect("logID")).expect("hex log ID");
    json!({
        "logIndex": payload["logIndex"].as_u64().expect("logIndex").to_string(),
        "logId": {"keyId": STANDARD.encode(log_id)},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": payload["integratedTime"].as_u64().expect("integratedTime").to_string(),
        "inclusionPromise": {"signedEntryTimestamp": rekor["SignedEntryTimestamp"]},
        "canonicalizedBody": body_b64,
    })
}

/// A v0.1 bundle equivalent to a legacy cosign signature: the simple-signing
/// payload is the artifact, the SET the only log proof.
pub fn legacy_signature_to_bundle(sig: &LegacySignature) -> String {
    let rekor = sig
        .rekor_bundle_json
        .as_deref()
        .expect("legacy signature has a Rekor bundle");
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [
                {"rawBytes": STANDARD.encode(pem_to_der(&sig.certificate_pem))},
            ]},
            "tlogEntries": [tlog_entry_from_rekor_bundle(rekor)],
        },
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": STANDARD.encode(Sha256::digest(&sig.payload)),
            },
            "signature": sig.signature_b64,
        },
    });
    serde_json::to_string(&bundle).expect("serializes")
}

/// A v0.1 bundle equivalent to a legacy cosign attestation: the layer's
/// DSSE envelope becomes the bundle's envelope.
pub fn legacy_attestation_to_bundle(att: &LegacyAttestation) -> String {
    let rekor = att
        .rekor_bundle_json
        .as_deref()
        .expect("legacy attestation has a Rekor bundle");
    let envelope: Value = serde_json::from_slice(&att.payload).expect("envelope JSON");
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [
                {"rawBytes": STANDARD.encode(pem_to_der(&att.certificate_pem))},
            ]},
            "tlogEntries": [tlog_entry_from_rekor_bundle(rekor)],
        },
        "dsseEnvelope": {
            "payload": envelope["payload"],
            "payloadType": envelope["payloadType"],
            "signatures": [{"sig": envelope["signatures"][0]["sig"]}],
        },
    });
    serde_json::to_string(&bundle).expect("serializes")
}

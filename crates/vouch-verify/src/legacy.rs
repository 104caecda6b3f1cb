//! Legacy cosign signatures: the `sha256-<hex>.sig` tag layout (SPEC.md §2.1,
//! §2.3, §3.1).
//!
//! The pieces from a signature layer and its annotations are converted into
//! a v0.1 Sigstore bundle with a SET-only transparency log entry — what cosign
//! and sigstore-go do internally — and verified by the same verifier as every
//! other bundle. That gives the legacy path the same checks as the bundle
//! path: SET over the JCS-canonical entry with the Rekor key chosen by log
//! ID and valid at the integrated time; entry ↔ signature, certificate and
//! payload-digest consistency (GHSA-whqx-f9j3-ch6m / CVE-2026-22703); chain
//! to a Fulcio CA from the trusted root (the `chain` annotation is not
//! trusted, as cosign ignores it when it has a trusted root); SCT; identity.
//! Finally the payload's `docker-manifest-digest` must equal the image digest.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::bundle::{ArtifactInput, SigstoreBundle, verify_bundle};
use crate::checks::ClaimCheck;
use crate::error::VerifyError;
use crate::policy::SignerPolicy;
use crate::simple_signing::SimpleSigningPayload;
use crate::trust::TrustedMaterial;
use crate::verified::{SignedContent, VerifiedAttestation, VerifiedSignature};
use crate::{ArtifactDigest, DigestAlgorithm, Sha256Digest};

/// Upper bound on the `dev.sigstore.cosign/bundle` annotation. A Rekor bundle
/// holds one base64 entry body (a certificate and a signature, ~3 KiB); an
/// intoto entry embeds the envelope. 1 MiB is far above both.
pub const MAX_REKOR_BUNDLE_SIZE: usize = 1024 * 1024;

/// One signature from a legacy `.sig` manifest: the layer bytes and the
/// annotations on its descriptor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LegacySignature {
    /// The layer content: the exact signed simple-signing payload.
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`: base64 of the signature.
    pub signature: String,
    /// `dev.sigstore.cosign/certificate`: the PEM leaf (absent for `--key`).
    pub certificate: Option<String>,
    /// `dev.sigstore.cosign/chain`: PEM intermediates and root. Informational:
    /// trust comes only from the trusted root.
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor SET JSON.
    pub rekor_bundle: Option<Vec<u8>>,
}

impl LegacySignature {
    /// The pieces, with no chain.
    pub fn new(
        payload: Vec<u8>,
        signature: String,
        certificate: Option<String>,
        rekor_bundle: Option<Vec<u8>>,
    ) -> Self {
        Self {
            payload,
            signature,
            certificate,
            chain: None,
            rekor_bundle,
        }
    }

    /// Sets the `chain` annotation.
    pub fn with_chain(mut self, chain: Option<String>) -> Self {
        self.chain = chain;
        self
    }
}

/// One attestation from a legacy `.att` manifest (SPEC.md §2.2): the layer
/// bytes (a DSSE envelope) and the annotations on its descriptor. The
/// `dev.cosignproject.cosign/signature` annotation is empty for attestations
/// (the signature is inside the envelope) and is not needed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LegacyAttestation {
    /// The layer content: the DSSE envelope JSON exactly as logged.
    pub envelope: Vec<u8>,
    /// `dev.sigstore.cosign/certificate`: the PEM leaf.
    pub certificate: Option<String>,
    /// `dev.sigstore.cosign/chain` (informational, as for signatures).
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor SET JSON.
    pub rekor_bundle: Option<Vec<u8>>,
}

impl LegacyAttestation {
    /// The pieces, with no chain.
    pub fn new(
        envelope: Vec<u8>,
        certificate: Option<String>,
        rekor_bundle: Option<Vec<u8>>,
    ) -> Self {
        Self {
            envelope,
            certificate,
            chain: None,
            rekor_bundle,
        }
    }
}

/// The DSSE envelope in a `.att` layer (secure-systems-lab DSSE JSON).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// The `dev.sigstore.cosign/bundle` annotation (cosign `pkg/cosign/bundle/rekor.go`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RekorPayload {
    body: serde_json::Value,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Verifies a legacy cosign signature on the image with digest `image`.
pub fn verify_legacy_signature(
    material: &TrustedMaterial,
    signature: &LegacySignature,
    image: Sha256Digest,
    policy: &SignerPolicy,
) -> Result<VerifiedSignature, VerifyError> {
    let payload = SimpleSigningPayload::parse(&signature.payload)?;
    let bundle = to_bundle(signature)?;
    let mut verified = verify_bundle(
        material,
        &bundle,
        ArtifactInput::Bytes(&signature.payload),
        policy,
    )?;
    // cosign SimpleClaimVerifier: the only claim checked (SPEC.md §2.1),
    // unless the caller switched claims off by name.
    if material.checks().claims == ClaimCheck::Required && payload.manifest_digest != image {
        return Err(VerifyError::DigestMismatch {
            expected: image.to_string(),
            found: payload.manifest_digest.to_string(),
        });
    }
    verified.artifact_digest = payload.manifest_digest.to_string();
    verified.content = SignedContent::SimpleSigning {
        payload: signature.payload.clone(),
        docker_reference: payload.docker_reference,
    };
    Ok(verified)
}

/// Verifies a legacy cosign attestation on the image with digest `image`:
/// the same checks as [`verify_legacy_signature`], over the DSSE envelope, plus
/// the statement's subject, and the logged envelope hash (the stored layer
/// must be byte-identical to what was logged, SPEC.md §3.1.1 step 5).
/// Only `intoto` 0.0.2 and `dsse` 0.0.1 entries are supported (cosign 1.x's
/// `intoto` 0.0.1 is refused, as sigstore-go refuses it).
pub fn verify_legacy_attestation(
    material: &TrustedMaterial,
    attestation: &LegacyAttestation,
    image: Sha256Digest,
    policy: &SignerPolicy,
) -> Result<VerifiedAttestation, VerifyError> {
    let bad = |detail: String| VerifyError::LegacySignature { detail };
    if attestation.envelope.len() > crate::bundle::MAX_BUNDLE_SIZE {
        return Err(bad(format!(
            "DSSE envelope is {} bytes, over the {}-byte limit",
            attestation.envelope.len(),
            crate::bundle::MAX_BUNDLE_SIZE
        )));
    }
    let envelope: Envelope = serde_json::from_slice(&attestation.envelope)
        .map_err(|e| bad(format!("attestation layer is not a DSSE envelope: {e}")))?;
    // Bundles require exactly one DSSE signature (ATTACKS.md A.11); so do we.
    let [signature] = envelope.signatures.as_slice() else {
        return Err(bad(format!(
            "DSSE envelope has {} signatures, expected exactly one",
            envelope.signatures.len()
        )));
    };
    let content = serde_json::json!({
        "dsseEnvelope": {
            "payload": envelope.payload,
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": signature.sig, "keyid": signature.keyid}],
        },
    });
    let (bundle, body) = legacy_bundle(
        &attestation.certificate,
        attestation.rekor_bundle.as_deref(),
        |_| Ok(content),
    )?;
    check_envelope_hash(&body, &attestation.envelope)?;
    let payload = STANDARD.decode(&envelope.payload).unwrap_or_default();
    let image = crate::bundle::subject_to_check(material, &payload, image);
    let verified = verify_bundle(material, &bundle, ArtifactInput::Sha256(image), policy)?;
    crate::bundle::attestation_from(verified)
}

/// cosign compares the logged envelope hash with the layer bytes
/// (`intoto`: `spec.content.hash`; `dsse`: `spec.envelopeHash`).
fn check_envelope_hash(body: &serde_json::Value, envelope: &[u8]) -> Result<(), VerifyError> {
    let hash = match body["kind"].as_str() {
        Some("intoto") => &body["spec"]["content"]["hash"],
        Some("dsse") => &body["spec"]["envelopeHash"],
        other => {
            return Err(VerifyError::LegacySignature {
                detail: format!(
                    "Rekor entry kind {} cannot log an attestation; expected intoto or dsse",
                    other.map_or_else(|| "(none)".to_string(), |kind| format!("`{kind}`"))
                ),
            });
        }
    };
    let algorithm = hash["algorithm"].as_str().unwrap_or_default();
    let logged = hash["value"].as_str().unwrap_or_default();
    let actual = Sha256Digest::of(envelope).hex();
    if algorithm != "sha256" || logged != actual {
        return Err(VerifyError::DigestMismatch {
            expected: format!("the logged envelope hash {algorithm}:{logged}"),
            found: format!("sha256:{actual} for the attestation layer"),
        });
    }
    Ok(())
}

/// Builds the v0.1 bundle cosign would build from a `.sig` layer. The
/// message digest is the payload's, in the algorithm the SET-signed
/// `hashedrekord` entry logged: SHA-256 for cosign's P-256 keys (and for
/// older clients' P-384 keys), SHA-384 / SHA-512 when cosign 3 signs with a
/// P-384 / P-521 key. The verifier then checks the signature with that hash.
fn to_bundle(sig: &LegacySignature) -> Result<SigstoreBundle, VerifyError> {
    let bad = |detail: String| VerifyError::LegacySignature { detail };
    let signature = STANDARD
        .decode(sig.signature.trim())
        .map_err(|e| bad(format!("signature annotation is not base64: {e}")))?;
    if signature.is_empty() {
        return Err(bad("signature annotation is empty".into()));
    }
    let content = |body: &serde_json::Value| {
        let digest = ArtifactDigest::of(logged_payload_algorithm(body)?, &sig.payload);
        Ok(serde_json::json!({
            "messageSignature": {
                "messageDigest": {
                    "algorithm": crate::bundle::to_sigstore(digest.algorithm()).to_string(),
                    "digest": STANDARD.encode(digest.as_bytes()),
                },
                "signature": STANDARD.encode(&signature),
            },
        }))
    };
    legacy_bundle(&sig.certificate, sig.rekor_bundle.as_deref(), content).map(|(b, _)| b)
}

/// The algorithm a `hashedrekord` entry logs the payload digest in
/// (`spec.data.hash.algorithm`). Other entry kinds cannot log a message
/// signature; they keep SHA-256 and the verifier refuses them by kind.
fn logged_payload_algorithm(body: &serde_json::Value) -> Result<DigestAlgorithm, VerifyError> {
    if body["kind"] != "hashedrekord" {
        return Ok(DigestAlgorithm::Sha256);
    }
    let name = body["spec"]["data"]["hash"]["algorithm"]
        .as_str()
        .unwrap_or_default();
    DigestAlgorithm::from_name(name).ok_or_else(|| VerifyError::LegacySignature {
        detail: format!(
            "Rekor bundle annotation: the hashedrekord entry logs the payload with hash \
             algorithm `{name}`; expected sha256, sha384 or sha512"
        ),
    })
}

/// A v0.1 bundle from the certificate and Rekor bundle annotations and the
/// signed content (`messageSignature` or `dsseEnvelope`, made from the
/// decoded Rekor entry body), plus that body.
fn legacy_bundle(
    certificate: &Option<String>,
    rekor_bundle: Option<&[u8]>,
    content: impl FnOnce(&serde_json::Value) -> Result<serde_json::Value, VerifyError>,
) -> Result<(SigstoreBundle, serde_json::Value), VerifyError> {
    let bad = |detail: String| VerifyError::LegacySignature { detail };
    let rekor = rekor_bundle.ok_or_else(|| {
        bad(
            "no `dev.sigstore.cosign/bundle` annotation: the signature carries no \
             transparency-log proof, and vouch verifies offline only"
                .into(),
        )
    })?;
    let (entry, body) = tlog_entry(rekor)?;
    let mut material = match certificate {
        Some(pem) if !pem.trim().is_empty() => {
            let der = sigstore_types::DerCertificate::from_pem(pem)
                .map_err(|e| bad(format!("certificate annotation: {e}")))?;
            serde_json::json!({"x509CertificateChain": {"certificates": [{"rawBytes": STANDARD.encode(der.as_bytes())}]}})
        }
        _ => serde_json::json!({"publicKey": {"hint": ""}}),
    };
    material["tlogEntries"] = serde_json::json!([entry]);
    let mut bundle = content(&body)?;
    bundle["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
    bundle["verificationMaterial"] = material;
    let inner = sigstore_types::Bundle::from_json(&bundle.to_string())
        .map_err(|e| bad(format!("cannot form a bundle from the annotations: {e}")))?;
    Ok((SigstoreBundle::from_parts(inner), body))
}

/// The bundle's tlog entry from the Rekor SET annotation.
fn tlog_entry(rekor: &[u8]) -> Result<(serde_json::Value, serde_json::Value), VerifyError> {
    let bad = |detail: String| VerifyError::LegacySignature {
        detail: format!("Rekor bundle annotation: {detail}"),
    };
    if rekor.len() > MAX_REKOR_BUNDLE_SIZE {
        return Err(bad(format!(
            "{} bytes, over the {MAX_REKOR_BUNDLE_SIZE}-byte limit",
            rekor.len()
        )));
    }
    let parsed: RekorBundle = serde_json::from_slice(rekor).map_err(|e| bad(e.to_string()))?;
    let p = parsed.payload;
    // cosign: "bundle payload body is not a string".
    let body_b64 = p
        .body
        .as_str()
        .ok_or_else(|| bad("Payload.body is not a string".into()))?;
    let body = STANDARD
        .decode(body_b64)
        .map_err(|e| bad(format!("Payload.body is not base64: {e}")))?;
    let body_json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("Payload.body is not a JSON Rekor entry: {e}")))?;
    let kind = body_json["kind"].as_str().unwrap_or_default();
    let version = body_json["apiVersion"].as_str().unwrap_or_default();
    if kind.is_empty() || version.is_empty() {
        return Err(bad("the Rekor entry has no kind or apiVersion".into()));
    }
    if p.log_index < 0 || p.integrated_time <= 0 {
        return Err(bad(format!(
            "logIndex {} / integratedTime {} must be positive",
            p.log_index, p.integrated_time
        )));
    }
    let log_id = Sha256Digest::from_hex(&p.log_id).map_err(|_| {
        bad(format!(
            "logID `{}` is not 64 lowercase hex digits",
            p.log_id
        ))
    })?;
    STANDARD
        .decode(&parsed.signed_entry_timestamp)
        .map_err(|e| bad(format!("SignedEntryTimestamp is not base64: {e}")))?;
    let entry = serde_json::json!({
        "logIndex": p.log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(log_id.as_bytes())},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": p.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": parsed.signed_entry_timestamp},
        "canonicalizedBody": body_b64,
    });
    Ok((entry, body_json))
}

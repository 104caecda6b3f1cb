//! Sigstore bundles (v0.1–v0.3): parse strictly, verify with
//! `sigstore-verify`, then apply vouch's identity policy.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigstore_types::bundle::VerificationMaterialContent;
use sigstore_types::{Artifact, Bundle, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

use crate::checks::{Checks, ClaimCheck, LogCheck, SctCheck, TimestampCheck};
use crate::claims::CertificateClaims;
use crate::error::{SignerKind, TimestampError, TimestampNeed, VerifyError};
use crate::policy::SignerPolicy;
use crate::trust::TrustedMaterial;
use crate::verified::{SignedContent, Signer, VerifiedAttestation, VerifiedSignature};
use crate::{ArtifactDigest, DigestAlgorithm, Sha256Digest};

/// Upper bound on a bundle's JSON. Real bundles are 5–15 KiB (a certificate,
/// one log entry, an envelope); cosign caps a whole attachment at 128 MiB
/// (`COSIGN_MAX_ATTACHMENT_SIZE`), but a DSSE payload inside a bundle is
/// an attestation such as an SBOM, which we bound at 64 MiB.
pub const MAX_BUNDLE_SIZE: usize = 64 * 1024 * 1024;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A Sigstore bundle that parsed and passed structural checks. It is not
/// verified: pass it to [`verify_bundle`] or [`verify_attestation`].
#[derive(Debug, Clone)]
pub struct SigstoreBundle {
    pub(crate) inner: Bundle,
}

impl SigstoreBundle {
    /// Parses bundle JSON. Unknown fields are refused, as protojson (which
    /// cosign and sigstore-go use) refuses them (ATTACKS.md A.12).
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        if bytes.len() > MAX_BUNDLE_SIZE {
            return Err(VerifyError::BundleTooLarge {
                size: bytes.len(),
                limit: MAX_BUNDLE_SIZE,
            });
        }
        let malformed = |detail: String| VerifyError::MalformedBundle { detail };
        let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8".into()))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| malformed(format!("not JSON: {e}")))?;
        crate::schema::check_bundle_fields(&value)?;
        let inner = Bundle::from_json(text).map_err(|e| malformed(e.to_string()))?;
        refuse_root_in_chain(&inner)?;
        refuse_duplicate_entries(&inner)?;
        Ok(Self { inner })
    }

    /// The bundle's media type, e.g. `application/vnd.dev.sigstore.bundle.v0.3+json`.
    pub fn media_type(&self) -> String {
        self.inner.media_type().as_str().to_string()
    }

    pub(crate) fn from_parts(inner: Bundle) -> Self {
        Self { inner }
    }
}

/// What a signature is checked against: the artifact's bytes, or only its
/// digest (an image manifest digest, or `sha256:…` / `sha384:…` /
/// `sha512:…` on the command line).
///
/// Given the bytes, every digest the bundle can be bound by is computed:
/// for a DSSE envelope each algorithm its statement's subjects use (SHA-256,
/// SHA-512), for a message signature its `messageDigest` algorithm. Given a
/// digest, a DSSE subject must carry that algorithm's digest, and a message
/// signature's `messageDigest` must be in that algorithm (a P-384 signature
/// made by cosign 3 is over SHA-384, a P-521 one over SHA-512).
#[derive(Debug, Clone, Copy)]
pub enum ArtifactInput<'a> {
    /// The artifact itself.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest.
    Sha256(Sha256Digest),
    /// The artifact's digest in any [`crate::DigestAlgorithm`].
    Digest(&'a ArtifactDigest),
}

/// Verifies `bundle` over `artifact` and checks the signer against `policy`.
///
/// Steps (sigstore-go `pkg/verify/signed_entity.go` order; SPEC.md §3.2):
/// transparency log evidence (SET and/or inclusion proof + checkpoint),
/// certificate chain at every verified time with codeSigning EKU, SCT,
/// signature over the artifact or DSSE PAE, artifact binding, tlog body
/// consistency, then the identity policy on the verified certificate.
pub fn verify_bundle(
    material: &TrustedMaterial,
    bundle: &SigstoreBundle,
    artifact: ArtifactInput<'_>,
    policy: &SignerPolicy,
) -> Result<VerifiedSignature, VerifyError> {
    let b = &bundle.inner;
    let sv_artifact: Artifact<'_> = match artifact {
        ArtifactInput::Bytes(bytes) => Artifact::Blob(bytes),
        ArtifactInput::Sha256(d) => Artifact::from(sigstore_types::Sha256Hash::new(*d.as_bytes())),
        ArtifactInput::Digest(d) => Artifact::Digest(
            sigstore_types::ArtifactDigest::new(to_sigstore(d.algorithm()), d.as_bytes()).map_err(
                |e| VerifyError::MalformedArtifactDigest {
                    found: format!("{d}: {e}"),
                },
            )?,
        ),
    };
    let has_certificate = !matches!(
        b.verification_material.content,
        VerificationMaterialContent::PublicKey(_)
    );
    let checks = material.checks();
    require_signing_time(b, checks, has_certificate)?;
    let result = match (policy, has_certificate) {
        (SignerPolicy::PublicKey(key), false) => {
            let key = sigstore_types::DerPublicKey::from(key.clone());
            let mut upstream = PublicKeyVerificationPolicy::new(key);
            if checks.log == LogCheck::InsecureSkipped {
                upstream = upstream.skip_tlog_unsafe();
            }
            material.verifier().verify(sv_artifact, b, &upstream)
        }
        (SignerPolicy::Keyless(_) | SignerPolicy::InsecureAnyIdentity, true) => {
            let mut upstream = VerificationPolicy::any_identity();
            if checks.log == LogCheck::InsecureSkipped {
                upstream = upstream.skip_tlog_unsafe();
            }
            if checks.sct == SctCheck::InsecureSkipped {
                upstream = upstream.skip_sct();
            }
            material.verifier().verify(sv_artifact, b, &upstream)
        }
        (SignerPolicy::PublicKey(_), true) => {
            return Err(VerifyError::SignerKindMismatch {
                expected: SignerKind::PublicKey,
                found: SignerKind::Certificate,
            });
        }
        (_, false) => {
            return Err(VerifyError::SignerKindMismatch {
                expected: SignerKind::Certificate,
                found: SignerKind::PublicKey,
            });
        }
    }
    .map_err(crate::upstream::translate)?;
    // Fields sigstore-verify leaves unchecked (issue 13): checked after it,
    // so that a forged signature or proof reports its own, more basic error.
    crate::consistency::check_unchecked_fields(material, b)?;

    let signer = match policy {
        SignerPolicy::PublicKey(_) => Signer::PublicKey,
        SignerPolicy::Keyless(identity) => {
            let claims = leaf_claims(b)?;
            identity.check(&claims)?;
            Signer::Certificate(claims)
        }
        SignerPolicy::InsecureAnyIdentity => Signer::UncheckedCertificate(leaf_claims(b)?),
    };
    // An entry the log was not checked for proves nothing about the log.
    let first_entry = b
        .verification_material
        .tlog_entries
        .first()
        .filter(|_| checks.log == LogCheck::Required);
    Ok(VerifiedSignature {
        artifact_digest: artifact_digest(artifact),
        signer,
        checks,
        log_index: first_entry.map(|e| e.log_index.get()),
        integrated_time: result.integrated_time(),
        verified_times: result.verified_timestamps().to_vec(),
        content: signed_content(b)?,
    })
}

/// Verifies a DSSE in-toto attestation bundle about `subject` (an image
/// digest, or a blob or blob digest whose statement may name it by SHA-256
/// or SHA-512; a subject matches on any algorithm it shares with the
/// artifact, sigstore-go `verifyEnvelopeWithArtifactDigests`):
/// everything [`verify_bundle`] checks, plus the payload type and the
/// statement's subject. It does not filter on the
/// predicate type: callers filter among *verified* attestations (cosign's
/// order, SPEC.md §4.2; ATTACKS.md F.66).
pub fn verify_attestation(
    material: &TrustedMaterial,
    bundle: &SigstoreBundle,
    subject: ArtifactInput<'_>,
    policy: &SignerPolicy,
) -> Result<VerifiedAttestation, VerifyError> {
    if !matches!(bundle.inner.content, SignatureContent::DsseEnvelope(_)) {
        return Err(VerifyError::MalformedPayload {
            detail: "expected a DSSE envelope (an attestation), the bundle holds a plain \
                     message signature"
                .into(),
        });
    }
    let subject = match (subject, &bundle.inner.content) {
        (ArtifactInput::Sha256(image), SignatureContent::DsseEnvelope(env)) => {
            ArtifactInput::Sha256(subject_to_check(material, env.payload.as_bytes(), image))
        }
        _ => subject,
    };
    let signature = verify_bundle(material, bundle, subject, policy)?;
    attestation_from(signature)
}

/// The image digest a statement about `image` is bound to: `image` itself,
/// unless the claim check is off ([`ClaimCheck::InsecureSkipped`], cosign's
/// `--check-claims=false`); then the first SHA-256 subject the statement
/// names, which makes the binding hold by construction while the signature
/// over the statement is still verified. A statement with no such subject
/// keeps `image` (and fails the binding as it would have).
pub(crate) fn subject_to_check(
    material: &TrustedMaterial,
    payload: &[u8],
    image: Sha256Digest,
) -> Sha256Digest {
    if material.checks().claims == ClaimCheck::Required {
        return image;
    }
    vouch_attest::parse_statement(payload)
        .ok()
        .and_then(|statement| {
            statement
                .subjects()
                .iter()
                .find_map(|s| Sha256Digest::from_hex(s.digest_for("sha256")?).ok())
        })
        .unwrap_or(image)
}

/// Turns a verified DSSE signature into a verified attestation.
pub(crate) fn attestation_from(
    signature: VerifiedSignature,
) -> Result<VerifiedAttestation, VerifyError> {
    let SignedContent::Dsse {
        payload_type,
        payload,
        ..
    } = &signature.content
    else {
        return Err(VerifyError::MalformedPayload {
            detail: "expected a DSSE envelope".into(),
        });
    };
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::MalformedPayload {
            detail: format!(
                "DSSE payloadType is `{payload_type}`, expected `{IN_TOTO_PAYLOAD_TYPE}`"
            ),
        });
    }
    let statement =
        vouch_attest::parse_statement(payload).map_err(|e| VerifyError::MalformedPayload {
            detail: format!("in-toto statement: {e}"),
        })?;
    Ok(VerifiedAttestation {
        signature,
        statement,
    })
}

/// Refuses, before any cryptography, a bundle that cannot prove when it was
/// signed under `checks`: one without an RFC 3161 timestamp when those are
/// required, or a certificate's when the log is not checked and no entry
/// carries a Signed Entry Timestamp (sigstore-verify would refuse it too,
/// later and in vaguer words; cosign would fall back to the clock,
/// ATTACKS.md D.47). A managed key has no validity period, so its
/// signature needs no signing time unless timestamps are required.
fn require_signing_time(
    bundle: &Bundle,
    checks: Checks,
    has_certificate: bool,
) -> Result<(), VerifyError> {
    let has_timestamp = !bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps
        .is_empty();
    if has_timestamp {
        return Ok(());
    }
    if checks.timestamp == TimestampCheck::Required {
        return Err(TimestampError::Missing(TimestampNeed::Required).into());
    }
    let has_promise = bundle
        .verification_material
        .tlog_entries
        .iter()
        .any(|e| e.inclusion_promise.is_some());
    if has_certificate && checks.log == LogCheck::InsecureSkipped && !has_promise {
        return Err(TimestampError::Missing(TimestampNeed::NoLogEvidence).into());
    }
    Ok(())
}

/// Trust anchors come only from the trusted root: a bundle that carries a
/// self-signed certificate in its chain is refused rather than silently
/// ignored (ATTACKS.md A.4, conformance `bundle-with-root-cert_fail`).
fn refuse_root_in_chain(bundle: &Bundle) -> Result<(), VerifyError> {
    use x509_cert::der::Decode as _;
    let VerificationMaterialContent::X509CertificateChain { certificates } =
        &bundle.verification_material.content
    else {
        return Ok(());
    };
    for (i, cert) in certificates.iter().enumerate() {
        let parsed = x509_cert::Certificate::from_der(cert.raw_bytes.as_bytes()).map_err(|e| {
            VerifyError::MalformedBundle {
                detail: format!("certificate {i} of the chain: {e}"),
            }
        })?;
        let tbs = &parsed.tbs_certificate;
        if tbs.issuer == tbs.subject {
            return Err(VerifyError::MalformedBundle {
                detail: format!(
                    "certificate {i} of the bundle's chain is a self-signed root ({}); trust \
                     anchors come only from the trusted root",
                    tbs.subject
                ),
            });
        }
    }
    Ok(())
}

/// Two entries from the same log at the same index could inflate a
/// threshold (sigstore-go `pkg/verify/tlog.go`; ATTACKS.md A.10).
fn refuse_duplicate_entries(bundle: &Bundle) -> Result<(), VerifyError> {
    let entries = &bundle.verification_material.tlog_entries;
    for (i, a) in entries.iter().enumerate() {
        if entries[..i]
            .iter()
            .any(|b| b.log_id == a.log_id && b.log_index == a.log_index)
        {
            return Err(VerifyError::MalformedBundle {
                detail: format!(
                    "duplicate transparency log entries (log index {})",
                    a.log_index.get()
                ),
            });
        }
    }
    Ok(())
}

fn leaf_claims(bundle: &Bundle) -> Result<CertificateClaims, VerifyError> {
    let leaf = bundle
        .signing_certificate()
        .ok_or_else(|| VerifyError::MalformedBundle {
            detail: "no signing certificate".into(),
        })?;
    CertificateClaims::from_der(leaf.as_bytes())
}

fn artifact_digest(artifact: ArtifactInput<'_>) -> String {
    match artifact {
        ArtifactInput::Bytes(bytes) => Sha256Digest::of(bytes).to_string(),
        ArtifactInput::Sha256(d) => d.to_string(),
        ArtifactInput::Digest(d) => d.to_string(),
    }
}

fn signed_content(bundle: &Bundle) -> Result<SignedContent, VerifyError> {
    Ok(match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            let payload = env.payload.as_bytes().to_vec();
            let envelope_json = serde_json::json!({
                "payloadType": env.payload_type,
                "payload": STANDARD.encode(&payload),
                "signatures": [{"keyid": env.signature.keyid.as_str(),
                                "sig": STANDARD.encode(env.signature.sig.as_bytes())}],
            })
            .to_string();
            SignedContent::Dsse {
                payload_type: env.payload_type.clone(),
                payload,
                envelope_json,
            }
        }
        _ => SignedContent::Artifact,
    })
}

/// Sigstore's name for a digest algorithm.
pub(crate) fn to_sigstore(algorithm: DigestAlgorithm) -> sigstore_types::HashAlgorithm {
    match algorithm {
        DigestAlgorithm::Sha256 => sigstore_types::HashAlgorithm::Sha2256,
        DigestAlgorithm::Sha384 => sigstore_types::HashAlgorithm::Sha2384,
        DigestAlgorithm::Sha512 => sigstore_types::HashAlgorithm::Sha2512,
    }
}

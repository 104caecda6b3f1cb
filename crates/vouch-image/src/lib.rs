//! # vouch-image: find and verify what is attached to one image
//!
//! Everything attached to one image, listed once and verified: Sigstore
//! bundle referrers (cosign v3), legacy `.sig` signatures and `.att`
//! attestations (cosign v2). [`verify_attached`] is shared by `vouch verify`,
//! `verify-attestation`, `verify-release` (through `vouch-release`) and
//! `audit`; the registry work is `vouch-oci`'s, the verification
//! `vouch-verify`'s, and this crate decides which is which: a bundle whose
//! predicate is [`COSIGN_SIGN_PREDICATE`] is a signature, any other an
//! attestation.
#![forbid(unsafe_code)]

use vouch_oci::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, ImageSource, LegacyLayer,
    OciError, ReferrersSource, Repository, SIGNATURE_ANNOTATION,
};
use vouch_verify::{
    ArtifactInput, CertificateClaims, LegacyAttestation, LegacySignature, Sha256Digest,
    SignerPolicy, SigstoreBundle, TrustedMaterial, VerifiedAttestation, VerifiedSignature,
    VerifyError, verify_attestation, verify_legacy_attestation, verify_legacy_signature,
};

/// The predicate type `cosign sign` (v3) signs; a bundle with any other type
/// is an attestation, not a signature (ATTACKS.md F.67).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Which legacy tags to look at (bundle referrers are always listed: one
/// listing serves both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `.sig` only (`vouch verify`).
    Signatures,
    /// `.att` only (`vouch verify-attestation`).
    Attestations,
    /// Both (`vouch verify-release`).
    Everything,
}

/// A verified signature on an image, in the layout it was found in.
#[derive(Debug, Clone)]
pub enum ImageSignature {
    /// A bundle referrer whose statement is cosign's signature predicate.
    Bundle(Box<VerifiedAttestation>),
    /// A legacy `.sig` signature, with the pieces it was verified from.
    Legacy(Box<VerifiedSignature>, Box<LegacySignature>),
}

impl ImageSignature {
    /// The verified signature.
    pub fn signature(&self) -> &VerifiedSignature {
        match self {
            Self::Bundle(att) => att.signature(),
            Self::Legacy(sig, _) => sig,
        }
    }
}

/// One thing attached to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Candidate {
    /// A Sigstore bundle referrer, by its manifest's digest.
    Referrer(Sha256Digest),
    /// Layer `layer` (from 0) of the legacy `sha256-<image>.sig` manifest.
    LegacySignature {
        /// The signed image.
        image: Sha256Digest,
        /// The layer's position.
        layer: usize,
    },
    /// Layer `layer` (from 0) of the legacy `sha256-<image>.att` manifest.
    LegacyAttestation {
        /// The attested image.
        image: Sha256Digest,
        /// The layer's position.
        layer: usize,
    },
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Referrer(digest) => write!(f, "referrer {digest}"),
            Self::LegacySignature { image, layer } => {
                write!(f, "sha256-{}.sig layer {layer}", image.hex())
            }
            Self::LegacyAttestation { image, layer } => {
                write!(f, "sha256-{}.att layer {layer}", image.hex())
            }
        }
    }
}

/// A candidate that did not verify, and why.
#[derive(Debug, thiserror::Error)]
#[error("{candidate}: {error}")]
pub struct Rejection {
    /// What was rejected.
    pub candidate: Candidate,
    /// Why.
    #[source]
    pub error: VerifyError,
    /// For a bundle referrer, the predicate type it says it has (its
    /// `dev.sigstore.bundle.predicateType` annotation, else its statement's
    /// `predicateType`). Unverified: it only sorts rejections for display.
    pub claimed_predicate_type: Option<String>,
}

impl Rejection {
    /// Whether the candidate is, by its own account, a signature: a `.sig`
    /// layer, or a bundle that claims cosign's signature predicate or no
    /// predicate at all. Unverified, so only for choosing what to show.
    pub fn is_signature_candidate(&self) -> bool {
        match self.candidate {
            Candidate::LegacySignature { .. } => true,
            Candidate::LegacyAttestation { .. } => false,
            Candidate::Referrer(_) => self
                .claimed_predicate_type
                .as_deref()
                .is_none_or(|t| t == COSIGN_SIGN_PREDICATE),
        }
    }

    /// The certificate's claims, when the rejection is an identity-policy
    /// mismatch (the signature itself verified).
    pub fn policy_mismatch(&self) -> Option<&CertificateClaims> {
        match &self.error {
            VerifyError::Policy { certificate, .. } => Some(certificate),
            _ => None,
        }
    }
}

/// What verified on one image, and what did not.
#[derive(Debug)]
pub struct Attached {
    /// Verified signatures.
    pub signatures: Vec<ImageSignature>,
    /// Verified attestations (any predicate type but cosign's signature type).
    pub attestations: Vec<VerifiedAttestation>,
    /// Why each other candidate was rejected, naming it.
    pub rejected: Vec<Rejection>,
    /// Each candidate that verified, with the predicate type it was
    /// verified as (cosign's signature type for a signature): which
    /// attached statement covers the image, for a saved release.
    pub verified: Vec<(Candidate, String)>,
    /// How many signature candidates there were (bundle referrers and `.sig` layers).
    pub signature_candidates: usize,
    /// How many attestation candidates there were (bundle referrers and `.att` layers).
    pub attestation_candidates: usize,
    /// How the bundle referrers were listed.
    pub referrers: ReferrersSource,
}

impl Attached {
    /// Every rejection's text, joined by `separator`.
    pub fn rejections(&self, separator: &str) -> String {
        self.rejected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// The rejections of signature candidates only (not of the SBOM, SLSA
    /// or VEX attestations attached beside them).
    pub fn signature_rejections(&self) -> impl Iterator<Item = &Rejection> {
        self.rejected.iter().filter(|r| r.is_signature_candidate())
    }

    /// Each distinct set of certificate claims among the identity-policy
    /// mismatches of signature candidates, in the order first seen.
    pub fn mismatched_signers(&self) -> Vec<&CertificateClaims> {
        distinct_signers(self.signature_rejections())
    }

    /// A warning to show when the referrers were listed from the tag schema
    /// only because the referrers API failed and the caller allowed that.
    pub fn fallback_warning(&self) -> Option<String> {
        match &self.referrers {
            ReferrersSource::TagSchemaAfterError { error } => Some(format!(
                "the referrers API failed ({error}); as the fallback after a server error \
                 allowed, only the referrers tag schema and the legacy .sig/.att tags were \
                 searched, so signatures and attestations attached only through the referrers \
                 API (cosign v3 bundles) were not seen"
            )),
            _ => None,
        }
    }
}

/// A layer of a legacy `.sig` manifest as the cosign signature it carries:
/// the simple-signing payload, and the signature, certificate, chain and
/// Rekor bundle from its annotations (SPEC.md §2.1).
pub fn legacy_signature(layer: LegacyLayer) -> LegacySignature {
    let a = &layer.descriptor.annotations;
    LegacySignature::new(
        layer.content,
        a.get(SIGNATURE_ANNOTATION).cloned().unwrap_or_default(),
        a.get(CERTIFICATE_ANNOTATION).cloned(),
        a.get(BUNDLE_ANNOTATION).map(|b| b.clone().into_bytes()),
    )
    .with_chain(a.get(CHAIN_ANNOTATION).cloned())
}

/// A layer of a legacy `.att` manifest as the cosign attestation it
/// carries: the DSSE envelope, and the certificate and Rekor bundle from
/// its annotations.
pub fn legacy_attestation(layer: LegacyLayer) -> LegacyAttestation {
    let a = &layer.descriptor.annotations;
    LegacyAttestation::new(
        layer.content,
        a.get(CERTIFICATE_ANNOTATION).cloned(),
        a.get(BUNDLE_ANNOTATION).map(|b| b.clone().into_bytes()),
    )
}

/// Lists what is attached to `repo@digest` once, from a registry or an
/// image layout on disk, and verifies all of it against `signer`.
pub async fn verify_attached(
    client: &impl ImageSource,
    material: &TrustedMaterial,
    repo: &Repository,
    digest: Sha256Digest,
    signer: &SignerPolicy,
    lookup: Lookup,
) -> Result<Attached, OciError> {
    let (bundles, referrers) = client.sigstore_bundles(repo, &digest).await?;
    let legacy_sigs = match lookup {
        Lookup::Attestations => Vec::new(),
        _ => client
            .legacy_layers(repo, &digest, "sig")
            .await?
            .into_iter()
            .map(legacy_signature)
            .collect(),
    };
    let legacy_atts = match lookup {
        Lookup::Signatures => Vec::new(),
        _ => client
            .legacy_layers(repo, &digest, "att")
            .await?
            .into_iter()
            .map(legacy_attestation)
            .collect(),
    };
    let mut found = Attached {
        signatures: Vec::new(),
        attestations: Vec::new(),
        rejected: Vec::new(),
        verified: Vec::new(),
        signature_candidates: bundles.len() + legacy_sigs.len(),
        attestation_candidates: bundles.len() + legacy_atts.len(),
        referrers,
    };
    let subject = ArtifactInput::Sha256(digest);
    for referrer in &bundles {
        let outcome = SigstoreBundle::from_json(&referrer.bundle)
            .and_then(|b| verify_attestation(material, &b, subject, signer));
        if let Ok(att) = &outcome {
            let candidate = Candidate::Referrer(referrer.manifest_digest);
            found
                .verified
                .push((candidate, att.predicate_type().to_string()));
        }
        match outcome {
            Ok(att) if att.predicate_type() == COSIGN_SIGN_PREDICATE => {
                found.signatures.push(ImageSignature::Bundle(Box::new(att)))
            }
            Ok(att) => found.attestations.push(att),
            Err(error) => found.rejected.push(Rejection {
                candidate: Candidate::Referrer(referrer.manifest_digest),
                error,
                claimed_predicate_type: claimed_predicate_type(referrer),
            }),
        }
    }
    for (i, sig) in legacy_sigs.into_iter().enumerate() {
        match verify_legacy_signature(material, &sig, digest, signer) {
            Ok(v) => {
                let candidate = Candidate::LegacySignature {
                    image: digest,
                    layer: i,
                };
                found
                    .verified
                    .push((candidate, COSIGN_SIGN_PREDICATE.to_string()));
                found
                    .signatures
                    .push(ImageSignature::Legacy(Box::new(v), Box::new(sig)))
            }
            Err(error) => found.rejected.push(Rejection {
                candidate: Candidate::LegacySignature {
                    image: digest,
                    layer: i,
                },
                error,
                claimed_predicate_type: None,
            }),
        }
    }
    for (i, att) in legacy_atts.iter().enumerate() {
        match verify_legacy_attestation(material, att, digest, signer) {
            Ok(att) => {
                let candidate = Candidate::LegacyAttestation {
                    image: digest,
                    layer: i,
                };
                found
                    .verified
                    .push((candidate, att.predicate_type().to_string()));
                found.attestations.push(att)
            }
            Err(error) => found.rejected.push(Rejection {
                candidate: Candidate::LegacyAttestation {
                    image: digest,
                    layer: i,
                },
                error,
                claimed_predicate_type: None,
            }),
        }
    }
    Ok(found)
}

/// Each distinct set of certificate claims among the identity-policy
/// mismatches in `rejections`, in the order first seen.
pub fn distinct_signers<'a>(
    rejections: impl Iterator<Item = &'a Rejection>,
) -> Vec<&'a CertificateClaims> {
    let mut signers: Vec<&CertificateClaims> = Vec::new();
    for claims in rejections.filter_map(Rejection::policy_mismatch) {
        if !signers.contains(&claims) {
            signers.push(claims);
        }
    }
    signers
}

/// The predicate type a referrer says it has: its annotation, else the
/// `predicateType` of the statement in its DSSE envelope. Unverified.
fn claimed_predicate_type(referrer: &vouch_oci::BundleReferrer) -> Option<String> {
    use base64::Engine as _;
    if let Some(hint) = &referrer.predicate_type_hint {
        return Some(hint.clone());
    }
    let bundle: serde_json::Value = serde_json::from_slice(&referrer.bundle).ok()?;
    let payload = bundle.pointer("/dsseEnvelope/payload")?.as_str()?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    Some(statement.get("predicateType")?.as_str()?.to_string())
}

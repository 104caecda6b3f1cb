//! Why verification failed, precisely enough to act on.

use crate::claims::CertificateClaims;

/// Every way verification can fail. Messages say what was expected and what
/// was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A digest string is malformed (the grammar it breaks is in the
    /// [`DigestError`](vouch_oci_types::DigestError)).
    #[error(transparent)]
    MalformedDigest(#[from] vouch_oci_types::DigestError),
    /// An artifact digest is not `sha256:`, `sha384:` or `sha512:` followed
    /// by the digest's length in lowercase hex digits.
    #[error(
        "malformed artifact digest `{found}`: expected `sha256:`, `sha384:` or `sha512:` followed \
         by 64, 96 or 128 lowercase hex digits"
    )]
    MalformedArtifactDigest {
        /// The first characters of what was given.
        found: String,
    },
    /// The bundle is not a well-formed Sigstore bundle.
    #[error("malformed Sigstore bundle: {detail}")]
    MalformedBundle {
        /// What is wrong with it.
        detail: String,
    },
    /// The bundle is larger than [`crate::MAX_BUNDLE_SIZE`].
    #[error("Sigstore bundle is {size} bytes; the limit is {limit} bytes")]
    BundleTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The trusted root cannot be used.
    #[error("unusable trusted root: {detail}")]
    TrustedRoot {
        /// What is wrong with it.
        detail: String,
    },
    /// The leaf certificate cannot be parsed.
    #[error("malformed certificate: {detail}")]
    MalformedCertificate {
        /// What is wrong with it.
        detail: String,
    },
    /// The certificate's identity claims cannot be interpreted unambiguously.
    #[error("refusing an ambiguous certificate: {detail}")]
    AmbiguousCertificate {
        /// Why.
        detail: String,
    },
    /// A public key given for `--key` verification cannot be parsed.
    #[error("malformed public key: {detail}")]
    MalformedKey {
        /// What is wrong with it.
        detail: String,
    },
    /// A `*-regexp` pattern cannot be used.
    #[error("bad pattern `{pattern}`: {reason}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it is refused.
        reason: String,
    },
    /// The signature is cryptographically valid but the signer is not the one
    /// the policy asks for.
    #[error("{problem}\nthe certificate has:\n{}", indent(&certificate.describe()))]
    Policy {
        /// The first policy clause that failed.
        problem: PolicyError,
        /// Every claim the certificate actually carries.
        certificate: Box<CertificateClaims>,
    },
    /// The signature, certificate chain, SCT, transparency log evidence or
    /// artifact binding failed a cryptographic or consistency check.
    #[error("{check}: {source}")]
    Sigstore {
        /// Which step failed, in words.
        check: &'static str,
        /// The underlying failure.
        #[source]
        source: sigstore_verify::Error,
    },
    /// A transparency-log entry carries a field that disagrees with the
    /// signed data it duplicates (the checkpoint, the entry itself) or with
    /// the trusted root. No signature is forged this way, but a field nothing
    /// checks is malleability a verifier must not have (issue 13).
    #[error("transparency log entry {entry}: `{field}` is {bundle}, expected {expected}")]
    InconsistentLogEntry {
        /// The entry's position in `verificationMaterial.tlogEntries`.
        entry: usize,
        /// The bundle field, e.g. `inclusionProof.rootHash`.
        field: &'static str,
        /// What the bundle says.
        bundle: String,
        /// What the signed data or the trusted root says it must be.
        expected: String,
    },
    /// A certificate after the leaf in a v0.1/v0.2 bundle's chain is not a
    /// certificate of the trusted root. The chain is verified against the
    /// root's own certificates, which are all trust anchors, so a bundle
    /// intermediate is never needed and an altered one would go unnoticed.
    #[error("certificate {certificate} of the bundle's chain is {bundle}, expected {expected}")]
    InconsistentCertificateChain {
        /// Its position in `x509CertificateChain.certificates`.
        certificate: usize,
        /// What the bundle has.
        bundle: String,
        /// What it must be.
        expected: String,
    },
    /// An RFC 3161 timestamp carries an unsigned part that disagrees with
    /// the trusted root or with its own signed part.
    #[error("RFC 3161 timestamp {timestamp}: `{field}` is {bundle}, expected {expected}")]
    InconsistentTimestamp {
        /// The timestamp's position in `timestampVerificationData.rfc3161Timestamps`.
        timestamp: usize,
        /// The part of the token, e.g. `SignedData.certificates`.
        field: &'static str,
        /// What the token says.
        bundle: String,
        /// What it must be.
        expected: String,
    },
    /// The bundle is signed with a key but the policy wants a Fulcio
    /// certificate, or the other way round.
    #[error("signer kind mismatch: expected {expected}, the bundle has {found}")]
    SignerKindMismatch {
        /// What the policy requires.
        expected: &'static str,
        /// What the bundle carries.
        found: &'static str,
    },
    /// A signed payload (simple-signing, DSSE, in-toto) is malformed.
    #[error("malformed signed payload: {detail}")]
    MalformedPayload {
        /// What is wrong with it.
        detail: String,
    },
    /// The signature is valid but for a different image or artifact.
    #[error("signed digest mismatch: expected {expected}, the signed payload names {found}")]
    DigestMismatch {
        /// The digest being verified.
        expected: String,
        /// What the signed payload names.
        found: String,
    },
    /// A legacy cosign signature's annotations are malformed or inconsistent.
    #[error("invalid legacy cosign signature: {detail}")]
    LegacySignature {
        /// What is wrong.
        detail: String,
    },
    /// The attestation is valid but of another predicate type.
    #[error("attestation predicate type mismatch: expected {expected}, found `{found}`")]
    PredicateTypeMismatch {
        /// The filter, e.g. `https://slsa.dev/provenance/v1`.
        expected: String,
        /// The statement's predicateType.
        found: String,
    },
}

/// One failed identity-policy clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A claim has another value than required.
    #[error("{what} mismatch: expected {expected}, certificate has `{actual}`{}", hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Mismatch {
        /// Which claim.
        what: &'static str,
        /// What the policy requires.
        expected: String,
        /// What the certificate says.
        actual: String,
        /// How to fix a pattern that matched only part of the value.
        hint: Option<String>,
    },
    /// A required claim is absent from the certificate.
    #[error("{what} mismatch: expected `{expected}`, the certificate has no such claim")]
    MissingClaim {
        /// Which claim.
        what: &'static str,
        /// What the policy requires.
        expected: String,
    },
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

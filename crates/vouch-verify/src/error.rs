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
    /// The bundle has a field the Sigstore bundle schema does not define, or
    /// a field of the wrong kind (protojson refuses both; ATTACKS.md A.12).
    #[error("malformed Sigstore bundle: {0}")]
    BundleField(#[from] crate::schema::BundleFieldError),
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
    /// The signing certificate was refused: its chain, validity at the
    /// signing time, extended key usage or SCT.
    #[error("certificate verification failed: {0}")]
    Certificate(#[from] CertificateError),
    /// The transparency log evidence was refused.
    #[error("transparency log verification failed: {0}")]
    TransparencyLog(#[from] LogError),
    /// An RFC 3161 timestamp was refused, or no signing time could be
    /// established.
    #[error("timestamp verification failed: {0}")]
    Timestamp(#[from] TimestampError),
    /// The signature does not verify over the artifact or DSSE payload with
    /// the signing key.
    #[error("signature verification failed: {detail}")]
    SignatureInvalid {
        /// What the signature check reported.
        detail: String,
    },
    /// The bundle does not describe the artifact: a digest or attestation
    /// subject differs from it.
    #[error("the signature is not for this artifact: {detail}")]
    ArtifactMismatch {
        /// Which digest or subject differs.
        detail: String,
    },
    /// The artifact was given in a form this signature cannot be checked
    /// against (e.g. a SHA-256 digest for a signature over SHA-384).
    #[error("the artifact cannot be checked in this form: {detail}")]
    UnsupportedArtifactInput {
        /// Why, and what is needed.
        detail: String,
    },
    /// The key type, curve or hash of the signature is one no Sigstore client
    /// makes.
    #[error("unsupported algorithm: {detail}")]
    UnsupportedAlgorithm {
        /// Which algorithm.
        detail: String,
    },
    /// The bundle parsed but its contents cannot be verified: inconsistent,
    /// or of a kind (entry type, content) no verifier supports.
    #[error("bundle verification failed: {detail}")]
    UnverifiableBundle {
        /// What cannot be verified.
        detail: String,
    },
    /// The trusted root holds nothing this bundle can be verified with.
    #[error("the trusted root cannot verify this bundle: {detail}")]
    RootCannotVerify {
        /// What is missing or unusable.
        detail: String,
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
    #[error("signer kind mismatch: expected {}, the bundle has {}", expected.wanted(), found.carried())]
    SignerKindMismatch {
        /// What the policy requires.
        expected: SignerKind,
        /// What the bundle carries.
        found: SignerKind,
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

/// Who can make a signature: a Fulcio certificate (keyless) or a managed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerKind {
    /// A short-lived Fulcio certificate (keyless signing).
    Certificate,
    /// A managed key, checked against a public key the verifier supplies.
    PublicKey,
}

impl SignerKind {
    /// As a policy asks for it.
    fn wanted(self) -> &'static str {
        match self {
            Self::Certificate => "a keyless signature with a Fulcio certificate",
            Self::PublicKey => "a signature made with the supplied public key",
        }
    }

    /// As a bundle carries it.
    fn carried(self) -> &'static str {
        match self {
            Self::Certificate => "a Fulcio certificate",
            Self::PublicKey => "a managed-key signature",
        }
    }
}

/// Why the signing certificate was refused. Times are the verified signing
/// times (the transparency log's integrated time, an RFC 3161 timestamp) the
/// certificate is checked at, never the clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The certificate had expired when the signature was made.
    #[error(
        "the certificate had expired at the signing time: signed at {signed_at}, valid until {not_after}"
    )]
    ExpiredAtSigningTime {
        /// The verified signing time.
        signed_at: jiff::Timestamp,
        /// The certificate's `notAfter`.
        not_after: jiff::Timestamp,
    },
    /// The certificate was not yet valid when the signature was made.
    #[error(
        "the certificate was not yet valid at the signing time: signed at {signed_at}, valid from {not_before}"
    )]
    NotYetValidAtSigningTime {
        /// The verified signing time.
        signed_at: jiff::Timestamp,
        /// The certificate's `notBefore`.
        not_before: jiff::Timestamp,
    },
    /// The certificate's extended key usage does not include code signing
    /// (`1.3.6.1.5.5.7.3.3`), which Fulcio puts in every signing certificate.
    #[error(
        "the certificate is not for code signing: its extended key usage lacks codeSigning (1.3.6.1.5.5.7.3.3)"
    )]
    NotForCodeSigning,
    /// The certificate does not chain to a certificate authority of the
    /// trusted root.
    #[error("the certificate was not issued by a certificate authority of the trusted root")]
    UntrustedIssuer,
    /// No certificate authority of the trusted root was valid at the
    /// signing time.
    #[error(
        "no certificate authority of the trusted root was valid at the signing time {signed_at}"
    )]
    NoAuthorityAt {
        /// The verified signing time.
        signed_at: jiff::Timestamp,
    },
    /// A signature in the certificate chain does not verify with the key of
    /// the issuer it names, or uses an algorithm that key cannot make: the
    /// certificate names a trusted CA but was not issued by it.
    #[error(
        "the certificate names a certificate authority of the trusted root as its issuer, but its signature does not verify with that authority's key"
    )]
    ChainSignatureInvalid,
    /// The chain is refused for another reason, in words.
    #[error("the certificate chain is invalid: {reason}")]
    InvalidChain {
        /// Why.
        reason: &'static str,
    },
    /// The certificate cannot be parsed.
    #[error("malformed certificate: {detail}")]
    Malformed {
        /// What is wrong with it.
        detail: String,
    },
    /// The certificate's Signed Certificate Timestamp is missing or does not
    /// verify with a CT log of the trusted root.
    #[error("invalid signed certificate timestamp (SCT): {detail}")]
    Sct {
        /// What is wrong with it.
        detail: String,
    },
}

/// Why the transparency log evidence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The entry names a log that is not in the trusted root.
    #[error("unknown transparency log {log_id}")]
    UnknownLog {
        /// The log ID from the entry.
        log_id: String,
    },
    /// The inclusion proof is missing or does not prove the entry is in the log.
    #[error("invalid inclusion proof: {detail}")]
    InclusionProof {
        /// What is wrong with it.
        detail: String,
    },
    /// The checkpoint (signed tree head) is missing, malformed or not signed
    /// by a log of the trusted root.
    #[error("invalid checkpoint: {detail}")]
    Checkpoint {
        /// What is wrong with it.
        detail: String,
    },
    /// The inclusion promise (Signed Entry Timestamp) is missing or invalid.
    #[error("invalid inclusion promise: {detail}")]
    InclusionPromise {
        /// What is wrong with it.
        detail: String,
    },
    /// The log entry does not describe this bundle's signature, key or artifact.
    #[error("the log entry does not match the bundle: {detail}")]
    EntryMismatch {
        /// Which part differs.
        detail: String,
    },
    /// The entry's integrated time is in the future or outside the signing
    /// certificate's validity.
    #[error("invalid integrated time: {detail}")]
    IntegratedTime {
        /// Which bound it crosses.
        detail: String,
    },
    /// The log entry body cannot be parsed or is of an unsupported kind.
    #[error("malformed log entry: {detail}")]
    MalformedEntry {
        /// What is wrong with it.
        detail: String,
    },
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// An RFC 3161 timestamp does not verify against any timestamp authority
    /// of the trusted root.
    #[error("invalid RFC 3161 timestamp: {detail}")]
    Invalid {
        /// What is wrong with it.
        detail: String,
    },
    /// The certificate of the timestamp authority that signed an RFC 3161
    /// timestamp was refused (e.g. it had expired when it signed).
    #[error("the timestamp authority's certificate was refused: {0}")]
    AuthorityCertificate(CertificateError),
    /// An RFC 3161 timestamp is authentic, but its time is outside the
    /// validity of the authority that signed it.
    #[error("RFC 3161 timestamp {time} is outside the validity of the authority that signed it")]
    OutsideAuthorityValidity {
        /// The signed time.
        time: jiff::Timestamp,
    },
    /// The bundle carries no RFC 3161 timestamp, and one is needed (see
    /// [`TimestampNeed`]).
    #[error("the bundle has no RFC 3161 timestamp, and {0}")]
    Missing(TimestampNeed),
    /// No verified signing time exists (no SET-backed integrated time and no
    /// RFC 3161 timestamp).
    #[error("no verified signing time: {detail}")]
    NoVerifiedTime {
        /// What was missing.
        detail: String,
    },
}

/// Why a bundle without an RFC 3161 timestamp is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampNeed {
    /// The caller requires signed timestamps ([`crate::TimestampCheck::Required`]).
    #[error("signed timestamps are required")]
    Required,
    /// The transparency log is not checked and the bundle has no Signed
    /// Entry Timestamp either: only a timestamp authority of the trusted
    /// root could prove the certificate was valid when the signature was
    /// made, and vouch never uses the clock instead (ATTACKS.md D.47).
    #[error(
        "the transparency log is not checked and no entry carries a Signed Entry Timestamp, so \
         nothing proves the certificate was valid when the signature was made"
    )]
    NoLogEvidence,
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

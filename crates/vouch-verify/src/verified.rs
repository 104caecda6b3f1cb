//! Values that prove a verification happened.
//!
//! Like rustls' `ServerCertVerified`, these can only be built by this crate's
//! verify functions: their fields are private and there is no constructor.
//! Code that needs a verified signature takes one of these types.

use crate::claims::CertificateClaims;

/// Who signed, as established by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// A Fulcio certificate whose chain, SCT and claims were checked.
    Certificate(CertificateClaims),
    /// A managed key: the signature verified with the key the caller supplied.
    PublicKey,
    /// A Fulcio certificate whose chain and SCT were checked, but whose
    /// identity was not (the caller chose `InsecureAnyIdentity`).
    UncheckedCertificate(CertificateClaims),
}

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedContent {
    /// A signature over the artifact bytes (a bundle's `messageSignature`).
    Artifact,
    /// A DSSE envelope; `payload` is the decoded in-toto statement.
    Dsse {
        /// The envelope's payloadType.
        payload_type: String,
        /// The signed payload bytes.
        payload: Vec<u8>,
        /// The DSSE envelope as cosign prints it (`payloadType`, `payload`,
        /// `signatures`), for `verify-attestation` output.
        envelope_json: String,
    },
    /// A cosign simple-signing payload (legacy `.sig` signatures).
    SimpleSigning {
        /// The exact signed payload bytes.
        payload: Vec<u8>,
        /// `critical.identity.docker-reference` (informational; cosign does not check it).
        docker_reference: String,
    },
}

/// A signature that passed every check: certificate chain and SCT (or the
/// supplied key), transparency log evidence, signature over the content,
/// binding to the artifact digest, and the identity policy.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    pub(crate) artifact_digest: String,
    pub(crate) signer: Signer,
    pub(crate) log_index: Option<u64>,
    pub(crate) integrated_time: Option<jiff::Timestamp>,
    pub(crate) verified_times: Vec<jiff::Timestamp>,
    pub(crate) content: SignedContent,
    pub(crate) checks: crate::checks::Checks,
}

impl VerifiedSignature {
    /// The artifact digest the signature is bound to, e.g. `sha256:…`.
    pub fn artifact_digest(&self) -> &str {
        &self.artifact_digest
    }
    /// Who signed.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
    /// The signer's certificate claims, for keyless signatures.
    pub fn certificate(&self) -> Option<&CertificateClaims> {
        match &self.signer {
            Signer::Certificate(c) | Signer::UncheckedCertificate(c) => Some(c),
            Signer::PublicKey => None,
        }
    }
    /// The checks the signature was verified with: anything but
    /// [`crate::Checks::all`] means the caller switched some off.
    pub fn checks(&self) -> crate::checks::Checks {
        self.checks
    }
    /// The transparency log index of the (first) log entry, when the log
    /// was checked ([`crate::LogCheck::Required`]).
    pub fn log_index(&self) -> Option<u64> {
        self.log_index
    }
    /// The Rekor integrated time, when authenticated by a SET.
    pub fn integrated_time(&self) -> Option<jiff::Timestamp> {
        self.integrated_time
    }
    /// Every authenticated time the certificate was checked against.
    pub fn verified_times(&self) -> &[jiff::Timestamp] {
        &self.verified_times
    }
    /// What was signed.
    pub fn content(&self) -> &SignedContent {
        &self.content
    }
}

/// A verified DSSE in-toto attestation whose subject names the artifact.
#[derive(Debug, Clone)]
pub struct VerifiedAttestation {
    pub(crate) signature: VerifiedSignature,
    pub(crate) statement: vouch_attest::Statement,
}

impl VerifiedAttestation {
    /// The verified signature over the envelope.
    pub fn signature(&self) -> &VerifiedSignature {
        &self.signature
    }
    /// The statement's `predicateType` URI.
    pub fn predicate_type(&self) -> &str {
        self.statement.predicate_type()
    }
    /// The in-toto statement.
    pub fn statement(&self) -> &vouch_attest::Statement {
        &self.statement
    }
}

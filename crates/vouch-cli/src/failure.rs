//! Failures and the exit codes they map to (docs/exit-codes.md).

use std::fmt;
use std::process::ExitCode;

/// The class of a failure; each has a stable exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A signature, certificate, log proof or identity check failed (1).
    Verification,
    /// The command line is inconsistent (2, as clap's own usage errors).
    Usage,
    /// An input could not be read or parsed (3).
    Input,
    /// A registry or TUF mirror could not be reached or refused access (4):
    /// nothing was verified, and nothing was found untrustworthy either.
    Access,
    /// No signatures or attestations are attached to the image (10, cosign's).
    NoSignatures,
    /// The image tag does not exist (11, cosign's).
    TagNotFound,
    /// Signatures exist but none verified (12, cosign's).
    NoMatching,
}

impl FailureKind {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Verification => 1,
            Self::Usage => 2,
            Self::Input => 3,
            Self::Access => 4,
            Self::NoSignatures => 10,
            Self::TagNotFound => 11,
            Self::NoMatching => 12,
        })
    }
}

/// A failure with a message for people.
#[derive(Debug)]
pub struct Failure {
    /// Its class.
    pub kind: FailureKind,
    /// What happened, what was expected and what was found.
    pub message: String,
}

impl Failure {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Usage,
            message: message.into(),
        }
    }

    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An unreadable or malformed input.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Input,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<vouch_verify::VerifyError> for Failure {
    fn from(error: vouch_verify::VerifyError) -> Self {
        use vouch_verify::VerifyError as E;
        let kind = match &error {
            E::MalformedDigest { .. }
            | E::MalformedBundle { .. }
            | E::BundleTooLarge { .. }
            | E::TrustedRoot { .. }
            | E::MalformedKey { .. } => FailureKind::Input,
            E::BadPattern { .. } => FailureKind::Usage,
            _ => FailureKind::Verification,
        };
        Self {
            kind,
            message: error.to_string(),
        }
    }
}

impl From<vouch_trust::TrustError> for Failure {
    fn from(error: vouch_trust::TrustError) -> Self {
        // A TUF refusal (rollback, freeze, bad signature or hash) means the
        // trust material is not trustworthy: 1, like any failed check. An
        // unreachable mirror is 4, as an unreachable registry is. Unreadable
        // or malformed local files are 3.
        let kind = if error.is_refusal() {
            FailureKind::Verification
        } else if error.is_network() {
            FailureKind::Access
        } else {
            FailureKind::Input
        };
        Self::new(kind, error.to_string())
    }
}

impl From<vouch_oci::ReferenceError> for Failure {
    fn from(error: vouch_oci::ReferenceError) -> Self {
        vouch_oci::OciError::from(error).into()
    }
}

impl From<vouch_oci::OciError> for Failure {
    fn from(error: vouch_oci::OciError) -> Self {
        use vouch_oci::OciError as E;
        let kind = match &error {
            E::BadReference { .. } => FailureKind::Usage,
            E::Credentials { .. } | E::CredentialHelper { .. } => FailureKind::Input,
            e if e.is_access_failure() => FailureKind::Access,
            _ => FailureKind::Verification,
        };
        Self {
            kind,
            message: error.to_string(),
        }
    }
}

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
}

impl FailureKind {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Verification => 1,
            Self::Usage => 2,
            Self::Input => 3,
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
        Self::input(error.to_string())
    }
}

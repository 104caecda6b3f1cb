//! Registry errors that say what happened and what to do.

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// An image reference, repository or tag is malformed.
    #[error("invalid reference `{reference}`: {reason}")]
    BadReference {
        /// What was given.
        reference: String,
        /// Why it is refused.
        reason: String,
    },
    /// A credentials file cannot be read or parsed.
    #[error("credentials file {}: {reason}", path.display())]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A docker credential helper failed.
    #[error("credential helper {helper}: {reason}")]
    CredentialHelper {
        /// The helper program.
        helper: String,
        /// What it said.
        reason: String,
    },
}

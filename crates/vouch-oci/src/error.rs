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
}

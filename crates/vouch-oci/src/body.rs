//! Bounded body reads: a registry's answer is read only up to a named
//! limit, and a larger one is refused without being buffered.

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The body (by its `Content-Length`, or as it arrived) is larger than
    /// the limit.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The transfer broke off.
    #[error("{reason}")]
    Transfer {
        /// The error and its causes.
        reason: String,
    },
}

/// Reads a whole body of at most `limit` bytes, refusing a larger one as
/// soon as its `Content-Length` or its chunks say so.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ReadError::Transfer {
        reason: error_chain(&e),
    })? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error and its causes, for messages ("connection reset" sits a few
/// levels down in reqwest's error chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

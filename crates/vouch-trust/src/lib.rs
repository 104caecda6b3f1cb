//! # vouch-trust: where trusted material comes from
//!
//! For now two sources: the Sigstore public-good roots embedded in the
//! `sigstore-trust-root` crate (production and staging), and a
//! `trusted_root.json` file supplied by the user (`--trusted-root`, for
//! offline and private instances). TUF refresh and caching come later
//! (issue: trust material).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use vouch_verify::{MAX_TRUSTED_ROOT_SIZE, TrustedMaterial, VerifyError};

/// Where to take the trusted root from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustSource {
    /// The Sigstore public-good production root embedded in the binary.
    EmbeddedProduction,
    /// The Sigstore public-good staging root embedded in the binary.
    EmbeddedStaging,
    /// A `trusted_root.json` file.
    File(PathBuf),
}

/// Why trusted material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read.
    #[error("cannot read trusted root {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than a trusted root can be.
    #[error("trusted root {path} is {size} bytes; the limit is {MAX_TRUSTED_ROOT_SIZE} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The document is not a usable trusted root.
    #[error("{origin}: {source}")]
    Invalid {
        /// Which root.
        origin: String,
        /// What is wrong with it.
        #[source]
        source: VerifyError,
    },
}

impl TrustSource {
    /// Loads and prepares the trusted material.
    pub fn load(&self) -> Result<TrustedMaterial, TrustError> {
        let (origin, bytes) = match self {
            Self::EmbeddedProduction => (
                "embedded Sigstore production root".to_string(),
                sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT
                    .as_bytes()
                    .to_vec(),
            ),
            Self::EmbeddedStaging => (
                "embedded Sigstore staging root".to_string(),
                sigstore_trust_root::SIGSTORE_STAGING_TRUSTED_ROOT
                    .as_bytes()
                    .to_vec(),
            ),
            Self::File(path) => (path.display().to_string(), read_bounded(path)?),
        };
        TrustedMaterial::from_json(&bytes).map_err(|source| TrustError::Invalid { origin, source })
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TrustError> {
    let read_err = |source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_TRUSTED_ROOT_SIZE as u64 {
        return Err(TrustError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    std::fs::read(path).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_roots_load() {
        assert!(TrustSource::EmbeddedProduction.load().is_ok());
        assert!(TrustSource::EmbeddedStaging.load().is_ok());
    }

    #[test]
    fn missing_and_invalid_files_say_which_file() {
        let missing = TrustSource::File("/nonexistent/trusted_root.json".into());
        let err = missing.load().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/trusted_root.json"), "{err}");

        let dir = std::env::temp_dir().join(format!("vouch-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("root.json");
        std::fs::write(&bad, br#"{"mediaType":"application/json"}"#).unwrap();
        let err = TrustSource::File(bad.clone())
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("media type `application/json`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

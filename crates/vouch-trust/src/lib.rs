//! # vouch-trust: where trusted material comes from
//!
//! The sources ([`TrustSource`]):
//! - TUF ([`tuf`]): Sigstore public-good's `trusted_root.json` through its
//!   TUF repository, bootstrapped from the `root.json` embedded in the
//!   binary, cached on disk and refreshed only when the cached timestamp has
//!   expired; or a private deployment's mirror and root. `vouch trust
//!   export`/`import` carry the verified metadata across an air gap.
//! - The public-good (or staging) `trusted_root.json` embedded in vouch, the
//!   last resort of `--offline` when there is no cache.
//! - A `trusted_root.json` file given by the user (`--trusted-root`).
//!
//! On top of the first two, cosign's single-key overrides ([`overrides`]:
//! `SIGSTORE_ROOT_FILE` and friends) can replace one kind of material each
//! ([`LoadedTrust::with_overrides`]).
//!
//! This crate does I/O (cache files, the mirror) but reads no environment
//! variable and prints nothing: the CLI passes paths and the clock in and
//! reports the [`Provenance`] it gets back.
#![forbid(unsafe_code)]

pub mod overrides;
pub(crate) mod store;
pub mod summary;
pub mod tuf;

use std::path::{Path, PathBuf};

use overrides::{MAX_OVERRIDE_FILE_SIZE, Override, OverrideError, OverrideKind};
use std::time::SystemTime;

pub use tuf::{
    CONNECT_TIMEOUT, ExpiredRole, MAX_ROOT_METADATA_SIZE, MAX_SNAPSHOT_METADATA_SIZE,
    MAX_TARGETS_METADATA_SIZE, MAX_TIMESTAMP_METADATA_SIZE, Network, PUBLIC_GOOD_MIRROR,
    READ_TIMEOUT, REFRESH_DEADLINE, REQUEST_TIMEOUT, Timeouts, TufInstance, TufOptions, TufStatus,
    default_cache_root,
};
use vouch_verify::{MAX_TRUSTED_ROOT_SIZE, TrustedMaterial, VerifyError};

/// When the `trusted_root.json` embedded in vouch was current: the release
/// date of `sigstore-trust-root` 0.15.1 on crates.io (2026-10-23), which
/// ships it. Used to tell a user how old the embedded snapshot is.
pub const EMBEDDED_ROOT_DATE: &str = "2026-10-23T00:00:00Z";

/// Where to take the trusted root from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustSource {
    /// Through TUF, as the options say.
    Tuf(TufOptions),
    /// The Sigstore public-good production root embedded in the binary.
    EmbeddedProduction,
    /// The Sigstore public-good staging root embedded in the binary.
    EmbeddedStaging,
    /// A `trusted_root.json` file.
    File(PathBuf),
    /// Nothing but what [`LoadedTrust::with_overrides`] will add: an empty
    /// trusted root. For when cosign's variables name every part keyless
    /// verification needs ([`overrides::covers_keyless`]); cosign then
    /// fetches nothing from TUF either.
    OverridesOnly,
}

/// Where loaded trust material came from, for the user to see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provenance {
    /// A file the user named.
    File(PathBuf),
    /// The snapshot embedded in vouch.
    Embedded {
        /// `production` or `staging`.
        instance: &'static str,
        /// When it was current ([`EMBEDDED_ROOT_DATE`]).
        as_of: jiff::Timestamp,
        /// Set when this was chosen because an offline load found no TUF
        /// cache there.
        no_cache_at: Option<PathBuf>,
    },
    /// Verified TUF metadata.
    Tuf(TufStatus),
    /// Only cosign's `SIGSTORE_*` variables ([`TrustSource::OverridesOnly`]).
    Environment,
}

/// Trust material ready for verification, with its origin.
#[derive(Debug)]
pub struct LoadedTrust {
    /// The prepared keys and certificates.
    pub material: TrustedMaterial,
    /// The `trusted_root.json` bytes they came from.
    pub trusted_root_json: Vec<u8>,
    /// Where they came from.
    pub provenance: Provenance,
    /// The sections replaced by cosign's environment overrides, and the
    /// files they came from (empty when none applied).
    pub overridden: Vec<(OverrideKind, PathBuf)>,
}

impl LoadedTrust {
    fn from_json(
        bytes: Vec<u8>,
        origin: String,
        provenance: Provenance,
    ) -> Result<Self, TrustError> {
        let material = TrustedMaterial::from_json(&bytes)
            .map_err(|source| TrustError::Invalid { origin, source })?;
        Ok(Self {
            material,
            trusted_root_json: bytes,
            provenance,
            overridden: Vec::new(),
        })
    }

    /// Replaces one section of the trusted root per override file (cosign's
    /// `SIGSTORE_ROOT_FILE`, `SIGSTORE_REKOR_PUBLIC_KEY`, … — see
    /// [`overrides`]) and prepares the result. Without overrides, `self` is
    /// returned as is.
    pub fn with_overrides(self, files: &[(OverrideKind, PathBuf)]) -> Result<Self, TrustError> {
        if files.is_empty() {
            return Ok(self);
        }
        let mut contents = Vec::with_capacity(files.len());
        for (kind, path) in files {
            let pem = read_file(path, MAX_OVERRIDE_FILE_SIZE, kind.variable())?;
            contents.push((*kind, path.display().to_string(), pem));
        }
        let list: Vec<Override<'_>> = contents
            .iter()
            .map(|(kind, origin, pem)| Override {
                kind: *kind,
                origin,
                pem,
            })
            .collect();
        let amended = overrides::apply(&self.trusted_root_json, &list)?;
        let names: Vec<&str> = files.iter().map(|(k, _)| k.variable()).collect();
        let origin = format!("trusted root amended by {}", names.join(", "));
        let mut loaded = Self::from_json(amended, origin, self.provenance)?;
        loaded.overridden = files.to_vec();
        Ok(loaded)
    }
}

/// Why trusted material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than its kind can be.
    #[error("{path} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
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
    /// TUF refused the metadata or a target (rollback, freeze, threshold,
    /// hash mismatch, …). The text names the check that failed.
    #[error("{context}: {}", error_chain(error))]
    Tuf {
        /// What was being done.
        context: String,
        /// The refusal.
        error: sigstore_tuf::Error,
    },
    /// The mirror could not be reached, or did not answer in time.
    #[error("cannot reach the TUF mirror {mirror}: {detail}")]
    Network {
        /// The mirror.
        mirror: String,
        /// What failed.
        detail: String,
    },
    /// An offline load for a private mirror with nothing cached.
    #[error(
        "no TUF cache for {mirror} at {cache_dir}, and vouch embeds no trusted root for a \
         private instance"
    )]
    NoOfflineData {
        /// The mirror.
        mirror: String,
        /// Where the cache was expected.
        cache_dir: PathBuf,
    },
    /// A `SIGSTORE_*` override file is not what its variable names.
    #[error(transparent)]
    Override(#[from] OverrideError),
    /// A private mirror without an initial `root.json`, and none cached
    /// for it.
    #[error(
        "no root.json to start TUF for {mirror}: {path} does not exist (it is written by the \
         first successful refresh or import)"
    )]
    NoCachedRoot {
        /// The mirror.
        mirror: String,
        /// Where the cached root was looked for.
        path: PathBuf,
    },
    /// Export found only the embedded snapshot, no TUF metadata.
    #[error("nothing to export: no verified TUF metadata in {cache_dir}; run once online first")]
    NothingToExport {
        /// The cache directory.
        cache_dir: PathBuf,
    },
    /// Export of metadata that expired: no import would accept it.
    #[error(
        "the TUF metadata cached at {cache_dir} expired at {expired}; an export of it could \
         not be imported. Refresh online first"
    )]
    StaleExport {
        /// The cache directory.
        cache_dir: PathBuf,
        /// When the timestamp expired.
        expired: jiff::Timestamp,
    },
    /// An export directory is for another mirror.
    #[error("{dir} was exported from {found}, not {expected}")]
    MirrorMismatch {
        /// The export.
        dir: PathBuf,
        /// The mirror this import is for.
        expected: String,
        /// The mirror the export names.
        found: String,
    },
    /// An export directory is malformed.
    #[error("{path}: {detail}")]
    Export {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Writing the cache (or an export) failed.
    #[error("cannot write {path}: {source}")]
    CacheWrite {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime for the TUF client could not start.
    #[error("cannot start the TUF client runtime: {source}")]
    Runtime {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl TrustError {
    /// Whether the error is a refusal of what a TUF repository served (an
    /// attack or a broken repository), as opposed to a local problem.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Tuf { .. })
    }

    /// Whether the error is a network failure.
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Network { .. })
    }
}

/// An error and its sources, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

impl TrustSource {
    /// Loads and prepares the trusted material. `now` is the time TUF
    /// metadata expiry is checked against.
    pub fn load(&self, now: SystemTime) -> Result<LoadedTrust, TrustError> {
        let embedded = |instance, json: &str| {
            LoadedTrust::from_json(
                json.as_bytes().to_vec(),
                format!("embedded Sigstore {instance} root"),
                Provenance::Embedded {
                    instance,
                    as_of: EMBEDDED_ROOT_DATE.parse().expect("valid constant"),
                    no_cache_at: None,
                },
            )
        };
        match self {
            Self::Tuf(options) => tuf::load(options, now),
            Self::EmbeddedProduction => embedded(
                "production",
                sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
            ),
            Self::EmbeddedStaging => embedded(
                "staging",
                sigstore_trust_root::SIGSTORE_STAGING_TRUSTED_ROOT,
            ),
            Self::OverridesOnly => LoadedTrust::from_json(
                overrides::EMPTY_TRUSTED_ROOT.as_bytes().to_vec(),
                "empty trusted root".into(),
                Provenance::Environment,
            ),
            Self::File(path) => LoadedTrust::from_json(
                read_file(path, MAX_TRUSTED_ROOT_SIZE as u64, "trusted root")?,
                path.display().to_string(),
                Provenance::File(path.clone()),
            ),
        }
    }
}

/// Whole days from `since` to `now` (negative if `since` is later).
pub fn age_in_days(since: jiff::Timestamp, now: SystemTime) -> i64 {
    (tuf::to_jiff(now).as_second() - since.as_second()).div_euclid(86_400)
}

/// Reads a file of at most `limit` bytes; errors name the file and `what`.
fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, TrustError> {
    read_file_if_present(path, limit)?.ok_or_else(|| TrustError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{what} file not found"),
        ),
    })
}

/// As [`read_file`], but a missing file is `None`.
fn read_file_if_present(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, TrustError> {
    use store::ReadError;
    store::read_at_most(path, limit).map_err(|e| match e {
        ReadError::TooLarge(size) => TrustError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        },
        ReadError::Io(source) => TrustError::Read {
            path: path.to_path_buf(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_roots_load() {
        let now = SystemTime::now();
        assert!(TrustSource::EmbeddedProduction.load(now).is_ok());
        assert!(TrustSource::EmbeddedStaging.load(now).is_ok());
    }

    #[test]
    fn missing_and_invalid_files_say_which_file() {
        let now = SystemTime::now();
        let missing = TrustSource::File("/nonexistent/trusted_root.json".into());
        let err = missing.load(now).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/trusted_root.json"), "{err}");

        let dir = std::env::temp_dir().join(format!("vouch-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("root.json");
        std::fs::write(&bad, br#"{"mediaType":"application/json"}"#).unwrap();
        let err = TrustSource::File(bad.clone())
            .load(now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("media type `application/json`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn age_counts_whole_days() {
        let since: jiff::Timestamp = "2026-10-23T00:00:00Z".parse().unwrap();
        let secs = u64::try_from(since.as_second()).unwrap() + 86_400 * 3 + 5;
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        assert_eq!(age_in_days(since, now), 3);
    }
}

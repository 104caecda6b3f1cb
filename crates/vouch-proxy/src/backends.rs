//! Opening the backends the settings choose: state in SQLite (embedded
//! default) or PostgreSQL, content on local disk (embedded default) or in
//! S3-compatible object storage. Replicas that share one Postgres database,
//! one bucket and one server secret file need no other shared state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlobStore;
use crate::cache::disk::DiskStore;
use crate::cache::s3::S3Store;
use crate::config::{AdminSettings, PostgresSettings, Settings};
use crate::server::Stores;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{LicenseStore, PullLog, ResolutionStore};

/// Why a backend could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The state database.
    #[error("opening the state database ({location}): {message}")]
    State {
        /// Where it is (a path, or a URL without its password).
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The content store.
    #[error("opening the content store ({location}): {message}")]
    Content {
        /// Where it is (a directory or `s3://bucket/prefix`).
        location: String,
        /// What went wrong.
        message: String,
    },
}

/// The state backends (one object behind three traits).
#[derive(Clone)]
pub struct State {
    /// Apps, channels, licenses.
    pub licenses: Arc<dyn LicenseStore>,
    /// The pull log.
    pub pull_log: Arc<dyn PullLog>,
    /// Tag and attachment history.
    pub resolutions: Arc<dyn ResolutionStore>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl State {
    fn of<S: LicenseStore + PullLog + ResolutionStore + 'static>(store: Arc<S>) -> Self {
        Self {
            licenses: store.clone(),
            pull_log: store.clone(),
            resolutions: store,
        }
    }

    /// The request path's view: these plus a content store.
    pub fn with_content(self, content: Arc<dyn BlobStore>) -> Stores {
        Stores {
            licenses: self.licenses,
            pull_log: self.pull_log,
            resolutions: self.resolutions,
            content,
        }
    }
}

/// Opens the state database the settings name.
pub async fn open_state(settings: &Settings) -> Result<State, BackendError> {
    open_state_at(settings.database.as_ref(), settings.database_path()).await
}

/// Opens the state database for the admin commands.
pub async fn open_admin_state(settings: &AdminSettings) -> Result<State, BackendError> {
    open_state_at(settings.database.as_ref(), settings.database_path()).await
}

/// PostgreSQL when `database` is set, else SQLite at `path`.
async fn open_state_at(
    database: Option<&PostgresSettings>,
    path: PathBuf,
) -> Result<State, BackendError> {
    match database {
        None => {
            let store = SqliteStore::open(&path).map_err(|e| BackendError::State {
                location: path.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(State::of(Arc::new(store)))
        }
        Some(postgres) => {
            let store = PostgresStore::connect(&postgres.url, postgres.max_connections)
                .await
                .map_err(|e| BackendError::State {
                    location: postgres.redacted_url(),
                    message: e.to_string(),
                })?;
            Ok(State::of(Arc::new(store)))
        }
    }
}

/// Warns when `max_bytes` exceeds what the cache's filesystem has free
/// (plus what the cache holds already): the disk will fill before the
/// cache evicts. The proxy still serves then (a full disk makes pulls
/// uncached, not failed), but the operator should know at start.
fn warn_if_larger_than_the_disk(dir: &Path, max_bytes: u64, cached: u64) {
    let Ok(stat) = rustix::fs::statvfs(dir) else {
        return;
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if max_bytes > free.saturating_add(cached) {
        tracing::warn!(
            cache_dir = %dir.display(),
            max_bytes,
            free_bytes = free,
            cached_bytes = cached,
            "cache.max_bytes exceeds the free space of the cache's filesystem: the disk will fill before the cache evicts (pulls are then served uncached)"
        );
    }
}

/// Opens the content store the settings name.
pub async fn open_content(settings: &Settings) -> Result<Arc<dyn BlobStore>, BackendError> {
    match &settings.s3 {
        None => {
            let store =
                DiskStore::open(&settings.cache_dir, settings.cache_max_bytes).map_err(|e| {
                    BackendError::Content {
                        location: settings.cache_dir.display().to_string(),
                        message: e.to_string(),
                    }
                })?;
            warn_if_larger_than_the_disk(
                &settings.cache_dir,
                settings.cache_max_bytes,
                store.used_bytes(),
            );
            Ok(Arc::new(store))
        }
        Some(config) => {
            let location = format!("s3://{}/{}", config.bucket, config.prefix);
            let content_error = |message: String| BackendError::Content {
                location: location.clone(),
                message,
            };
            let store = S3Store::new(config.clone()).map_err(|e| content_error(e.to_string()))?;
            // Fail at start, not on the first pull, when the bucket is
            // unreachable or the credentials are wrong.
            store
                .probe()
                .await
                .map_err(|e| content_error(e.to_string()))?;
            Ok(Arc::new(store))
        }
    }
}

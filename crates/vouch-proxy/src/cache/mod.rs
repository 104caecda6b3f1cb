//! Content cache: manifests and blobs by digest.
//!
//! [`BlobStore`] is the storage boundary (the embedded default is
//! [`disk::DiskStore`]; S3-compatible storage comes with issue 8). Content
//! only ever enters a store after its digest was checked: manifests are
//! checked in memory before [`BlobStore::put_manifest`], blobs are staged to
//! a local file by [`fill::Fills`] while being hashed and handed to
//! [`BlobStore::import_blob`] only when the digest matched.

pub mod disk;
pub mod fill;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;

use crate::names::Digest;

/// What every cache method returns.
pub type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A file operation failed.
    #[error("cache {operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Content offered to the store does not hash to its digest.
    #[error("content for {expected} hashes to {found}; not stored")]
    DigestMismatch {
        /// The digest it was stored under.
        expected: Digest,
        /// What it hashes to.
        found: Digest,
    },
    /// A stored manifest file is damaged.
    #[error("cached manifest {0} is damaged")]
    Damaged(Digest),
}

/// A manifest as served: exact bytes and the upstream's media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// `Content-Type` to serve.
    pub media_type: String,
    /// The exact bytes.
    pub bytes: Bytes,
}

/// A readable cached blob.
#[derive(Debug)]
pub struct BlobHandle {
    /// Its size in bytes.
    pub size: u64,
    /// An open file holding it (still readable after eviction unlinks it).
    pub file: tokio::fs::File,
}

/// Content-addressed storage for manifests and blobs.
pub trait BlobStore: Send + Sync {
    /// A cached manifest, if present.
    fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>>;
    /// Stores a manifest; refuses it unless it hashes to `digest`.
    fn put_manifest<'a>(
        &'a self,
        digest: &'a Digest,
        manifest: &'a StoredManifest,
    ) -> CacheFuture<'a, ()>;
    /// A cached blob, opened for reading, if present.
    fn blob<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<BlobHandle>>;
    /// Where fills stage blobs while they download (a local directory).
    fn staging_dir(&self) -> &Path;
    /// Takes a staged, digest-verified file into the store.
    fn import_blob<'a>(
        &'a self,
        digest: &'a Digest,
        staged: &'a Path,
        size: u64,
    ) -> CacheFuture<'a, ()>;
    /// The largest blob the store can hold.
    fn max_blob_size(&self) -> u64;
}

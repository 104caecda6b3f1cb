//! Content cache: manifests and blobs by digest.
//!
//! [`BlobStore`] is the storage boundary: [`disk::DiskStore`] is the
//! embedded default, [`s3::S3Store`] keeps content in an S3-compatible
//! bucket shared by replicas. Content only ever enters a store after its
//! digest was checked: manifests are checked in memory before
//! [`BlobStore::put_manifest`], blobs are staged to a local file by
//! [`fill::Fills`] while being hashed and handed to
//! [`BlobStore::import_blob`] only when the digest matched.

pub mod disk;
pub mod fill;
pub mod held;
pub mod resume;
pub mod s3;

use std::future::Future;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

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
    /// A manifest offered to the store is one no store keeps (its digest
    /// matched; its media type or size did not).
    #[error("manifest {digest} not stored: {reason}")]
    ManifestRefused {
        /// The manifest's digest.
        digest: Digest,
        /// What was expected and what was found.
        reason: ManifestRefusal,
    },
    /// An object storage request failed.
    #[error("object storage {operation} {key}: {source}")]
    Storage {
        /// What was being done.
        operation: &'static str,
        /// The object key.
        key: String,
        /// The error (object_store never includes credentials in it).
        source: object_store::Error,
    },
    /// A staged file does not have the size its fill reported.
    #[error("staged blob {} has {found} bytes, expected {expected}; not stored", path.display())]
    StagedSize {
        /// The staged file.
        path: PathBuf,
        /// The size the fill verified.
        expected: u64,
        /// What the file held.
        found: u64,
    },
}

/// A [`CacheError::Io`] for `operation` on `path`, for `map_err`.
pub(crate) fn io(
    operation: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> CacheError {
    let path = path.to_path_buf();
    move |source| CacheError::Io {
        operation,
        path,
        source,
    }
}

/// Writes `chunks`, one after the other, to a staging file at `offset`,
/// the one write path of blobs and manifests: on the blocking pool, the
/// bytes shared with it rather than copied, and complete when this returns (readers only ever
/// see bytes that are really in the file). A full disk or quota gets one
/// more try after `store` made room for `remaining` bytes (evicting least
/// recently used content, [`BlobStore::make_room`]); any other failure, or
/// a second one, is the caller's.
pub(crate) async fn write_making_room(
    file: &Arc<std::fs::File>,
    offset: u64,
    chunks: &[Bytes],
    store: &dyn BlobStore,
    remaining: u64,
) -> std::io::Result<()> {
    let write = || {
        let chunks = chunks.to_vec();
        on_blocking_pool(file, move |f| {
            let mut at = offset;
            for chunk in &chunks {
                f.write_all_at(chunk, at)?;
                at += chunk.len() as u64;
            }
            Ok(())
        })
    };
    match write().await {
        Err(e) if is_out_of_space(&e) => {
            let freed = store.make_room(remaining).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "making room in the cache failed");
                0
            });
            tracing::debug!(needed = remaining, freed, error = %e, "cache disk full while staging; evicted least recently used content to retry once");
            // Undo a partial write before trying again.
            on_blocking_pool(file, move |f| f.set_len(offset)).await?;
            write().await
        }
        other => other,
    }
}

/// Runs `op` on `file` on tokio's blocking pool (writes and `fsync` can
/// wait on the disk; reads of cached files do not, see `server::body`).
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    file: &Arc<std::fs::File>,
    op: impl FnOnce(&std::fs::File) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || op(&file))
        .await
        .map_err(std::io::Error::other)?
}

/// Whether `e` says the filesystem or the quota is full.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Longest media type stored with a manifest (RFC 6838 §4.2 caps type and
/// subtype at 127 characters each).
pub const MAX_MEDIA_TYPE_LEN: usize = 255;
/// Largest manifest a store keeps: the same 4 MiB as the server's
/// `MAX_MANIFEST_BYTES` (nothing larger is fetched).
pub const MAX_STORED_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Why a store refused a manifest: what it expected and what it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestRefusal {
    /// The media type is empty or longer than [`MAX_MEDIA_TYPE_LEN`].
    #[error("expected a media type of 1 to {MAX_MEDIA_TYPE_LEN} bytes, found {found} bytes")]
    MediaTypeLength {
        /// Its length in bytes.
        found: usize,
    },
    /// The media type holds a control character, which no header value
    /// may carry.
    #[error("expected a media type without control characters, found {found:?} at byte {at}")]
    MediaTypeCharacter {
        /// The first such character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
    /// The manifest is larger than [`MAX_STORED_MANIFEST_BYTES`].
    #[error("expected at most {MAX_STORED_MANIFEST_BYTES} bytes of manifest, found {found}")]
    TooLarge {
        /// Its size in bytes.
        found: u64,
    },
}

/// Checks that `media_type` can be kept with a manifest and served back as
/// its `Content-Type`: 1 to [`MAX_MEDIA_TYPE_LEN`] bytes and no control
/// character but tab (RFC 9110 §5.5 field values), so also no line break
/// that would split the disk store's file header.
pub(crate) fn check_media_type(media_type: &str) -> Result<(), ManifestRefusal> {
    if media_type.is_empty() || media_type.len() > MAX_MEDIA_TYPE_LEN {
        return Err(ManifestRefusal::MediaTypeLength {
            found: media_type.len(),
        });
    }
    match media_type
        .char_indices()
        .find(|(_, c)| c.is_ascii_control() && *c != '\t')
    {
        Some((at, found)) => Err(ManifestRefusal::MediaTypeCharacter { found, at }),
        None => Ok(()),
    }
}

/// A manifest as served: exact bytes and the upstream's media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// `Content-Type` to serve.
    pub media_type: String,
    /// The exact bytes.
    pub bytes: Bytes,
}

impl StoredManifest {
    /// Refuses bytes that do not hash to `digest` (what every store checks
    /// before it keeps a manifest).
    pub fn verify(&self, digest: &Digest) -> Result<(), CacheError> {
        let mut verifier = digest.verifier();
        verifier.update(&self.bytes);
        verifier
            .finish()
            .map_err(|found| CacheError::DigestMismatch {
                expected: digest.clone(),
                found,
            })
    }

    /// Refuses what no store keeps: a media type [`check_media_type`]
    /// refuses, or more than [`MAX_STORED_MANIFEST_BYTES`].
    pub(crate) fn check_storable(&self, digest: &Digest) -> Result<(), CacheError> {
        let refused = |reason| CacheError::ManifestRefused {
            digest: digest.clone(),
            reason,
        };
        check_media_type(&self.media_type).map_err(refused)?;
        let size = self.bytes.len() as u64;
        if size > MAX_STORED_MANIFEST_BYTES {
            return Err(refused(ManifestRefusal::TooLarge { found: size }));
        }
        Ok(())
    }
}

/// What the caller of [`BlobStore::blob`] does with the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAccess {
    /// Answers a `HEAD`: only the size is used, so nothing is presigned
    /// (the body is never [`BlobBody::Redirect`]).
    Head,
    /// Sends the bytes (a `GET`): the body may be a [`BlobBody::Redirect`].
    Get,
}

/// A readable cached blob.
#[derive(Debug)]
pub struct BlobHandle {
    /// Its size in bytes.
    pub size: u64,
    /// Where its bytes come from.
    pub body: BlobBody,
}

/// How a cached blob's bytes reach the client.
#[derive(Debug)]
pub enum BlobBody {
    /// An open local file (still readable after eviction unlinks it),
    /// read in place (see `server::body`) with positional reads only: the
    /// store may hand the same open file to concurrent requests.
    File(std::sync::Arc<std::fs::File>),
    /// Remote storage the proxy reads by byte range and streams.
    Ranged(Box<dyn RangeRead>),
    /// A URL the client may `GET` itself (a presigned object URL, valid
    /// for a limited time, honouring `Range`); answered with a `307`.
    Redirect(reqwest::Url),
}

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Reads byte ranges of one remotely stored blob.
pub trait RangeRead: Send + Sync + std::fmt::Debug {
    /// The bytes of `range` (end exclusive; non-empty, within the blob).
    /// A failure before the first byte is an error; a later one ends the
    /// stream with an error.
    fn read_range(&self, range: std::ops::Range<u64>) -> CacheFuture<'_, ByteStream>;
}

/// Content-addressed storage for manifests and blobs.
pub trait BlobStore: Send + Sync {
    /// A cached manifest, if present.
    fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>>;
    /// Stores a manifest; refuses it unless it hashes to `digest`
    /// ([`CacheError::DigestMismatch`]) and its media type and size are ones
    /// a store keeps ([`CacheError::ManifestRefused`]).
    fn put_manifest<'a>(
        &'a self,
        digest: &'a Digest,
        manifest: &'a StoredManifest,
    ) -> CacheFuture<'a, ()>;
    /// A cached blob, opened for reading, if present; `access` says
    /// whether its bytes will be sent or only its size is needed.
    fn blob<'a>(
        &'a self,
        digest: &'a Digest,
        access: BlobAccess,
    ) -> CacheFuture<'a, Option<BlobHandle>>;
    /// Where fills stage blobs while they download (a local directory).
    fn staging_dir(&self) -> &Path;
    /// Takes a staged, digest-verified file into the store.
    fn import_blob<'a>(
        &'a self,
        digest: &'a Digest,
        staged: &'a Path,
        size: u64,
    ) -> CacheFuture<'a, ()>;
    /// Frees at least `bytes` of the local disk staging shares with the
    /// store, by evicting least recently used content, when the disk is
    /// full; returns the bytes freed. Stores that keep nothing on the
    /// staging disk free nothing.
    fn make_room(&self, bytes: u64) -> CacheFuture<'_, u64> {
        let _ = bytes;
        Box::pin(async { Ok(0) })
    }
    /// Forgets what the store believes about a blob (its size, that it is
    /// there) after reading it failed, so the next request asks afresh.
    fn forget_blob(&self, digest: &Digest) {
        let _ = digest;
    }
    /// Which kind of store it is, for metric labels (`disk`, `s3`).
    fn label(&self) -> &'static str;
    /// The largest blob the store can hold.
    fn max_blob_size(&self) -> u64;
    /// The setting that raises [`BlobStore::max_blob_size`], for messages.
    fn max_blob_size_setting(&self) -> &'static str;
}

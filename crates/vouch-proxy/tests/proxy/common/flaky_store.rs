//! A content store double whose blob reads fail part way: it keeps
//! content in a real store and, once told to, serves a cached blob so
//! that its read breaks after a number of bytes, the way a bucket that
//! goes away mid-download or a failing disk does.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use vouch_proxy::cache::{
    BlobAccess, BlobBody, BlobHandle, BlobStore, ByteStream, CacheFuture, RangeRead, StoredManifest,
};
use vouch_proxy::names::Digest;

/// How a blob read breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// Served by range (as the bucket serves), failing with an error
    /// after this many bytes of the range.
    RangedErrorAfter(u64),
    /// Served as an open file holding only this many bytes of the blob
    /// (the read ends early, as a truncated or failing file does).
    FileEndsAfter(u64),
}

/// The double.
pub struct FlakyStore {
    inner: Arc<dyn BlobStore>,
    breaks: Mutex<Option<Break>>,
    dir: tempfile::TempDir,
}

impl FlakyStore {
    /// Over `inner`, reading normally until [`FlakyStore::set`].
    pub fn new(inner: Arc<dyn BlobStore>) -> Self {
        Self {
            inner,
            breaks: Mutex::new(None),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// How blob `GET`s break from now on (`None`: they do not).
    pub fn set(&self, breaks: Option<Break>) {
        *self.breaks.lock().unwrap() = breaks;
    }

    async fn broken(&self, handle: BlobHandle, how: Break) -> BlobHandle {
        let BlobBody::File(file) = handle.body else {
            panic!("the double wraps a disk store");
        };
        // By position: the store shares the open file between requests.
        let mut bytes = vec![0; handle.size as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut bytes, 0).unwrap();
        let body = match how {
            Break::RangedErrorAfter(after) => BlobBody::Ranged(Box::new(FailingRange {
                bytes: Bytes::from(bytes),
                after,
            })),
            Break::FileEndsAfter(after) => {
                let path = self.dir.path().join(format!("short-{}", unique()));
                std::fs::write(&path, &bytes[..after as usize]).unwrap();
                BlobBody::File(Arc::new(std::fs::File::open(&path).unwrap()))
            }
        };
        BlobHandle {
            size: handle.size,
            body,
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A blob read by range that fails after `after` bytes of any range.
#[derive(Debug)]
struct FailingRange {
    bytes: Bytes,
    after: u64,
}

impl RangeRead for FailingRange {
    fn read_range(&self, range: std::ops::Range<u64>) -> CacheFuture<'_, ByteStream> {
        let part = self.bytes.slice(range.start as usize..range.end as usize);
        let good = part.slice(..(self.after as usize).min(part.len()));
        let chunks: Vec<std::io::Result<Bytes>> = good
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .chain(std::iter::once(Err(std::io::Error::other(
                "injected: storage read failed",
            ))))
            .collect();
        Box::pin(async move { Ok(Box::pin(futures_util::stream::iter(chunks)) as ByteStream) })
    }
}

impl BlobStore for FlakyStore {
    fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>> {
        self.inner.manifest(digest)
    }

    fn put_manifest<'a>(
        &'a self,
        digest: &'a Digest,
        manifest: &'a StoredManifest,
    ) -> CacheFuture<'a, ()> {
        self.inner.put_manifest(digest, manifest)
    }

    fn blob<'a>(
        &'a self,
        digest: &'a Digest,
        access: BlobAccess,
    ) -> CacheFuture<'a, Option<BlobHandle>> {
        Box::pin(async move {
            let handle = self.inner.blob(digest, access).await?;
            let how = *self.breaks.lock().unwrap();
            Ok(match (handle, how, access) {
                (Some(handle), Some(how), BlobAccess::Get) => Some(self.broken(handle, how).await),
                (handle, ..) => handle,
            })
        })
    }

    fn staging_dir(&self) -> &Path {
        self.inner.staging_dir()
    }

    fn import_blob<'a>(
        &'a self,
        digest: &'a Digest,
        staged: &'a Path,
        size: u64,
    ) -> CacheFuture<'a, ()> {
        self.inner.import_blob(digest, staged, size)
    }

    fn make_room(&self, bytes: u64) -> CacheFuture<'_, u64> {
        self.inner.make_room(bytes)
    }

    fn forget_blob(&self, digest: &Digest) {
        self.inner.forget_blob(digest);
    }

    fn label(&self) -> &'static str {
        "flaky"
    }

    fn max_blob_size(&self) -> u64 {
        self.inner.max_blob_size()
    }

    fn max_blob_size_setting(&self) -> &'static str {
        self.inner.max_blob_size_setting()
    }
}

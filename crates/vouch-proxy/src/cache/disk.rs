//! The embedded cache: files named by digest under one directory, bounded
//! in size with least-recently-used eviction, surviving restarts.
//!
//! ```text
//! <root>/manifests/sha256/<hex>   "<media type>\n<exact bytes>"
//! <root>/blobs/sha256/<hex>       exact bytes
//! <root>/staging/                 fills in progress (emptied at start)
//! ```
//!
//! Files appear only by `rename` after their digest was checked, so a
//! crash or a lying upstream leaves nothing half-written under a digest
//! name; staging leftovers are deleted when the store opens. Recency is
//! kept in memory and seeded from file modification times at start.
//!
//! Blob files recently served stay open ([`MAX_OPEN_BLOBS`] of them), so
//! a cached blob costs no `open`/`close` and no path lookup per request
//! (about a tenth of a small cached blob's CPU, docs/benchmarks.md). The
//! store closes a file when it evicts or forgets the blob, so eviction
//! still frees the disk (once readers in flight finish), and checks at
//! each use that the file still has a name: a file deleted by hand is
//! closed and the blob fetched again, as before.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{
    BlobAccess, BlobBody, BlobHandle, BlobStore, CacheError, CacheFuture, MAX_MEDIA_TYPE_LEN,
    StoredManifest, io, on_blocking_pool, write_making_room,
};
use crate::names::{Digest, DigestAlgorithm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Manifest,
    Blob,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Self::Manifest => "manifests",
            Self::Blob => "blobs",
        }
    }
}

type Key = (Kind, Digest);

/// Blob files kept open at most. A file descriptor each (the usual soft
/// limit is 1024; connections need theirs): enough for the layers of the
/// releases being pulled at any one time, beyond which a file is opened
/// per request as before.
pub const MAX_OPEN_BLOBS: usize = 256;

/// The open blob files. Full, it closes an arbitrary
/// one to take another: the hot set is either within the bound (then
/// nothing is closed) or not (then which one goes matters little).
#[derive(Debug, Default)]
struct OpenBlobs {
    files: HashMap<Digest, Arc<File>>,
}

impl OpenBlobs {
    fn get(&self, digest: &Digest) -> Option<Arc<File>> {
        self.files.get(digest).cloned()
    }

    fn insert(&mut self, digest: Digest, file: Arc<File>) {
        if self.files.len() >= MAX_OPEN_BLOBS
            && !self.files.contains_key(&digest)
            && let Some(other) = self.files.keys().next().cloned()
        {
            self.files.remove(&other);
        }
        self.files.insert(digest, file);
    }

    fn close(&mut self, key: &Key) {
        if key.0 == Kind::Blob {
            self.files.remove(&key.1);
        }
    }
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<Key, (u64, u64)>, // size, tick
    order: BTreeMap<u64, Key>,
    next_tick: u64,
    total: u64,
}

impl Lru {
    /// Marks `key` used now; its recorded size, if it is there.
    fn touch(&mut self, key: &Key) -> Option<u64> {
        let tick = self.next_tick;
        let (size, old) = self.entries.get_mut(key)?;
        self.order.remove(old);
        *old = tick;
        self.order.insert(tick, key.clone());
        self.next_tick += 1;
        Some(*size)
    }

    /// Inserts (or refreshes) and returns what must be evicted to stay
    /// within `max` (never the entry just inserted).
    fn insert(&mut self, key: Key, size: u64, max: u64) -> Vec<Key> {
        if self.touch(&key).is_some() {
            return Vec::new();
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        self.entries.insert(key.clone(), (size, tick));
        self.order.insert(tick, key.clone());
        self.total += size;
        let mut evicted = Vec::new();
        while self.total > max {
            let Some((&oldest, victim)) = self.order.iter().next() else {
                break;
            };
            if *victim == key {
                break;
            }
            let victim = victim.clone();
            self.order.remove(&oldest);
            if let Some((size, _)) = self.entries.remove(&victim) {
                self.total -= size;
            }
            evicted.push(victim);
        }
        evicted
    }

    /// Takes the least recently used entries out until at least `bytes`
    /// are freed (or nothing is left); returns them.
    fn evict_at_least(&mut self, bytes: u64) -> Vec<Key> {
        let mut freed = 0;
        let mut evicted = Vec::new();
        while freed < bytes {
            let Some((&oldest, victim)) = self.order.iter().next() else {
                break;
            };
            let victim = victim.clone();
            self.order.remove(&oldest);
            if let Some((size, _)) = self.entries.remove(&victim) {
                self.total -= size;
                freed += size;
            }
            evicted.push(victim);
        }
        evicted
    }

    fn remove(&mut self, key: &Key) {
        if let Some((size, tick)) = self.entries.remove(key) {
            self.order.remove(&tick);
            self.total -= size;
        }
    }
}

/// The disk cache.
#[derive(Debug)]
pub struct DiskStore {
    root: PathBuf,
    staging: PathBuf,
    max_bytes: u64,
    lru: Mutex<Lru>,
    open: Mutex<OpenBlobs>,
}

impl DiskStore {
    /// Opens (creating) the cache at `root`, empties its staging area and
    /// indexes what is there, oldest first, evicting beyond `max_bytes`.
    /// Blocking: call before serving.
    pub fn open(root: &Path, max_bytes: u64) -> Result<Self, CacheError> {
        let staging = root.join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io("clear staging", &staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(io("create", &staging))?;
        let mut found = Vec::new();
        for kind in [Kind::Manifest, Kind::Blob] {
            for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
                let dir = root.join(kind.dir()).join(algorithm.name());
                std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
                for entry in std::fs::read_dir(&dir).map_err(io("list", &dir))? {
                    let entry = entry.map_err(io("list", &dir))?;
                    let name = entry.file_name();
                    let digest = name
                        .to_str()
                        .and_then(|hex| Digest::parse(&format!("{}:{hex}", algorithm.name())).ok());
                    let meta = entry.metadata().map_err(io("stat", &entry.path()))?;
                    match digest {
                        Some(digest) if meta.is_file() => {
                            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                            found.push((mtime, kind, digest, meta.len()));
                        }
                        // Not ours (or not a digest name): leave it alone.
                        _ => {}
                    }
                }
            }
        }
        found.sort_by_key(|(mtime, ..)| *mtime);
        let store = Self {
            root: root.to_path_buf(),
            staging,
            max_bytes,
            lru: Mutex::new(Lru::default()),
            open: Mutex::new(OpenBlobs::default()),
        };
        let mut evicted = Vec::new();
        {
            let mut lru = crate::memo::lock(&store.lru);
            for (_, kind, digest, size) in found {
                evicted.extend(lru.insert((kind, digest), size, max_bytes));
            }
        }
        for key in evicted {
            let _ = std::fs::remove_file(store.path(&key));
        }
        Ok(store)
    }

    fn path(&self, (kind, digest): &Key) -> PathBuf {
        self.root
            .join(kind.dir())
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Bytes currently cached.
    pub fn used_bytes(&self) -> u64 {
        crate::memo::lock(&self.lru).total
    }

    /// Records a new file and deletes what it pushes out.
    async fn admit(&self, key: Key, size: u64) {
        // A blob stored again replaces its file: the one held open is
        // no longer it.
        crate::memo::lock(&self.open).close(&key);
        let evicted = crate::memo::lock(&self.lru).insert(key, size, self.max_bytes);
        for victim in evicted {
            crate::memo::lock(&self.open).close(&victim);
            // Readers holding the file open keep reading (Unix semantics).
            let _ = tokio::fs::remove_file(self.path(&victim)).await;
        }
    }

    fn touch(&self, key: &Key) -> Option<u64> {
        crate::memo::lock(&self.lru).touch(key)
    }

    fn forget(&self, key: &Key) {
        crate::memo::lock(&self.open).close(key);
        crate::memo::lock(&self.lru).remove(key);
    }

    /// The blob's file held open and its size, while the file still has
    /// a name (one `fstat`); one deleted by hand is closed here.
    fn open_blob(&self, digest: &Digest) -> Option<(Arc<File>, u64)> {
        use std::os::unix::fs::MetadataExt as _;
        let file = crate::memo::lock(&self.open).get(digest)?;
        match file.metadata() {
            // Its length now, which the caller checks.
            Ok(meta) if meta.nlink() > 0 => Some((file, meta.len())),
            _ => {
                crate::memo::lock(&self.open).close(&(Kind::Blob, digest.clone()));
                None
            }
        }
    }
}

fn parse_manifest_file(digest: &Digest, data: Vec<u8>) -> Result<StoredManifest, CacheError> {
    let newline = data
        .iter()
        .take(MAX_MEDIA_TYPE_LEN + 1)
        .position(|b| *b == b'\n')
        .ok_or_else(|| CacheError::Damaged(digest.clone()))?;
    let media_type = String::from_utf8(data[..newline].to_vec())
        .map_err(|_| CacheError::Damaged(digest.clone()))?;
    let bytes = Bytes::from(data).slice(newline + 1..);
    Ok(StoredManifest { media_type, bytes })
}

impl BlobStore for DiskStore {
    fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>> {
        Box::pin(async move {
            let key = (Kind::Manifest, digest.clone());
            if self.touch(&key).is_none() {
                return Ok(None);
            }
            let path = self.path(&key);
            match tokio::fs::read(&path).await {
                Ok(data) => parse_manifest_file(digest, data).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.forget(&key);
                    Ok(None)
                }
                Err(e) => Err(io("read", &path)(e)),
            }
        })
    }

    fn put_manifest<'a>(
        &'a self,
        digest: &'a Digest,
        manifest: &'a StoredManifest,
    ) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            manifest.verify(digest)?;
            manifest.check_storable(digest)?;
            let key = (Kind::Manifest, digest.clone());
            let staged = self
                .staging
                .join(format!("m-{}-{}", digest.hex(), unique()));
            let mut content =
                Vec::with_capacity(manifest.media_type.len() + 1 + manifest.bytes.len());
            content.extend_from_slice(manifest.media_type.as_bytes());
            content.push(b'\n');
            content.extend_from_slice(&manifest.bytes);
            let size = content.len() as u64;
            let result = async {
                let file = tokio::fs::File::create_new(&staged)
                    .await
                    .map_err(io("create", &staged))?;
                let file = Arc::new(file.into_std().await);
                // A full disk evicts and retries once, as blob fills do.
                write_making_room(&file, 0, &[Bytes::from(content)], self, size)
                    .await
                    .map_err(io("write", &staged))?;
                on_blocking_pool(&file, |f| f.sync_data())
                    .await
                    .map_err(io("sync", &staged))?;
                let target = self.path(&key);
                tokio::fs::rename(&staged, &target)
                    .await
                    .map_err(io("rename", &target))
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&staged).await;
            }
            result?;
            self.admit(key, size).await;
            Ok(())
        })
    }

    /// An open file whatever the access: opening it costs nothing remote.
    /// Held open from an earlier request, or opened in place, not on the
    /// blocking pool, like the reads that follow (see `server::body`).
    fn blob<'a>(
        &'a self,
        digest: &'a Digest,
        _access: BlobAccess,
    ) -> CacheFuture<'a, Option<BlobHandle>> {
        Box::pin(async move {
            let key = (Kind::Blob, digest.clone());
            let Some(recorded) = self.touch(&key) else {
                return Ok(None);
            };
            let (file, size) = match self.open_blob(digest) {
                Some(open) => open,
                None => {
                    let path = self.path(&key);
                    match File::open(&path) {
                        Ok(file) => {
                            let size = file.metadata().map_err(io("stat", &path))?.len();
                            let file = Arc::new(file);
                            crate::memo::lock(&self.open).insert(digest.clone(), file.clone());
                            (file, size)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            self.forget(&key);
                            return Ok(None);
                        }
                        Err(e) => return Err(io("open", &path)(e)),
                    }
                }
            };
            if size != recorded {
                // Changed behind the proxy's back: a miss, fetched again
                // (the fill's rename replaces the file).
                tracing::warn!(path = %self.path(&key).display(), size, recorded, "cached file's size is not the one recorded; serving from the upstream and storing it again");
                self.forget(&key);
                return Ok(None);
            }
            Ok(Some(BlobHandle {
                size,
                body: BlobBody::File(file),
            }))
        })
    }

    fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn import_blob<'a>(
        &'a self,
        digest: &'a Digest,
        staged: &'a Path,
        size: u64,
    ) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let key = (Kind::Blob, digest.clone());
            let target = self.path(&key);
            tokio::fs::rename(staged, &target)
                .await
                .map_err(io("rename", &target))?;
            self.admit(key, size).await;
            Ok(())
        })
    }

    /// Evicts least recently used files until `bytes` are freed (what
    /// a reader holds open is freed when it closes).
    fn make_room(&self, bytes: u64) -> CacheFuture<'_, u64> {
        Box::pin(async move {
            let evicted = crate::memo::lock(&self.lru).evict_at_least(bytes);
            let mut freed = 0;
            for victim in evicted {
                crate::memo::lock(&self.open).close(&victim);
                let path = self.path(&victim);
                let size = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
                if tokio::fs::remove_file(&path).await.is_ok() {
                    freed += size;
                }
            }
            Ok(freed)
        })
    }

    /// Closes the blob's file if held open (reading it failed): the next
    /// request opens it afresh, or finds it gone and fetches it again.
    fn forget_blob(&self, digest: &Digest) {
        crate::memo::lock(&self.open).close(&(Kind::Blob, digest.clone()));
    }

    fn label(&self) -> &'static str {
        "disk"
    }

    fn max_blob_size(&self) -> u64 {
        self.max_bytes
    }

    fn max_blob_size_setting(&self) -> &'static str {
        "cache.max_bytes"
    }
}

/// A name component unique within this process (staging file names).
pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> (Digest, StoredManifest) {
        let bytes = Bytes::from(text.to_string());
        (
            Digest::sha256_of(&bytes),
            StoredManifest {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                bytes,
            },
        )
    }

    /// A blob as a `GET` finds it (`None` when absent).
    async fn get(store: &DiskStore, digest: &Digest) -> Option<BlobHandle> {
        store.blob(digest, BlobAccess::Get).await.unwrap()
    }

    #[test]
    fn lru_evicts_oldest_first_and_never_the_newcomer() {
        let mut lru = Lru::default();
        let k = |s: &str| (Kind::Blob, Digest::sha256_of(s.as_bytes()));
        assert!(lru.insert(k("a"), 4, 10).is_empty());
        assert!(lru.insert(k("b"), 4, 10).is_empty());
        assert_eq!(lru.touch(&k("a")), Some(4));
        assert_eq!(lru.insert(k("c"), 4, 10), vec![k("b")]);
        assert_eq!(lru.total, 8);
        // Bigger than the whole cache: everything else goes, it stays.
        assert_eq!(lru.insert(k("d"), 20, 10).len(), 2);
        assert_eq!(lru.total, 20);
    }

    #[test]
    fn making_room_evicts_the_least_recently_used_until_enough_is_freed() {
        let mut lru = Lru::default();
        let k = |s: &str| (Kind::Blob, Digest::sha256_of(s.as_bytes()));
        for name in ["a", "b", "c"] {
            assert!(lru.insert(k(name), 4, 100).is_empty());
        }
        assert_eq!(lru.touch(&k("a")), Some(4));
        assert_eq!(lru.evict_at_least(5), vec![k("b"), k("c")]);
        assert_eq!(lru.total, 4);
        assert_eq!(lru.evict_at_least(100), vec![k("a")]);
        assert!(lru.evict_at_least(1).is_empty());
    }

    #[tokio::test]
    async fn manifests_round_trip_and_refuse_wrong_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        let (digest, m) = manifest("{\"a\":1}");
        assert!(store.manifest(&digest).await.unwrap().is_none());
        store.put_manifest(&digest, &m).await.unwrap();
        assert_eq!(store.manifest(&digest).await.unwrap().unwrap(), m);
        let (other, _) = manifest("{\"b\":2}");
        assert!(matches!(
            store.put_manifest(&other, &m).await,
            Err(CacheError::DigestMismatch { .. })
        ));
        assert!(store.manifest(&other).await.unwrap().is_none());
        // Survives reopening.
        drop(store);
        let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.manifest(&digest).await.unwrap().unwrap(), m);
    }

    #[tokio::test]
    async fn blobs_import_evict_and_staging_is_cleared_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10).unwrap();
        let mut digests = Vec::new();
        for content in ["aaaaaa", "bbbbbb"] {
            let digest = Digest::sha256_of(content.as_bytes());
            let staged = store.staging_dir().join("x");
            std::fs::write(&staged, content).unwrap();
            store.import_blob(&digest, &staged, 6).await.unwrap();
            digests.push(digest);
        }
        assert!(get(&store, &digests[0]).await.is_none(), "evicted");
        assert_eq!(get(&store, &digests[1]).await.unwrap().size, 6);
        assert_eq!(store.used_bytes(), 6);
        std::fs::write(store.staging_dir().join("leftover"), "partial").unwrap();
        drop(store);
        let store = DiskStore::open(dir.path(), 10).unwrap();
        assert_eq!(std::fs::read_dir(store.staging_dir()).unwrap().count(), 0);
        assert!(get(&store, &digests[1]).await.is_some());
    }

    #[tokio::test]
    async fn a_blob_file_whose_size_changed_behind_the_store_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        let path = |digest: &Digest| store.path(&(Kind::Blob, digest.clone()));
        for (changed, held_before) in [("abc", false), ("abcdefg", false), ("abc", true)] {
            let digest = import(&store, "abcdef").await;
            if held_before {
                // Served once, so its file is held open: the change is
                // seen through the open file too.
                assert!(get(&store, &digest).await.is_some());
                assert!(held_open(&store, &digest));
            }
            std::fs::write(path(&digest), changed).unwrap();
            assert!(get(&store, &digest).await.is_none(), "{changed}");
            assert_eq!(store.used_bytes(), 0, "forgotten");
            assert!(!held_open(&store, &digest), "closed");
        }
        // Stored again by a fill, it is served.
        let digest = import(&store, "abcdef").await;
        assert_eq!(get(&store, &digest).await.unwrap().size, 6);
    }

    /// Imports `content` as a blob; returns its digest.
    async fn import(store: &DiskStore, content: &str) -> Digest {
        let digest = Digest::sha256_of(content.as_bytes());
        let staged = store.staging_dir().join(format!("s-{}", unique()));
        std::fs::write(&staged, content).unwrap();
        store
            .import_blob(&digest, &staged, content.len() as u64)
            .await
            .unwrap();
        digest
    }

    fn open_file(handle: BlobHandle) -> Arc<File> {
        match handle.body {
            BlobBody::File(file) => file,
            other => panic!("a disk store serves files, not {other:?}"),
        }
    }

    fn held_open(store: &DiskStore, digest: &Digest) -> bool {
        crate::memo::lock(&store.open).files.contains_key(digest)
    }

    #[tokio::test]
    async fn a_blob_served_again_reads_the_file_held_open() {
        use std::os::unix::fs::FileExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        let digest = import(&store, "layer bytes").await;
        assert!(!held_open(&store, &digest), "not opened before a request");
        let first = open_file(get(&store, &digest).await.unwrap());
        let again = get(&store, &digest).await.unwrap();
        assert_eq!(again.size, 11);
        let again = open_file(again);
        assert!(Arc::ptr_eq(&first, &again), "one open file for both");
        let mut bytes = [0u8; 5];
        again.read_exact_at(&mut bytes, 6).unwrap();
        assert_eq!(&bytes, b"bytes");
    }

    #[tokio::test]
    async fn a_blob_file_deleted_by_hand_is_closed_and_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        let digest = import(&store, "layer bytes").await;
        assert!(get(&store, &digest).await.is_some());
        assert!(held_open(&store, &digest));
        std::fs::remove_file(store.path(&(Kind::Blob, digest.clone()))).unwrap();
        assert!(
            get(&store, &digest).await.is_none(),
            "a miss, not the open file"
        );
        assert!(!held_open(&store, &digest));
        assert_eq!(store.used_bytes(), 0, "forgotten");
    }

    #[tokio::test]
    async fn evicting_or_forgetting_a_blob_closes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10).unwrap();
        let first = import(&store, "aaaaaa").await;
        assert!(get(&store, &first).await.is_some());
        let second = import(&store, "bbbbbb").await;
        assert!(!held_open(&store, &first), "evicted by the second");
        assert!(get(&store, &second).await.is_some());
        assert_eq!(store.make_room(1).await.unwrap(), 6);
        assert!(!held_open(&store, &second), "evicted to make room");
        let third = import(&store, "cccccc").await;
        assert!(get(&store, &third).await.is_some());
        store.forget_blob(&third);
        assert!(!held_open(&store, &third), "closed after a failed read");
        assert!(
            get(&store, &third).await.is_some(),
            "still cached: opened afresh"
        );
        assert!(held_open(&store, &third));
    }

    #[test]
    fn at_most_max_open_blobs_files_are_held_open() {
        let mut open = OpenBlobs::default();
        let file = Arc::new(tempfile::tempfile().unwrap());
        for i in 0..MAX_OPEN_BLOBS + 10 {
            open.insert(Digest::sha256_of(&i.to_be_bytes()), file.clone());
        }
        assert_eq!(open.files.len(), MAX_OPEN_BLOBS);
        let last = Digest::sha256_of(&(MAX_OPEN_BLOBS + 9).to_be_bytes());
        assert!(open.get(&last).is_some(), "the newest is kept");
    }
}

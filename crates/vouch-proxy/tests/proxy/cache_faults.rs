//! The cache is a cache (issue 21, item 1): with the content store's disk
//! full, every pull still completes with the right bytes, served from the
//! upstream and verified; least recently used content is evicted to make
//! room; and caching resumes once there is room, without a restart.
//!
//! The cache lives on a small tmpfs mounted for the test (tests run as
//! root here and in CI); a test that cannot mount one says so and skips.
//! The bucket tests run a moto server of their own, stopped and started
//! again empty mid-test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::flaky_store::{Break, FlakyStore};
use common::images::{Image, image};
use common::logs::lines_containing;
use common::s3::{PrivateMoto, unique_prefix};
use common::setup::REPO;
use common::stub::Behaviour;
use common::stub::Stub;
use common::{EMAIL, Options, TestProxy, basic, client, setup_licenses};
use vouch_proxy::cache::disk::DiskStore;
use vouch_proxy::cache::s3::S3Serve;
use vouch_proxy::cache::{BlobAccess, BlobStore};
use vouch_proxy::names::Digest;
use vouch_proxy::store::ReferrersMode;

/// Layer size: the 4 MiB blobs of the measurement (17 of 24
/// pulls cut with the disk full).
const LAYER_BYTES: usize = 4 << 20;

/// A tmpfs of `megabytes` mounted under a temporary directory, unmounted
/// on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after a SKIP line) when mounting is not possible here.
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                eprintln!(
                    "SKIP: cannot mount a tmpfs for the disk-full tests (needs root): {other:?}"
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem at `dir` until at most `leave` bytes are free.
fn fill_disk(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let free = free_bytes(dir);
    let size = free.saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    filler
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Fixture {
    stub: Stub,
    proxy: TestProxy,
    license: String,
    images: Vec<Image>,
    _dir: tempfile::TempDir,
}

/// A proxy whose disk cache lives at `cache` (unbounded by
/// `cache.max_bytes`: only the disk limits it), with tag 1.0 an index of
/// `count` images of one 4 MiB layer each.
async fn fixture(cache: &Path, count: usize) -> Fixture {
    let content: Arc<dyn BlobStore> = Arc::new(DiskStore::open(cache, 1 << 40).unwrap());
    fixture_over(content, count).await
}

/// The same over any content store.
async fn fixture_over(content: Arc<dyn BlobStore>, count: usize) -> Fixture {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        content: Some(content),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &stub.url(), &options).await;
    let license = setup_licenses(&proxy, ReferrersMode::NotFound).await.stable;
    let images = stub.index_release(REPO, "disk-full", count, LAYER_BYTES);
    Fixture {
        stub,
        proxy,
        license,
        images,
        _dir: dir,
    }
}

impl Fixture {
    /// Pulls blob `digest`: the bytes, or what went wrong; returns once
    /// the proxy's fills ended, so the cache is in its final state.
    async fn pull(&self, digest: &str) -> Result<Vec<u8>, String> {
        let pulled = self.pull_now(digest).await;
        self.proxy.settled().await;
        pulled
    }

    async fn pull_now(&self, digest: &str) -> Result<Vec<u8>, String> {
        let r = client()
            .get(self.proxy.repo_url(REPO, &format!("blobs/{digest}")))
            .header("authorization", basic(EMAIL, &self.license))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r
            .bytes()
            .await
            .map_err(|e| format!("{status}: body cut: {e}"))?;
        if status != 200 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(body.to_vec())
    }

    /// Pulls every image's layer `rounds` times, each round concurrently;
    /// returns how many pulls got exactly the right bytes, and the failures.
    async fn pull_all(&self, rounds: usize) -> (usize, Vec<String>) {
        let mut right = 0;
        let mut failures = Vec::new();
        for _ in 0..rounds {
            let pulls = self.images.iter().map(|img| async move {
                let layer = &img.layers[0];
                (self.pull(&layer.digest).await, layer)
            });
            for (got, layer) in futures_util::future::join_all(pulls).await {
                match got {
                    Ok(bytes) if bytes == layer.bytes => right += 1,
                    Ok(bytes) => failures.push(format!(
                        "{}: wrong bytes ({} of {})",
                        layer.digest,
                        bytes.len(),
                        layer.bytes.len()
                    )),
                    Err(e) => failures.push(format!("{}: {e}", layer.digest)),
                }
            }
        }
        (right, failures)
    }
}

/// Asserts `vouch_proxy_degraded{component="store"}` is `degraded` and
/// a store error with labels starting `errors` was counted.
async fn assert_store_state(f: &Fixture, degraded: &str, errors: &str) {
    let metrics = f.proxy.metrics().await;
    let gauge = format!("vouch_proxy_degraded{{component=\"store\"}} {degraded}");
    assert!(metrics.contains(&gauge), "{metrics}");
    let counter = format!("vouch_proxy_store_errors_total{{{errors}");
    assert!(metrics.contains(&counter), "{metrics}");
}

/// Every cached manifest and blob.
fn cached_files(cache: &Path) -> Vec<PathBuf> {
    let mut files = cached_blobs(cache);
    files.extend(
        std::fs::read_dir(cache.join("manifests/sha256"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    files
}

fn cached_blobs(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test]
async fn with_the_cache_disk_full_every_pull_completes_with_the_right_bytes() {
    let Some(tmpfs) = Tmpfs::mount(40) else {
        return;
    };
    let f = fixture(tmpfs.path(), 8).await;
    // Less room than one layer, and nothing cached that eviction could
    // free: every fill runs out of disk part way.
    let filler = fill_disk(tmpfs.path(), 1 << 20);
    let (right, failures) = f.pull_all(3).await;
    assert_eq!((right, &failures), (24, &Vec::<String>::new()));
    assert!(cached_blobs(tmpfs.path()).is_empty(), "nothing fit");
    assert_store_state(&f, "1", "store=\"disk\",op=\"write\"").await;
    assert!(!lines_containing(&["fault started", "\"store\"", "No space left"]).is_empty());
    // Room again: the next pull is cached, without a restart.
    std::fs::remove_file(filler).unwrap();
    let layer = &f.images[0].layers[0];
    assert_eq!(f.pull(&layer.digest).await.unwrap(), layer.bytes);
    let cached = cached_blobs(tmpfs.path());
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].ends_with(layer.digest.trim_start_matches("sha256:")));
    let metrics = f.proxy.metrics().await;
    assert!(
        metrics.contains("vouch_proxy_degraded{component=\"store\"} 0"),
        "{metrics}"
    );
    assert!(!lines_containing(&["fault ended", "\"store\""]).is_empty());
    f.proxy.stop().await;
    drop(f.stub);
}

#[tokio::test]
async fn a_full_cache_disk_evicts_least_recently_used_blobs_to_make_room() {
    // Room for about two 4 MiB layers (and the config blobs).
    let Some(tmpfs) = Tmpfs::mount(10) else {
        return;
    };
    let f = fixture(tmpfs.path(), 4).await;
    let (right, failures) = {
        let mut right = 0;
        let mut failures = Vec::new();
        // One at a time, so the order of use is known.
        for img in &f.images {
            let layer = &img.layers[0];
            match f.pull(&layer.digest).await {
                Ok(bytes) if bytes == layer.bytes => right += 1,
                other => failures.push(format!("{}: {:?}", layer.digest, other.map(|b| b.len()))),
            }
        }
        (right, failures)
    };
    assert_eq!((right, &failures), (4, &Vec::<String>::new()));
    // The last layer pulled was cached: room was made for it by evicting
    // the first ones, not by refusing to cache.
    let hex = |img: &Image| {
        img.layers[0]
            .digest
            .trim_start_matches("sha256:")
            .to_string()
    };
    let cached: Vec<String> = cached_blobs(tmpfs.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(cached.contains(&hex(&f.images[3])), "{cached:?}");
    assert!(!cached.contains(&hex(&f.images[0])), "{cached:?}");
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_manifest_written_to_a_full_cache_disk_evicts_least_recently_used_content() {
    let Some(tmpfs) = Tmpfs::mount(10) else {
        return;
    };
    let f = fixture(tmpfs.path(), 2).await;
    for img in &f.images {
        let layer = &img.layers[0];
        assert_eq!(f.pull(&layer.digest).await.unwrap(), layer.bytes);
    }
    assert_eq!(cached_blobs(tmpfs.path()).len(), 2, "the two layers");
    // A repository whose manifests were never fetched, and a disk with
    // not a byte free.
    let other = image("manifest-on-a-full-disk", "amd64", 1000);
    f.stub.image("acme/other", "1.0", &other);
    let before = cached_files(tmpfs.path());
    fill_disk(tmpfs.path(), 0);
    assert_eq!(free_bytes(tmpfs.path()), 0);
    let r = client()
        .get(f.proxy.repo_url("acme/other", "manifests/1.0"))
        .header("authorization", basic(EMAIL, &f.license))
        .header("accept", common::images::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), other.manifest.bytes);
    // Cached: room was made by evicting least recently used content, as
    // a blob fill does, not by giving up.
    let manifest_file = tmpfs
        .path()
        .join("manifests/sha256")
        .join(other.manifest.hex());
    assert!(manifest_file.is_file(), "the manifest was not cached");
    let evicted: Vec<&PathBuf> = before.iter().filter(|p| !p.exists()).collect();
    assert!(!evicted.is_empty(), "nothing was evicted from {before:?}");
    f.proxy.stop().await;
}

#[tokio::test]
async fn with_the_bucket_down_or_emptied_cached_blobs_are_served_from_the_upstream() {
    let Some(mut moto) = PrivateMoto::start() else {
        return;
    };
    let staging = tempfile::tempdir().unwrap();
    let store = Arc::new(moto.env.store(
        &unique_prefix("bucket-faults"),
        S3Serve::Stream,
        staging.path(),
    ));
    let f = fixture_over(store.clone(), 2).await;
    let (right, failures) = f.pull_all(1).await;
    assert_eq!((right, &failures), (2, &Vec::<String>::new()));
    let layer = &f.images[0].layers[0];
    let digest = Digest::parse(&layer.digest).unwrap();
    let in_bucket = || async { store.blob(&digest, BlobAccess::Head).await };
    assert!(in_bucket().await.unwrap().is_some(), "cached in the bucket");

    // The bucket unreachable: cached and uncached blobs alike come from
    // the upstream, verified, every byte right.
    moto.stop();
    let (right, failures) = f.pull_all(2).await;
    assert_eq!((right, &failures), (4, &Vec::<String>::new()));
    assert_store_state(&f, "1", "store=\"s3\"").await;

    // Back, but empty: a missing object is a cache miss, fetched,
    // verified and stored again, without a restart.
    moto.restart_empty();
    assert!(in_bucket().await.unwrap().is_none(), "the bucket is empty");
    let (right, failures) = f.pull_all(1).await;
    assert_eq!((right, &failures), (2, &Vec::<String>::new()));
    assert!(in_bucket().await.unwrap().is_some(), "stored again");
    let metrics = f.proxy.metrics().await;
    assert!(
        metrics.contains("vouch_proxy_degraded{component=\"store\"} 0"),
        "{metrics}"
    );
    f.proxy.stop().await;
}

/// An object of the wrong size in the bucket, found after a restart (when
/// the proxy no longer remembers sizes): truncated with no record of its
/// verified size, truncated by a restore that kept the record, and of the
/// right bytes but stored by an older version (no record). None is served
/// as it is: each is a miss, fetched from the upstream, verified, served
/// whole and stored again with its verified size.
#[tokio::test]
async fn a_bucket_object_of_the_wrong_size_is_fetched_again_not_served_short() {
    use object_store::{Attribute, Attributes, GetOptions, ObjectStore as _, PutOptions};
    let Some(env) = common::s3::s3_env() else {
        return;
    };
    let staging = tempfile::tempdir().unwrap();
    let store = Arc::new(env.store(
        &unique_prefix("wrong-size"),
        S3Serve::Stream,
        staging.path(),
    ));
    let f = fixture_over(store.clone(), 3).await;
    let (right, failures) = f.pull_all(1).await;
    assert_eq!((right, &failures), (3, &Vec::<String>::new()));

    let raw = env.raw();
    let verified_size = Attribute::Metadata("vouch-verified-size".into());
    let layers: Vec<_> = f.images.iter().map(|i| i.layers[0].clone()).collect();
    // How much of each layer to keep, and whether to record its full size.
    let rewrites = [(2, false), (2, true), (1, false)];
    for (layer, (fraction, recorded)) in layers.iter().zip(rewrites) {
        let full = layer.bytes.len();
        let digest = Digest::parse(&layer.digest).unwrap();
        let key = object_store::path::Path::from(store.blob_key(&digest));
        let mut attributes = Attributes::new();
        if recorded {
            attributes.insert(verified_size.clone(), full.to_string().into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let bytes = bytes::Bytes::copy_from_slice(&layer.bytes[..full / fraction]);
        raw.put_opts(&key, bytes.into(), options).await.unwrap();
        // What a restart forgets.
        store.forget_blob(&digest);
    }

    let (right, failures) = f.pull_all(1).await;
    assert_eq!((right, &failures), (3, &Vec::<String>::new()));
    for layer in &layers {
        let digest = Digest::parse(&layer.digest).unwrap();
        let key = object_store::path::Path::from(store.blob_key(&digest));
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let stored = raw.get_opts(&key, head).await.unwrap();
        let full = layer.bytes.len();
        assert_eq!(stored.meta.size, full as u64, "{}", layer.digest);
        assert_eq!(
            stored.attributes.get(&verified_size).map(|v| v.to_string()),
            Some(full.to_string()),
            "{}",
            layer.digest
        );
    }
    f.proxy.stop().await;
}

/// A proxy over a [`FlakyStore`] (a disk store underneath) whose one
/// 4 MiB layer was pulled once, so it is cached; and the layer's path on
/// the upstream.
async fn flaky_fixture(cache: &Path) -> (Fixture, Arc<FlakyStore>, String) {
    let disk = Arc::new(DiskStore::open(cache, 1 << 40).unwrap());
    let store = Arc::new(FlakyStore::new(disk));
    let f = fixture_over(store.clone(), 1).await;
    let layer = &f.images[0].layers[0];
    assert_eq!(f.pull(&layer.digest).await.unwrap(), layer.bytes);
    let path = format!("/v2/{REPO}/blobs/{}", layer.digest);
    (f, store, path)
}

#[tokio::test]
async fn a_cached_read_that_fails_mid_blob_is_finished_from_the_upstream() {
    let cache = tempfile::tempdir().unwrap();
    let (f, store, path) = flaky_fixture(cache.path()).await;
    let layer = &f.images[0].layers[0];
    let fetched = f.stub.count(&path);
    // The store fails after a little more than 1 MiB: read by range (as
    // from the bucket) with an error, and as a file that ends early.
    for how in [
        Break::RangedErrorAfter((1 << 20) + 7),
        Break::FileEndsAfter((1 << 20) + 7),
    ] {
        store.set(Some(how));
        assert_eq!(f.pull(&layer.digest).await.unwrap(), layer.bytes, "{how:?}");
    }
    // A range of the blob, the store failing within it: the rest of the
    // range, not more.
    store.set(Some(Break::RangedErrorAfter(500_000)));
    let r = client()
        .get(f.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest)))
        .header("authorization", basic(EMAIL, &f.license))
        .header("range", "bytes=1000-3000000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), layer.bytes[1000..=3_000_000]);
    // Each failure went on with one transfer from the upstream, and the
    // store is reported.
    assert_eq!(f.stub.count(&path), fetched + 3);
    assert_store_state(&f, "1", "store=\"flaky\",op=\"read\"").await;
    // Reads that work are the cache's again.
    store.set(None);
    assert_eq!(f.pull(&layer.digest).await.unwrap(), layer.bytes);
    assert_eq!(f.stub.count(&path), fetched + 3);
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_cached_read_finished_from_a_lying_upstream_never_completes() {
    let cache = tempfile::tempdir().unwrap();
    let (f, store, path) = flaky_fixture(cache.path()).await;
    let layer = &f.images[0].layers[0];
    let mut lie = layer.bytes.clone();
    *lie.last_mut().unwrap() ^= 1;
    f.stub
        .set(&path, Behaviour::ok("application/octet-stream", lie));
    store.set(Some(Break::RangedErrorAfter(1 << 20)));
    let got = f.pull(&layer.digest).await;
    assert!(got.is_err(), "a complete body: {:?}", got.map(|b| b.len()));
    let mismatches = f
        .proxy
        .metric("vouch_proxy_upstream_digest_mismatch_total{upstream=\"up.test\"}")
        .await;
    assert_eq!(mismatches, 1);
    f.proxy.stop().await;
}

#[test]
fn serve_warns_at_start_when_cache_max_bytes_exceeds_the_free_disk() {
    use std::io::BufRead as _;
    let Some(tmpfs) = Tmpfs::mount(8) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("proxy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\n\
             [state]\ndir = \"{}\"\n\
             [cache]\ndir = \"{}\"\nmax_bytes = 1073741824\n\
             [[upstreams]]\nname = \"up.test\"\nurl = \"http://127.0.0.1:9\"\ninsecure_allow_http = true\n",
            dir.path().join("state").display(),
            tmpfs.path().display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch-proxy"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env("VOUCH_PROXY_LOG", "info")
        .env("VOUCH_PROXY_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Everything up to the "serving" line (the warning comes before it).
    let mut before_serving = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if common::serving_address(&line).is_some() {
            break;
        }
        before_serving.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        before_serving
            .iter()
            .any(|l| l.contains("cache.max_bytes exceeds the free space")),
        "{before_serving:#?}"
    );
}

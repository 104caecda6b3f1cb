//! The content stores through the `BlobStore` trait: one suite run against
//! `DiskStore` and `S3Store` (moto; both serve modes) where they must
//! behave the same, then what only object storage does (presigned URLs,
//! multipart uploads, nothing visible until an upload completes, replicas
//! importing the same digest, tampered objects).

use crate::common;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::s3::{S3Env, s3_env, unique_prefix};
use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use object_store::path::Path as ObjectPath;
use vouch_proxy::cache::disk::DiskStore;
use vouch_proxy::cache::s3::{S3Serve, S3Store};
use vouch_proxy::cache::{
    BlobAccess, BlobBody, BlobHandle, BlobStore, CacheError, MAX_MEDIA_TYPE_LEN, ManifestRefusal,
    StoredManifest,
};
use vouch_proxy::names::Digest;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A store under test and its label.
type Labelled = (&'static str, Arc<dyn BlobStore>);

/// Every store under test: disk always, S3 in both serve modes when the
/// test server is there. The temp dir holds their local files.
fn stores(name: &str) -> (tempfile::TempDir, Vec<Labelled>) {
    let dir = tempfile::tempdir().unwrap();
    let mut out: Vec<Labelled> = vec![(
        "disk",
        Arc::new(DiskStore::open(&dir.path().join("disk"), 1 << 30).unwrap()),
    )];
    if let Some(env) = s3_env() {
        for (label, serve) in [
            ("s3 stream", S3Serve::Stream),
            ("s3 redirect", S3Serve::Redirect),
        ] {
            let staging = dir.path().join(label.replace(' ', "-"));
            let prefix = unique_prefix(name);
            out.push((label, Arc::new(env.store(&prefix, serve, &staging))));
        }
    }
    (dir, out)
}

fn manifest(text: &str) -> (Digest, StoredManifest) {
    let bytes = Bytes::from(text.to_string());
    (
        Digest::sha256_of(&bytes),
        StoredManifest {
            media_type: OCI_MANIFEST.into(),
            bytes,
        },
    )
}

fn noise(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// Stages `data` as a verified fill would and imports it.
async fn import(store: &dyn BlobStore, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    let staged = store.staging_dir().join(format!("b-{}-test", digest.hex()));
    std::fs::write(&staged, data).unwrap();
    store
        .import_blob(&digest, &staged, data.len() as u64)
        .await
        .unwrap();
    assert!(!staged.exists(), "the staged file was taken");
    digest
}

/// A blob as a `GET` finds it (`None` when absent).
async fn get(store: &dyn BlobStore, digest: &Digest) -> Option<BlobHandle> {
    store.blob(digest, BlobAccess::Get).await.unwrap()
}

/// The bytes of `range` of a blob, however the store serves it (a
/// redirect is followed by a plain client without credentials).
async fn read(handle: BlobHandle, range: Range<u64>) -> Vec<u8> {
    match handle.body {
        BlobBody::File(file) => {
            use std::os::unix::fs::FileExt as _;
            let mut out = vec![0u8; (range.end - range.start) as usize];
            file.read_exact_at(&mut out, range.start).unwrap();
            out
        }
        BlobBody::Ranged(reader) => {
            let mut stream = reader.read_range(range).await.unwrap();
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.unwrap());
            }
            out
        }
        BlobBody::Redirect(url) => {
            let r = reqwest::Client::new()
                .get(url)
                .header("range", format!("bytes={}-{}", range.start, range.end - 1))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206);
            r.bytes().await.unwrap().to_vec()
        }
    }
}

// ---- the shared suite ----------------------------------------------------

#[tokio::test]
async fn manifests_round_trip_with_their_media_type() {
    let (_dir, stores) = stores("manifest-round-trip");
    for (label, store) in stores {
        let (digest, m) = manifest(r#"{"schemaVersion":2,"layers":[]}"#);
        assert_eq!(store.manifest(&digest).await.unwrap(), None, "{label}");
        store.put_manifest(&digest, &m).await.unwrap();
        assert_eq!(store.manifest(&digest).await.unwrap(), Some(m), "{label}");
    }
}

#[tokio::test]
async fn a_manifest_that_does_not_hash_to_its_digest_is_refused() {
    let (_dir, stores) = stores("manifest-mismatch");
    for (label, store) in stores {
        let (_, m) = manifest("the real manifest");
        let claimed = Digest::sha256_of(b"another manifest");
        let err = store.put_manifest(&claimed, &m).await.unwrap_err();
        match err {
            CacheError::DigestMismatch { expected, found } => {
                assert_eq!(expected, claimed, "{label}");
                assert_eq!(found, Digest::sha256_of(&m.bytes), "{label}");
            }
            other => panic!("{label}: expected DigestMismatch, got {other}"),
        }
        assert_eq!(store.manifest(&claimed).await.unwrap(), None, "{label}");
    }
}

#[tokio::test]
async fn a_manifest_no_store_keeps_is_refused_saying_what_was_expected() {
    let (_dir, stores) = stores("manifest-refused");
    let long_type = "a".repeat(MAX_MEDIA_TYPE_LEN + 1);
    let oversize = format!("{{\"pad\":\"{}\"}}", " ".repeat(4 * 1024 * 1024));
    let cases: [(&str, String, ManifestRefusal, String); 5] = [
        (
            "",
            "{}".into(),
            ManifestRefusal::MediaTypeLength { found: 0 },
            "expected a media type of 1 to 255 bytes, found 0 bytes".into(),
        ),
        (
            &long_type,
            "{}".into(),
            ManifestRefusal::MediaTypeLength { found: 256 },
            "expected a media type of 1 to 255 bytes, found 256 bytes".into(),
        ),
        (
            "application/json\nX-Injected: 1",
            "{}".into(),
            ManifestRefusal::MediaTypeCharacter {
                found: '\n',
                at: 16,
            },
            "expected a media type without control characters, found '\\n' at byte 16".into(),
        ),
        (
            "application/json\r",
            "{}".into(),
            ManifestRefusal::MediaTypeCharacter {
                found: '\r',
                at: 16,
            },
            "expected a media type without control characters, found '\\r' at byte 16".into(),
        ),
        (
            OCI_MANIFEST,
            oversize.clone(),
            ManifestRefusal::TooLarge {
                found: oversize.len() as u64,
            },
            format!(
                "expected at most 4194304 bytes of manifest, found {}",
                oversize.len()
            ),
        ),
    ];
    for (label, store) in stores {
        for (media_type, text, reason, message) in &cases {
            let bytes = Bytes::from(text.clone());
            let digest = Digest::sha256_of(&bytes);
            let m = StoredManifest {
                media_type: media_type.to_string(),
                bytes,
            };
            let err = store.put_manifest(&digest, &m).await.unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("manifest {digest} not stored: {message}"),
                "{label}"
            );
            match err {
                CacheError::ManifestRefused {
                    digest: refused,
                    reason: found,
                } => {
                    assert_eq!(refused, digest, "{label}");
                    assert_eq!(found, *reason, "{label}");
                }
                other => panic!("{label}: expected ManifestRefused, got {other}"),
            }
            assert_eq!(store.manifest(&digest).await.unwrap(), None, "{label}");
        }
    }
}

#[tokio::test]
async fn imported_blobs_read_back_whole_and_by_range() {
    let (_dir, stores) = stores("blob-read");
    let data = noise(300_000);
    for (label, store) in stores {
        let digest = import(&*store, &data).await;
        let handle = get(&*store, &digest).await.expect(label);
        assert_eq!(handle.size, data.len() as u64, "{label}");
        assert_eq!(read(handle, 0..data.len() as u64).await, data, "{label}");
        let handle = get(&*store, &digest).await.expect(label);
        assert_eq!(
            read(handle, 1000..1010).await,
            data[1000..1010],
            "{label}: a range"
        );
        let handle = get(&*store, &digest).await.expect(label);
        let tail = data.len() as u64 - 1;
        assert_eq!(
            read(handle, tail..tail + 1).await,
            data[data.len() - 1..],
            "{label}: the last byte"
        );
    }
}

#[tokio::test]
async fn a_head_gets_the_size_and_never_a_presigned_url() {
    let (_dir, stores) = stores("blob-head");
    for (label, store) in stores {
        let digest = import(&*store, b"a small layer").await;
        let head = store.blob(&digest, BlobAccess::Head).await.unwrap();
        let handle = head.expect(label);
        assert_eq!(handle.size, 13, "{label}");
        assert!(
            !matches!(handle.body, BlobBody::Redirect(_)),
            "{label}: a HEAD presigned {:?}",
            handle.body
        );
    }
}

#[tokio::test]
async fn missing_content_is_none() {
    let (_dir, stores) = stores("missing");
    let absent = Digest::sha256_of(b"never stored");
    for (label, store) in stores {
        for access in [BlobAccess::Head, BlobAccess::Get] {
            assert!(
                store.blob(&absent, access).await.unwrap().is_none(),
                "{label}"
            );
        }
        assert!(store.manifest(&absent).await.unwrap().is_none(), "{label}");
    }
}

// ---- object storage only ---------------------------------------------------

struct S3Case {
    env: S3Env,
    dir: tempfile::TempDir,
    prefix: String,
}

fn s3_case(name: &str) -> Option<S3Case> {
    Some(S3Case {
        env: s3_env()?,
        dir: tempfile::tempdir().unwrap(),
        prefix: unique_prefix(name),
    })
}

impl S3Case {
    fn store(&self, serve: S3Serve) -> S3Store {
        self.env
            .store(&self.prefix, serve, &self.dir.path().join("staging"))
    }

    /// A streaming store that uploads anything over 1 MiB in parts.
    fn multipart_store(&self) -> S3Store {
        let mut config = self.env.config(
            &self.prefix,
            S3Serve::Stream,
            &self.dir.path().join("staging"),
        );
        config.multipart_threshold = 1024 * 1024;
        S3Store::new(config).unwrap()
    }

    /// Keys of multipart uploads in progress under this case's prefix
    /// (`ListMultipartUploads`; moto answers it without a signature).
    async fn pending_uploads(&self) -> Vec<String> {
        let url = format!(
            "{}/{}?uploads&prefix={}",
            self.env.endpoint, self.env.bucket, self.prefix
        );
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        text.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }
}

#[tokio::test]
async fn redirect_mode_presigns_a_url_a_plain_client_can_get() {
    let Some(case) = s3_case("presign") else {
        return;
    };
    // Not the default, so the URL shows the configured validity is used.
    let presign_ttl = Duration::from_secs(123);
    let mut config = case.env.config(
        &case.prefix,
        S3Serve::Redirect,
        &case.dir.path().join("staging"),
    );
    config.presign_ttl = presign_ttl;
    let store = S3Store::new(config).unwrap();
    let data = noise(70_000);
    let digest = import(&store, &data).await;
    let handle = get(&store, &digest).await.unwrap();
    let BlobBody::Redirect(url) = handle.body else {
        panic!("redirect mode gave {:?}", handle.body);
    };
    assert!(
        url.as_str().starts_with(&format!(
            "{}/{}/{}",
            case.env.endpoint,
            case.env.bucket,
            store.blob_key(&digest)
        )),
        "{url}"
    );
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(query["X-Amz-Expires"], presign_ttl.as_secs().to_string());
    assert!(query["X-Amz-Credential"].starts_with(&format!("{}/", case.env.access_key_id)));
    assert_eq!(query["X-Amz-Signature"].len(), 64);
    assert!(
        !url.as_str().contains(&case.env.secret_access_key),
        "the secret never appears in a URL"
    );
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap(), data);
}

#[tokio::test]
async fn large_blobs_are_uploaded_in_parts() {
    let Some(case) = s3_case("multipart") else {
        return;
    };
    let store = case.multipart_store();
    // 8 MiB + 4 MiB: one part of MULTIPART_PART_BYTES and a short last one.
    let data = noise(12 * 1024 * 1024);
    let digest = import(&store, &data).await;
    let handle = get(&store, &digest).await.unwrap();
    assert_eq!(handle.size, data.len() as u64);
    assert_eq!(read(handle, 0..data.len() as u64).await, data);
    let meta = case
        .env
        .raw()
        .head(&ObjectPath::from(store.blob_key(&digest)))
        .await
        .unwrap();
    assert!(
        meta.e_tag.as_deref().is_some_and(|t| t.ends_with("-2\"")),
        "a two-part upload's ETag ends in -2: {:?}",
        meta.e_tag
    );
    assert_eq!(case.pending_uploads().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_import_that_fails_midway_leaves_no_object_and_no_upload() {
    let Some(case) = s3_case("import-fails") else {
        return;
    };
    let store = case.multipart_store();
    let data = noise(12 * 1024 * 1024);
    let digest = Digest::sha256_of(&data);
    let staged = store.staging_dir().join("b-short");
    std::fs::write(&staged, &data).unwrap();
    // The staged file ends 8 MiB short of what the fill claimed: the first
    // part is uploaded before the shortfall shows.
    let claimed = data.len() as u64 + 8 * 1024 * 1024;
    let err = store
        .import_blob(&digest, &staged, claimed)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "staged blob {} has {} bytes, expected {claimed}; not stored",
            staged.display(),
            data.len()
        )
    );
    assert!(!case.env.object_exists(&store.blob_key(&digest)).await);
    assert!(get(&store, &digest).await.is_none());
    assert_eq!(
        case.pending_uploads().await,
        Vec::<String>::new(),
        "the upload was aborted"
    );
}

#[tokio::test]
async fn a_replica_killed_mid_upload_leaves_nothing_visible() {
    let Some(case) = s3_case("killed") else {
        return;
    };
    let store = case.store(S3Serve::Stream);
    let data = noise(6 * 1024 * 1024);
    let digest = Digest::sha256_of(&data);
    let key = ObjectPath::from(store.blob_key(&digest));
    // What a replica had done when it died: started the upload, sent a part.
    let raw = case.env.raw();
    let mut upload = raw.put_multipart(&key).await.unwrap();
    upload
        .put_part(Bytes::from(data[..5 * 1024 * 1024].to_vec()).into())
        .await
        .unwrap();
    drop(upload);
    assert!(
        !case.env.object_exists(key.as_ref()).await,
        "no object under the digest"
    );
    assert!(get(&store, &digest).await.is_none());
    assert_eq!(
        case.pending_uploads().await,
        vec![key.to_string()],
        "only an incomplete upload, which a lifecycle rule aborts"
    );
    // Another replica fetching the same digest later stores it normally.
    let imported = import(&store, &data).await;
    assert_eq!(imported, digest);
    let handle = get(&store, &digest).await.unwrap();
    assert_eq!(read(handle, 0..data.len() as u64).await, data);
}

#[tokio::test]
async fn two_replicas_importing_one_digest_both_succeed() {
    let Some(case) = s3_case("replicas") else {
        return;
    };
    let mut configs = Vec::new();
    for replica in ["a", "b"] {
        let mut config = case.env.config(
            &case.prefix,
            S3Serve::Stream,
            &case.dir.path().join(replica),
        );
        config.multipart_threshold = 1024 * 1024;
        configs.push(config);
    }
    let a = S3Store::new(configs.remove(0)).unwrap();
    let b = S3Store::new(configs.remove(0)).unwrap();
    let data = noise(9 * 1024 * 1024);
    let digest = Digest::sha256_of(&data);
    for store in [&a, &b] {
        std::fs::write(store.staging_dir().join("b-same"), &data).unwrap();
    }
    let size = data.len() as u64;
    let (staged_a, staged_b) = (
        a.staging_dir().join("b-same"),
        b.staging_dir().join("b-same"),
    );
    let (ra, rb) = tokio::join!(
        a.import_blob(&digest, &staged_a, size),
        b.import_blob(&digest, &staged_b, size),
    );
    ra.unwrap();
    rb.unwrap();
    for store in [&a, &b] {
        assert!(!store.staging_dir().join("b-same").exists());
        let handle = get(store, &digest).await.unwrap();
        assert_eq!(read(handle, 0..size).await, data);
    }
    assert_eq!(case.pending_uploads().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_tampered_manifest_object_is_reported_not_served() {
    let Some(case) = s3_case("tampered") else {
        return;
    };
    let store = case.store(S3Serve::Stream);
    let (digest, m) = manifest(r#"{"schemaVersion":2}"#);
    store.put_manifest(&digest, &m).await.unwrap();
    // Someone with write access to the bucket replaces the bytes.
    let key = ObjectPath::from(store.manifest_key(&digest));
    case.env
        .raw()
        .put(&key, Bytes::from_static(b"{\"evil\":true}").into())
        .await
        .unwrap();
    // The replica that wrote it remembers the true bytes (content-addressed,
    // so never stale); another replica reads the object and refuses it.
    assert_eq!(store.manifest(&digest).await.unwrap(), Some(m));
    let other = case.store(S3Serve::Stream);
    let err = other.manifest(&digest).await.unwrap_err();
    assert!(
        matches!(&err, CacheError::Damaged(d) if *d == digest),
        "{err}"
    );
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_fails_the_probe() {
    let Some(case) = s3_case("probe") else {
        return;
    };
    case.store(S3Serve::Stream).probe().await.unwrap();
    let mut config = case.env.config(
        &case.prefix,
        S3Serve::Stream,
        &case.dir.path().join("staging"),
    );
    config.bucket = "vouch-no-such-bucket".into();
    let err = S3Store::new(config).unwrap().probe().await.unwrap_err();
    assert!(
        err.to_string().starts_with("object storage probe "),
        "{err}"
    );
}

#[tokio::test]
async fn a_replica_remembers_blob_sizes_and_others_ask_the_store() {
    let Some(case) = s3_case("known") else {
        return;
    };
    let store = case.store(S3Serve::Redirect);
    let data = noise(4096);
    let digest = import(&store, &data).await;
    // A lifecycle rule deletes the object behind the proxy's back.
    case.env
        .raw()
        .delete(&ObjectPath::from(store.blob_key(&digest)))
        .await
        .unwrap();
    // The importing replica still knows it for KNOWN_BLOB_TTL (no HEAD per
    // GET); a replica that never saw it asks the store and finds nothing.
    let handle = get(&store, &digest).await.unwrap();
    assert_eq!(handle.size, data.len() as u64);
    let other = case.store(S3Serve::Redirect);
    assert!(get(&other, &digest).await.is_none());
}

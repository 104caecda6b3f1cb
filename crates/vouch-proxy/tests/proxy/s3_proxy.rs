//! vouch-proxy end to end with its content in S3-compatible storage (moto):
//! a real upstream (docker-registry), a proxy whose `BlobStore` is an
//! `S3Store`, and pulls in both serve modes.

use crate::common;

use reqwest::Method;
use std::sync::Arc;

use common::images::{OCI_INDEX, Pusher, Release, publish_release};
use common::s3::{S3Env, s3_env, unique_prefix};
use common::{EMAIL, Licenses, Options, TestProxy, VENDOR_PASS, VENDOR_USER, basic, client};
use common::{error_code, send, setup_licenses};
use vouch_proxy::cache::BlobStore;
use vouch_proxy::cache::s3::{S3Serve, S3Store};
use vouch_proxy::names::Digest;
use vouch_proxy::store::ReferrersMode;
use vouch_testkit::LocalRegistry;

const REPO: &str = "acme/api";
/// Layers above `VERIFY_BEFORE_SEND_BYTES` (1 MiB), so the first pull
/// streams from the fill while it uploads.
const LAYER_BYTES: usize = 2 * 1024 * 1024;

struct S3World {
    env: S3Env,
    store: Arc<S3Store>,
    proxy: TestProxy,
    licenses: Licenses,
    release: Release,
    _registry: LocalRegistry,
    _dir: tempfile::TempDir,
}

async fn s3_world(serve: S3Serve) -> Option<S3World> {
    let env = s3_env()?;
    let registry = LocalRegistry::start(Some((VENDOR_USER, VENDOR_PASS)))?;
    let pusher = Pusher::new(&registry.url(), Some(basic(VENDOR_USER, VENDOR_PASS)));
    let release = publish_release(&pusher, REPO, LAYER_BYTES).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(env.store(
        &unique_prefix(&format!("{serve:?}")),
        serve,
        &dir.path().join("s3-staging"),
    ));
    let options = Options {
        content: Some(store.clone() as Arc<dyn BlobStore>),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &registry.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    Some(S3World {
        env,
        store,
        proxy,
        licenses,
        release,
        _registry: registry,
        _dir: dir,
    })
}

impl S3World {
    fn staging_files(&self) -> usize {
        std::fs::read_dir(self.store.staging_dir()).unwrap().count()
    }
}

fn digest(text: &str) -> Digest {
    Digest::parse(text).unwrap()
}

#[tokio::test]
async fn pulls_through_an_s3_store_in_stream_mode() {
    let Some(w) = s3_world(S3Serve::Stream).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, "manifests/1.0"),
        &auth,
        &[("accept", OCI_INDEX)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), w.release.index.bytes);
    let index = digest(&w.release.index.digest);
    assert!(w.env.object_exists(&w.store.manifest_key(&index)).await);
    assert_eq!(
        w.store.manifest(&index).await.unwrap().unwrap().media_type,
        OCI_INDEX
    );

    let layer = &w.release.amd64.layers[0];
    assert!(layer.bytes.len() > LAYER_BYTES);
    let url = w.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest));
    // Uncached: streamed from the fill; stored once verified.
    let r = send(Method::GET, &url, &auth, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    w.proxy.settled().await;
    assert!(
        w.env
            .object_exists(&w.store.blob_key(&digest(&layer.digest)))
            .await
    );
    assert_eq!(w.staging_files(), 0, "the staged file was removed");
    // Cached: streamed from storage, whole and by range.
    let r = send(Method::GET, &url, &auth, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        layer.bytes.len().to_string().as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    let r = send(
        Method::GET,
        &url,
        &auth,
        &[("range", "bytes=1000000-1000099")],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000000-1000099/{}", layer.bytes.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), layer.bytes[1_000_000..1_000_100]);
    let r = send(Method::HEAD, &url, &auth, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        layer.bytes.len().to_string().as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], layer.digest.as_str());
    w.proxy.stop().await;
}

#[tokio::test]
async fn pulls_through_an_s3_store_in_redirect_mode() {
    let Some(w) = s3_world(S3Serve::Redirect).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    // Manifests are always served by the proxy.
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, "manifests/1.0"),
        &auth,
        &[("accept", OCI_INDEX)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), w.release.index.bytes);

    let storage = format!("{}/{}/", w.env.endpoint, w.env.bucket);
    let redirected = |r: &reqwest::Response, digest: &str| {
        assert_eq!(r.status(), 307);
        assert_eq!(r.headers()["docker-content-digest"], digest);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&storage), "{location}");
        assert!(location.contains("X-Amz-Signature="), "{location}");
        assert!(
            !location.contains(&w.licenses.stable),
            "no client credential"
        );
        location
    };
    // A small blob is verified, stored, then redirected to at once.
    let config = &w.release.amd64.config;
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, &format!("blobs/{}", config.digest)),
        &auth,
        &[],
    )
    .await;
    let location = redirected(&r, &config.digest);
    let plain = reqwest::Client::new();
    let got = plain.get(&location).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), config.bytes);

    let layer = &w.release.amd64.layers[0];
    let url = w.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest));
    // Uncached and large: streamed from the fill (nothing to redirect to yet).
    let r = send(Method::GET, &url, &auth, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    w.proxy.settled().await;
    // Cached: redirected; storage honours the client's Range itself.
    let r = send(Method::GET, &url, &auth, &[]).await;
    let location = redirected(&r, &layer.digest);
    assert_eq!(
        plain
            .get(&location)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        layer.bytes
    );
    let r = send(Method::GET, &url, &auth, &[("range", "bytes=-7")]).await;
    let location = redirected(&r, &layer.digest);
    let got = plain
        .get(&location)
        .header("range", "bytes=-7")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 206);
    assert_eq!(
        got.bytes().await.unwrap(),
        layer.bytes[layer.bytes.len() - 7..]
    );
    // An unsatisfiable range is still answered by the proxy.
    let r = send(
        Method::GET,
        &url,
        &auth,
        &[("range", &format!("bytes={}-", layer.bytes.len()))],
    )
    .await;
    assert_eq!(r.status(), 416);
    assert_eq!(error_code(&r.text().await.unwrap()), "RANGE_INVALID");
    // HEAD is answered by the proxy: length and digest, no redirect.
    let r = send(Method::HEAD, &url, &auth, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none());
    assert_eq!(
        r.headers()["content-length"],
        layer.bytes.len().to_string().as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], layer.digest.as_str());
    // An unlicensed client gets no URL.
    let r = c
        .get(&url)
        .header("authorization", basic(EMAIL, &w.licenses.revoked))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    w.proxy.stop().await;
}

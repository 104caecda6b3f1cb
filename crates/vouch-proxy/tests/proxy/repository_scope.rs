//! Cached content belongs to a repository only once that repository is
//! known to hold it (issue 14, finding 1). The cache is keyed by digest
//! and shared by every app and upstream; a manifest published into any
//! allowed repository can list any digest, so before cached bytes are
//! given out for a repository that did not fetch them, the proxy asks
//! that repository's upstream (HEAD) and records the answer.

use crate::common;

use common::images::{Blob, Image, image, image_over, index};
use common::setup::REPO;
use common::stub::{Behaviour, Stub};
use common::{
    EMAIL, Licenses, Options, TestProxy, VENDOR_PASS, VENDOR_USER, basic, error_code, send,
    setup_licenses,
};
use reqwest::Method;
use vouch_proxy::admin;
use vouch_proxy::cache::BlobStore;
use vouch_proxy::cache::disk::DiskStore;
use vouch_proxy::names::{AppSlug, Repository};
use vouch_proxy::store::ReferrersMode;

/// The second upstream's name.
const SECOND: &str = "up2.test";
/// A repository of the second upstream that app acme allows; whoever
/// can publish there lists the beta image's digests in its tag 1.0.
const MIRROR: &str = "acme/mirror";
/// App other's repository on the first upstream, which lists the same
/// digests in its tag 1.0.
const OTHER: &str = "other/app";

struct Scope {
    first: Stub,
    second: Stub,
    proxy: TestProxy,
    licenses: Licenses,
    /// `acme/api:1.1` on the first upstream: beta only.
    secret: Image,
    _dir: tempfile::TempDir,
}

/// An image manifest with its own config and `layer` from elsewhere.
fn lure(layer: &Blob) -> Image {
    image_over(layer.clone(), "arm64")
}

/// Two stub upstreams (`up.test`, `up2.test`) and two apps. `acme/api:1.1`
/// (beta) holds the secret image; `up2.test/acme/mirror:1.0` and
/// `up.test/other/app:1.0` (both stable) are indexes listing the secret
/// image's manifest and a lure image made of its layer, without holding
/// either.
async fn scope(content: Option<std::sync::Arc<dyn BlobStore>>) -> Scope {
    let first = Stub::start().await;
    let second = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        extra_toml: format!(
            "[[upstreams]]\nname = \"{SECOND}\"\nurl = \"{}\"\ninsecure_allow_http = true\n\
             username = \"{VENDOR_USER}\"\npassword = \"{VENDOR_PASS}\"\n",
            second.url()
        ),
        content,
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &first.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    admin::allow(
        &*proxy.store,
        &proxy.settings,
        &AppSlug::new("acme").unwrap(),
        &[Repository::parse(&format!("{SECOND}/acme")).unwrap()],
    )
    .await
    .unwrap();
    let secret = image("scope-secret", "amd64", 3_000);
    first.image(REPO, "1.1", &secret);
    let lure = lure(&secret.layers[0]);
    let listing = index(&[(&secret, "amd64"), (&lure, "arm64")]);
    for (stub, repo) in [(&second, MIRROR), (&first, OTHER)] {
        stub.manifest(repo, "1.0", &listing);
        stub.manifest(repo, &listing.digest, &listing);
        stub.manifest(repo, &lure.manifest.digest, &lure.manifest);
        stub.blob(repo, &lure.config);
    }
    Scope {
        first,
        second,
        proxy,
        licenses,
        secret,
        _dir: dir,
    }
}

impl Scope {
    async fn get(
        &self,
        method: Method,
        license: &str,
        upstream: &str,
        app: &str,
        repo: &str,
        rest: &str,
    ) -> (u16, Vec<u8>) {
        let url = self
            .proxy
            .url(&format!("/v2/proxy/{app}/{upstream}/{repo}/{rest}"));
        let r = send(
            method,
            url,
            &basic(EMAIL, license),
            &[("accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")],
        )
        .await;
        let status = r.status().as_u16();
        if status >= 500 {
            // The body holds only a request ID: add what the proxy logged.
            let (status, text) = common::logs::status_and_body(r).await;
            return (status, text.into_bytes());
        }
        (status, r.bytes().await.unwrap().to_vec())
    }

    /// The beta customer pulls the secret image through `up.test/acme/api`,
    /// which puts its manifest, config and layer in the cache.
    async fn beta_pulls_the_secret(&self) {
        let beta = &self.licenses.beta;
        let s = &self.secret;
        for (rest, want) in [
            ("manifests/1.1".to_string(), &s.manifest),
            (format!("blobs/{}", s.config.digest), &s.config),
            (format!("blobs/{}", s.layers[0].digest), &s.layers[0]),
        ] {
            let (status, body) = self
                .get(Method::GET, beta, "up.test", "acme", REPO, &rest)
                .await;
            assert_eq!(status, 200, "{rest}: {}", String::from_utf8_lossy(&body));
            assert_eq!(body, want.bytes, "{rest}");
        }
    }
}

fn heads(stub: &Stub, path: &str) -> usize {
    stub.seen()
        .iter()
        .filter(|s| s.method == "HEAD" && s.path == path)
        .count()
}

fn gets(stub: &Stub, path: &str) -> usize {
    stub.seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path == path)
        .count()
}

/// Asserts a 404 with `code`, and that none of the secret's bytes are in it.
fn unknown(got: &(u16, Vec<u8>), code: &str, secret: &Blob) {
    let text = String::from_utf8_lossy(&got.1).to_string();
    let shown: String = text.chars().take(300).collect();
    assert_eq!(got.0, 404, "{shown}");
    assert_ne!(got.1, secret.bytes);
    assert_eq!(error_code(&text), code, "{shown}");
    assert!(text.contains("is not in"), "{shown}");
}

#[tokio::test]
async fn cached_content_is_not_served_through_another_upstream_or_app_that_does_not_hold_it() {
    let s = scope(None).await;
    s.beta_pulls_the_secret().await;
    let layer = &s.secret.layers[0];
    let manifest = &s.secret.manifest;
    let stable = s.licenses.stable.clone();
    let other = s.licenses.other_app.clone();

    // A stable customer of app acme, through the second upstream.
    for method in [Method::GET, Method::HEAD] {
        let got = s
            .get(
                method.clone(),
                &stable,
                SECOND,
                "acme",
                MIRROR,
                &format!("blobs/{}", layer.digest),
            )
            .await;
        if method == Method::GET {
            unknown(&got, "BLOB_UNKNOWN", layer);
        } else {
            assert_eq!(got.0, 404, "HEAD of the blob");
        }
    }
    let got = s
        .get(
            Method::GET,
            &stable,
            SECOND,
            "acme",
            MIRROR,
            &format!("manifests/{}", manifest.digest),
        )
        .await;
    unknown(&got, "MANIFEST_UNKNOWN", manifest);
    // The second upstream was asked, and never for the bytes.
    let blob_path = format!("/v2/{MIRROR}/blobs/{}", layer.digest);
    let manifest_path = format!("/v2/{MIRROR}/manifests/{}", manifest.digest);
    assert_eq!(heads(&s.second, &blob_path), 2, "{:?}", s.second.seen());
    assert_eq!(heads(&s.second, &manifest_path), 1, "{:?}", s.second.seen());

    // A customer of app other, through the first upstream's other repository.
    let got = s
        .get(
            Method::GET,
            &other,
            "up.test",
            "other",
            OTHER,
            &format!("blobs/{}", layer.digest),
        )
        .await;
    unknown(&got, "BLOB_UNKNOWN", layer);
    assert_eq!(
        heads(&s.first, &format!("/v2/{OTHER}/blobs/{}", layer.digest)),
        1
    );
    s.proxy.stop().await;
}

#[tokio::test]
async fn a_repository_that_confirms_a_digest_is_served_from_the_cache_and_asked_once() {
    let s = scope(None).await;
    s.beta_pulls_the_secret().await;
    let layer = &s.secret.layers[0];
    // The mirror does hold the layer now: one HEAD confirms it, the bytes
    // come from the cache (no GET upstream), and later pulls ask nothing.
    s.second.blob(MIRROR, layer);
    let rest = format!("blobs/{}", layer.digest);
    let path = format!("/v2/{MIRROR}/{rest}");
    for _ in 0..3 {
        let (status, body) = s
            .get(
                Method::GET,
                &s.licenses.stable,
                SECOND,
                "acme",
                MIRROR,
                &rest,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body, layer.bytes);
    }
    assert_eq!(heads(&s.second, &path), 1, "{:?}", s.second.seen());
    assert_eq!(gets(&s.second, &path), 0, "{:?}", s.second.seen());
    // The repository the bytes came from is never asked again either.
    let before = s.first.seen().len();
    let (status, _) = s
        .get(
            Method::GET,
            &s.licenses.beta,
            "up.test",
            "acme",
            REPO,
            &rest,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.first.seen().len(), before, "{:?}", s.first.seen());
    s.proxy.stop().await;
}

#[tokio::test]
async fn a_failing_confirmation_answers_as_an_uncached_pull_would_and_leaks_nothing() {
    let s = scope(None).await;
    s.beta_pulls_the_secret().await;
    let layer = &s.secret.layers[0];
    let manifest = &s.secret.manifest;
    s.first.set(
        &format!("/v2/{OTHER}/blobs/{}", layer.digest),
        Behaviour::status(500),
    );
    s.second.set(
        &format!("/v2/{MIRROR}/manifests/{}", manifest.digest),
        Behaviour::status(503),
    );
    let got = s
        .get(
            Method::GET,
            &s.licenses.other_app,
            "up.test",
            "other",
            OTHER,
            &format!("blobs/{}", layer.digest),
        )
        .await;
    let text = String::from_utf8_lossy(&got.1).to_string();
    assert_eq!(
        (got.0, error_code(&text).as_str()),
        (502, "UNKNOWN"),
        "{text}"
    );
    assert!(text.contains("500"), "{text}");
    let got = s
        .get(
            Method::GET,
            &s.licenses.stable,
            SECOND,
            "acme",
            MIRROR,
            &format!("manifests/{}", manifest.digest),
        )
        .await;
    let text = String::from_utf8_lossy(&got.1).to_string();
    assert_eq!(
        (got.0, error_code(&text).as_str()),
        (502, "UNKNOWN"),
        "{text}"
    );
    assert!(!got.1.starts_with(b"{\"schemaVersion\""), "{text}");
    s.proxy.stop().await;
}

#[tokio::test]
async fn a_replica_that_did_not_fetch_a_digest_confirms_it_once() {
    // Two proxies over one content store, as replicas share a bucket.
    let cache = tempfile::tempdir().unwrap();
    let shared: std::sync::Arc<dyn BlobStore> =
        std::sync::Arc::new(DiskStore::open(cache.path(), 1 << 30).unwrap());
    let one = scope(Some(shared.clone())).await;
    one.beta_pulls_the_secret().await;
    // The second replica's upstream holds what the first one fetched.
    let two = scope(Some(shared)).await;
    let layer = &one.secret.layers[0];
    let rest = format!("blobs/{}", layer.digest);
    let path = format!("/v2/{REPO}/{rest}");
    for _ in 0..2 {
        let (status, body) = two
            .get(
                Method::GET,
                &two.licenses.beta,
                "up.test",
                "acme",
                REPO,
                &rest,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body, layer.bytes);
    }
    assert_eq!(heads(&two.first, &path), 1, "{:?}", two.first.seen());
    assert_eq!(gets(&two.first, &path), 0, "served from the shared cache");
    one.proxy.stop().await;
    two.proxy.stop().await;
}

#[tokio::test]
async fn a_request_that_joins_another_repositorys_fetch_is_confirmed_first() {
    let s = scope(None).await;
    let layer = s.secret.layers[0].clone();
    let rest = format!("blobs/{}", layer.digest);
    let source = format!("/v2/{REPO}/{rest}");
    // The beta pull's upstream transfer takes a while; the stable request
    // through the mirror arrives while it runs.
    s.first.set(
        &source,
        Behaviour::Slow {
            headers: vec![],
            body: layer.bytes.clone(),
            chunk: 256,
            delay: std::time::Duration::from_millis(40),
        },
    );
    let beta = {
        let url = s
            .proxy
            .url(&format!("/v2/proxy/acme/up.test/{REPO}/{rest}"));
        let auth = basic(EMAIL, &s.licenses.beta);
        tokio::spawn(async move {
            let r = send(Method::GET, url, &auth, &[]).await;
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        })
    };
    let mut polls = 0;
    while gets(&s.first, &source) == 0 {
        polls += 1;
        assert!(polls < 500, "the beta pull never reached the upstream");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let got = s
        .get(
            Method::GET,
            &s.licenses.stable,
            SECOND,
            "acme",
            MIRROR,
            &rest,
        )
        .await;
    unknown(&got, "BLOB_UNKNOWN", &layer);
    assert_eq!(heads(&s.second, &format!("/v2/{MIRROR}/{rest}")), 1);
    let (status, body) = beta.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, layer.bytes, "the beta pull is not disturbed");
    s.proxy.stop().await;
}

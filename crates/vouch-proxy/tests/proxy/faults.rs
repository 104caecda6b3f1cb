//! Upstream failures and lies, client disconnects, coalescing, redirects,
//! the upstream token flow and referrers passthrough, against a stub
//! upstream that records what it was asked.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::images::{
    Blob, Image, OCI_INDEX, OCI_MANIFEST, image, index, noise, referrers_index, signature,
};
use common::logs::{lines_containing, logged_error};
use common::setup::REPO;
use common::stub::{Behaviour, Stub};
use common::{
    EMAIL, Licenses, Options, TestProxy, VENDOR_PASS, VENDOR_USER, basic, client, error_code,
    setup_licenses,
};
use vouch_proxy::store::ReferrersMode;

struct Fixture {
    stub: Stub,
    proxy: TestProxy,
    licenses: Licenses,
    _dir: tempfile::TempDir,
}

async fn fixture(upstream_url: Option<&str>, referrers: ReferrersMode) -> Fixture {
    fixture_with(upstream_url, referrers, &Options::default()).await
}

async fn fixture_with(
    upstream_url: Option<&str>,
    referrers: ReferrersMode,
    options: &Options,
) -> Fixture {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = upstream_url.map_or_else(|| stub.url(), str::to_string);
    let proxy = TestProxy::start(dir.path(), &url, options).await;
    let licenses = setup_licenses(&proxy, referrers).await;
    Fixture {
        stub,
        proxy,
        licenses,
        _dir: dir,
    }
}

impl Fixture {
    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(self.proxy.repo_url(REPO, path))
            .header("authorization", basic(EMAIL, &self.licenses.stable))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap()
    }

    /// GETs blob `layer`: a 200 whose body ends short of it (never a
    /// complete one).
    async fn assert_cut_short(&self, layer: &Blob) {
        let r = self.get(&format!("blobs/{}", layer.digest)).await;
        assert_eq!(r.status(), 200);
        let received = r.bytes().await.map_or(0, |b| b.len());
        assert!(
            received < layer.bytes.len(),
            "the client must not receive a complete body ({received} bytes)"
        );
    }

    /// Serves `img` as tag 1.0 (entitled on channel stable).
    fn release(&self, img: &Image) {
        self.stub.image(REPO, "1.0", img);
    }
}

/// A fixture with one image of a `layer_bytes` layer (seeded `seed`)
/// released as 1.0.
async fn released(seed: &str, layer_bytes: usize) -> (Fixture, Image) {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image(seed, "amd64", layer_bytes);
    f.release(&img);
    (f, img)
}

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, error_code(&r.text().await.unwrap()))
}

#[tokio::test]
async fn an_unreachable_upstream_is_503() {
    let f = fixture(Some("http://127.0.0.1:9"), ReferrersMode::NotFound).await;
    let (status, code) = status_and_code(f.get("manifests/1.0").await).await;
    assert_eq!((status, code.as_str()), (503, "UNAVAILABLE"));
    // The proxy still serves: /healthz is 200 and names the upstream down.
    let r = client().get(f.proxy.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let health: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        health["components"]["upstream:up.test"]["state"], "down",
        "{health}"
    );
    assert!(!lines_containing(&["fault started", "upstream:up.test", "down"]).is_empty());
    f.proxy.stop().await;
}

#[tokio::test]
async fn the_ops_listener_tells_component_states_and_the_public_healthz_only_that_it_serves() {
    let options = Options {
        server_toml: "ops_listen = \"127.0.0.1:0\"".into(),
        ..Options::default()
    };
    let f = fixture_with(
        Some("http://127.0.0.1:9"),
        ReferrersMode::NotFound,
        &options,
    )
    .await;
    let before = jiff::Timestamp::now();
    let (status, _) = status_and_code(f.get("manifests/1.0").await).await;
    assert_eq!(status, 503);
    let ops = f.proxy.ops_addr.unwrap();
    let r = client()
        .get(format!("http://{ops}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health: serde_json::Value = r.json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    let upstream = &health["components"]["upstream:up.test"];
    assert_eq!(upstream["state"], "down", "{health}");
    let since: jiff::Timestamp = upstream["since"].as_str().unwrap().parse().unwrap();
    assert!(since >= before, "{health}");
    for component in ["database", "store"] {
        assert_eq!(health["components"][component]["state"], "ok", "{health}");
    }
    let ready = client()
        .get(format!("http://{ops}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "an upstream down is not the replica's fault"
    );
    // The public listener says only that it serves.
    let public = client().get(f.proxy.url("/healthz")).send().await.unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.text().await.unwrap(), "ok\n");
    f.proxy.stop().await;
}

#[tokio::test]
async fn upstream_failures_are_502_or_passed_on_never_a_bare_500() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let manifest = format!("/v2/{REPO}/manifests/1.0");
    for (upstream, want, code) in [
        (500, 502, "UNKNOWN"),
        (503, 502, "UNKNOWN"),
        (401, 502, "UNKNOWN"), // the vendor's credentials: never a 401 to the customer
        (403, 502, "UNKNOWN"),
        (418, 502, "UNKNOWN"),
        (404, 404, "MANIFEST_UNKNOWN"),
    ] {
        f.stub.set(&manifest, Behaviour::status(upstream));
        let r = f.get("manifests/1.0").await;
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let (status, got) = status_and_code(r).await;
        assert_eq!((status, got.as_str()), (want, code), "upstream {upstream}");
    }
    f.stub.set(
        &manifest,
        Behaviour::Respond {
            status: 429,
            headers: vec![("retry-after".into(), "17".into())],
            body: vec![],
        },
    );
    let r = f.get("manifests/1.0").await;
    assert_eq!(r.headers()["retry-after"], "17");
    assert_eq!(
        status_and_code(r).await,
        (429, "TOOMANYREQUESTS".to_string())
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_lying_upstream_manifest_is_refused_and_not_cached() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("lie", "amd64", 100);
    let other = image("other", "amd64", 100);
    f.release(&img);
    // By tag: the digest header does not match the bytes.
    f.stub.set(
        &format!("/v2/{REPO}/manifests/1.0"),
        Behaviour::Respond {
            status: 200,
            headers: vec![
                ("content-type".into(), OCI_MANIFEST.into()),
                ("docker-content-digest".into(), img.manifest.digest.clone()),
            ],
            body: other.manifest.bytes.clone(),
        },
    );
    let (status, logged) = logged_error(f.get("manifests/1.0").await).await;
    assert_eq!(status, 502);
    assert!(logged.contains("refused, not cached"), "{logged}");
    assert!(f.proxy.cache_files("manifests").is_empty());
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_lying_upstream_blob_is_refused_and_not_cached() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("big", "amd64", 3 << 20);
    f.release(&img);
    // A small blob (the config) with one byte changed: a clean 502
    // before any byte is sent.
    let mut evil = img.config.bytes.clone();
    evil[10] ^= 1;
    f.stub.set(
        &format!("/v2/{REPO}/blobs/{}", img.config.digest),
        Behaviour::ok("application/octet-stream", evil),
    );
    let (status, code) =
        status_and_code(f.get(&format!("blobs/{}", img.config.digest)).await).await;
    assert_eq!((status, code.as_str()), (502, "UNKNOWN"));
    // A large layer is streamed, and the stream is cut before its end.
    let layer = &img.layers[0];
    let mut evil = layer.bytes.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    f.stub.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::ok("application/octet-stream", evil),
    );
    f.assert_cut_short(layer).await;
    // The fill finds the digest wrong and discards its staging file (a
    // moment after the client saw the cut); nothing ever reaches blobs/.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f.proxy.cache_files("staging").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "staging never emptied: {:?}",
            f.proxy.cache_files("staging")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        f.proxy.cache_files("blobs").is_empty(),
        "{:?}",
        f.proxy.cache_files("blobs")
    );
    // Operators are told every time: upstream, repository, digest, bytes.
    let metrics = f.proxy.metrics().await;
    assert!(
        metrics.contains("vouch_proxy_upstream_digest_mismatch_total{upstream=\"up.test\"} 2"),
        "{metrics}"
    );
    let logged = lines_containing(&["does not match its digest", &layer.digest]);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0].contains("up.test/acme/api")
            && logged[0].contains(&format!("received={}", layer.bytes.len())),
        "{logged:?}"
    );
    // Once the upstream is honest again, the blob is fetched afresh.
    f.stub.blob(REPO, layer);
    let r = f.get(&format!("blobs/{}", layer.digest)).await;
    assert!(
        r.bytes().await.unwrap() == layer.bytes,
        "honest bytes served"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_resetting_mid_blob_cuts_the_response_caches_nothing_and_is_reported() {
    let (f, img) = released("reset", 3 << 20).await;
    let layer = &img.layers[0];
    let path = format!("/v2/{REPO}/blobs/{}", layer.digest);
    f.stub.set(
        &path,
        Behaviour::ResetAfter {
            body: layer.bytes.clone(),
            after: 1 << 20,
        },
    );
    f.assert_cut_short(layer).await;
    // Said once (not per failed transfer), as a fault of the upstream's,
    // which stays degraded while its transfers break.
    f.assert_cut_short(layer).await;
    let started = lines_containing(&["fault started", "upstream:up.test", &layer.digest]);
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].contains("degraded"), "{started:?}");
    let metrics = f.proxy.metrics().await;
    assert!(
        metrics.contains("vouch_proxy_degraded{component=\"upstream:up.test\"} 1"),
        "{metrics}"
    );
    assert!(f.proxy.cache_files("blobs").is_empty());
    // Healed: the blob is served, and the fault ends.
    f.stub.blob(REPO, layer);
    let r = f.get(&format!("blobs/{}", layer.digest)).await;
    assert!(r.bytes().await.unwrap() == layer.bytes);
    // The client has the last byte once it verified; the fill reports
    // after storing it.
    f.proxy.settled().await;
    let metrics = f.proxy.metrics().await;
    assert!(
        metrics.contains("vouch_proxy_degraded{component=\"upstream:up.test\"} 0"),
        "{metrics}"
    );
    assert!(!lines_containing(&["fault ended", "upstream:up.test"]).is_empty());
    f.proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_an_upstream_stalls_mid_blob_cached_blobs_are_served_and_nothing_is_cached() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let images = f.stub.index_release(REPO, "stall", 2, 2 << 20);
    let (cached, stalled) = (&images[0].layers[0], &images[1].layers[0]);
    let r = f.get(&format!("blobs/{}", cached.digest)).await;
    assert!(r.bytes().await.unwrap() == cached.bytes);
    let path = format!("/v2/{REPO}/blobs/{}", stalled.digest);
    let release = Arc::new(tokio::sync::Notify::new());
    f.stub.set(
        &path,
        Behaviour::StallAfter {
            body: stalled.bytes.clone(),
            after: 1 << 20,
            release: release.clone(),
        },
    );
    let request = client()
        .get(f.proxy.repo_url(REPO, &format!("blobs/{}", stalled.digest)))
        .header("authorization", basic(EMAIL, &f.licenses.stable))
        .send();
    let stalled_pull = tokio::spawn(async move {
        let r = request.await.unwrap();
        r.bytes().await.map_or(0, |b| b.len())
    });
    while f.stub.count(&path) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meanwhile a cached blob is served whole, the stalled pull still
    // waiting.
    let r = f.get(&format!("blobs/{}", cached.digest)).await;
    assert!(r.bytes().await.unwrap() == cached.bytes);
    assert!(!stalled_pull.is_finished(), "the stalled pull ended early");
    // The stall ends with the connection broken off: no complete body,
    // nothing cached; healed, the blob is served.
    release.notify_one();
    let received = stalled_pull.await.unwrap();
    assert!(received < stalled.bytes.len(), "{received} bytes");
    let blobs = f.proxy.cache_files("blobs");
    assert!(
        !blobs.iter().any(|p| p.ends_with(stalled.hex())),
        "{blobs:?}"
    );
    f.stub.blob(REPO, stalled);
    let r = f.get(&format!("blobs/{}", stalled.digest)).await;
    assert!(r.bytes().await.unwrap() == stalled.bytes);
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_client_disconnecting_mid_blob_leaves_no_partial_file() {
    let (f, img) = released("slow", 2 << 20).await;
    let layer = &img.layers[0];
    f.stub.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::Slow {
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: layer.bytes.clone(),
            chunk: 128 * 1024,
            delay: Duration::from_millis(25),
        },
    );
    let mut r = f.get(&format!("blobs/{}", layer.digest)).await;
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(r);
    // While the fill runs, only the staging area holds bytes: whatever
    // appears under blobs/ is complete and verified, at every moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        for file in f.proxy.cache_files("blobs") {
            assert!(
                std::fs::read(&file).unwrap() == layer.bytes,
                "{} is partial",
                file.display()
            );
        }
        if f.proxy.cache_files("staging").is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "staging never emptied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.proxy.stop().await;
}

#[tokio::test]
async fn concurrent_requests_for_one_blob_make_one_upstream_fetch() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("shared", "amd64", 2 << 20);
    f.release(&img);
    let layer = img.layers[0].clone();
    let path = format!("/v2/{REPO}/blobs/{}", layer.digest);
    f.stub.set(
        &path,
        Behaviour::Slow {
            headers: vec![],
            body: layer.bytes.clone(),
            chunk: 256 * 1024,
            delay: Duration::from_millis(20),
        },
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = f.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest));
        let auth = basic(EMAIL, &f.licenses.stable);
        tasks.push(tokio::spawn(async move {
            client()
                .get(url)
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert!(
            t.await.unwrap() == layer.bytes,
            "every client gets the whole blob"
        );
    }
    assert_eq!(f.stub.count(&path), 1, "{:?}", f.stub.seen());
    // Manifests coalesce too, and are then served from the cache.
    assert_eq!(f.stub.count(&format!("/v2/{REPO}/manifests/1.0")), 1);
    f.proxy.stop().await;
}

#[tokio::test]
async fn upstream_redirects_are_followed_without_credentials() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("redirected", "amd64", 1000);
    f.release(&img);
    let layer = &img.layers[0];
    f.stub
        .require_bearer(&basic(VENDOR_USER, VENDOR_PASS), "upstream-token");
    f.stub.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::Redirect(format!("{}/storage/{}?sig=abc", f.stub.url(), layer.hex())),
    );
    f.stub.set(
        &format!("/storage/{}", layer.hex()),
        Behaviour::ok("application/octet-stream", layer.bytes.clone()),
    );
    let r = f.get(&format!("blobs/{}", layer.digest)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    let seen = f.stub.seen();
    let registry = seen
        .iter()
        .rfind(|s| s.path.starts_with(&format!("/v2/{REPO}/blobs/")))
        .unwrap();
    assert_eq!(
        registry.authorization.as_deref(),
        Some("Bearer upstream-token")
    );
    let storage = seen
        .iter()
        .find(|s| s.path.starts_with("/storage/"))
        .unwrap();
    assert_eq!(
        storage.authorization, None,
        "credentials leaked to the redirect target"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn redirect_loops_and_non_http_targets_are_refused() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("loop", "amd64", 1000);
    f.release(&img);
    let blob = format!("/v2/{REPO}/blobs/{}", img.layers[0].digest);
    f.stub.set(&blob, Behaviour::Redirect(blob.clone()));
    let (status, _) =
        status_and_code(f.get(&format!("blobs/{}", img.layers[0].digest)).await).await;
    assert_eq!(status, 502);
    f.stub
        .set(&blob, Behaviour::Redirect("file:///etc/passwd".into()));
    let (status, logged) =
        logged_error(f.get(&format!("blobs/{}", img.layers[0].digest)).await).await;
    assert_eq!(status, 502);
    assert!(logged.contains("refusing a file:// URL"), "{logged}");
    f.proxy.stop().await;
}

#[tokio::test]
async fn the_upstream_token_flow_uses_the_vendor_credentials() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("tokened", "amd64", 1000);
    f.release(&img);
    f.stub
        .require_bearer(&basic(VENDOR_USER, VENDOR_PASS), "upstream-token");
    let r = f.get("manifests/1.0").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);
    let r = f.get(&format!("blobs/{}", img.layers[0].digest)).await;
    assert_eq!(r.bytes().await.unwrap(), img.layers[0].bytes);
    let seen = f.stub.seen();
    let token_requests: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(token_requests.len(), 1, "the token is reused: {seen:?}");
    assert!(
        token_requests[0]
            .path
            .contains("scope=repository%3Aacme%2Fapi%3Apull"),
        "{}",
        token_requests[0].path
    );
    assert!(
        seen.iter()
            .any(|s| s.authorization.as_deref() == Some("Bearer upstream-token"))
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn referrers_passthrough_serves_upstream_answers_for_entitled_subjects_only() {
    let f = fixture(None, ReferrersMode::Passthrough).await;
    let amd64 = image("p-amd64", "amd64", 1000);
    f.stub.image(REPO, &amd64.manifest.digest, &amd64);
    let idx = index(&[(&amd64, "amd64")]);
    f.stub.manifest(REPO, "1.0", &idx);
    f.stub.manifest(REPO, &idx.digest, &idx);
    let sig = signature(&idx.digest);
    f.stub.image(REPO, &sig.manifest.digest, &sig);
    let listing = referrers_index(&[&sig.manifest]);
    f.stub.set(
        &format!("/v2/{REPO}/referrers/{}", idx.digest),
        Behaviour::Respond {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "application/vnd.oci.image.index.v1+json".into(),
                ),
                ("oci-filters-applied".into(), "artifactType".into()),
            ],
            body: listing.bytes.clone(),
        },
    );
    let r = f.get(&format!("referrers/{}", idx.digest)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    assert_eq!(r.bytes().await.unwrap(), listing.bytes);
    // What it listed is now pullable by digest.
    let r = f.get(&format!("manifests/{}", sig.manifest.digest)).await;
    assert_eq!(r.status(), 200);
    let r = f.get(&format!("blobs/{}", sig.layers[0].digest)).await;
    assert_eq!(r.bytes().await.unwrap(), sig.layers[0].bytes);
    // A subject the license may not see has, for it, no referrers: the
    // spec's 200 with an empty index (a 403 is a hard error for cosign and
    // oras, issue 14 finding 10), without asking upstream.
    let stranger = image("stranger", "amd64", 10);
    let before = f.stub.seen().len();
    for query in [
        "",
        "?artifactType=application/vnd.dev.cosign.artifact.sig.v1%2Bjson",
    ] {
        let r = f
            .get(&format!("referrers/{}{query}", stranger.manifest.digest))
            .await;
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(r.headers()["content-type"], OCI_INDEX, "{query}");
        assert_eq!(
            r.headers().contains_key("oci-filters-applied"),
            !query.is_empty(),
            "{query}"
        );
        let listing: serde_json::Value = r.json().await.unwrap();
        assert_eq!(listing["schemaVersion"], 2);
        assert_eq!(listing["mediaType"], OCI_INDEX);
        assert_eq!(listing["manifests"], serde_json::json!([]), "{query}");
    }
    assert!(
        !f.stub.seen()[before..]
            .iter()
            .any(|s| s.path.contains("/referrers/")),
        "asked upstream for an unentitled subject"
    );
    // An upstream without the API: its 404 becomes our spec 404.
    let (status, code) =
        status_and_code(f.get(&format!("referrers/{}", amd64.manifest.digest)).await).await;
    assert_eq!((status, code.as_str()), (404, "UNSUPPORTED"));
    f.proxy.stop().await;
}

#[tokio::test]
async fn referrers_passthrough_follows_upstream_pages_and_serves_one_index() {
    let f = fixture(None, ReferrersMode::Passthrough).await;
    let img = image("paged", "amd64", 1000);
    f.release(&img);
    let subject = &img.manifest.digest;
    let sig = signature(subject);
    f.stub.image(REPO, &sig.manifest.digest, &sig);
    let attestation = image("paged-att", "amd64", 10);
    f.stub
        .image(REPO, &attestation.manifest.digest, &attestation);
    let first = format!("/v2/{REPO}/referrers/{subject}");
    let second = format!("{first}?n=1&last=x");
    let page = |listing: &Blob, link: Option<String>| {
        let mut headers = vec![("content-type".into(), OCI_INDEX.into())];
        headers.extend(link.map(|l| ("link".to_string(), l)));
        Behaviour::Respond {
            status: 200,
            headers,
            body: listing.bytes.clone(),
        }
    };
    let first_page = page(
        &referrers_index(&[&sig.manifest]),
        Some(format!("<{second}>; rel=\"next\"")),
    );
    f.stub.set(&first, first_page.clone());
    f.stub.set(
        &second,
        page(&referrers_index(&[&attestation.manifest]), None),
    );

    let r = f.get(&format!("referrers/{subject}")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("link").is_none(), "upstream Link leaked");
    let merged: serde_json::Value = r.json().await.unwrap();
    let listed: Vec<&str> = merged["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            sig.manifest.digest.as_str(),
            attestation.manifest.digest.as_str()
        ]
    );
    assert_eq!(merged["mediaType"], OCI_INDEX);
    // Both pages' artifacts are now pullable by digest.
    for digest in [&sig.manifest.digest, &attestation.manifest.digest] {
        assert_eq!(f.get(&format!("manifests/{digest}")).await.status(), 200);
    }

    // A next link to another repository is not followed: one page served
    // as the upstream wrote it.
    f.stub.set(
        &first,
        page(
            &referrers_index(&[&sig.manifest]),
            Some(format!("</v2/other/referrers/{subject}?n=1>; rel=\"next\"")),
        ),
    );
    let before = f.stub.seen().len();
    let r = f.get(&format!("referrers/{subject}")).await;
    assert_eq!(
        r.bytes().await.unwrap(),
        referrers_index(&[&sig.manifest]).bytes
    );
    assert!(
        !f.stub.seen()[before..]
            .iter()
            .any(|s| s.path.contains("/other/")),
        "followed a link out of the repository"
    );

    // A later page that has gone is a gateway error, not a short answer.
    f.stub.set(&first, first_page);
    f.stub.set(
        &second,
        Behaviour::Respond {
            status: 404,
            headers: vec![],
            body: Vec::new(),
        },
    );
    let (status, text) = logged_error(f.get(&format!("referrers/{subject}")).await).await;
    assert_eq!(status, 502);
    assert!(
        text.contains("answered 404 Not Found for page 2 of the referrers of"),
        "{text}"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_blob_larger_than_the_cache_is_a_502_naming_the_setting() {
    let options = Options {
        extra_toml: "[cache]\nmax_bytes = 4096\n".into(),
        ..Options::default()
    };
    let f = fixture_with(None, ReferrersMode::NotFound, &options).await;
    let img = image("too-big", "amd64", 20_000);
    f.release(&img);
    let layer = &img.layers[0];
    let (status, body) = logged_error(f.get(&format!("blobs/{}", layer.digest)).await).await;
    assert_eq!(status, 502);
    assert!(
        body.contains("larger than the cache accepts (4096 bytes); raise cache.max_bytes"),
        "{body}"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn oversized_and_short_upstream_bodies_are_refused() {
    let f = fixture(None, ReferrersMode::NotFound).await;
    let img = image("sizes", "amd64", 1000);
    f.release(&img);
    // A manifest larger than the 4 MiB limit.
    f.stub.set(
        &format!("/v2/{REPO}/manifests/1.0"),
        Behaviour::ok(OCI_MANIFEST, noise("huge", 5 << 20)),
    );
    let (status, logged) = logged_error(f.get("manifests/1.0").await).await;
    assert_eq!(status, 502);
    assert!(logged.contains("larger than"), "{logged}");
    f.proxy.stop().await;
}

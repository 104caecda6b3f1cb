//! Pulling through vouch-proxy from a real upstream (Debian's
//! docker-registry with htpasswd vendor credentials): skopeo, raw OCI
//! requests, the token flow, the referrers fallback, a warm restart.

use crate::common;

use common::images::{OCI_INDEX, OCI_MANIFEST};
use common::setup::{REPO, world};
use common::{EMAIL, Options, TestProxy, basic, client, error_code, send};
use reqwest::Method;
use vouch_proxy::store::{LicenseNumber, PullLog as _, ReferrersMode};

const ACCEPT_ALL: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

#[tokio::test]
async fn skopeo_copies_an_entitled_multi_arch_release_with_its_signature() {
    if !vouch_testkit::tool_available("skopeo") {
        return;
    }
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let image = format!("{}/proxy/acme/up.test/{REPO}", w.proxy.addr);
    let creds = format!("{EMAIL}:{}", w.licenses.stable);
    // tokio's process API: a blocking wait would stall the in-process proxy.
    let skopeo = |args: Vec<String>| {
        let log = w.registry.log();
        async move {
            let out = tokio::process::Command::new("skopeo")
                .args(&args)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "skopeo {args:?}: {}\nregistry log: {log}",
                String::from_utf8_lossy(&out.stderr),
            );
            out.stdout
        }
    };
    let layout = out.path().join("layout");
    skopeo(vec![
        "copy".into(),
        "--all".into(),
        "--preserve-digests".into(),
        "--src-tls-verify=false".into(),
        "--src-creds".into(),
        creds.clone(),
        format!("docker://{image}:1.0"),
        format!("oci:{}:1.0", layout.display()),
    ])
    .await;
    // The layout holds exactly the upstream index and every blob, digests intact.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], w.release.index.digest);
    for blob in [
        &w.release.index,
        &w.release.amd64.manifest,
        &w.release.arm64.manifest,
        &w.release.amd64.layers[0],
        &w.release.arm64.config,
    ] {
        let path = layout.join("blobs/sha256").join(blob.hex());
        assert_eq!(std::fs::read(&path).unwrap(), blob.bytes, "{}", blob.digest);
    }
    // The cosign signature tag of the index is pullable too.
    let raw = skopeo(vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        "--creds".into(),
        creds.clone(),
        format!("docker://{image}:sha256-{}.sig", w.release.index.hex()),
    ])
    .await;
    assert_eq!(raw, w.release.signature.manifest.bytes);
    // And tags are listed as entitled: only 1.0 for a stable license.
    let tags = skopeo(vec![
        "list-tags".into(),
        "--tls-verify=false".into(),
        "--creds".into(),
        creds,
        format!("docker://{image}"),
    ])
    .await;
    let tags: serde_json::Value = serde_json::from_slice(&tags).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["1.0"]));
    w.proxy.stop().await;
}

#[tokio::test]
async fn manifests_are_served_byte_for_byte_with_type_digest_and_length() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = c
            .request(method.clone(), w.proxy.repo_url(REPO, "manifests/1.0"))
            .header("authorization", &auth)
            .header("accept", ACCEPT_ALL)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        assert_eq!(r.headers()["content-type"], OCI_INDEX);
        assert_eq!(
            r.headers()["docker-content-digest"],
            w.release.index.digest.as_str()
        );
        assert_eq!(
            r.headers()["content-length"],
            w.release.index.bytes.len().to_string().as_str()
        );
        assert_eq!(
            r.headers()["docker-distribution-api-version"],
            "registry/2.0"
        );
        let body = r.bytes().await.unwrap();
        if method == reqwest::Method::GET {
            assert_eq!(body, w.release.index.bytes);
        } else {
            assert!(body.is_empty());
        }
    }
    // A platform manifest by digest (reachable from the entitled index).
    let amd64 = &w.release.amd64.manifest;
    let r = send(
        Method::GET,
        w.proxy
            .repo_url(REPO, &format!("manifests/{}", amd64.digest)),
        &auth,
        &[("accept", OCI_MANIFEST)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(r.bytes().await.unwrap(), amd64.bytes);
    // Without any Accept header the proxy asks upstream for every type
    // (docker-registry would otherwise refuse OCI manifests).
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, "manifests/1.0"),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), w.release.index.bytes);
    // An entitled tag missing upstream is a 404 MANIFEST_UNKNOWN.
    let r = send(
        Method::GET,
        w.proxy.repo_url("acme/absent", "manifests/1.0"),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().await.unwrap()), "MANIFEST_UNKNOWN");
    w.proxy.stop().await;
}

#[tokio::test]
async fn blobs_support_head_ranges_and_refuse_unsatisfiable_ranges() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    let layer = &w.release.amd64.layers[0];
    let url = w.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest));
    let get = |range: Option<&str>, method: reqwest::Method| {
        let mut r = c.request(method, &url).header("authorization", &auth);
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send()
    };
    // A range on an uncached blob: fetched whole, verified, then sliced.
    let r = get(Some("bytes=10-19"), reqwest::Method::GET)
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", layer.bytes.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), layer.bytes[10..20]);
    let r = get(None, reqwest::Method::GET).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], layer.digest.as_str());
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    let r = get(None, reqwest::Method::HEAD).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        layer.bytes.len().to_string().as_str()
    );
    let r = get(Some("bytes=-5"), reqwest::Method::GET).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap(),
        layer.bytes[layer.bytes.len() - 5..]
    );
    let r = get(
        Some(&format!("bytes={}-", layer.bytes.len())),
        reqwest::Method::GET,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", layer.bytes.len()).as_str()
    );
    assert_eq!(error_code(&r.text().await.unwrap()), "RANGE_INVALID");
    // HEAD of an uncached blob asks upstream and passes its length.
    let config = &w.release.arm64.config;
    let r = send(
        Method::HEAD,
        w.proxy.repo_url(REPO, &format!("blobs/{}", config.digest)),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        config.bytes.len().to_string().as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], config.digest.as_str());
    w.proxy.stop().await;
}

#[tokio::test]
async fn tags_are_filtered_by_entitlement_and_paged() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let pusher = common::images::Pusher::new(
        &w.registry.url(),
        Some(basic(common::VENDOR_USER, common::VENDOR_PASS)),
    );
    let acme = vouch_proxy::names::AppSlug::new("acme").unwrap();
    for v in ["1.0.1", "1.0.2", "1.0.3"] {
        pusher.manifest(REPO, v, &w.release.index).await;
        vouch_proxy::admin::add_version(
            &*w.proxy.store,
            &acme,
            vouch_proxy::names::ChannelName::new("stable").unwrap(),
            vouch_proxy::names::Tag::new(v).unwrap(),
            &[],
        )
        .await
        .unwrap();
    }
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    let list = |query: &'static str| {
        c.get(w.proxy.repo_url(REPO, &format!("tags/list{query}")))
            .header("authorization", &auth)
            .send()
    };
    let r = list("").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["name"], format!("proxy/acme/up.test/{REPO}"));
    assert_eq!(
        body["tags"],
        serde_json::json!(["1.0", "1.0.1", "1.0.2", "1.0.3"])
    );
    let r = list("?n=2").await.unwrap();
    assert_eq!(
        r.headers()["link"],
        format!("</v2/proxy/acme/up.test/{REPO}/tags/list?n=2&last=1.0.1>; rel=\"next\"").as_str()
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!(["1.0", "1.0.1"]));
    let r = list("?n=2&last=1.0.1").await.unwrap();
    assert!(r.headers().get("link").is_none());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!(["1.0.2", "1.0.3"]));
    let r = list("?n=0").await.unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["tags"],
        serde_json::json!([])
    );
    let r = list("?n=lots").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        error_code(&r.text().await.unwrap()),
        "PAGINATION_NUMBER_INVALID"
    );
    w.proxy.stop().await;
}

#[tokio::test]
async fn referrers_answer_a_spec_404_and_the_tag_schema_fallback_is_pullable() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    let get = |path: String| {
        c.get(w.proxy.repo_url(REPO, &path))
            .header("authorization", &auth)
            .header("accept", ACCEPT_ALL)
            .send()
    };
    let r = get(format!("referrers/{}", w.release.index.digest))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = r.text().await.unwrap();
    assert_eq!(error_code(&body), "UNSUPPORTED");
    assert!(
        body.contains(&format!("sha256-{}", w.release.index.hex())),
        "{body}"
    );
    // cosign's fallback: the referrers tag, then what it lists, by digest.
    let r = get(format!("manifests/sha256-{}", w.release.index.hex()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), w.release.referrers.bytes);
    let sig = &w.release.signature;
    let r = get(format!("manifests/{}", sig.manifest.digest))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), sig.manifest.bytes);
    for blob in [&sig.config, &sig.layers[0]] {
        let r = get(format!("blobs/{}", blob.digest)).await.unwrap();
        assert_eq!(r.status(), 200, "{}", blob.digest);
        assert_eq!(r.bytes().await.unwrap(), blob.bytes);
    }
    let r = get(format!("manifests/sha256-{}.sig", w.release.index.hex()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A signature tag for a digest nobody signed is the upstream's 404.
    let r = get(format!(
        "manifests/sha256-{}.sig",
        w.release.amd64.manifest.hex()
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().await.unwrap()), "MANIFEST_UNKNOWN");
    w.proxy.stop().await;
}

#[tokio::test]
async fn token_flow_grants_pull_on_allowed_repositories_only() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let c = client();
    let r = c.get(w.proxy.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let realm = format!("http://{}/v2/token", w.proxy.addr);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!("Bearer realm=\"{realm}\",service=\"{}\"", w.proxy.addr).as_str()
    );
    let name = format!("proxy/acme/up.test/{REPO}");
    let r = c
        .get(format!(
            "{realm}?service=x&scope=repository:{name}:pull,push&scope=repository:proxy/other/up.test/other/x:pull&scope=repository:proxy/acme/evil.test/x:pull"
        ))
        .header("authorization", basic(EMAIL, &w.licenses.stable))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let with_token = |path: String| {
        c.get(w.proxy.url(&path))
            .bearer_auth(&token)
            .header("accept", ACCEPT_ALL)
            .send()
    };
    assert_eq!(with_token("/v2/".into()).await.unwrap().status(), 200);
    let r = with_token(format!("/v2/{name}/manifests/1.0"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Not granted: another repository of the same app.
    let r = with_token("/v2/proxy/acme/up.test/acme/web/manifests/1.0".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("scope=\"repository:proxy/acme/up.test/acme/web:pull\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // The OAuth2 password grant (containerd's first try) works too.
    let r = c
        .post(&realm)
        .form(&[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", &w.licenses.stable),
            ("service", "x"),
            ("scope", &format!("repository:{name}:pull")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scope"], format!("repository:{name}:pull"));
    let r = c
        .post(&realm)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    w.proxy.stop().await;
}

#[tokio::test]
async fn push_and_delete_are_unsupported() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let c = client();
    for (method, path) in [
        (reqwest::Method::POST, "blobs/uploads/"),
        (reqwest::Method::PUT, "manifests/1.0"),
        (reqwest::Method::PATCH, "blobs/uploads/abc"),
        (reqwest::Method::DELETE, "manifests/1.0"),
        (reqwest::Method::GET, "blobs/uploads/abc"),
    ] {
        let r = c
            .request(method.clone(), w.proxy.repo_url(REPO, path))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(
            error_code(&r.text().await.unwrap()),
            "UNSUPPORTED",
            "{method} {path}"
        );
    }
    w.proxy.stop().await;
}

#[tokio::test]
async fn after_restart_with_the_upstream_gone_tags_are_served_and_digests_wait_for_the_upstream() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let amd64 = &w.release.amd64;
    let by_digest = |proxy: &TestProxy| {
        vec![
            (
                proxy.repo_url(REPO, &format!("manifests/{}", amd64.manifest.digest)),
                amd64.manifest.bytes.clone(),
            ),
            (
                proxy.repo_url(REPO, &format!("blobs/{}", amd64.config.digest)),
                amd64.config.bytes.clone(),
            ),
            (
                proxy.repo_url(REPO, &format!("blobs/{}", amd64.layers[0].digest)),
                amd64.layers[0].bytes.clone(),
            ),
        ]
    };
    let get = |url: String| {
        let auth = auth.clone();
        async move { send(Method::GET, &url, &auth, &[("accept", ACCEPT_ALL)]).await }
    };
    let r = get(w.proxy.repo_url(REPO, "manifests/1.0")).await;
    assert_eq!(r.bytes().await.unwrap(), w.release.index.bytes);
    for (url, want) in by_digest(&w.proxy) {
        let r = get(url.clone()).await;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.bytes().await.unwrap(), want, "{url}");
    }
    let dir = w.proxy.dir.clone();
    w.proxy.stop().await;
    drop(w.registry);
    let upstream_url = "http://127.0.0.1:9"; // discard port: nothing listens
    let restarted = TestProxy::start(&dir, upstream_url, &Options::default()).await;
    // The warm cache answers the tag with the digest it last pointed to.
    let r = get(restarted.repo_url(REPO, "manifests/1.0")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), w.release.index.bytes);
    // Content by digest is served for a repository only once its upstream
    // confirms the repository holds it (issue 14, finding 1); which
    // repositories did is kept in memory, so a restarted proxy asks again,
    // and without an upstream answers as an uncached pull would.
    for (url, _) in by_digest(&restarted) {
        let r = get(url.clone()).await;
        assert_eq!(r.status(), 503, "{url}");
        let body = r.text().await.unwrap();
        assert_eq!(error_code(&body), "UNAVAILABLE", "{url}: {body}");
    }
    // Content never fetched before is not there, and says why.
    let r = send(
        Method::GET,
        restarted.repo_url(REPO, &format!("blobs/{}", w.release.arm64.layers[0].digest)),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    restarted.stop().await;
}

#[tokio::test]
async fn pulls_are_logged_per_license_with_status_and_bytes() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let layer = &w.release.amd64.layers[0];
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, &format!("blobs/{}", layer.digest)),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().len(), layer.bytes.len());
    let r = send(
        Method::GET,
        w.proxy.repo_url(REPO, "manifests/1.1"),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 403);
    let store = w.proxy.store.clone();
    w.proxy.stop().await;
    let stable = vouch_proxy::store::LicenseStore::licenses(&*store, None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.expires_at.is_some_and(|t| t > jiff::Timestamp::now()))
        .unwrap();
    let pulls = store.pulls(stable.number, 10).await.unwrap();
    assert_eq!(pulls.len(), 2, "{pulls:?}");
    assert_eq!((pulls[0].status, pulls[0].reference.as_str()), (403, "1.1"));
    assert_eq!(pulls[1].status, 200);
    assert_eq!(pulls[1].bytes, layer.bytes.len() as u64);
    assert_eq!(pulls[1].repository, format!("up.test/{REPO}"));
    assert!(
        store
            .pulls(LicenseNumber(999), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let c = client();
    let r = c.get(w.proxy.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = c.get(w.proxy.url("/v2/")).send().await.unwrap();
    let r = c
        .get(w.proxy.repo_url(REPO, "manifests/1.0"))
        .header("authorization", basic(EMAIL, &w.licenses.stable))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = c
        .get(w.proxy.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "vouch_proxy_requests_total{route=\"base\",code=\"401\"} 1",
        "vouch_proxy_requests_total{route=\"manifest\",code=\"200\"} 1",
        "vouch_proxy_auth_failures_total{reason=\"missing\"} 1",
        "vouch_proxy_cache_requests_total{kind=\"manifest\",result=\"miss\"} 1",
        "vouch_proxy_upstream_latency_seconds_count",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    w.proxy.stop().await;
}

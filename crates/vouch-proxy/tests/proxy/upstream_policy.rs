//! What an upstream may make the proxy do (issue 14, findings 3 and 12):
//! redirects to internal addresses, token realms on other hosts, content
//! that is not a manifest, `X-Content-Type-Options`, and unsatisfiable
//! ranges. The upstream is a stub on 127.0.0.1 (the configured host, so
//! internal but trusted); a second stub on another loopback port plays the
//! internal service a lying upstream points at.

use crate::common;

use common::logs::status_and_body;

use common::images::{OCI_MANIFEST, image};
use common::setup::REPO;
use common::stub::{Behaviour, Stub};
use common::{
    EMAIL, Licenses, Options, TestProxy, VENDOR_PASS, VENDOR_USER, basic, client, error_code,
    setup_licenses,
};
use vouch_proxy::store::ReferrersMode;

struct Fixture {
    /// The configured upstream.
    upstream: Stub,
    /// Another service on loopback, not configured anywhere.
    internal: Stub,
    proxy: TestProxy,
    licenses: Licenses,
    _dir: tempfile::TempDir,
}

/// A proxy in front of `upstream`; `extra` is appended to its
/// `[[upstreams]]` entry (it receives the internal stub's address).
async fn fixture(extra: impl FnOnce(&Stub) -> String) -> Fixture {
    let upstream = Stub::start().await;
    let internal = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        upstream_auth: Some(format!(
            "username = \"{VENDOR_USER}\"\npassword = \"{VENDOR_PASS}\"\n{}",
            extra(&internal)
        )),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &upstream.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    Fixture {
        upstream,
        internal,
        proxy,
        licenses,
        _dir: dir,
    }
}

impl Fixture {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = client()
            .get(self.proxy.repo_url(REPO, path))
            .header("authorization", basic(EMAIL, &self.licenses.stable))
            .header("accept", OCI_MANIFEST);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

/// A refusal: 502 `UNKNOWN`, and the proxy logged `fragment` as the reason.
fn assert_refused(status: u16, body: &str, fragment: &str) {
    assert_eq!(
        (status, error_code(body).as_str()),
        (502, "UNKNOWN"),
        "{body}"
    );
    assert!(body.contains(fragment), "expected `{fragment}` in: {body}");
}

#[tokio::test]
async fn a_redirect_to_another_internal_address_is_refused_and_not_followed() {
    let f = fixture(|_| String::new()).await;
    let img = image("internal-redirect", "amd64", 1000);
    // First, with nothing cached: a manifest redirected to an internal
    // page (the finding: served as a manifest, `text/html`, and cached).
    f.upstream.set(
        &format!("/v2/{REPO}/manifests/1.0"),
        Behaviour::Redirect(format!("{}/admin", f.internal.url())),
    );
    f.internal.set(
        "/admin",
        Behaviour::ok("text/html", b"<html>admin</html>".to_vec()),
    );
    let (status, body) = status_and_body(f.get("manifests/1.0", &[]).await).await;
    assert_refused(status, &body, "/admin: 127.0.0.1 is an internal address");
    assert!(f.proxy.cache_files("manifests").is_empty());
    f.upstream.image(REPO, "1.0", &img);
    let layer = &img.layers[0];
    // The configured upstream's own origin is internal too, and trusted:
    // a redirect there is followed (docker-registry redirects to itself).
    f.upstream.set(
        &format!("/v2/{REPO}/blobs/{}", img.config.digest),
        Behaviour::Redirect(format!("{}/storage/config", f.upstream.url())),
    );
    f.upstream.set(
        "/storage/config",
        Behaviour::ok("application/octet-stream", img.config.bytes.clone()),
    );
    let r = f.get(&format!("blobs/{}", img.config.digest), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.config.bytes);
    // Another port on loopback is not the upstream.
    f.upstream.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::Redirect(format!("{}/storage/layer", f.internal.url())),
    );
    f.internal.set(
        "/storage/layer",
        Behaviour::ok("application/octet-stream", layer.bytes.clone()),
    );
    let (status, body) =
        status_and_body(f.get(&format!("blobs/{}", layer.digest), &[]).await).await;
    assert_refused(status, &body, "internal address");
    assert!(
        f.internal.seen().is_empty(),
        "the internal service was reached: {:?}",
        f.internal.seen()
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused_even_on_the_upstreams_port() {
    let f = fixture(|_| String::new()).await;
    let img = image("localhost-redirect", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let layer = &img.layers[0];
    // Same port as the upstream, but `localhost` is not the configured
    // host `127.0.0.1`: its addresses are checked, and are internal.
    f.upstream.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::Redirect(format!(
            "http://localhost:{}/storage/layer",
            f.upstream.addr.port()
        )),
    );
    f.upstream.set(
        "/storage/layer",
        Behaviour::ok("application/octet-stream", layer.bytes.clone()),
    );
    let (status, body) =
        status_and_body(f.get(&format!("blobs/{}", layer.digest), &[]).await).await;
    assert_refused(status, &body, "localhost");
    assert_eq!(f.upstream.count("/storage/layer"), 0);
    f.proxy.stop().await;
}

#[tokio::test]
async fn insecure_allow_internal_redirects_lets_a_vendor_use_internal_storage() {
    let f = fixture(|_| "insecure_allow_internal_redirects = true".to_string()).await;
    let img = image("internal-storage", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let layer = &img.layers[0];
    f.upstream.set(
        &format!("/v2/{REPO}/blobs/{}", layer.digest),
        Behaviour::Redirect(format!("{}/storage/layer", f.internal.url())),
    );
    f.internal.set(
        "/storage/layer",
        Behaviour::ok("application/octet-stream", layer.bytes.clone()),
    );
    let r = f.get(&format!("blobs/{}", layer.digest), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    let seen = f.internal.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].authorization, None,
        "credentials leaked to the redirect target"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn a_realm_on_an_unlisted_host_gets_no_request_and_no_credentials() {
    let f = fixture(|_| String::new()).await;
    let img = image("foreign-realm", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let vendor = basic(VENDOR_USER, VENDOR_PASS);
    f.upstream.require_bearer(&vendor, "upstream-token");
    f.upstream.set_realm(&format!("{}/token", f.internal.url()));
    f.internal.require_bearer(&vendor, "upstream-token");
    let (status, body) = status_and_body(f.get("manifests/1.0", &[]).await).await;
    assert_refused(status, &body, "realm_hosts");
    assert!(
        f.internal.seen().is_empty(),
        "the realm host was asked: {:?}",
        f.internal.seen()
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn an_anonymous_upstream_fetches_no_token_from_an_internal_realm() {
    let upstream = Stub::start().await;
    let internal = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        upstream_auth: Some(String::new()),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &upstream.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    upstream.image(REPO, "1.0", &image("anonymous-realm", "amd64", 100));
    upstream.require_bearer("", "upstream-token");
    upstream.set_realm(&format!("{}/token", internal.url()));
    let r = client()
        .get(proxy.repo_url(REPO, "manifests/1.0"))
        .header("authorization", basic(EMAIL, &licenses.stable))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_body(r).await;
    assert_refused(status, &body, "/token: 127.0.0.1 is an internal address");
    assert!(internal.seen().is_empty(), "{:?}", internal.seen());
    proxy.stop().await;
}

#[tokio::test]
async fn realm_hosts_lets_the_vendor_name_its_token_server() {
    let f = fixture(|internal| format!("realm_hosts = [\"{}\"]", internal.addr)).await;
    let img = image("listed-realm", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let vendor = basic(VENDOR_USER, VENDOR_PASS);
    f.upstream.require_bearer(&vendor, "upstream-token");
    f.upstream.set_realm(&format!("{}/token", f.internal.url()));
    f.internal.require_bearer(&vendor, "upstream-token");
    let r = f.get("manifests/1.0", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);
    let seen = f.internal.seen();
    assert!(
        seen.iter()
            .any(|s| s.path.starts_with("/token") && s.authorization.as_deref() == Some(&vendor)),
        "{seen:?}"
    );
    f.proxy.stop().await;
}

#[tokio::test]
async fn content_that_is_not_a_manifest_is_refused_and_not_cached() {
    let f = fixture(|_| String::new()).await;
    let manifest = format!("/v2/{REPO}/manifests/1.0");
    for (content_type, body) in [
        (
            "text/html",
            b"<html><script>alert(1)</script></html>".to_vec(),
        ),
        ("application/json", br#"{"schemaVersion":2}"#.to_vec()),
        (OCI_MANIFEST, b"<html>not json</html>".to_vec()),
        (OCI_MANIFEST, b"[1, 2, 3]".to_vec()),
    ] {
        f.upstream
            .set(&manifest, Behaviour::ok(content_type, body.clone()));
        let (status, text) = status_and_body(f.get("manifests/1.0", &[]).await).await;
        assert_eq!(
            (status, error_code(&text).as_str()),
            (502, "UNKNOWN"),
            "{content_type} {}: {text}",
            String::from_utf8_lossy(&body)
        );
        assert!(f.proxy.cache_files("manifests").is_empty());
    }
    f.proxy.stop().await;
}

#[tokio::test]
async fn every_response_says_nosniff() {
    let f = fixture(|_| String::new()).await;
    let img = image("nosniff", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let stable = basic(EMAIL, &f.licenses.stable);
    let responses = [
        client().get(f.proxy.url("/v2/")).send().await.unwrap(),
        client().get(f.proxy.url("/healthz")).send().await.unwrap(),
        client()
            .get(f.proxy.url("/elsewhere"))
            .send()
            .await
            .unwrap(),
        f.get("manifests/1.0", &[]).await,
        f.get(&format!("blobs/{}", img.layers[0].digest), &[]).await,
        f.get("manifests/9.9", &[]).await,
        client()
            .get(f.proxy.url("/v2/token"))
            .header("authorization", &stable)
            .send()
            .await
            .unwrap(),
    ];
    for r in responses {
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{} {}",
            r.url(),
            r.status()
        );
    }
    f.proxy.stop().await;
}

#[tokio::test]
async fn an_inverted_range_is_416_and_several_ranges_get_the_whole_blob() {
    let f = fixture(|_| String::new()).await;
    let img = image("ranges", "amd64", 1000);
    f.upstream.image(REPO, "1.0", &img);
    let layer = &img.layers[0];
    let path = format!("blobs/{}", layer.digest);
    let size = layer.bytes.len();
    // Uncached (the first request fills the cache), then cached.
    for _ in 0..2 {
        let r = f.get(&path, &[("range", "bytes=500-0")]).await;
        assert_eq!(r.status(), 416);
        assert_eq!(r.headers()["content-range"], format!("bytes */{size}"));
        assert_eq!(error_code(&r.text().await.unwrap()), "RANGE_INVALID");
    }
    // Several ranges: the whole blob, 200 (RFC 9110 §14.2 lets a server
    // ignore Range; multipart/byteranges is not served).
    let r = f.get(&path, &[("range", "bytes=0-1,3-4")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-range").is_none());
    assert_eq!(r.bytes().await.unwrap(), layer.bytes);
    f.proxy.stop().await;
}

//! Every way a request can be refused, each with its status and OCI error
//! code and nothing else (no content in the body, no upstream request
//! where none is needed).

use crate::common;

use common::images::{Blob, image};
use common::setup::{REPO, World, world};
use common::stub::Stub;
use common::{EMAIL, Options, TestProxy, basic, client, error_code, raw_get, send, setup_licenses};
use reqwest::Method;
use vouch_proxy::store::{LicenseStore as _, ReferrersMode};

async fn get(
    w: &World,
    path: &str,
    authorization: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = client().get(w.proxy.repo_url(REPO, path)).header(
        "accept",
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
    );
    if let Some(a) = authorization {
        r = r.header("authorization", a);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// Asserts a refusal: status, OCI code, a message fragment, and that the
/// body carries none of `secret_bytes`.
fn refused(
    got: &(u16, reqwest::header::HeaderMap, String),
    status: u16,
    code: &str,
    fragment: &str,
    secret: &Blob,
) {
    let (s, _, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(error_code(body), code, "{body}");
    assert!(body.contains(fragment), "{fragment:?} not in {body}");
    assert!(!body.contains(&String::from_utf8_lossy(&secret.bytes).to_string()));
}

#[tokio::test]
async fn no_credentials_get_a_bearer_challenge_for_the_repository() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let got = get(&w, "manifests/1.0", None).await;
    refused(
        &got,
        401,
        "UNAUTHORIZED",
        "license ID as password",
        &w.release.index,
    );
    let challenge = got.1["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{0}/v2/token\",service=\"{0}\",scope=\"repository:proxy/acme/up.test/{REPO}:pull\"",
            w.proxy.addr
        )
    );
    let detail: serde_json::Value = serde_json::from_str(&got.2).unwrap();
    assert_eq!(detail["errors"][0]["detail"][0]["Action"], "pull");
    w.proxy.stop().await;
}

#[tokio::test]
async fn unknown_or_malformed_credentials_are_unauthorized() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let unknown = basic(EMAIL, "vpl_00000000000000000000000000000000");
    let short = basic(EMAIL, "short");
    for (auth, fragment) in [
        (unknown.as_str(), "invalid username or license ID"),
        (short.as_str(), "invalid username or license ID"),
        ("Basic !!!notbase64", "base64"),
        ("Basic bm9jb2xvbg==", "base64"),
        ("Digest username=x", "Basic or Bearer"),
        ("Bearer not-a-token", "malformed token"),
    ] {
        let got = get(&w, "manifests/1.0", Some(auth)).await;
        refused(&got, 401, "UNAUTHORIZED", fragment, &w.release.index);
        assert!(got.1.contains_key("www-authenticate"), "{auth}");
    }
    w.proxy.stop().await;
}

#[tokio::test]
async fn the_username_must_be_the_licenses_email_or_the_license_id() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let id = &w.licenses.stable;
    let got = get(
        &w,
        "manifests/1.0",
        Some(&basic("someone@else.example", id)),
    )
    .await;
    refused(
        &got,
        401,
        "UNAUTHORIZED",
        "username does not match",
        &w.release.index,
    );
    for ok in [basic(&EMAIL.to_uppercase(), id), basic(id, id)] {
        assert_eq!(get(&w, "manifests/1.0", Some(&ok)).await.0, 200);
    }
    w.proxy.stop().await;
}

#[tokio::test]
async fn an_expired_license_is_unauthorized_and_says_when_it_expired() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.expired);
    let got = get(&w, "manifests/1.0", Some(&auth)).await;
    refused(&got, 401, "UNAUTHORIZED", "expired at 20", &w.release.index);
    // No token for it either.
    let r = send(
        Method::GET,
        w.proxy
            .url("/v2/token?scope=repository:proxy/acme/up.test/acme/api:pull"),
        &auth,
        &[],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("expired at"));
    w.proxy.stop().await;
}

#[tokio::test]
async fn a_revoked_license_is_unauthorized_even_with_a_token_issued_before() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let got = get(
        &w,
        "manifests/1.0",
        Some(&basic(EMAIL, &w.licenses.revoked)),
    )
    .await;
    refused(
        &got,
        401,
        "UNAUTHORIZED",
        "was revoked at",
        &w.release.index,
    );
    // A live token stops working once its license is revoked.
    let r = send(
        Method::GET,
        w.proxy.url(&format!(
            "/v2/token?scope=repository:proxy/acme/up.test/{REPO}:pull"
        )),
        &basic(EMAIL, &w.licenses.beta),
        &[],
    )
    .await;
    let token: serde_json::Value = r.json().await.unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    assert_eq!(get(&w, "manifests/1.1", Some(&bearer)).await.0, 200);
    let beta = w
        .proxy
        .store
        .licenses(None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.channels.iter().any(|c| c.as_str() == "beta"))
        .unwrap();
    w.proxy
        .store
        .revoke_license(beta.number, jiff::Timestamp::now())
        .await
        .unwrap();
    let got = get(&w, "manifests/1.1", Some(&bearer)).await;
    refused(
        &got,
        401,
        "UNAUTHORIZED",
        "was revoked at",
        &w.release.beta.manifest,
    );
    w.proxy.stop().await;
}

#[tokio::test]
async fn a_license_of_another_app_is_denied() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let got = get(
        &w,
        "manifests/1.0",
        Some(&basic(EMAIL, &w.licenses.other_app)),
    )
    .await;
    refused(
        &got,
        403,
        "DENIED",
        "is for app other, not acme",
        &w.release.index,
    );
    w.proxy.stop().await;
}

#[tokio::test]
async fn a_tag_on_another_channel_is_denied_naming_it_and_an_unreleased_tag_is_unknown() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let got = get(&w, "manifests/1.1", Some(&auth)).await;
    refused(
        &got,
        403,
        "DENIED",
        "served by channel(s) beta",
        &w.release.beta.manifest,
    );
    assert!(
        got.2.contains("assigned to channel(s): stable"),
        "{}",
        got.2
    );
    // Released on no channel: the spec's 404 for a manifest not found,
    // the same as a tag the upstream does not have (nothing is learnt),
    // with the reason in the message.
    let got = get(&w, "manifests/latest", Some(&auth)).await;
    refused(
        &got,
        404,
        "MANIFEST_UNKNOWN",
        "not released on any channel",
        &w.release.unreleased.manifest,
    );
    // The beta license, the other way round.
    let got = get(&w, "manifests/1.0", Some(&basic(EMAIL, &w.licenses.beta))).await;
    refused(
        &got,
        403,
        "DENIED",
        "served by channel(s) stable",
        &w.release.index,
    );
    w.proxy.stop().await;
}

#[tokio::test]
async fn digests_not_reachable_from_an_entitled_tag_are_unknown() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let stable = basic(EMAIL, &w.licenses.stable);
    let beta = basic(EMAIL, &w.licenses.beta);
    let r = &w.release;
    for (auth, path, secret, code) in [
        (
            &stable,
            format!("manifests/{}", r.beta.manifest.digest),
            &r.beta.manifest,
            "MANIFEST_UNKNOWN",
        ),
        (
            &stable,
            format!("blobs/{}", r.beta.layers[0].digest),
            &r.beta.layers[0],
            "BLOB_UNKNOWN",
        ),
        (
            &stable,
            format!("manifests/{}", r.unreleased.manifest.digest),
            &r.unreleased.manifest,
            "MANIFEST_UNKNOWN",
        ),
        (
            &stable,
            format!("blobs/{}", r.unreleased.config.digest),
            &r.unreleased.config,
            "BLOB_UNKNOWN",
        ),
        (
            &beta,
            format!("manifests/{}", r.index.digest),
            &r.index,
            "MANIFEST_UNKNOWN",
        ),
        (
            &beta,
            format!("blobs/{}", r.amd64.layers[0].digest),
            &r.amd64.layers[0],
            "BLOB_UNKNOWN",
        ),
        (
            &beta,
            format!("manifests/sha256-{}.sig", r.index.hex()),
            &r.signature.manifest,
            "MANIFEST_UNKNOWN",
        ),
        (
            &beta,
            format!("blobs/{}", r.signature.layers[0].digest),
            &r.signature.layers[0],
            "BLOB_UNKNOWN",
        ),
    ] {
        let got = get(&w, &path, Some(auth)).await;
        refused(&got, 404, code, "is not part of any version", secret);
    }
    // A digest that exists nowhere gets the same answer: nothing leaks.
    let got = get(
        &w,
        &format!("blobs/sha256:{}", "0".repeat(64)),
        Some(&stable),
    )
    .await;
    refused(
        &got,
        404,
        "BLOB_UNKNOWN",
        "is not part of any version",
        &r.index,
    );
    w.proxy.stop().await;
}

/// The distribution-spec conformance suite's `missing-manifest/by-tag` and
/// `missing-manifest/by-digest` (read-only pull mode): a manifest that is
/// not found MUST be 404 (issue 14, finding 10).
#[tokio::test]
async fn missing_manifests_are_404_manifest_unknown_by_tag_and_by_digest() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    let missing = format!("sha256:{}", "e".repeat(64));
    for (reference, reason) in [
        ("no-such-tag", "not released on any channel of app acme"),
        (missing.as_str(), "is not part of any version"),
    ] {
        let path = format!("manifests/{reference}");
        let got = get(&w, &path, Some(&auth)).await;
        refused(&got, 404, "MANIFEST_UNKNOWN", reason, &w.release.index);
        let head = client()
            .head(w.proxy.repo_url(REPO, &path))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 404, "HEAD {path}");
    }
    w.proxy.stop().await;
}

#[tokio::test]
async fn tokens_for_another_repository_or_from_another_key_are_refused() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let c = client();
    let token_for = |license: &str, scope: &str| {
        let req = c
            .get(
                w.proxy
                    .url(&format!("/v2/token?scope=repository:{scope}:pull")),
            )
            .header("authorization", basic(EMAIL, license));
        async move {
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            format!("Bearer {}", v["token"].as_str().unwrap())
        }
    };
    let web = token_for(&w.licenses.stable, "proxy/acme/up.test/acme/web").await;
    let got = get(&w, "manifests/1.0", Some(&web)).await;
    refused(
        &got,
        401,
        "UNAUTHORIZED",
        "does not grant pull",
        &w.release.index,
    );
    assert!(
        got.1["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // Another app's license asking for our repository gets an empty grant,
    // and then the reason no token will ever grant it.
    let other = token_for(&w.licenses.other_app, &format!("proxy/acme/up.test/{REPO}")).await;
    let got = get(&w, "manifests/1.0", Some(&other)).await;
    refused(
        &got,
        403,
        "DENIED",
        "is for app other, not acme",
        &w.release.index,
    );
    // Signed by another deployment's key, or expired.
    let foreign = vouch_proxy::secret::ServerSecret::from_bytes([9; 32]).token_key();
    let now = jiff::Timestamp::now().as_second();
    let claims = |iat: i64| {
        vouch_proxy::auth::TokenClaims::new(
            vouch_proxy::store::LicenseNumber(1),
            &vouch_proxy::names::AppSlug::new("acme").unwrap(),
            vec![format!("proxy/acme/up.test/{REPO}")],
            iat,
            300,
        )
    };
    let forged = format!("Bearer {}", vouch_proxy::auth::mint(&foreign, &claims(now)));
    refused(
        &get(&w, "manifests/1.0", Some(&forged)).await,
        401,
        "UNAUTHORIZED",
        "signature",
        &w.release.index,
    );
    let secret =
        vouch_proxy::secret::ServerSecret::load_or_create(&w.proxy.settings.secret_path()).unwrap();
    let expired = format!(
        "Bearer {}",
        vouch_proxy::auth::mint(&secret.token_key(), &claims(now - 3600))
    );
    refused(
        &get(&w, "manifests/1.0", Some(&expired)).await,
        401,
        "UNAUTHORIZED",
        "token expired",
        &w.release.index,
    );
    let valid = format!(
        "Bearer {}",
        vouch_proxy::auth::mint(&secret.token_key(), &claims(now))
    );
    assert_eq!(
        get(&w, "manifests/1.0", Some(&valid)).await.0,
        200,
        "control: a good token works"
    );
    w.proxy.stop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let options = Options {
        rate_limit: Some((0.1, 3)),
        ..Options::default()
    };
    let Some(w) = world(ReferrersMode::NotFound, options).await else {
        return;
    };
    let auth = basic(EMAIL, &w.licenses.stable);
    for _ in 0..3 {
        assert_eq!(get(&w, "manifests/1.0", Some(&auth)).await.0, 200);
    }
    let got = get(&w, "manifests/1.0", Some(&auth)).await;
    refused(
        &got,
        429,
        "TOOMANYREQUESTS",
        "over its request rate",
        &w.release.index,
    );
    let retry: u64 = got.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    // Another license is not affected.
    assert_eq!(
        get(&w, "manifests/1.1", Some(&basic(EMAIL, &w.licenses.beta)))
            .await
            .0,
        200
    );
    w.proxy.stop().await;
}

/// A proxy over a stub upstream, to prove refusals cause no upstream request.
async fn stub_world() -> (Stub, TestProxy, common::Licenses, tempfile::TempDir) {
    let stub = Stub::start().await;
    let img = image("x", "amd64", 100);
    stub.image(REPO, "1.0", &img);
    let dir = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start(dir.path(), &stub.url(), &Options::default()).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    (stub, proxy, licenses, dir)
}

#[tokio::test]
async fn path_tricks_are_refused_before_any_upstream_request() {
    let (stub, proxy, licenses, _dir) = stub_world().await;
    let auth = basic(EMAIL, &licenses.stable);
    for (path, status, code) in [
        (
            "/v2/proxy/acme/up.test/acme/../other/api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/acme/%2e%2e/other/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/acme%2f..%2fother/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/acme/./api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test//acme/api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/acme\\api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/ACME/api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/127.0.0.1:22/acme/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/acme/up.test/acme/api/manifests/..%2f..%2fx",
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/proxy/../acme/up.test/acme/api/manifests/1.0",
            400,
            "NAME_INVALID",
        ),
        ("/v2/acme/api/manifests/1.0", 404, "NAME_UNKNOWN"),
        (
            "/v2/proxy/acme/up.test/acme/api/manifests/sha256:..",
            400,
            "DIGEST_INVALID",
        ),
    ] {
        let (got, body) = raw_get(proxy.addr, path, &auth).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(error_code(&body), code, "{path}");
    }
    assert!(stub.seen().is_empty(), "upstream saw {:?}", stub.seen());
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_hosts_and_repositories_outside_the_allow_list_are_denied() {
    let (stub, proxy, licenses, _dir) = stub_world().await;
    let auth = basic(EMAIL, &licenses.stable);
    for path in [
        "/v2/proxy/acme/evil.test/acme/api/manifests/1.0",
        "/v2/proxy/acme/169.254.169.254/latest/manifests/1.0",
        "/v2/proxy/acme/up.test/other/api/manifests/1.0",
        "/v2/proxy/acme/up.test/acmecorp/api/manifests/1.0",
        "/v2/proxy/acme/up.test/acme2/manifests/1.0",
    ] {
        let (got, body) = raw_get(proxy.addr, path, &auth).await;
        assert_eq!(got, 403, "{path}: {body}");
        assert_eq!(error_code(&body), "DENIED", "{path}");
        assert!(body.contains("is not served by app acme"), "{body}");
    }
    // The token endpoint grants nothing for them either.
    let r = send(
        Method::GET,
        proxy.url("/v2/token?scope=repository:proxy/acme/evil.test/x:pull&scope=repository:proxy/acme/up.test/other/x:pull"),
        &auth,
        &[],
    )
    .await;
    let v: serde_json::Value = r.json().await.unwrap();
    let token = format!("Bearer {}", v["token"].as_str().unwrap());
    let (got, body) = raw_get(
        proxy.addr,
        "/v2/proxy/acme/up.test/other/x/manifests/1.0",
        &token,
    )
    .await;
    assert_eq!(got, 403, "{body}");
    assert!(body.contains("is not served by app acme"), "{body}");
    assert!(stub.seen().is_empty(), "upstream saw {:?}", stub.seen());
    // Control: an allowed request does reach the upstream.
    let (got, _) = raw_get(
        proxy.addr,
        &format!("/v2/proxy/acme/up.test/{REPO}/manifests/1.0"),
        &auth,
    )
    .await;
    assert_eq!(got, 200);
    assert_eq!(stub.count(&format!("/v2/{REPO}/manifests/1.0")), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn the_catalog_and_unknown_endpoints_reveal_nothing() {
    let (stub, proxy, licenses, _dir) = stub_world().await;
    let auth = basic(EMAIL, &licenses.stable);
    let (got, body) = raw_get(proxy.addr, "/v2/_catalog", &auth).await;
    assert_eq!(got, 404);
    assert_eq!(error_code(&body), "UNSUPPORTED");
    let (got, _) = raw_get(proxy.addr, "/v2/_catalog", "Basic eDp5").await;
    assert_eq!(got, 401);
    let (got, body) = raw_get(proxy.addr, "/etc/passwd", &auth).await;
    assert_eq!(got, 404);
    assert_eq!(error_code(&body), "NAME_UNKNOWN");
    assert!(stub.seen().is_empty());
    proxy.stop().await;
}

/// With the docker token flow a license that may not pull a repository
/// gets a token that grants nothing; using it must say why, as Basic auth
/// does, not a bare `insufficient_scope` that clients print as "requested
/// access to the resource is denied" (issue 14, finding 11).
#[tokio::test]
async fn token_flow_denials_say_why_as_basic_auth_does() {
    let (stub, proxy, licenses, _dir) = stub_world().await;
    let token_for = |license: &str, name: &str| {
        let url = proxy.url(&format!("/v2/token?scope=repository:{name}:pull"));
        let auth = basic(EMAIL, license);
        async move {
            let r = send(Method::GET, url, &auth, &[]).await;
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            format!("Bearer {}", v["token"].as_str().unwrap())
        }
    };
    for (license, name, reason) in [
        (
            &licenses.other_app,
            format!("proxy/acme/up.test/{REPO}"),
            "is for app other, not acme",
        ),
        (
            &licenses.stable,
            "proxy/acme/up.test/other/x".to_string(),
            "repository up.test/other/x is not served by app acme",
        ),
        (
            &licenses.stable,
            "proxy/acme/evil.test/x".to_string(),
            "repository evil.test/x is not served by app acme",
        ),
    ] {
        let path = format!("/v2/{name}/manifests/1.0");
        let token = token_for(license, &name).await;
        let (status, body) = raw_get(proxy.addr, &path, &token).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (403, "DENIED"),
            "{name}: {body}"
        );
        assert!(body.contains(reason), "{name}: {body}");
        // The very message Basic auth gives.
        let (status, basic_body) = raw_get(proxy.addr, &path, &basic(EMAIL, license)).await;
        assert_eq!(status, 403);
        let message = |b: &str| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            v["errors"][0]["message"].as_str().unwrap().to_string()
        };
        assert_eq!(message(&body), message(&basic_body), "{name}");
    }
    assert!(stub.seen().is_empty(), "upstream saw {:?}", stub.seen());
    // A token for a repository the license could be granted is still a
    // 401 insufficient_scope: the client asks for a new token and goes on.
    let web = token_for(&licenses.stable, "proxy/acme/up.test/acme/web").await;
    let r = send(
        Method::GET,
        proxy.url(&format!("/v2/proxy/acme/up.test/{REPO}/manifests/1.0")),
        &web,
        &[],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    // The license is checked first: a revoked one is told so, not 403.
    let other = token_for(&licenses.other_app, &format!("proxy/acme/up.test/{REPO}")).await;
    let number = proxy
        .store
        .licenses(None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.app.as_str() == "other")
        .unwrap()
        .number;
    proxy
        .store
        .revoke_license(number, jiff::Timestamp::now())
        .await
        .unwrap();
    let (status, body) = raw_get(
        proxy.addr,
        &format!("/v2/proxy/acme/up.test/{REPO}/manifests/1.0"),
        &other,
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (401, "UNAUTHORIZED"),
        "{body}"
    );
    assert!(body.contains("was revoked at"), "{body}");
    proxy.stop().await;
}

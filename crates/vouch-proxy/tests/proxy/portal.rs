//! The customer portal over HTTP, in process: the release policy it writes
//! is one `vouch verify-release` reads, and every rejection path of
//! sign-in, sessions and sign-out (no nonce cookie, a wrong form token, a
//! tampered or expired session, a wrong sign-out token, a license revoked
//! after sign-in). The browser test (scripts/portal-check) covers the pages
//! themselves.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use vouch_proxy::names::{Digest, Repository, Tag};
use vouch_proxy::policy::VersionImages;
use vouch_proxy::portal::session::{self, Session};
use vouch_proxy::secret::ServerSecret;
use vouch_proxy::store::{LicenseNumber, ReferrersMode};

use crate::common::{EMAIL, Options, TestProxy, client, release_policy, setup_licenses};

#[test]
fn the_policy_file_is_one_verify_release_accepts() {
    let policy = release_policy("up.test/acme/platform");
    let images = VersionImages {
        signed: policy.images.clone(),
        pinned: vec![(
            "postgres".into(),
            Repository::parse("docker.io/library/postgres").unwrap(),
            Digest::sha256_of(b"postgres"),
        )],
    };
    let text = policy.render(
        "images.example.com:8443/proxy/acme",
        &Tag::new("v1.2.0").unwrap(),
        &images,
    );
    let parsed =
        vouch_release::ReleasePolicy::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        parsed.registry,
        "images.example.com:8443/proxy/acme/up.test/acme/platform"
    );
    let names: Vec<_> = parsed.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["operator", "ui"]);
    assert_eq!(parsed.third_party.len(), 1);
}

/// A proxy with the common licenses. The tests sign in with the beta
/// license: its app has no release policy, so its page resolves no digest
/// and the upstream (nothing listens on port 9) is never asked.
async fn portal() -> (tempfile::TempDir, TestProxy, crate::common::Licenses) {
    let dir = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start(dir.path(), "http://127.0.0.1:9", &Options::default()).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    (dir, proxy, licenses)
}

/// `name=value` of a `Set-Cookie` for `name` in a response.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// The sign-in page's nonce cookie (`name=value`) and form token.
async fn sign_in_form(proxy: &TestProxy) -> (String, String) {
    let r = client().get(proxy.url("/portal/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let nonce = pair(&set_cookie(&r, "vouch_portal_sign_in").expect("a nonce cookie"));
    (nonce, csrf_field(&r.text().await.unwrap()))
}

/// The value of a page's `csrf` form field.
pub(crate) fn csrf_field(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_string()
}

pub(crate) async fn post(
    proxy: &TestProxy,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().post(proxy.url(path)).form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

pub(crate) async fn license_page(proxy: &TestProxy, cookie: &str) -> StatusCode {
    license_page_text(proxy, cookie).await.0
}

pub(crate) async fn license_page_text(proxy: &TestProxy, cookie: &str) -> (StatusCode, String) {
    let r = client()
        .get(proxy.url("/portal/license"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Signs in with `id`; the session cookie (`name=value`).
pub(crate) async fn signed_in(proxy: &TestProxy, id: &str) -> String {
    let (nonce, csrf) = sign_in_form(proxy).await;
    let form = [
        ("email", EMAIL),
        ("license_id", id),
        ("csrf", csrf.as_str()),
    ];
    let r = post(proxy, "/portal/sign-in", Some(&nonce), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&r, "vouch_portal").expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Plain HTTP (public_scheme = "http"): a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    pair(&cookie)
}

/// Posts the sign-in form with the stable license and `csrf`.
async fn sign_in_with(
    proxy: &TestProxy,
    nonce: Option<&str>,
    id: &str,
    csrf: &str,
) -> reqwest::Response {
    let form = [("email", EMAIL), ("license_id", id), ("csrf", csrf)];
    post(proxy, "/portal/sign-in", nonce, &form).await
}

#[tokio::test]
async fn sign_in_needs_the_nonce_cookie_and_its_form_token() {
    let (_dir, proxy, licenses) = portal().await;
    let id = licenses.stable.as_str();
    let (nonce, csrf) = sign_in_form(&proxy).await;
    let r = sign_in_with(&proxy, None, id, &csrf).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no nonce cookie");
    assert!(set_cookie(&r, "vouch_portal").is_none());
    let r = sign_in_with(&proxy, Some(&nonce), id, "AAAA").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong form token");
    let (other_nonce, _) = sign_in_form(&proxy).await;
    let r = sign_in_with(&proxy, Some(&other_nonce), id, &csrf).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another form's token");
    let r = sign_in_with(&proxy, Some(&nonce), id, &csrf).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_and_revoked_credentials_do_not_sign_in() {
    let (_dir, proxy, licenses) = portal().await;
    for (email, id) in [
        (EMAIL, "vpl_00000000000000000000000000000000"),
        ("someone@else.example", licenses.stable.as_str()),
        (EMAIL, licenses.revoked.as_str()),
    ] {
        let (nonce, csrf) = sign_in_form(&proxy).await;
        let form = [
            ("email", email),
            ("license_id", id),
            ("csrf", csrf.as_str()),
        ];
        let r = post(&proxy, "/portal/sign-in", Some(&nonce), &form).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{email}");
        assert!(set_cookie(&r, "vouch_portal").is_none());
        assert!(!r.text().await.unwrap().contains(id));
    }
}

#[tokio::test]
async fn a_tampered_or_expired_session_is_signed_out() {
    let (_dir, proxy, licenses) = portal().await;
    let cookie = signed_in(&proxy, &licenses.beta).await;
    assert_eq!(license_page(&proxy, &cookie).await, StatusCode::OK);
    // One character of the signed payload changed.
    let mut tampered = cookie.clone().into_bytes();
    let i = "vouch_portal=vps1.".len() + 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        license_page(&proxy, &tampered).await,
        StatusCode::UNAUTHORIZED
    );
    // A validly signed session past its expiry.
    let key = ServerSecret::load_or_create(&proxy.settings.secret_path())
        .unwrap()
        .portal_key();
    let now = jiff::Timestamp::now().as_second();
    let mut old = Session::new(LicenseNumber(2), now - 2 * session::SESSION_TTL_SECS).unwrap();
    old.exp = now - 1;
    let expired = format!("vouch_portal={}", session::seal(&key, &old));
    assert_eq!(
        license_page(&proxy, &expired).await,
        StatusCode::UNAUTHORIZED
    );
    // The same, still current, is accepted: the key is the proxy's.
    let current = Session::new(LicenseNumber(2), now).unwrap();
    let current = format!("vouch_portal={}", session::seal(&key, &current));
    assert_eq!(license_page(&proxy, &current).await, StatusCode::OK);
}

#[tokio::test]
async fn sign_out_needs_the_sessions_token_and_ends_the_session() {
    let (_dir, proxy, licenses) = portal().await;
    let cookie = signed_in(&proxy, &licenses.beta).await;
    let r = post(
        &proxy,
        "/portal/sign-out",
        Some(&cookie),
        &[("csrf", "AAAA")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(license_page(&proxy, &cookie).await, StatusCode::OK);
    let (_, page) = license_page_text(&proxy, &cookie).await;
    let csrf = csrf_field(&page);
    assert!(
        !page.contains(&licenses.beta),
        "the license ID is on the page"
    );
    let r = post(
        &proxy,
        "/portal/sign-out",
        Some(&cookie),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        license_page(&proxy, &cookie).await,
        StatusCode::UNAUTHORIZED,
        "the signed-out session still works"
    );
}

/// Two replicas sharing the state store and the server secret: a session
/// signed in on one works on the other, and signed out on one is refused
/// by both at once (the sign-out is recorded in the shared store, not
/// only in the memory of the replica that took it).
#[tokio::test]
async fn a_session_signed_out_on_one_replica_is_refused_by_the_others() {
    let (dir, one, licenses) = portal().await;
    let other = TestProxy::start(dir.path(), "http://127.0.0.1:9", &Options::default()).await;
    let cookie = signed_in(&one, &licenses.beta).await;
    assert_eq!(license_page(&other, &cookie).await, StatusCode::OK);
    let (_, page) = license_page_text(&one, &cookie).await;
    let r = post(
        &one,
        "/portal/sign-out",
        Some(&cookie),
        &[("csrf", &csrf_field(&page))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for replica in [&one, &other] {
        assert_eq!(
            license_page(replica, &cookie).await,
            StatusCode::UNAUTHORIZED,
            "the signed-out session still works on {}",
            replica.addr
        );
    }
    // A new sign-in is a new session, on either replica.
    let again = signed_in(&other, &licenses.beta).await;
    assert_eq!(license_page(&one, &again).await, StatusCode::OK);
}

#[tokio::test]
async fn a_license_revoked_after_sign_in_is_signed_out() {
    let (_dir, proxy, licenses) = portal().await;
    let cookie = signed_in(&proxy, &licenses.beta).await;
    assert_eq!(license_page(&proxy, &cookie).await, StatusCode::OK);
    // license_cache_secs = 0 in the test proxy: the next page sees it.
    proxy
        .licenses
        .revoke_license(LicenseNumber(2), jiff::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        license_page(&proxy, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

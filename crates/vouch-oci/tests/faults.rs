//! Registry faults, from a stub plain-HTTP server (canned answers per path, not a
//! mock of our client): 500 on referrers, 401 without a challenge, truncated
//! bodies, wrong digests, oversized manifests, 429 with Retry-After, an
//! unreachable registry.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vouch_oci::Sha256Digest;
use vouch_oci::*;

/// One canned answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Claim this many more bytes than are sent, then close.
    truncate: usize,
}

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    Answer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        truncate: 0,
    }
}

/// Answers by path (without query); a path may have a list of answers,
/// served in turn (the last one repeats). Unknown paths get 404.
struct Stub {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn stub(build: impl FnOnce(u16) -> HashMap<String, Vec<Answer>>) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = build(port);
    let hits = Arc::new(AtomicUsize::new(0));
    let routes = Arc::new(routes);
    let counter = hits.clone();
    tokio::spawn(async move {
        let served: Arc<tokio::sync::Mutex<HashMap<String, usize>>> = Default::default();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let served = served.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                // A TLS ClientHello (the client tries HTTPS first): this stub
                // speaks only plain HTTP, so hang up without counting it.
                if buf[..n].first() == Some(&0x16) {
                    return;
                }
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap()
                    .to_string();
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = match routes.get(&path) {
                    Some(list) => {
                        let mut served = served.lock().await;
                        let i = served.entry(path.clone()).or_insert(0);
                        let a = list[(*i).min(list.len() - 1)].clone();
                        *i += 1;
                        a
                    }
                    None => answer(
                        404,
                        &[("Content-Type", "text/plain")],
                        b"404 page not found\n",
                    ),
                };
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    answer.status,
                    answer.body.len() + answer.truncate
                );
                for (k, v) in &answer.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&answer.body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Stub { port, hits }
}

fn repo(port: u16) -> Repository {
    Repository::new(
        Registry::new(&format!("127.0.0.1:{port}")).unwrap(),
        "acme/app",
    )
    .unwrap()
}

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions::default()).unwrap()
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn routes(list: Vec<(String, Vec<Answer>)>) -> HashMap<String, Vec<Answer>> {
    list.into_iter().collect()
}

#[tokio::test]
async fn referrers_500_is_an_error_not_a_silent_fallback() {
    let d = Sha256Digest::of(b"image");
    let s = stub(|_| {
        routes(vec![(
            format!("/v2/acme/app/referrers/{d}"),
            vec![answer(
                500,
                &[("Content-Type", "text/plain")],
                b"Internal Server Error",
            )],
        )])
    })
    .await;
    let err = client()
        .referrers(&repo(s.port), &d, None)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Referrers { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 500") && text.contains("not a missing signature"),
        "{text}"
    );
}

#[tokio::test]
async fn referrers_fall_back_on_404_400_406_and_non_index_content() {
    let d = Sha256Digest::of(b"image");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"artifactType":"x/y"}}]}}"#,
        Sha256Digest::of(b"r")
    );
    for first in [
        answer(404, &[], b""),
        answer(400, &[], b""),
        answer(406, &[], b""),
        answer(200, &[("Content-Type", "text/html")], b"<html>"),
    ] {
        let s = stub(|_| {
            routes(vec![
                (format!("/v2/acme/app/referrers/{d}"), vec![first.clone()]),
                (
                    format!("/v2/acme/app/manifests/sha256-{}", d.hex()),
                    vec![answer(200, &[("Content-Type", INDEX)], index.as_bytes())],
                ),
            ])
        })
        .await;
        let found = client().referrers(&repo(s.port), &d, None).await.unwrap();
        assert!(
            matches!(found.source, ReferrersSource::TagSchema { .. }),
            "{:?}",
            found.source
        );
        assert_eq!(found.manifests.len(), 1);
        // Filtering by artifact type happens client-side.
        let none = client()
            .referrers(&repo(s.port), &d, Some("other/type"))
            .await
            .unwrap();
        assert!(none.manifests.is_empty());
    }
}

#[tokio::test]
async fn referrers_api_pages_are_followed() {
    let d = Sha256Digest::of(b"image");
    let entry = |s: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1}}"#,
            Sha256Digest::of(s.as_bytes())
        )
    };
    let page = |e: String| format!(r#"{{"schemaVersion":2,"manifests":[{e}]}}"#);
    let path = format!("/v2/acme/app/referrers/{d}");
    let link = format!("<{path}?n=1&last=x>; rel=\"next\"");
    let s = stub(|_| {
        routes(vec![(
            path.clone(),
            vec![
                answer(
                    200,
                    &[("Content-Type", INDEX), ("Link", &link)],
                    page(entry("a")).as_bytes(),
                ),
                answer(200, &[("Content-Type", INDEX)], page(entry("b")).as_bytes()),
            ],
        )])
    })
    .await;
    let found = client().referrers(&repo(s.port), &d, None).await.unwrap();
    assert_eq!(found.source, ReferrersSource::Api);
    assert_eq!(found.manifests.len(), 2);
}

#[tokio::test]
async fn unauthorized_without_challenge_is_an_error_with_the_registrys_reason() {
    let s = stub(|_| routes(vec![(
        "/v2/acme/app/manifests/v1".into(),
        vec![answer(401, &[("Content-Type", "application/json")], br#"{"errors":[{"code":"UNAUTHORIZED","message":"license expired on 2026-01-01"}]}"#)],
    )]))
    .await;
    let err = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OciError::Unauthorized { detail, .. }
            if detail.contains("license expired on 2026-01-01")),
        "{err}"
    );
    // What to do about it (`vouch login`, the license ID) is the CLI's hint.
    let text = err.to_string();
    assert!(
        !text.contains("vouch login") && !text.contains("license ID"),
        "{text}"
    );
}

#[tokio::test]
async fn denied_names_the_channel_problem() {
    let s = stub(|_| routes(vec![(
        "/v2/acme/app/manifests/v9".into(),
        vec![answer(403, &[], br#"{"errors":[{"code":"DENIED","message":"license is not entitled to channel stable for v9"}]}"#)],
    )]))
    .await;
    let err = client()
        .manifest(&repo(s.port), "v9", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Denied { .. }), "{err}");
    assert!(
        err.to_string().contains("not entitled to channel stable"),
        "{err}"
    );
}

#[tokio::test]
async fn manifest_by_digest_that_hashes_differently_is_refused() {
    let d = Sha256Digest::of(b"the real manifest");
    let s = stub(|_| {
        routes(vec![(
            format!("/v2/acme/app/manifests/{d}"),
            vec![answer(
                200,
                &[("Content-Type", oci::OCI_MANIFEST)],
                b"{\"evil\":true}",
            )],
        )])
    })
    .await;
    let err = client()
        .manifest(&repo(s.port), &d.to_string(), oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
}

#[tokio::test]
async fn lying_docker_content_digest_header_is_refused() {
    let body = b"{\"schemaVersion\":2}";
    let other = Sha256Digest::of(b"x").to_string();
    let s = stub(|_| {
        routes(vec![(
            "/v2/acme/app/manifests/v1".into(),
            vec![answer(
                200,
                &[
                    ("Content-Type", oci::OCI_MANIFEST),
                    ("Docker-Content-Digest", &other),
                ],
                body,
            )],
        )])
    })
    .await;
    let err = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Docker-Content-Digest"), "{err}");
}

#[tokio::test]
async fn blob_with_wrong_content_is_refused() {
    let d = Sha256Digest::of(b"expected");
    let s = stub(|_| {
        routes(vec![(
            format!("/v2/acme/app/blobs/{d}"),
            vec![answer(200, &[], b"tampered")],
        )])
    })
    .await;
    let err = client().blob(&repo(s.port), &d, 1024).await.unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
}

#[tokio::test]
async fn truncated_body_is_a_transfer_error() {
    let d = Sha256Digest::of(b"expected");
    let mut short = answer(200, &[], b"exp");
    short.truncate = 100;
    let s = stub(|_| routes(vec![(format!("/v2/acme/app/blobs/{d}"), vec![short])])).await;
    let err = client().blob(&repo(s.port), &d, 1024).await.unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Transfer { .. } | OciError::DigestMismatch { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_manifest_is_refused_before_reading_it() {
    let big = vec![b' '; (MAX_MANIFEST_SIZE + 1) as usize];
    let s = stub(|_| {
        routes(vec![(
            "/v2/acme/app/manifests/v1".into(),
            vec![answer(200, &[], &big)],
        )])
    })
    .await;
    let err = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn too_many_requests_is_retried_after_retry_after() {
    let body = b"{\"schemaVersion\":2}";
    let s = stub(|_| {
        routes(vec![(
            "/v2/acme/app/manifests/v1".into(),
            vec![
                answer(429, &[("Retry-After", "0")], b""),
                answer(200, &[("Content-Type", oci::OCI_MANIFEST)], body),
            ],
        )])
    })
    .await;
    let fetched = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.digest, Sha256Digest::of(body));
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let s = stub(|_| HashMap::new()).await;
    assert!(
        client()
            .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unreachable_registry_says_so() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client()
        .manifest(&repo(port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach registry"), "{err}");
}

/// A manifest behind a bearer challenge whose token endpoint (on the same
/// stub) gives `token_answers` in turn; fetches it and returns the stub's
/// request count.
async fn fetch_behind_bearer(token_answers: Vec<Answer>) -> usize {
    let body = b"{\"schemaVersion\":2}";
    let s = stub(|port| {
        let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"stub\"");
        routes(vec![
            ("/token".into(), token_answers),
            (
                "/v2/acme/app/manifests/v1".into(),
                vec![
                    answer(401, &[("WWW-Authenticate", &challenge)], b""),
                    answer(200, &[("Content-Type", oci::OCI_MANIFEST)], body),
                ],
            ),
        ])
    })
    .await;
    let fetched = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.digest, Sha256Digest::of(body));
    s.hits.load(Ordering::SeqCst)
}

fn token(status: u16) -> Answer {
    match status {
        200 => answer(
            200,
            &[("Content-Type", "application/json")],
            br#"{"token":"t0k3n"}"#,
        ),
        other => answer(other, &[("Retry-After", "0")], b""),
    }
}

#[tokio::test]
async fn bearer_challenge_is_answered_with_a_token() {
    // manifest (401), token, manifest again.
    assert_eq!(fetch_behind_bearer(vec![token(200)]).await, 3);
}

#[tokio::test]
async fn a_rate_limited_token_endpoint_is_retried() {
    // manifest (401), token (429), token (200), manifest (200).
    assert_eq!(fetch_behind_bearer(vec![token(429), token(200)]).await, 4);
}

#[tokio::test]
async fn unreachable_token_realm_fails_with_a_message() {
    let s = stub(|_| {
        routes(vec![(
            "/v2/acme/app/manifests/v1".into(),
            vec![answer(
                401,
                &[(
                    "WWW-Authenticate",
                    "Bearer realm=\"http://127.0.0.1:1/token\",service=\"stub\"",
                )],
                b"",
            )],
        )])
    })
    .await;
    let err = client()
        .manifest(&repo(s.port), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unreachable { .. }), "{err}");
}

/// `--referrers-fallback-on-error`: after a 5xx (and only then) the tag
/// schema is searched, and the source says it was a fallback after an error.
#[tokio::test]
async fn referrers_5xx_falls_back_only_when_asked_and_the_source_says_so() {
    let d = Sha256Digest::of(b"image");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1}}]}}"#,
        Sha256Digest::of(b"r")
    );
    let asking = RegistryClient::new(ClientOptions {
        referrers_fallback: ReferrersFallback::OnServerError,
        ..ClientOptions::default()
    })
    .unwrap();
    for (status, falls_back) in [(500, true), (502, true), (401, false), (403, false)] {
        let s = stub(|_| {
            routes(vec![
                (
                    format!("/v2/acme/app/referrers/{d}"),
                    vec![answer(status, &[("Content-Type", "text/plain")], b"broken")],
                ),
                (
                    format!("/v2/acme/app/manifests/sha256-{}", d.hex()),
                    vec![answer(200, &[("Content-Type", INDEX)], index.as_bytes())],
                ),
            ])
        })
        .await;
        let found = asking.referrers(&repo(s.port), &d, None).await;
        if falls_back {
            let found = found.unwrap();
            assert!(
                matches!(&found.source, ReferrersSource::TagSchemaAfterError { error } if error.contains(&format!("HTTP {status}"))),
                "{status}: {:?}",
                found.source
            );
            assert_eq!(found.manifests.len(), 1, "{status}");
            // Without the opt-in the same answer is an error.
            let err = client()
                .referrers(&repo(s.port), &d, None)
                .await
                .unwrap_err();
            assert!(matches!(err, OciError::Referrers { .. }), "{status}: {err}");
        } else {
            let err = found.unwrap_err();
            assert!(err.is_access_failure(), "{status}: {err}");
        }
    }
}

/// A 200 that claims to be an image index but is not JSON names the URL and
/// what the registry must answer instead.
#[tokio::test]
async fn a_malformed_referrers_index_names_the_url_and_the_fix() {
    let d = Sha256Digest::of(b"image");
    let s = stub(|_| {
        routes(vec![(
            format!("/v2/acme/app/referrers/{d}"),
            vec![answer(
                200,
                &[("Content-Type", INDEX)],
                b"{\"manifests\": [",
            )],
        )])
    })
    .await;
    let err = client()
        .referrers(&repo(s.port), &d, None)
        .await
        .unwrap_err();
    // Content that failed a check (exit 1), not an access failure (exit 4).
    assert!(matches!(err, OciError::ReferrersRefused { .. }), "{err}");
    assert!(!err.is_access_failure());
    let text = err.to_string();
    let url = format!("GET http://127.0.0.1:{}/v2/acme/app/referrers/{d}", s.port);
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("not a valid image index"), "{text}");
    assert!(
        text.contains("must answer 200 with a valid image index, or 404"),
        "{text}"
    );
}

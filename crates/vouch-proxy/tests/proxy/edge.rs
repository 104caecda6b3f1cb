//! The proxy's edge (issue 14, findings 2, 4, 5, 6, 7): connection
//! timeouts and caps, HTTP/2 without TLS, the realm host, uncacheable
//! challenges and tokens, 5xx bodies without internal detail, and private
//! state files.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use vouch_proxy::store::ReferrersMode;

use crate::common::setup::REPO;
use crate::common::stub::{Behaviour, Stub};
use crate::common::{EMAIL, Options, TestProxy, basic, client, error_code, setup_licenses};

/// How long a test waits for something that must happen (a connection
/// closed by a 1 s timeout). Generous for a loaded CI machine: this is a
/// bound on a hang, not a performance assertion.
const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// How often a slowloris client sends one more header line: well inside
/// the 1 s header-read timeout, so only that timeout (not idleness) can
/// end its connection.
const TRICKLE_EVERY: Duration = Duration::from_millis(200);

async fn proxy(dir: &std::path::Path, upstream: &str, server_toml: &str) -> TestProxy {
    let options = Options {
        server_toml: server_toml.into(),
        ..Options::default()
    };
    TestProxy::start(dir, upstream, &options).await
}

/// Waits until the server closes `stream` (EOF or reset), returning what
/// it sent before; panics after [`LIVENESS_BOUND`].
async fn closed_by_server(stream: &mut TcpStream, what: &str) -> String {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(LIVENESS_BOUND, read)
        .await
        .unwrap_or_else(|_| panic!("{what}: the server kept the connection open"));
    String::from_utf8_lossy(&seen).into_owned()
}

/// A slowloris client: half a request, then one header line every
/// [`TRICKLE_EVERY`] for as long as the server lets it. Returns once the
/// server closes the connection; panics after [`LIVENESS_BOUND`].
async fn slowloris(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: slow\r\n")
        .await
        .unwrap();
    let trickle = async {
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                // The slow client's own pace, not a wait for the server.
                () = tokio::time::sleep(TRICKLE_EVERY) => {
                    if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(LIVENESS_BOUND, trickle)
        .await
        .expect("a slowloris connection was held open past the header-read timeout");
}

/// Sends `request` verbatim and returns everything up to the server's close.
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    closed_by_server(&mut stream, "a Connection: close request").await
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn slow_clients_are_dropped_after_the_header_read_timeout_while_a_normal_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(
        dir.path(),
        "http://127.0.0.1:9",
        "header_read_timeout_secs = 1\nidle_timeout_secs = 600\nmax_connections = 4",
    )
    .await;
    // As many slow clients as the cap allows, then one more, and a normal
    // client among them.
    let slow: Vec<_> = (0..5).map(|_| tokio::spawn(slowloris(p.addr))).collect();
    let normal = tokio::time::timeout(LIVENESS_BOUND, client().get(p.url("/v2/")).send())
        .await
        .expect("a normal client was not served while slow clients held connections")
        .unwrap();
    assert_eq!(normal.status(), 401);
    for task in slow {
        task.await.unwrap();
    }
    p.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(
        dir.path(),
        "http://127.0.0.1:9",
        "header_read_timeout_secs = 600\nidle_timeout_secs = 1",
    )
    .await;
    // One request, answered, then kept alive and left idle.
    let mut kept = TcpStream::connect(p.addr).await.unwrap();
    kept.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: {}\r\n\r\n", p.addr).as_bytes())
        .await
        .unwrap();
    let answered = closed_by_server(&mut kept, "a kept-alive idle connection").await;
    assert!(answered.starts_with("HTTP/1.1 401"), "{answered}");
    p.stop().await;
}

/// A connection that never sends a byte, or a token request that announces
/// a body and never sends it, holds its slot only for the header-read
/// timeout (the idle timeout here is ten minutes).
#[tokio::test]
async fn silent_connections_and_stalled_bodies_are_dropped_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(
        dir.path(),
        "http://127.0.0.1:9",
        "header_read_timeout_secs = 1\nidle_timeout_secs = 600",
    )
    .await;
    let mut silent = TcpStream::connect(p.addr).await.unwrap();
    assert_eq!(
        closed_by_server(&mut silent, "a silent connection").await,
        ""
    );
    let mut stalled = TcpStream::connect(p.addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /v2/token HTTP/1.1\r\nHost: {}\r\nContent-Type: \
                 application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
                p.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answered = closed_by_server(&mut stalled, "a token request without its body").await;
    assert!(answered.starts_with("HTTP/1.1 400"), "{answered}");
    assert!(answered.contains("not sent in time"), "{answered}");
    p.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(
        dir.path(),
        "http://127.0.0.1:9",
        "idle_timeout_secs = 600\nmax_connections_per_ip = 2",
    )
    .await;
    let first = TcpStream::connect(p.addr).await.unwrap();
    let mut second = TcpStream::connect(p.addr).await.unwrap();
    let mut third = TcpStream::connect(p.addr).await.unwrap();
    assert_eq!(closed_by_server(&mut third, "a third connection").await, "");
    // The two within the cap are served.
    second
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_server(&mut second, "a request within the cap").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    drop(first);
    // Both slots come free as the server notices the closes.
    let request = "GET /v2/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let deadline = tokio::time::Instant::now() + LIVENESS_BOUND;
    loop {
        let (a, b) = tokio::join!(raw(p.addr, request), raw(p.addr, request));
        if a.starts_with("HTTP/1.1 401") && b.starts_with("HTTP/1.1 401") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.stop().await;
}

#[tokio::test]
async fn an_h2c_prior_knowledge_client_gets_the_challenge_for_its_authority() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), "http://127.0.0.1:9", "").await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(p.url("/v2/")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"http://{}/v2/token\",service=\"{}\"",
            p.addr, p.addr
        )),
        "{challenge}"
    );
    p.stop().await;
}

#[tokio::test]
async fn the_realm_names_public_host_whatever_host_the_client_sends() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(
        dir.path(),
        "http://127.0.0.1:9",
        "public_host = \"registry.example.com\"",
    )
    .await;
    let answer = raw(
        p.addr,
        "GET /v2/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(
        header(&answer, "www-authenticate"),
        Some(
            "Bearer realm=\"http://registry.example.com/v2/token\",service=\"registry.example.com\""
        ),
        "{answer}"
    );
    p.stop().await;
}

#[tokio::test]
async fn challenges_and_tokens_are_marked_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), "http://127.0.0.1:9", "").await;
    let licenses = setup_licenses(&p, ReferrersMode::NotFound).await;
    let no_store = |r: &reqwest::Response| {
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let challenge = client().get(p.url("/v2/")).send().await.unwrap();
    assert_eq!(challenge.status(), 401);
    assert_eq!(no_store(&challenge).as_deref(), Some("no-store"));
    let token_url = p.url("/v2/token?service=x&scope=repository:proxy/acme/up.test/acme/api:pull");
    let token = client()
        .get(&token_url)
        .header("authorization", basic(EMAIL, &licenses.stable))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    assert_eq!(no_store(&token).as_deref(), Some("no-store"));
    let refused = client()
        .get(&token_url)
        .header("authorization", basic(EMAIL, &licenses.revoked))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(no_store(&refused).as_deref(), Some("no-store"));
    p.stop().await;
}

/// Status, `X-Request-Id` and body of a manifest GET with the stable license.
async fn pull(p: &TestProxy, license: &str) -> (u16, String, String) {
    let r = client()
        .get(p.repo_url(REPO, "manifests/1.0"))
        .header("authorization", basic(EMAIL, license))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let id = crate::common::logs::request_id(&r).expect("no X-Request-Id");
    (status, id, r.text().await.unwrap())
}

fn assert_concealed(body: &str, id: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !body.contains(secret),
            "{secret:?} reached the client: {body}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["errors"][0]["detail"]["request_id"], id, "{body}");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("request ID {id}")), "{message}");
    assert_eq!(id.len(), 16, "{id}");
}

#[tokio::test]
async fn server_errors_carry_a_request_id_and_no_internal_detail() {
    // Unreachable: neither the internal URL nor the OS error.
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), "http://127.0.0.1:9", "").await;
    let licenses = setup_licenses(&p, ReferrersMode::NotFound).await;
    let (status, id, body) = pull(&p, &licenses.stable).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "UNAVAILABLE");
    assert_concealed(&body, &id, &["127.0.0.1", "refused", "error sending"]);
    // The operator's log has it all, under the same ID.
    let logged = crate::common::logs::logged(&id).expect("no error line for the 503");
    assert!(logged.contains("127.0.0.1:9"), "{logged}");
    // Customer-facing 4xx keep their specific message, and an ID.
    let (status, _, body) = pull(&p, &licenses.expired).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired at"), "{body}");
    p.stop().await;

    // The upstream's own words (here, a "secret" in its 401 and 500
    // bodies) are not repeated to the customer.
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &stub.url(), "").await;
    let licenses = setup_licenses(&p, ReferrersMode::NotFound).await;
    for upstream_status in [401, 500] {
        stub.set(
            &format!("/v2/{REPO}/manifests/1.0"),
            Behaviour::Respond {
                status: upstream_status,
                headers: vec![],
                body: b"vendor-internal-token-s3cr3t".to_vec(),
            },
        );
        let (status, id, body) = pull(&p, &licenses.stable).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(error_code(&body), "UNKNOWN");
        assert_concealed(&body, &id, &["s3cr3t", &stub.addr.to_string()]);
        let logged = crate::common::logs::logged(&id).expect("no error line for the 502");
        assert!(logged.contains(&upstream_status.to_string()), "{logged}");
    }
    p.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn state_directory_and_files_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let p = proxy(&state, "http://127.0.0.1:9", "").await;
    setup_licenses(&p, ReferrersMode::NotFound).await;
    assert_eq!(mode(&state), 0o700);
    for file in ["state.db", "state.db-wal", "state.db-shm", "secret.key"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    p.stop().await;

    // A database left world-readable by an older version is tightened.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("state.db"), b"").unwrap();
    std::fs::set_permissions(old.join("state.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = vouch_proxy::store::sqlite::SqliteStore::open(&old.join("state.db")).unwrap();
    assert_eq!(mode(&old.join("state.db")), 0o600);
    drop(store);
}

//! The two registry flags, as cosign defines them: `--allow-http-registry`
//! (`PlainHttp::Allowed`) lets a registry fall back to plain HTTP,
//! `--allow-insecure-registry` (`TlsVerification::InsecureSkipVerify`) skips
//! certificate verification. Every combination against a plain-HTTP and a
//! self-signed HTTPS registry on loopback (Debian's docker-registry), and a
//! plain-HTTP stub on a non-loopback address; no hint ever suggests a flag
//! that is already set.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vouch_oci::*;
use vouch_testkit::LocalRegistry;

/// The four combinations of the two flags.
fn combinations() -> [Transport; 4] {
    let t = |plain_http, tls| Transport { plain_http, tls };
    [
        t(PlainHttp::LoopbackOnly, TlsVerification::Verify),
        t(PlainHttp::Allowed, TlsVerification::Verify),
        t(PlainHttp::LoopbackOnly, TlsVerification::InsecureSkipVerify),
        t(PlainHttp::Allowed, TlsVerification::InsecureSkipVerify),
    ]
}

async fn ping(transport: Transport, host: &str) -> Result<(), OciError> {
    let client = RegistryClient::new(ClientOptions {
        transport,
        ..ClientOptions::default()
    })
    .unwrap();
    let registry: Reference = format!("{host}/acme/app:v1").parse().unwrap();
    client.ping(registry.repository().registry()).await
}

/// The library's errors name no command-line flag: which flag would help is
/// the CLI's advice (`vouch-cli`'s failure.rs), never the library's.
fn assert_names_no_flag(err: &OciError) {
    let text = err.to_string();
    assert!(!text.contains("--allow-"), "{text}");
}

#[tokio::test]
async fn a_plain_http_loopback_registry_works_with_every_combination() {
    let Some(registry) = LocalRegistry::start(None) else {
        return;
    };
    for transport in combinations() {
        let result = ping(transport, &registry.host()).await;
        assert!(result.is_ok(), "{transport:?}: {}", result.unwrap_err());
    }
}

#[tokio::test]
async fn a_self_signed_https_registry_needs_allow_insecure_registry_and_nothing_else() {
    let Some(registry) = LocalRegistry::start_tls() else {
        return;
    };
    for transport in combinations() {
        let result = ping(transport, &registry.host()).await;
        match transport.tls {
            TlsVerification::InsecureSkipVerify => {
                assert!(result.is_ok(), "{transport:?}: {}", result.unwrap_err());
            }
            TlsVerification::Verify => {
                let err = result.unwrap_err();
                // Not a plain-HTTP retry's confusing 400: the certificate.
                assert!(
                    matches!(err, OciError::UntrustedCertificate { .. }),
                    "{transport:?}: {err}"
                );
                let text = err.to_string();
                assert!(
                    text.contains("TLS certificate that is not trusted"),
                    "{text}"
                );
                // The library names no flag; the CLI adds the hint.
                assert!(!text.contains("--allow-"), "{text}");
                assert!(!err.may_need_plain_http(), "{text}");
            }
        }
    }
}

#[tokio::test]
async fn an_unreachable_loopback_registry_is_tried_on_both_schemes_and_no_flag_is_suggested() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for transport in combinations() {
        let err = ping(transport, &format!("127.0.0.1:{port}"))
            .await
            .unwrap_err();
        match &err {
            OciError::Unreachable {
                tried, attempts, ..
            } => {
                assert_eq!(*tried, SchemesAllowed::HttpsThenHttp, "{err}");
                let urls: Vec<&str> = attempts.iter().map(|(url, _)| url.as_str()).collect();
                assert_eq!(
                    urls,
                    [
                        format!("https://127.0.0.1:{port}/v2/"),
                        format!("http://127.0.0.1:{port}/v2/")
                    ],
                );
                // Both refused, and said so: nothing listens there.
                assert!(
                    attempts
                        .iter()
                        .all(|(_, f)| matches!(f, NetworkFailure::Refused)),
                    "{attempts:?}"
                );
            }
            other => panic!("{transport:?}: expected Unreachable, got {other}"),
        }
        let text = err.to_string();
        assert!(!text.contains("--allow-"), "{transport:?}: {text}");
    }
}

/// This machine's address on its default route, if it has one that is not
/// loopback (a UDP `connect` picks it without sending anything).
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A plain-HTTP server answering every request 200 with `{}`; a TLS
/// ClientHello gets a plain-HTTP 400, as Go's HTTP servers (distribution)
/// answer one.
async fn plain_http_stub() -> u16 {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                if buf[0] == 0x16 {
                    let _ = socket
                        .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                        .await;
                    return;
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_plain_http_registry_off_loopback_needs_allow_http_registry_and_nothing_else() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("SKIP: no non-loopback address on this machine");
        return;
    };
    let port = plain_http_stub().await;
    let host = format!("{ip}:{port}");
    for transport in combinations() {
        let result = ping(transport, &host).await;
        match transport.plain_http {
            PlainHttp::Allowed => {
                assert!(result.is_ok(), "{transport:?}: {}", result.unwrap_err());
            }
            PlainHttp::LoopbackOnly => {
                let err = result.unwrap_err();
                match &err {
                    OciError::Unreachable {
                        tried,
                        url,
                        attempts,
                        ..
                    } => {
                        assert_eq!(*tried, SchemesAllowed::HttpsOnly, "{err}");
                        assert!(url.starts_with("https://"), "{err}");
                        // Said for what it is: HTTP where HTTPS was asked for.
                        assert!(
                            matches!(attempts[..], [(_, NetworkFailure::PlainHttpServer)]),
                            "{attempts:?}"
                        );
                    }
                    other => panic!("{transport:?}: expected Unreachable, got {other}"),
                }
                let text = err.to_string();
                assert!(err.may_need_plain_http(), "{text}");
                assert!(!text.contains("--allow-insecure-registry"), "{text}");
                assert_names_no_flag(&err);
            }
        }
    }
}

/// Each network failure is named for what it is, with only the hints that
/// apply (issue 16, item 7): a name that does not resolve, a port nobody
/// listens on, a server that never answers.
#[tokio::test]
async fn network_failures_say_which_failure_it_was() {
    let transport = combinations()[0];
    let err = ping(transport, "registry.vouch-test.invalid")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OciError::Unreachable { attempts, .. }
            if matches!(attempts[..], [(_, NetworkFailure::Dns { .. })])),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("the host name cannot be resolved"), "{text}");
    assert!(text.contains("check the registry's host name"), "{text}");
    assert!(!text.contains("--allow-http-registry"), "{text}");

    // Accepts, then never says a word: the request times out.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let _connections: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(std::time::Duration::from_secs(3));
    });
    let client = RegistryClient::new(ClientOptions {
        transport,
        request_timeout: std::time::Duration::from_millis(500),
        ..ClientOptions::default()
    })
    .unwrap();
    let err = client
        .ping(&Registry::new(&format!("127.0.0.1:{port}")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OciError::Unreachable { attempts, .. }
            if attempts.iter().all(|(_, f)| matches!(f, NetworkFailure::TimedOut))),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("check your network, firewall or proxy")
    );
    drop(held);
}

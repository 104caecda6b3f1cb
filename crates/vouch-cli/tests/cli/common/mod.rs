//! Shared helpers for the binary tests: the fixtures directory and running `vouch`.

#![allow(dead_code)]

use std::process::{Command, Output};

#[allow(unused_imports)]
pub use vouch_testkit::fixtures;

/// Runs the `vouch` binary with `args`.
pub fn vouch<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("VOUCH_OFFLINE", "1")
        .args(args)
        .output()
        .expect("run vouch")
}

/// The environment variables that change where `vouch` takes trust from.
pub const TRUST_VARIABLES: [&str; 8] = [
    "TUF_ROOT",
    "TUF_MIRROR",
    "TUF_ROOT_JSON",
    "SIGSTORE_ROOT_FILE",
    "SIGSTORE_REKOR_PUBLIC_KEY",
    "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
    "SIGSTORE_TSA_CERTIFICATE_FILE",
    "VOUCH_OFFLINE",
];

/// Keeps a `vouch` run away from the user's TUF cache and trust settings:
/// a cache under the target directory and none of [`TRUST_VARIABLES`]
/// inherited. [`vouch`] then adds `VOUCH_OFFLINE=1`: the tests that verify
/// public-good fixtures use the embedded trusted root and never the network
/// (CI has none).
pub fn isolated(mut command: Command) -> Command {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache");
    command.env("XDG_CACHE_HOME", cache);
    for variable in TRUST_VARIABLES {
        command.env_remove(variable);
    }
    command
}

#[allow(unused_imports)]
pub use vouch_testkit::run_with_stdin;

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` exited with `code` and that its stderr says `fragment`.
pub fn assert_fails(out: &Output, code: i32, fragment: &str) {
    let stderr = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
}

/// A loopback port nothing listens on (bound, then released): a registry or
/// mirror there is unreachable.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts an access failure: exit 4, and `cause` said exactly once.
pub fn assert_access_failure(out: &Output, cause: &str) {
    assert_fails(out, 4, cause);
    let stderr = stderr(out);
    assert_eq!(
        stderr.matches(cause).count(),
        1,
        "said more than once: {stderr}"
    );
}

/// A loopback HTTP forwarder in front of a registry that injects one fault.
pub struct FaultyForwarder {
    /// `127.0.0.1:PORT`.
    pub host: String,
}

/// The fault a [`FaultyForwarder`] injects.
#[derive(Clone)]
pub enum Fault {
    /// A license revoked mid-run: requests pass until one asks for a path
    /// containing this; from then on every request is answered 401, as
    /// vouch-proxy answers a revoked license.
    RevokeFrom(&'static str),
    /// Every request whose path contains this is answered 500.
    ServerErrorOn(&'static str),
    /// Every request whose path contains this is answered 403, as
    /// vouch-proxy answers a version on a channel the license lacks.
    DenyOn(&'static str),
    /// Every request whose path contains this gets no answer for a minute:
    /// a registry that stalls.
    StallOn(&'static str),
}

/// vouch-proxy's answer to a revoked license.
const REVOKED_BODY: &str = r#"{"errors":[{"code":"UNAUTHORIZED","message":"license 7 was revoked at 2026-12-07T10:00:00Z","detail":null}]}"#;
/// vouch-proxy's answer to a version of another channel.
const DENIED_BODY: &str = r#"{"errors":[{"code":"DENIED","message":"tag v2.0.0 is released on channel beta; license 7 is entitled to stable","detail":null}]}"#;
/// A registry's internal error.
const SERVER_ERROR_BODY: &str =
    r#"{"errors":[{"code":"UNKNOWN","message":"internal error","detail":null}]}"#;

impl FaultyForwarder {
    /// Forwards to `upstream` (`host:port`, plain HTTP), injecting `fault`.
    pub fn start(upstream: &str, fault: Fault) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let revoked = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, fault, revoked) = (upstream.clone(), fault.clone(), revoked.clone());
                std::thread::spawn(move || {
                    let Some(head) = read_head(&client) else {
                        return;
                    };
                    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                    let answer = match fault {
                        Fault::RevokeFrom(trigger) => {
                            if path.contains(trigger) {
                                revoked.store(true, Ordering::SeqCst);
                            }
                            revoked
                                .load(Ordering::SeqCst)
                                .then_some(("401 Unauthorized", REVOKED_BODY))
                        }
                        Fault::ServerErrorOn(part) => path
                            .contains(part)
                            .then_some(("500 Internal Server Error", SERVER_ERROR_BODY)),
                        Fault::DenyOn(part) => path
                            .contains(part)
                            .then_some(("403 Forbidden", DENIED_BODY)),
                        Fault::StallOn(part) => {
                            if path.contains(part) {
                                std::thread::sleep(std::time::Duration::from_secs(60));
                                return;
                            }
                            None
                        }
                    };
                    match answer {
                        Some((status, body)) => {
                            let answer = format!(
                                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                                 WWW-Authenticate: Basic realm=\"registry\"\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = (&client).write_all(answer.as_bytes());
                        }
                        None => forward(&client, &head, &upstream),
                    }
                });
            }
        });
        Self { host }
    }
}

use std::io::{Read as _, Write as _};

/// The request line and headers (GET and HEAD carry no body); `None` for a
/// TLS handshake (vouch tries HTTPS first), which is hung up on at once.
fn read_head(mut stream: &std::net::TcpStream) -> Option<String> {
    /// The first byte of a TLS record carrying a handshake.
    const TLS_HANDSHAKE: u8 = 0x16;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0
            || head.len() > 64 * 1024
            || (head.is_empty() && byte[0] == TLS_HANDSHAKE)
        {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// Sends `head` upstream with `Connection: close` and copies the answer back.
fn forward(mut client: &std::net::TcpStream, head: &str, upstream: &str) {
    let Ok(mut server) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    let mut request: String = head
        .trim_end()
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    request.push_str("Connection: close\r\n\r\n");
    if server.write_all(request.as_bytes()).is_ok() {
        let _ = std::io::copy(&mut server, &mut client);
    }
}

/// The identity flags of the testkit's release workflow
/// (`acme/app`, `release.yml`, a `v*` tag, GitHub Actions) and
/// `--trusted-root ROOT`.
pub fn identity_args(root: &std::path::Path) -> Vec<String> {
    [
        "--certificate-identity-regexp",
        r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
        "--trusted-root",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([root.display().to_string()])
    .collect()
}

//! `[server.tls]` through the binary (issue 17, item 1): skopeo and vouch
//! pull through HTTPS with a throwaway CA; HTTP/2 and HTTP/1.1 by ALPN,
//! TLS 1.2 and 1.3 only; a certificate that cannot be served (expired, not
//! the key's, not naming `public_host`) stops `serve` at startup with a
//! message that says which; a new certificate is served without a restart
//! (SIGHUP, or the files changing); the ops listener can require client
//! certificates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vouch_testkit::{IssuedCert, LocalRegistry, Publisher, TestCa, TlsKey, Usage, Validity};

use crate::common::{self, APP, UPSTREAM, VENDOR_PASS, VENDOR_USER};

const BIN: &str = env!("CARGO_BIN_EXE_vouch-proxy");
const SERVER_NAMES: &str = "IP:127.0.0.1,DNS:localhost";
const EMAIL: &str = "a@example.com";

/// A CA, and a state directory for a proxy whose upstream is `upstream`.
struct Setup {
    dir: tempfile::TempDir,
    ca: TestCa,
    upstream: String,
}

impl Setup {
    fn new(upstream: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let Some(ca) = TestCa::new(&dir.path().join("ca")) else {
            eprintln!("SKIP: openssl not found; TLS is not tested");
            return None;
        };
        Some(Self {
            dir,
            ca,
            upstream: upstream.to_string(),
        })
    }

    fn server(&self, name: &str, key: TlsKey, validity: Validity) -> IssuedCert {
        self.ca
            .issue(name, key, validity, Usage::Server, SERVER_NAMES)
    }

    /// Writes the configuration: TLS with `cert`, plus `server_extra` lines
    /// in `[server]` and `tls_extra` in `[server.tls]`.
    fn config(&self, cert: &IssuedCert, server_extra: &str, tls_extra: &str) -> PathBuf {
        let path = self.dir.path().join("proxy.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_secs = 2\n{server_extra}\n\
                 [server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{tls_extra}\n\
                 [state]\ndir = \"{}\"\n\
                 [[upstreams]]\nname = \"{UPSTREAM}\"\nurl = \"{}\"\ninsecure_allow_http = true\n\
                 username = \"{VENDOR_USER}\"\npassword = \"{VENDOR_PASS}\"\n",
                cert.cert.display(),
                cert.key.display(),
                self.dir.path().join("state").display(),
                self.upstream,
            ),
        )
        .unwrap();
        path
    }
}

/// `out`, after asserting that `what` succeeded.
fn succeeded(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn admin(config: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output();
    String::from_utf8(succeeded(&format!("{args:?}"), out.unwrap()).stdout).unwrap()
}

/// `vouch-proxy serve`, with JSON logs collected; killed on drop.
struct Served {
    child: Child,
    addr: std::net::SocketAddr,
    ops: Option<std::net::SocketAddr>,
    logged: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts serving; `Err` with the exit code and stderr when it stops
    /// before it serves.
    fn start(config: &Path) -> Result<Self, (Option<i32>, String)> {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("VOUCH_PROXY_LOG", "info")
            .env("VOUCH_PROXY_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logged = Arc::new(Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stderr, log) = (child.stderr.take().unwrap(), logged.clone());
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addrs) = serving_addresses(&line) {
                    let _ = tx.send(addrs);
                }
                log.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((addr, ops)) = rx.recv_timeout(Duration::from_millis(100)) {
                return Ok(Self {
                    child,
                    addr,
                    ops,
                    logged,
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return Err((status.code(), logged.lock().unwrap().join("\n")));
            }
            assert!(Instant::now() < deadline, "serve did not start");
        }
    }

    /// Sends SIGHUP.
    fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn has_logged(&self, fragment: &str) -> bool {
        self.logged
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(fragment))
    }
}

/// The `listen` and `ops` addresses of the "vouch-proxy serving" line.
fn serving_addresses(line: &str) -> Option<(std::net::SocketAddr, Option<std::net::SocketAddr>)> {
    let addr = common::serving_address(line)?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let ops = value["fields"]["ops"]
        .as_str()
        .and_then(|s| s.strip_prefix("Some(")?.strip_suffix(')')?.parse().ok());
    Some((addr, ops))
}

/// A client trusting only the test CA.
fn client(ca: &TestCa, http: Http) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(&std::fs::read(ca.ca_pem()).unwrap()).unwrap();
    let builder = reqwest::Client::builder()
        .tls_certs_only([root])
        .https_only(true);
    match http {
        Http::Negotiated => builder,
        Http::Http1Only => builder.http1_only(),
    }
    .build()
    .unwrap()
}

#[derive(Clone, Copy)]
enum Http {
    Negotiated,
    Http1Only,
}

/// The SHA-256 fingerprint of the certificate `openssl s_client` is served.
fn served_fingerprint(addr: std::net::SocketAddr) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.is_empty()).then(|| text.trim().to_string())
}

fn fingerprint(cert: &IssuedCert) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert.cert)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `openssl s_client` with one protocol version forced: whether the
/// handshake succeeded.
fn handshake_with(addr: std::net::SocketAddr, version_flag: &str) -> bool {
    Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), version_flag])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn skopeo_and_vouch_pull_through_tls_with_http2_and_tls_1_2_or_later() {
    let Some(registry) = LocalRegistry::start(Some((VENDOR_USER, VENDOR_PASS))) else {
        return;
    };
    let Some(setup) = Setup::new(&registry.url()) else {
        return;
    };
    let pushed = Publisher::new(&registry.host(), Some((VENDOR_USER, VENDOR_PASS))).push_image(
        "acme/app",
        "1.0",
        "app 1.0 over TLS",
    );
    let cert = setup.server("ecdsa", TlsKey::EcdsaP256, Validity::Current);
    let config = setup.config(&cert, "", "");
    admin(
        &config,
        &["app", "add", APP, "--allow", &format!("{UPSTREAM}/acme")],
    );
    admin(&config, &common::ADD_STABLE_1_0);
    let license = admin(&config, &common::license_create_args(EMAIL, "stable"));
    let license = license.trim();
    let served = Served::start(&config).expect("serve with a good certificate");
    let host = served.addr.to_string();
    let image = format!("{host}/proxy/{APP}/{UPSTREAM}/acme/app:1.0");

    // HTTP/2 by ALPN when the client offers it, HTTP/1.1 otherwise; the
    // token realm the challenge names is https.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (http, version) in [
        (Http::Negotiated, reqwest::Version::HTTP_2),
        (Http::Http1Only, reqwest::Version::HTTP_11),
    ] {
        let response = runtime
            .block_on(
                client(&setup.ca, http)
                    .get(format!("https://{host}/v2/"))
                    .send(),
            )
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.version(), version);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(&format!("realm=\"https://{host}/v2/token\"")),
            "{challenge}"
        );
    }
    assert!(handshake_with(served.addr, "-tls1_3"));
    assert!(handshake_with(served.addr, "-tls1_2"));
    assert!(
        !handshake_with(served.addr, "-tls1_1"),
        "TLS 1.1 was accepted"
    );

    // skopeo: the CA in a cert dir, the license as the password.
    if vouch_testkit::tool_available("skopeo") {
        let certs = setup.dir.path().join("skopeo-certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(setup.ca.ca_pem(), certs.join("ca.crt")).unwrap();
        let skopeo = |args: &[&str], creds_flag: &str, cert_flag: &str, to: Option<String>| {
            let mut c = Command::new("skopeo");
            c.args(args)
                .arg(cert_flag)
                .arg(&certs)
                .args([creds_flag, &format!("{EMAIL}:{license}")])
                .arg(format!("docker://{image}"))
                .args(to);
            succeeded("skopeo", c.output().unwrap())
        };
        let layout = setup.dir.path().join("layout");
        skopeo(
            &["copy"],
            "--src-creds",
            "--src-cert-dir",
            Some(format!("oci:{}:app", layout.display())),
        );
        // The copy converted the manifest to OCI; what the proxy served is
        // what `inspect` digests.
        let out = skopeo(
            &["inspect", "--format", "{{.Digest}}"],
            "--creds",
            "--cert-dir",
            None,
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pushed.digest);
    } else {
        eprintln!("SKIP: skopeo not found; pulled with vouch only");
    }

    // vouch: the CA through SSL_CERT_FILE, as for any HTTPS client.
    match sibling_binary("vouch") {
        Some(vouch) => {
            let home = setup.dir.path().join("home");
            std::fs::create_dir_all(&home).unwrap();
            let run = |what: &str, args: &[&str], stdin: &str| {
                let mut c = Command::new(&vouch);
                c.args(args)
                    .env("HOME", &home)
                    .env("SSL_CERT_FILE", setup.ca.ca_pem())
                    .env_remove("SSL_CERT_DIR")
                    .env_remove("DOCKER_CONFIG");
                succeeded(what, vouch_testkit::run_with_stdin(c, stdin.as_bytes()))
            };
            let login = ["login", &host, "-u", EMAIL, "--password-stdin"];
            run("vouch login", &login, license);
            let digest = run("vouch digest", &["digest", &image], "");
            assert_eq!(
                String::from_utf8_lossy(&digest.stdout).trim(),
                pushed.digest
            );
        }
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "the vouch binary is not built beside vouch-proxy (cargo test --workspace builds it)"
            )
        }
        None => eprintln!("SKIP: the vouch binary is not built; run cargo build -p vouch-cli"),
    }
}

/// A binary of another workspace crate, built beside this test's binary
/// (`target/debug/<name>`), when it was built.
fn sibling_binary(name: &str) -> Option<PathBuf> {
    let path = Path::new(BIN).parent()?.join(name);
    path.exists().then_some(path)
}

#[test]
fn certificates_that_cannot_be_served_stop_serve_at_startup_saying_why() {
    let Some(setup) = Setup::new("http://127.0.0.1:9") else {
        return;
    };
    let good = setup.server("good", TlsKey::EcdsaP256, Validity::Current);
    let other = setup.server("other", TlsKey::EcdsaP256, Validity::Current);
    let expired = setup.server("expired", TlsKey::Rsa2048, Validity::Expired);
    let refused = |cert: &IssuedCert, server_extra: &str, fragment: &str| {
        let config = setup.config(cert, server_extra, "");
        match Served::start(&config) {
            Ok(_) => panic!("served a certificate that should be refused ({fragment})"),
            Err((code, stderr)) => {
                assert_eq!(code, Some(1), "{stderr}");
                assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
            }
        }
    };
    refused(
        &expired,
        "",
        "is valid from 2020-01-01T00:00:00Z to 2020-01-02T00:00:00Z",
    );
    let mismatched = IssuedCert {
        cert: good.cert.clone(),
        key: other.key.clone(),
    };
    refused(&mismatched, "", "does not belong to the certificate");
    refused(
        &good,
        "public_host = \"registry.example.com\"",
        "is not valid for server.public_host registry.example.com (its names: 127.0.0.1, localhost)",
    );
    let missing = IssuedCert {
        cert: good.cert.clone(),
        key: setup.dir.path().join("no-such.key"),
    };
    refused(&missing, "", "no-such.key");
    let plain = setup.config(&good, "public_scheme = \"http\"", "");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&plain)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.public_scheme"));

    // An RSA certificate naming the public host (with its port) is served.
    let rsa = setup.server("rsa", TlsKey::Rsa2048, Validity::Current);
    let served = Served::start(&setup.config(&rsa, "public_host = \"localhost:8443\"", ""))
        .expect("an RSA certificate for the public host");
    assert_eq!(
        served_fingerprint(served.addr).as_deref(),
        Some(fingerprint(&rsa).as_str())
    );
}

#[test]
fn a_new_certificate_is_served_without_a_restart() {
    let Some(setup) = Setup::new("http://127.0.0.1:9") else {
        return;
    };
    let first = setup.server("first", TlsKey::EcdsaP256, Validity::Current);
    let served_files = IssuedCert {
        cert: setup.dir.path().join("served.pem"),
        key: setup.dir.path().join("served.key"),
    };
    let install = |cert: &IssuedCert| {
        // As cert-manager does: new files renamed over the old ones.
        for (from, to) in [
            (&cert.cert, &served_files.cert),
            (&cert.key, &served_files.key),
        ] {
            let staged = to.with_extension("new");
            std::fs::copy(from, &staged).unwrap();
            std::fs::rename(&staged, to).unwrap();
        }
    };
    install(&first);
    let served = Served::start(&setup.config(&served_files, "", "")).unwrap();
    let wait_for = |cert: &IssuedCert, within: Duration| {
        let (expected, deadline) = (fingerprint(cert), Instant::now() + within);
        loop {
            let now = served_fingerprint(served.addr);
            if now.as_deref() == Some(expected.as_str()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still served {now:?}, expected {expected}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(&first, Duration::from_secs(5));

    // SIGHUP: the new pair at once.
    let second = setup.server("second", TlsKey::Rsa2048, Validity::Current);
    install(&second);
    served.hangup();
    wait_for(&second, Duration::from_secs(5));

    // An expired pair is refused and logged; the served one stays.
    let expired = setup.server("stale", TlsKey::EcdsaP256, Validity::Expired);
    install(&expired);
    served.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served.has_logged("TLS certificate not reloaded") {
        assert!(
            Instant::now() < deadline,
            "no log line for the refused certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served_fingerprint(served.addr), Some(fingerprint(&second)));

    // No signal: the changed files are noticed on their own.
    let third = setup.server("third", TlsKey::EcdsaP256, Validity::Current);
    install(&third);
    wait_for(
        &third,
        vouch_proxy::tls::RELOAD_CHECK_INTERVAL * 2 + Duration::from_secs(5),
    );
}

#[test]
fn the_ops_listener_can_require_a_client_certificate() {
    let Some(setup) = Setup::new("http://127.0.0.1:9") else {
        return;
    };
    let cert = setup.server("server", TlsKey::EcdsaP256, Validity::Current);
    let ca_file = setup.ca.ca_pem().display().to_string();
    let config = setup.config(
        &cert,
        "ops_listen = \"127.0.0.1:0\"",
        &format!("ops_client_ca_file = \"{ca_file}\""),
    );
    let served = Served::start(&config).unwrap();
    let ops = served.ops.expect("the ops address is logged");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let healthz = format!("https://{ops}/healthz");
    // Without a client certificate: no TLS session, no answer.
    let anonymous = runtime.block_on(client(&setup.ca, Http::Negotiated).get(&healthz).send());
    assert!(anonymous.is_err(), "{anonymous:?}");
    // With one the CA issued: served.
    let operator = setup.ca.issue(
        "prometheus",
        TlsKey::EcdsaP256,
        Validity::Current,
        Usage::Client,
        "",
    );
    let mut identity = std::fs::read(&operator.cert).unwrap();
    identity.extend(std::fs::read(&operator.key).unwrap());
    let root = reqwest::Certificate::from_pem(&std::fs::read(setup.ca.ca_pem()).unwrap()).unwrap();
    let with_identity = reqwest::Client::builder()
        .tls_certs_only([root])
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let response = runtime
        .block_on(with_identity.get(&healthz).send())
        .unwrap();
    assert_eq!(response.status(), 200);
    // The registry listener asks no client certificate.
    let response = runtime
        .block_on(
            client(&setup.ca, Http::Negotiated)
                .get(format!("https://{}/v2/", served.addr))
                .send(),
        )
        .unwrap();
    assert_eq!(response.status(), 401);
}

//! A real OCI registry for tests: Debian's `docker-registry` (distribution
//! 2.8) started on 127.0.0.1 with a fresh storage directory, optionally with
//! bcrypt htpasswd basic auth, and stopped when dropped.
//!
//! Its referrers endpoint always answers a plain-text 404 (research/peers.md
//! §1), which makes it a true upstream for the referrers tag-schema fallback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for the registry to answer `GET /v2/` (it starts in
/// ~70 ms on an idle machine; a loaded CI machine gets 100× that).
pub const REGISTRY_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a registry is started on a fresh port when its port was taken.
const MAX_START_ATTEMPTS: usize = 5;

/// The header each test registry adds to its answers, naming its directory.
const IDENTITY_HEADER: &str = "X-Vouch-Test-Registry";

/// A running `docker-registry`, stopped and deleted on drop.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// Whether an external tool the tests need is on `PATH`. When it is not,
/// this prints a SKIP line and returns false — except under `CI=true`, where
/// CI installs it (scripts/install-test-deps), so its absence is a failure.
pub fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} is not installed (scripts/install-test-deps installs it)");
        }
        eprintln!("SKIP: {tool} is not installed; run scripts/install-test-deps as root");
    }
    found
}

/// `skopeo copy --preserve-digests` from `source` to `destination` (e.g.
/// `docker://127.0.0.1:PORT/repo:tag` to `oci:DIR:tag`), reading the test
/// registry over plain HTTP; panics with skopeo's words when it fails.
pub fn skopeo_copy(source: &str, destination: &str) {
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
        ])
        .args([source, destination])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {source} {destination}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl LocalRegistry {
    /// Starts a registry; with `basic_auth`, every request needs that user
    /// and password. Returns `None` (after saying why) when `docker-registry`
    /// or `htpasswd` is missing outside CI.
    pub fn start(basic_auth: Option<(&str, &str)>) -> Option<Self> {
        Self::start_with(basic_auth, false)
    }

    /// Starts a registry serving HTTPS with a fresh self-signed certificate
    /// for 127.0.0.1 (made with `openssl`), as a private registry might.
    pub fn start_tls() -> Option<Self> {
        if !tool_available("openssl") {
            return None;
        }
        Self::start_with(None, true)
    }

    fn start_with(basic_auth: Option<(&str, &str)>, tls: bool) -> Option<Self> {
        if !tool_available("docker-registry")
            || (basic_auth.is_some() && !tool_available("htpasswd"))
        {
            return None;
        }
        // The port is free when picked but may be taken before the registry
        // binds it (tests run in parallel, other servers pick ports too):
        // then the registry exits, and it is started again on another port.
        for _ in 0..MAX_START_ATTEMPTS {
            let registry = Self::spawn(basic_auth, tls);
            if registry.wait_ready() {
                return Some(registry);
            }
        }
        panic!("docker-registry did not start in {MAX_START_ATTEMPTS} attempts");
    }

    /// Starts `docker-registry` on a port that was free a moment ago.
    fn spawn(basic_auth: Option<(&str, &str)>, tls: bool) -> Self {
        Self::spawn_on(free_port(), basic_auth, tls)
    }

    /// Starts `docker-registry` on `port`.
    fn spawn_on(port: u16, basic_auth: Option<(&str, &str)>, tls: bool) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vouch-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("storage")).expect("registry dir");
        // Every answer carries this header, so a server that took the port
        // first is never mistaken for this registry.
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: \
             127.0.0.1:{port}\n  headers:\n    {IDENTITY_HEADER}: [\"{}\"]\n",
            dir.join("storage").display(),
            dir.display()
        );
        if tls {
            // A certificate from a CA nobody trusts: as good as self-signed
            // to a client, which is what the TLS tests need.
            let ca = crate::TestCa::new(&dir.join("ca")).expect("openssl for a TLS registry");
            let cert = ca.issue(
                "registry",
                crate::TlsKey::EcdsaP256,
                crate::Validity::Current,
                crate::Usage::Server,
                "IP:127.0.0.1",
            );
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.cert.display(),
                cert.key.display()
            ));
        }
        if let Some((user, password)) = basic_auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.join("htpasswd"), &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: vouch-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).expect("write registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("registry.log")).expect("log file"),
            ))
            .spawn()
            .expect("spawn docker-registry");
        Self { child, dir, port }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The registry's own log (errors only), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Waits until this registry answers `GET /v2/` (with its identity
    /// header, over plain HTTP; a TLS registry answers plain HTTP with a
    /// 400 and no headers of its own). `false` when the registry exited
    /// first (its port was taken).
    fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + REGISTRY_START_TIMEOUT;
        let identity = format!("{IDENTITY_HEADER}: {}", self.dir.display()).to_ascii_lowercase();
        let tls = std::fs::read_to_string(self.dir.join("config.yml"))
            .is_ok_and(|c| c.contains("  tls:"));
        while Instant::now() < deadline {
            if self.exited() {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
                let mut answer = Vec::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.take(16 * 1024).read_to_end(&mut answer).is_ok()
                {
                    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
                    if answer.starts_with("http/1.") && (tls || answer.contains(&identity)) {
                        // A moment more: a registry that lost the port race
                        // exits at once, while another server answered.
                        std::thread::sleep(Duration::from_millis(50));
                        return !self.exited();
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "docker-registry did not answer on {} within {REGISTRY_START_TIMEOUT:?}: {}",
            self.host(),
            self.log()
        );
    }

    /// Whether the registry process has ended.
    fn exited(&self) -> bool {
        // `try_wait` needs `&mut`; a zero-signal `kill -0` needs a tool. The
        // pid's /proc entry turns into a zombie's "Z" state once it exits.
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago (the OS picks it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another server on the port answers first; the registry, unable to
    /// bind, exits: that is never taken for a started registry.
    #[test]
    fn a_server_squatting_the_port_is_not_taken_for_the_registry() {
        if !tool_available("docker-registry") {
            eprintln!("SKIP: docker-registry not found");
            return;
        }
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = squatter.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut client in squatter.incoming().flatten() {
                let mut request = [0u8; 1024];
                let _ = client.read(&mut request);
                let _ = client.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let registry = LocalRegistry::spawn_on(port, None, false);
        assert!(!registry.wait_ready());
        // Started normally, it gets a port of its own and answers.
        let registry = LocalRegistry::start(None).unwrap();
        assert_ne!(registry.port, port);
    }

    fn status_of_get_v2(registry: &LocalRegistry, auth: Option<&str>) -> String {
        let mut stream = TcpStream::connect(registry.host()).unwrap();
        let header = auth
            .map(|a| format!("Authorization: Basic {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /v2/ HTTP/1.0\r\nHost: {}\r\n{header}\r\n",
            registry.host()
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.lines().next().unwrap_or_default().to_string()
    }

    #[test]
    fn starts_answers_and_enforces_basic_auth() {
        let Some(open) = LocalRegistry::start(None) else {
            return;
        };
        assert!(
            status_of_get_v2(&open, None).contains("200"),
            "{}",
            open.log()
        );
        let Some(locked) = LocalRegistry::start(Some(("alice@example.com", "LICENSE-1"))) else {
            return;
        };
        assert!(status_of_get_v2(&locked, None).contains("401"));
        use base64::Engine as _;
        let good = base64::engine::general_purpose::STANDARD.encode("alice@example.com:LICENSE-1");
        let bad = base64::engine::general_purpose::STANDARD.encode("alice@example.com:nope");
        assert!(
            status_of_get_v2(&locked, Some(&good)).contains("200"),
            "{}",
            locked.log()
        );
        assert!(status_of_get_v2(&locked, Some(&bad)).contains("401"));
    }
}

//! Issue 22's end-to-end path, through the binaries: a release published
//! to registry A is served by a real `vouch-proxy serve` with a customer
//! license; the customer logs in to the proxy (email + license ID) and runs
//! `vouch release save` through it; the proxy and registry A are stopped;
//! `vouch release verify --layout` passes with nothing reachable; `vouch
//! release load` pushes into registry B (Debian's `docker-registry`), where
//! `vouch verify-release` passes with the policy load wrote; skopeo reads an
//! image from the layout. Every step is checked against the digests
//! registry A holds, so a step that copied, verified or rewrote the wrong
//! thing fails here.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::airgap::{self, Scratch, VERSION};
use super::release::World;
use crate::common;

/// The name registry A has in the proxy's paths (`[[upstreams]] name`).
const UPSTREAM: &str = "registry.vendor.test";
/// The vendor's app in the proxy, allowed `UPSTREAM/acme`.
const APP: &str = "acme";
/// The customer the license is for.
const EMAIL: &str = "ops@customer.example";
/// Registry B's loader.
const LOADER: &str = "loader";
const LOADER_PASSWORD: &str = "loader-secret";
/// The images of the release (the world's three).
const IMAGES: [&str; 3] = ["operator", "ui", "agent"];

/// The `vouch-proxy` binary beside `vouch`: `cargo test --workspace` (CI)
/// builds both, `cargo test -p vouch-cli` only `vouch`. Missing, or older
/// than a file of `crates/vouch-proxy/src` (a proxy built before the
/// sources changed), it is `None` after a SKIP line — except under
/// `CI=true`, where that fails the test.
fn proxy_binary() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_BIN_EXE_vouch")).with_file_name("vouch-proxy");
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vouch-proxy/src");
    let why = match std::fs::metadata(&bin).and_then(|m| m.modified()) {
        Err(_) => "is not built",
        Ok(built) if newest_file(&sources) > built => "is older than its sources",
        Ok(_) => return Some(bin),
    };
    let message = format!(
        "{} {why}: run `cargo build -p vouch-proxy` (or `cargo test --workspace`)",
        bin.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {message}");
    }
    eprintln!("SKIP: {message}");
    None
}

/// The latest modification time of a file under `dir`.
fn newest_file(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_file(&path)
        } else {
            entry.metadata().unwrap().modified().unwrap()
        };
        newest = newest.max(time);
    }
    newest
}

/// `vouch-proxy serve` in front of registry A, over plain HTTP on
/// 127.0.0.1 (a port the system picks), with app [`APP`], the release's
/// version on channel `stable` and one license for [`EMAIL`]; killed on
/// drop. Its log goes to `proxy.log` in its directory.
struct ProxyServe {
    child: Child,
    /// `127.0.0.1:PORT`.
    host: String,
    /// The license's ID, the customer's password.
    license: String,
}

impl ProxyServe {
    fn start(bin: &Path, dir: &Path, upstream: &str, credentials: (&str, &str)) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("proxy.toml");
        let settings = [
            "[server]".to_string(),
            "listen = \"127.0.0.1:0\"".into(),
            "public_scheme = \"http\"".into(),
            format!("[state]\ndir = \"{}\"", dir.join("state").display()),
            format!("[cache]\ndir = \"{}\"", dir.join("cache").display()),
            "[rate_limit]\nrequests_per_second = 0.0".into(),
            format!("[[upstreams]]\nname = \"{UPSTREAM}\"\nurl = \"http://{upstream}\""),
            "insecure_allow_http = true".into(),
            format!(
                "username = \"{}\"\npassword = \"{}\"",
                credentials.0, credentials.1
            ),
        ];
        std::fs::write(&config, settings.join("\n") + "\n").unwrap();
        // `vouch-proxy --config CONFIG ARGS…`, whatever the environment says.
        let proxy = |args: &[&str]| {
            let mut command = Command::new(bin);
            command
                .arg("--config")
                .arg(&config)
                .args(args)
                .env_remove("VOUCH_PROXY_CONFIG");
            command
        };
        // An admin command, written as on a shell; its stdout.
        let admin = |line: String| {
            let out = proxy(&line.split(' ').collect::<Vec<_>>())
                .output()
                .unwrap();
            assert!(out.status.success(), "vouch-proxy {line}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        admin(format!("app add {APP} --allow {UPSTREAM}/acme"));
        admin(format!(
            "channel add-version --app {APP} --channel stable --version {VERSION}"
        ));
        let license = admin(format!(
            "license create --app {APP} --email {EMAIL} --channel stable --expires never"
        ));
        let mut child = proxy(&["serve"])
            .env("VOUCH_PROXY_LOG", "info")
            .env("VOUCH_PROXY_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let host = Self::listening(&mut child, &dir.join("proxy.log"));
        Self {
            child,
            host,
            license: license.trim().to_string(),
        }
    }

    /// Copies the child's log to `log` on a thread (a full pipe would stall
    /// it) and waits for the line that says where it listens.
    fn listening(child: &mut Child, log: &Path) -> String {
        let stderr = child.stderr.take().unwrap();
        let mut log = std::fs::File::create(log).unwrap();
        let (bound, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                use std::io::Write as _;
                let _ = writeln!(log, "{line}");
                let Ok(line) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if line["fields"]["message"] == "vouch-proxy serving"
                    && let Some(listen) = line["fields"]["listen"].as_str()
                {
                    let _ = bound.send(listen.to_string());
                }
            }
        });
        address
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("vouch-proxy serve did not log where it listens")
    }
}

impl Drop for ProxyServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The digest of each image of the release in registry A, read directly
/// (the world's HOME is logged in to A): what every later step must end
/// with.
fn published_digests(w: &World) -> BTreeMap<&'static str, String> {
    IMAGES
        .iter()
        .map(|name| {
            let out = w
                .command()
                .args([
                    "digest",
                    &format!("{}/acme/{name}:{VERSION}", w.registry.host()),
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", common::stderr(&out));
            (*name, airgap::stdout(&out).trim().to_string())
        })
        .collect()
}

/// Asserts a `-o json` release report that passed with exactly the
/// published images, each verified (signer, SBOM, provenance, VEX) at its
/// published digest, under `registry` (`<registry>/<name>:…`).
fn assert_verified(out: &Output, published: &BTreeMap<&str, String>, registry: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(out));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", airgap::stdout(out)));
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["verified"], published.len(), "{report:#}");
    assert_eq!(report["accessFailure"], Value::Null, "{report:#}");
    let rows = report["images"].as_array().unwrap();
    assert_eq!(rows.len(), published.len(), "{report:#}");
    for row in rows {
        let name = row["name"].as_str().unwrap();
        assert_eq!(row["verdict"], "OK", "{row:#}");
        assert_eq!(row["digest"].as_str(), Some(published[name].as_str()));
        assert!(
            row["reference"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{registry}/{name}")),
            "{row:#}"
        );
        for field in ["signer", "sbomPackages", "slsaBuilder", "vexStatements"] {
            assert!(!row[field].is_null(), "{field} missing: {row:#}");
        }
    }
}

#[test]
fn a_release_served_by_vouch_proxy_with_a_license_is_saved_verified_offline_and_loaded_into_a_mirror()
 {
    let Some(w) = airgap::world("proxy") else {
        return;
    };
    let Some(bin) = proxy_binary() else { return };
    let scratch = Scratch::new("proxy");
    let published = published_digests(&w);
    let proxy = ProxyServe::start(
        &bin,
        &scratch.0.join("proxy"),
        &w.registry.host(),
        (super::release::USER, super::release::PASSWORD),
    );
    let served = format!("{}/proxy/{APP}/{UPSTREAM}", proxy.host);
    let policy = w.policy("proxy.toml", &served, "[[image]]\nname = \"agent\"\n");
    let trusted_root = scratch.0.join("trusted_root.json");
    std::fs::copy(w.dir.join("trusted_root.json"), &trusted_root).unwrap();

    // The customer's machine: its own HOME, no credentials for registry A.
    let home = scratch.0.join("customer");
    std::fs::create_dir_all(&home).unwrap();
    let customer = || {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.env("HOME", &home).env_remove("DOCKER_CONFIG");
        c
    };
    let login = |host: &str, user: &str, password: &str| {
        let mut login = customer();
        login.args(["login", host, "-u", user, "--password-stdin"]);
        let out = common::run_with_stdin(login, password.as_bytes());
        assert!(out.status.success(), "{}", common::stderr(&out));
    };
    let layout = scratch.0.join("layout");
    let save = || {
        customer()
            .args(["release", "save", "--version", VERSION, "--policy"])
            .arg(&policy)
            .arg("--trusted-root")
            .arg(&trusted_root)
            .arg("--output")
            .arg(&layout)
            .output()
            .unwrap()
    };

    // Without the license the proxy lets nothing through: nothing is saved.
    let out = save();
    assert_eq!(out.status.code(), Some(4), "{}", common::stderr(&out));
    assert!(!layout.join("index.json").exists());

    login(&proxy.host, EMAIL, &proxy.license);
    let out = save();
    assert!(
        out.status.success(),
        "{}{}",
        airgap::stdout(&out),
        common::stderr(&out)
    );
    assert!(
        airgap::stdout(&out).contains("Saved release v2.0.0: 3 images"),
        "{}",
        airgap::stdout(&out)
    );
    let digest = airgap::layout_digest(&out);
    // The layout holds what registry A published, under the proxy's names.
    let index = airgap::read_index(&layout);
    for (name, published) in &published {
        let image = airgap::entry(&index, "image", Some(name));
        assert_eq!(image["digest"].as_str(), Some(published.as_str()));
        assert_eq!(
            image["annotations"]["org.opencontainers.image.ref.name"],
            format!("{served}/acme/{name}:{VERSION}")
        );
    }

    // The air gap: the proxy and registry A are gone.
    drop(proxy);
    drop(w);
    let out = airgap::verify(&layout, &["--layout-digest", &digest, "-o", "json"]);
    assert_verified(&out, &published, &format!("{served}/acme"));

    // Registry B, inside the air gap.
    let Some(mirror) = vouch_testkit::LocalRegistry::start(Some((LOADER, LOADER_PASSWORD))) else {
        return;
    };
    login(&mirror.host(), LOADER, LOADER_PASSWORD);
    let prefix = format!("{}/mirror/acme", mirror.host());
    let written = scratch.0.join("mirror.toml");
    let out = customer()
        .args(["release", "load", "--layout"])
        .arg(&layout)
        .args(["--layout-digest", &digest, "--to", &prefix, "-o", "json"])
        .arg("--policy-out")
        .arg(&written)
        .output()
        .unwrap();
    assert_verified(&out, &published, &prefix);
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains(&format!("registry = \"{prefix}\"")), "{text}");
    assert!(!text.contains(UPSTREAM), "{text}");

    // The cluster's day-to-day check, against B with the written policy.
    let out = customer()
        .args([
            "verify-release",
            "--version",
            VERSION,
            "-o",
            "json",
            "--policy",
        ])
        .arg(&written)
        .arg("--trusted-root")
        .arg(&trusted_root)
        .output()
        .unwrap();
    assert_verified(&out, &published, &prefix);

    // skopeo reads an image from the layout, by the name the index gives it.
    if !vouch_testkit::tool_available("skopeo") {
        return;
    }
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:{served}/acme/operator:{VERSION}",
            layout.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&out.stdout))),
        published["operator"]
    );
}

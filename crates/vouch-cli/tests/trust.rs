//! Trust material through the binary: TUF from a loopback mirror (python-tuf
//! repositories whose `trusted_root.json` target is the public-good root),
//! the cache, `--offline`, `vouch trust show/export/import`, the environment
//! variables, and the message when the mirror is unreachable.
//!
//! Needs python-tuf (SKIP without it, FAIL under CI=true); the verify tests
//! also need the real fixtures.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use vouch_testkit::tuf::{StaticMirror, TufRepos, snapshot_dir};

const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn repos() -> Option<&'static TufRepos> {
    static REPOS: OnceLock<Option<TufRepos>> = OnceLock::new();
    REPOS
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("cli-tuf-repos-{}", std::process::id()));
            TufRepos::generate(
                &dir,
                sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes(),
            )
        })
        .as_ref()
}

/// A scratch directory, a mirror serving the v1 repository, and the flags
/// that point vouch at both.
struct World {
    repos: &'static TufRepos,
    mirror: StaticMirror,
    dir: PathBuf,
}

impl World {
    fn new(name: &str) -> Option<Self> {
        let repos = repos()?;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-trust-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mirror = StaticMirror::serve(&repos.repo("v1"));
        Some(Self { repos, mirror, dir })
    }

    fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// `--tuf-mirror … --tuf-root … --tuf-cache <cache>`.
    fn tuf_flags(&self, cache: &Path) -> Vec<String> {
        vec![
            "--tuf-mirror".into(),
            self.mirror.url(),
            "--tuf-root".into(),
            self.repos.bootstrap_root().display().to_string(),
            "--tuf-cache".into(),
            cache.display().to_string(),
        ]
    }

    fn run(&self, args: &[String]) -> Output {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .env("HOME", &self.dir)
            .args(args)
            .output()
            .unwrap()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `verify-blob` arguments for the real sigstore-js bundle.
fn verify_blob_args() -> Option<Vec<String>> {
    let f = common::fixtures()?;
    Some(vec![
        "verify-blob".into(),
        "--bundle".into(),
        f.join("gh-cli/sigstore-js-2.1.0-bundle.json")
            .display()
            .to_string(),
        "--certificate-identity-regexp".into(),
        r"https://github\.com/sigstore/sigstore-js/.*".into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
        f.join("gh-cli/sigstore-js-2.1.0.tgz").display().to_string(),
    ])
}

#[test]
fn verify_blob_refreshes_from_the_mirror_once_then_uses_the_cache() {
    let Some(w) = World::new("refresh") else {
        return;
    };
    let Some(mut args) = verify_blob_args() else {
        return;
    };
    args.extend(w.tuf_flags(&w.cache()));
    let out = w.run(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let used = w.mirror.requests();
    assert!(used >= 4, "expected a TUF refresh, saw {used} requests");
    assert!(common::stderr(&out).contains("Verified OK") || out.stdout.len() > 2);

    let again = w.run(&args);
    assert!(again.status.success(), "{}", common::stderr(&again));
    assert_eq!(
        w.mirror.requests(),
        used,
        "a valid cache must not go online"
    );
}

#[test]
fn unreachable_mirror_says_how_to_work_offline() {
    let Some(w) = World::new("unreachable") else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = strings(&["trust", "export"]);
    args.push(w.dir.join("out").display().to_string());
    args.extend(strings(&[
        "--tuf-mirror",
        &format!("http://127.0.0.1:{port}"),
        "--tuf-root",
    ]));
    args.push(w.repos.bootstrap_root().display().to_string());
    args.extend(strings(&["--tuf-cache", &w.cache().display().to_string()]));
    let out = w.run(&args);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach the TUF mirror http://127.0.0.1:{port}"
        )),
        "{err}"
    );
    for hint in ["--offline", "--trusted-root FILE", "vouch trust import DIR"] {
        assert!(err.contains(hint), "missing `{hint}` in: {err}");
    }
    assert!(!w.cache().exists(), "nothing cached after a failure");
}

#[test]
fn offline_without_cache_uses_the_embedded_root_and_says_how_old() {
    let Some(w) = World::new("offline-embedded") else {
        return;
    };
    let mut args = strings(&["trust", "show", "--offline", "--tuf-cache"]);
    args.push(w.cache().display().to_string());
    let out = w.run(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "Source: Sigstore production trusted root embedded in vouch, as of 2026-10-23 ("
        ),
        "{text}"
    );
    assert!(text.contains("days old); no TUF cache at"), "{text}");
    assert!(text.contains("https://fulcio.sigstore.dev"), "{text}");
    assert_eq!(w.mirror.requests(), 0);
}

#[test]
fn trust_show_json_reports_tuf_versions_instances_and_age() {
    let Some(w) = World::new("show") else {
        return;
    };
    let mut export = strings(&["trust", "export"]);
    export.push(w.dir.join("out").display().to_string());
    export.extend(w.tuf_flags(&w.cache()));
    let out = w.run(&export);
    assert!(out.status.success(), "{}", common::stderr(&out));

    let mut show = strings(&["trust", "show", "-o", "json"]);
    show.extend(w.tuf_flags(&w.cache()));
    let used = w.mirror.requests();
    let out = w.run(&show);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(w.mirror.requests(), used, "show never goes online");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let source = &doc["source"];
    assert_eq!(source["kind"], "tuf");
    assert_eq!(source["mirror"], w.mirror.url());
    assert_eq!(source["root_version"], 1);
    assert_eq!(source["timestamp_version"], 1);
    assert_eq!(source["ageDays"], 0);
    assert_eq!(source["stale"], false);
    let instances = doc["instances"].as_array().unwrap();
    for kind in ["certificate-authority", "transparency-log", "ct-log"] {
        assert!(
            instances
                .iter()
                .any(|i| i["kind"] == kind && i["valid_from"].is_string()),
            "no {kind} with a validity window in {doc}"
        );
    }
}

#[test]
fn air_gap_export_import_then_verify_offline() {
    let Some(w) = World::new("airgap") else {
        return;
    };
    let out_dir = w.dir.join("carried");
    let mut export = strings(&["trust", "export"]);
    export.push(out_dir.display().to_string());
    export.extend(w.tuf_flags(&w.cache()));
    let out = w.run(&export);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(out_dir.join("trusted_root.json").is_file());

    // The air-gapped machine: its own cache, and the mirror is gone for it.
    let gapped = w.dir.join("gapped-cache");
    let mut import = strings(&["trust", "import"]);
    import.push(out_dir.display().to_string());
    import.extend(w.tuf_flags(&gapped));
    let out = w.run(&import);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("Verified and imported"));

    let Some(mut verify) = verify_blob_args() else {
        return;
    };
    let used = w.mirror.requests();
    let mut offline = verify.clone();
    offline.push("--offline".into());
    offline.extend(w.tuf_flags(&gapped));
    let out = w.run(&offline);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Note: --offline: TUF metadata of"), "{err}");
    assert!(err.contains("(0 days ago)"), "{err}");
    assert_eq!(w.mirror.requests(), used, "--offline touched the network");

    // The carried trusted_root.json also works on its own.
    verify.push("--trusted-root".into());
    verify.push(out_dir.join("trusted_root.json").display().to_string());
    let out = w.run(&verify);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn import_of_a_tampered_export_fails_and_installs_nothing() {
    let Some(w) = World::new("import-tampered") else {
        return;
    };
    let out_dir = w.dir.join("carried");
    let mut export = strings(&["trust", "export"]);
    export.push(out_dir.display().to_string());
    export.extend(w.tuf_flags(&w.cache()));
    assert!(w.run(&export).status.success());
    let ts = out_dir.join("tuf/timestamp.json");
    let text = std::fs::read_to_string(&ts).unwrap();
    std::fs::write(&ts, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();

    let gapped = w.dir.join("gapped-cache");
    let mut import = strings(&["trust", "import"]);
    import.push(out_dir.display().to_string());
    import.extend(w.tuf_flags(&gapped));
    let out = w.run(&import);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("signature threshold not met for role timestamp"),
        "{err}"
    );
    assert!(snapshot_dir(&gapped).is_empty(), "nothing may be installed");
}

#[test]
fn tuf_root_env_is_the_cache_directory() {
    let Some(w) = World::new("tuf-root-env") else {
        return;
    };
    let cache = w.dir.join("from-env");
    let mut args = strings(&["trust", "export"]);
    args.push(w.dir.join("out").display().to_string());
    args.extend(strings(&["--tuf-mirror", &w.mirror.url(), "--tuf-root"]));
    args.push(w.repos.bootstrap_root().display().to_string());
    let out = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("TUF_ROOT", &cache)
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mirror_dir = w.mirror.url().replace("http://", "").replace(':', "-");
    assert!(
        cache.join(mirror_dir).join("timestamp.json").is_file(),
        "{:?}",
        snapshot_dir(&cache)
            .iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    );
}

#[test]
fn sigstore_root_file_is_refused_with_advice() {
    let out = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("SIGSTORE_ROOT_FILE", "/etc/fulcio.pem")
        .args(["trust", "show"])
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SIGSTORE_ROOT_FILE is set (/etc/fulcio.pem)"),
        "{err}"
    );
    assert!(err.contains("--trusted-root FILE"), "{err}");
}

#[test]
fn tuf_mirror_needs_tuf_root_and_excludes_trusted_root() {
    let out = common::vouch(["trust", "show", "--tuf-mirror", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("--tuf-root"));
    let out = common::vouch([
        "trust",
        "show",
        "--trusted-root",
        "x.json",
        "--tuf-mirror",
        "http://127.0.0.1:1",
        "--tuf-root",
        "r.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("cannot be used with"));
}

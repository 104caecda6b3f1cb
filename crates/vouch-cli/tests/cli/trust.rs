//! Trust material through the binary: TUF from a loopback mirror (python-tuf
//! repositories whose `trusted_root.json` target is the public-good root),
//! the cache, `--offline`, `vouch trust show/export/import`, the environment
//! variables, and the message when the mirror is unreachable.
//!
//! Needs python-tuf (SKIP without it, FAIL under CI=true); the verify tests
//! also need the real fixtures.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use vouch_testkit::tuf::{StaticMirror, TufRepos, snapshot_dir};
use vouch_testkit::{Identity, VirtualSigstore};
use vouch_trust::{TrustSource, TufInstance, TufOptions};

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
    assert!(
        common::stderr(&out).contains("Verified OK"),
        "{}",
        common::stderr(&out)
    );

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
    let port = common::closed_port();
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
    // An unreachable mirror is an access failure (4), as a registry is.
    assert_eq!(out.status.code(), Some(4), "{err}");
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

    // A private mirror has no embedded fallback: exit 3, and the mirror is
    // never asked (without --offline the same command fetches from it).
    let Some(mut args) = verify_blob_args() else {
        return;
    };
    args.extend(w.tuf_flags(&w.cache()));
    args.push("--offline".into());
    let out = w.run(&args);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--offline: no TUF cache for"), "{err}");
    assert_eq!(w.mirror.requests(), 0, "--offline asked the mirror");
    args.pop();
    let out = w.run(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(w.mirror.requests() > 0);
}

#[test]
fn offline_with_an_expired_cache_warns_with_its_age_and_still_verifies() {
    let Some(w) = World::new("stale") else {
        return;
    };
    let Some(mut args) = verify_blob_args() else {
        return;
    };
    // The CLI has no clock to set: the library fills the cache as of ten
    // days ago from a repository whose timestamp expired yesterday (valid
    // then), so that to the CLI, now, the cache is stale.
    w.mirror.set_root(&w.repos.repo("frozen-timestamp"));
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86_400);
    let opts = TufOptions::new(
        TufInstance::Custom {
            mirror: w.mirror.url(),
            root_file: Some(w.repos.bootstrap_root()),
        },
        w.cache(),
    );
    TrustSource::Tuf(opts).load(ten_days_ago).unwrap();

    args.extend(w.tuf_flags(&w.cache()));
    args.push("--offline".into());
    let used = w.mirror.requests();
    let out = w.run(&args);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "WARNING: --offline: the TUF timestamp metadata of {} expired at ",
            w.mirror.url()
        )),
        "{err}"
    );
    assert!(err.contains("(10 days ago)"), "{err}");
    assert!(
        err.contains("Refresh online or `vouch trust import` a newer export"),
        "{err}"
    );
    assert!(err.contains("Verified OK"), "{err}");
    assert_eq!(w.mirror.requests(), used, "--offline asked the mirror");
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
fn trust_refresh_goes_online_although_the_cache_is_current() {
    let Some(w) = World::new("force-refresh") else {
        return;
    };
    let show = |args: &[&str]| {
        let mut all = strings(args);
        all.extend(strings(&["-o", "json"]));
        all.extend(w.tuf_flags(&w.cache()));
        let out = w.run(&all);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc["source"]["timestamp_version"].clone(), out)
    };
    let (version, _) = show(&["trust", "refresh"]);
    assert_eq!(version, 1);
    w.mirror.set_root(&w.repos.repo("v3"));
    // `show` (and every verify) keeps using the current cache ...
    let used = w.mirror.requests();
    assert_eq!(show(&["trust", "show"]).0, 1);
    assert_eq!(w.mirror.requests(), used);
    // ... `refresh` fetches the new metadata now and caches it.
    let (version, out) = show(&["trust", "refresh"]);
    assert_eq!(version, 3);
    assert!(
        common::stderr(&out).contains(&format!("Refreshed from {}", w.mirror.url())),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(show(&["trust", "show"]).0, 3);

    // `trust refresh` plus `extra` fails with exit `code` saying `expected`.
    let refused = |extra: &[&str], code: i32, expected: &str| {
        let mut args = strings(&["trust", "refresh"]);
        args.extend(strings(extra));
        args.extend(w.tuf_flags(&w.cache()));
        let out = w.run(&args);
        let stderr = common::stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    };
    // A mirror gone back to older metadata: refused (exit 1), cache kept.
    w.mirror.set_root(&w.repos.repo("v1"));
    refused(&[], 1, "rollback detected for timestamp");
    assert_eq!(show(&["trust", "show"]).0, 3);

    // --offline contradicts it: a usage error (exit 2), no request.
    let used = w.mirror.requests();
    refused(&["--offline"], 2, "forbids the network");
    assert_eq!(w.mirror.requests(), used);
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

/// A blob signed by a private (virtual) Sigstore instance, its bundle, and
/// that instance's Fulcio chain, Rekor key and CT log key as PEM files: what
/// a cosign user points the `SIGSTORE_*` variables at.
struct PrivateSigstore {
    dir: PathBuf,
}

impl PrivateSigstore {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-env-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sigstore = VirtualSigstore::new("private-env", 1_750_000_000);
        let identity = Identity::github_actions(
            "acme/app",
            ".github/workflows/release.yml",
            "refs/tags/v1.0.0",
        );
        let signed = sigstore.sign_blob(b"release notes", identity);
        for (file, text) in [
            ("blob", "release notes".to_string()),
            ("blob.sigstore.json", signed.json),
            ("fulcio.pem", sigstore.fulcio_chain_pem()),
            ("rekor.pub", sigstore.rekor_public_key_pem()),
            ("ctfe.pub", sigstore.ct_log_public_key_pem()),
            (
                "two-keys.pub",
                sigstore.rekor_public_key_pem() + &sigstore.ct_log_public_key_pem(),
            ),
            (
                "public-good.json",
                sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.to_string(),
            ),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// The three variables a keyless verification needs.
    fn all(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SIGSTORE_ROOT_FILE", self.path("fulcio.pem")),
            ("SIGSTORE_REKOR_PUBLIC_KEY", self.path("rekor.pub")),
            ("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", self.path("ctfe.pub")),
        ]
    }

    /// `vouch <args>` offline (public-good embedded root) with `env`.
    fn run(&self, env: &[(&str, String)], args: &[String]) -> Output {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .env("VOUCH_OFFLINE", "1")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .args(args)
            .output()
            .unwrap()
    }

    /// `verify-blob` of the signed blob, with `extra` flags.
    fn verify_blob_args(&self, extra: &[String]) -> Vec<String> {
        let mut args = strings(&["verify-blob", "--bundle"]);
        args.push(self.path("blob.sigstore.json"));
        args.extend(strings(&[
            "--certificate-identity-regexp",
            r"https://github\.com/acme/app/.*",
            "--certificate-oidc-issuer",
            ISSUER,
        ]));
        args.extend_from_slice(extra);
        args.push(self.path("blob"));
        args
    }

    fn verify_blob(&self, env: &[(&str, String)], extra: &[String]) -> Output {
        self.run(env, &self.verify_blob_args(extra))
    }
}

#[test]
fn sigstore_variables_replace_their_part_of_the_trusted_root_as_in_cosign() {
    let p = PrivateSigstore::new("replace");
    let out = p.verify_blob(&p.all(), &[]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    for (variable, replaced) in [
        ("SIGSTORE_ROOT_FILE", "Fulcio certificate authorities"),
        ("SIGSTORE_REKOR_PUBLIC_KEY", "Rekor transparency log keys"),
        (
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            "certificate transparency log keys",
        ),
    ] {
        assert!(
            err.contains(&format!("Note: {variable}=")) && err.contains(replaced),
            "{err}"
        );
    }

    // Without them the public-good root does not know this instance.
    let out = p.verify_blob(&[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));

    // Each one replaces only its own part: leaving out any one of the three
    // leaves the public-good material for that part, which must fail.
    let reasons = [
        "was not issued by a certificate authority of the trusted root",
        "transparency log verification failed",
        "invalid signed certificate timestamp",
    ];
    for (left_out, reason) in reasons.iter().enumerate() {
        let mut env = p.all();
        let (variable, _) = env.remove(left_out);
        let out = p.verify_blob(&env, &[]);
        let err = common::stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "verified without {variable}: {err}"
        );
        assert!(
            err.contains(reason),
            "without {variable}: expected {reason:?} in {err}"
        );
    }
}

#[test]
fn fulcio_rekor_and_ct_variables_together_need_no_tuf() {
    let p = PrivateSigstore::new("no-tuf");
    // Not offline, and the TUF mirror is a closed port with a root file that
    // does not exist: any use of TUF would fail.
    let port = common::closed_port();
    let tuf = strings(&[
        "--tuf-mirror",
        &format!("http://127.0.0.1:{port}"),
        "--tuf-root",
        "/nonexistent/root.json",
    ]);
    let online = |args: &[String]| {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .envs(p.all())
            .args(args)
            .args(&tuf)
            .output()
            .unwrap()
    };
    let out = online(&p.verify_blob_args(&[]));
    assert!(out.status.success(), "{}", common::stderr(&out));

    let out = online(&strings(&["trust", "show", "--output", "json"]));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"]["kind"], "environment");
    let kinds: Vec<&str> = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    // Nothing from public-good: the file's two CAs (intermediate, root),
    // one log, one CT log, no TSA.
    assert_eq!(
        kinds,
        [
            "certificate-authority",
            "certificate-authority",
            "transparency-log",
            "ct-log"
        ],
        "{doc}"
    );
}

#[test]
fn trusted_root_wins_over_sigstore_variables_with_a_note() {
    let p = PrivateSigstore::new("trusted-root-wins");
    let out = p.verify_blob(
        &p.all(),
        &strings(&["--trusted-root", &p.path("public-good.json")]),
    );
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "Note: --trusted-root is given, so SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY, \
             SIGSTORE_CT_LOG_PUBLIC_KEY_FILE are ignored (as in cosign)"
        ),
        "{err}"
    );
}

#[test]
fn unusable_sigstore_variable_files_are_refused_with_the_variable_named() {
    let p = PrivateSigstore::new("refused");
    let cases = [
        (
            "SIGSTORE_REKOR_PUBLIC_KEY",
            p.path("two-keys.pub"),
            "SIGSTORE_REKOR_PUBLIC_KEY: expected one PEM `PUBLIC KEY` block, found 2 blocks"
                .to_string(),
        ),
        (
            "SIGSTORE_ROOT_FILE",
            p.path("rekor.pub"),
            "SIGSTORE_ROOT_FILE: block 1: expected a PEM `CERTIFICATE`, found `PUBLIC KEY`"
                .to_string(),
        ),
        (
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
            p.path("missing.pub"),
            format!("cannot read {}", p.path("missing.pub")),
        ),
    ];
    for (variable, file, expected) in cases {
        let mut env = p.all();
        env.retain(|(k, _)| *k != variable);
        env.push((variable, file));
        let out = p.verify_blob(&env, &[]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{variable}: {err}");
        assert!(err.contains(&expected), "expected {expected:?} in: {err}");
    }
    // Set but empty counts as unset, as in cosign.
    let out = p.run(
        &[("SIGSTORE_ROOT_FILE", String::new())],
        &strings(&["trust", "show", "--output", "json"]),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["overrides"], serde_json::json!([]));
}

#[test]
fn trust_show_lists_what_the_variables_replaced() {
    let p = PrivateSigstore::new("show");
    let env = [("SIGSTORE_REKOR_PUBLIC_KEY", p.path("rekor.pub"))];
    let out = p.run(&env, &strings(&["trust", "show", "--output", "json"]));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["overrides"][0]["variable"], "SIGSTORE_REKOR_PUBLIC_KEY");
    assert_eq!(doc["overrides"][0]["path"], p.path("rekor.pub"));
    let instances = doc["instances"].as_array().unwrap();
    let tlogs: Vec<_> = instances
        .iter()
        .filter(|i| i["kind"] == "transparency-log")
        .collect();
    assert_eq!(tlogs.len(), 1, "{instances:?}");
    assert_eq!(tlogs[0]["url"], p.path("rekor.pub"));
    assert!(
        instances
            .iter()
            .any(|i| i["url"] == "https://fulcio.sigstore.dev"),
        "the other parts stay public-good: {instances:?}"
    );
}

#[test]
fn tuf_mirror_and_tuf_root_json_variables_work_as_the_flags() {
    let Some(w) = World::new("tuf-env") else {
        return;
    };
    let Some(args) = verify_blob_args() else {
        return;
    };
    let cache = w.cache();
    let run = |env: &[(&str, String)]| {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .env("HOME", &w.dir)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .args(&args)
            .output()
            .unwrap()
    };
    let mirror = ("TUF_MIRROR", w.mirror.url());
    let cache_env = ("TUF_ROOT", cache.display().to_string());
    let out = run(&[
        mirror.clone(),
        cache_env.clone(),
        (
            "TUF_ROOT_JSON",
            w.repos.bootstrap_root().display().to_string(),
        ),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        w.mirror.requests() >= 4,
        "expected a refresh from TUF_MIRROR"
    );

    // As cosign after `initialize`: TUF_MIRROR alone starts from the root
    // cached for that mirror.
    let out = run(&[mirror.clone(), cache_env]);
    assert!(out.status.success(), "{}", common::stderr(&out));

    // With nothing cached, it says what to give.
    let out = run(&[
        mirror,
        ("TUF_ROOT", w.dir.join("empty").display().to_string()),
    ]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no root.json to start TUF for")
            && err.contains("--tuf-root FILE (or TUF_ROOT_JSON)"),
        "{err}"
    );
}

#[test]
fn tuf_root_needs_tuf_mirror_and_trusted_root_wins_over_both() {
    let out = common::vouch(["trust", "show", "--tuf-root", "r.json"]);
    common::assert_fails(&out, 2, "give its --tuf-mirror URL (or TUF_MIRROR) too");
    let Some(f) = common::fixtures() else {
        return;
    };
    let root = f.join("trust/production-trusted_root.json");
    let out = common::vouch([
        "trust".as_ref(),
        "show".as_ref(),
        "--trusted-root".as_ref(),
        root.as_os_str(),
        "--tuf-mirror".as_ref(),
        "http://127.0.0.1:1".as_ref(),
    ]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--trusted-root bypasses TUF, so --tuf-mirror/--tuf-root"),
        "{err}"
    );
}

#[test]
fn tuf_variables_empty_or_naming_public_good_act_as_cosign() {
    let run = |env: &[(&str, &str)]| {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .envs(env.iter().copied())
            .args(["trust", "show", "--output", "json"])
            .output()
            .unwrap()
    };
    // Set but empty counts as unset: the default public-good instance.
    let out = run(&[("TUF_MIRROR", ""), ("TUF_ROOT_JSON", ""), ("TUF_ROOT", "")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"]["kind"], "embedded", "{doc}");

    // The public-good URL is public-good (embedded root), not a private
    // mirror wanting a root.json; TUF_ROOT_JSON without a mirror is ignored.
    for env in [
        vec![("TUF_MIRROR", "https://tuf-repo-cdn.sigstore.dev/")],
        vec![("TUF_ROOT_JSON", "/nonexistent/root.json")],
    ] {
        let out = run(&env);
        assert!(out.status.success(), "{env:?}: {}", common::stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["source"]["kind"], "embedded", "{env:?}: {doc}");
    }
    // An explicitly empty --tuf-mirror is a usage error.
    let out = common::vouch(["trust", "show", "--tuf-mirror", ""]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("--tuf-mirror is empty"));
}

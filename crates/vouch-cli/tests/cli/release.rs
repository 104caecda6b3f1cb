//! `vouch verify-release` through the binary: table, JSON, JUnit, VEX files
//! and the exit code — and that it fails closed: a missing image, a mistyped
//! version, a run that verified nothing, a refused license or an unreachable
//! registry never exit 0, and access failures are exit 4, said once.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};

use vouch_testkit::{
    Identity, Layout, LocalRegistry, Publisher, VirtualSigstore, standard_attestations,
};

pub(super) const USER: &str = "alice@example.com";
pub(super) const PASSWORD: &str = "LICENSE-0001";
pub(super) const BUILDER: &str =
    "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";

/// A registry with `acme/operator:v2.0.0` (bundle layout) and
/// `acme/ui:v2.0.0` (legacy layout), both signed with the three standard
/// attestations; a HOME logged in to it.
pub(super) struct World {
    pub(super) registry: LocalRegistry,
    pub(super) dir: PathBuf,
    /// The Sigstore the release is signed with.
    pub(super) sigstore: VirtualSigstore,
    /// The vendor's release workflow.
    pub(super) vendor: Identity,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn world(name: &str) -> Option<World> {
    let registry = LocalRegistry::start(Some((USER, PASSWORD)))?;
    let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
    let vendor = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v2.0.0",
    );
    let mut p = Publisher::new(&registry.host(), Some((USER, PASSWORD)));
    let atts = standard_attestations("x", "v2.0.0", BUILDER, &vendor);
    for (image, layout) in [
        ("acme/operator", Layout::Bundle),
        ("acme/ui", Layout::Legacy),
    ] {
        p.push_signed_image(&sigstore, image, "v2.0.0", layout, Some(&vendor), &atts);
    }
    let dir = std::env::temp_dir().join(format!("vouch-cli-release-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    let w = World {
        registry,
        dir,
        sigstore,
        vendor,
    };
    w.login(&w.registry.host());
    Some(w)
}

impl World {
    pub(super) fn command(&self) -> Command {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.env("HOME", &self.dir).env_remove("DOCKER_CONFIG");
        c
    }

    /// Logs in to `host` through the binary.
    pub(super) fn login(&self, host: &str) {
        let mut login = self.command();
        login.args(["login", host, "-u", USER, "--password-stdin"]);
        let login = common::run_with_stdin(login, PASSWORD.as_bytes());
        assert!(login.status.success(), "{}", common::stderr(&login));
        // On stdout, as `docker login` prints it.
        assert_eq!(stdout(&login), "Login Succeeded\n");
    }

    /// Writes a policy for `registry` (the vendor's identity, the three
    /// attestations, images `operator` and `ui`, then `extra`) as `file`.
    pub(super) fn policy(&self, file: &str, registry: &str, extra: &str) -> PathBuf {
        let text = format!(
            "registry = \"{registry}/acme\"\n[identity]\nsubject_regexp = 'https://github\\.com/acme/platform/.*'\nissuer = \"https://token.actions.githubusercontent.com\"\n[attestations]\nrequired = [\"spdxjson\", \"slsaprovenance1\", \"openvex\"]\n[[image]]\nname = \"operator\"\n[[image]]\nname = \"ui\"\n{extra}"
        );
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A [`common::FaultyForwarder`] with `fault` in front of the registry,
    /// logged in to, and a policy (`file`, images `operator`, `ui`, then
    /// `extra`) naming it.
    fn behind(
        &self,
        fault: common::Fault,
        file: &str,
        extra: &str,
    ) -> (common::FaultyForwarder, PathBuf) {
        let forwarder = common::FaultyForwarder::start(&self.registry.host(), fault);
        self.login(&forwarder.host);
        let policy = self.policy(file, &forwarder.host, extra);
        (forwarder, policy)
    }

    /// `vouch verify-release --policy POLICY --version VERSION … EXTRA`.
    fn verify_release_command(&self, policy: &PathBuf, version: &str, extra: &[&str]) -> Command {
        let mut c = self.command();
        c.args(["verify-release", "--version", version, "--trusted-root"])
            .arg(self.dir.join("trusted_root.json"))
            .arg("--policy")
            .arg(policy)
            .args(extra);
        c
    }

    /// Runs [`Self::verify_release_command`].
    fn verify_release(&self, policy: &PathBuf, version: &str, extra: &[&str]) -> Output {
        self.verify_release_command(policy, version, extra)
            .output()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn verify_release_reports_every_image_and_fails_when_one_fails() {
    let Some(w) = world("report") else { return };
    let ok = w.policy("ok.toml", &w.registry.host(), "");
    let junit = w.dir.join("junit.xml");
    let vex = w.dir.join("vex");
    let out = w.verify_release(
        &ok,
        "v2.0.0",
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--vex-dir",
            vex.to_str().unwrap(),
        ],
    );
    let table = stdout(&out);
    assert!(out.status.success(), "{table}{}", common::stderr(&out));
    assert!(
        table.starts_with("IMAGE")
            && table.contains("operator")
            && table.contains("2 pkgs")
            && table.contains("OK"),
        "{table}"
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("failures=\"0\" errors=\"0\"")
    );
    assert!(
        std::fs::read_to_string(vex.join("ui.vex.json"))
            .unwrap()
            .contains("CVE-2026-0001")
    );
    let out = w.verify_release(&ok, "v2.0.0", &["-o", "json"]);
    let report = json(&out);
    assert_eq!(report["passed"], true);
    assert_eq!(report["verified"], 2);
    assert_eq!(report["accessFailure"], serde_json::Value::Null);
}

/// An image the policy lists that is not published at the version fails the
/// release: whoever can delete a tag must not be able to hide an image.
#[test]
fn an_image_missing_at_the_version_fails_the_release() {
    let Some(w) = world("missing") else { return };
    let policy = w.policy(
        "missing.toml",
        &w.registry.host(),
        "[[image]]\nname = \"api\"\n",
    );
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    common::assert_fails(&out, 1, "release v2.0.0 failed verification: api");
    assert!(
        stdout(&out).contains("FAIL api: no image at v2.0.0 (the registry has no tag `v2.0.0`)"),
        "{}",
        stdout(&out)
    );
    // `--require-all` (the old opt-in) is accepted and changes nothing.
    let out = w.verify_release(&policy, "v2.0.0", &["--require-all", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report = json(&out);
    assert_eq!(report["passed"], false);
    assert_eq!(report["images"][2]["verdict"], "FAIL");
    assert_eq!(report["images"][2]["missing"], true);

    // --allow-missing brings back the skip, with a WARNING, and still
    // needs the signed images that are there to verify.
    let out = w.verify_release(&policy, "v2.0.0", &["--allow-missing", "-o", "json"]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("WARNING: --allow-missing: images missing at v2.0.0 are skipped"),
        "{err}"
    );
    assert_eq!(json(&out)["images"][2]["verdict"], "SKIP");
    let out = w.verify_release(&policy, "v2.0.0", &["--allow-missing", "--require-all"]);
    common::assert_fails(&out, 2, "--allow-missing");
}

/// `optional = true` and `since` are the vendor's way to say an image may be
/// absent; the table says why it was skipped.
#[test]
fn an_optional_image_or_one_not_yet_released_is_skipped_with_the_reason() {
    let Some(w) = world("optional") else { return };
    let policy = w.policy(
        "optional.toml",
        &w.registry.host(),
        "[[image]]\nname = \"api\"\noptional = true\n[[image]]\nname = \"worker\"\nsince = \"v2.1.0\"\n",
    );
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    let table = stdout(&out);
    assert!(out.status.success(), "{table}{}", common::stderr(&out));
    assert!(
        table.contains(
            "SKIP api: no image at v2.0.0 (the registry has no tag `v2.0.0`); optional in the policy"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "SKIP worker: no image at v2.0.0 (the registry has no tag `v2.0.0`); part of the release since v2.1.0"
        ),
        "{table}"
    );
    // Before its first version an image that is there anyway is verified,
    // never skipped unlooked: `v2.1.0-fips` sorts before `v2.1.0`, and an
    // unsigned image there must fail.
    Publisher::new(&w.registry.host(), Some((USER, PASSWORD))).push_image(
        "acme/worker",
        "v2.0.0",
        "an unsigned worker",
    );
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    common::assert_fails(&out, 1, "failed verification: worker");
    // From its first version on, an image with `since` is required.
    let policy = w.policy(
        "since.toml",
        &w.registry.host(),
        "[[image]]\nname = \"worker\"\nsince = \"v2.0.0\"\n",
    );
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    common::assert_fails(&out, 1, "failed verification: worker");
}

/// A mistyped version makes every image missing: exit 1 with a hint, not a
/// table of SKIPs and exit 0.
#[test]
fn a_mistyped_version_fails_and_says_the_version_is_probably_wrong() {
    let Some(w) = world("typo") else { return };
    let policy = w.policy("typo.toml", &w.registry.host(), "");
    let out = w.verify_release(&policy, "2.0.0", &[]);
    common::assert_fails(
        &out,
        1,
        "no signed image of the release exists at 2.0.0 (operator, ui)",
    );
    assert!(
        common::stderr(&out).contains("most vendors tag `v2.0.0`, not `2.0.0`"),
        "{}",
        common::stderr(&out)
    );
}

/// Zero signed images verified never exits 0, whatever the flags.
#[test]
fn a_run_in_which_no_signed_image_verified_never_passes() {
    let Some(w) = world("nothing") else { return };
    let policy = w.policy("typo.toml", &w.registry.host(), "");
    let out = w.verify_release(&policy, "2.0.0", &["--allow-missing", "-o", "json"]);
    common::assert_fails(
        &out,
        1,
        "release 2.0.0: no signed image verified (2 skipped",
    );
    let report = json(&out);
    assert_eq!(report["passed"], false);
    assert_eq!(report["verified"], 0);
    // All images optional and none there: the same.
    let policy = w.policy("all-optional.toml", &w.registry.host(), "");
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace(
            "name = \"operator\"",
            "name = \"operator\"\noptional = true",
        )
        .replace("name = \"ui\"", "name = \"ui\"\noptional = true");
    std::fs::write(&policy, text).unwrap();
    let out = w.verify_release(&policy, "v9.9.9", &[]);
    common::assert_fails(&out, 1, "no signed image verified");
}

/// A license revoked while the release is being verified: the images checked
/// before it verified, the rest are ERROR (not checked), the run exits 4 and
/// the registry's reason is printed once — never a FAIL per image.
#[test]
fn a_license_revoked_mid_run_exits_4_and_says_why_once() {
    let Some(w) = world("revoked") else { return };
    let (_forwarder, policy) = w.behind(
        common::Fault::RevokeFrom("/acme/ui/"),
        "revoked.toml",
        "[[image]]\nname = \"api\"\n",
    );
    let out = w.verify_release(&policy, "v2.0.0", &["--concurrency", "1"]);
    common::assert_fails(
        &out,
        4,
        "release v2.0.0 could not be verified: 2 of 3 images not checked, nothing failed verification",
    );
    let (table, err) = (stdout(&out), common::stderr(&out));
    assert!(
        table.contains("ERROR 2 of 3 images not checked (ui, api)"),
        "{table}"
    );
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("operator "))
        .collect();
    assert!(rows[0].ends_with("OK"), "{table}");
    assert_eq!(
        format!("{table}{err}").matches("was revoked at").count(),
        1,
        "the cause, once:\n{table}{err}"
    );
    assert!(!table.contains("FAIL"), "{table}");
}

/// An unreachable registry: exit 4 and one message, not one FAIL per image.
#[test]
fn an_unreachable_registry_exits_4_with_one_message() {
    let Some(w) = world("unreachable") else {
        return;
    };
    let port = common::closed_port();
    let policy = w.policy("unreachable.toml", &format!("127.0.0.1:{port}"), "");
    let out = w.verify_release(&policy, "v2.0.0", &["-o", "json"]);
    common::assert_fails(&out, 4, "could not be verified");
    common::assert_access_failure(&out, "cannot reach registry");
    let report = json(&out);
    assert_eq!(report["passed"], false);
    assert!(
        report["accessFailure"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach registry"),
        "{report}"
    );
    for image in report["images"].as_array().unwrap() {
        assert_eq!(image["verdict"], "ERROR", "{report}");
    }
}

#[test]
fn a_vex_dir_that_is_a_file_is_refused_before_any_registry_work() {
    let dir = std::env::temp_dir().join(format!("vouch-vex-file-{}", std::process::id()));
    std::fs::write(&dir, "a file").unwrap();
    let out = common::vouch([
        "verify-release",
        "--policy",
        "does-not-matter.toml",
        "--version",
        "v1",
        "--vex-dir",
        dir.to_str().unwrap(),
    ]);
    common::assert_fails(&out, 2, "not a directory");
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "a file");
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn concurrency_must_be_at_least_one() {
    let out = common::vouch([
        "verify-release",
        "--policy",
        "p.toml",
        "--version",
        "v1",
        "--concurrency",
        "0",
    ]);
    common::assert_fails(&out, 2, "expected a whole number from 1 to 256, got `0`");
}

/// A registry whose referrers API answers 500: by default an access failure
/// (exit 4, never "no signatures"); with `--referrers-fallback-on-error` the
/// tag schema and legacy tags are searched and the output says so.
#[test]
fn a_broken_referrers_api_fails_unless_the_fallback_is_asked_for_and_then_it_is_said() {
    let Some(w) = world("referrers-500") else {
        return;
    };
    let (forwarder, policy) = w.behind(
        common::Fault::ServerErrorOn("/referrers/"),
        "broken.toml",
        "",
    );
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    common::assert_fails(&out, 4, "not a missing signature");

    let out = w.verify_release(&policy, "v2.0.0", &["--referrers-fallback-on-error"]);
    let table = stdout(&out);
    assert!(out.status.success(), "{table}{}", common::stderr(&out));
    for image in ["operator", "ui"] {
        assert!(
            table.contains(&format!(
                "WARNING {image}: the referrers API failed (GET http://{}/v2/acme/{image}/referrers/",
                forwarder.host
            )),
            "{table}"
        );
    }
    assert!(
        table.contains("as the fallback after a server error allowed"),
        "{table}"
    );

    // `vouch verify` says it on stderr, and still verifies the legacy and
    // tag-schema signatures.
    let mut verify = w.command();
    verify
        .args([
            "verify",
            "--referrers-fallback-on-error",
            "--certificate-identity-regexp",
            r"https://github\.com/acme/platform/.*",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            "--trusted-root",
        ])
        .arg(w.dir.join("trusted_root.json"))
        .arg(format!("{}/acme/ui:v2.0.0", forwarder.host));
    let out = verify.output().unwrap();
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("WARNING: ") && err.contains("the referrers API failed"),
        "{err}"
    );
}

/// A version on a channel the license lacks (the proxy's 403): exit 4 with
/// the proxy's reason, once, for the release and for a single image.
#[test]
fn a_version_the_license_is_not_entitled_to_exits_4_with_the_reason() {
    let Some(w) = world("denied") else { return };
    let (forwarder, policy) = w.behind(common::Fault::DenyOn("/manifests/"), "denied.toml", "");
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    common::assert_access_failure(&out, "license 7 is entitled to stable");
    assert!(!stdout(&out).contains("FAIL"), "{}", stdout(&out));
    let mut digest = w.command();
    digest.args(["digest", &format!("{}/acme/ui:v2.0.0", forwarder.host)]);
    let out = digest.output().unwrap();
    common::assert_access_failure(&out, "license 7 is entitled to stable");
}

/// On a terminal, verify-release shows each image in flight from the first
/// request on (a spinner line per image and a count), not only once an
/// image finished; Ctrl-C then prints "interrupted", exits 130 and writes
/// no output file (issue 16, item 12).
#[test]
fn on_a_terminal_progress_shows_from_the_start_and_ctrl_c_exits_130() {
    use vouch_testkit::TerminalStep;
    let Some(w) = world("terminal") else { return };
    // Every manifest request stalls: nothing finishes while we watch.
    let (_forwarder, policy) = w.behind(common::Fault::StallOn("/manifests/"), "terminal.toml", "");
    let junit = w.dir.join("junit.xml");
    let c = w.verify_release_command(&policy, "v2.0.0", &["--junit", junit.to_str().unwrap()]);
    let steps = [TerminalStep {
        wait_for: "[0/2] verifying release v2.0.0",
        send: b"\x03",
    }];
    let Some(session) = vouch_testkit::on_a_terminal(&c, &steps, 60) else {
        eprintln!("SKIP: python3 not found; the terminal display is not tested");
        return;
    };
    let screen = &session.screen;
    assert_eq!(session.code, Some(130), "{screen}");
    // Both images in flight, each on a spinner line, before either finished.
    for image in ["operator", "ui"] {
        assert!(
            screen
                .lines()
                .any(|l| l.contains(&format!(" {image}"))
                    && "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏".chars().any(|f| l.contains(f))),
            "no spinner line for {image}: {screen}"
        );
    }
    assert!(screen.contains("Error: interrupted"), "{screen}");
    assert!(
        !screen.contains("RESULT") && !screen.contains("OK "),
        "{screen}"
    );
    assert!(
        !junit.exists(),
        "an interrupted run wrote {}",
        junit.display()
    );
}

/// With `--output json`, a run that cannot start (an unreadable policy)
/// prints a JSON error document; a run that reported and then failed prints
/// the report alone: stdout is always exactly one JSON document.
#[test]
fn verify_release_json_is_one_document_even_when_it_fails() {
    let Some(w) = world("jsonerr") else { return };
    let out = w.verify_release(&w.dir.join("no-such.toml"), "v2.0.0", &["-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "input");
    assert_eq!(doc["error"]["exitCode"], 3);
    let policy = w.policy(
        "jsonerr.toml",
        &w.registry.host(),
        "[[image]]\nname = \"api\"\n",
    );
    let out = w.verify_release(&policy, "v2.0.0", &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["schemaVersion"], vouch_release::REPORT_SCHEMA_VERSION);
    assert_eq!(doc["passed"], false);
    assert!(doc.get("error").is_none(), "{doc:#}");
    assert_eq!(doc["images"][0]["kind"], "signed");
}

#[test]
fn a_wrong_signer_fails_in_one_short_line_with_the_details_in_json() {
    let Some(w) = world("wrong-signer") else {
        return;
    };
    let policy = w.policy("wrong.toml", &w.registry.host(), "");
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("acme/platform/.*", "evil/platform/.*");
    std::fs::write(&policy, text).unwrap();
    let out = w.verify_release(&policy, "v2.0.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let table = stdout(&out) + &common::stderr(&out);
    let fails: Vec<&str> = table.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(!fails.is_empty(), "{table}");
    for line in &fails {
        assert!(line.len() < 400, "a FAIL line this long: {line}");
    }
    let signature = fails
        .iter()
        .find(|l| l.contains("signature:"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        signature.contains("signed by https://github.com/acme/platform/")
            && signature.contains("not the policy's signer")
            && signature.contains("details in the JSON report"),
        "{signature}"
    );
    // The CLI names the flag that gives them.
    assert!(
        common::stderr(&out).contains("hint: --output json"),
        "{}",
        common::stderr(&out)
    );
    assert!(!table.contains("the certificate has"), "{table}");

    let out = w.verify_release(&policy, "v2.0.0", &["--output", "json"]);
    let report = json(&out);
    let rejected = report["images"][0]["rejected"].as_array().unwrap();
    assert!(!rejected.is_empty(), "{report}");
    assert!(
        rejected.iter().any(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("the certificate has:")),
        "{report}"
    );
}

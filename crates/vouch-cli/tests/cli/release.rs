//! `vouch verify-release` through the binary: table, JSON, JUnit, VEX files
//! and the exit code.

use crate::common;

use std::process::Command;

use vouch_testkit::{
    Identity, Layout, LocalRegistry, Publisher, VirtualSigstore, standard_attestations,
};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "LICENSE-0001";
const BUILDER: &str =
    "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";

#[test]
fn verify_release_reports_every_image_and_fails_when_one_fails() {
    let Some(registry) = LocalRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
    let vendor = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v2.0.0",
    );
    let mut p = Publisher::new(&registry.host(), Some((USER, PASSWORD)));
    let atts = standard_attestations("x", "v2.0.0", BUILDER, &vendor);
    p.push_signed_image(
        &sigstore,
        "acme/operator",
        "v2.0.0",
        Layout::Bundle,
        Some(&vendor),
        &atts,
    );
    p.push_signed_image(
        &sigstore,
        "acme/ui",
        "v2.0.0",
        Layout::Legacy,
        Some(&vendor),
        &atts,
    );
    let dir = std::env::temp_dir().join(format!("vouch-cli-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    let policy = |extra: &str| {
        format!(
            "registry = \"{}/acme\"\n[identity]\nsubject_regexp = 'https://github\\.com/acme/platform/.*'\nissuer = \"https://token.actions.githubusercontent.com\"\n[attestations]\nrequired = [\"spdxjson\", \"slsaprovenance1\", \"openvex\"]\n[[image]]\nname = \"operator\"\n[[image]]\nname = \"ui\"\n{extra}",
            registry.host()
        )
    };
    std::fs::write(dir.join("ok.toml"), policy("")).unwrap();
    std::fs::write(dir.join("bad.toml"), policy("[[image]]\nname = \"api\"\n")).unwrap();
    let run = |policy: &str, extra: &[&str]| {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.env("HOME", &dir).env_remove("DOCKER_CONFIG");
        c.args(["verify-release", "--version", "v2.0.0", "--trusted-root"])
            .arg(dir.join("trusted_root.json"));
        c.arg("--policy").arg(dir.join(policy)).args(extra);
        c.output().unwrap()
    };
    // Log in through the binary first.
    let mut login = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
    login
        .env("HOME", &dir)
        .args(["login", &registry.host(), "-u", USER, "--password-stdin"]);
    let login = common::run_with_stdin(login, PASSWORD.as_bytes());
    assert!(login.status.success(), "{}", common::stderr(&login));

    let junit = dir.join("junit.xml");
    let vex = dir.join("vex");
    let out = run(
        "ok.toml",
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--vex-dir",
            vex.to_str().unwrap(),
        ],
    );
    let table = String::from_utf8_lossy(&out.stdout).to_string();
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
            .contains("failures=\"0\"")
    );
    assert!(
        std::fs::read_to_string(vex.join("ui.vex.json"))
            .unwrap()
            .contains("CVE-2026-0001")
    );

    // An image that is not published at this version is a SKIP, not a failure...
    let out = run("bad.toml", &["-o", "json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["images"][2]["verdict"], "SKIP");
    // ...unless every image is required.
    let out = run("bad.toml", &["--require-all"]);
    common::assert_fails(&out, 1, "failed verification: api");
    let _ = std::fs::remove_dir_all(&dir);
}

//! A closed stdout (`vouch discover IMG | true`, `| head`) ends every
//! printing command quietly with 141 (what a shell reports for `cat` killed
//! by SIGPIPE), with nothing on stderr about it, never a "failed printing to
//! stdout" panic (exit 101) and never 0.

use crate::common;

use std::process::{Command, Output};

use vouch_testkit::{
    Identity, Layout, LocalRegistry, Publisher, VirtualSigstore, run_into_closed_pipe,
    standard_attestations,
};

const NOW: u64 = 1_750_000_000;
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = r"https://github\.com/acme/platform/.*";
const BUILDER: &str =
    "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";
/// vouch's exit status for a closed stdout: 128 + SIGPIPE, as a shell
/// reports `cat` killed by the signal.
const CLOSED_STDOUT: i32 = 141;

fn assert_ended_quietly(what: &str, out: &Output) {
    let stderr = common::stderr(out);
    assert_eq!(
        out.status.code(),
        Some(CLOSED_STDOUT),
        "{what}: expected exit {CLOSED_STDOUT}, got {:?}; stderr: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: {stderr}"
    );
}

#[test]
fn every_printing_image_command_ends_quietly_when_stdout_is_closed() {
    let Some(registry) = LocalRegistry::start(None) else {
        return;
    };
    let sigstore = VirtualSigstore::new("prod", NOW);
    let vendor = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v2.0.0",
    );
    let mut p = Publisher::new(&registry.host(), None);
    let atts = standard_attestations("operator", "v2.0.0", BUILDER, &vendor);
    p.push_signed_image(
        &sigstore,
        "acme/operator",
        "v2.0.0",
        Layout::Bundle,
        Some(&vendor),
        &atts,
    );
    let dir = tempfile_dir("pipe");
    let root = dir.join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    let policy = dir.join("release.toml");
    std::fs::write(
        &policy,
        format!(
            "registry = \"{}/acme\"\n[identity]\nsubject_regexp = '{SUBJECT}'\nissuer = \"{ISSUER}\"\n[[image]]\nname = \"operator\"\n",
            registry.host()
        ),
    )
    .unwrap();
    let image = format!("{}/acme/operator:v2.0.0", registry.host());
    let root = root.to_str().unwrap();
    let identity = [
        "--certificate-identity-regexp",
        SUBJECT,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        root,
    ];
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("discover", vec!["discover", &image]),
        ("digest", vec!["digest", &image]),
        ("verify", [&["verify"], &identity[..], &[&image]].concat()),
        (
            "verify-attestation",
            [
                &["verify-attestation", "--type", "spdxjson"],
                &identity[..],
                &[&image],
            ]
            .concat(),
        ),
        (
            "verify-release",
            vec![
                "verify-release",
                "--version",
                "v2.0.0",
                "--trusted-root",
                root,
                "--policy",
                policy.to_str().unwrap(),
            ],
        ),
    ];
    for (what, args) in &commands {
        let command = || {
            let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
            c.args(args)
                .env("HOME", &dir)
                .env_remove("DOCKER_CONFIG")
                .env_remove("REGISTRY_AUTH_FILE")
                .env_remove("COSIGN_REPOSITORY");
            c
        };
        // The command works and prints when someone reads its output...
        let out = command().output().unwrap();
        assert!(out.status.success(), "{what}: {}", common::stderr(&out));
        assert!(!out.stdout.is_empty(), "{what} printed nothing");
        // ...and ends quietly when nobody does.
        assert_ended_quietly(what, &run_into_closed_pipe(command()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trust_show_and_help_end_quietly_when_stdout_is_closed() {
    let dir = tempfile_dir("trust");
    let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
    c.args(["trust", "show"])
        .env("HOME", &dir)
        .env("VOUCH_OFFLINE", "1");
    assert_ended_quietly("trust show", &run_into_closed_pipe(c));
    for help in [&["--help"][..], &["verify", "--help"], &["--version"]] {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.args(help);
        assert_ended_quietly(&format!("{help:?}"), &run_into_closed_pipe(c));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vouch-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

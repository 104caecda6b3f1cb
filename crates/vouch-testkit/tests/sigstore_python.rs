//! Honesty of the testkit against sigstore-python 4.x, a verifier written
//! independently of both the testkit and sigstore-rust: `sigstore verify
//! identity --offline` must accept the testkit's v0.3 bundles (message
//! signature and DSSE) with the testkit's ClientTrustConfig, and reject
//! tampered ones.
//!
//! sigstore-python is installed into a virtual environment by
//! `scripts/ensure-sigstore-python.sh` (PyPI through pip). When that fails the
//! test prints `SKIP` and passes, unless `CI=true`, where it fails.

mod common;

use common::{NOW, RELEASE_SAN, flip_b64_field, release_workflow, sha256_hex};
use std::path::{Path, PathBuf};
use std::process::Command;
use vouch_testkit::{GITHUB_ACTIONS_ISSUER, VirtualSigstore, in_toto_statement};

const ARTIFACT: &[u8] = b"vouch artifact checked by sigstore-python\n";

/// Path of the `sigstore` executable, or `None` (after printing why) when it
/// cannot be installed outside CI.
fn sigstore_cli() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-sigstore-python.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .expect("bash runs");
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        assert!(
            !in_ci,
            "CI=true and sigstore-python could not be installed:\n{why}"
        );
        eprintln!("SKIP: sigstore-python unavailable, honesty check not run:\n{why}");
        return None;
    }
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 path");
    let path = stdout.lines().last().expect("script prints the path");
    Some(PathBuf::from(path))
}

/// Runs `sigstore verify identity --offline`; returns success and output.
fn sigstore_verify(
    cli: &Path,
    dir: &Path,
    trust_config: &str,
    bundle: &str,
    input: &str,
) -> (bool, String) {
    let config_path = dir.join("trust_config.json");
    let bundle_path = dir.join("bundle.sigstore.json");
    std::fs::write(&config_path, trust_config).expect("write trust config");
    std::fs::write(&bundle_path, bundle).expect("write bundle");
    let output = Command::new(cli)
        .arg("--trust-config")
        .arg(&config_path)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&bundle_path)
        .args(["--cert-identity", RELEASE_SAN])
        .args(["--cert-oidc-issuer", GITHUB_ACTIONS_ISSUER])
        .arg(input)
        .output()
        .expect("sigstore runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A fresh scratch directory under the target directory.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sigstore-python-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn sigstore_python_verifies_testkit_bundles_and_rejects_tampered_ones() {
    let Some(cli) = sigstore_cli() else { return };
    let sigstore = VirtualSigstore::new("python", NOW);
    let trust_config = sigstore.client_trust_config_json();
    let dir = scratch_dir("bundles");

    // Message signature over a file.
    let artifact = dir.join("artifact.txt");
    std::fs::write(&artifact, ARTIFACT).expect("write artifact");
    let artifact = artifact.to_str().expect("UTF-8 path");
    let blob = sigstore.sign_blob(ARTIFACT, release_workflow());
    let (ok, out) = sigstore_verify(&cli, &dir, &trust_config, &blob.json, artifact);
    assert!(ok, "message signature bundle rejected:\n{out}");
    assert!(out.contains("OK"), "no OK in output:\n{out}");

    let tampered = flip_b64_field(&blob.json, "/messageSignature/signature");
    let (ok, out) = sigstore_verify(&cli, &dir, &trust_config, &tampered, artifact);
    assert!(!ok, "tampered message signature accepted:\n{out}");

    // DSSE over an in-toto statement: the input is the subject digest.
    let subject = format!("sha256:{}", sha256_hex(ARTIFACT));
    let statement = in_toto_statement(
        "artifact.txt",
        &sha256_hex(ARTIFACT),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({"buildDefinition": {"buildType": "https://example.test/build/v1"}}),
    );
    let dsse = sigstore.sign_statement(&statement, release_workflow());
    let (ok, out) = sigstore_verify(&cli, &dir, &trust_config, &dsse.json, &subject);
    assert!(ok, "DSSE bundle rejected:\n{out}");
    assert!(out.contains("OK"), "no OK in output:\n{out}");

    let tampered = flip_b64_field(&dsse.json, "/dsseEnvelope/signatures/0/sig");
    let (ok, out) = sigstore_verify(&cli, &dir, &trust_config, &tampered, &subject);
    assert!(!ok, "tampered DSSE signature accepted:\n{out}");

    // Material from another instance is not trusted.
    let staging = VirtualSigstore::new("python-staging", NOW);
    let foreign = staging.sign_blob(ARTIFACT, release_workflow());
    let (ok, out) = sigstore_verify(&cli, &dir, &trust_config, &foreign.json, artifact);
    assert!(!ok, "bundle from another instance accepted:\n{out}");
}

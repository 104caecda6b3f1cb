//! What `vouch verify` prints when no signature is from the signer asked
//! for: the signature candidates only (not the attestations beside them),
//! each distinct signing certificate once, then what to do.

use crate::common;

use std::process::{Command, Output};

use serde_json::json;
use vouch_testkit::{Identity, LocalRegistry, Publisher, VirtualSigstore};

const NOW: u64 = 1_750_000_000;
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn release(repo: &str) -> Identity {
    Identity::github_actions(repo, ".github/workflows/release.yml", "refs/tags/v1.0.0")
}

/// `acme/app:v1` signed in both layouts, by `bundle_signer` (bundle
/// referrer) and `legacy_signer` (`.sig`), with SBOM, SLSA and VEX bundle
/// attestations beside them; `vouch <command>` asking for `evil/*`.
fn verify_as_evil(
    command: &str,
    bundle_signer: &Identity,
    legacy_signer: &Identity,
) -> Option<Output> {
    let registry = LocalRegistry::start(None)?;
    let s = VirtualSigstore::new("prod", NOW);
    let mut p = Publisher::new(&registry.host(), None);
    let image = p.push_image("acme/app", "v1", "app v1");
    for predicate_type in [
        vouch_image::COSIGN_SIGN_PREDICATE,
        "https://spdx.dev/Document",
        "https://slsa.dev/provenance/v1",
        "https://openvex.dev/ns/v0.2.0",
    ] {
        let statement =
            vouch_testkit::in_toto_statement("app", image.hex(), predicate_type, &json!({}));
        let bundle = s.sign_statement(&statement, bundle_signer);
        p.push_bundle_referrer("acme/app", &image, &bundle.json, predicate_type);
    }
    let sig = s.sign_image_legacy(
        &format!("{}/acme/app", registry.host()),
        &image.digest,
        legacy_signer,
    );
    p.push_legacy_signatures("acme/app", &image, &[sig]);
    let dir = std::env::temp_dir().join(format!(
        "vouch-mismatch-{}-{command}-{}",
        std::process::id(),
        bundle_signer == legacy_signer
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("trusted_root.json");
    std::fs::write(&root, s.trusted_root_json()).unwrap();
    let out = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("HOME", &dir)
        .args([
            command,
            "--certificate-identity-regexp",
            r"https://github\.com/evil/.*",
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
        ])
        .arg(&root)
        .arg(format!("{}/acme/app@{}", registry.host(), image.digest))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Some(out)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn a_mismatch_lists_signature_candidates_and_the_signer_once_then_advice() {
    let acme = release("acme/app");
    let Some(out) = verify_as_evil("verify", &acme, &acme) else {
        return;
    };
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    // One bundle signature and one .sig layer; the three attestation
    // referrers are not listed.
    assert_eq!(count(&err, "identity mismatch"), 2, "{err}");
    assert_eq!(count(&err, "  referrer sha256:"), 1, "{err}");
    assert_eq!(count(&err, ".sig layer 0: identity mismatch"), 1, "{err}");
    // The one signing identity, once.
    assert_eq!(count(&err, "the signing certificate has:"), 1, "{err}");
    assert_eq!(count(&err, "  repository: acme/app"), 1, "{err}");
    assert!(!err.contains("attestation of type"), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("Do not use this image") && last.ends_with("contact the vendor."),
        "{err}"
    );
}

#[test]
fn two_different_signers_are_each_shown_once() {
    let Some(out) = verify_as_evil("verify", &release("acme/app"), &release("acme/other")) else {
        return;
    };
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert_eq!(count(&err, "signing certificate 1 of 2 has:"), 1, "{err}");
    assert_eq!(count(&err, "signing certificate 2 of 2 has:"), 1, "{err}");
    assert_eq!(count(&err, "  repository: acme/app\n"), 1, "{err}");
    assert_eq!(count(&err, "  repository: acme/other\n"), 1, "{err}");
}

#[test]
fn an_attestation_mismatch_lists_attestation_candidates_only() {
    let acme = release("acme/app");
    let Some(out) = verify_as_evil("verify-attestation", &acme, &acme) else {
        return;
    };
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(err.contains("no matching attestations:"), "{err}");
    // SBOM, SLSA and VEX referrers; not the signature referrer, not `.sig`.
    assert_eq!(count(&err, "  referrer sha256:"), 3, "{err}");
    assert_eq!(count(&err, ".sig layer"), 0, "{err}");
    assert_eq!(count(&err, "the signing certificate has:"), 1, "{err}");
    assert!(err.trim_end().ends_with("contact the vendor."), "{err}");
}

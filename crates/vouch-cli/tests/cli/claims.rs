//! cosign's `--check-claims` through the binary: a signature whose payload
//! names another image fails by default and verifies with
//! `--check-claims=false`, which says so once on stderr and in the JSON.

use crate::common;

use serde_json::{Value, json};
use vouch_testkit::{Identity, LocalRegistry, Publisher, Pushed, VirtualSigstore};

const NOW: u64 = 1_750_000_000;
const WARNING: &str = "WARNING: --check-claims=false";

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

/// `acme/app:v1` carrying, as its own, a legacy signature, a signature
/// bundle and an SPDX attestation bundle all made for `acme/app:other`.
struct Borrowed {
    registry: LocalRegistry,
    dir: std::path::PathBuf,
    target: Pushed,
    other: Pushed,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn borrowed(name: &str) -> Option<Borrowed> {
    let registry = LocalRegistry::start(None)?;
    let sigstore = VirtualSigstore::new("prod", NOW);
    let mut p = Publisher::new(&registry.host(), None);
    let target = p.push_image("acme/app", "v1", "app v1");
    let other = p.push_image("acme/app", "other", "app other");
    let repo = format!("{}/acme/app", registry.host());
    let sig = sigstore.sign_image_legacy(&repo, &other.digest, identity());
    p.push_legacy_signatures("acme/app", &target, &[sig]);
    for predicate_type in [
        vouch_image::COSIGN_SIGN_PREDICATE,
        "https://spdx.dev/Document",
    ] {
        let statement = vouch_testkit::in_toto_statement(
            "app",
            other.hex(),
            predicate_type,
            &json!({"spdxVersion": "SPDX-2.3"}),
        );
        let bundle = sigstore.sign_statement(&statement, identity());
        p.push_bundle_referrer("acme/app", &target, &bundle.json, predicate_type);
    }
    let dir = std::env::temp_dir().join(format!("vouch-claims-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    Some(Borrowed {
        registry,
        dir,
        target,
        other,
    })
}

impl Borrowed {
    fn run(&self, command: &str, extra: &[&str]) -> std::process::Output {
        let root = self.dir.join("trusted_root.json");
        let image = format!("{}/acme/app@{}", self.registry.host(), self.target.digest);
        let mut args = vec![command.to_string()];
        args.extend(common::identity_args(&root));
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(image);
        common::vouch(&args)
    }
}

#[test]
fn a_signature_naming_another_image_fails_unless_claims_are_not_checked() {
    let Some(w) = borrowed("verify") else { return };
    let out = w.run("verify", &[]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    assert!(!common::stderr(&out).contains(WARNING));

    let out = w.run("verify", &["--check-claims=false"]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches(WARNING).count(), 1, "{err}");
    assert!(!err.contains("The cosign claims were validated"), "{err}");
    let payloads: Value = serde_json::from_slice(&out.stdout).unwrap();
    let payloads = payloads.as_array().unwrap();
    assert_eq!(payloads.len(), 2, "{payloads:?}");
    for payload in payloads {
        // What the signatures were made for, recorded as not checked.
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            w.other.digest
        );
        assert_eq!(payload["optional"]["vouch.claimsChecked"], false);
    }

    // The flag's other spellings keep the default.
    let out = w.run("verify", &["--check-claims"]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let out = w.run("verify", &["--check-claims=true"]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
}

#[test]
fn an_attestation_about_another_image_fails_unless_claims_are_not_checked() {
    let Some(w) = borrowed("attest") else { return };
    let out = w.run("verify-attestation", &["--type", "spdxjson"]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));

    let out = w.run(
        "verify-attestation",
        &["--type", "spdxjson", "--check-claims=false", "-o", "json"],
    );
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches(WARNING).count(), 1, "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let attestation = &report["images"][0]["attestations"][0];
    assert_eq!(attestation["claimsChecked"], false);
    assert_eq!(attestation["artifactDigest"], w.other.digest);
}

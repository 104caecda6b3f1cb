//! The sigstore-conformance `bundle-verify` suite, run through the `vouch`
//! binary exactly as the conformance harness calls it (`verify-bundle`),
//! once with the artifact's path and once with `sha256:<digest>`.

use crate::common;

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Cases whose verdict vouch is known to get wrong, with the reason. The goal
/// is that this list stays empty; an entry here must say why.
const EXPECTED_WRONG: &[(&str, &str)] = &[];

fn args_for(dir: &Path, artifact: &str) -> Vec<String> {
    let mut args = vec!["verify-bundle".to_string(), "--bundle".into()];
    args.push(dir.join("bundle.sigstore.json").display().to_string());
    let text = |name: &str| {
        fs::read_to_string(dir.join(name))
            .ok()
            .map(|s| s.trim().to_string())
    };
    if dir.join("key.pub").exists() {
        args.push("--key".into());
        args.push(dir.join("key.pub").display().to_string());
    } else {
        args.push("--certificate-identity".into());
        args.push(text("identity").unwrap_or_else(|| DEFAULT_IDENTITY.into()));
        args.push("--certificate-oidc-issuer".into());
        args.push(text("issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()));
    }
    if dir.join("trusted_root.json").exists() {
        args.push("--trusted-root".into());
        args.push(dir.join("trusted_root.json").display().to_string());
    }
    args.push(artifact.to_string());
    args
}

#[test]
fn conformance_suite_140_verdicts_through_the_binary() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let cases = fixtures.join("sigstore-conformance/test/assets/bundle-verify");
    let mut dirs: Vec<_> = fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 70, "expected the 70 bundle-verify cases");
    let mut wrong = Vec::new();
    let mut verdicts = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let artifact = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            cases.join("a.txt")
        };
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(fs::read(&artifact).unwrap()))
        );
        let should_pass = !name.ends_with("_fail");
        for (how, arg) in [("path", artifact.display().to_string()), ("digest", digest)] {
            let out = common::vouch(args_for(dir, &arg));
            verdicts += 1;
            let passed = out.status.success();
            // A failure must be a clean exit with a message, never a crash.
            assert!(
                matches!(out.status.code(), Some(0..=3)),
                "{name} by {how}: {out:?}"
            );
            if passed != should_pass && !EXPECTED_WRONG.iter().any(|(n, _)| *n == name) {
                wrong.push(format!(
                    "{name} by {how}: exit {:?}: {}",
                    out.status.code(),
                    common::stderr(&out).trim()
                ));
            }
        }
    }
    assert_eq!(verdicts, 140);
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn sign_bundle_is_unsupported() {
    let out = common::vouch(["sign-bundle", "--identity-token", "x", "--bundle", "b", "f"]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("unsupported"));
}

/// Issue 13, item 3, through the binary: a Rekor v2 bundle (inclusion proof
/// and checkpoint, no SET) edited in a field nothing signed used to be
/// accepted; each edit is now exit 1 with a message naming the field, the
/// bundle's value and the expected one.
#[test]
fn rekor_v2_fields_that_disagree_with_the_signed_checkpoint_are_refused() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let cases = fixtures.join("sigstore-conformance/test/assets/bundle-verify");
    let case = cases.join("rekor2-happy-path");
    let original: serde_json::Value =
        serde_json::from_slice(&fs::read(case.join("bundle.sigstore.json")).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("vouch-rekor2-edits-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::copy(
        case.join("trusted_root.json"),
        dir.join("trusted_root.json"),
    )
    .unwrap();
    let artifact = cases.join("a.txt").display().to_string();
    // The unedited copy verifies: the refusals below are the edits' doing.
    fs::write(dir.join("bundle.sigstore.json"), original.to_string()).unwrap();
    let out = common::vouch(args_for(&dir, &artifact));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let zeros = "A".repeat(43) + "=";
    for (pointer, value, field) in [
        (
            "/inclusionProof/logIndex",
            serde_json::json!("734"),
            "inclusionProof.logIndex",
        ),
        (
            "/inclusionProof/rootHash",
            serde_json::json!(zeros),
            "inclusionProof.rootHash",
        ),
        ("/logId/keyId", serde_json::json!(zeros), "logId.keyId"),
    ] {
        let mut edited = original.clone();
        *edited["verificationMaterial"]["tlogEntries"][0]
            .pointer_mut(pointer)
            .unwrap() = value;
        fs::write(dir.join("bundle.sigstore.json"), edited.to_string()).unwrap();
        let out = common::vouch(args_for(&dir, &artifact));
        common::assert_fails(&out, 1, field);
        let err = common::stderr(&out);
        assert!(err.contains("expected"), "{field}: {err}");
    }
    let _ = fs::remove_dir_all(&dir);
}

//! The sigstore-conformance bundle-verify cases, through the library API.
//! (The same cases run through the `vouch verify-bundle` binary in vouch-cli.)

mod common;

use std::fs;
use std::path::Path;

use vouch_verify::*;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn run_case(dir: &Path, production_root: &[u8]) -> Result<VerifiedSignature, String> {
    let read = |name: &str| fs::read(dir.join(name)).ok();
    let root = read("trusted_root.json").unwrap_or_else(|| production_root.to_vec());
    let material = TrustedMaterial::from_json(&root).map_err(|e| e.to_string())?;
    let bundle = SigstoreBundle::from_json(&read("bundle.sigstore.json").unwrap())
        .map_err(|e| e.to_string())?;
    let artifact =
        read("artifact").unwrap_or_else(|| fs::read(dir.parent().unwrap().join("a.txt")).unwrap());
    let policy = match read("key.pub") {
        Some(pem) => SignerPolicy::public_key_pem(std::str::from_utf8(&pem).unwrap())
            .map_err(|e| e.to_string())?,
        None => {
            let text = |name, default: &str| {
                read(name)
                    .map(|b| String::from_utf8(b).unwrap().trim().to_string())
                    .unwrap_or_else(|| default.to_string())
            };
            SignerPolicy::keyless(IdentityPolicy::new(
                ValueMatcher::Exact(text("identity", DEFAULT_IDENTITY)),
                ValueMatcher::Exact(text("issuer", DEFAULT_ISSUER)),
            ))
        }
    };
    let by_bytes = verify_bundle(&material, &bundle, ArtifactInput::Bytes(&artifact), &policy)
        .map_err(|e| e.to_string());
    let digest = Sha256Digest::of(&artifact);
    let by_digest = verify_bundle(&material, &bundle, ArtifactInput::Sha256(digest), &policy)
        .map_err(|e| e.to_string());
    assert_eq!(
        by_bytes.is_ok(),
        by_digest.is_ok(),
        "{}: by bytes and by digest disagree: {by_bytes:?} vs {by_digest:?}",
        dir.display()
    );
    by_bytes
}

#[test]
fn every_conformance_case_gets_its_expected_verdict() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let production = fs::read(fixtures.join("trust/production-trusted_root.json")).unwrap();
    let cases = fixtures.join("sigstore-conformance/test/assets/bundle-verify");
    let mut wrong = Vec::new();
    let mut count = 0;
    for entry in fs::read_dir(&cases).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        count += 1;
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let should_fail = name.ends_with("_fail");
        match run_case(&dir, &production) {
            Ok(_) if should_fail => wrong.push(format!("{name}: accepted")),
            Err(e) if !should_fail => wrong.push(format!("{name}: rejected: {e}")),
            Ok(_) => {}
            Err(e) => eprintln!("{name}: rejected as expected: {e}"),
        }
    }
    assert_eq!(count, 70, "expected 70 conformance cases");
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

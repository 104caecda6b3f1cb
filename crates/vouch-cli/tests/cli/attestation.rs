//! `vouch verify-blob-attestation` on a real SLSA v1 provenance bundle.

use crate::common;

const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn run(type_flag: Option<&str>, extra: &[&str]) -> Option<std::process::Output> {
    let f = common::fixtures()?;
    let bundle = f
        .join("gh-cli/sigstore-js-2.1.0-bundle.json")
        .display()
        .to_string();
    let tarball = f.join("gh-cli/sigstore-js-2.1.0.tgz").display().to_string();
    let mut args = vec![
        "verify-blob-attestation".to_string(),
        "--bundle".into(),
        bundle,
        "--certificate-identity-regexp".into(),
        r"https://github\.com/sigstore/sigstore-js/.*".into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
    ];
    if let Some(t) = type_flag {
        args.push("--type".into());
        args.push(t.into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(tarball);
    Some(common::vouch(args))
}

#[test]
fn matching_type_verifies_and_summarises_the_provenance() {
    let Some(out) = run(Some("slsaprovenance1"), &["--output", "json"]) else {
        return;
    };
    assert!(out.status.success(), "{}", common::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["predicateType"], "https://slsa.dev/provenance/v1");
    let summary = json["summary"].as_str().unwrap();
    assert!(
        summary.contains("https://github.com/actions/runner/github-hosted"),
        "{summary}"
    );
    assert_eq!(
        json["predicate"]["runDetails"]["builder"]["id"],
        "https://github.com/actions/runner/github-hosted"
    );
}

#[test]
fn other_type_is_refused_after_verification_naming_what_was_found() {
    let Some(out) = run(Some("spdxjson"), &[]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("expected `spdxjson` (https://spdx.dev/Document)"),
        "{err}"
    );
    assert!(
        err.contains("found `https://slsa.dev/provenance/v1`"),
        "{err}"
    );
}

#[test]
fn unknown_type_name_is_a_usage_error() {
    let Some(out) = run(Some("spdx-json"), &[]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("--type"));
}

#[test]
fn an_attestation_is_not_accepted_for_another_blob() {
    let Some(f) = common::fixtures() else { return };
    let out = common::vouch([
        "verify-blob-attestation",
        "--bundle",
        &f.join("gh-cli/sigstore-js-2.1.0-bundle.json")
            .display()
            .to_string(),
        "--certificate-identity-regexp",
        r"https://github\.com/sigstore/sigstore-js/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        &f.join("sigstore-conformance/test/assets/a.txt")
            .display()
            .to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("not for this artifact"));
}

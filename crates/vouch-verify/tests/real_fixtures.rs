//! Real Sigstore data from `../shared/fixtures`, with the verdicts in its
//! MANIFEST.md.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use vouch_verify::*;

const GHA_ISSUER: &str = "https://token.actions.githubusercontent.com";
const SIGSTORE_JS_RELEASE: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const LEGACY_DIR: &str = "legacy-cosign/salrashid123-server_image-gha";
const LEGACY_IDENTITY: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30";

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn material(fixtures: &Path, root: &str) -> TrustedMaterial {
    TrustedMaterial::from_json(&read(fixtures, root)).unwrap()
}

fn keyless(identity: &str, issuer: &str) -> SignerPolicy {
    SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(identity.into()),
        ValueMatcher::Exact(issuer.into()),
    ))
}

fn legacy(fixtures: &Path) -> (LegacySignature, Sha256Digest) {
    let dir: PathBuf = fixtures.join(LEGACY_DIR);
    let text = |name| String::from_utf8(read(&dir, name)).unwrap();
    let sig = LegacySignature::new(
        read(&dir, "payload.json"),
        text("signature.b64").trim().to_string(),
        Some(text("certificate.pem")),
        Some(read(&dir, "rekor-bundle.json")),
    )
    .with_chain(Some(text("chain.pem")));
    (sig, text("image-digest.txt").trim().parse().unwrap())
}

#[test]
fn gh_cli_slsa_v1_provenance_verifies_as_v03_and_v01_bundle() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let tarball = read(&f, "gh-cli/sigstore-js-2.1.0.tgz");
    for name in [
        "gh-cli/sigstore-js-2.1.0-bundle.json",
        "gh-cli/sigstore-js-2.1.0-bundle-v0.1.json",
    ] {
        let bundle = SigstoreBundle::from_json(&read(&f, name)).unwrap();
        let policy = keyless(SIGSTORE_JS_RELEASE, GHA_ISSUER);
        let v = verify_bundle(&m, &bundle, ArtifactInput::Bytes(&tarball), &policy)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let SignedContent::Dsse { payload, .. } = v.content() else {
            panic!("not DSSE")
        };
        let statement: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(
            v.certificate()
                .unwrap()
                .github
                .workflow_repository
                .as_deref(),
            Some("sigstore/sigstore-js")
        );
        assert!(v.integrated_time().is_some() && v.log_index().is_some());
        // The same bundle for other bytes is refused.
        let err = verify_bundle(&m, &bundle, ArtifactInput::Bytes(b"other"), &policy).unwrap_err();
        assert!(
            matches!(err, VerifyError::ArtifactMismatch { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn sigstore_go_public_good_provenance_verifies_by_digest_only_via_sha512_subject() {
    let Some(f) = common::fixtures() else { return };
    let m = material(
        &f,
        "sigstore-go/pkg/testing/data/trusted-roots/public-good.json",
    );
    let bundle = SigstoreBundle::from_json(&read(
        &f,
        "sigstore-go/pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json",
    ))
    .unwrap();
    // The subject is sha512 only: a sha256 digest cannot name it.
    let err = verify_bundle(
        &m,
        &bundle,
        ArtifactInput::Sha256(Sha256Digest::of(b"x")),
        &keyless(SIGSTORE_JS_RELEASE, GHA_ISSUER),
    )
    .unwrap_err();
    assert!(
        matches!(err, VerifyError::ArtifactMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn dsse_envelope_with_two_signatures_is_refused() {
    let Some(f) = common::fixtures() else { return };
    let bytes = read(
        &f,
        "sigstore-go/pkg/testing/data/bundles/dsse-2sigs.sigstore.json",
    );
    let err = SigstoreBundle::from_json(&bytes).unwrap_err();
    assert!(matches!(err, VerifyError::MalformedBundle { .. }), "{err}");
}

#[test]
fn cosign_oci_referrer_attestation_verifies_against_its_image_digest() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "cosign/trusted_root_pgi.json");
    let bundle =
        SigstoreBundle::from_json(&read(&f, "cosign/oci-attestation.sigstore.json")).unwrap();
    let policy = keyless("cody@soyland.com", "https://github.com/login/oauth");
    let att = verify_attestation(
        &m,
        &bundle,
        ArtifactInput::Sha256(statement_subject(&f)),
        &policy,
    )
    .unwrap();
    assert_eq!(
        att.predicate_type(),
        "https://cosign.sigstore.dev/attestation/v1"
    );
    let wrong = verify_attestation(
        &m,
        &bundle,
        ArtifactInput::Sha256(Sha256Digest::of(b"other image")),
        &policy,
    );
    assert!(wrong.is_err());
}

/// The sha256 subject digest named by the fixture's statement (read from
/// the unverified payload only to know which digest to ask for).
fn statement_subject(f: &Path) -> Sha256Digest {
    use base64::Engine as _;
    let json: serde_json::Value =
        serde_json::from_slice(&read(f, "cosign/oci-attestation.sigstore.json")).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(json["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    Sha256Digest::from_hex(
        statement["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn othername_san_verifies_against_private_instance_root() {
    let Some(f) = common::fixtures() else { return };
    let m = material(
        &f,
        "sigstore-go/pkg/testing/data/trusted-roots/scaffolding.json",
    );
    let bundle = SigstoreBundle::from_json(&read(
        &f,
        "sigstore-go/pkg/testing/data/bundles/othername.sigstore.json",
    ))
    .unwrap();
    let digest = artifact_digest_of_message_signature(&f);
    let ok = verify_bundle(
        &m,
        &bundle,
        ArtifactInput::Sha256(digest),
        &keyless("foo!oidc.local", "http://oidc.local:8080"),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let err = verify_bundle(
        &m,
        &bundle,
        ArtifactInput::Sha256(digest),
        &keyless("foo@oidc.local", "http://oidc.local:8080"),
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Policy {
                problem: PolicyError::Mismatch { what: "identity", actual, .. },
                ..
            } if actual == "foo!oidc.local"
        ),
        "{err:?}"
    );
}

fn artifact_digest_of_message_signature(f: &Path) -> Sha256Digest {
    let json: serde_json::Value = serde_json::from_slice(&read(
        f,
        "sigstore-go/pkg/testing/data/bundles/othername.sigstore.json",
    ))
    .unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(
            json["messageSignature"]["messageDigest"]["digest"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    Sha256Digest::from_bytes(raw.try_into().unwrap())
}

#[test]
fn legacy_github_actions_signature_verifies_with_a_whole_match_regexp() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let (sig, image) = legacy(&f);
    let policy = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::regex(r"https://github\.com/salrashid123/go-bazel-github-workflow/.*")
            .unwrap(),
        ValueMatcher::Exact(GHA_ISSUER.into()),
    ));
    let v = verify_legacy_signature(&m, &sig, image, &policy).unwrap();
    assert_eq!(v.artifact_digest(), image.to_string());
    assert_eq!(v.log_index(), Some(1_004_096_555));
    assert_eq!(v.integrated_time().unwrap().as_second(), 1_772_216_446);
    let claims = v.certificate().unwrap();
    assert_eq!(claims.identity, LEGACY_IDENTITY);
    assert_eq!(
        claims.github.workflow_ref.as_deref(),
        Some("refs/tags/v0.0.30")
    );
    assert!(
        matches!(v.content(), SignedContent::SimpleSigning { docker_reference, .. } if docker_reference == "index.docker.io/salrashid123/server_image")
    );
}

#[test]
fn legacy_signature_with_wrong_identity_prints_the_actual_identity() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let (sig, image) = legacy(&f);
    let policy = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::regex(r"https://github\.com/acme/.*").unwrap(),
        ValueMatcher::Exact(GHA_ISSUER.into()),
    ));
    let err = verify_legacy_signature(&m, &sig, image, &policy)
        .unwrap_err()
        .to_string();
    for expected in [
        LEGACY_IDENTITY,
        GHA_ISSUER,
        "salrashid123/go-bazel-github-workflow",
        "refs/tags/v0.0.30",
    ] {
        assert!(err.contains(expected), "error lacks {expected}: {err}");
    }
}

#[test]
fn legacy_regexp_matching_only_a_substring_is_refused_with_a_hint() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let (sig, image) = legacy(&f);
    // cosign would accept this unanchored pattern; vouch matches whole values.
    let policy = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::regex(r"github\.com/salrashid123/").unwrap(),
        ValueMatcher::Exact(GHA_ISSUER.into()),
    ));
    let err = verify_legacy_signature(&m, &sig, image, &policy).unwrap_err();
    let VerifyError::Policy {
        problem: PolicyError::Mismatch {
            hint: Some(hint), ..
        },
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        hint.contains("matches only `github.com/salrashid123/`") && hint.contains(".*"),
        "{hint}"
    );
}

#[test]
fn legacy_signature_for_another_image_is_refused() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let (sig, _) = legacy(&f);
    let other = Sha256Digest::of(b"another image");
    let err =
        verify_legacy_signature(&m, &sig, other, &SignerPolicy::InsecureAnyIdentity).unwrap_err();
    assert!(matches!(err, VerifyError::DigestMismatch { .. }), "{err}");
}

#[test]
fn legacy_signature_tampering_is_refused() {
    let Some(f) = common::fixtures() else { return };
    let m = material(&f, "trust/production-trusted_root.json");
    let (sig, image) = legacy(&f);
    let any = SignerPolicy::InsecureAnyIdentity;

    // Payload changed (one byte of the reference): signature no longer verifies.
    let mut t = sig.clone();
    let pos = t.payload.iter().position(|&b| b == b's').unwrap();
    t.payload[pos] = b'z';
    assert!(verify_legacy_signature(&m, &t, image, &any).is_err());

    // SET re-signed over another integrated time: the SET check fails.
    let mut t = sig.clone();
    let text = String::from_utf8(t.rekor_bundle.clone().unwrap()).unwrap();
    t.rekor_bundle = Some(text.replace("1772216446", "1772216447").into_bytes());
    let err = verify_legacy_signature(&m, &t, image, &any).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::TransparencyLog(LogError::InclusionPromise { .. })
        ),
        "{err:?}"
    );

    // No Rekor bundle: refused (offline verification needs it).
    let mut t = sig.clone();
    t.rekor_bundle = None;
    let err = verify_legacy_signature(&m, &t, image, &any).unwrap_err();
    assert!(
        matches!(&err, VerifyError::LegacySignature { detail }
            if detail.contains("dev.sigstore.cosign/bundle")),
        "{err:?}"
    );

    // Signature annotation from another signature: entry/signature mismatch.
    let mut t = sig.clone();
    t.signature = "MEUCIQDII5GQ1+pEgHrOp/oRqFPvZ2Ovj/JDavgceyIq+HkgVwIgP+yMH9VGh8BSNRsjipVqcUxViysHjFM8Mq3tJ1D7kua".into();
    assert!(verify_legacy_signature(&m, &t, image, &any).is_err());

    // A trusted root from another instance (staging) cannot verify it.
    let staging = material(&f, "trust/staging-trusted_root.json");
    assert!(verify_legacy_signature(&staging, &sig, image, &any).is_err());
}

#[test]
fn sigstore_go_bundle_carrying_its_root_in_the_chain_is_refused() {
    // sigstore-go ignores chain certificates it does not need and passes this
    // v0.1 bundle; the conformance suite (bundle-with-root-cert_fail) says a
    // client must refuse a bundle whose chain contains a root. vouch follows
    // the conformance suite.
    let Some(f) = common::fixtures() else { return };
    let bytes = read(
        &f,
        "sigstore-go/pkg/testing/data/bundles/dsse.sigstore.json",
    );
    let err = SigstoreBundle::from_json(&bytes).unwrap_err();
    assert!(
        matches!(&err, VerifyError::MalformedBundle { detail } if detail.contains("self-signed root")),
        "{err:?}"
    );
}

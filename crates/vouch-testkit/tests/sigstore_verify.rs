//! Honesty of the testkit against an independent verifier, sigstore-verify
//! 0.15.1 (sigstore/sigstore-rust): every kind of material the testkit
//! produces verifies with the testkit's trusted root, a one-bit change to
//! each signature makes it fail, and each defect `SignOptions` can inject is
//! rejected.

mod common;

use common::{
    NOW, RELEASE_SAN, flip_b64, flip_b64_field, legacy_attestation_to_bundle,
    legacy_signature_to_bundle, release_workflow, sha256_hex,
};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Artifact, Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, VerificationResult, Verifier};
use std::sync::LazyLock;
use vouch_testkit::{
    DsseEntryKind, GITHUB_ACTIONS_ISSUER, Identity, IssuerClaim, IssuingCa, LeafEku, Presence, San,
    SctChoice, SignOptions, VirtualSigstore, in_toto_statement,
};

/// The instance most tests use.
static PROD: LazyLock<VirtualSigstore> = LazyLock::new(|| VirtualSigstore::new("prod", NOW));

/// A second, independent instance.
static STAGING: LazyLock<VirtualSigstore> = LazyLock::new(|| VirtualSigstore::new("staging", NOW));

const ARTIFACT: &[u8] = b"vouch release artifact\n";

/// Verifies `bundle_json` against `trust`'s trusted root, requiring
/// `identity` and `issuer`.
fn verify_with(
    trust: &VirtualSigstore,
    artifact: Artifact<'_>,
    bundle_json: &str,
    identity: &str,
    issuer: &str,
) -> Result<VerificationResult, String> {
    let root = TrustedRoot::from_json(&trust.trusted_root_json()).expect("trusted root parses");
    let bundle = Bundle::from_json(bundle_json).map_err(|e| format!("bundle: {e}"))?;
    Verifier::new(&root)
        .expect("verifier")
        .verify(
            artifact,
            &bundle,
            &VerificationPolicy::new(identity, issuer),
        )
        .map_err(|e| e.to_string())
}

/// Verifies against the prod instance with the release workflow identity.
fn verify(artifact: Artifact<'_>, bundle_json: &str) -> Result<VerificationResult, String> {
    verify_with(
        &PROD,
        artifact,
        bundle_json,
        RELEASE_SAN,
        GITHUB_ACTIONS_ISSUER,
    )
}

/// Asserts that verification fails with an error mentioning `needle`.
#[track_caller]
fn assert_rejected(result: Result<VerificationResult, String>, needle: &str) {
    match result {
        Ok(_) => panic!("expected rejection mentioning {needle:?}, but it verified"),
        Err(e) => assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "expected error mentioning {needle:?}, got: {e}"
        ),
    }
}

fn statement() -> Vec<u8> {
    in_toto_statement(
        "app.tar.gz",
        &sha256_hex(ARTIFACT),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({"buildDefinition": {"buildType": "https://example.test/build/v1"}}),
    )
}

fn subject_digest() -> Sha256Hash {
    Sha256Hash::from_hex(&sha256_hex(ARTIFACT)).expect("hex digest")
}

fn signed_blob(options: SignOptions) -> String {
    PROD.sign_blob(ARTIFACT, options).json
}

fn opts() -> SignOptions {
    SignOptions::new(release_workflow())
}

// --- every output kind verifies, and a flipped signature does not ---

#[test]
fn accepts_message_signature_bundle() {
    let signed = PROD.sign_blob(ARTIFACT, release_workflow());
    let result = verify(ARTIFACT.into(), &signed.json).expect("verifies");
    assert!(result.certificate_verified());
    assert!(result.sct_verified());
    assert!(result.tlog_verified());
    assert_eq!(
        result.integrated_time().map(|t| t.as_second()),
        Some(NOW as i64)
    );
    let claims = &result.certificate().expect("certificate").ci_claims;
    assert_eq!(claims.build_signer_uri.as_deref(), Some(RELEASE_SAN));
    assert_eq!(
        claims.source_repository_uri.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(
        claims.source_repository_ref.as_deref(),
        Some("refs/tags/v1.0.0")
    );
}

#[test]
fn accepts_message_signature_bundle_by_digest() {
    let signed = PROD.sign_blob(ARTIFACT, release_workflow());
    verify(subject_digest().into(), &signed.json).expect("verifies by digest");
}

#[test]
fn rejects_message_signature_bundle_with_flipped_signature() {
    let signed = PROD.sign_blob(ARTIFACT, release_workflow());
    let tampered = flip_b64_field(&signed.json, "/messageSignature/signature");
    assert_rejected(
        verify(ARTIFACT.into(), &tampered),
        "signature verification failed",
    );
}

#[test]
fn rejects_message_signature_bundle_for_other_artifact() {
    let signed = PROD.sign_blob(ARTIFACT, release_workflow());
    assert_rejected(
        verify(b"another artifact".into(), &signed.json),
        "artifact mismatch",
    );
}

#[test]
fn accepts_dsse_statement_bundle() {
    let signed = PROD.sign_statement(&statement(), release_workflow());
    assert!(signed.json.contains("\"kind\": \"dsse\""));
    let result = verify(subject_digest().into(), &signed.json).expect("verifies");
    assert!(result.tlog_verified() && result.sct_verified());
    verify(ARTIFACT.into(), &signed.json).expect("verifies against the subject bytes too");
}

#[test]
fn rejects_dsse_statement_bundle_with_flipped_signature() {
    let signed = PROD.sign_statement(&statement(), release_workflow());
    let tampered = flip_b64_field(&signed.json, "/dsseEnvelope/signatures/0/sig");
    assert_rejected(
        verify(subject_digest().into(), &tampered),
        "DSSE signature verification failed",
    );
}

#[test]
fn rejects_dsse_statement_bundle_for_other_subject() {
    let signed = PROD.sign_statement(&statement(), release_workflow());
    let other = Sha256Hash::from_hex(&sha256_hex(b"other")).expect("hex");
    assert_rejected(verify(other.into(), &signed.json), "artifact mismatch");
}

#[test]
fn accepts_intoto_v002_statement_bundle() {
    let signed = PROD.sign_statement(
        &statement(),
        opts().dsse_entry_kind(DsseEntryKind::IntotoV002),
    );
    assert!(signed.json.contains("\"version\": \"0.0.2\""));
    verify(subject_digest().into(), &signed.json).expect("verifies");
    let tampered = flip_b64_field(&signed.json, "/dsseEnvelope/signatures/0/sig");
    assert_rejected(
        verify(subject_digest().into(), &tampered),
        "DSSE signature verification failed",
    );
}

#[test]
fn accepts_legacy_image_signature_converted_to_v01_bundle() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let sig = PROD.sign_image_legacy("registry.test/acme/app", &digest, release_workflow());
    let bundle = legacy_signature_to_bundle(&sig);
    let result = verify(sig.payload.as_slice().into(), &bundle).expect("verifies");
    assert!(result.tlog_verified(), "SET-only entry counts as logged");
    assert_eq!(
        result.integrated_time().map(|t| t.as_second()),
        Some(sig.integrated_time as i64)
    );
}

#[test]
fn rejects_legacy_image_signature_with_flipped_signature() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let mut sig = PROD.sign_image_legacy("registry.test/acme/app", &digest, release_workflow());
    sig.signature_b64 = flip_b64(&sig.signature_b64);
    let bundle = legacy_signature_to_bundle(&sig);
    assert_rejected(
        verify(sig.payload.as_slice().into(), &bundle),
        "signature verification failed",
    );
}

#[test]
fn accepts_legacy_attestation_converted_to_v01_bundle() {
    let att = PROD.attest_image_legacy(&statement(), release_workflow());
    let bundle = legacy_attestation_to_bundle(&att);
    assert!(bundle.contains("\"kind\":\"dsse\""));
    verify(subject_digest().into(), &bundle).expect("verifies");
}

#[test]
fn rejects_legacy_attestation_with_flipped_signature() {
    let att = PROD.attest_image_legacy(&statement(), release_workflow());
    let bundle = legacy_attestation_to_bundle(&att);
    let tampered = flip_b64_field(&bundle, "/dsseEnvelope/signatures/0/sig");
    assert_rejected(
        verify(subject_digest().into(), &tampered),
        "DSSE signature verification failed",
    );
}

#[test]
fn accepts_legacy_intoto_v002_attestation_converted_to_v01_bundle() {
    let att = PROD.attest_image_legacy(
        &statement(),
        opts().dsse_entry_kind(DsseEntryKind::IntotoV002),
    );
    let bundle = legacy_attestation_to_bundle(&att);
    verify(subject_digest().into(), &bundle).expect("verifies");
}

#[test]
fn legacy_intoto_v001_attestation_is_outside_sigstore_verify() {
    // cosign 2.0-2.2 (and `--rekor-entry-type=intoto`) upload intoto 0.0.1;
    // sigstore-verify 0.15.1 knows only intoto 0.0.2, so it cannot be the
    // honesty check for this kind (tests/structure.rs checks it instead).
    let att = PROD.attest_image_legacy(
        &statement(),
        opts().dsse_entry_kind(DsseEntryKind::IntotoV001),
    );
    let bundle = legacy_attestation_to_bundle(&att);
    assert_rejected(verify(subject_digest().into(), &bundle), "intoto/0.0.1");
}

// --- every part of the log proof is checked and correct ---

#[test]
fn rejects_flipped_inclusion_promise() {
    let json = signed_blob(opts());
    let tampered = flip_b64_field(
        &json,
        "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
    );
    assert_rejected(verify(ARTIFACT.into(), &tampered), "SET");
}

#[test]
fn rejects_flipped_inclusion_proof_hash() {
    let json = signed_blob(opts());
    let tampered = flip_b64_field(
        &json,
        "/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0",
    );
    assert_rejected(verify(ARTIFACT.into(), &tampered), "inclusion proof");
}

#[test]
fn rejects_tampered_checkpoint_signature() {
    let json = signed_blob(opts());
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let pointer = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
    let envelope = value
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .expect("checkpoint");
    let (head, sig_line) = envelope.rsplit_once("\n\u{2014} ").expect("signature line");
    let (name, sig) = sig_line
        .trim_end()
        .split_once(' ')
        .expect("name and signature");
    let tampered = format!("{head}\n\u{2014} {name} {}\n", flip_b64(sig));
    *value.pointer_mut(pointer).expect("checkpoint") = tampered.into();
    assert_rejected(verify(ARTIFACT.into(), &value.to_string()), "checkpoint");
}

#[test]
fn rejects_tampered_integrated_time() {
    let json = signed_blob(opts());
    let tampered = json.replacen(
        &format!("\"integratedTime\": \"{NOW}\""),
        &format!("\"integratedTime\": \"{}\"", NOW + 1),
        1,
    );
    assert_ne!(json, tampered);
    assert_rejected(verify(ARTIFACT.into(), &tampered), "SET");
}

// --- each defect the options inject is rejected ---

#[test]
fn rejects_other_identity() {
    let json = signed_blob(SignOptions::new(Identity::github_actions(
        "evil/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )));
    assert_rejected(verify(ARTIFACT.into(), &json), "identity");
}

#[test]
fn rejects_other_issuer() {
    let json = signed_blob(SignOptions::new(Identity::uri(
        RELEASE_SAN,
        "https://token.evil.test",
    )));
    assert_rejected(verify(ARTIFACT.into(), &json), "issuer");
}

#[test]
fn accepts_email_identity() {
    let id = Identity::email("alice@example.test", "https://accounts.example.test");
    let json = PROD.sign_blob(ARTIFACT, &id).json;
    verify_with(
        &PROD,
        ARTIFACT.into(),
        &json,
        "alice@example.test",
        "https://accounts.example.test",
    )
    .expect("verifies");
}

#[test]
fn rejects_leaf_from_untrusted_ca() {
    let json = signed_blob(opts().issuing_ca(IssuingCa::Untrusted));
    assert_rejected(verify(ARTIFACT.into(), &json), "chain");
}

#[test]
fn rejects_leaf_without_sct() {
    let json = signed_blob(opts().sct(SctChoice::Omitted));
    assert_rejected(verify(ARTIFACT.into(), &json), "SCT");
}

#[test]
fn rejects_leaf_with_sct_from_untrusted_log() {
    let json = signed_blob(opts().sct(SctChoice::FromUntrustedLog));
    assert_rejected(verify(ARTIFACT.into(), &json), "SCT");
}

#[test]
fn rejects_leaf_without_code_signing_eku() {
    for eku in [LeafEku::ServerAuthOnly, LeafEku::Omitted] {
        let json = signed_blob(opts().eku(eku));
        assert_rejected(verify(ARTIFACT.into(), &json), "chain");
    }
}

#[test]
fn rejects_certificate_expired_at_integration_time() {
    let json = signed_blob(opts().cert_validity(NOW - 1200, NOW - 600));
    assert_rejected(verify(ARTIFACT.into(), &json), "expired");
}

#[test]
fn rejects_certificate_not_yet_valid_at_integration_time() {
    let json = signed_blob(opts().cert_validity(NOW + 600, NOW + 1200));
    assert_rejected(verify(ARTIFACT.into(), &json), "valid");
}

#[test]
fn rejects_integration_after_certificate_expiry() {
    let json = signed_blob(opts().integrated_time(NOW + 3600));
    assert!(json.contains(&format!("\"integratedTime\": \"{}\"", NOW + 3600)));
    assert_rejected(verify(ARTIFACT.into(), &json), "expired");
}

#[test]
fn accepts_integration_inside_certificate_validity() {
    let json = signed_blob(opts().integrated_time(NOW + 300));
    verify(ARTIFACT.into(), &json).expect("integration within the 10 minutes verifies");
}

#[test]
fn rejects_bundle_from_other_instance() {
    let json = STAGING.sign_blob(ARTIFACT, release_workflow()).json;
    assert_rejected(verify(ARTIFACT.into(), &json), "inclusion promise");
    verify_with(
        &STAGING,
        ARTIFACT.into(),
        &json,
        RELEASE_SAN,
        GITHUB_ACTIONS_ISSUER,
    )
    .expect("verifies with its own instance's root");
}

#[test]
fn rejects_v03_bundle_without_inclusion_proof() {
    let json = signed_blob(opts().inclusion_proof(Presence::Absent));
    assert!(!json.contains("inclusionProof"));
    assert_rejected(verify(ARTIFACT.into(), &json), "inclusion proof");
}

#[test]
fn rejects_bundle_without_inclusion_promise_or_timestamp() {
    let json = signed_blob(opts().inclusion_promise(Presence::Absent));
    assert!(!json.contains("inclusionPromise"));
    assert_rejected(verify(ARTIFACT.into(), &json), "timestamp");
}

#[test]
fn legacy_signature_without_set_has_no_rekor_bundle() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let sig = PROD.sign_image_legacy(
        "registry.test/acme/app",
        &digest,
        opts().inclusion_promise(Presence::Absent),
    );
    assert!(sig.rekor_bundle_json.is_none());
    assert!(
        !sig.annotations()
            .iter()
            .any(|(k, _)| k == vouch_testkit::BUNDLE_ANNOTATION)
    );
}

// --- what sigstore-verify does with ambiguous certificates (observations) ---

#[test]
fn sigstore_verify_prefers_issuer_v2_when_the_two_disagree() {
    let json =
        signed_blob(opts().legacy_issuer(IssuerClaim::Value("https://token.evil.test".into())));
    verify(ARTIFACT.into(), &json).expect("sigstore-verify reads .1.8 and ignores .1.1");
}

#[test]
fn sigstore_verify_falls_back_to_legacy_issuer() {
    let json = signed_blob(opts().issuer_v2(IssuerClaim::Omitted));
    verify(ARTIFACT.into(), &json).expect("only .1.1 present");
    let neither = signed_blob(
        opts()
            .issuer_v2(IssuerClaim::Omitted)
            .legacy_issuer(IssuerClaim::Omitted),
    );
    assert_rejected(verify(ARTIFACT.into(), &neither), "issuer");
}

#[test]
fn sigstore_verify_matches_only_the_first_san() {
    let json = signed_blob(
        SignOptions::new(Identity::github_actions(
            "evil/app",
            ".github/workflows/release.yml",
            "refs/tags/v1.0.0",
        ))
        .extra_san(San::Uri(RELEASE_SAN.to_owned())),
    );
    assert_rejected(verify(ARTIFACT.into(), &json), "identity");
}

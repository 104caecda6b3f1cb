//! ATTACKS.md cases that need material no real fixture has, minted by the
//! in-process virtual Sigstore (`vouch-testkit`). Each test asserts the reason
//! for the rejection, and each starts from a control that verifies, so a test
//! cannot pass because the material was broken in some other way.

use serde_json::json;
use vouch_testkit::{
    DsseEntryKind, GITHUB_ACTIONS_ISSUER, Identity, IssuerClaim, IssuingCa, LeafEku, Presence, San,
    SctChoice, SignOptions, VirtualSigstore,
};
use vouch_verify::*;

/// A time in the past: sigstore-verify refuses integrated times in the future.
const NOW: u64 = 1_750_000_000;
const REPO: &str = "acme/app";
const WORKFLOW: &str = ".github/workflows/release.yml";
const REF: &str = "refs/tags/v1.0.0";

fn sigstore() -> VirtualSigstore {
    VirtualSigstore::new("prod", NOW)
}

fn identity() -> Identity {
    Identity::github_actions(REPO, WORKFLOW, REF)
}

fn identity_uri() -> String {
    format!("https://github.com/{REPO}/{WORKFLOW}@{REF}")
}

fn material(s: &VirtualSigstore) -> TrustedMaterial {
    TrustedMaterial::from_json(s.trusted_root_json().as_bytes()).unwrap()
}

fn policy() -> SignerPolicy {
    SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(identity_uri()),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ))
}

/// Verifies a blob signature made with `options`.
fn blob(options: SignOptions) -> Result<VerifiedSignature, VerifyError> {
    let s = sigstore();
    let signed = s.sign_blob(b"artifact", options);
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes())?;
    verify_bundle(
        &material(&s),
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &policy(),
    )
}

/// Asserts that a blob signed with `options` is refused with an error
/// `expected` accepts; returns it.
fn rejected(options: SignOptions, expected: impl Fn(&VerifyError) -> bool) -> VerifyError {
    let err = blob(options).expect_err("accepted");
    assert!(expected(&err), "refused as {err:?}");
    err
}

/// A certificate refused for `problem`.
fn certificate(e: &VerifyError, problem: fn(&CertificateError) -> bool) -> bool {
    matches!(e, VerifyError::Certificate(c) if problem(c))
}

#[test]
fn control_a_testkit_blob_signature_verifies_with_its_claims() {
    let v = blob(SignOptions::new(identity())).unwrap();
    let claims = v.certificate().unwrap();
    assert_eq!(claims.identity, identity_uri());
    assert_eq!(claims.github.workflow_repository.as_deref(), Some(REPO));
    assert!(v.integrated_time().is_some());
}

// D. Certificates

#[test]
fn d48_certificate_without_sct_is_refused() {
    rejected(SignOptions::new(identity()).sct(SctChoice::Omitted), |e| {
        certificate(e, |c| matches!(c, CertificateError::Sct { .. }))
    });
}

#[test]
fn d45_sct_from_a_log_not_in_the_trusted_root_is_refused() {
    rejected(
        SignOptions::new(identity()).sct(SctChoice::FromUntrustedLog),
        |e| certificate(e, |c| matches!(c, CertificateError::Sct { .. })),
    );
}

#[test]
fn d49_leaf_without_code_signing_eku_is_refused() {
    for eku in [LeafEku::ServerAuthOnly, LeafEku::Omitted] {
        let err = rejected(SignOptions::new(identity()).eku(eku), |e| {
            certificate(e, |c| matches!(c, CertificateError::NotForCodeSigning))
        });
        // People read what is wrong, not webpki's name for it.
        assert!(!err.to_string().contains("Eku"), "{err}");
    }
}

#[test]
fn d49_leaf_from_an_attacker_ca_with_the_same_names_is_refused() {
    // The chain builder finds the trusted CA by the names the leaf gives,
    // and the leaf's signature does not verify with that CA's key.
    rejected(
        SignOptions::new(identity()).issuing_ca(IssuingCa::Untrusted),
        |e| certificate(e, |c| matches!(c, CertificateError::ChainSignatureInvalid)),
    );
}

#[test]
fn d42_integration_after_certificate_expiry_is_refused() {
    // The testkit's certificates are valid for ten minutes from NOW.
    let err = rejected(
        SignOptions::new(identity()).integrated_time(NOW + 3_600),
        |e| {
            certificate(e, |c| {
                matches!(c, CertificateError::ExpiredAtSigningTime { signed_at, not_after }
                    if signed_at.as_second() == (NOW + 3_600) as i64
                        && not_after.as_second() == (NOW + 600) as i64)
            })
        },
    );
    assert!(!err.to_string().contains("CertExpired"), "{err}");
}

#[test]
fn d42_certificate_not_yet_valid_at_integration_is_refused() {
    let err = rejected(
        SignOptions::new(identity()).cert_validity(NOW + 60, NOW + 660),
        |e| {
            certificate(e, |c| {
                matches!(c, CertificateError::NotYetValidAtSigningTime { signed_at, not_before }
                    if signed_at.as_second() == NOW as i64
                        && not_before.as_second() == (NOW + 60) as i64)
            })
        },
    );
    assert!(!err.to_string().contains("CertNotValidYet"), "{err}");
}

// F. Identity

#[test]
fn f63_disagreeing_issuer_extensions_are_refused() {
    let options = SignOptions::new(identity())
        .legacy_issuer(IssuerClaim::Value("https://accounts.evil.example".into()));
    rejected(options, |e| {
        matches!(e, VerifyError::AmbiguousCertificate { detail }
            if detail.contains("OIDC issuer extensions disagree"))
    });
}

#[test]
fn f63_issuer_only_in_legacy_extension_is_read() {
    // Older certificates carry only .1.1; that is not ambiguous.
    let v = blob(SignOptions::new(identity()).issuer_v2(IssuerClaim::Omitted)).unwrap();
    assert_eq!(v.certificate().unwrap().issuer, GITHUB_ACTIONS_ISSUER);
}

#[test]
fn f64_certificate_with_an_extra_san_is_refused() {
    let options = SignOptions::new(identity()).extra_san(San::Uri(
        "https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main".into(),
    ));
    rejected(options, |e| {
        matches!(e, VerifyError::AmbiguousCertificate { detail }
            if detail.contains("subject alternative names"))
    });
}

#[test]
fn f62_unanchored_pattern_cannot_be_satisfied_by_an_attacker_identity() {
    let s = sigstore();
    let evil = Identity::github_actions("evil/x", &format!("{WORKFLOW}/github.com/{REPO}/"), REF);
    let signed = s.sign_blob(b"artifact", &evil);
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let pattern = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::regex(r"github\.com/acme/app/").unwrap(),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ));
    let err = verify_bundle(
        &material(&s),
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &pattern,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Policy {
                problem: PolicyError::Mismatch {
                    what: "identity",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn f_wrong_issuer_is_refused_showing_the_real_one() {
    let s = sigstore();
    let google = Identity::email("dev@example.com", "https://accounts.google.com");
    let signed = s.sign_blob(b"artifact", &google);
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let want = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact("dev@example.com".into()),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ));
    let err = verify_bundle(
        &material(&s),
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &want,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::Policy {
                problem: PolicyError::Mismatch { what: "OIDC issuer", actual, .. },
                ..
            } if actual == "https://accounts.google.com"
        ),
        "{err:?}"
    );
}

// A / C. Log evidence

#[test]
fn a09_v03_bundle_without_inclusion_proof_is_refused() {
    rejected(
        SignOptions::new(identity()).inclusion_proof(Presence::Absent),
        |e| {
            matches!(e, VerifyError::UnverifiableBundle { detail }
                if detail.contains("must have an inclusion proof"))
        },
    );
}

#[test]
fn a07_bundle_from_another_instance_is_refused() {
    let staging = VirtualSigstore::new("staging", NOW);
    let signed = staging.sign_blob(b"artifact", identity());
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let err = verify_bundle(
        &material(&sigstore()),
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &policy(),
    )
    .unwrap_err();
    // The log evidence is checked first: the staging log's key is not in
    // the production root.
    assert!(matches!(err, VerifyError::TransparencyLog(_)), "{err:?}");
}

// B. Attestations

fn statement(digest: &Sha256Digest, predicate_type: &str) -> Vec<u8> {
    vouch_testkit::in_toto_statement("image", &digest.hex(), predicate_type, &json!({"k": "v"}))
}

#[test]
fn b22_attestation_for_another_image_is_refused() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let signed = s.sign_statement(
        &statement(&image, "https://slsa.dev/provenance/v1"),
        identity(),
    );
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let ok = verify_attestation(
        &material(&s),
        &bundle,
        ArtifactInput::Sha256(image),
        &policy(),
    )
    .unwrap();
    assert_eq!(ok.predicate_type(), "https://slsa.dev/provenance/v1");
    let other = Sha256Digest::of(b"other image");
    let err = verify_attestation(
        &material(&s),
        &bundle,
        ArtifactInput::Sha256(other),
        &policy(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, VerifyError::ArtifactMismatch { detail }
            if detail.contains("does not match any subject")),
        "{err:?}"
    );
}

#[test]
fn b24_dsse_payload_type_other_than_in_toto_is_refused() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let signed = s.sign_dsse("application/json", &statement(&image, "x:y"), identity());
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let err = verify_attestation(
        &material(&s),
        &bundle,
        ArtifactInput::Sha256(image),
        &policy(),
    )
    .unwrap_err();
    // sigstore-verify refuses to bind a non-in-toto payload to a digest; our
    // own check (`attestation_from`) would refuse it too.
    assert!(
        matches!(&err, VerifyError::UnverifiableBundle { detail } if detail.contains("payload type")),
        "{err:?}"
    );
}

// Legacy cosign signatures and attestations (SPEC.md §2.1–§2.3, §3.1)

fn legacy_sig(pieces: &vouch_testkit::LegacySignature) -> LegacySignature {
    LegacySignature::new(
        pieces.payload.clone(),
        pieces.signature_b64.clone(),
        Some(pieces.certificate_pem.clone()),
        pieces.rekor_bundle_json.clone().map(String::into_bytes),
    )
    .with_chain(Some(pieces.chain_pem.clone()))
}

fn legacy_att(pieces: &vouch_testkit::LegacyAttestation) -> LegacyAttestation {
    LegacyAttestation::new(
        pieces.payload.clone(),
        Some(pieces.certificate_pem.clone()),
        pieces.rekor_bundle_json.clone().map(String::into_bytes),
    )
}

#[test]
fn legacy_testkit_signature_verifies_and_binds_the_image() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let pieces = s.sign_image_legacy("registry.test/acme/app", &image.to_string(), identity());
    let v = verify_legacy_signature(&material(&s), &legacy_sig(&pieces), image, &policy()).unwrap();
    assert_eq!(v.log_index(), Some(pieces.log_index));
    let other = Sha256Digest::of(b"other");
    let err =
        verify_legacy_signature(&material(&s), &legacy_sig(&pieces), other, &policy()).unwrap_err();
    assert!(matches!(err, VerifyError::DigestMismatch { .. }), "{err}");
}

#[test]
fn c36_legacy_rekor_bundle_from_another_signature_is_refused() {
    // GHSA-whqx-f9j3-ch6m: the SET is valid, but for another entry.
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let a = s.sign_image_legacy("registry.test/acme/app", &image.to_string(), identity());
    let b = s.sign_image_legacy("registry.test/acme/app", &image.to_string(), identity());
    let mut mixed = legacy_sig(&a);
    mixed.rekor_bundle = b.rekor_bundle_json.clone().map(String::into_bytes);
    let err = verify_legacy_signature(&material(&s), &mixed, image, &policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::TransparencyLog(LogError::EntryMismatch { detail })
            if detail.contains("certificate in bundle does not match")),
        "{err:?}"
    );
}

#[test]
fn c36_legacy_signature_without_set_is_refused() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let pieces = s.sign_image_legacy(
        "registry.test/acme/app",
        &image.to_string(),
        SignOptions::new(identity()).inclusion_promise(Presence::Absent),
    );
    let err =
        verify_legacy_signature(&material(&s), &legacy_sig(&pieces), image, &policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::LegacySignature { detail }
            if detail.contains("dev.sigstore.cosign/bundle")),
        "{err:?}"
    );
}

#[test]
fn legacy_attestation_with_dsse_entry_verifies_and_binds_the_image() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let st = statement(&image, "https://spdx.dev/Document");
    let pieces = s.attest_image_legacy(
        &st,
        SignOptions::new(identity()).dsse_entry_kind(DsseEntryKind::Dsse),
    );
    let v =
        verify_legacy_attestation(&material(&s), &legacy_att(&pieces), image, &policy()).unwrap();
    assert_eq!(v.predicate_type(), "https://spdx.dev/Document");
    let other = Sha256Digest::of(b"other");
    assert!(
        verify_legacy_attestation(&material(&s), &legacy_att(&pieces), other, &policy()).is_err()
    );
}

#[test]
fn legacy_attestation_with_intoto_v002_entry_verifies() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let st = statement(&image, "https://openvex.dev/ns/v0.2.0");
    let pieces = s.attest_image_legacy(
        &st,
        SignOptions::new(identity()).dsse_entry_kind(DsseEntryKind::IntotoV002),
    );
    let v =
        verify_legacy_attestation(&material(&s), &legacy_att(&pieces), image, &policy()).unwrap();
    assert_eq!(v.predicate_type(), "https://openvex.dev/ns/v0.2.0");
}

#[test]
fn legacy_attestation_with_intoto_v001_entry_is_refused_clearly() {
    // cosign 2.0–2.2 logged intoto 0.0.1; sigstore-verify (like sigstore-go)
    // does not support that kind. Refused with a message, not accepted blindly.
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let st = statement(&image, "https://spdx.dev/Document");
    let pieces = s.attest_image_legacy(
        &st,
        SignOptions::new(identity()).dsse_entry_kind(DsseEntryKind::IntotoV001),
    );
    let err = verify_legacy_attestation(&material(&s), &legacy_att(&pieces), image, &policy())
        .unwrap_err();
    assert!(matches!(err, VerifyError::LegacySignature { .. }), "{err}");
}

#[test]
fn legacy_attestation_layer_differing_from_the_logged_envelope_is_refused() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let st = statement(&image, "https://spdx.dev/Document");
    let pieces = s.attest_image_legacy(&st, identity());
    let mut att = legacy_att(&pieces);
    // Same envelope, re-serialised with whitespace: not the logged bytes.
    let value: serde_json::Value = serde_json::from_slice(&att.envelope).unwrap();
    att.envelope = serde_json::to_vec_pretty(&value).unwrap();
    let err = verify_legacy_attestation(&material(&s), &att, image, &policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::DigestMismatch { expected, .. }
            if expected.contains("logged envelope hash")),
        "{err:?}"
    );
}

#[test]
fn legacy_attestation_with_two_signatures_is_refused() {
    let s = sigstore();
    let image = Sha256Digest::of(b"image");
    let pieces = s.attest_image_legacy(&statement(&image, "x:y"), identity());
    let mut att = legacy_att(&pieces);
    let mut value: serde_json::Value = serde_json::from_slice(&att.envelope).unwrap();
    let sig = value["signatures"][0].clone();
    value["signatures"].as_array_mut().unwrap().push(sig);
    att.envelope = serde_json::to_vec(&value).unwrap();
    let err = verify_legacy_attestation(&material(&s), &att, image, &policy()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::LegacySignature { detail } if detail.contains("2 signatures")),
        "{err:?}"
    );
}

// D. Certificates, against trusted roots that cannot vouch for them

/// `s`'s trusted root with its Fulcio CAs replaced by `edit`'s result.
fn material_with_cas(
    s: &VirtualSigstore,
    edit: impl FnOnce(serde_json::Value) -> serde_json::Value,
) -> TrustedMaterial {
    let mut root: serde_json::Value = serde_json::from_str(&s.trusted_root_json()).unwrap();
    root["certificateAuthorities"] = edit(root["certificateAuthorities"].take());
    TrustedMaterial::from_json(root.to_string().as_bytes()).unwrap()
}

fn verify_with(material: &TrustedMaterial, s: &VirtualSigstore) -> VerifyError {
    let signed = s.sign_blob(b"artifact", identity());
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    verify_bundle(
        material,
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &policy(),
    )
    .unwrap_err()
}

#[test]
fn d49_leaf_whose_issuer_is_no_ca_of_the_trusted_root_is_refused() {
    // The instance's log and CT keys, but the public-good Fulcio CAs: no CA
    // of the root has the leaf's issuer name.
    let s = sigstore();
    let public_good: serde_json::Value =
        serde_json::from_str(sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap();
    let material = material_with_cas(&s, |_| public_good["certificateAuthorities"].clone());
    let err = verify_with(&material, &s);
    assert!(
        matches!(
            err,
            VerifyError::Certificate(CertificateError::UntrustedIssuer)
        ),
        "{err:?}"
    );
}

#[test]
fn d43_no_ca_of_the_trusted_root_valid_at_the_signing_time_is_refused() {
    // The instance's own CA, but trusted only until before the signature.
    let s = sigstore();
    let end = jiff::Timestamp::from_second(NOW as i64 - 60).unwrap();
    let material = material_with_cas(&s, |mut cas| {
        for ca in cas.as_array_mut().unwrap() {
            ca["validFor"]["end"] = end.to_string().into();
        }
        cas
    });
    let err = verify_with(&material, &s);
    assert!(
        matches!(
            err,
            VerifyError::Certificate(CertificateError::NoAuthorityAt { signed_at })
                if signed_at.as_second() == NOW as i64
        ),
        "{err:?}"
    );
}

// cosign's --check-claims=false: the binding to the image is skipped by name,
// every other check still runs.

fn unchecked_claims(s: &VirtualSigstore) -> TrustedMaterial {
    material(s).with_checks(Checks::all().with_claims(ClaimCheck::InsecureSkipped))
}

#[test]
fn without_the_claim_check_a_signature_for_another_image_verifies_and_names_that_image() {
    let s = sigstore();
    let (image, other) = (Sha256Digest::of(b"image"), Sha256Digest::of(b"other"));
    let pieces = s.sign_image_legacy("registry.test/acme/app", &other.to_string(), identity());
    let err =
        verify_legacy_signature(&material(&s), &legacy_sig(&pieces), image, &policy()).unwrap_err();
    assert!(matches!(err, VerifyError::DigestMismatch { .. }), "{err}");
    let v = verify_legacy_signature(
        &unchecked_claims(&s),
        &legacy_sig(&pieces),
        image,
        &policy(),
    )
    .unwrap();
    assert_eq!(v.artifact_digest(), other.to_string());
    assert_eq!(v.checks().claims, ClaimCheck::InsecureSkipped);
}

#[test]
fn without_the_claim_check_the_signature_and_identity_are_still_checked() {
    let s = sigstore();
    let (image, other) = (Sha256Digest::of(b"image"), Sha256Digest::of(b"other"));
    let pieces = s.sign_image_legacy("registry.test/acme/app", &other.to_string(), identity());
    let mut forged = legacy_sig(&pieces);
    forged.payload.push(b' ');
    let err =
        verify_legacy_signature(&unchecked_claims(&s), &forged, image, &policy()).unwrap_err();
    assert!(!matches!(err, VerifyError::DigestMismatch { .. }), "{err}");
    let stranger = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(
            "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main".into(),
        ),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ));
    let err = verify_legacy_signature(
        &unchecked_claims(&s),
        &legacy_sig(&pieces),
        image,
        &stranger,
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::Policy { .. }), "{err}");
}

#[test]
fn without_the_claim_check_attestations_about_another_image_verify() {
    let s = sigstore();
    let (image, other) = (Sha256Digest::of(b"image"), Sha256Digest::of(b"other"));
    let st = statement(&other, "https://spdx.dev/Document");
    let bundle = s.sign_statement(&st, identity());
    let bundle = SigstoreBundle::from_json(bundle.json.as_bytes()).unwrap();
    let subject = ArtifactInput::Sha256(image);
    let err = verify_attestation(&material(&s), &bundle, subject, &policy()).unwrap_err();
    assert!(
        matches!(err, VerifyError::ArtifactMismatch { .. }),
        "{err:?}"
    );
    let v = verify_attestation(&unchecked_claims(&s), &bundle, subject, &policy()).unwrap();
    assert_eq!(v.signature().artifact_digest(), other.to_string());
    let pieces = s.attest_image_legacy(
        &st,
        SignOptions::new(identity()).dsse_entry_kind(DsseEntryKind::Dsse),
    );
    assert!(
        verify_legacy_attestation(&material(&s), &legacy_att(&pieces), image, &policy()).is_err()
    );
    let v = verify_legacy_attestation(
        &unchecked_claims(&s),
        &legacy_att(&pieces),
        image,
        &policy(),
    )
    .unwrap();
    assert_eq!(v.signature().artifact_digest(), other.to_string());
}

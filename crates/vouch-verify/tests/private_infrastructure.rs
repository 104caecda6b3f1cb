//! Trust domains without a transparency log or CT log (GitHub's instance for
//! private repositories, a private Sigstore): `Checks` switches a check off
//! only when asked, and a bundle must then still prove its signing time
//! with a timestamp from a trusted timestamp authority.

use vouch_testkit::{
    GITHUB_ACTIONS_ISSUER, GITHUB_ATTESTATION_BUNDLE, GITHUB_ATTESTATION_SUBJECT,
    GITHUB_TRUSTED_ROOT, Identity, Presence, SctChoice, SignOptions, VirtualSigstore,
};
use vouch_verify::*;

const NOW: u64 = 1_750_000_000;

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

fn policy() -> SignerPolicy {
    SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(
            "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0".into(),
        ),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ))
}

/// What GitHub's instance accepts: no log, no SCT.
fn relaxed() -> Checks {
    Checks::all()
        .with_log(LogCheck::InsecureSkipped)
        .with_sct(SctCheck::InsecureSkipped)
}

/// Verifies a blob signed by a private instance with `options` under `checks`.
fn private(options: SignOptions, checks: Checks) -> Result<VerifiedSignature, VerifyError> {
    let s = VirtualSigstore::new("private", NOW);
    let signed = s.sign_blob(b"artifact", options);
    let material =
        TrustedMaterial::from_json(s.private_trusted_root_json().as_bytes())?.with_checks(checks);
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes())?;
    verify_bundle(
        &material,
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &policy(),
    )
}

#[test]
fn a_timestamp_only_signature_verifies_when_log_and_sct_are_skipped() {
    let options = SignOptions::new(identity()).private_infrastructure(NOW);
    let verified = private(options.clone(), relaxed()).unwrap();
    assert_eq!(verified.log_index(), None);
    assert_eq!(verified.verified_times().len(), 1);
    let required = relaxed().with_timestamp(TimestampCheck::Required);
    private(options, required).unwrap();
}

#[test]
fn by_default_a_signature_without_a_log_entry_is_refused() {
    let options = SignOptions::new(identity()).private_infrastructure(NOW);
    let err = private(
        options.clone(),
        Checks::all().with_sct(SctCheck::InsecureSkipped),
    )
    .unwrap_err();
    assert!(
        matches!(err, VerifyError::UnverifiableBundle { .. }),
        "{err:?}"
    );
    // With the log skipped, the SCT is still required by default.
    let err = private(options, Checks::all().with_log(LogCheck::InsecureSkipped)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Certificate(CertificateError::Sct { .. })),
        "{err:?}"
    );
}

#[test]
fn with_the_log_skipped_a_signature_without_timestamp_is_refused() {
    let options = SignOptions::new(identity())
        .at(NOW)
        .sct(SctChoice::Omitted)
        .log_entry(Presence::Absent);
    let err = private(options, relaxed()).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Timestamp(TimestampError::Missing(TimestampNeed::NoLogEvidence))
        ),
        "{err:?}"
    );
}

#[test]
fn required_signed_timestamps_refuse_a_log_only_signature() {
    let s = VirtualSigstore::new("prod", NOW);
    let signed = s.sign_blob(b"artifact", identity());
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let verify = |checks: Checks| {
        let material = TrustedMaterial::from_json(s.trusted_root_json().as_bytes())
            .unwrap()
            .with_checks(checks);
        let artifact = ArtifactInput::Bytes(b"artifact");
        verify_bundle(&material, &bundle, artifact, &policy())
    };
    let checked = verify(Checks::all()).unwrap();
    assert_eq!(checked.log_index(), Some(signed.log_index));
    assert_eq!(checked.checks(), Checks::all());
    // The log not checked: its entry's index is not reported as proof.
    let unchecked = verify(Checks::all().with_log(LogCheck::InsecureSkipped)).unwrap();
    assert_eq!(unchecked.log_index(), None);
    assert_eq!(unchecked.checks().log, LogCheck::InsecureSkipped);
    let err = verify(Checks::all().with_timestamp(TimestampCheck::Required)).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Timestamp(TimestampError::Missing(TimestampNeed::Required))
        ),
        "{err:?}"
    );
}

#[test]
fn a_timestamp_outside_the_certificate_validity_is_refused() {
    // The certificate is valid for ten minutes from NOW; the timestamp
    // says an hour later.
    let options = SignOptions::new(identity())
        .private_infrastructure(NOW)
        .rfc3161_timestamp(NOW + 3600);
    let err = private(options, relaxed()).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Certificate(CertificateError::ExpiredAtSigningTime { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_timestamp_from_an_authority_outside_the_trusted_root_is_refused() {
    // Signed by the "other" instance's TSA and Fulcio, verified with the
    // "private" instance's root.
    let other = VirtualSigstore::new("other", NOW);
    let signed = other.sign_blob(
        b"artifact",
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let s = VirtualSigstore::new("private", NOW);
    let material = TrustedMaterial::from_json(s.private_trusted_root_json().as_bytes())
        .unwrap()
        .with_checks(relaxed());
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
    let err = verify_bundle(
        &material,
        &bundle,
        ArtifactInput::Bytes(b"artifact"),
        &policy(),
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::Timestamp(_)), "{err:?}");
}

#[test]
fn skipping_the_sct_still_checks_the_chain() {
    // The leaf comes from the attacker's CA: no SCT check can hide that.
    let options = SignOptions::new(identity())
        .private_infrastructure(NOW)
        .issuing_ca(vouch_testkit::IssuingCa::Untrusted);
    let err = private(options, relaxed()).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Certificate(
                CertificateError::UntrustedIssuer | CertificateError::ChainSignatureInvalid
            )
        ),
        "{err:?}"
    );
}

/// GitHub's real trust root and a real bundle of its instance (no log
/// entry, no SCT, one timestamp; `vouch-testkit/data/github/SOURCE.md`).
fn github(checks: Checks, policy: &SignerPolicy) -> Result<VerifiedSignature, VerifyError> {
    let material = TrustedMaterial::from_json(GITHUB_TRUSTED_ROOT.as_bytes())?.with_checks(checks);
    let bundle = SigstoreBundle::from_json(GITHUB_ATTESTATION_BUNDLE.as_bytes())?;
    let subject: Sha256Digest = GITHUB_ATTESTATION_SUBJECT.parse()?;
    verify_bundle(&material, &bundle, ArtifactInput::Sha256(subject), policy)
}

#[test]
fn a_real_github_bundle_passes_every_cryptographic_check_when_log_and_sct_are_skipped() {
    // The certificate (`CN=Attester`, SAN https://dotcom.releases.github.com)
    // has no OIDC issuer extension, which vouch refuses as ambiguous: the
    // refusal comes after the chain, timestamp and signature checks passed.
    let err = github(relaxed(), &SignerPolicy::InsecureAnyIdentity).unwrap_err();
    assert!(
        matches!(err, VerifyError::AmbiguousCertificate { .. }),
        "{err:?}"
    );
    let err = github(Checks::all(), &SignerPolicy::InsecureAnyIdentity).unwrap_err();
    assert!(
        matches!(err, VerifyError::UnverifiableBundle { .. }),
        "{err:?}"
    );
    let err = github(
        Checks::all().with_log(LogCheck::InsecureSkipped),
        &SignerPolicy::InsecureAnyIdentity,
    )
    .unwrap_err();
    assert!(
        matches!(err, VerifyError::Certificate(CertificateError::Sct { .. })),
        "{err:?}"
    );
}

#[test]
fn a_real_github_bundle_does_not_chain_to_the_public_good_root() {
    let root = std::fs::read(
        vouch_testkit::fixtures()
            .map(|f| f.join("trust/production-trusted_root.json"))
            .unwrap_or_default(),
    );
    let Ok(root) = root else { return };
    let material = TrustedMaterial::from_json(&root)
        .unwrap()
        .with_checks(relaxed());
    let bundle = SigstoreBundle::from_json(GITHUB_ATTESTATION_BUNDLE.as_bytes()).unwrap();
    let subject: Sha256Digest = GITHUB_ATTESTATION_SUBJECT.parse().unwrap();
    let err = verify_bundle(
        &material,
        &bundle,
        ArtifactInput::Sha256(subject),
        &SignerPolicy::InsecureAnyIdentity,
    )
    .unwrap_err();
    // Its timestamp authority is not public-good's either; whichever is
    // found first, it is refused for its trust, not its form.
    assert!(
        matches!(
            err,
            VerifyError::Timestamp(_) | VerifyError::Certificate(CertificateError::UntrustedIssuer)
        ),
        "{err:?}"
    );
}

#[test]
fn a_managed_key_signature_needs_no_timestamp_when_the_log_is_skipped() {
    // sigstore-conformance's managed-key bundle, stripped of its Signed
    // Entry Timestamp and its RFC 3161 timestamp: with the log not checked
    // nothing proves a signing time, and a key has no validity period that
    // would need one. (A bundle needs a log entry or a timestamp to parse.)
    let Some(f) = vouch_testkit::fixtures() else {
        return;
    };
    let case = f.join("sigstore-conformance/test/assets/bundle-verify");
    let dir = case.join("managed-key-happy-path");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    let material = &mut json["verificationMaterial"];
    material["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    material
        .as_object_mut()
        .unwrap()
        .remove("timestampVerificationData");
    let bundle = SigstoreBundle::from_json(json.to_string().as_bytes()).unwrap();
    let key = std::fs::read_to_string(dir.join("key.pub")).unwrap();
    let policy = SignerPolicy::public_key_pem(&key).unwrap();
    let root = std::fs::read(f.join("trust/production-trusted_root.json")).unwrap();
    let artifact = std::fs::read(case.join("a.txt")).unwrap();
    let verify = |checks: Checks| {
        let material = TrustedMaterial::from_json(&root)
            .unwrap()
            .with_checks(checks);
        verify_bundle(&material, &bundle, ArtifactInput::Bytes(&artifact), &policy)
    };
    verify(Checks::all().with_log(LogCheck::InsecureSkipped)).unwrap();
    let err = verify(
        Checks::all()
            .with_log(LogCheck::InsecureSkipped)
            .with_timestamp(TimestampCheck::Required),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Timestamp(TimestampError::Missing(TimestampNeed::Required))
        ),
        "{err:?}"
    );
}

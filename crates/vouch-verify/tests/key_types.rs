//! Every signing key type Fulcio certifies and cosign verifies (issue 16,
//! item 1): ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512 and RSA
//! PKCS#1 v1.5 2048/3072/4096 with SHA-256, for message signatures and DSSE
//! envelopes in bundles and for legacy `.sig` / `.att` signatures, all minted
//! by the virtual Sigstore; and the mismatches a verifier must refuse.

use vouch_testkit::{
    GITHUB_ACTIONS_ISSUER, HashAlg, Identity, KeyType, SignOptions, VirtualSigstore,
    in_toto_statement,
};
use vouch_verify::*;

/// A time in the past: sigstore-verify refuses integrated times in the future.
const NOW: u64 = 1_750_000_000;
const ARTIFACT: &[u8] = b"artifact";

const ALL_KEY_TYPES: [KeyType; 6] = [
    KeyType::EcdsaP256,
    KeyType::EcdsaP384,
    KeyType::EcdsaP521,
    KeyType::Rsa2048,
    KeyType::Rsa3072,
    KeyType::Rsa4096,
];

fn sigstore() -> VirtualSigstore {
    VirtualSigstore::new("prod", NOW)
}

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

fn material(s: &VirtualSigstore) -> TrustedMaterial {
    TrustedMaterial::from_json(s.trusted_root_json().as_bytes()).unwrap()
}

fn policy() -> SignerPolicy {
    SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(identity().san.value().to_owned()),
        ValueMatcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
    ))
}

fn options(key_type: KeyType) -> SignOptions {
    SignOptions::new(identity()).key_type(key_type)
}

fn verify_blob(
    s: &VirtualSigstore,
    options: SignOptions,
    artifact: ArtifactInput<'_>,
) -> Result<VerifiedSignature, VerifyError> {
    let signed = s.sign_blob(ARTIFACT, options);
    let bundle = SigstoreBundle::from_json(signed.json.as_bytes())?;
    verify_bundle(&material(s), &bundle, artifact, &policy())
}

#[test]
fn message_signatures_verify_with_every_key_type() {
    let s = sigstore();
    for key_type in ALL_KEY_TYPES {
        verify_blob(&s, options(key_type), ArtifactInput::Bytes(ARTIFACT))
            .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
    }
}

/// The artifact's digest in the hash the key type implies: what a user
/// passes as `sha384:…` for a P-384 signature.
fn key_digest(key_type: KeyType) -> ArtifactDigest {
    let algorithm = match key_type.default_hash() {
        HashAlg::Sha256 => DigestAlgorithm::Sha256,
        HashAlg::Sha384 => DigestAlgorithm::Sha384,
        HashAlg::Sha512 => DigestAlgorithm::Sha512,
    };
    ArtifactDigest::of(algorithm, ARTIFACT)
}

#[test]
fn message_signatures_verify_by_digest_in_the_key_types_hash() {
    let s = sigstore();
    for key_type in ALL_KEY_TYPES {
        let digest = key_digest(key_type);
        let verified = verify_blob(&s, options(key_type), ArtifactInput::Digest(&digest))
            .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
        assert_eq!(verified.artifact_digest(), digest.to_string());
    }
}

#[test]
fn older_clients_p384_and_p521_signatures_over_sha256_verify() {
    // cosign 2 signed with SHA-256 whatever the key, and said so in the
    // bundle and the log entry (sigstore-go's PKIX_ECDSA_P384_SHA_256 /
    // P521_SHA_256 compatibility).
    let s = sigstore();
    for key_type in [KeyType::EcdsaP384, KeyType::EcdsaP521] {
        let options = options(key_type).digest_algorithm(HashAlg::Sha256);
        verify_blob(&s, options.clone(), ArtifactInput::Bytes(ARTIFACT))
            .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
        verify_blob(
            &s,
            options,
            ArtifactInput::Sha256(Sha256Digest::of(ARTIFACT)),
        )
        .unwrap_or_else(|e| panic!("{key_type:?} by digest: {e}"));
    }
}

fn verify_error(result: Result<VerifiedSignature, VerifyError>) -> VerifyError {
    result.expect_err("accepted")
}

#[test]
fn rejects_p384_signature_made_with_sha256_where_sha384_is_declared() {
    let s = sigstore();
    let options = options(KeyType::EcdsaP384).signature_hash(HashAlg::Sha256);
    let err = verify_error(verify_blob(&s, options, ArtifactInput::Bytes(ARTIFACT)));
    assert!(matches!(err, VerifyError::SignatureInvalid { .. }), "{err}");
}

#[test]
fn rejects_p521_signature_made_with_sha256_where_sha512_is_declared() {
    let s = sigstore();
    let options = options(KeyType::EcdsaP521).signature_hash(HashAlg::Sha256);
    let err = verify_error(verify_blob(&s, options, ArtifactInput::Bytes(ARTIFACT)));
    assert!(matches!(err, VerifyError::SignatureInvalid { .. }), "{err}");
}

#[test]
fn rejects_curve_hash_pairs_no_client_makes() {
    // P-521 with SHA-384 and P-256 with SHA-512 are in no Sigstore key
    // registry: refused before any signature check, with the pair named.
    let s = sigstore();
    for (key_type, hash) in [
        (KeyType::EcdsaP521, HashAlg::Sha384),
        (KeyType::EcdsaP256, HashAlg::Sha512),
    ] {
        let options = options(key_type).digest_algorithm(hash);
        let err = verify_error(verify_blob(&s, options, ArtifactInput::Bytes(ARTIFACT)));
        assert!(
            matches!(err, VerifyError::UnsupportedAlgorithm { .. }),
            "{key_type:?}/{hash:?}: {err}"
        );
    }
}

#[test]
fn rejects_a_digest_argument_in_another_hash_than_the_signature() {
    // A P-384 signature over SHA-384 cannot be checked against a SHA-256
    // digest: the verifier says which digest it needs.
    let s = sigstore();
    let err = verify_error(verify_blob(
        &s,
        options(KeyType::EcdsaP384),
        ArtifactInput::Sha256(Sha256Digest::of(ARTIFACT)),
    ));
    assert!(
        matches!(err, VerifyError::UnsupportedArtifactInput { .. }),
        "{err}"
    );
}

#[test]
fn rejects_a_digest_argument_of_another_artifact() {
    let s = sigstore();
    for key_type in [KeyType::EcdsaP384, KeyType::EcdsaP521] {
        let other = ArtifactDigest::of(key_digest(key_type).algorithm(), b"other");
        let err = verify_error(verify_blob(
            &s,
            options(key_type),
            ArtifactInput::Digest(&other),
        ));
        assert!(
            matches!(err, VerifyError::ArtifactMismatch { .. }),
            "{key_type:?}: {err}"
        );
    }
}

#[test]
fn rejects_a_log_entry_whose_hash_algorithm_differs_from_the_message_digest() {
    // The signature is valid over the declared SHA-384 digest, but the
    // SET-signed entry logs SHA-256: the entry does not describe this
    // signature as sigstore-go requires ("same hash algorithm").
    let s = sigstore();
    let options = options(KeyType::EcdsaP384).logged_digest_algorithm(HashAlg::Sha256);
    let err = verify_error(verify_blob(&s, options, ArtifactInput::Bytes(ARTIFACT)));
    assert!(
        matches!(
            err,
            VerifyError::TransparencyLog(LogError::EntryMismatch { .. })
        ),
        "{err}"
    );
}

/// The bundle with its message signature cut to `keep(length)` bytes.
fn with_signature_truncated(json: &str, keep: fn(usize) -> usize) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    let sig = STANDARD
        .decode(value["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    value["messageSignature"]["signature"] = STANDARD.encode(&sig[..keep(sig.len())]).into();
    value.to_string()
}

#[test]
fn rejects_truncated_signatures_for_every_key_type() {
    let s = sigstore();
    for key_type in ALL_KEY_TYPES {
        let signed = s.sign_blob(ARTIFACT, options(key_type));
        for keep in [|n: usize| n - 1, |n: usize| n / 2, |_| 8] {
            let bundle =
                SigstoreBundle::from_json(with_signature_truncated(&signed.json, keep).as_bytes())
                    .unwrap();
            let err = verify_error(verify_bundle(
                &material(&s),
                &bundle,
                ArtifactInput::Bytes(ARTIFACT),
                &policy(),
            ));
            assert!(
                matches!(err, VerifyError::SignatureInvalid { .. }),
                "{key_type:?}: {err}"
            );
        }
    }
}

fn statement() -> Vec<u8> {
    in_toto_statement(
        "artifact",
        &Sha256Digest::of(ARTIFACT).hex(),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({}),
    )
}

#[test]
fn dsse_attestations_verify_with_every_key_type() {
    let s = sigstore();
    for key_type in ALL_KEY_TYPES {
        let signed = s.sign_statement(&statement(), options(key_type));
        let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
        for input in [
            ArtifactInput::Bytes(ARTIFACT),
            ArtifactInput::Sha256(Sha256Digest::of(ARTIFACT)),
        ] {
            verify_attestation(&material(&s), &bundle, input, &policy())
                .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
        }
    }
}

#[test]
fn rejects_dsse_signed_with_another_hash_than_the_key_types() {
    // sigstore-go's compatibility verifier would also try SHA-256 for a
    // P-384/P-521 DSSE signature; vouch verifies the PAE with the key's hash
    // only (docs/guide.md, "Key types").
    let s = sigstore();
    for key_type in [KeyType::EcdsaP384, KeyType::EcdsaP521] {
        let signed = s.sign_statement(
            &statement(),
            options(key_type).signature_hash(HashAlg::Sha256),
        );
        let bundle = SigstoreBundle::from_json(signed.json.as_bytes()).unwrap();
        let err = match verify_attestation(
            &material(&s),
            &bundle,
            ArtifactInput::Bytes(ARTIFACT),
            &policy(),
        ) {
            Err(e) => e,
            Ok(_) => panic!("{key_type:?}: accepted"),
        };
        assert!(
            matches!(err, VerifyError::SignatureInvalid { .. }),
            "{key_type:?}: {err}"
        );
    }
}

const IMAGE: &str = "registry.test/acme/app";

fn image_digest() -> Sha256Digest {
    Sha256Digest::of(b"manifest")
}

fn legacy_signature(s: &VirtualSigstore, options: SignOptions) -> LegacySignature {
    let signed = s.sign_image_legacy(IMAGE, &image_digest().to_string(), options);
    LegacySignature::new(
        signed.payload,
        signed.signature_b64,
        Some(signed.certificate_pem),
        signed.rekor_bundle_json.map(String::into_bytes),
    )
}

#[test]
fn legacy_signatures_verify_with_every_key_type() {
    let s = sigstore();
    for key_type in ALL_KEY_TYPES {
        let sig = legacy_signature(&s, options(key_type));
        verify_legacy_signature(&material(&s), &sig, image_digest(), &policy())
            .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
    }
    // cosign 2: a P-384 key, SHA-256 throughout.
    let sig = legacy_signature(
        &s,
        options(KeyType::EcdsaP384).digest_algorithm(HashAlg::Sha256),
    );
    verify_legacy_signature(&material(&s), &sig, image_digest(), &policy()).unwrap();
}

#[test]
fn rejects_legacy_p384_signature_made_with_sha256_where_the_entry_logs_sha384() {
    let s = sigstore();
    let sig = legacy_signature(
        &s,
        options(KeyType::EcdsaP384).signature_hash(HashAlg::Sha256),
    );
    let err = match verify_legacy_signature(&material(&s), &sig, image_digest(), &policy()) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert!(matches!(err, VerifyError::SignatureInvalid { .. }), "{err}");
}

#[test]
fn legacy_attestations_verify_with_every_key_type() {
    let s = sigstore();
    let statement = in_toto_statement(
        IMAGE,
        &image_digest().hex(),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({}),
    );
    for key_type in ALL_KEY_TYPES {
        let att = s.attest_image_legacy(&statement, options(key_type));
        let att = LegacyAttestation::new(
            att.payload,
            Some(att.certificate_pem),
            att.rekor_bundle_json.map(String::into_bytes),
        );
        verify_legacy_attestation(&material(&s), &att, image_digest(), &policy())
            .unwrap_or_else(|e| panic!("{key_type:?}: {e}"));
    }
}

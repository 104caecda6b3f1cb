//! Fuzzes `verify_bundle` and `verify_attestation` on a parsed bundle against
//! the embedded production trusted root: the whole `sigstore-verify` path
//! (certificate chain, SCT, SET, inclusion proof and checkpoint, RFC 3161
//! timestamps, DSSE, tlog body consistency) and vouch's claims and policy on
//! attacker-controlled bundles.
//!
//! Input: `bundle JSON` [`\n--8<--\n` `artifact`], where `artifact` is
//! `sha256:<hex>` (verified by digest) or the artifact bytes themselves.
//!
//! Properties: never panics; a bundle that verifies with any identity also
//! verifies with a policy naming exactly its certificate's identity and
//! issuer, and is refused (by policy) for another identity; the verified
//! digest is the artifact's, and a verified attestation's statement has a
//! subject with the artifact's sha256 (or, given the bytes, sha512) digest.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha512};
use vouch_fuzz::{PRODUCTION, check_identity_policies, digest, sections};
use vouch_verify::{
    ArtifactInput, Sha256Digest, SignerPolicy, SigstoreBundle, verify_attestation, verify_bundle,
};

fuzz_target!(|data: &[u8]| {
    let parts = sections(data);
    let Ok(bundle) = SigstoreBundle::from_json(parts[0]) else {
        return;
    };
    let artifact_bytes = parts.get(1).copied().unwrap_or_default();
    let (artifact, expected) = match digest(artifact_bytes) {
        Some(d) => (ArtifactInput::Sha256(d), d),
        None => (
            ArtifactInput::Bytes(artifact_bytes),
            Sha256Digest::of(artifact_bytes),
        ),
    };
    let material = &*PRODUCTION;
    let any = SignerPolicy::InsecureAnyIdentity;
    if let Ok(verified) = verify_bundle(material, &bundle, artifact, &any) {
        assert_eq!(verified.artifact_digest(), expected.to_string());
        check_identity_policies(&verified, |policy| {
            verify_bundle(material, &bundle, artifact, policy)
        });
    }
    if let Ok(attestation) = verify_attestation(material, &bundle, artifact, &any) {
        assert_eq!(
            attestation.signature().artifact_digest(),
            expected.to_string()
        );
        let statement = attestation.statement();
        let named = statement.subject_matches_sha256(&expected.hex())
            || matches!(artifact, ArtifactInput::Bytes(bytes)
                if statement.subject_for_digest("sha512", &sha512_hex(bytes)).is_ok());
        assert!(
            named,
            "a verified attestation names the artifact as a subject"
        );
    }
});

fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

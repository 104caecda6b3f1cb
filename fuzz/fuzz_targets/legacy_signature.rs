//! Fuzzes `verify_legacy_signature` against the embedded production trusted
//! root: the simple-signing payload, the base64 signature annotation, the PEM
//! certificate annotation, the Rekor bundle annotation parser
//! (`dev.sigstore.cosign/bundle`) and the conversion of all four into a v0.1
//! bundle, then the full verification of that bundle.
//!
//! Input, cut at `\n--8<--\n` (see `vouch_fuzz::sections`):
//! `payload` / `signature` / `certificate PEM` / `chain PEM` /
//! `Rekor bundle JSON` / `image digest`. A missing section is an absent
//! annotation; an image digest that is missing or not `sha256:<hex>` is
//! replaced by the payload's own claim, so mutations reach the signature
//! checks instead of stopping at the digest comparison.
//!
//! Properties: never panics; a signature that verifies with any identity is
//! bound to the image digest asked for, carries the exact payload, and
//! passes/fails the exact-identity and other-identity policies as it must.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_fuzz::{PRODUCTION, check_identity_policies, digest, sections, text};
use vouch_verify::{
    LegacySignature, Sha256Digest, SignedContent, SignerPolicy, SimpleSigningPayload,
    verify_legacy_signature,
};

fuzz_target!(|data: &[u8]| {
    let parts = sections(data);
    let payload = parts[0].to_vec();
    let optional_text = |i: usize| parts.get(i).map(|s| text(s));
    let signature = LegacySignature::new(
        payload.clone(),
        optional_text(1).unwrap_or_default(),
        optional_text(2),
        parts.get(4).map(|s| s.to_vec()),
    )
    .with_chain(optional_text(3));
    let image = parts
        .get(5)
        .and_then(|s| digest(s))
        .or_else(|| Some(SimpleSigningPayload::parse(&payload).ok()?.manifest_digest))
        .unwrap_or_else(|| Sha256Digest::of(&payload));

    let material = &*PRODUCTION;
    let any = SignerPolicy::InsecureAnyIdentity;
    let Ok(verified) = verify_legacy_signature(material, &signature, image, &any) else {
        return;
    };
    assert_eq!(verified.artifact_digest(), image.to_string());
    match verified.content() {
        SignedContent::SimpleSigning {
            payload: signed, ..
        } => assert_eq!(signed, &payload),
        other => panic!("a legacy signature verified as {other:?}"),
    }
    check_identity_policies(&verified, |policy| {
        verify_legacy_signature(material, &signature, image, policy)
    });
});

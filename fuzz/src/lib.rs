//! Helpers shared by vouch's fuzz targets (`fuzz_targets/*.rs`).
//!
//! Targets that take several untrusted inputs at once (a legacy signature's
//! payload, signature, certificate and Rekor bundle; a bundle and its
//! artifact) read them from one fuzz input cut at [`SECTION_SEPARATOR`]. A
//! plain separator, rather than `arbitrary`'s length-prefixed encoding, lets
//! `seed-corpus.sh` build seeds from real fixtures with `printf` and `cat`,
//! and keeps each section an ordinary file that libFuzzer mutates in place.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use vouch_verify::{
    IdentityPolicy, Sha256Digest, SignerPolicy, TrustedMaterial, ValueMatcher, VerifiedSignature,
    VerifyError,
};

/// Cuts a multi-part fuzz input into sections. Printable so seeds stay
/// readable; it occurs in no real payload, PEM block or JSON document.
pub const SECTION_SEPARATOR: &[u8] = b"\n--8<--\n";

/// The Sigstore public-good production trusted root embedded in
/// `sigstore-trust-root`, parsed once per fuzzing process.
pub static PRODUCTION: LazyLock<TrustedMaterial> = LazyLock::new(|| {
    TrustedMaterial::from_json(sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes())
        .expect("the embedded production trusted root parses")
});

/// Splits `data` at every [`SECTION_SEPARATOR`]. Always yields at least one
/// (possibly empty) section.
pub fn sections(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SECTION_SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SECTION_SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A section as text (the annotation values are strings), lossily decoded so
/// that invalid UTF-8 still reaches the parser as replacement characters.
pub fn text(section: &[u8]) -> String {
    String::from_utf8_lossy(section).into_owned()
}

/// `sha256:<hex>` in a section, if it is one.
pub fn digest(section: &[u8]) -> Option<Sha256Digest> {
    std::str::from_utf8(section).ok()?.trim().parse().ok()
}

/// The consistency check run on every signature that verified with
/// [`SignerPolicy::InsecureAnyIdentity`]: a keyless policy naming exactly the
/// identity and issuer the certificate claims must accept it too, and one
/// naming another identity must refuse it with a policy error.
pub fn check_identity_policies(
    any: &VerifiedSignature,
    verify: impl Fn(&SignerPolicy) -> Result<VerifiedSignature, VerifyError>,
) {
    let Some(claims) = any.certificate() else {
        return;
    };
    let exact = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(claims.identity.clone()),
        ValueMatcher::Exact(claims.issuer.clone()),
    ));
    let checked = verify(&exact).expect("the certificate's own identity and issuer are accepted");
    assert_eq!(checked.certificate(), Some(claims));
    assert_eq!(checked.artifact_digest(), any.artifact_digest());
    let other = SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::Exact(format!("{}#not-the-signer", claims.identity)),
        ValueMatcher::Exact(claims.issuer.clone()),
    ));
    match verify(&other) {
        Err(VerifyError::Policy { .. }) => {}
        unexpected => panic!("another identity must be refused by policy: {unexpected:?}"),
    }
}

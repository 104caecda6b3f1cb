//! Fuzzes the digest grammars of `vouch-oci-types`: `Sha256Digest`'s
//! `FromStr`, `Digest::parse` (OCI content: sha256 or sha512) and
//! `Digest::parse_artifact` (adds sha384).
//!
//! Properties: never panics; whatever parses prints back to exactly the
//! input (lowercase hex, exact length: one spelling per digest); the OCI
//! grammar accepts a subset of the artifact grammar, and the sha256 one a
//! subset of the OCI grammar, with the same value; a parsed digest's
//! verifier accepts nothing but content with that digest (checked on the
//! input bytes themselves).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{Digest, DigestAlgorithm, Sha256Digest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let artifact = Digest::parse_artifact(text).ok();
    if let Some(d) = &artifact {
        assert_eq!(d.to_string(), text);
        assert_eq!(d.as_bytes().len(), d.algorithm().digest_len());
        let mut verifier = d.verifier();
        verifier.update(data);
        let matches = Digest::of(d.algorithm(), data) == *d;
        assert_eq!(verifier.finish().is_ok(), matches);
    }
    match Digest::parse(text) {
        Ok(d) => {
            assert_ne!(d.algorithm(), DigestAlgorithm::Sha384);
            assert_eq!(
                artifact.as_ref(),
                Some(&d),
                "OCI digest not an artifact digest"
            );
        }
        Err(_) => assert!(
            artifact.is_none_or(|a| a.algorithm() == DigestAlgorithm::Sha384),
            "artifact digest in an OCI algorithm refused by the OCI grammar: {text:?}"
        ),
    }
    if let Ok(d) = text.parse::<Sha256Digest>() {
        assert_eq!(d.to_string(), text);
        assert_eq!(Digest::parse(text).ok(), Some(Digest::from(d)));
        assert_eq!(Sha256Digest::from_hex(&d.hex()).ok(), Some(d));
    }
});

//! Fuzzes `SimpleSigningPayload::parse`: cosign's simple-signing payload, the
//! bytes a legacy `.sig` signature signs (strict: unknown, case-variant and
//! duplicate fields refused; the type string; a `sha256:` digest).
//!
//! Properties: never panics; a payload that parses is within
//! `MAX_SIMPLE_SIGNING_SIZE`; it round-trips: re-serialising the parsed
//! fields as cosign writes them and parsing again gives the same value; the
//! manifest digest round-trips through its `sha256:<hex>` text.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_verify::{
    MAX_SIMPLE_SIGNING_SIZE, SIMPLE_SIGNING_TYPE, Sha256Digest, SimpleSigningPayload,
};

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = SimpleSigningPayload::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_SIMPLE_SIGNING_SIZE);
    let digest_text = payload.manifest_digest.to_string();
    assert_eq!(
        digest_text.parse::<Sha256Digest>().ok(),
        Some(payload.manifest_digest)
    );
    let rewritten = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": payload.docker_reference},
            "image": {"docker-manifest-digest": digest_text},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": payload.annotations,
    });
    let reparsed = SimpleSigningPayload::parse(rewritten.to_string().as_bytes())
        .expect("a re-serialised payload parses");
    assert_eq!(reparsed, payload);
});

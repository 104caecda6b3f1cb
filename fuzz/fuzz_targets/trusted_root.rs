//! Fuzzes `TrustedMaterial::from_json`: the `trusted_root.json` parser (media
//! type, log key validity, `sigstore-trust-root`'s typed parse) and the
//! preparation of every key and certificate in it (`Verifier::new`).
//!
//! Properties: never panics; a root that loads is within
//! `MAX_TRUSTED_ROOT_SIZE`, is JSON, and names one of
//! `TRUSTED_ROOT_MEDIA_TYPES`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_verify::{MAX_TRUSTED_ROOT_SIZE, TRUSTED_ROOT_MEDIA_TYPES, TrustedMaterial};

fuzz_target!(|data: &[u8]| {
    if TrustedMaterial::from_json(data).is_err() {
        return;
    }
    assert!(data.len() <= MAX_TRUSTED_ROOT_SIZE);
    let value: serde_json::Value = serde_json::from_slice(data).expect("a loaded root is JSON");
    let media_type = value["mediaType"].as_str().unwrap_or_default();
    assert!(
        TRUSTED_ROOT_MEDIA_TYPES.contains(&media_type),
        "{media_type}"
    );
});

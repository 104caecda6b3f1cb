//! Fuzzes `SigstoreBundle::from_json`: the strict bundle parser (UTF-8, JSON,
//! the unknown-field schema check, then `sigstore-types`' typed parse).
//!
//! Properties: never panics; parsing is deterministic; a bundle that parses
//! was valid JSON whose every key the schema knows (so `from_json` never
//! accepts what its own schema check would refuse), and is within
//! `MAX_BUNDLE_SIZE`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_verify::{MAX_BUNDLE_SIZE, SigstoreBundle};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = SigstoreBundle::from_json(data) else {
        return;
    };
    assert!(data.len() <= MAX_BUNDLE_SIZE);
    assert!(serde_json::from_slice::<serde_json::Value>(data).is_ok());
    let again = SigstoreBundle::from_json(data).expect("parsing is deterministic");
    assert_eq!(bundle.media_type(), again.media_type());
    assert_eq!(format!("{bundle:?}"), format!("{again:?}"));
});

//! Fuzzes `vouch_attest::SpdxDocument::from_tag_value`: the SPDX 2.x
//! tag-value reader (`Tag: value` lines, `#` comments, multi-line
//! `<text>…</text>` values, repeated document-level tags), which reads the
//! string predicates legacy `cosign attest --type spdx` writes.
//!
//! Properties: never panics; a document that reads is SPDX 2.x and its
//! summary displays.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_attest::SpdxDocument;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(document) = SpdxDocument::from_tag_value(text) else {
        return;
    };
    assert!(document.spdx_version.starts_with("SPDX-2."));
    let _ = document.summary().to_string();
});

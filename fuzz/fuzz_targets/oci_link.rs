//! Fuzzes `vouch_oci_types::next_link`, the `Link: <…>; rel="next"`
//! parser both binaries page registry lists with (registry-controlled).
//!
//! Properties: never panics; nothing longer than `MAX_LINK_LEN` is
//! accepted; a next target is a substring of the header that contains no
//! `>` (so it never swallows a second link); a header rebuilt as
//! `<target>; rel="next"` gives the same target back.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{MAX_LINK_LEN, next_link};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(next) = next_link(text) else {
        return;
    };
    assert!(text.len() <= MAX_LINK_LEN);
    let Some(target) = next else {
        return;
    };
    assert!(text.contains(target));
    assert!(!target.contains('>'));
    let rebuilt = format!("<{target}>; rel=\"next\"");
    if rebuilt.len() <= MAX_LINK_LEN {
        assert_eq!(next_link(&rebuilt), Ok(Some(target)));
    }
});

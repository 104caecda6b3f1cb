//! Fuzzes `vouch_oci_types::LayoutIndex::parse` and `check_oci_layout`,
//! the parsers of an OCI image layout's `index.json` and `oci-layout`
//! (untrusted: a layout carried across an air gap).
//!
//! Properties: never panics; an accepted index has at most
//! `MAX_INDEX_ENTRIES` entries, each digest's blob path is
//! `blobs/<alg>/<hex>` with no `..` or extra `/`, every reference name
//! follows the `ref` grammar; writing an accepted index and parsing it
//! again gives the same entries.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{LayoutIndex, MAX_INDEX_ENTRIES, blob_path, check_oci_layout, is_ref_name};

fuzz_target!(|data: &[u8]| {
    let _ = check_oci_layout(data);
    let Ok(index) = LayoutIndex::parse(data) else {
        return;
    };
    assert!(index.entries.len() <= MAX_INDEX_ENTRIES);
    for entry in &index.entries {
        let path = blob_path(&entry.digest);
        assert_eq!(path.split('/').count(), 3);
        assert!(!path.contains(".."));
        if let Some(name) = entry.ref_name() {
            assert!(is_ref_name(name));
            assert!(!name.starts_with('/') && !name.split('/').any(|c| c == ".."));
        }
    }
    let again = LayoutIndex::parse(&index.to_json()).expect("a written index parses");
    assert_eq!(again.entries, index.entries);
});

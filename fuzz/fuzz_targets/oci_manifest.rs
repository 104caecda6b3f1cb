//! Fuzzes the image-spec documents of `vouch-oci-types`: `ImageManifest`
//! and `ImageIndex` (serde, unknown fields ignored), `Descriptor::sha256`
//! on every descriptor, and `check_manifest` under each media type the
//! first byte selects.
//!
//! Properties: never panics; what deserialises re-serialises to JSON that
//! deserialises to the same value; a descriptor's `sha256()` accepts only
//! a digest that prints back to exactly its `digest` field;
//! `check_manifest` accepts exactly a served media type with a JSON-object
//! body. (serde also reads a struct from a JSON array, which
//! `check_manifest` refuses; the proxy checks before it parses.)
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{
    Descriptor, ImageIndex, ImageManifest, MANIFEST_MEDIA_TYPES, OCI_EMPTY, check_manifest,
};

fn check_descriptor(d: &Descriptor) {
    if let Ok(digest) = d.sha256() {
        assert_eq!(digest.to_string(), d.digest);
    }
}

/// Serialising `value` and reading it back gives the same document.
fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) {
    let json = serde_json::to_vec(value).expect("serialises");
    let again: T = serde_json::from_slice(&json).expect("round-trips");
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(value).ok()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let media_types: Vec<&str> = MANIFEST_MEDIA_TYPES
        .iter()
        .copied()
        .chain([OCI_EMPTY, "text/html"])
        .collect();
    let media_type = media_types[usize::from(selector) % media_types.len()];
    let is_object =
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok();
    assert_eq!(
        check_manifest(media_type, body).is_ok(),
        MANIFEST_MEDIA_TYPES.contains(&media_type) && is_object
    );
    if let Ok(manifest) = serde_json::from_slice::<ImageManifest>(body) {
        assert!(!is_object || check_manifest(MANIFEST_MEDIA_TYPES[1], body).is_ok());
        check_descriptor(&manifest.config);
        manifest.layers.iter().for_each(check_descriptor);
        manifest.subject.iter().for_each(check_descriptor);
        round_trips(&manifest);
    }
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(body) {
        assert!(!is_object || check_manifest(MANIFEST_MEDIA_TYPES[0], body).is_ok());
        index.manifests.iter().for_each(check_descriptor);
        round_trips(&index);
    }
});

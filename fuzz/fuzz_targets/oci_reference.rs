//! Fuzzes the reference grammar of `vouch-oci-types`: `Reference`'s
//! `FromStr` (docker's defaults, registry host and port, repository path,
//! tag, sha256 digest), `Registry::new`, `Tag::new`,
//! `check_repository_path` and `is_path_component`.
//!
//! Properties: never panics; an accepted reference prints to a canonical
//! form that parses to the same reference; its repository path passes
//! `check_repository_path` and has no `.`/`..` segment; its tag is a valid
//! `Tag`; every limit (`MAX_NAME_LEN`, `MAX_TAG_LEN`, `MAX_REFERENCE_LEN`)
//! holds for what is accepted.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{
    MAX_NAME_LEN, MAX_REFERENCE_LEN, MAX_TAG_LEN, Reference, Registry, Tag, check_repository_path,
    is_path_component,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = text.parse::<Reference>() {
        assert!(text.len() <= MAX_REFERENCE_LEN);
        let path = reference.repository().path();
        assert_eq!(check_repository_path(path), Ok(()));
        assert!(path.len() <= MAX_NAME_LEN);
        assert!(!path.split('/').any(|s| s == "." || s == ".."));
        if let Some(tag) = reference.tag() {
            assert!(Tag::new(tag.as_str()).is_ok());
        }
        let canonical = reference.to_string();
        let again: Reference = canonical
            .parse()
            .unwrap_or_else(|e| panic!("canonical form {canonical:?} refused: {e}"));
        assert_eq!(again, reference, "{text:?} -> {canonical:?}");
    }
    if let Ok(registry) = Registry::new(text) {
        assert!(!registry.as_str().contains(['/', '@']));
        assert_eq!(Registry::new(registry.as_str()).ok(), Some(registry));
    }
    if let Ok(tag) = Tag::new(text) {
        assert!(tag.as_str().len() <= MAX_TAG_LEN && !tag.as_str().is_empty());
        assert!(!tag.as_str().starts_with(['.', '-']));
    }
    if check_repository_path(text).is_ok() {
        assert!(text.split('/').all(is_path_component));
    }
    if is_path_component(text) {
        assert!(!text.is_empty() && text != "." && text != "..");
        assert!(text.bytes().all(|b| b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'_' | b'-')));
    }
});

//! Shared test helpers: reading the project's shared fixtures in place.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

/// The bytes of fixture `relative`, or `None` (after saying the test is
/// skipped) when the fixtures are absent. With `CI=true` a missing fixture is
/// a failure, so CI never passes by skipping.
pub fn fixture(relative: &str) -> Option<Vec<u8>> {
    let path = vouch_testkit::fixtures()?.join(relative);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(err) => panic!("fixture {} cannot be read: {err}", path.display()),
    }
}

/// An in-toto v0.1 statement about one image, as cosign `attest` writes it,
/// with `predicate` inserted verbatim.
pub fn cosign_statement(predicate_type: &str, predicate: &str) -> Vec<u8> {
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"{predicate_type}","subject":[{{"name":"registry.example/app","digest":{{"sha256":"{IMAGE_HEX}"}}}}],"predicate":{predicate}}}"#
    )
    .into_bytes()
}

/// The image digest (hex) used by [`cosign_statement`].
pub const IMAGE_HEX: &str = "4a5bcd6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a";

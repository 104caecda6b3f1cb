//! Shared test helpers: reading the project's shared fixtures in place.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

/// Where the shared fixtures live: `/work/shared/fixtures`, reached from this
/// crate's directory (`crates/vouch-attest`) as `../../../shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// The bytes of fixture `relative`, or `None` (after saying the test is
/// skipped) when it cannot be read. With `CI=true` a missing fixture is a
/// failure, so CI never passes by skipping.
pub fn fixture(relative: &str) -> Option<Vec<u8>> {
    let path = fixtures_dir().join(relative);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(err) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "fixture {} cannot be read ({err}); with CI=true a missing fixture is a failure",
            path.display()
        ),
        Err(err) => {
            eprintln!("skipped: fixture {} cannot be read ({err})", path.display());
            None
        }
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

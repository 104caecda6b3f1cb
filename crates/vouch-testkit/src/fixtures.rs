//! The shared real-world fixtures (`../shared/fixtures` beside the
//! repository), read in place by every crate's tests.

use std::path::PathBuf;

/// The fixtures directory, or `None` (after printing a SKIP line) when it is
/// absent. Under `CI=true` a missing fixtures directory is a failure: CI must
/// never pass by skipping.
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "fixtures missing at {} (required under CI=true)",
            dir.display()
        );
    }
    eprintln!("SKIP: fixtures not found at {}", dir.display());
    None
}

/// GitHub's real `trusted_root.json` (its artifact-attestation instance:
/// Fulcio CAs and timestamp authorities, no transparency or CT log). Source:
/// `data/github/SOURCE.md`.
pub const GITHUB_TRUSTED_ROOT: &str = include_str!("../data/github/trusted_root_github.json");

/// A real bundle signed by GitHub's instance: no log entry, no SCT, one
/// RFC 3161 timestamp. Source: `data/github/SOURCE.md`.
pub const GITHUB_ATTESTATION_BUNDLE: &str =
    include_str!("../data/github/github-private-attestation.sigstore.json");

/// A SHA-256 subject of [`GITHUB_ATTESTATION_BUNDLE`]'s statement.
pub const GITHUB_ATTESTATION_SUBJECT: &str =
    "sha256:76f1fe8593bf227cca2c089e3c16dc95014a8d3e89c5dd220530469ca043c428";

/// The SAN of [`GITHUB_ATTESTATION_BUNDLE`]'s certificate (it has no OIDC
/// issuer extension).
pub const GITHUB_ATTESTATION_IDENTITY: &str = "https://dotcom.releases.github.com";

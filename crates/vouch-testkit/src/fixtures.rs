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

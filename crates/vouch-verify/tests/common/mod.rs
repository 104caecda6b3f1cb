//! Locating the shared real-world fixtures (`../shared/fixtures`, read in place).

use std::path::PathBuf;

/// The fixtures directory, or `None` (after saying so) when it is absent
/// outside CI. Under `CI=true` a missing fixture directory is a failure.
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        return Some(dir);
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

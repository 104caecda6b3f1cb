//! Shared helpers for the binary tests: the fixtures directory and running `vouch`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The fixtures directory, or `None` (after saying so) when it is absent
/// outside CI. Under `CI=true` a missing fixture directory is a failure.
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        return Some(dir.canonicalize().unwrap());
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

/// Runs the `vouch` binary with `args`.
pub fn vouch<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .expect("run vouch")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

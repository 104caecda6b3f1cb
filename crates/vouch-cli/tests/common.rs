//! Shared helpers for the binary tests: the fixtures directory and running `vouch`.

#![allow(dead_code)]

use std::process::{Command, Output};

#[allow(unused_imports)]
pub use vouch_testkit::fixtures;

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

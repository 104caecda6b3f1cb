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
    isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("VOUCH_OFFLINE", "1")
        .args(args)
        .output()
        .expect("run vouch")
}

/// The environment variables that change where `vouch` takes trust from.
pub const TRUST_VARIABLES: [&str; 8] = [
    "TUF_ROOT",
    "TUF_MIRROR",
    "TUF_ROOT_JSON",
    "SIGSTORE_ROOT_FILE",
    "SIGSTORE_REKOR_PUBLIC_KEY",
    "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
    "SIGSTORE_TSA_CERTIFICATE_FILE",
    "VOUCH_OFFLINE",
];

/// Keeps a `vouch` run away from the user's TUF cache and trust settings:
/// a cache under the target directory and none of [`TRUST_VARIABLES`]
/// inherited. [`vouch`] then adds `VOUCH_OFFLINE=1`: the tests that verify
/// public-good fixtures use the embedded trusted root and never the network
/// (CI has none).
pub fn isolated(mut command: Command) -> Command {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache");
    command.env("XDG_CACHE_HOME", cache);
    for variable in TRUST_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// Runs `command` with `input` on its stdin (e.g. `login --password-stdin`).
pub fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run vouch");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for vouch")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` exited with `code` and that its stderr says `fragment`.
pub fn assert_fails(out: &Output, code: i32, fragment: &str) {
    let stderr = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
}

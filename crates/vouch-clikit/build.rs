//! Records which commit a binary was built from and when, for `version`.
//!
//! `VOUCH_COMMIT`: the commit the checkout's HEAD was at (`git rev-parse
//! HEAD`; uncommitted changes are not marked), `unknown` outside a git
//! checkout (a source tarball). `VOUCH_BUILD_DATE`: `SOURCE_DATE_EPOCH` when set (reproducible
//! builds), else the time this script ran, in UTC (RFC 3339).

use std::process::Command;

fn main() {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = match git(&["rev-parse", "HEAD"]) {
        Some(head) if head.len() == 40 => head,
        _ => "unknown".to_string(),
    };
    // Rebuild when HEAD moves: a checkout rewrites HEAD, a commit appends
    // to logs/HEAD.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for file in ["HEAD", "logs/HEAD"] {
            println!("cargo:rerun-if-changed={git_dir}/{file}");
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    println!("cargo:rustc-env=VOUCH_COMMIT={commit}");
    println!(
        "cargo:rustc-env=VOUCH_BUILD_DATE={}",
        built.strftime("%Y-%m-%dT%H:%M:%SZ")
    );
}

//! `--allow-http-registry` and `--allow-insecure-registry` mean what they
//! mean in cosign, independently: {plain-HTTP, self-signed HTTPS} loopback
//! registry × {no flag, each flag, both}, through `vouch digest`. No hint
//! suggests a flag that was given.

use crate::common;

use std::process::{Command, Output};

use vouch_testkit::{LocalRegistry, Publisher};

const HTTP: &str = "--allow-http-registry";
const INSECURE: &str = "--allow-insecure-registry";

fn flag_sets() -> [Vec<&'static str>; 4] {
    [vec![], vec![HTTP], vec![INSECURE], vec![HTTP, INSECURE]]
}

fn digest(home: &std::path::Path, flags: &[&str], image: &str) -> Output {
    common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .arg("digest")
        .args(flags)
        .arg(image)
        .env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .output()
        .unwrap()
}

/// stderr without the WARNING lines the flags print: the error and its hints.
fn error_text(out: &Output) -> String {
    common::stderr(out)
        .lines()
        .filter(|l| !l.starts_with("WARNING: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// No hint suggests a flag already given, and each given flag prints its
/// WARNING (STYLE.md: options that weaken a check say so).
fn assert_no_hint_for_a_given_flag(flags: &[&str], out: &Output) {
    let stderr = common::stderr(out);
    for flag in flags {
        assert!(
            !error_text(out).contains(flag),
            "{flags:?} given, yet: {stderr}"
        );
        assert!(
            stderr.contains(&format!("WARNING: {flag}: ")),
            "no WARNING for {flag}: {stderr}"
        );
    }
}

fn home(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vouch-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_plain_http_loopback_registry_works_with_every_flag_combination() {
    let Some(registry) = LocalRegistry::start(None) else {
        return;
    };
    let pushed = Publisher::new(&registry.host(), None).push_image("acme/app", "v1", "app v1");
    let home = home("http-flags");
    let image = format!("{}/acme/app:v1", registry.host());
    for flags in flag_sets() {
        let out = digest(&home, &flags, &image);
        assert!(out.status.success(), "{flags:?}: {}", common::stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            pushed.digest,
            "{flags:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_self_signed_https_registry_works_with_allow_insecure_registry_alone_or_with_both() {
    let Some(registry) = LocalRegistry::start_tls() else {
        return;
    };
    let home = home("tls-flags");
    // The registry is empty: reaching it means the tag is not found (exit 11).
    let image = format!("{}/acme/app:v1", registry.host());
    for flags in flag_sets() {
        let out = digest(&home, &flags, &image);
        if flags.contains(&INSECURE) {
            common::assert_fails(&out, 11, "image not found");
        } else {
            // An access failure (4): nothing was read, nothing found forged.
            common::assert_fails(&out, 4, "presented a TLS certificate that is not trusted");
            common::assert_fails(&out, 4, "hint: if this is a test registry");
            assert!(error_text(&out).contains(INSECURE));
            assert!(!error_text(&out).contains(HTTP));
        }
        assert_no_hint_for_a_given_flag(&flags, &out);
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn an_unreachable_loopback_registry_suggests_no_flag() {
    let port = common::closed_port();
    let home = home("unreachable-flags");
    let image = format!("127.0.0.1:{port}/acme/app:v1");
    for flags in flag_sets() {
        let out = digest(&home, &flags, &image);
        common::assert_fails(&out, 4, "cannot reach registry");
        common::assert_fails(&out, 4, "HTTPS was tried, then plain HTTP");
        assert!(!error_text(&out).contains("--allow-"), "{flags:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// `login` takes the same two flags (issue 16, item 5): a self-signed
/// registry refuses the login (4) until `--allow-insecure-registry`.
#[test]
fn login_takes_the_registry_flags() {
    let Some(registry) = LocalRegistry::start_tls() else {
        return;
    };
    let home = home("login-flags");
    let login = |flags: &[&str]| {
        common::run_with_stdin(
            {
                let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
                c.args(["login", &registry.host(), "-u", "alice", "--password-stdin"])
                    .args(flags)
                    .env("HOME", &home)
                    .env_remove("DOCKER_CONFIG")
                    .env_remove("REGISTRY_AUTH_FILE");
                c
            },
            b"secret\n",
        )
    };
    let out = login(&[]);
    common::assert_fails(&out, 4, "presented a TLS certificate that is not trusted");
    assert!(error_text(&out).contains(INSECURE));
    let out = login(&[INSECURE]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_no_hint_for_a_given_flag(&[INSECURE], &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    let _ = std::fs::remove_dir_all(&home);
}

/// A network failure is named for what it was, with only the hints that
/// apply (issue 16, item 7): a host name that does not resolve says so and
/// suggests no flag; a refused port says nothing listens there.
#[test]
fn network_failures_are_named_with_only_the_hints_that_apply() {
    let home = home("network-kinds");
    let out = digest(&home, &[], "registry.vouch-test.invalid/acme/app:v1");
    common::assert_fails(&out, 4, "the host name cannot be resolved");
    common::assert_fails(&out, 4, "check the registry's host name");
    assert!(
        !error_text(&out).contains("--allow-"),
        "{}",
        error_text(&out)
    );
    let port = common::closed_port();
    let out = digest(&home, &[], &format!("127.0.0.1:{port}/acme/app:v1"));
    common::assert_fails(&out, 4, "connection refused (nothing listens on that port)");
    common::assert_fails(&out, 4, "check the port, and that the registry is running");
    let _ = std::fs::remove_dir_all(&home);
}

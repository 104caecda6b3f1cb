//! A closed stdout ends an admin command quietly with 141 (what a shell
//! reports for `cat` killed by SIGPIPE), nothing on stderr, while SIGPIPE
//! itself stays ignored, so that a client hanging up on `serve` (or a reset
//! database or upstream socket) can never kill the proxy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;
use vouch_testkit::run_into_closed_pipe;

const BIN: &str = env!("CARGO_BIN_EXE_vouch-proxy");
/// The signal a write to a pipe without readers raises.
const SIGPIPE: i32 = 13;
/// vouch-proxy's exit status for a closed stdout (128 + SIGPIPE).
const CLOSED_STDOUT: i32 = 128 + SIGPIPE;

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\nshutdown_grace_secs = 5\n\
             [state]\ndir = \"{}\"\n\
             [[upstreams]]\nname = \"up.test\"\nurl = \"http://127.0.0.1:9\"\ninsecure_allow_http = true\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn proxy(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("VOUCH_PROXY_CONFIG");
    c
}

fn ok(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn admin_commands_and_help_end_quietly_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    ok(proxy(
        &cfg,
        &["app", "add", "acme", "--allow", "up.test/acme"],
    ));
    ok(proxy(&cfg, &common::ADD_STABLE_1_0));
    let license = common::license_create_args("a@example.com", "stable");
    ok(proxy(&cfg, &license));
    for args in [
        &["license", "list"][..],
        &["app", "list"],
        &["channel", "list", "--app", "acme"],
        &["--help"],
        &["license", "--help"],
    ] {
        // Each prints when read...
        let printed = proxy(&cfg, args).output().unwrap();
        assert!(printed.status.success(), "{args:?}");
        assert!(!printed.stdout.is_empty(), "{args:?} printed nothing");
        // ...and ends quietly when not.
        let out = run_into_closed_pipe(proxy(&cfg, args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(CLOSED_STDOUT), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
    // A license ID is shown once: when it cannot be, the command fails and
    // names the license to revoke, instead of ending quietly.
    let out = run_into_closed_pipe(proxy(&cfg, &license));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was created but its ID could not be written to stdout")
            && stderr.contains("vouch-proxy license revoke"),
        "{stderr}"
    );
}

/// Whether `pid` ignores SIGPIPE: bit 13 of `SigIgn` in /proc/PID/status.
fn ignores_sigpipe(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .expect("SigIgn line");
    let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
    mask & (1 << (SIGPIPE - 1)) != 0
}

#[test]
fn serve_keeps_sigpipe_ignored_and_outlives_clients_that_hang_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (mut child, addr) = common::spawn_serving(
        proxy(&cfg, &["serve"])
            .env("VOUCH_PROXY_LOG", "info")
            .env("VOUCH_PROXY_LOG_FORMAT", "json")
            .stdout(Stdio::null()),
    );
    assert!(ignores_sigpipe(child.id()), "serve must ignore SIGPIPE");
    // Clients that send a request and leave without reading the answer.
    for _ in 0..50 {
        use std::io::Write as _;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\nGET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        );
        drop(s);
    }
    let health = {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(child.try_wait().unwrap().is_none(), "serve died");
    common::stop_gracefully(&mut child);
}

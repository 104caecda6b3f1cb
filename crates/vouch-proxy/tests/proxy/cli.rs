//! The `vouch-proxy` binary: admin commands, exit codes, and `serve`
//! (health, auth, graceful shutdown on SIGTERM).

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_vouch-proxy");

/// A configuration in `dir`, listening on a port the system picks.
fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\nshutdown_grace_secs = 5\n\
             [state]\ndir = \"{}\"\n\
             [[upstreams]]\nname = \"up.test\"\nurl = \"http://127.0.0.1:9\"\ninsecure_allow_http = true\n\
             username = \"vendor\"\npassword = {{ env = \"TEST_VENDOR_PASSWORD\" }}\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("TEST_VENDOR_PASSWORD", "pw")
        .env_remove("VOUCH_PROXY_CONFIG")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output, code: i32, fragment: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(fragment), "{fragment:?} not in {stderr}");
}

/// `license create --app acme --email a@example.com --channel C --expires E`.
fn create_license(cfg: &Path, channel: &str, expires: &str) -> Output {
    run(
        cfg,
        &[
            "license",
            "create",
            "--app",
            "acme",
            "--email",
            "a@example.com",
            "--channel",
            channel,
            "--expires",
            expires,
        ],
    )
}

/// `channel add-version --app acme --channel stable --version V [--image I]`.
fn add_version(cfg: &Path, version: &str, image: Option<&str>) -> Output {
    let mut args = vec![
        "channel",
        "add-version",
        "--app",
        "acme",
        "--channel",
        "stable",
        "--version",
        version,
    ];
    if let Some(image) = image {
        args.extend(["--image", image]);
    }
    run(cfg, &args)
}

#[test]
fn admin_commands_manage_apps_channels_and_licenses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    ok(&run(
        &cfg,
        &["app", "add", "acme", "--allow", "up.test/acme"],
    ));
    fails(
        &run(&cfg, &["app", "add", "evil", "--allow", "evil.test/x"]),
        1,
        "upstream evil.test is not configured",
    );
    fails(
        &run(&cfg, &["app", "add", "acme", "--allow", "up.test/acme"]),
        1,
        "app acme already exists",
    );
    fails(
        &run(&cfg, &["app", "add", "Bad_Slug", "--allow", "up.test/x"]),
        1,
        "invalid app slug",
    );
    assert!(ok(&run(&cfg, &["app", "list"])).contains("acme\treferrers=not-found\tup.test/acme"));
    ok(&add_version(&cfg, "1.0", None));
    let out = ok(&add_version(&cfg, "1.1", Some("up.test/acme/api:1.1-api")));
    assert!(out.contains("up.test/acme/api 1.1-api"), "{out}");
    fails(
        &add_version(&cfg, "2", Some("up.test/other/x")),
        1,
        "outside app acme's allowed repositories",
    );
    let listing = ok(&run(&cfg, &["channel", "list", "--app", "acme"]));
    assert!(
        listing.contains("stable\n  1.0\t*\t1.0\n  1.1\tup.test/acme/api\t1.1-api"),
        "{listing}"
    );

    let created = create_license(&cfg, "stable", "2099-01-01");
    let id = ok(&created);
    let id = id.trim();
    assert!(id.starts_with("vpl_") && id.len() == 36, "{id:?}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("printed below, once"));
    // The ID is stored only as a keyed hash.
    let db = std::fs::read(dir.path().join("state/state.db")).unwrap();
    assert!(
        !db.windows(id.len()).any(|w| w == id.as_bytes()),
        "license ID stored in clear"
    );
    fails(
        &create_license(&cfg, "nightly", "never"),
        1,
        "channel nightly of app acme",
    );
    fails(
        &create_license(&cfg, "stable", "soon"),
        1,
        "expected `never`",
    );
    let list = ok(&run(&cfg, &["license", "list"]));
    assert_eq!(
        list.trim(),
        "1\tacme\ta@example.com\tstable\tactive, expires 2099-01-01T00:00:00Z"
    );
    let revoked = ok(&run(&cfg, &["license", "revoke", "1"]));
    assert!(revoked.contains("\trevoked 20"), "{revoked}");
    fails(
        &run(&cfg, &["license", "revoke", "7"]),
        1,
        "license 7 does not exist",
    );
    assert_eq!(ok(&run(&cfg, &["license", "pulls", "1"])), "");
    // Usage errors exit 2.
    fails(
        &run(&cfg, &["license", "create", "--app", "acme"]),
        2,
        "required",
    );
}

#[test]
fn a_bad_configuration_is_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[upstreams]]\nname = \"up.test\"\nurl = \"http://x\"\n",
    )
    .unwrap();
    fails(&run(&cfg, &["app", "list"]), 1, "upstreams[0].url");
    std::fs::write(&cfg, "[server]\nlisten = 5\n").unwrap();
    fails(&run(&cfg, &["app", "list"]), 1, "parsing");
    // The scale-out flags are validated the same way, secrets unprinted.
    std::fs::write(&cfg, "").unwrap();
    let out = run(
        &cfg,
        &["serve", "--database-url", "mysql://vouch:hunter2@db/vouch"],
    );
    fails(
        &out,
        1,
        "state.database_url: expected a postgres:// or postgresql:// URL, found mysql://vouch:***@db/vouch",
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
    fails(
        &run(&cfg, &["app", "list", "--blob-store", "s3://No_Such"]),
        1,
        "cache.store: S3 bucket: expected 3–63 characters of a-z, 0-9",
    );
}

/// A child process killed when the test ends, passed or failed: a `serve`
/// left running would hold the test harness's output pipe open.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// App `acme` (allowing `up.test/acme`) with `1.0` released on `stable`.
fn released_app(cfg: &Path) {
    ok(&run(
        cfg,
        &["app", "add", "acme", "--allow", "up.test/acme"],
    ));
    ok(&add_version(cfg, "1.0", None));
}

#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    released_app(&cfg);
    let id = ok(&create_license(&cfg, "stable", "never"));
    let mut child = Reap(
        Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .env("TEST_VENDOR_PASSWORD", "pw")
            .env("VOUCH_PROXY_LOG", "info")
            .env("VOUCH_PROXY_LOG_FORMAT", "json")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    // Its stderr, drained on a thread (a full pipe would stall it); the
    // bound address comes back as soon as it is logged.
    let (bound, address) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let logged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = logged.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = common::serving_address(&line) {
                let _ = bound.send(addr);
            }
            log.lock().unwrap().push(line);
        }
    });
    let port = address
        .recv_timeout(Duration::from_secs(20))
        .expect("serve did not log the address it listens on")
        .port();
    let get = |path: &str, auth: Option<&str>| -> Option<String> {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get("/healthz", None).is_none_or(|r| !r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let anonymous = get("/v2/", None).unwrap();
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(
        anonymous.contains(&format!("realm=\"http://127.0.0.1:{port}/v2/token\"")),
        "{anonymous}"
    );
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("a@example.com:{}", id.trim()))
    );
    let authed = get("/v2/", Some(&basic)).unwrap();
    assert!(authed.starts_with("HTTP/1.1 200"), "{authed}");
    // An entitled pull whose upstream is down: 503, and a pull-log line.
    let pull = get(
        "/v2/proxy/acme/up.test/acme/api/manifests/1.0",
        Some(&basic),
    )
    .unwrap();
    assert!(pull.starts_with("HTTP/1.1 503"), "{pull}");
    // The customer gets a request ID, not the upstream's address; the log
    // gets both, at error level (issue 14, finding 4).
    assert!(!pull.contains("127.0.0.1:9"), "{pull}");
    let request_id = pull
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id: {pull}"))
        .to_string();
    assert!(pull.contains(&format!("request ID {request_id}")), "{pull}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = logged.lock().unwrap().iter().any(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            v["level"] == "ERROR"
                && v["fields"]["request_id"] == request_id.as_str()
                && v["fields"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("127.0.0.1:9"))
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no error line for {request_id}: {:?}",
            logged.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = get("/metrics", None).unwrap();
    assert!(
        metrics.contains("vouch_proxy_requests_total{route=\"base\",code=\"200\"} 1"),
        "{metrics}"
    );
    common::stop_gracefully(child);
    // The pull log was flushed on the way out.
    let pulls = ok(&run(&cfg, &["license", "pulls", "1"]));
    assert!(
        pulls.contains("\tmanifest\tGET\tup.test/acme/api\t1.0\t503\t"),
        "{pulls}"
    );
    // `license show` sums the same log up.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&run(&cfg, &["license", "show", "1", "--json"]))).unwrap();
    let logged = pulls.lines().count() as u64;
    assert!(logged >= 1, "{pulls}");
    assert_eq!(shown["pullRequests"], logged, "{shown}");
    let newest = pulls.lines().next().unwrap().split('\t').next().unwrap();
    assert_eq!(shown["lastPullAt"], newest, "{shown}");
}

#[test]
fn license_create_refuses_a_past_expiry_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    released_app(&cfg);
    fails(
        &create_license(&cfg, "stable", "2020-01-01"),
        1,
        "--expires 2020-01-01: 2020-01-01T00:00:00Z has already passed",
    );
    assert_eq!(ok(&run(&cfg, &["license", "list"])), "");
    let mut args = vec![
        "license",
        "create",
        "--app",
        "acme",
        "--email",
        "a@example.com",
        "--channel",
        "stable",
        "--expires",
        "2020-01-01",
        "--allow-past",
    ];
    ok(&run(&cfg, &args));
    let list = ok(&run(&cfg, &["license", "list"]));
    assert!(list.contains("expired 2020-01-01T00:00:00Z"), "{list}");
    args.truncate(args.len() - 3);
    args.extend(["--expires", "2099-01-01"]);
    ok(&run(&cfg, &args));
}

/// `license show`, `extend` and `set-channels` (issue 17, item 5).
#[test]
fn license_show_extend_and_set_channels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    released_app(&cfg);
    ok(&run(
        &cfg,
        &[
            "channel",
            "add-version",
            "--app",
            "acme",
            "--channel",
            "beta",
            "--version",
            "2.0",
        ],
    ));
    ok(&create_license(&cfg, "stable", "2099-01-01"));

    let text = ok(&run(&cfg, &["license", "show", "1"]));
    for line in [
        "license:   1\n",
        "status:    active\n",
        "app:       acme\n",
        "email:     a@example.com\n",
        "channels:  stable\n",
        "expires:   2099-01-01T00:00:00Z\n",
        "revoked:   no\n",
        "last pull: never\n",
        "requests:  0\n",
    ] {
        assert!(text.contains(line), "{line:?} not in {text}");
    }
    let show = |n: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&run(&cfg, &["license", "show", n, "--json"]))).unwrap()
    };
    let json = show("1");
    assert_eq!(json["number"], 1);
    assert_eq!(json["status"], "active");
    assert_eq!(json["app"], "acme");
    assert_eq!(json["email"], "a@example.com");
    assert_eq!(json["channels"], serde_json::json!(["stable"]));
    assert_eq!(json["expiresAt"], "2099-01-01T00:00:00Z");
    assert_eq!(json["revokedAt"], serde_json::Value::Null);
    assert_eq!(json["lastPullAt"], serde_json::Value::Null);
    assert_eq!(json["pullRequests"], 0);
    assert!(
        json["createdAt"].as_str().unwrap().starts_with("20"),
        "{json}"
    );

    // extend: a new date, then never; a past date only with --allow-past.
    let out = ok(&run(
        &cfg,
        &["license", "extend", "1", "--expires", "2100-06-30"],
    ));
    assert!(
        out.contains("active, expires 2100-06-30T00:00:00Z"),
        "{out}"
    );
    ok(&run(
        &cfg,
        &["license", "extend", "1", "--expires", "never"],
    ));
    assert_eq!(show("1")["expiresAt"], serde_json::Value::Null);
    fails(
        &run(&cfg, &["license", "extend", "1", "--expires", "2020-01-01"]),
        1,
        "--expires 2020-01-01: 2020-01-01T00:00:00Z has already passed",
    );
    assert_eq!(show("1")["expiresAt"], serde_json::Value::Null);
    let out = ok(&run(
        &cfg,
        &[
            "license",
            "extend",
            "1",
            "--expires",
            "2020-01-01",
            "--allow-past",
        ],
    ));
    assert!(out.contains("expired 2020-01-01T00:00:00Z"), "{out}");
    assert_eq!(show("1")["status"], "expired");
    fails(
        &run(&cfg, &["license", "extend", "1", "--expires", "soon"]),
        1,
        "expected `never`",
    );
    fails(
        &run(&cfg, &["license", "extend", "7", "--expires", "never"]),
        1,
        "license 7 does not exist",
    );
    fails(&run(&cfg, &["license", "extend", "1"]), 2, "--expires");

    // set-channels: replaces them; unknown channels are named, nothing changes.
    let out = ok(&run(
        &cfg,
        &["license", "set-channels", "1", "beta", "stable"],
    ));
    assert!(out.contains("\tbeta,stable\t"), "{out}");
    fails(
        &run(
            &cfg,
            &["license", "set-channels", "1", "stable", "nightly", "edge"],
        ),
        1,
        "license 1 is for app acme, which has no channel nightly, edge (its channels: beta, stable)",
    );
    assert_eq!(show("1")["channels"], serde_json::json!(["beta", "stable"]));
    ok(&run(&cfg, &["license", "set-channels", "1", "beta"]));
    assert_eq!(show("1")["channels"], serde_json::json!(["beta"]));
    fails(
        &run(&cfg, &["license", "set-channels", "7", "beta"]),
        1,
        "license 7 does not exist",
    );
    fails(&run(&cfg, &["license", "set-channels", "1"]), 2, "CHANNEL");
    fails(
        &run(&cfg, &["license", "set-channels", "1", "Bad Channel"]),
        1,
        "channel",
    );

    // A revoked license shows as revoked, whatever its expiry.
    ok(&run(&cfg, &["license", "revoke", "1"]));
    ok(&run(
        &cfg,
        &["license", "extend", "1", "--expires", "never"],
    ));
    let json = show("1");
    assert_eq!(json["status"], "revoked");
    assert!(
        json["revokedAt"].as_str().unwrap().starts_with("20"),
        "{json}"
    );
    assert!(ok(&run(&cfg, &["license", "show", "1"])).contains("status:    revoked\n"));
    fails(
        &run(&cfg, &["license", "show", "7"]),
        1,
        "license 7 does not exist",
    );
}

/// Upstream secrets are read by `serve` only: an operator's shell without
/// them can run every admin command (issue 17, item 2).
#[test]
fn admin_commands_do_not_need_the_secrets_only_serve_uses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let without_secret = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("TEST_VENDOR_PASSWORD")
            .env_remove("VOUCH_PROXY_CONFIG")
            .output()
            .unwrap()
    };
    ok(&without_secret(&[
        "app",
        "add",
        "acme",
        "--allow",
        "up.test/acme",
    ]));
    ok(&without_secret(&common::ADD_STABLE_1_0));
    let id = ok(&without_secret(&common::license_create_args(
        "a@example.com",
        "stable",
    )));
    assert!(id.starts_with("vpl_"), "{id}");
    assert!(ok(&without_secret(&["license", "list"])).starts_with("1\tacme\t"));
    // The rest of the file is still checked, and upstream names too.
    fails(
        &without_secret(&["app", "add", "evil", "--allow", "evil.test/x"]),
        1,
        "upstream evil.test is not configured",
    );
    // serve needs the secret, and says which.
    fails(
        &without_secret(&["serve"]),
        1,
        "upstreams[0].password: environment variable TEST_VENDOR_PASSWORD is not set",
    );
}

#[test]
fn check_config_judges_the_file_and_reads_serve_secrets_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let check = |args: &[&str], password: Option<&str>| {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&cfg).arg("check-config").args(args);
        c.env_remove("VOUCH_PROXY_CONFIG")
            .env_remove("TEST_VENDOR_PASSWORD");
        if let Some(p) = password {
            c.env("TEST_VENDOR_PASSWORD", p);
        }
        c.output().unwrap()
    };
    let out = ok(&check(&[], None));
    assert!(out.contains(": OK (as the admin commands read it"), "{out}");
    fails(
        &check(&["--serve"], None),
        1,
        "environment variable TEST_VENDOR_PASSWORD is not set",
    );
    let out = ok(&check(&["--serve"], Some("pw")));
    assert!(out.contains(": OK (as serve reads it"), "{out}");
    // Nothing was created.
    assert!(!dir.path().join("state").exists());
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[cache]\nmax_byts = 1\n")).unwrap();
    fails(&check(&[], None), 1, "unknown field `max_byts`");
}

#[test]
fn admin_errors_print_the_message_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["license", "revoke", "7"])
        .env("TEST_VENDOR_PASSWORD", "pw")
        .env("RUST_BACKTRACE", "1")
        .env_remove("VOUCH_PROXY_CONFIG")
        .output()
        .unwrap();
    fails(&out, 1, "Error: license 7 does not exist");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[cfg(unix)]
#[test]
fn admin_commands_create_the_state_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    ok(&run(
        &cfg,
        &["app", "add", "acme", "--allow", "up.test/acme"],
    ));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let state = dir.path().join("state");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("state.db")), 0o600);
}

#[test]
fn serve_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let mut child = Reap(
        Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .env("TEST_VENDOR_PASSWORD", "pw")
            .env("VOUCH_PROXY_LOG", "info")
            .env_remove("VOUCH_PROXY_LOG_FORMAT")
            .env_remove("NO_COLOR")
            .env_remove("VOUCH_PROXY_CONFIG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|l: &String| l.contains("vouch-proxy serving"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("vouch-proxy serving")),
        "serve did not log its address: {seen:?}"
    );
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a log that is not a terminal: {seen:?}"
    );
}

/// `version`, `--version`, `completion` and `man` need no configuration
/// (issue 16, item 11).
#[test]
fn vouch_proxy_describes_itself() {
    vouch_testkit::check_self_description(
        Path::new(BIN),
        "vouch-proxy",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "license",
        1,
    );
}

//! Shared test harness: OCI test images pushed over raw HTTP, a stub
//! upstream for fault injection, and an in-process vouch-proxy.
#![allow(dead_code, missing_docs)]

pub mod flaky_store;
pub mod images;
pub mod logs;
pub mod pg_cluster;
pub mod postgres;
pub mod s3;
pub mod serve_child;
pub mod setup;
pub mod stub;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use vouch_proxy::admin;
use vouch_proxy::cache::BlobStore;
use vouch_proxy::cache::disk::DiskStore;
use vouch_proxy::config::{ConfigFile, Settings};
use vouch_proxy::names::{AppSlug, ChannelName, Repository, Tag};
use vouch_proxy::secret::ServerSecret;
use vouch_proxy::server::{self, Proxy, Stores};
use vouch_proxy::store::postgres::PostgresStore;
use vouch_proxy::store::sqlite::SqliteStore;
use vouch_proxy::store::{LicenseStore, ReferrersMode};

/// The address a `vouch-proxy serve` child bound, from its stderr in JSON
/// (`VOUCH_PROXY_LOG_FORMAT=json`, level info or lower): the `listen` field
/// of its "vouch-proxy serving" line. Tests configure `listen` with port 0,
/// so no port is picked, released and raced for.
pub fn serving_address(stderr_line: &str) -> Option<SocketAddr> {
    let line: serde_json::Value = serde_json::from_str(stderr_line).ok()?;
    let fields = &line["fields"];
    if fields["message"] != "vouch-proxy serving" {
        return None;
    }
    fields["listen"].as_str()?.parse().ok()
}

/// Spawns `serve` (already set up in `command`) with its stderr piped and
/// drained on a thread (a full pipe would stall it), and waits for the
/// address it logs it listens on (`VOUCH_PROXY_LOG_FORMAT=json`, level
/// info or lower).
pub fn spawn_serving(command: &mut std::process::Command) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead as _;
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (bound, address) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = serving_address(&line) {
                let _ = bound.send(addr);
            }
        }
    });
    let addr = address
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("serve did not log the address it listens on");
    (child, addr)
}

/// Runs a `vouch-proxy` admin command with `config`, asserting it
/// succeeds.
pub fn run_admin(config: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch-proxy"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("VOUCH_PROXY_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vouch-proxy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The admin command that releases version 1.0 of [`APP`] on `stable` (the
/// tag `1.0` in every repository the app allows).
pub const ADD_STABLE_1_0: [&str; 8] = [
    "channel",
    "add-version",
    "--app",
    APP,
    "--channel",
    "stable",
    "--version",
    "1.0",
];

/// The admin command that creates a license of [`APP`] for `email` on
/// `channel`, never expiring.
pub fn license_create_args<'a>(email: &'a str, channel: &'a str) -> [&'a str; 10] {
    [
        "license",
        "create",
        "--app",
        APP,
        "--email",
        email,
        "--channel",
        channel,
        "--expires",
        "never",
    ]
}

/// Vendor credentials on the upstream registry.
pub const VENDOR_USER: &str = "vendor-bot";
pub const VENDOR_PASS: &str = "vendor-secret";
/// The upstream name clients use in paths.
pub const UPSTREAM: &str = "up.test";
/// The app under test and its allowed repository prefix.
pub const APP: &str = "acme";
pub const ALLOWED: &str = "up.test/acme";

pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Extra configuration for a test proxy.
#[derive(Clone, Default)]
pub struct Options {
    /// TOML appended to the generated config.
    pub extra_toml: String,
    /// TOML lines added to the generated `[server]` table.
    pub server_toml: String,
    /// Vendor credentials as TOML lines for the upstream entry (default:
    /// VENDOR_USER / VENDOR_PASS).
    pub upstream_auth: Option<String>,
    /// `(requests_per_second, burst)`; default: no limit.
    pub rate_limit: Option<(f64, u32)>,
    /// The content store; default: a `DiskStore` under the state dir.
    pub content: Option<Arc<dyn BlobStore>>,
    /// The state store; default: SQLite under the state dir.
    pub postgres: Option<Arc<PostgresStore>>,
}

/// A running in-process proxy.
pub struct TestProxy {
    pub addr: SocketAddr,
    /// The ops listener, when the configuration sets `server.ops_listen`.
    pub ops_addr: Option<SocketAddr>,
    /// The SQLite state (unused by the proxy when `Options::postgres` is set).
    pub store: Arc<SqliteStore>,
    /// The state store the proxy uses.
    pub licenses: Arc<dyn LicenseStore>,
    pub dir: PathBuf,
    pub settings: Settings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestProxy {
    /// Starts a proxy in `dir` (state and cache) in front of `upstream_url`.
    pub async fn start(dir: &Path, upstream_url: &str, options: &Options) -> Self {
        logs::install();
        let auth = options.upstream_auth.clone().unwrap_or_else(|| {
            format!("username = \"{VENDOR_USER}\"\npassword = \"{VENDOR_PASS}\"")
        });
        let (rate, burst) = options.rate_limit.unwrap_or((0.0, 1));
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\nlicense_cache_secs = 0\nshutdown_grace_secs = 2\n{}\n\
             [state]\ndir = \"{}\"\n\
             [rate_limit]\nrequests_per_second = {rate:?}\nburst = {burst}\n\
             {}\n\
             [[upstreams]]\nname = \"{UPSTREAM}\"\nurl = \"{upstream_url}\"\ninsecure_allow_http = true\n{auth}\n",
            options.server_toml,
            dir.display(),
            options.extra_toml,
        );
        let settings = ConfigFile::parse(&toml)
            .unwrap()
            .resolve(&|_| None)
            .unwrap();
        let store = Arc::new(SqliteStore::open(&settings.database_path()).unwrap());
        let secret = ServerSecret::load_or_create(&settings.secret_path()).unwrap();
        let content: Arc<dyn BlobStore> = match &options.content {
            Some(content) => content.clone(),
            None => {
                Arc::new(DiskStore::open(&settings.cache_dir, settings.cache_max_bytes).unwrap())
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stores, licenses): (Stores, Arc<dyn LicenseStore>) = match &options.postgres {
            Some(pg) => (
                Stores {
                    licenses: pg.clone(),
                    pull_log: pg.clone(),
                    resolutions: pg.clone(),
                    content,
                },
                pg.clone(),
            ),
            None => (
                Stores {
                    licenses: store.clone(),
                    pull_log: store.clone(),
                    resolutions: store.clone(),
                    content,
                },
                store.clone(),
            ),
        };
        let (proxy, log_task) = Proxy::new(settings.clone(), stores, &secret).unwrap();
        let ops = match settings.ops_listen {
            Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        };
        let ops_addr = ops.as_ref().map(|l| l.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::serve(proxy, listener, ops, None, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
            log_task.finish().await;
        });
        Self {
            addr,
            ops_addr,
            store,
            licenses,
            dir: dir.to_path_buf(),
            settings,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let r = client().get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    /// The value of one metric sample (`name{labels}` as rendered), 0
    /// when absent.
    pub async fn metric(&self, sample: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    /// Waits until no blob fill is in flight: a client gets a blob's last
    /// byte once it verified, before the fill stores it, so what the cache
    /// holds after a pull is known only then. (The deadline turns a fill
    /// that never ends into a failure; it measures nothing.)
    pub async fn settled(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let metrics = self.metrics().await;
            if metrics.contains("\nvouch_proxy_blob_fills_in_flight 0\n") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a blob fill never ended: {metrics}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// `/v2/proxy/acme/up.test/<repo>/<rest>`.
    pub fn repo_url(&self, repo: &str, rest: &str) -> String {
        self.url(&format!("/v2/proxy/{APP}/{UPSTREAM}/{repo}/{rest}"))
    }

    /// Stops the server and flushes the pull log.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Files (not directories) under the cache's blob and staging areas.
    pub fn cache_files(&self, area: &str) -> Vec<PathBuf> {
        let root = self.settings.cache_dir.join(area);
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// Licenses created by [`setup_licenses`].
pub struct Licenses {
    /// On channel stable (tag 1.0 everywhere in the app).
    pub stable: String,
    /// On channel beta (tag 1.1).
    pub beta: String,
    /// Stable, but expired.
    pub expired: String,
    /// Stable, but revoked.
    pub revoked: String,
    /// A license of another app.
    pub other_app: String,
}

pub const EMAIL: &str = "customer@example.com";

/// App `acme` (allowing `up.test/acme`) with channels stable (1.0) and
/// beta (1.1), app `other` (allowing `up.test/other`, channel stable with
/// 1.0), and one license of each kind.
pub async fn setup_licenses(proxy: &TestProxy, referrers: ReferrersMode) -> Licenses {
    let store = &*proxy.licenses;
    let settings = &proxy.settings;
    let acme = AppSlug::new(APP).unwrap();
    admin::add_app(
        store,
        settings,
        acme.clone(),
        vec![Repository::parse(ALLOWED).unwrap()],
        referrers,
    )
    .await
    .unwrap();
    let other = AppSlug::new("other").unwrap();
    admin::add_app(
        store,
        settings,
        other.clone(),
        vec![Repository::parse("up.test/other").unwrap()],
        ReferrersMode::NotFound,
    )
    .await
    .unwrap();
    let stable = ChannelName::new("stable").unwrap();
    let beta = ChannelName::new("beta").unwrap();
    admin::add_version(store, &acme, stable.clone(), Tag::new("1.0").unwrap(), &[])
        .await
        .unwrap();
    admin::add_version(store, &acme, beta.clone(), Tag::new("1.1").unwrap(), &[])
        .await
        .unwrap();
    admin::add_version(store, &other, stable.clone(), Tag::new("1.0").unwrap(), &[])
        .await
        .unwrap();
    let secret = ServerSecret::load_or_create(&settings.secret_path()).unwrap();
    let hasher = secret.license_hasher();
    let now = jiff::Timestamp::now();
    let create = |app: &AppSlug, channel: &ChannelName, expires: Option<jiff::Timestamp>| {
        let (app, channel, hasher) = (app.clone(), channel.clone(), hasher.clone());
        async move {
            admin::create_license(store, &hasher, app, EMAIL, vec![channel], expires, now)
                .await
                .unwrap()
        }
    };
    let (_, stable_id) = create(
        &acme,
        &stable,
        Some(now + jiff::SignedDuration::from_hours(24 * 30)),
    )
    .await;
    let (_, beta_id) = create(&acme, &beta, None).await;
    let (_, expired_id) = create(
        &acme,
        &stable,
        Some(now - jiff::SignedDuration::from_hours(1)),
    )
    .await;
    let (revoked_n, revoked_id) = create(&acme, &stable, None).await;
    store.revoke_license(revoked_n, now).await.unwrap();
    let (_, other_id) = create(&other, &stable, None).await;
    Licenses {
        stable: stable_id.expose().to_string(),
        beta: beta_id.expose().to_string(),
        expired: expired_id.expose().to_string(),
        revoked: revoked_id.expose().to_string(),
        other_app: other_id.expose().to_string(),
    }
}

/// A client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends SIGTERM to a `vouch-proxy serve` child and asserts that it exits
/// successfully within 10 s (graceful shutdown).
pub fn stop_gracefully(child: &mut std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
}

/// The OCI error code of a response body (panics on anything else). Text
/// after the JSON document is ignored: tests append the error the proxy
/// logged for a 5xx (`logged: …`) to its body.
pub fn error_code(body: &str) -> String {
    let v: serde_json::Value = serde_json::Deserializer::from_str(body)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("empty body"))
        .unwrap_or_else(|e| panic!("not an OCI error body ({e}): {body}"));
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["code"].as_str().unwrap().to_string()
}

/// Sends a request line verbatim (no client-side path normalisation) and
/// returns the status code and body.
pub async fn raw_get(addr: SocketAddr, path: &str, authorization: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One request with `client()`: `authorization` and any other headers.
pub async fn send(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    authorization: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .request(method, url)
        .header("authorization", authorization);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// A release policy for the images `operator` and `ui` under `repository`
/// (`<upstream>/<path>`), signed by a GitHub Actions workflow of
/// acme/platform, with SPDX and SLSA v1 attestations.
pub fn release_policy(repository: &str) -> vouch_proxy::policy::AppPolicy {
    use vouch_proxy::policy::{AppPolicy, ClaimMatch};
    AppPolicy {
        repository: Repository::parse(repository).unwrap(),
        images: AppPolicy::parse_images(&["operator".into(), "ui".into()]).unwrap(),
        subject: ClaimMatch::Regexp(
            r"https://github\.com/acme/platform/\.github/workflows/release\.yml@refs/tags/v.*"
                .into(),
        ),
        issuer: ClaimMatch::Exact("https://token.actions.githubusercontent.com".into()),
        attestations: vec!["spdxjson".into(), "slsaprovenance1".into()],
        slsa_builder_id_regexp: Some(r"https://github\.com/acme/platform/.*".into()),
    }
}

//! The S3-compatible server the tests use: moto in server mode, started by
//! `scripts/lib/s3.sh` (`scripts/test` does it), found through
//! `VOUCH_TEST_S3_*` variables.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::ObjectStoreExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use vouch_proxy::cache::s3::{S3Config, S3Credentials, S3Serve, S3Store};

/// Where the test server is.
#[derive(Debug, Clone)]
pub struct S3Env {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The test server, or `None` after a SKIP line when `VOUCH_TEST_S3_ENDPOINT`
/// is unset — except under `CI=true`, where CI starts it, so its absence
/// is a failure.
pub fn s3_env() -> Option<S3Env> {
    let Ok(endpoint) = std::env::var("VOUCH_TEST_S3_ENDPOINT") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "VOUCH_TEST_S3_ENDPOINT is not set under CI=true (scripts/test starts moto with scripts/lib/s3.sh)"
            );
        }
        eprintln!(
            "SKIP: VOUCH_TEST_S3_ENDPOINT is not set; start moto with `source scripts/lib/s3.sh && start_s3 target/moto`"
        );
        return None;
    };
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    Some(S3Env {
        endpoint,
        bucket: var("VOUCH_TEST_S3_BUCKET", "vouch-test"),
        region: var("VOUCH_TEST_S3_REGION", "us-east-1"),
        access_key_id: var("VOUCH_TEST_S3_ACCESS_KEY_ID", "vouch-test-key"),
        secret_access_key: var("VOUCH_TEST_S3_SECRET_ACCESS_KEY", "vouch-test-secret"),
    })
}

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test/{name}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl S3Env {
    /// A store configuration for the test bucket under `prefix`.
    pub fn config(&self, prefix: &str, serve: S3Serve, staging: &Path) -> S3Config {
        let mut config = S3Config::new(&self.bucket, prefix, staging.to_path_buf());
        config.endpoint = Some(self.endpoint.clone());
        config.region = self.region.clone();
        config.insecure_allow_http = true;
        config.serve = serve;
        config.credentials = Some(S3Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: None,
        });
        config
    }

    /// A store under `prefix`, staging in `staging`.
    pub fn store(&self, prefix: &str, serve: S3Serve, staging: &Path) -> S3Store {
        S3Store::new(self.config(prefix, serve, staging)).unwrap()
    }

    /// A raw client on the test bucket, to look behind the store's back.
    pub fn raw(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// Whether an object is stored under `key` (asked behind the store's back).
    pub async fn object_exists(&self, key: &str) -> bool {
        match self.raw().head(&ObjectPath::from(key)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => panic!("HEAD {key}: {e}"),
        }
    }
}

/// An S3 server (moto) of one test's own, which the test may stop and
/// start again, empty, on the same port (the bucket down, then emptied).
/// Driven by scripts/lib/s3.sh, so it is set up as the shared one is.
pub struct PrivateMoto {
    dir: tempfile::TempDir,
    port: String,
    pid: Option<String>,
    /// Where it is.
    pub env: S3Env,
}

fn s3_script(snippet: &str, args: &[&str]) -> Option<Vec<String>> {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/s3.sh");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(". \"$0\" && {snippet}"))
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).into_owned();
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("cannot start a private moto server: {why}");
        }
        eprintln!("SKIP: cannot start a private moto server: {why}");
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

impl PrivateMoto {
    /// Starts one (with the test bucket), or `None` after a SKIP line
    /// when moto cannot run here (a failure under `CI=true`).
    pub fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap().to_string();
        let lines = s3_script(
            r#"start_s3 "$1" && echo "$VOUCH_TEST_S3_ENDPOINT" && echo "$S3_PID""#,
            &[&dir_arg],
        )?;
        let endpoint = lines[0].clone();
        let port = endpoint.rsplit(':').next().unwrap().to_string();
        Some(Self {
            dir,
            port,
            pid: Some(lines[1].clone()),
            env: S3Env {
                endpoint,
                bucket: "vouch-test".into(),
                region: "us-east-1".into(),
                access_key_id: "vouch-test-key".into(),
                secret_access_key: "vouch-test-secret".into(),
            },
        })
    }

    /// Stops the server (its objects are gone with it).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = std::process::Command::new("kill").arg(&pid).status();
            // Wait until the port refuses connections.
            let addr = format!("127.0.0.1:{}", self.port);
            for _ in 0..200 {
                if std::net::TcpStream::connect(&addr).is_err() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            panic!("moto (pid {pid}) still answers on {addr}");
        }
    }

    /// Starts a new, empty server (with the test bucket) on the same port.
    pub fn restart_empty(&mut self) {
        let dir_arg = self.dir.path().to_str().unwrap().to_string();
        let lines = s3_script(
            r#"start_s3_on "$1" "$2" && echo "$S3_PID""#,
            &[&dir_arg, &self.port],
        )
        .expect("moto started once already");
        self.pid = Some(lines[0].clone());
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = std::process::Command::new("kill").arg(pid).status();
        }
    }
}

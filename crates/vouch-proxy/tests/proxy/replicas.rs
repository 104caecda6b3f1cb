//! Scale-out: three `vouch-proxy serve` processes sharing one PostgreSQL
//! database, one S3-compatible bucket (moto) and one server secret, in
//! front of Debian's docker-registry. Each replica has its own state
//! directory, which holds nothing the others need.
//!
//! Needs `VOUCH_TEST_DATABASE_URL` (scripts/lib/postgres.sh) and
//! `VOUCH_TEST_S3_*` (scripts/lib/s3.sh); scripts/test starts both. Without
//! them the tests say SKIP, except under CI, where their absence is a
//! failure.

use crate::common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::images::{Pusher, publish_release, sha256};
use common::postgres::TestDatabase;
use common::s3::{S3Env, s3_env, unique_prefix};
use common::setup::REPO;
use common::{ALLOWED, APP, UPSTREAM, VENDOR_PASS, VENDOR_USER, basic, client, send};
use vouch_testkit::LocalRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_vouch-proxy");
const EMAIL: &str = "ops@customer.example";
/// How long a replica may keep honouring a revoked license: its in-memory
/// license cache lifetime, set low in this test's configuration.
const LICENSE_CACHE_SECS: u64 = 1;
/// Upper bound for a replica to start answering /healthz.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The shared part of every replica's configuration.
struct Cluster {
    dir: tempfile::TempDir,
    upstream_url: String,
    database: TestDatabase,
    s3: S3Env,
    store: String,
}

struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn repo_url(&self, rest: &str) -> String {
        self.url(&format!("/v2/proxy/{APP}/{UPSTREAM}/{REPO}/{rest}"))
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// The configuration file of replica `n` (its own state dir; a port
    /// the system picks).
    fn config(&self, n: usize, serve: &str) -> PathBuf {
        let state = self.dir.path().join(format!("replica-{n}"));
        let path = self.dir.path().join(format!("replica-{n}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"[server]
listen = "127.0.0.1:0"
public_scheme = "http"
license_cache_secs = {LICENSE_CACHE_SECS}
shutdown_grace_secs = 2
[state]
dir = "{state}"
database_url = "{database_url}"
secret_file = "{secret}"
[cache]
store = "{store}"
[cache.s3]
endpoint = "{endpoint}"
insecure_allow_http = true
access_key_id = "{key_id}"
secret_access_key = "{secret_key}"
region = "{region}"
serve = "{serve}"
[rate_limit]
requests_per_second = 0
[[upstreams]]
name = "{UPSTREAM}"
url = "{upstream}"
insecure_allow_http = true
username = "{VENDOR_USER}"
password = "{VENDOR_PASS}"
"#,
                state = state.display(),
                database_url = self.database.url,
                secret = self.dir.path().join("shared-secret.key").display(),
                store = self.store,
                endpoint = self.s3.endpoint,
                key_id = self.s3.access_key_id,
                secret_key = self.s3.secret_access_key,
                region = self.s3.region,
                upstream = self.upstream_url,
            ),
        )
        .unwrap();
        path
    }

    fn admin(&self, args: &[&str]) -> Output {
        common::run_admin(&self.config(0, "stream"), args)
    }

    async fn start(&self, n: usize, serve: &str) -> Replica {
        let config = self.config(n, serve);
        let log = std::fs::File::create(self.dir.path().join(format!("replica-{n}.log"))).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env_remove("VOUCH_PROXY_CONFIG")
            .env("VOUCH_PROXY_LOG", "info")
            .env("VOUCH_PROXY_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let port = loop {
            if let Some(addr) = self.log(n).lines().find_map(common::serving_address) {
                break addr.port();
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "replica {n} did not log its address: {}",
                self.log(n)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let replica = Replica { child, port };
        loop {
            if let Ok(r) = client().get(replica.url("/healthz")).send().await
                && r.status() == 200
            {
                return replica;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "replica {n} did not start: {}",
                self.log(n)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("replica-{n}.log")))
            .unwrap_or_default()
    }
}

/// A fresh database and bucket prefix; `None` (after SKIP lines) when
/// PostgreSQL, moto or docker-registry is missing outside CI.
async fn cluster(registry: &LocalRegistry) -> Option<Cluster> {
    let database = TestDatabase::create().await?;
    let s3 = s3_env()?;
    let store = format!("s3://{}/{}", s3.bucket, unique_prefix("replicas"));
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        upstream_url: registry.url(),
        database,
        s3,
        store,
    };
    cluster.admin(&["app", "add", APP, "--allow", ALLOWED]);
    cluster.admin(&common::ADD_STABLE_1_0);
    Some(cluster)
}

fn create_license(cluster: &Cluster) -> (String, String) {
    let out = cluster.admin(&common::license_create_args(EMAIL, "stable"));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let number = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    (id, number)
}

async fn get(url: &str, authorization: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let accept =
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    let r = send(
        reqwest::Method::GET,
        url,
        authorization,
        &[("accept", accept)],
    )
    .await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn replicas_share_state_content_and_revocation() {
    let Some(registry) = LocalRegistry::start(Some((VENDOR_USER, VENDOR_PASS))) else {
        return;
    };
    let pusher = Pusher::new(&registry.url(), Some(basic(VENDOR_USER, VENDOR_PASS)));
    // Layers large enough that a transfer can be cut in the middle.
    let release = publish_release(&pusher, REPO, 4 << 20).await;
    let Some(cluster) = cluster(&registry).await else {
        return;
    };
    let (license_id, number) = create_license(&cluster);
    let auth = basic(EMAIL, &license_id);

    let replicas = [
        cluster.start(1, "stream").await,
        cluster.start(2, "stream").await,
        cluster.start(3, "redirect").await,
    ];

    // Every replica serves every part of the release, byte for byte, with
    // the same headers; the requests run concurrently, so several replicas
    // fill the same digests at once.
    let mut wanted = vec![
        ("manifests/1.0".to_string(), release.index.bytes.clone()),
        (
            format!("manifests/{}", release.amd64.manifest.digest),
            release.amd64.manifest.bytes.clone(),
        ),
    ];
    for image in [&release.amd64, &release.arm64] {
        for layer in image.layers.iter().chain([&image.config]) {
            wanted.push((format!("blobs/{}", layer.digest), layer.bytes.clone()));
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, replica) in replicas.iter().enumerate().take(2) {
        for (path, bytes) in wanted.clone() {
            let url = replica.repo_url(&path);
            let auth = auth.clone();
            tasks.spawn(async move {
                let (status, headers, body) = get(&url, &auth).await;
                assert_eq!(status, 200, "replica {} {url}", i + 1);
                assert_eq!(sha256(&body), sha256(&bytes), "replica {} {url}", i + 1);
                (path, headers.get("docker-content-digest").cloned())
            });
        }
    }
    let mut digests = std::collections::BTreeMap::new();
    while let Some(result) = tasks.join_next().await {
        let (path, digest) = result.unwrap();
        let previous = digests.insert(path.clone(), digest.clone());
        if let Some(previous) = previous {
            assert_eq!(previous, digest, "replicas disagree on {path}");
        }
    }

    // Redirect mode: a 307 to the object store, which serves the bytes to
    // a client holding no credentials.
    let layer = &release.arm64.layers[0];
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(replicas[2].repo_url(&format!("blobs/{}", layer.digest)))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&cluster.s3.endpoint),
        "{location} is not on {}",
        cluster.s3.endpoint
    );
    let body = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&body), layer.digest);

    // A token from one replica is accepted by the others (shared secret).
    let token: serde_json::Value = client()
        .get(replicas[0].url(&format!(
            "/v2/token?service=x&scope=repository:proxy/{APP}/{UPSTREAM}/{REPO}:pull"
        )))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    for replica in &replicas[1..] {
        let (status, _, _) = get(&replica.repo_url("manifests/1.0"), &bearer).await;
        assert_eq!(status, 200);
    }

    // Revoked through the admin CLI (the shared database): every replica
    // refuses the license and its tokens once its short license cache
    // expires.
    cluster.admin(&["license", "revoke", &number]);
    let deadline = Instant::now() + Duration::from_secs(LICENSE_CACHE_SECS + 10);
    for (i, replica) in replicas.iter().enumerate() {
        for credential in [&auth, &bearer] {
            loop {
                let (status, _, body) = get(&replica.repo_url("manifests/1.0"), credential).await;
                if status == 401 {
                    let body = String::from_utf8_lossy(&body);
                    assert!(body.contains("revoked"), "replica {}: {body}", i + 1);
                    break;
                }
                assert_eq!(status, 200, "replica {}", i + 1);
                assert!(
                    Instant::now() < deadline,
                    "replica {} still serves a revoked license",
                    i + 1
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_replica_killed_mid_transfer_leaves_nothing_half_written() {
    let Some(registry) = LocalRegistry::start(Some((VENDOR_USER, VENDOR_PASS))) else {
        return;
    };
    let pusher = Pusher::new(&registry.url(), Some(basic(VENDOR_USER, VENDOR_PASS)));
    let release = publish_release(&pusher, REPO, 16 << 20).await;
    let Some(cluster) = cluster(&registry).await else {
        return;
    };
    let (license_id, _) = create_license(&cluster);
    let auth = basic(EMAIL, &license_id);
    let mut doomed = cluster.start(1, "stream").await;
    let survivor = cluster.start(2, "stream").await;

    // Start a cold 16 MiB blob through the doomed replica, read a little,
    // then kill it (SIGKILL: no graceful shutdown).
    let layer = &release.amd64.layers[0];
    let mut r = client()
        .get(doomed.repo_url(&format!("blobs/{}", layer.digest)))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    doomed.kill();
    let mut rest = 0usize;
    while let Ok(Some(chunk)) = r.chunk().await {
        rest += chunk.len();
    }
    assert!(
        first.len() + rest < layer.bytes.len(),
        "the transfer was not cut"
    );

    // The survivor serves the whole, correct blob; the store held no
    // partial object to serve instead.
    let (status, headers, body) = get(
        &survivor.repo_url(&format!("blobs/{}", layer.digest)),
        &auth,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["docker-content-digest"], layer.digest.as_str());
    assert_eq!(body.len(), layer.bytes.len());
    assert_eq!(sha256(&body), layer.digest);

    // State written by the killed replica is intact: a restarted replica
    // with an empty state directory knows the license and serves the tag.
    let restarted = cluster.start(3, "stream").await;
    let (status, _, body) = get(&restarted.repo_url("manifests/1.0"), &auth).await;
    assert_eq!(status, 200);
    assert_eq!(body, release.index.bytes);
}

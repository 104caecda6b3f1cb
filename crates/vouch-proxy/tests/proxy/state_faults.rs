//! The state database stopped and started again mid-test (issue 21,
//! items 2 and 3): server-side trouble is a 503 with `Retry-After` and a
//! body that names no pool, SQL or URL, never a 401; the proxy recovers
//! without a restart once the database is back.

use crate::common;

use std::sync::Arc;

use common::images::{Image, OCI_MANIFEST, image};
use common::logs::lines_containing;
use common::pg_cluster::PrivateCluster;
use common::setup::REPO;
use common::stub::Stub;
use common::{EMAIL, Licenses, Options, TestProxy, basic, client, error_code, setup_licenses};
use vouch_proxy::secret::{LicenseId, ServerSecret};
use vouch_proxy::store::postgres::PostgresStore;
use vouch_proxy::store::{LicenseStore as _, PullLog as _, PullRecord, ReferrersMode};

/// Requests' reads of the state database that failed, and those not made
/// because it was known to be failing.
const ASKS_FAILED: &str = "vouch_proxy_database_asks_total{outcome=\"failed\"}";
const ASKS_SKIPPED: &str = "vouch_proxy_database_asks_total{outcome=\"skipped\"}";

/// Tests in this module that stop their database (each with a proxy of
/// its own, logging to the one captured log).
const OUTAGES_IN_THIS_MODULE: usize = 4;

struct Fixture {
    cluster: PrivateCluster,
    pg: Arc<PostgresStore>,
    proxy: TestProxy,
    licenses: Licenses,
    image: Image,
    _stub: Stub,
    _dir: tempfile::TempDir,
}

async fn fixture(server_toml: &str) -> Option<Fixture> {
    let cluster = PrivateCluster::start().await?;
    let stub = Stub::start().await;
    let image = image("outage", "amd64", 1000);
    stub.image(REPO, "1.0", &image);
    let dir = tempfile::tempdir().unwrap();
    let pg = Arc::new(PostgresStore::connect(&cluster.url, 4).await.unwrap());
    let options = Options {
        postgres: Some(pg.clone()),
        server_toml: server_toml.to_string(),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &stub.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    Some(Fixture {
        cluster,
        pg,
        proxy,
        licenses,
        image,
        _stub: stub,
        _dir: dir,
    })
}

impl Fixture {
    async fn pull(&self, license: &str) -> reqwest::Response {
        client()
            .get(self.proxy.repo_url(REPO, "manifests/1.0"))
            .header("authorization", basic(EMAIL, license))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, license: &str) -> reqwest::Response {
        client()
            .get(self.proxy.repo_url(REPO, path))
            .header("authorization", basic(EMAIL, license))
            .send()
            .await
            .unwrap()
    }

    fn config_blob_path(&self) -> String {
        format!("blobs/{}", self.image.config.digest)
    }

    /// Status and JSON of an ops endpoint (on the main listener here: no
    /// `ops_listen`).
    async fn ops(&self, path: &str) -> (u16, serde_json::Value) {
        let r = client().get(self.proxy.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// The pull-log records of license `id`, newest first.
    async fn pulls(&self, id: &str) -> Vec<PullRecord> {
        let hasher = ServerSecret::load_or_create(&self.proxy.settings.secret_path())
            .unwrap()
            .license_hasher();
        let hash = hasher.hash(&LicenseId::parse(id).unwrap());
        let license = self.pg.license_by_hash(&hash).await.unwrap().unwrap();
        self.pg.pulls(license.number, 1000).await.unwrap()
    }

    /// Waits (up to a minute) for `/healthz` to show the database `ok`
    /// again: the background probe's doing, asked every
    /// `DATABASE_PROBE_INTERVAL`.
    async fn wait_for_database(&self) {
        for _ in 0..600 {
            let (_, health) = self.ops("/healthz").await;
            if health["components"]["database"]["state"] == "ok" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the database was not seen answering again");
    }

    async fn token(&self, license: &str) -> reqwest::Response {
        client()
            .get(self.proxy.url(&format!(
                "/v2/token?service=x&scope=repository:proxy/acme/up.test/{REPO}:pull"
            )))
            .header("authorization", basic(EMAIL, license))
            .send()
            .await
            .unwrap()
    }
}

/// Asserts `r` is the 503 of an unavailable state store: `Retry-After`,
/// code UNAVAILABLE, "temporarily unavailable", and nothing of the pool,
/// the SQL or the database URL, which go to the log under its request ID.
async fn assert_state_unavailable(r: reqwest::Response, url: &str) {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    // The detail is the log's, under the request ID the customer got.
    let logged = lines_containing(&["request failed", &request_id]);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].contains("state database"), "{logged:?}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    assert!(
        retry_after.is_some_and(|v| v.parse::<u64>().is_ok()),
        "{body}"
    );
    assert!(body.contains("temporarily unavailable"), "{body}");
    let host_port = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    for secret in ["pool", "state database", "SQL", "postgres", host_port] {
        assert!(!body.contains(secret), "{secret:?} in {body}");
    }
}

#[tokio::test]
async fn with_the_database_stopped_a_recently_seen_license_pulls_and_an_unseen_one_gets_503() {
    let Some(f) = fixture("").await else {
        return;
    };
    let blob = f.config_blob_path();
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    assert_eq!(f.get(&blob, &f.licenses.stable).await.status(), 200);
    let paused_at = jiff::Timestamp::now();
    f.cluster.pause();
    // Seen within server.license_stale_secs (default 600): fail static,
    // for what it was entitled to. The first request to meet the stopped
    // database waits for it and marks it failing...
    let r = f.pull(&f.licenses.stable).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let failed = f.proxy.metric(ASKS_FAILED).await;
    let skipped = f.proxy.metric(ASKS_SKIPPED).await;
    assert!(failed >= 1, "the database was asked and failed");
    // ...the next ones do not ask it (nor wait on its pool): answered from
    // fail static, or with the 503, at once; a background probe asks it.
    let r = f.get(&blob, &f.licenses.stable).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(f.token(&f.licenses.stable).await.status(), 200);
    // A license this replica never saw: nothing to serve it from.
    assert_state_unavailable(f.pull(&f.licenses.beta).await, &f.cluster.url).await;
    assert_state_unavailable(f.token(&f.licenses.beta).await, &f.cluster.url).await;
    assert_eq!(
        f.proxy.metric(ASKS_FAILED).await,
        failed,
        "a request asked the database known to be down"
    );
    assert!(f.proxy.metric(ASKS_SKIPPED).await >= skipped + 4);
    // Operators see it; the replica stays ready and healthy (200).
    let (status, health) = f.ops("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["components"]["database"]["state"], "down",
        "{health}"
    );
    assert_eq!(health["components"]["store"]["state"], "ok", "{health}");
    let since = |health: &serde_json::Value| -> jiff::Timestamp {
        health["components"]["database"]["since"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no since: {health}"))
    };
    let down_since = since(&health);
    assert!(down_since >= paused_at && down_since <= jiff::Timestamp::now());
    assert_eq!(f.ops("/readyz").await.0, 200);
    assert!(
        f.proxy
            .metrics()
            .await
            .contains("vouch_proxy_degraded{component=\"database\"} 1")
    );
    f.cluster.resume();
    // Back without a restart, once the background probe saw it answer.
    f.wait_for_database().await;
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    let (_, health) = f.ops("/healthz").await;
    assert_eq!(health["components"]["database"]["state"], "ok", "{health}");
    assert!(
        since(&health) > down_since,
        "ok since the fault ended: {health}"
    );
    assert!(
        f.proxy
            .metrics()
            .await
            .contains("vouch_proxy_degraded{component=\"database\"} 0")
    );
    // Said once when it started and once when it ended (the other tests
    // of this module run their own proxies alongside, one outage each;
    // once per fault is health::tests' to prove).
    let started = lines_containing(&["fault started", "\"database\""]);
    let ended = lines_containing(&["fault ended", "\"database\""]);
    assert!(
        (1..=OUTAGES_IN_THIS_MODULE).contains(&started.len()),
        "{started:?}"
    );
    assert!(
        (1..=OUTAGES_IN_THIS_MODULE).contains(&ended.len()),
        "{ended:?}"
    );
    assert_eq!(f.token(&f.licenses.beta).await.status(), 200);
    // Credentials that are wrong are still a 401.
    assert_eq!(f.pull("not-a-license").await.status(), 401);
    // No pull-log record lost: the three served during the outage were
    // kept in memory and written once the database was back, before any
    // restart (2 before, 3 during, 1 after).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut pulls = f.pulls(&f.licenses.stable).await;
    while pulls.len() < 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        pulls = f.pulls(&f.licenses.stable).await;
    }
    let actions: Vec<String> = pulls
        .iter()
        .rev()
        .map(|p| format!("{:?} {}", p.action, p.status))
        .collect();
    assert_eq!(actions.len(), 6, "{actions:?}");
    // The database answers again, so a revocation takes effect within
    // license_cache_secs (0 here): fail static is for outages only.
    let number = f.pulls(&f.licenses.stable).await[0].license;
    f.pg.revoke_license(number, jiff::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 401);
    f.proxy.stop().await;
}

#[tokio::test]
async fn with_fail_static_off_every_license_gets_503_while_the_database_is_stopped() {
    let Some(f) = fixture("license_stale_secs = 0").await else {
        return;
    };
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    f.cluster.pause();
    assert_state_unavailable(f.pull(&f.licenses.stable).await, &f.cluster.url).await;
    // Nothing new can be served: not ready (every replica alike).
    assert_eq!(f.ops("/readyz").await.0, 503);
    f.cluster.resume();
    f.wait_for_database().await;
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    f.proxy.stop().await;
}

/// The portal cannot tell whether a session was signed out (on any
/// replica) while the database is down: its pages and sign-out answer 503,
/// never a page of the session's and never "signed out" when it was not.
#[tokio::test]
async fn the_portal_answers_503_while_the_database_is_stopped() {
    use crate::portal::{csrf_field, license_page, license_page_text, post, signed_in};
    let Some(f) = fixture("").await else {
        return;
    };
    let cookie = signed_in(&f.proxy, &f.licenses.beta).await;
    let (status, page) = license_page_text(&f.proxy, &cookie).await;
    assert_eq!(status, 200);
    f.cluster.pause();
    assert_eq!(license_page(&f.proxy, &cookie).await, 503);
    let csrf = csrf_field(&page);
    let r = post(
        &f.proxy,
        "/portal/sign-out",
        Some(&cookie),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 503);
    f.cluster.resume();
    f.wait_for_database().await;
    assert_eq!(license_page(&f.proxy, &cookie).await, 200, "not signed out");
    f.proxy.stop().await;
}

#[tokio::test]
async fn no_pull_log_record_is_lost_in_a_30_s_database_outage() {
    let Some(f) = fixture("").await else {
        return;
    };
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    f.cluster.pause();
    // Ten pulls spread over 30 s of outage, each served from fail static
    // and each leaving a record the database cannot take yet.
    for _ in 0..10 {
        assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    assert!(f.proxy.metric("vouch_proxy_pulllog_buffered").await >= 1);
    f.cluster.resume();
    f.wait_for_database().await;
    // Written once the database answers again, without a restart.
    let mut pulls = Vec::new();
    for _ in 0..600 {
        pulls = f.pulls(&f.licenses.stable).await;
        if pulls.len() >= 11 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pulls.len(), 11, "{pulls:?}");
    assert!(pulls.iter().all(|p| p.status == 200), "{pulls:?}");
    assert_eq!(f.proxy.metric("vouch_proxy_pulllog_dropped_total").await, 0);
    assert_eq!(f.proxy.metric("vouch_proxy_pulllog_buffered").await, 0);
    f.proxy.stop().await;
}

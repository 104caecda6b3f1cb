//! The state database stopped and started again mid-test (issue 21,
//! items 2 and 3): server-side trouble is a 503 with `Retry-After` and a
//! body that names no pool, SQL or URL, never a 401; the proxy recovers
//! without a restart once the database is back.

use crate::common;

use std::sync::Arc;

use common::images::{OCI_MANIFEST, image};
use common::pg_cluster::PrivateCluster;
use common::setup::REPO;
use common::stub::Stub;
use common::{EMAIL, Licenses, Options, TestProxy, basic, client, error_code, setup_licenses};
use vouch_proxy::store::ReferrersMode;
use vouch_proxy::store::postgres::PostgresStore;

struct Fixture {
    cluster: PrivateCluster,
    proxy: TestProxy,
    licenses: Licenses,
    _stub: Stub,
    _dir: tempfile::TempDir,
}

async fn fixture(server_toml: &str) -> Option<Fixture> {
    let cluster = PrivateCluster::start().await?;
    let stub = Stub::start().await;
    stub.image(REPO, "1.0", &image("outage", "amd64", 1000));
    let dir = tempfile::tempdir().unwrap();
    let pg = Arc::new(PostgresStore::connect(&cluster.url, 4).await.unwrap());
    let options = Options {
        postgres: Some(pg),
        server_toml: server_toml.to_string(),
        ..Options::default()
    };
    let proxy = TestProxy::start(dir.path(), &stub.url(), &options).await;
    let licenses = setup_licenses(&proxy, ReferrersMode::NotFound).await;
    Some(Fixture {
        cluster,
        proxy,
        licenses,
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
/// the SQL or the database URL.
async fn assert_state_unavailable(r: reqwest::Response, url: &str) {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.text().await.unwrap();
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
async fn with_the_database_stopped_credentials_get_503_with_retry_after_never_401() {
    let Some(f) = fixture("").await else {
        return;
    };
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    f.cluster.pause();
    // A license this replica never saw: nothing to serve it from.
    assert_state_unavailable(f.pull(&f.licenses.beta).await, &f.cluster.url).await;
    assert_state_unavailable(f.token(&f.licenses.beta).await, &f.cluster.url).await;
    f.cluster.resume();
    // Back without a restart.
    assert_eq!(f.pull(&f.licenses.stable).await.status(), 200);
    assert_eq!(f.token(&f.licenses.beta).await.status(), 200);
    // Credentials that are wrong are still a 401.
    assert_eq!(f.pull("not-a-license").await.status(), 401);
    f.proxy.stop().await;
}

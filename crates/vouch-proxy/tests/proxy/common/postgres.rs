//! A fresh PostgreSQL database per test, on the server named by
//! `VOUCH_TEST_DATABASE_URL` (scripts/lib/postgres.sh starts a throwaway
//! one and sets it). Tests run in parallel, each in its own database,
//! dropped when the handle is.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx_core::connection::Connection as _;
use sqlx_core::executor::Executor as _;
use sqlx_postgres::PgConnection;

/// Where the admin connection comes from.
pub const DATABASE_URL_ENV: &str = "VOUCH_TEST_DATABASE_URL";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A database created for one test; dropped (with its connections) on drop.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// Its URL (same server and role as the admin URL).
    pub url: String,
}

/// The admin URL, or `None` after a SKIP line. Under `CI=true` a missing
/// URL is a failure: CI starts PostgreSQL (scripts/test), so the backend is
/// never silently untested there.
pub fn admin_url() -> Option<String> {
    match std::env::var(DATABASE_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{DATABASE_URL_ENV} is not set (required under CI=true: scripts/test starts \
                     PostgreSQL with scripts/lib/postgres.sh and sets it)"
                );
            }
            eprintln!(
                "SKIP: {DATABASE_URL_ENV} is not set, PostgreSQL tests not run; scripts/test \
                 starts a throwaway cluster (or source scripts/lib/postgres.sh and call start_postgres)"
            );
            None
        }
    }
}

/// `url` pointing at database `name` instead.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .rfind('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

impl TestDatabase {
    /// Creates `vouch_test_<pid>_<n>_<nanos>`, or `None` when there is no
    /// server (outside CI).
    pub async fn create() -> Option<Self> {
        let admin_url = admin_url()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "vouch_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {DATABASE_URL_ENV}: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside a test's runtime (maybe while panicking): do the
        // async work on a thread of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("dropping test database {}: {done:?}", self.name);
        }
    }
}

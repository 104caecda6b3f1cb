//! A PostgreSQL cluster of one test's own, which the test may stop and
//! start again on the same data directory and port (a database outage).
//! Made and driven by scripts/lib/postgres.sh (`start_postgres`,
//! `pause_postgres`, `resume_postgres`, `stop_postgres`), so it is set up
//! exactly as the shared test cluster is.

use std::path::PathBuf;
use std::process::Command;

use sqlx_core::connection::Connection as _;
use sqlx_core::executor::Executor as _;
use sqlx_postgres::PgConnection;

use super::postgres::with_database;

/// A private cluster; stopped and deleted on drop.
pub struct PrivateCluster {
    dir: String,
    port: String,
    /// A database of its own on it, for the proxy.
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/postgres.sh")
}

fn bash(snippet: &str, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(". \"$0\" && {snippet}"))
        .arg(script())
        .args(args)
        .output()
        .unwrap()
}

impl PrivateCluster {
    /// Starts one, or `None` after a SKIP line when PostgreSQL is not
    /// installed (a failure under `CI=true`, where it always is).
    pub async fn start() -> Option<Self> {
        let out = bash(
            r#"start_postgres && echo "$POSTGRES_DIR" && echo "$VOUCH_TEST_DATABASE_URL""#,
            &[],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        let (Some(dir), Some(admin_url)) = (lines.next(), lines.next()) else {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cannot start a private PostgreSQL cluster: {why}");
            }
            eprintln!("SKIP: cannot start a private PostgreSQL cluster: {why}");
            return None;
        };
        let port = admin_url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap()
            .to_string();
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        admin.execute("CREATE DATABASE vouch_faults").await.unwrap();
        admin.close().await.unwrap();
        Some(Self {
            dir: dir.to_string(),
            port,
            url: with_database(admin_url, "vouch_faults"),
        })
    }

    /// Stops the server; the data stays.
    pub fn pause(&self) {
        let out = bash(r#"pause_postgres "$1""#, &[&self.dir]);
        assert!(out.status.success(), "{out:?}");
    }

    /// Starts the server again on the same data and port.
    pub fn resume(&self) {
        let out = bash(r#"resume_postgres "$1" "$2""#, &[&self.dir, &self.port]);
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = bash(r#"POSTGRES_DIR="$1" && stop_postgres"#, &[&self.dir]);
    }
}

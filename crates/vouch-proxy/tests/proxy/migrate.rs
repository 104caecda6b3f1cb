//! `vouch-proxy migrate`: a SQLite state filled through the store traits,
//! copied into a fresh PostgreSQL database, reads back equal through the
//! PostgreSQL store, and its licenses still authenticate (same secret.key).
//! Needs `VOUCH_TEST_DATABASE_URL` (skipped with a message when unset, a
//! failure under `CI=true`).

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::postgres::TestDatabase;
use common::{basic, client};
use jiff::Timestamp;
use sqlx_core::connection::Connection as _;
use sqlx_core::executor::Executor as _;
use sqlx_postgres::{PgConnection, Postgres};
use vouch_proxy::cache::disk::DiskStore;
use vouch_proxy::config::ConfigFile;
use vouch_proxy::migrate::{MigrateError, migrate};
use vouch_proxy::names::{AppSlug, ChannelName, Digest, Reference, Repository, Tag};
use vouch_proxy::secret::{LicenseId, ServerSecret};
use vouch_proxy::server::{self, Proxy, Stores};
use vouch_proxy::store::postgres::{ImportError, ImportTarget, PostgresStore};
use vouch_proxy::store::sqlite::SqliteStore;
use vouch_proxy::store::{
    App, LicenseNumber, LicenseStore as _, NewLicense, PullAction, PullLog as _, PullRecord,
    ReferrersMode, Release, ResolutionStore as _, StateCounts,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn release(
    channel: &str,
    version: &str,
    repository: Option<&str>,
    reference: Reference,
) -> Release {
    Release {
        channel: ChannelName::new(channel).unwrap(),
        version: Tag::new(version).unwrap(),
        repository: repository.map(|r| Repository::parse(r).unwrap()),
        reference,
    }
}

/// The license IDs of the populated state, by role.
struct Ids {
    live: LicenseId,
    revoked: LicenseId,
}

const EMAIL: &str = "ops@customer.example";
/// Pull-log lines written: more than one import batch.
const PULL_LINES: i64 = 2_500;

/// Fills a SQLite state with one of everything, through the traits.
async fn populate(store: &SqliteStore, secret: &ServerSecret) -> Ids {
    let hasher = secret.license_hasher();
    let acme = AppSlug::new("acme").unwrap();
    store
        .add_app(&App {
            slug: acme.clone(),
            referrers: ReferrersMode::Passthrough,
            repositories: vec![
                Repository::parse("up.test/acme").unwrap(),
                Repository::parse("docker.io/library/postgres").unwrap(),
            ],
            release_policy: Some(common::release_policy("up.test/acme/platform")),
        })
        .await
        .unwrap();
    store
        .add_app(&App {
            slug: AppSlug::new("quiet").unwrap(),
            referrers: ReferrersMode::NotFound,
            repositories: vec![Repository::parse("up.test/quiet").unwrap()],
            release_policy: None,
        })
        .await
        .unwrap();
    let pinned = Digest::sha256_of(b"postgres 16");
    store
        .add_releases(
            &acme,
            &[
                release(
                    "stable",
                    "1.0.0",
                    None,
                    Reference::Tag(Tag::new("1.0.0").unwrap()),
                ),
                release(
                    "stable",
                    "1.0.0",
                    Some("docker.io/library/postgres"),
                    Reference::Digest(pinned),
                ),
                release(
                    "beta",
                    "1.1.0-rc1",
                    None,
                    Reference::Tag(Tag::new("1.1.0-rc1").unwrap()),
                ),
                release(
                    "old",
                    "0.9.0",
                    None,
                    Reference::Tag(Tag::new("0.9.0").unwrap()),
                ),
            ],
        )
        .await
        .unwrap();
    // An empty channel is copied too.
    store
        .remove_version(
            &acme,
            &ChannelName::new("old").unwrap(),
            &Tag::new("0.9.0").unwrap(),
        )
        .await
        .unwrap();
    let ids = Ids {
        live: LicenseId::generate().unwrap(),
        revoked: LicenseId::generate().unwrap(),
    };
    let expired = LicenseId::generate().unwrap();
    let license =
        |id: &LicenseId, channels: &[&str], created: i64, expires: Option<i64>| NewLicense {
            app: acme.clone(),
            email: EMAIL.into(),
            channels: channels
                .iter()
                .map(|c| ChannelName::new(c).unwrap())
                .collect(),
            id_hash: hasher.hash(id),
            created_at: at(created),
            expires_at: expires.map(at),
        };
    store
        .create_license(&license(
            &expired,
            &["stable"],
            1_700_000_000,
            Some(1_700_000_100),
        ))
        .await
        .unwrap();
    let revoked = store
        .create_license(&license(
            &ids.revoked,
            &["stable", "beta"],
            1_700_000_001,
            None,
        ))
        .await
        .unwrap();
    store
        .create_license(&license(
            &ids.live,
            &["beta", "stable"],
            1_700_000_002,
            Some(4_000_000_000),
        ))
        .await
        .unwrap();
    store
        .revoke_license(revoked, at(1_750_000_000))
        .await
        .unwrap();
    let lines: Vec<PullRecord> = (0..PULL_LINES)
        .map(|i| PullRecord {
            license: LicenseNumber(1 + i % 3),
            at: at(1_760_000_000 + i),
            action: if i % 10 == 0 {
                PullAction::Token
            } else {
                PullAction::Manifest
            },
            method: "GET".into(),
            repository: "up.test/acme/api".into(),
            reference: format!("ref-{i}"),
            status: 200,
            bytes: i as u64 * 7,
        })
        .collect();
    store.append(&lines).await.unwrap();
    let api = Repository::parse("up.test/acme/api").unwrap();
    let v1 = Tag::new("1.0.0").unwrap();
    let (d1, d2) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
    store.record_tag(&api, &v1, &d1, at(100)).await.unwrap();
    store.record_tag(&api, &v1, &d1, at(150)).await.unwrap();
    store.record_tag(&api, &v1, &d2, at(200)).await.unwrap();
    store.record_attachment(&api, &d1, &d2).await.unwrap();
    store
        .record_attachment(&api, &d1, &Digest::sha256_of(b"sig"))
        .await
        .unwrap();
    ids
}

async fn sqlite_with_state(dir: &Path) -> (SqliteStore, ServerSecret, Ids) {
    let store = SqliteStore::open(&dir.join("state.db")).unwrap();
    let secret = ServerSecret::load_or_create(&dir.join("secret.key")).unwrap();
    let ids = populate(&store, &secret).await;
    (store, secret, ids)
}

/// What a migration test starts from: a populated SQLite state and a store
/// on a fresh PostgreSQL database.
struct Fixture {
    sqlite: SqliteStore,
    secret: ServerSecret,
    ids: Ids,
    pg: PostgresStore,
    /// Holds the SQLite file and secret.key.
    dir: tempfile::TempDir,
    /// Declared last, so dropped after the store's pool.
    db: TestDatabase,
}

/// The [`Fixture`], its PostgreSQL pool `max_connections` large, or `None`
/// when there is no PostgreSQL server (outside CI).
async fn fixture(max_connections: u32) -> Option<Fixture> {
    let db = TestDatabase::create().await?;
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, secret, ids) = sqlite_with_state(dir.path()).await;
    let pg = PostgresStore::connect(&db.url, max_connections)
        .await
        .unwrap();
    Some(Fixture {
        sqlite,
        secret,
        ids,
        pg,
        dir,
        db,
    })
}

const EXPECTED: StateCounts = StateCounts {
    apps: 2,
    repositories: 3,
    channels: 3,
    releases: 3,
    licenses: 3,
    revoked_licenses: 1,
    pulls: PULL_LINES as u64,
    tag_digests: 2,
    attachments: 2,
};

#[tokio::test]
async fn migration_copies_everything_and_licenses_still_authenticate() {
    let Some(Fixture {
        sqlite,
        secret,
        ids,
        pg,
        dir,
        db: _db,
    }) = fixture(4).await
    else {
        return;
    };
    let report = migrate(&sqlite, &pg, ImportTarget::Empty).await.unwrap();
    assert_eq!(report.source, EXPECTED);
    assert_eq!(report.copied, EXPECTED);
    assert!(report.replaced.is_empty());

    // Everything reads back equal: the whole state, and through the traits.
    assert_eq!(
        pg.snapshot().await.unwrap(),
        sqlite.snapshot().await.unwrap()
    );
    assert_eq!(pg.counts().await.unwrap(), EXPECTED);
    assert_eq!(pg.apps().await.unwrap(), sqlite.apps().await.unwrap());
    let acme = AppSlug::new("acme").unwrap();
    assert_eq!(
        pg.channels(&acme).await.unwrap(),
        ["beta", "old", "stable"].map(|c| ChannelName::new(c).unwrap())
    );
    assert_eq!(
        pg.releases(&acme).await.unwrap(),
        sqlite.releases(&acme).await.unwrap()
    );
    assert_eq!(
        pg.licenses(None).await.unwrap(),
        sqlite.licenses(None).await.unwrap()
    );
    for n in 1..=3 {
        let number = LicenseNumber(n);
        let copied = pg.pulls(number, u32::MAX).await.unwrap();
        assert_eq!(copied, sqlite.pulls(number, u32::MAX).await.unwrap());
        assert_eq!(copied.len(), if n == 1 { 834 } else { 833 });
    }
    let api = Repository::parse("up.test/acme/api").unwrap();
    let v1 = Tag::new("1.0.0").unwrap();
    assert_eq!(
        pg.tag_digests(&api, &v1).await.unwrap(),
        sqlite.tag_digests(&api, &v1).await.unwrap()
    );
    let d1 = Digest::sha256_of(b"a");
    assert_eq!(
        pg.attachments(&api, &d1).await.unwrap(),
        sqlite.attachments(&api, &d1).await.unwrap()
    );
    let hasher = secret.license_hasher();
    let revoked = pg
        .license_by_hash(&hasher.hash(&ids.revoked))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (revoked.number, revoked.revoked_at),
        (LicenseNumber(2), Some(at(1_750_000_000)))
    );

    // New licenses are numbered after the copied ones.
    let next = pg
        .create_license(&NewLicense {
            app: acme.clone(),
            email: EMAIL.into(),
            channels: vec![ChannelName::new("stable").unwrap()],
            id_hash: hasher.hash(&LicenseId::generate().unwrap()),
            created_at: at(1_800_000_000),
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(next, LicenseNumber(4));

    // A proxy on the PostgreSQL store with the same secret.key accepts the
    // copied license ID, and still refuses the revoked one.
    let token_for = serve_on(&pg, dir.path()).await;
    assert_eq!(token_for(ids.live.expose().to_string()).await, 200);
    assert_eq!(token_for(ids.revoked.expose().to_string()).await, 401);
    assert_eq!(
        token_for(LicenseId::generate().unwrap().expose().to_string()).await,
        401
    );
}

/// Starts a proxy whose license store is `pg` (secret.key in `dir`);
/// returns a function asking it for a pull token with a license ID.
async fn serve_on(
    pg: &PostgresStore,
    dir: &Path,
) -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = u16>>> {
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\nlicense_cache_secs = 0\n\
         [state]\ndir = \"{}\"\n\
         [[upstreams]]\nname = \"up.test\"\nurl = \"http://127.0.0.1:9\"\ninsecure_allow_http = true\n",
        dir.display()
    );
    let settings = ConfigFile::parse(&toml)
        .unwrap()
        .resolve(&|_| None)
        .unwrap();
    let secret = ServerSecret::load_or_create(&settings.secret_path()).unwrap();
    let pg = Arc::new(pg.clone());
    let stores = Stores {
        licenses: pg.clone(),
        pull_log: pg.clone(),
        resolutions: pg,
        content: Arc::new(DiskStore::open(&settings.cache_dir, settings.cache_max_bytes).unwrap()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (proxy, _log) = Proxy::new(settings, stores, &secret).unwrap();
    tokio::spawn(server::serve(
        proxy,
        listener,
        None,
        None,
        std::future::pending::<()>(),
    ));
    move |id: String| {
        Box::pin(async move {
            client()
                .get(format!(
                    "http://{addr}/v2/token?scope=repository:proxy/acme/up.test/acme/api:pull"
                ))
                .header("authorization", basic(EMAIL, &id))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }
}

#[tokio::test]
async fn migration_refuses_a_target_that_holds_licenses_unless_told_to_replace() {
    let Some(Fixture {
        sqlite,
        pg,
        dir: _dir,
        db: _db,
        ..
    }) = fixture(2).await
    else {
        return;
    };
    migrate(&sqlite, &pg, ImportTarget::Empty).await.unwrap();
    // Something written in PostgreSQL after the copy.
    pg.revoke_license(LicenseNumber(3), at(1_800_000_000))
        .await
        .unwrap();

    let err = migrate(&sqlite, &pg, ImportTarget::Empty)
        .await
        .unwrap_err();
    let MigrateError::Import(ImportError::TargetNotEmpty { held }) = &err else {
        panic!("expected TargetNotEmpty, got {err:?}");
    };
    assert_eq!(held.licenses, 3);
    assert!(
        err.to_string()
            .starts_with("the target database is not empty: it holds 3 licenses ("),
        "{err}"
    );
    // Refused means untouched.
    assert_eq!(pg.counts().await.unwrap().revoked_licenses, 2);

    let report = migrate(&sqlite, &pg, ImportTarget::ReplaceExisting)
        .await
        .unwrap();
    assert_eq!(report.replaced.licenses, 3);
    assert_eq!(report.replaced.revoked_licenses, 2);
    assert_eq!(report.copied, EXPECTED);
    assert_eq!(
        pg.snapshot().await.unwrap(),
        sqlite.snapshot().await.unwrap()
    );
}

#[tokio::test]
async fn migration_refuses_a_source_that_changed_during_the_copy_and_says_how() {
    let Some(Fixture {
        sqlite,
        pg,
        dir: _dir,
        db,
        ..
    }) = fixture(2).await
    else {
        return;
    };
    // Another session holds a lock that the import's LOCK TABLE waits for:
    // migrate has then read the source's counts and state, not yet the
    // pull log or the final counts.
    let mut holder = PgConnection::connect(&db.url).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("LOCK TABLE apps IN SHARE MODE")
        .await
        .unwrap();
    let write_during_the_copy = async {
        let waited_since = std::time::Instant::now();
        while sqlx_core::query_scalar::query_scalar::<Postgres, i64>(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'apps'::regclass \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut holder)
        .await
        .unwrap()
            == 0
        {
            assert!(
                waited_since.elapsed() < std::time::Duration::from_secs(30),
                "migrate never waited for the lock"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // A server still logging pulls: the copy reads the log after this
        // line, so it holds what the source holds now, not what it held.
        sqlite
            .append(&[PullRecord {
                license: LicenseNumber(1),
                at: at(1_800_000_000),
                action: PullAction::Token,
                method: "POST".into(),
                repository: String::new(),
                reference: String::new(),
                status: 200,
                bytes: 0,
            }])
            .await
            .unwrap();
        holder.execute("COMMIT").await.unwrap();
    };
    let (result, ()) = tokio::join!(
        migrate(&sqlite, &pg, ImportTarget::Empty),
        write_during_the_copy
    );

    let err = result.unwrap_err();
    let MigrateError::SourceChanged { before, after } = &err else {
        panic!("expected SourceChanged, got {err:?}");
    };
    assert_eq!(*before, EXPECTED);
    assert_eq!(
        *after,
        StateCounts {
            pulls: EXPECTED.pulls + 1,
            ..EXPECTED
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the SQLite state changed while being copied: expected it to still hold {before}, \
             found {after}; stop every vouch-proxy using the SQLite file and run migrate again"
        )
    );
    let message = err.to_string();
    for lines in [PULL_LINES, PULL_LINES + 1] {
        assert!(
            message.contains(&format!("{lines} pull-log lines")),
            "{message}"
        );
    }
    // Nothing was committed.
    assert!(pg.counts().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_migrate_command_copies_then_refuses_and_never_prints_the_password() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, _secret, _ids) = sqlite_with_state(dir.path()).await;
    drop(sqlite);
    let state = dir.path().join("state.db");
    let password = common::postgres::admin_url()
        .and_then(|u| {
            let start = u.find("://")? + 3;
            let at = u.rfind('@')?;
            Some(u[start..at].split_once(':')?.1.to_string())
        })
        .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vouch-proxy"));
        cmd.arg("migrate")
            .arg("--from")
            .arg(&state)
            .args(extra)
            .env("VOUCH_PROXY_MIGRATE_TO", &db.url)
            .env_remove("VOUCH_PROXY_CONFIG");
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "into {}: {EXPECTED}\n",
            vouch_proxy::store::postgres::redact_database_url(&db.url)
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(&password) && !stderr.contains(&password));

    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("the target database is not empty: it holds 3 licenses"),
        "{stderr}"
    );
    assert!(!stdout.contains(&password) && !stderr.contains(&password));

    let (code, stdout, stderr) = run(&["--replace-target"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("deleted from the target first: 2 apps"),
        "{stdout}"
    );

    // A missing source is refused, not created empty.
    let missing = dir.path().join("nope.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch-proxy"))
        .args(["migrate", "--from"])
        .arg(&missing)
        .args(["--to", "postgres://u:pw@127.0.0.1:1/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected an existing SQLite state file, found none"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!missing.exists());
}

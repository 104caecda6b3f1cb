//! The scale-out store: PostgreSQL, shared by any number of proxy replicas
//! and the admin CLI (issue 8).
//!
//! Same tables, keys and answers as [`super::sqlite::SqliteStore`]; the
//! schema is `migrations/postgres/*.sql`, embedded in the binary and applied
//! by sqlx's migrator when a store connects. Every write is one statement or
//! one transaction that several replicas may run at once: inserts that may
//! meet a concurrent twin use `ON CONFLICT`, revocation is a single
//! `UPDATE … COALESCE`, so there is no read-modify-write to race.
//!
//! `sqlx-core` + `sqlx-postgres` are used directly rather than the `sqlx`
//! facade (docs/dependencies.md); queries are plain runtime SQL (no
//! compile-time checked macros, so building needs no database). Text is
//! ordered `COLLATE "C"` (bytewise, as SQLite), so both backends list
//! things in the same order whatever the database's locale.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr as _;
use std::time::Duration;

use futures_util::future::BoxFuture;
use jiff::Timestamp;
use sqlx_core::connection::Connection as _;
use sqlx_core::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx_core::row::Row as _;
use sqlx_postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow, PgTransaction,
    Postgres,
};

use super::{
    App, Attachment, BackendError, COUNT_ROWS_SQL, License, LicenseNumber, LicenseStore,
    NewLicense, PullAction, PullLog, PullRecord, PullSummary, ReferrersMode, Release,
    ResolutionStore, StateCounts, StateSnapshot, StoreError, StoreFuture, TagSighting, corrupt,
    from_ts, parse_channel, parse_digest, parse_release_policy, parse_repository, parse_slug,
    release_from_row, ts,
};
use crate::names::{AppSlug, ChannelName, Digest, Repository, Tag};
use crate::policy::AppPolicy;
use crate::secret::LicenseIdHash;

/// A pool size that suits one replica: the hot path never waits on the
/// database (licenses and decisions are cached in memory, the pull log is
/// written in batches by one task), so a few connections serve thousands
/// of requests per second.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// The largest pool [`PostgresStore::connect`] accepts: PostgreSQL's
/// default `max_connections` is 100, shared by every replica and the
/// admin CLI, so one pool must not take them all.
pub const MAX_POOL_CONNECTIONS: u32 = 64;

/// How long [`PostgresStore::connect`] waits for its first connection
/// (TCP, TLS, authentication) before failing: long enough for a database
/// on another host that is busy, short enough that a wrong address fails
/// a start-up within seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a store call waits for a pooled connection (including opening
/// a new one) before failing. A request then answers 500 instead of
/// hanging: 5 s is far above a healthy database's milliseconds and below
/// the clients' own timeouts (docker: 30 s per request).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows per `INSERT … SELECT FROM UNNEST(…)` when appending the pull log or
/// importing: one round trip per batch, matching the pull-log writer's
/// batch of 1000 lines; a batch is a few hundred KiB of parameters.
pub const INSERT_BATCH_ROWS: usize = 1000;

/// The migrations, embedded. Keep in step with `migrations/postgres/`
/// (a unit test compares the two).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial.sql",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        "0002_app_release_policy.sql",
        include_str!("../../migrations/postgres/0002_app_release_policy.sql"),
    ),
    (
        "0003_portal_sign_outs.sql",
        include_str!("../../migrations/postgres/0003_portal_sign_outs.sql"),
    ),
];

/// The embedded migrations as sqlx's migrator wants them. Not the
/// `sqlx::migrate!` macro: that lives in the `sqlx` facade, which this
/// crate cannot depend on (docs/dependencies.md). Same file-name rule
/// (`<version>_<description>.sql`) and the same SHA-384 checksums, so the
/// `_sqlx_migrations` table is exactly what `migrate!` would write.
#[derive(Debug)]
struct EmbeddedMigrations;

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx_core::error::BoxDynError>> {
        Box::pin(async move {
            MIGRATIONS
                .iter()
                .map(|(name, sql)| {
                    let (version, description) = parse_migration_name(name)?;
                    Ok(Migration::new(
                        version,
                        Cow::Owned(description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    ))
                })
                .collect()
        })
    }
}

/// `0001_initial.sql` → (1, "initial"), as sqlx names migrations.
fn parse_migration_name(name: &str) -> Result<(i64, String), sqlx_core::error::BoxDynError> {
    let stem = name
        .strip_suffix(".sql")
        .ok_or_else(|| format!("migration {name:?}: expected a .sql file"))?;
    let (version, description) = stem
        .split_once('_')
        .ok_or_else(|| format!("migration {name:?}: expected <version>_<description>.sql"))?;
    let version: i64 = version
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("migration {name:?}: expected a positive version number"))?;
    Ok((version, description.replace('_', " ")))
}

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

/// `url` with its password (in the user part or a `password=` parameter)
/// replaced by `***`, for messages and logs. Works on text that is not a
/// valid URL too (a password with an unencoded `/` or `@` is still hidden).
pub fn redact_database_url(url: &str) -> String {
    let out = match password_span(url) {
        Some((from, to)) => format!("{}***{}", &url[..from], &url[to..]),
        None => url.to_string(),
    };
    redact_password_parameter(&out)
}

/// Where the password in `url`'s user part is: between the first `:`
/// after the scheme and the last `@` before the query. Over-matching a
/// path that contains `@` only hides more.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('?').map_or(url.len(), |i| start + i);
    let at = start + url[start..end].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some((colon + 1, at)).filter(|(from, to)| from < to)
}

/// The password in `url`'s user part, if any (raw, not percent-decoded).
fn url_password(url: &str) -> Option<&str> {
    password_span(url).map(|(from, to)| &url[from..to])
}

/// Every `password=` query parameter's value replaced by `***`.
fn redact_password_parameter(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// Every form of `url`'s password (raw and percent-decoded, user part and
/// `password=` parameter), to scrub from error messages.
fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut add = |raw: &str| {
        if raw.is_empty() {
            return;
        }
        secrets.push(raw.to_string());
        let decoded = percent_decode(raw);
        if decoded != raw {
            secrets.push(decoded);
        }
    };
    if let Some(p) = url_password(url) {
        add(p);
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && key.eq_ignore_ascii_case("password")
            {
                add(value);
            }
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` with every form of `url`'s password replaced by `***`.
fn scrub(message: &str, url: &str) -> String {
    url_secrets(url)
        .iter()
        .fold(message.to_string(), |m, secret| m.replace(secret, "***"))
}

fn backend(operation: &'static str) -> impl Fn(sqlx_core::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: e.into(),
    }
}

fn is_unique_violation(e: &sqlx_core::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

type Query<'q> = sqlx_core::query::Query<'q, Postgres, PgArguments>;

fn sql(text: &str) -> Query<'_> {
    sqlx_core::query::query::<Postgres>(text)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`,
    /// libpq parameters such as `sslmode=verify-full` allowed), brings the
    /// schema up to date, and returns a pool of at most `max_connections`
    /// (1 to [`MAX_POOL_CONNECTIONS`]; [`DEFAULT_MAX_CONNECTIONS`] suits one
    /// replica). TLS is rustls; `sslmode` decides whether it is required.
    /// Errors name the URL without its password.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if !(1..=MAX_POOL_CONNECTIONS).contains(&max_connections) {
            return Err(StoreError::Backend {
                operation: "configure the connection pool",
                source: BackendError::PoolSize {
                    max: MAX_POOL_CONNECTIONS,
                    got: max_connections,
                },
            });
        }
        let shown = redact_database_url(url);
        let fail = |operation: &'static str, detail: String| StoreError::Backend {
            operation,
            source: BackendError::Connect(format!("{shown}: {}", scrub(&detail, url))),
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| fail("read the database URL", e.to_string()))?;
        // One connection first: it proves the address and credentials
        // within CONNECT_TIMEOUT, and applies the migrations (under sqlx's
        // advisory lock, so replicas starting together take turns).
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                fail(
                    "connect",
                    format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })?
            .map_err(|e| fail("connect", e.to_string()))?;
        let migrator = Migrator::new(EmbeddedMigrations)
            .await
            .map_err(|e| fail("read the embedded migrations", e.to_string()))?;
        migrator
            .run(&mut conn)
            .await
            .map_err(|e| fail("apply migrations", e.to_string()))?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Closes every connection (waits for those in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// How many rows each table holds.
    pub async fn counts(&self) -> Result<StateCounts, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend("count rows"))?;
        count_rows(&mut conn).await
    }

    /// Everything but the pull log, in the order [`StateSnapshot`] documents.
    pub async fn snapshot(&self) -> Result<StateSnapshot, StoreError> {
        let op = "read the whole state";
        let channels = sqlx_core::query_as::query_as::<Postgres, (String, String)>(
            r#"SELECT app, name FROM channels ORDER BY app COLLATE "C", name COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?
        .into_iter()
        .map(|(app, name)| Ok((parse_slug(&app)?, parse_channel(&name)?)))
        .collect::<Result<_, StoreError>>()?;
        let releases =
            sqlx_core::query_as::query_as::<Postgres, (String, String, String, String, String)>(
                r#"SELECT c.app, c.name, r.version, r.repository, r.reference
               FROM releases r JOIN channels c ON c.id = r.channel
               ORDER BY c.app COLLATE "C", c.name COLLATE "C", r.version COLLATE "C",
                        r.repository COLLATE "C", r.reference COLLATE "C""#,
            )
            .fetch_all(&self.pool)
            .await
            .map_err(backend(op))?
            .into_iter()
            .map(|(app, channel, version, repository, reference)| {
                Ok((
                    parse_slug(&app)?,
                    release_from_row(channel, version, repository, reference)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let tags = sqlx_core::query_as::query_as::<Postgres, (String, String, String, i64, i64)>(
            r#"SELECT repository, tag, digest, first_seen, last_seen FROM tag_digests
               ORDER BY repository COLLATE "C", tag COLLATE "C", digest COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?
        .into_iter()
        .map(|(repository, tag, digest, first, last)| {
            Ok(TagSighting {
                repository: parse_repository(&repository)?,
                tag: Tag::new(&tag).map_err(|_| corrupt("tag", &tag))?,
                digest: parse_digest(&digest)?,
                first_seen: from_ts("tag first_seen", first)?,
                last_seen: from_ts("tag last_seen", last)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
        let attachments = sqlx_core::query_as::query_as::<Postgres, (String, String, String)>(
            r#"SELECT repository, subject, artifact FROM attachments
               ORDER BY repository COLLATE "C", subject COLLATE "C", artifact COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?
        .into_iter()
        .map(|(repository, subject, artifact)| {
            Ok(Attachment {
                repository: parse_repository(&repository)?,
                subject: parse_digest(&subject)?,
                artifact: parse_digest(&artifact)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
        Ok(StateSnapshot {
            apps: self.apps().await?,
            channels,
            releases,
            licenses: self.licenses(None).await?,
            tags,
            attachments,
        })
    }

    /// Starts copying a whole state into this database, in one transaction
    /// that nothing sees until [`StateImport::commit`]. With
    /// [`ImportTarget::Empty`] a database that holds anything is refused
    /// ([`ImportError::TargetNotEmpty`]); [`ImportTarget::ReplaceExisting`]
    /// deletes everything it holds first.
    pub async fn begin_import(&self, target: ImportTarget) -> Result<StateImport, ImportError> {
        let op = "begin the import";
        let mut tx = self.pool.begin().await.map_err(backend(op))?;
        // Nobody else writes while we check and copy.
        sql(
            "LOCK TABLE apps, app_repositories, channels, releases, licenses, license_channels, \
             pulls, tag_digests, attachments IN EXCLUSIVE MODE",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend(op))?;
        let held = count_rows(&mut tx).await?;
        match target {
            ImportTarget::Empty if !held.is_empty() => {
                return Err(ImportError::TargetNotEmpty { held });
            }
            ImportTarget::Empty => {}
            ImportTarget::ReplaceExisting => {
                sql(
                    "TRUNCATE apps, app_repositories, channels, releases, licenses, \
                     license_channels, pulls, tag_digests, attachments RESTART IDENTITY",
                )
                .execute(&mut *tx)
                .await
                .map_err(backend("empty the target database"))?;
            }
        }
        Ok(StateImport { tx, replaced: held })
    }
}

/// What [`PostgresStore::begin_import`] does with a database that already
/// holds state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportTarget {
    /// Refuse unless every table is empty.
    Empty,
    /// Delete everything the database holds, then copy (same transaction:
    /// if the copy fails, nothing was deleted).
    ReplaceExisting,
}

/// Why an import did not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The target already holds state and [`ImportTarget::Empty`] was asked.
    #[error(
        "the target database is not empty: it holds {} licenses ({held}); expected an empty \
         database (copy into a new one, or replace what it holds on purpose)",
        .held.licenses
    )]
    TargetNotEmpty {
        /// What it holds.
        held: StateCounts,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A copy in progress (see [`PostgresStore::begin_import`]); dropping it
/// without [`StateImport::commit`] rolls everything back.
pub struct StateImport {
    tx: PgTransaction<'static>,
    replaced: StateCounts,
}

impl std::fmt::Debug for StateImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateImport")
            .field("replaced", &self.replaced)
            .finish_non_exhaustive()
    }
}

impl StateImport {
    /// What the target held before (all zero unless replacing).
    pub fn replaced(&self) -> StateCounts {
        self.replaced
    }

    /// Copies apps, channels, releases, licenses (numbers, hashes, times,
    /// revocation kept), tag history and attachments.
    pub async fn state(&mut self, state: &StateSnapshot) -> Result<(), StoreError> {
        let tx = &mut self.tx;
        for app in &state.apps {
            insert_app(tx, app).await?;
        }
        let mut channel_ids = HashMap::new();
        for (app, channel) in &state.channels {
            let id: i64 = sqlx_core::query_scalar::query_scalar::<Postgres, i64>(
                "INSERT INTO channels (app, name) VALUES ($1, $2) RETURNING id",
            )
            .bind(app.as_str())
            .bind(channel.as_str())
            .fetch_one(&mut **tx)
            .await
            .map_err(backend("import channels"))?;
            channel_ids.insert((app.clone(), channel.clone()), id);
        }
        let channel_id = |app: &AppSlug, channel: &ChannelName| {
            channel_ids
                .get(&(app.clone(), channel.clone()))
                .copied()
                .ok_or_else(|| StoreError::NotFound(format!("channel {channel} of app {app}")))
        };
        for (app, release) in &state.releases {
            sql("INSERT INTO releases (channel, version, repository, reference) VALUES ($1, $2, $3, $4)")
                .bind(channel_id(app, &release.channel)?)
                .bind(release.version.as_str())
                .bind(release.repository.as_ref().map(|r| r.to_string()).unwrap_or_default())
                .bind(release.reference.to_string())
                .execute(&mut **tx)
                .await
                .map_err(backend("import releases"))?;
        }
        for license in &state.licenses {
            sql(
                "INSERT INTO licenses (id, app, email, id_hash, created_at, expires_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(license.number.0)
            .bind(license.app.as_str())
            .bind(&license.email)
            .bind(license.id_hash.0.as_slice())
            .bind(ts(license.created_at))
            .bind(license.expires_at.map(ts))
            .bind(license.revoked_at.map(ts))
            .execute(&mut **tx)
            .await
            .map_err(backend("import licenses"))?;
            for channel in &license.channels {
                sql("INSERT INTO license_channels (license, channel) VALUES ($1, $2)")
                    .bind(license.number.0)
                    .bind(channel_id(&license.app, channel)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend("import licenses"))?;
            }
        }
        // New licenses get numbers after the copied ones.
        sql("SELECT setval(pg_get_serial_sequence('licenses', 'id'), COALESCE(max(id), 0) + 1, false) FROM licenses")
            .execute(&mut **tx)
            .await
            .map_err(backend("import licenses"))?;
        for batch in state.tags.chunks(INSERT_BATCH_ROWS) {
            sql(r#"INSERT INTO tag_digests (repository, tag, digest, first_seen, last_seen)
                   SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[])"#)
            .bind(batch.iter().map(|t| t.repository.to_string()).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| t.tag.to_string()).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| t.digest.to_string()).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| ts(t.first_seen)).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| ts(t.last_seen)).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await
            .map_err(backend("import tag history"))?;
        }
        for batch in state.attachments.chunks(INSERT_BATCH_ROWS) {
            sql(r#"INSERT INTO attachments (repository, subject, artifact)
                   SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[])"#)
            .bind(
                batch
                    .iter()
                    .map(|a| a.repository.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|a| a.subject.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|a| a.artifact.to_string())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut **tx)
            .await
            .map_err(backend("import attachments"))?;
        }
        Ok(())
    }

    /// Appends pull-log lines (call with pages in log order).
    pub async fn pulls(&mut self, records: &[PullRecord]) -> Result<(), StoreError> {
        insert_pulls(&mut self.tx, records, "import pull log").await
    }

    /// What the database holds so far, as this transaction sees it.
    pub async fn counts(&mut self) -> Result<StateCounts, StoreError> {
        count_rows(&mut self.tx).await
    }

    /// Makes the copy visible. What it holds is [`StateImport::counts`]
    /// just before: the tables stay locked until the commit.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(backend("commit the import"))
    }
}

async fn count_rows(conn: &mut PgConnection) -> Result<StateCounts, StoreError> {
    let row = sql(COUNT_ROWS_SQL)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend("count rows"))?;
    StateCounts::from_columns(|i| row.try_get::<i64, _>(i).map_err(backend("count rows")))
}

impl PostgresStore {
    /// Runs an `UPDATE apps … WHERE slug = $1`; no row is
    /// [`StoreError::NotFound`] naming the app.
    async fn update_app(
        &self,
        app: &AppSlug,
        update: Query<'_>,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        let done = update
            .execute(&self.pool)
            .await
            .map_err(backend(operation))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {app}")));
        }
        Ok(())
    }
}

async fn insert_app(conn: &mut PgConnection, app: &App) -> Result<(), StoreError> {
    sql("INSERT INTO apps (slug, referrers, release_policy) VALUES ($1, $2, $3)")
        .bind(app.slug.as_str())
        .bind(app.referrers.as_str())
        .bind(app.release_policy.as_ref().map(AppPolicy::to_stored))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("app {}", app.slug))
            } else {
                backend("add app")(e)
            }
        })?;
    for prefix in &app.repositories {
        sql("INSERT INTO app_repositories (app, prefix) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(app.slug.as_str())
            .bind(prefix.to_string())
            .execute(&mut *conn)
            .await
            .map_err(backend("add app"))?;
    }
    Ok(())
}

async fn insert_pulls(
    conn: &mut PgConnection,
    records: &[PullRecord],
    operation: &'static str,
) -> Result<(), StoreError> {
    for batch in records.chunks(INSERT_BATCH_ROWS) {
        // WITH ORDINALITY … ORDER BY: ids follow the batch's order.
        sql(r#"INSERT INTO pulls (license, at, action, method, repository, reference, status, bytes)
               SELECT license, at, action, method, repository, reference, status, bytes
               FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                           $6::TEXT[], $7::INTEGER[], $8::BIGINT[])
                    WITH ORDINALITY AS u(license, at, action, method, repository, reference, status, bytes, n)
               ORDER BY n"#)
        .bind(batch.iter().map(|r| r.license.0).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| ts(r.at)).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.action.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.method.clone()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.repository.clone()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.reference.clone()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| i32::from(r.status)).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|r| i64::try_from(r.bytes).unwrap_or(i64::MAX))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(backend(operation))?;
    }
    Ok(())
}

/// Apps with their allow-lists, one query. `filter` is a fixed SQL
/// condition on `a` (never user text: values go through `$1`).
const APPS_SQL: &str = r#"
SELECT a.slug, a.referrers,
       COALESCE(array_agg(r.prefix ORDER BY r.prefix COLLATE "C")
                FILTER (WHERE r.prefix IS NOT NULL), '{}') AS prefixes,
       a.release_policy
FROM apps a LEFT JOIN app_repositories r ON r.app = a.slug
WHERE $1::TEXT IS NULL OR a.slug = $1
GROUP BY a.slug
ORDER BY a.slug COLLATE "C""#;

fn app_from_row(row: &PgRow) -> Result<App, StoreError> {
    let op = backend("read app");
    let slug: String = row.try_get(0).map_err(&op)?;
    let referrers: String = row.try_get(1).map_err(&op)?;
    let prefixes: Vec<String> = row.try_get(2).map_err(&op)?;
    let policy: Option<String> = row.try_get(3).map_err(&op)?;
    Ok(App {
        slug: parse_slug(&slug)?,
        referrers: ReferrersMode::parse(&referrers)
            .ok_or_else(|| corrupt("referrers mode", &referrers))?,
        repositories: prefixes
            .iter()
            .map(|p| Repository::parse(p).map_err(|_| corrupt("repository prefix", p)))
            .collect::<Result<_, _>>()?,
        release_policy: policy.as_deref().map(parse_release_policy).transpose()?,
    })
}

/// Licenses with their channels, one query; `$1` filters by number, `$2`
/// by hash, `$3` by app (each optional).
const LICENSES_SQL: &str = r#"
SELECT l.id, l.app, l.email, l.id_hash, l.created_at, l.expires_at, l.revoked_at,
       COALESCE(array_agg(c.name ORDER BY c.name COLLATE "C")
                FILTER (WHERE c.name IS NOT NULL), '{}') AS channels
FROM licenses l
LEFT JOIN license_channels lc ON lc.license = l.id
LEFT JOIN channels c ON c.id = lc.channel
WHERE ($1::BIGINT IS NULL OR l.id = $1)
  AND ($2::BYTEA IS NULL OR l.id_hash = $2)
  AND ($3::TEXT IS NULL OR l.app = $3)
GROUP BY l.id
ORDER BY l.id"#;

fn license_from_row(row: &PgRow) -> Result<License, StoreError> {
    let op = backend("read license");
    let id: i64 = row.try_get(0).map_err(&op)?;
    let app: String = row.try_get(1).map_err(&op)?;
    let id_hash: Vec<u8> = row.try_get(3).map_err(&op)?;
    let channels: Vec<String> = row.try_get(7).map_err(&op)?;
    let id_hash: [u8; 32] = id_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("license hash length", &id_hash.len().to_string()))?;
    Ok(License {
        number: LicenseNumber(id),
        app: parse_slug(&app)?,
        email: row.try_get(2).map_err(&op)?,
        channels: channels
            .iter()
            .map(|c| parse_channel(c))
            .collect::<Result<_, _>>()?,
        id_hash: LicenseIdHash(id_hash),
        created_at: from_ts("license created_at", row.try_get(4).map_err(&op)?)?,
        expires_at: row
            .try_get::<Option<i64>, _>(5)
            .map_err(&op)?
            .map(|t| from_ts("license expires_at", t))
            .transpose()?,
        revoked_at: row
            .try_get::<Option<i64>, _>(6)
            .map_err(&op)?
            .map(|t| from_ts("license revoked_at", t))
            .transpose()?,
    })
}

/// Which licenses [`PostgresStore::query_licenses`] returns.
#[derive(Default)]
struct LicenseFilter<'a> {
    number: Option<LicenseNumber>,
    hash: Option<&'a LicenseIdHash>,
    app: Option<&'a AppSlug>,
}

impl PostgresStore {
    async fn query_licenses(&self, filter: LicenseFilter<'_>) -> Result<Vec<License>, StoreError> {
        sql(LICENSES_SQL)
            .bind(filter.number.map(|n| n.0))
            .bind(filter.hash.map(|h| h.0.to_vec()))
            .bind(filter.app.map(|a| a.as_str()))
            .fetch_all(&self.pool)
            .await
            .map_err(backend("read licenses"))?
            .iter()
            .map(license_from_row)
            .collect()
    }

    async fn require_app(
        conn: &mut PgConnection,
        app: &AppSlug,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        sql("SELECT 1 FROM apps WHERE slug = $1")
            .bind(app.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend(operation))?
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("app {app}")))
    }

    /// The row IDs of `channels` of `app`, in order; a channel the app does
    /// not have is `NotFound`, naming it.
    async fn channel_ids(
        conn: &mut PgConnection,
        app: &str,
        channels: &[ChannelName],
        operation: &'static str,
    ) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(channels.len());
        for channel in channels {
            let id = sqlx_core::query_scalar::query_scalar::<Postgres, i64>(
                "SELECT id FROM channels WHERE app = $1 AND name = $2",
            )
            .bind(app)
            .bind(channel.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend(operation))?;
            ids.push(
                id.ok_or_else(|| StoreError::NotFound(format!("channel {channel} of app {app}")))?,
            );
        }
        Ok(ids)
    }
}

impl LicenseStore for PostgresStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sql("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err(backend("ping"))?;
            Ok(())
        })
    }

    fn add_app<'a>(&'a self, app: &'a App) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend("add app"))?;
            insert_app(&mut tx, app).await?;
            tx.commit().await.map_err(backend("add app"))
        })
    }

    fn allow_repository<'a>(
        &'a self,
        app: &'a AppSlug,
        prefix: &'a Repository,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let op = "allow repository";
            let mut conn = self.pool.acquire().await.map_err(backend(op))?;
            Self::require_app(&mut conn, app, op).await?;
            sql(
                "INSERT INTO app_repositories (app, prefix) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(app.as_str())
            .bind(prefix.to_string())
            .execute(&mut *conn)
            .await
            .map_err(backend(op))?;
            Ok(())
        })
    }

    fn set_referrers_mode<'a>(
        &'a self,
        app: &'a AppSlug,
        mode: ReferrersMode,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let update = sql("UPDATE apps SET referrers = $2 WHERE slug = $1")
                .bind(app.as_str())
                .bind(mode.as_str());
            self.update_app(app, update, "set referrers mode").await
        })
    }

    fn set_release_policy<'a>(
        &'a self,
        app: &'a AppSlug,
        policy: Option<&'a AppPolicy>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let update = sql("UPDATE apps SET release_policy = $2 WHERE slug = $1")
                .bind(app.as_str())
                .bind(policy.map(AppPolicy::to_stored));
            self.update_app(app, update, "set release policy").await
        })
    }

    fn app<'a>(&'a self, slug: &'a AppSlug) -> StoreFuture<'a, Option<App>> {
        Box::pin(async move {
            sql(APPS_SQL)
                .bind(Some(slug.as_str()))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("read app"))?
                .as_ref()
                .map(app_from_row)
                .transpose()
        })
    }

    fn apps(&self) -> StoreFuture<'_, Vec<App>> {
        Box::pin(async move {
            sql(APPS_SQL)
                .bind(None::<&str>)
                .fetch_all(&self.pool)
                .await
                .map_err(backend("list apps"))?
                .iter()
                .map(app_from_row)
                .collect()
        })
    }

    fn add_releases<'a>(
        &'a self,
        app: &'a AppSlug,
        releases: &'a [Release],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let op = "add releases";
            let mut tx = self.pool.begin().await.map_err(backend(op))?;
            Self::require_app(&mut tx, app, op).await?;
            for release in releases {
                sql("INSERT INTO channels (app, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(app.as_str())
                    .bind(release.channel.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend(op))?;
                sql(
                    "INSERT INTO releases (channel, version, repository, reference)
                     SELECT id, $3, $4, $5 FROM channels WHERE app = $1 AND name = $2
                     ON CONFLICT DO NOTHING",
                )
                .bind(app.as_str())
                .bind(release.channel.as_str())
                .bind(release.version.as_str())
                .bind(
                    release
                        .repository
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                )
                .bind(release.reference.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
            }
            tx.commit().await.map_err(backend(op))
        })
    }

    fn remove_version<'a>(
        &'a self,
        app: &'a AppSlug,
        channel: &'a ChannelName,
        version: &'a Tag,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let done = sql("DELETE FROM releases WHERE version = $3
                            AND channel = (SELECT id FROM channels WHERE app = $1 AND name = $2)")
            .bind(app.as_str())
            .bind(channel.as_str())
            .bind(version.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend("remove version"))?;
            Ok(done.rows_affected())
        })
    }

    fn releases<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<Release>> {
        Box::pin(async move {
            sqlx_core::query_as::query_as::<Postgres, (String, String, String, String)>(
                r#"SELECT c.name, r.version, r.repository, r.reference
                   FROM releases r JOIN channels c ON c.id = r.channel
                   WHERE c.app = $1
                   ORDER BY c.name COLLATE "C", r.version COLLATE "C",
                            r.repository COLLATE "C", r.reference COLLATE "C""#,
            )
            .bind(app.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend("read releases"))?
            .into_iter()
            .map(|(channel, version, repository, reference)| {
                release_from_row(channel, version, repository, reference)
            })
            .collect()
        })
    }

    fn channels<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<ChannelName>> {
        Box::pin(async move {
            sqlx_core::query_scalar::query_scalar::<Postgres, String>(
                r#"SELECT name FROM channels WHERE app = $1 ORDER BY name COLLATE "C""#,
            )
            .bind(app.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend("list channels"))?
            .iter()
            .map(|n| parse_channel(n))
            .collect()
        })
    }

    fn create_license<'a>(&'a self, license: &'a NewLicense) -> StoreFuture<'a, LicenseNumber> {
        Box::pin(async move {
            let op = "create license";
            let mut tx = self.pool.begin().await.map_err(backend(op))?;
            Self::require_app(&mut tx, &license.app, op).await?;
            let channel_ids =
                Self::channel_ids(&mut tx, license.app.as_str(), &license.channels, op).await?;
            let number = sqlx_core::query_scalar::query_scalar::<Postgres, i64>(
                "INSERT INTO licenses (app, email, id_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(license.app.as_str())
            .bind(&license.email)
            .bind(license.id_hash.0.as_slice())
            .bind(ts(license.created_at))
            .bind(license.expires_at.map(ts))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a license with this ID hash".into())
                } else {
                    backend(op)(e)
                }
            })?;
            for id in channel_ids {
                sql(
                    "INSERT INTO license_channels (license, channel) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(number)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
            }
            tx.commit().await.map_err(backend(op))?;
            Ok(LicenseNumber(number))
        })
    }

    fn license_by_hash<'a>(&'a self, hash: &'a LicenseIdHash) -> StoreFuture<'a, Option<License>> {
        Box::pin(async move {
            Ok(self
                .query_licenses(LicenseFilter {
                    hash: Some(hash),
                    ..LicenseFilter::default()
                })
                .await?
                .pop())
        })
    }

    fn license(&self, number: LicenseNumber) -> StoreFuture<'_, Option<License>> {
        Box::pin(async move {
            Ok(self
                .query_licenses(LicenseFilter {
                    number: Some(number),
                    ..LicenseFilter::default()
                })
                .await?
                .pop())
        })
    }

    fn licenses<'a>(&'a self, app: Option<&'a AppSlug>) -> StoreFuture<'a, Vec<License>> {
        Box::pin(async move {
            self.query_licenses(LicenseFilter {
                app,
                ..LicenseFilter::default()
            })
            .await
        })
    }

    fn revoke_license(&self, number: LicenseNumber, at: Timestamp) -> StoreFuture<'_, License> {
        Box::pin(async move {
            // One statement: concurrent revocations from several replicas
            // keep whichever committed first.
            sql("UPDATE licenses SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(number.0)
                .bind(ts(at))
                .execute(&self.pool)
                .await
                .map_err(backend("revoke license"))?;
            self.license(number)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("license {number}")))
        })
    }

    fn sign_out_session<'a>(
        &'a self,
        session: &'a str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            const OP: &str = "record sign-out";
            sql("DELETE FROM portal_sign_outs WHERE expires_at < $1")
                .bind(ts(now))
                .execute(&self.pool)
                .await
                .map_err(backend(OP))?;
            sql(
                "INSERT INTO portal_sign_outs (session, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (session) DO NOTHING",
            )
            .bind(session)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(backend(OP))?;
            Ok(())
        })
    }

    fn session_signed_out<'a>(&'a self, session: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let found = sql("SELECT 1 FROM portal_sign_outs WHERE session = $1")
                .bind(session)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("read sign-outs"))?;
            Ok(found.is_some())
        })
    }

    fn set_license_expiry(
        &self,
        number: LicenseNumber,
        expires_at: Option<Timestamp>,
    ) -> StoreFuture<'_, License> {
        Box::pin(async move {
            sql("UPDATE licenses SET expires_at = $2 WHERE id = $1")
                .bind(number.0)
                .bind(expires_at.map(ts))
                .execute(&self.pool)
                .await
                .map_err(backend("set license expiry"))?;
            self.license(number)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("license {number}")))
        })
    }

    fn set_license_channels<'a>(
        &'a self,
        number: LicenseNumber,
        channels: &'a [ChannelName],
    ) -> StoreFuture<'a, License> {
        Box::pin(async move {
            let op = "set license channels";
            let mut tx = self.pool.begin().await.map_err(backend(op))?;
            // Locks the license row, so two concurrent replacements apply
            // one after the other instead of mixing their channels.
            let app = sqlx_core::query_scalar::query_scalar::<Postgres, String>(
                "SELECT app FROM licenses WHERE id = $1 FOR UPDATE",
            )
            .bind(number.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend(op))?
            .ok_or_else(|| StoreError::NotFound(format!("license {number}")))?;
            let ids = Self::channel_ids(&mut tx, &app, channels, op).await?;
            sql("DELETE FROM license_channels WHERE license = $1")
                .bind(number.0)
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
            sql("INSERT INTO license_channels (license, channel)
                 SELECT $1, UNNEST($2::BIGINT[]) ON CONFLICT DO NOTHING")
            .bind(number.0)
            .bind(ids)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
            tx.commit().await.map_err(backend(op))?;
            self.license(number)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("license {number}")))
        })
    }
}

impl PullLog for PostgresStore {
    fn append<'a>(&'a self, records: &'a [PullRecord]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let op = "append pull log";
            let mut tx = self.pool.begin().await.map_err(backend(op))?;
            insert_pulls(&mut tx, records, op).await?;
            tx.commit().await.map_err(backend(op))
        })
    }

    fn pulls(&self, license: LicenseNumber, limit: u32) -> StoreFuture<'_, Vec<PullRecord>> {
        Box::pin(async move {
            type Row = (i64, String, String, String, String, i32, i64);
            sqlx_core::query_as::query_as::<Postgres, Row>(
                "SELECT at, action, method, repository, reference, status, bytes FROM pulls
                 WHERE license = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(license.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend("read pull log"))?
            .into_iter()
            .map(
                |(at, action, method, repository, reference, status, bytes)| {
                    Ok(PullRecord {
                        license,
                        at: from_ts("pull time", at)?,
                        action: PullAction::parse(&action)
                            .ok_or_else(|| corrupt("pull action", &action))?,
                        method,
                        repository,
                        reference,
                        status: u16::try_from(status)
                            .map_err(|_| corrupt("pull status", &status.to_string()))?,
                        bytes: u64::try_from(bytes).unwrap_or(0),
                    })
                },
            )
            .collect()
        })
    }

    fn pull_summary(&self, license: LicenseNumber) -> StoreFuture<'_, PullSummary> {
        Box::pin(self.summarize_pulls(license))
    }
}

impl PostgresStore {
    /// [`PullLog::pull_summary`].
    async fn summarize_pulls(&self, license: LicenseNumber) -> Result<PullSummary, StoreError> {
        let (requests, last) = sqlx_core::query_as::query_as::<Postgres, (i64, Option<i64>)>(
            "SELECT count(*), max(at) FROM pulls WHERE license = $1",
        )
        .bind(license.0)
        .fetch_one(&self.pool)
        .await
        .map_err(backend("sum up pull log"))?;
        Ok(PullSummary {
            requests: u64::try_from(requests).unwrap_or(0),
            last_at: last.map(|t| from_ts("pull time", t)).transpose()?,
        })
    }
}

impl ResolutionStore for PostgresStore {
    fn record_tag<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
        digest: &'a Digest,
        at: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // An upsert is atomic: replicas recording the same sighting
            // never fail, and last_seen only moves forward.
            sql(
                "INSERT INTO tag_digests (repository, tag, digest, first_seen, last_seen)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (repository, tag, digest)
                 DO UPDATE SET last_seen = GREATEST(tag_digests.last_seen, excluded.last_seen)",
            )
            .bind(repository.to_string())
            .bind(tag.as_str())
            .bind(digest.to_string())
            .bind(ts(at))
            .execute(&self.pool)
            .await
            .map_err(backend("record tag"))?;
            Ok(())
        })
    }

    fn tag_digests<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
    ) -> StoreFuture<'a, Vec<Digest>> {
        Box::pin(async move {
            sqlx_core::query_scalar::query_scalar::<Postgres, String>(
                r#"SELECT digest FROM tag_digests WHERE repository = $1 AND tag = $2
                   ORDER BY last_seen DESC, digest COLLATE "C""#,
            )
            .bind(repository.to_string())
            .bind(tag.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend("read tag digests"))?
            .iter()
            .map(|d| parse_digest(d))
            .collect()
        })
    }

    fn record_attachment<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
        artifact: &'a Digest,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sql(
                "INSERT INTO attachments (repository, subject, artifact) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(repository.to_string())
            .bind(subject.to_string())
            .bind(artifact.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend("record attachment"))?;
            Ok(())
        })
    }

    fn attachments<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
    ) -> StoreFuture<'a, Vec<Digest>> {
        Box::pin(async move {
            sqlx_core::query_scalar::query_scalar::<Postgres, String>(
                r#"SELECT artifact FROM attachments WHERE repository = $1 AND subject = $2
                   ORDER BY artifact COLLATE "C""#,
            )
            .bind(repository.to_string())
            .bind(subject.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend("read attachments"))?
            .iter()
            .map(|d| parse_digest(d))
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_in_the_user_part_and_parameters() {
        assert_eq!(
            redact_database_url("postgres://vouch:s3cr%40t@db.internal:5432/vouch?sslmode=require"),
            "postgres://vouch:***@db.internal:5432/vouch?sslmode=require"
        );
        assert_eq!(
            redact_database_url("postgres://db/vouch?user=v&password=hunter2&sslmode=verify-full"),
            "postgres://db/vouch?user=v&password=***&sslmode=verify-full"
        );
        assert_eq!(
            redact_database_url("postgres://vouch@db/vouch"),
            "postgres://vouch@db/vouch"
        );
        // An unencoded @ or / in the password still hides all of it.
        assert_eq!(
            redact_database_url("postgres://u:p@s/s@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_database_url("not a url"), "not a url");
    }

    #[test]
    fn scrubs_raw_and_decoded_passwords_from_messages() {
        let url = "postgres://vouch:s3cr%40t@db/x?password=other";
        assert_eq!(
            scrub("auth failed for s3cr@t, s3cr%40t and other", url),
            "auth failed for ***, *** and ***"
        );
    }

    #[test]
    fn embedded_migrations_match_the_migrations_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = MIGRATIONS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(embedded, on_disk);
        for (name, sql) in MIGRATIONS {
            assert_eq!(*sql, std::fs::read_to_string(dir.join(name)).unwrap());
            parse_migration_name(name).unwrap();
        }
    }

    #[test]
    fn migration_names_follow_sqlx() {
        assert_eq!(
            parse_migration_name("0002_pull_log_index.sql").unwrap(),
            (2, "pull log index".to_string())
        );
        assert!(parse_migration_name("0000_zero.sql").is_err());
        assert!(parse_migration_name("initial.sql").is_err());
        assert!(parse_migration_name("0003_x.txt").is_err());
    }

    #[tokio::test]
    async fn refuses_a_pool_size_outside_the_limits() {
        for size in [0, MAX_POOL_CONNECTIONS + 1] {
            let err = PostgresStore::connect("postgres://u:pw@127.0.0.1:1/x", size)
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "state database, configure the connection pool: expected between 1 and \
                     {MAX_POOL_CONNECTIONS} connections, got {size}"
                )
            );
        }
    }
}

//! The embedded default store: one SQLite file (WAL mode), shared by the
//! server and the admin CLI.
//!
//! `rusqlite` (bundled SQLite) rather than `sqlx`'s SQLite driver: the
//! proxy's hot path never reaches the database (licenses and releases are
//! cached in memory, the pull log is written in batches), so an async
//! driver buys nothing, and rusqlite is a thin, synchronous, well-trodden
//! binding without sqlx's macro and runtime layers. Calls run on tokio's
//! blocking pool. Postgres (issue 8) will use `sqlx` behind the same traits.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

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

/// How long a writer waits for another process (the admin CLI while the
/// server runs) to release the database lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 3;

/// What brings a database of version N-1 to version N, for N = 2, 3, …
/// (index 0 is version 2). [`SCHEMA`] is version 1; a new database gets it
/// and then every step. PostgreSQL's `migrations/postgres/` make the same
/// changes.
const UPGRADES: &[&str] = &[
    // 2: an app's release policy (JSON, policy::AppPolicy), for the portal.
    "ALTER TABLE apps ADD COLUMN release_policy TEXT;",
    // 3: portal sessions signed out before their expiry (server/portal.rs).
    "CREATE TABLE portal_sign_outs (
        session TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX portal_sign_outs_by_expiry ON portal_sign_outs (expires_at);",
];

const SCHEMA: &str = "
CREATE TABLE apps (
    slug TEXT PRIMARY KEY,
    referrers TEXT NOT NULL
);
CREATE TABLE app_repositories (
    app TEXT NOT NULL REFERENCES apps(slug),
    prefix TEXT NOT NULL,
    PRIMARY KEY (app, prefix)
);
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(slug),
    name TEXT NOT NULL,
    UNIQUE (app, name)
);
CREATE TABLE releases (
    channel INTEGER NOT NULL REFERENCES channels(id),
    version TEXT NOT NULL,
    repository TEXT NOT NULL, -- '' = every repository the app allows
    reference TEXT NOT NULL,
    PRIMARY KEY (channel, version, repository, reference)
);
CREATE TABLE licenses (
    id INTEGER PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(slug),
    email TEXT NOT NULL,
    id_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE TABLE license_channels (
    license INTEGER NOT NULL REFERENCES licenses(id),
    channel INTEGER NOT NULL REFERENCES channels(id),
    PRIMARY KEY (license, channel)
);
CREATE TABLE pulls (
    id INTEGER PRIMARY KEY,
    license INTEGER NOT NULL,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    repository TEXT NOT NULL,
    reference TEXT NOT NULL,
    status INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX pulls_by_license ON pulls (license, id);
CREATE TABLE tag_digests (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (repository, tag, digest)
);
CREATE TABLE attachments (
    repository TEXT NOT NULL,
    subject TEXT NOT NULL,
    artifact TEXT NOT NULL,
    PRIMARY KEY (repository, subject, artifact)
);
";

/// The SQLite store. Cloning shares the connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn backend(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: e.into(),
    }
}

/// The `pulls` columns after the ID and license, in [`PullRow`] order.
const PULL_COLUMNS: &str = "at, action, method, repository, reference, status, bytes";

/// One `pulls` row's [`PULL_COLUMNS`].
type PullRow = (i64, String, String, String, String, u16, i64);

/// Reads [`PULL_COLUMNS`] from `r`, the first at index `first`.
fn pull_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<PullRow> {
    Ok((
        r.get(first)?,
        r.get(first + 1)?,
        r.get(first + 2)?,
        r.get(first + 3)?,
        r.get(first + 4)?,
        r.get(first + 5)?,
        r.get(first + 6)?,
    ))
}

/// A pull record from its license and row; a corrupt time or action is an
/// error naming it.
fn pull_record(license: LicenseNumber, row: PullRow) -> Result<PullRecord, StoreError> {
    let (at, action, method, repository, reference, status, bytes) = row;
    Ok(PullRecord {
        license,
        at: from_ts("pull time", at)?,
        action: PullAction::parse(&action).ok_or_else(|| corrupt("pull action", &action))?,
        method,
        repository,
        reference,
        status,
        bytes: u64::try_from(bytes).unwrap_or(0),
    })
}

/// Creates the database file owner-only ([`PRIVATE_FILE_MODE`]) before
/// SQLite opens it, or takes group and other access away from one that
/// exists: SQLite creates `-wal` and `-shm` with the database file's mode,
/// so this covers all three (issue 14, finding 7).
///
/// [`PRIVATE_FILE_MODE`]: crate::secret::PRIVATE_FILE_MODE
fn make_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let failed = |source: std::io::Error| StoreError::Backend {
            operation: "make the state file private",
            source: BackendError::Io {
                path: path.to_path_buf(),
                source,
            },
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(crate::secret::PRIVATE_FILE_MODE)
            .open(path)
            .map_err(failed)?;
        let mode = file.metadata().map_err(failed)?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(
                crate::secret::PRIVATE_FILE_MODE,
            ))
            .map_err(failed)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::secret::create_private_dir(parent).map_err(|source| StoreError::Backend {
                operation: "create state directory",
                source: BackendError::Io {
                    path: parent.to_path_buf(),
                    source,
                },
            })?;
        }
        make_private(path)?;
        let conn = Connection::open(path).map_err(backend("open"))?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend("open"))?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(backend("busy timeout"))?;
        // WAL: readers never block the writer, so the admin CLI can write
        // while the server reads. (In-memory databases answer "memory".)
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(backend("journal mode"))?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(backend("pragmas"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend("schema version"))?;
        match version {
            0..SCHEMA_VERSION => {
                // Version 0 is an empty file: create version 1, then upgrade.
                let create = if version == 0 { SCHEMA } else { "" };
                let first = usize::try_from(version.max(1) - 1).unwrap_or(0);
                let steps = UPGRADES[first..].concat();
                conn.execute_batch(&format!(
                    "BEGIN; {create} {steps} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(backend("create or upgrade schema"))?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(StoreError::Corrupt {
                    what: "schema version (this vouch-proxy is older than the database)",
                    value: newer.to_string(),
                });
            }
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    fn run<'a, T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'a, T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // A panic in an earlier query dropped its transaction
                // (rolled back); the connection itself is still good.
                let mut guard = crate::memo::lock(&conn);
                f(&mut guard)
            })
            .await
            .map_err(|e| StoreError::Backend {
                operation,
                source: e.into(),
            })?
        })
    }
}

/// Rows of a query as `T`, mapped with `f`.
fn collect_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    operation: &'static str,
    sql: &str,
    params: P,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend(operation))?;
    stmt.query_map(params, f)
        .map_err(backend(operation))?
        .collect::<Result<_, _>>()
        .map_err(backend(operation))
}

impl SqliteStore {
    /// Everything but the pull log, sorted as [`StateSnapshot`] documents
    /// (SQLite compares text bytewise).
    pub fn snapshot(&self) -> StoreFuture<'_, StateSnapshot> {
        const OP: &str = "read the whole state";
        self.run(OP, |conn| {
            let apps = load_apps(conn, OP)?;
            let channels = collect_rows(
                conn,
                OP,
                "SELECT app, name FROM channels ORDER BY app, name",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )?
            .into_iter()
            .map(|(app, name)| Ok((parse_slug(&app)?, parse_channel(&name)?)))
            .collect::<Result<_, StoreError>>()?;
            let mut releases = Vec::new();
            for app in &apps {
                releases.extend(
                    load_releases(conn, &app.slug)?
                        .into_iter()
                        .map(|r| (app.slug.clone(), r)),
                );
            }
            let licenses = load_all_licenses(conn)?;
            let tags = collect_rows(
                conn,
                OP,
                "SELECT repository, tag, digest, first_seen, last_seen FROM tag_digests
                 ORDER BY repository, tag, digest",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )?
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
            let attachments = collect_rows(
                conn,
                OP,
                "SELECT repository, subject, artifact FROM attachments
                 ORDER BY repository, subject, artifact",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )?
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
                apps,
                channels,
                releases,
                licenses,
                tags,
                attachments,
            })
        })
    }

    /// How many rows each table holds.
    pub fn counts(&self) -> StoreFuture<'_, StateCounts> {
        self.run("count rows", |conn| {
            conn.query_row(COUNT_ROWS_SQL, [], |r| {
                StateCounts::from_columns(|i| r.get::<_, i64>(i))
            })
            .map_err(backend("count rows"))
        })
    }

    /// Up to `limit` pull-log lines after position `after` (0 = from the
    /// start), oldest first, each with its position: page through the
    /// whole log by passing the last position back.
    pub fn pull_log_page(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<(i64, PullRecord)>> {
        const OP: &str = "read pull log";
        self.run(OP, move |conn| {
            collect_rows(
                conn,
                OP,
                &format!(
                    "SELECT id, license, {PULL_COLUMNS} FROM pulls WHERE id > ?1 ORDER BY id \
                     LIMIT ?2"
                ),
                params![after, limit],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, pull_row(r, 2)?)),
            )?
            .into_iter()
            .map(|(id, license, row)| Ok((id, pull_record(LicenseNumber(license), row)?)))
            .collect()
        })
    }
}

fn load_releases(conn: &Connection, app: &AppSlug) -> Result<Vec<Release>, StoreError> {
    let rows: Vec<(String, String, String, String)> = collect_rows(
        conn,
        "read releases",
        "SELECT c.name, r.version, r.repository, r.reference
         FROM releases r JOIN channels c ON c.id = r.channel
         WHERE c.app = ?1 ORDER BY c.name, r.version, r.repository, r.reference",
        [app.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    rows.into_iter()
        .map(|(channel, version, repository, reference)| {
            release_from_row(channel, version, repository, reference)
        })
        .collect()
}

fn load_app(conn: &Connection, slug: &AppSlug) -> Result<Option<App>, StoreError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT referrers, release_policy FROM apps WHERE slug = ?1",
            [slug.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend("read app"))?;
    let Some((referrers, policy)) = row else {
        return Ok(None);
    };
    let referrers =
        ReferrersMode::parse(&referrers).ok_or_else(|| corrupt("referrers mode", &referrers))?;
    let mut stmt = conn
        .prepare_cached("SELECT prefix FROM app_repositories WHERE app = ?1 ORDER BY prefix")
        .map_err(backend("read app"))?;
    let repositories = stmt
        .query_map([slug.as_str()], |r| r.get::<_, String>(0))
        .map_err(backend("read app"))?
        .map(|p| {
            let p = p.map_err(backend("read app"))?;
            Repository::parse(&p).map_err(|_| corrupt("repository prefix", &p))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(App {
        slug: slug.clone(),
        referrers,
        repositories,
        release_policy: policy.as_deref().map(parse_release_policy).transpose()?,
    }))
}

/// Every app, by slug; a failed list query is reported as `operation`.
fn load_apps(conn: &Connection, operation: &'static str) -> Result<Vec<App>, StoreError> {
    let slugs: Vec<String> = collect_rows(
        conn,
        operation,
        "SELECT slug FROM apps ORDER BY slug",
        [],
        |r| r.get(0),
    )?;
    let mut apps = Vec::with_capacity(slugs.len());
    for slug in slugs {
        apps.extend(load_app(conn, &parse_slug(&slug)?)?);
    }
    Ok(apps)
}

/// The row IDs of `channels` of `app`, in order; a channel the app does
/// not have is `NotFound`, naming it.
fn channel_ids(
    tx: &rusqlite::Transaction<'_>,
    app: &AppSlug,
    channels: &[ChannelName],
    op: &'static str,
) -> Result<Vec<i64>, StoreError> {
    channels
        .iter()
        .map(|channel| {
            tx.query_row(
                "SELECT id FROM channels WHERE app = ?1 AND name = ?2",
                params![app.as_str(), channel.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend(op))?
            .ok_or_else(|| StoreError::NotFound(format!("channel {channel} of app {app}")))
        })
        .collect()
}

fn require_app(conn: &Connection, slug: &AppSlug) -> Result<(), StoreError> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM apps WHERE slug = ?1", [slug.as_str()], |r| {
            r.get(0)
        })
        .optional()
        .map_err(backend("read app"))?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("app {slug}")))
}

fn load_license(conn: &Connection, row: LicenseRow) -> Result<License, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.name FROM license_channels lc JOIN channels c ON c.id = lc.channel
             WHERE lc.license = ?1 ORDER BY c.name",
        )
        .map_err(backend("read license"))?;
    let channels = stmt
        .query_map([row.id], |r| r.get::<_, String>(0))
        .map_err(backend("read license"))?
        .map(|c| {
            let c = c.map_err(backend("read license"))?;
            ChannelName::new(&c).map_err(|_| corrupt("channel name", &c))
        })
        .collect::<Result<_, _>>()?;
    let id_hash: [u8; 32] = row
        .id_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("license hash length", &row.id_hash.len().to_string()))?;
    Ok(License {
        number: LicenseNumber(row.id),
        app: AppSlug::new(&row.app).map_err(|_| corrupt("app slug", &row.app))?,
        email: row.email,
        channels,
        id_hash: LicenseIdHash(id_hash),
        created_at: from_ts("license created_at", row.created_at)?,
        expires_at: row
            .expires_at
            .map(|t| from_ts("license expires_at", t))
            .transpose()?,
        revoked_at: row
            .revoked_at
            .map(|t| from_ts("license revoked_at", t))
            .transpose()?,
    })
}

struct LicenseRow {
    id: i64,
    app: String,
    email: String,
    id_hash: Vec<u8>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

const LICENSE_COLUMNS: &str = "id, app, email, id_hash, created_at, expires_at, revoked_at";

fn license_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LicenseRow> {
    Ok(LicenseRow {
        id: r.get(0)?,
        app: r.get(1)?,
        email: r.get(2)?,
        id_hash: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

fn query_licenses(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<License>, StoreError> {
    let rows: Vec<LicenseRow> = {
        let mut stmt = conn.prepare_cached(sql).map_err(backend("read licenses"))?;
        stmt.query_map(params, license_row)
            .map_err(backend("read licenses"))?
            .collect::<Result<_, _>>()
            .map_err(backend("read licenses"))?
    };
    rows.into_iter()
        .map(|row| load_license(conn, row))
        .collect()
}

/// Every license, by number.
fn load_all_licenses(conn: &Connection) -> Result<Vec<License>, StoreError> {
    query_licenses(
        conn,
        &format!("SELECT {LICENSE_COLUMNS} FROM licenses ORDER BY id"),
        [],
    )
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl LicenseStore for SqliteStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.run("ping", |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(backend("ping"))
        })
    }

    fn add_app<'a>(&'a self, app: &'a App) -> StoreFuture<'a, ()> {
        let app = app.clone();
        self.run("add app", move |conn| {
            let tx = conn.transaction().map_err(backend("add app"))?;
            tx.execute(
                "INSERT INTO apps (slug, referrers, release_policy) VALUES (?1, ?2, ?3)",
                params![
                    app.slug.as_str(),
                    app.referrers.as_str(),
                    app.release_policy.as_ref().map(AppPolicy::to_stored)
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("app {}", app.slug))
                } else {
                    backend("add app")(e)
                }
            })?;
            for prefix in &app.repositories {
                tx.execute(
                    "INSERT OR IGNORE INTO app_repositories (app, prefix) VALUES (?1, ?2)",
                    params![app.slug.as_str(), prefix.to_string()],
                )
                .map_err(backend("add app"))?;
            }
            tx.commit().map_err(backend("add app"))
        })
    }

    fn allow_repository<'a>(
        &'a self,
        app: &'a AppSlug,
        prefix: &'a Repository,
    ) -> StoreFuture<'a, ()> {
        let (app, prefix) = (app.clone(), prefix.to_string());
        self.run("allow repository", move |conn| {
            require_app(conn, &app)?;
            conn.execute(
                "INSERT OR IGNORE INTO app_repositories (app, prefix) VALUES (?1, ?2)",
                params![app.as_str(), prefix],
            )
            .map_err(backend("allow repository"))?;
            Ok(())
        })
    }

    fn set_referrers_mode<'a>(
        &'a self,
        app: &'a AppSlug,
        mode: ReferrersMode,
    ) -> StoreFuture<'a, ()> {
        let app = app.clone();
        self.run("set referrers mode", move |conn| {
            let n = conn
                .execute(
                    "UPDATE apps SET referrers = ?2 WHERE slug = ?1",
                    params![app.as_str(), mode.as_str()],
                )
                .map_err(backend("set referrers mode"))?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("app {app}")));
            }
            Ok(())
        })
    }

    fn set_release_policy<'a>(
        &'a self,
        app: &'a AppSlug,
        policy: Option<&'a AppPolicy>,
    ) -> StoreFuture<'a, ()> {
        const OP: &str = "set release policy";
        let (app, stored) = (app.clone(), policy.map(AppPolicy::to_stored));
        self.run(OP, move |conn| {
            let n = conn
                .execute(
                    "UPDATE apps SET release_policy = ?2 WHERE slug = ?1",
                    params![app.as_str(), stored],
                )
                .map_err(backend(OP))?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("app {app}")));
            }
            Ok(())
        })
    }

    fn app<'a>(&'a self, slug: &'a AppSlug) -> StoreFuture<'a, Option<App>> {
        let slug = slug.clone();
        self.run("read app", move |conn| load_app(conn, &slug))
    }

    fn apps(&self) -> StoreFuture<'_, Vec<App>> {
        const OP: &str = "list apps";
        self.run(OP, move |conn| load_apps(conn, OP))
    }

    fn add_releases<'a>(
        &'a self,
        app: &'a AppSlug,
        releases: &'a [Release],
    ) -> StoreFuture<'a, ()> {
        let (app, releases) = (app.clone(), releases.to_vec());
        self.run("add releases", move |conn| {
            let tx = conn.transaction().map_err(backend("add releases"))?;
            require_app(&tx, &app)?;
            for release in &releases {
                tx.execute(
                    "INSERT OR IGNORE INTO channels (app, name) VALUES (?1, ?2)",
                    params![app.as_str(), release.channel.as_str()],
                )
                .map_err(backend("add releases"))?;
                tx.execute(
                    "INSERT OR IGNORE INTO releases (channel, version, repository, reference)
                     SELECT id, ?3, ?4, ?5 FROM channels WHERE app = ?1 AND name = ?2",
                    params![
                        app.as_str(),
                        release.channel.as_str(),
                        release.version.as_str(),
                        release
                            .repository
                            .as_ref()
                            .map(|r| r.to_string())
                            .unwrap_or_default(),
                        release.reference.to_string(),
                    ],
                )
                .map_err(backend("add releases"))?;
            }
            tx.commit().map_err(backend("add releases"))
        })
    }

    fn remove_version<'a>(
        &'a self,
        app: &'a AppSlug,
        channel: &'a ChannelName,
        version: &'a Tag,
    ) -> StoreFuture<'a, u64> {
        let (app, channel, version) = (app.clone(), channel.clone(), version.clone());
        self.run("remove version", move |conn| {
            let n = conn
                .execute(
                    "DELETE FROM releases WHERE version = ?3
                     AND channel = (SELECT id FROM channels WHERE app = ?1 AND name = ?2)",
                    params![app.as_str(), channel.as_str(), version.as_str()],
                )
                .map_err(backend("remove version"))?;
            Ok(n as u64)
        })
    }

    fn releases<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<Release>> {
        let app = app.clone();
        self.run("read releases", move |conn| load_releases(conn, &app))
    }

    fn channels<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<ChannelName>> {
        let app = app.clone();
        self.run("list channels", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT name FROM channels WHERE app = ?1 ORDER BY name")
                .map_err(backend("list channels"))?;
            let names: Vec<String> = stmt
                .query_map([app.as_str()], |r| r.get(0))
                .map_err(backend("list channels"))?
                .collect::<Result<_, _>>()
                .map_err(backend("list channels"))?;
            names.iter().map(|n| parse_channel(n)).collect()
        })
    }

    fn create_license<'a>(&'a self, license: &'a NewLicense) -> StoreFuture<'a, LicenseNumber> {
        let license = license.clone();
        self.run("create license", move |conn| {
            let tx = conn.transaction().map_err(backend("create license"))?;
            require_app(&tx, &license.app)?;
            let channel_ids = channel_ids(&tx, &license.app, &license.channels, "create license")?;
            tx.execute(
                "INSERT INTO licenses (app, email, id_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    license.app.as_str(),
                    license.email,
                    license.id_hash.0.as_slice(),
                    ts(license.created_at),
                    license.expires_at.map(ts),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a license with this ID hash".into())
                } else {
                    backend("create license")(e)
                }
            })?;
            let number = tx.last_insert_rowid();
            for id in channel_ids {
                tx.execute(
                    "INSERT OR IGNORE INTO license_channels (license, channel) VALUES (?1, ?2)",
                    params![number, id],
                )
                .map_err(backend("create license"))?;
            }
            tx.commit().map_err(backend("create license"))?;
            Ok(LicenseNumber(number))
        })
    }

    fn license_by_hash<'a>(&'a self, hash: &'a LicenseIdHash) -> StoreFuture<'a, Option<License>> {
        let hash = *hash;
        self.run("read license", move |conn| {
            let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE id_hash = ?1");
            Ok(query_licenses(conn, &sql, [hash.0.as_slice()])?.pop())
        })
    }

    fn license(&self, number: LicenseNumber) -> StoreFuture<'_, Option<License>> {
        self.run("read license", move |conn| {
            let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = ?1");
            Ok(query_licenses(conn, &sql, [number.0])?.pop())
        })
    }

    fn licenses<'a>(&'a self, app: Option<&'a AppSlug>) -> StoreFuture<'a, Vec<License>> {
        let app = app.cloned();
        self.run("list licenses", move |conn| match app {
            Some(app) => query_licenses(
                conn,
                &format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE app = ?1 ORDER BY id"),
                [app.as_str()],
            ),
            None => load_all_licenses(conn),
        })
    }

    fn revoke_license(&self, number: LicenseNumber, at: Timestamp) -> StoreFuture<'_, License> {
        self.run("revoke license", move |conn| {
            conn.execute(
                "UPDATE licenses SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![number.0, ts(at)],
            )
            .map_err(backend("revoke license"))?;
            let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = ?1");
            query_licenses(conn, &sql, [number.0])?
                .pop()
                .ok_or_else(|| StoreError::NotFound(format!("license {number}")))
        })
    }

    fn sign_out_session<'a>(
        &'a self,
        session: &'a str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        const OP: &str = "record sign-out";
        let session = session.to_string();
        self.run(OP, move |conn| {
            conn.execute(
                "DELETE FROM portal_sign_outs WHERE expires_at < ?1",
                [ts(now)],
            )
            .map_err(backend(OP))?;
            conn.execute(
                "INSERT OR IGNORE INTO portal_sign_outs (session, expires_at) VALUES (?1, ?2)",
                params![session, ts(expires_at)],
            )
            .map_err(backend(OP))?;
            Ok(())
        })
    }

    fn session_signed_out<'a>(&'a self, session: &'a str) -> StoreFuture<'a, bool> {
        let session = session.to_string();
        self.run("read sign-outs", move |conn| {
            conn.query_row(
                "SELECT 1 FROM portal_sign_outs WHERE session = ?1",
                [session],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(backend("read sign-outs"))
        })
    }

    fn set_license_expiry(
        &self,
        number: LicenseNumber,
        expires_at: Option<Timestamp>,
    ) -> StoreFuture<'_, License> {
        const OP: &str = "set license expiry";
        self.run(OP, move |conn| {
            conn.execute(
                "UPDATE licenses SET expires_at = ?2 WHERE id = ?1",
                params![number.0, expires_at.map(ts)],
            )
            .map_err(backend(OP))?;
            require_license(conn, number)
        })
    }

    fn set_license_channels<'a>(
        &'a self,
        number: LicenseNumber,
        channels: &'a [ChannelName],
    ) -> StoreFuture<'a, License> {
        const OP: &str = "set license channels";
        let channels = channels.to_vec();
        self.run(OP, move |conn| {
            let tx = conn.transaction().map_err(backend(OP))?;
            let license = require_license(&tx, number)?;
            let ids = channel_ids(&tx, &license.app, &channels, OP)?;
            tx.execute(
                "DELETE FROM license_channels WHERE license = ?1",
                [number.0],
            )
            .map_err(backend(OP))?;
            for id in ids {
                tx.execute(
                    "INSERT OR IGNORE INTO license_channels (license, channel) VALUES (?1, ?2)",
                    params![number.0, id],
                )
                .map_err(backend(OP))?;
            }
            let license = require_license(&tx, number)?;
            tx.commit().map_err(backend(OP))?;
            Ok(license)
        })
    }
}

/// The license with this number, or [`StoreError::NotFound`].
fn require_license(conn: &Connection, number: LicenseNumber) -> Result<License, StoreError> {
    let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = ?1");
    query_licenses(conn, &sql, [number.0])?
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("license {number}")))
}

impl PullLog for SqliteStore {
    fn append<'a>(&'a self, records: &'a [PullRecord]) -> StoreFuture<'a, ()> {
        let records = records.to_vec();
        self.run("append pull log", move |conn| {
            let tx = conn.transaction().map_err(backend("append pull log"))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO pulls (license, at, action, method, repository, reference, status, bytes)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .map_err(backend("append pull log"))?;
                for r in &records {
                    stmt.execute(params![
                        r.license.0,
                        ts(r.at),
                        r.action.as_str(),
                        r.method,
                        r.repository,
                        r.reference,
                        r.status,
                        i64::try_from(r.bytes).unwrap_or(i64::MAX),
                    ])
                    .map_err(backend("append pull log"))?;
                }
            }
            tx.commit().map_err(backend("append pull log"))
        })
    }

    fn pulls(&self, license: LicenseNumber, limit: u32) -> StoreFuture<'_, Vec<PullRecord>> {
        const OP: &str = "read pull log";
        self.run(OP, move |conn| {
            collect_rows(
                conn,
                OP,
                &format!(
                    "SELECT {PULL_COLUMNS} FROM pulls WHERE license = ?1 ORDER BY id DESC \
                     LIMIT ?2"
                ),
                params![license.0, limit],
                |r| pull_row(r, 0),
            )?
            .into_iter()
            .map(|row| pull_record(license, row))
            .collect()
        })
    }

    fn pull_summary(&self, license: LicenseNumber) -> StoreFuture<'_, PullSummary> {
        const OP: &str = "sum up pull log";
        self.run(OP, move |conn| {
            let (requests, last): (i64, Option<i64>) = conn
                .query_row(
                    "SELECT count(*), max(at) FROM pulls WHERE license = ?1",
                    [license.0],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(backend(OP))?;
            Ok(PullSummary {
                requests: u64::try_from(requests).unwrap_or(0),
                last_at: last.map(|t| from_ts("pull time", t)).transpose()?,
            })
        })
    }
}

impl ResolutionStore for SqliteStore {
    fn record_tag<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
        digest: &'a Digest,
        at: Timestamp,
    ) -> StoreFuture<'a, ()> {
        let (repository, tag, digest) =
            (repository.to_string(), tag.to_string(), digest.to_string());
        self.run("record tag", move |conn| {
            conn.execute(
                "INSERT INTO tag_digests (repository, tag, digest, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (repository, tag, digest)
                 DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
                params![repository, tag, digest, ts(at)],
            )
            .map_err(backend("record tag"))?;
            Ok(())
        })
    }

    fn tag_digests<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
    ) -> StoreFuture<'a, Vec<Digest>> {
        let (repository, tag) = (repository.to_string(), tag.to_string());
        self.run("read tag digests", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT digest FROM tag_digests WHERE repository = ?1 AND tag = ?2
                     ORDER BY last_seen DESC, digest",
                )
                .map_err(backend("read tag digests"))?;
            let rows: Vec<String> = stmt
                .query_map(params![repository, tag], |r| r.get(0))
                .map_err(backend("read tag digests"))?
                .collect::<Result<_, _>>()
                .map_err(backend("read tag digests"))?;
            rows.iter().map(|d| parse_digest(d)).collect()
        })
    }

    fn record_attachment<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
        artifact: &'a Digest,
    ) -> StoreFuture<'a, ()> {
        let (repository, subject, artifact) = (
            repository.to_string(),
            subject.to_string(),
            artifact.to_string(),
        );
        self.run("record attachment", move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO attachments (repository, subject, artifact) VALUES (?1, ?2, ?3)",
                params![repository, subject, artifact],
            )
            .map_err(backend("record attachment"))?;
            Ok(())
        })
    }

    fn attachments<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
    ) -> StoreFuture<'a, Vec<Digest>> {
        let (repository, subject) = (repository.to_string(), subject.to_string());
        self.run("read attachments", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT artifact FROM attachments WHERE repository = ?1 AND subject = ?2
                     ORDER BY artifact",
                )
                .map_err(backend("read attachments"))?;
            let rows: Vec<String> = stmt
                .query_map(params![repository, subject], |r| r.get(0))
                .map_err(backend("read attachments"))?
                .collect::<Result<_, _>>()
                .map_err(backend("read attachments"))?;
            rows.iter().map(|d| parse_digest(d)).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(slug: &str) -> App {
        App {
            slug: AppSlug::new(slug).unwrap(),
            referrers: ReferrersMode::NotFound,
            repositories: vec![Repository::parse("ghcr.io/acme").unwrap()],
            release_policy: None,
        }
    }

    // The behaviour of the traits is tested once for every backend in
    // tests/proxy/store_backends.rs; here only what is SQLite's own.

    #[test]
    fn reopening_a_file_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            SqliteStore::open(&path)
                .unwrap()
                .add_app(&app("acme"))
                .await
                .unwrap();
            let again = SqliteStore::open(&path).unwrap();
            assert!(
                again
                    .app(&AppSlug::new("acme").unwrap())
                    .await
                    .unwrap()
                    .is_some()
            );
        });
    }

    #[test]
    fn a_version_1_database_is_upgraded_and_keeps_its_apps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "{SCHEMA} INSERT INTO apps (slug, referrers) VALUES ('acme', 'not-found');
                 INSERT INTO app_repositories (app, prefix) VALUES ('acme', 'ghcr.io/acme');
                 PRAGMA user_version = 1;"
            ))
            .unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = SqliteStore::open(&path).unwrap();
            let slug = AppSlug::new("acme").unwrap();
            assert_eq!(store.app(&slug).await.unwrap(), Some(app("acme")));
            let policy = crate::policy::AppPolicy {
                repository: Repository::parse("ghcr.io/acme/platform").unwrap(),
                images: crate::policy::AppPolicy::parse_images(&["api".into()]).unwrap(),
                subject: crate::policy::ClaimMatch::Exact("https://example.com/ci".into()),
                issuer: crate::policy::ClaimMatch::Exact("https://issuer.example.com".into()),
                attestations: vec![],
                slsa_builder_id_regexp: None,
            };
            store
                .set_release_policy(&slug, Some(&policy))
                .await
                .unwrap();
            let again = SqliteStore::open(&path).unwrap();
            let version: i64 = crate::memo::lock(&again.conn)
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let stored = again.app(&slug).await.unwrap().unwrap();
            assert_eq!(stored.release_policy, Some(policy));
        });
    }

    #[test]
    fn a_stored_policy_that_no_longer_parses_is_corrupt_not_ignored() {
        let store = SqliteStore::in_memory().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            store.add_app(&app("acme")).await.unwrap();
            crate::memo::lock(&store.conn)
                .execute("UPDATE apps SET release_policy = '{\"x\":1}'", [])
                .unwrap();
            let err = store.app(&AppSlug::new("acme").unwrap()).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Corrupt {
                        what: "release policy",
                        ..
                    }
                ),
                "{err:?}"
            );
        });
    }
}

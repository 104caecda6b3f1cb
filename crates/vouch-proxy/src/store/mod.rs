//! Persistent state behind traits, so the embedded SQLite default can be
//! joined by Postgres (issue 8) without touching the request path:
//! - [`LicenseStore`]: apps and their upstream allow-lists, channels and
//!   their releases, licenses;
//! - [`PullLog`]: who pulled what, when, how many bytes;
//! - [`ResolutionStore`]: facts learnt from upstreams that entitlement
//!   checks need after a restart (which digests a tag has pointed to, which
//!   artefacts are attached to a digest).
//!
//! Methods return boxed futures ([`StoreFuture`]) so the traits stay
//! object-safe (`Arc<dyn LicenseStore>`) and an async backend fits.
//!
//! Backends: [`sqlite::SqliteStore`] (embedded, one file) and
//! [`postgres::PostgresStore`] (shared by replicas). Both answer the same
//! behaviour suite (`tests/proxy/store_backends.rs`). [`StateSnapshot`] and
//! [`StateCounts`] describe a whole state, for `vouch-proxy migrate`.

pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use jiff::Timestamp;

use crate::names::{AppSlug, ChannelName, Digest, Reference, Repository, Tag};
use crate::policy::AppPolicy;
use crate::secret::LicenseIdHash;

/// What every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The named thing already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// The backend failed (I/O, SQL, connecting).
    #[error("state database, {operation}: {source}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// What failed.
        source: BackendError,
    },
    /// A stored value no longer parses (written by a newer version, or edited by hand).
    #[error("state database holds an invalid {what}: {value:?}")]
    Corrupt {
        /// Which field.
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// What failed in a state backend, kept whole where it can be.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL, once connected (its errors never hold the URL).
    #[error(transparent)]
    Postgres(#[from] sqlx_core::Error),
    /// Connecting to PostgreSQL or migrating it: the database's message
    /// after the URL shown without its password, with every form of the
    /// password scrubbed from it (which is why the error is not kept whole).
    #[error("{0}")]
    Connect(String),
    /// A file or directory of the state.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blocking task running a query ended abnormally.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// Not asked: the database failed recently and is known not to
    /// answer; a background probe asks it again (the request is answered
    /// from fail static, or with a 503, without waiting on it).
    #[error("not asked: the state database failed recently and has not answered since")]
    NotAsked,
    /// A connection pool size outside 1 to `MAX_POOL_CONNECTIONS`.
    #[error("expected between 1 and {max} connections, got {got}")]
    PoolSize {
        /// The largest allowed.
        max: u32,
        /// What was asked for.
        got: u32,
    },
}

/// A [`StoreError::Corrupt`]: field `what` holds `value`, which no longer parses.
pub(crate) fn corrupt(what: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.to_string(),
    }
}

/// A time as both backends store it: whole seconds since the Unix epoch.
pub(crate) fn ts(t: Timestamp) -> i64 {
    t.as_second()
}

/// A stored [`ts`] back as a time; out of range is [`StoreError::Corrupt`]
/// naming `what`.
pub(crate) fn from_ts(what: &'static str, secs: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_second(secs).map_err(|_| corrupt(what, &secs.to_string()))
}

/// A stored app slug.
pub(crate) fn parse_slug(value: &str) -> Result<AppSlug, StoreError> {
    AppSlug::new(value).map_err(|_| corrupt("app slug", value))
}

/// A stored channel name.
pub(crate) fn parse_channel(value: &str) -> Result<ChannelName, StoreError> {
    ChannelName::new(value).map_err(|_| corrupt("channel name", value))
}

/// A stored release policy (JSON, [`AppPolicy::to_stored`]).
pub(crate) fn parse_release_policy(value: &str) -> Result<AppPolicy, StoreError> {
    AppPolicy::from_stored(value).map_err(|_| corrupt("release policy", value))
}

/// A stored repository.
pub(crate) fn parse_repository(value: &str) -> Result<Repository, StoreError> {
    Repository::parse(value).map_err(|_| corrupt("repository", value))
}

/// A stored digest.
pub(crate) fn parse_digest(value: &str) -> Result<Digest, StoreError> {
    Digest::parse(value).map_err(|_| corrupt("digest", value))
}

/// A release from its stored columns: channel name, version, repository
/// (`''` for every repository the app allows) and reference.
pub(crate) fn release_from_row(
    channel: String,
    version: String,
    repository: String,
    reference: String,
) -> Result<Release, StoreError> {
    Ok(Release {
        channel: parse_channel(&channel)?,
        version: Tag::new(&version).map_err(|_| corrupt("version", &version))?,
        repository: if repository.is_empty() {
            None
        } else {
            Some(parse_repository(&repository)?)
        },
        reference: Reference::parse(&reference).map_err(|_| corrupt("reference", &reference))?,
    })
}

/// How an app answers `GET /v2/<name>/referrers/<digest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferrersMode {
    /// A spec 404 with an OCI error body: clients fall back to the
    /// referrers tag schema (distribution-spec, "Listing Referrers").
    #[default]
    NotFound,
    /// Forward the upstream's answer (only for entitled subjects).
    Passthrough,
}

impl ReferrersMode {
    /// `not-found` / `passthrough`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Passthrough => "passthrough",
        }
    }

    /// Parses `not-found` / `passthrough`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "not-found" => Some(Self::NotFound),
            "passthrough" => Some(Self::Passthrough),
            _ => None,
        }
    }
}

/// An app: what customers license, and the upstream repositories it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Its slug.
    pub slug: AppSlug,
    /// Referrers behaviour.
    pub referrers: ReferrersMode,
    /// Allowed repository prefixes (`ghcr.io/acme` allows `ghcr.io/acme/…`).
    pub repositories: Vec<Repository>,
    /// Who signs its releases and what they carry, when the vendor set it
    /// (`app policy set`); the portal hands it to customers.
    pub release_policy: Option<AppPolicy>,
}

/// One entitlement a channel grants: a version's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The channel.
    pub channel: ChannelName,
    /// The version label (`1.2.0`).
    pub version: Tag,
    /// The repository, or `None` for every repository the app allows.
    pub repository: Option<Repository>,
    /// The tag or digest it grants.
    pub reference: Reference,
}

/// A license number: the row's public handle (not a secret), used by the
/// admin CLI and the pull log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenseNumber(pub i64);

impl std::fmt::Display for LicenseNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Its number.
    pub number: LicenseNumber,
    /// The app it licenses.
    pub app: AppSlug,
    /// The customer's email (the expected registry username).
    pub email: String,
    /// Channels it is entitled to.
    pub channels: Vec<ChannelName>,
    /// Keyed hash of the license ID.
    pub id_hash: LicenseIdHash,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// What `license create` stores.
#[derive(Debug, Clone)]
pub struct NewLicense {
    /// The app.
    pub app: AppSlug,
    /// The customer's email.
    pub email: String,
    /// Channels (must exist).
    pub channels: Vec<ChannelName>,
    /// Keyed hash of the new ID.
    pub id_hash: LicenseIdHash,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

/// The kind of request a pull-log line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAction {
    /// `/v2/token`.
    Token,
    /// A manifest GET/HEAD.
    Manifest,
    /// A blob GET/HEAD.
    Blob,
    /// A tags list.
    Tags,
    /// A referrers query.
    Referrers,
}

impl PullAction {
    /// Stable text for storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Manifest => "manifest",
            Self::Blob => "blob",
            Self::Tags => "tags",
            Self::Referrers => "referrers",
        }
    }

    /// Parses [`PullAction::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "token" => Self::Token,
            "manifest" => Self::Manifest,
            "blob" => Self::Blob,
            "tags" => Self::Tags,
            "referrers" => Self::Referrers,
            _ => return None,
        })
    }
}

/// One line of the pull log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRecord {
    /// Who.
    pub license: LicenseNumber,
    /// When the request arrived.
    pub at: Timestamp,
    /// What kind of request.
    pub action: PullAction,
    /// `HEAD` or `GET` (or `POST` for tokens).
    pub method: String,
    /// The repository (`ghcr.io/acme/api`), empty for token requests.
    pub repository: String,
    /// Tag or digest asked for (empty when none).
    pub reference: String,
    /// The HTTP status returned.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

/// Apps, channels and licenses.
pub trait LicenseStore: Send + Sync {
    /// Creates an app; [`StoreError::Conflict`] if the slug is taken.
    fn add_app<'a>(&'a self, app: &'a App) -> StoreFuture<'a, ()>;
    /// Adds a repository prefix to an app's allow-list.
    fn allow_repository<'a>(
        &'a self,
        app: &'a AppSlug,
        prefix: &'a Repository,
    ) -> StoreFuture<'a, ()>;
    /// Changes an app's referrers behaviour.
    fn set_referrers_mode<'a>(
        &'a self,
        app: &'a AppSlug,
        mode: ReferrersMode,
    ) -> StoreFuture<'a, ()>;
    /// One trivial round trip (`SELECT 1`): whether the store answers
    /// now. The proxy's background probe asks it while the database is
    /// known to be failing.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// Sets (or with `None` removes) an app's release policy;
    /// [`StoreError::NotFound`] when there is no such app.
    fn set_release_policy<'a>(
        &'a self,
        app: &'a AppSlug,
        policy: Option<&'a AppPolicy>,
    ) -> StoreFuture<'a, ()>;
    /// One app.
    fn app<'a>(&'a self, slug: &'a AppSlug) -> StoreFuture<'a, Option<App>>;
    /// All apps.
    fn apps(&self) -> StoreFuture<'_, Vec<App>>;
    /// Adds releases to a channel, creating the channel if needed.
    fn add_releases<'a>(&'a self, app: &'a AppSlug, releases: &'a [Release])
    -> StoreFuture<'a, ()>;
    /// Removes every release of `version` from a channel; returns how many.
    fn remove_version<'a>(
        &'a self,
        app: &'a AppSlug,
        channel: &'a ChannelName,
        version: &'a Tag,
    ) -> StoreFuture<'a, u64>;
    /// Every release of every channel of an app.
    fn releases<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<Release>>;
    /// Every channel of an app (including empty ones).
    fn channels<'a>(&'a self, app: &'a AppSlug) -> StoreFuture<'a, Vec<ChannelName>>;
    /// Stores a new license; the app and every channel must exist.
    fn create_license<'a>(&'a self, license: &'a NewLicense) -> StoreFuture<'a, LicenseNumber>;
    /// The license with this ID hash.
    fn license_by_hash<'a>(&'a self, hash: &'a LicenseIdHash) -> StoreFuture<'a, Option<License>>;
    /// The license with this number.
    fn license(&self, number: LicenseNumber) -> StoreFuture<'_, Option<License>>;
    /// All licenses, or those of one app.
    fn licenses<'a>(&'a self, app: Option<&'a AppSlug>) -> StoreFuture<'a, Vec<License>>;
    /// Marks a license revoked (idempotent: the first revocation time stays).
    fn revoke_license(&self, number: LicenseNumber, at: Timestamp) -> StoreFuture<'_, License>;
    /// Records that portal session `session` (its random ID) was signed
    /// out, until `expires_at`, when it would have expired anyway; forgets
    /// sign-outs whose sessions expired before `now`.
    fn sign_out_session<'a>(
        &'a self,
        session: &'a str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreFuture<'a, ()>;
    /// Whether portal session `session` was signed out (on any replica).
    fn session_signed_out<'a>(&'a self, session: &'a str) -> StoreFuture<'a, bool>;
    /// Sets a license's expiry (`None`: never) and returns it;
    /// [`StoreError::NotFound`] when there is no such license.
    fn set_license_expiry(
        &self,
        number: LicenseNumber,
        expires_at: Option<Timestamp>,
    ) -> StoreFuture<'_, License>;
    /// Replaces a license's channels (one transaction) and returns it. Every
    /// channel must exist in the license's app; [`StoreError::NotFound`]
    /// names the first that does not, or the license.
    fn set_license_channels<'a>(
        &'a self,
        number: LicenseNumber,
        channels: &'a [ChannelName],
    ) -> StoreFuture<'a, License>;
}

/// The pull log.
pub trait PullLog: Send + Sync {
    /// Appends records (one transaction).
    fn append<'a>(&'a self, records: &'a [PullRecord]) -> StoreFuture<'a, ()>;
    /// The newest `limit` records of a license, newest first.
    fn pulls(&self, license: LicenseNumber, limit: u32) -> StoreFuture<'_, Vec<PullRecord>>;
    /// How many records a license has and when the newest was made.
    fn pull_summary(&self, license: LicenseNumber) -> StoreFuture<'_, PullSummary>;
}

/// A license's pull log summed up ([`PullLog::pull_summary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullSummary {
    /// Records (requests: tokens, manifests, blobs, tags, referrers).
    pub requests: u64,
    /// When the newest record's request arrived; `None` when there is none.
    pub last_at: Option<Timestamp>,
}

/// Facts learnt from upstreams.
pub trait ResolutionStore: Send + Sync {
    /// Records that `tag` in `repository` pointed at `digest` (at `at`).
    fn record_tag<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
        digest: &'a Digest,
        at: Timestamp,
    ) -> StoreFuture<'a, ()>;
    /// Every digest `tag` has been seen pointing at.
    fn tag_digests<'a>(
        &'a self,
        repository: &'a Repository,
        tag: &'a Tag,
    ) -> StoreFuture<'a, Vec<Digest>>;
    /// Records that `artifact` (a signature, attestation, SBOM or referrers
    /// index) is attached to `subject`.
    fn record_attachment<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
        artifact: &'a Digest,
    ) -> StoreFuture<'a, ()>;
    /// Every artefact recorded for `subject`.
    fn attachments<'a>(
        &'a self,
        repository: &'a Repository,
        subject: &'a Digest,
    ) -> StoreFuture<'a, Vec<Digest>>;
}

/// One `tag → digest` sighting, as [`ResolutionStore::record_tag`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSighting {
    /// The repository.
    pub repository: Repository,
    /// The tag.
    pub tag: Tag,
    /// A digest it pointed at.
    pub digest: Digest,
    /// When it was first seen pointing there.
    pub first_seen: Timestamp,
    /// When it was last seen pointing there.
    pub last_seen: Timestamp,
}

/// An artefact recorded for a subject ([`ResolutionStore::record_attachment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The repository.
    pub repository: Repository,
    /// The digest it is attached to.
    pub subject: Digest,
    /// The signature, attestation, SBOM or referrers index.
    pub artifact: Digest,
}

/// Everything a store holds except the pull log (which is copied in pages):
/// what `vouch-proxy migrate` reads from one backend and writes to another.
/// Every list is sorted (text bytewise): apps by slug, channels by app then
/// name, releases by app, channel, version, repository, reference, licenses
/// by number, tags by repository, tag, digest, attachments by repository,
/// subject, artifact. So two snapshots of equal states compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateSnapshot {
    /// Apps with their allow-lists and referrers mode.
    pub apps: Vec<App>,
    /// Every channel, including those without releases.
    pub channels: Vec<(AppSlug, ChannelName)>,
    /// Every release, with its app.
    pub releases: Vec<(AppSlug, Release)>,
    /// Every license, numbers, hashes, times and revocation included.
    pub licenses: Vec<License>,
    /// Tag history.
    pub tags: Vec<TagSighting>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

/// How many rows each part of a state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateCounts {
    /// Apps.
    pub apps: u64,
    /// Allow-list entries over all apps.
    pub repositories: u64,
    /// Channels.
    pub channels: u64,
    /// Releases.
    pub releases: u64,
    /// Licenses (revoked ones included).
    pub licenses: u64,
    /// Of which revoked.
    pub revoked_licenses: u64,
    /// Pull-log lines.
    pub pulls: u64,
    /// Tag → digest sightings.
    pub tag_digests: u64,
    /// Attachments.
    pub attachments: u64,
}

/// Counts every table's rows in one statement, one column per
/// [`StateCounts`] field in declaration order. The same text serves SQLite
/// and PostgreSQL: scalar subqueries and `count(*)` are standard SQL.
pub(crate) const COUNT_ROWS_SQL: &str = "
SELECT (SELECT count(*) FROM apps), (SELECT count(*) FROM app_repositories),
       (SELECT count(*) FROM channels), (SELECT count(*) FROM releases),
       (SELECT count(*) FROM licenses),
       (SELECT count(*) FROM licenses WHERE revoked_at IS NOT NULL),
       (SELECT count(*) FROM pulls), (SELECT count(*) FROM tag_digests),
       (SELECT count(*) FROM attachments)";

impl StateCounts {
    /// Whether every table is empty.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The counts from a row of [`COUNT_ROWS_SQL`], each column read by
    /// `column(index)`; a negative count (never written) reads as 0.
    pub(crate) fn from_columns<E>(
        mut column: impl FnMut(usize) -> Result<i64, E>,
    ) -> Result<Self, E> {
        let mut n = |i: usize| -> Result<u64, E> { Ok(u64::try_from(column(i)?).unwrap_or(0)) };
        Ok(Self {
            apps: n(0)?,
            repositories: n(1)?,
            channels: n(2)?,
            releases: n(3)?,
            licenses: n(4)?,
            revoked_licenses: n(5)?,
            pulls: n(6)?,
            tag_digests: n(7)?,
            attachments: n(8)?,
        })
    }
}

impl std::fmt::Display for StateCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} apps ({} allowed repositories), {} channels, {} releases, {} licenses \
             ({} revoked), {} pull-log lines, {} tag sightings, {} attachments",
            self.apps,
            self.repositories,
            self.channels,
            self.releases,
            self.licenses,
            self.revoked_licenses,
            self.pulls,
            self.tag_digests,
            self.attachments
        )
    }
}

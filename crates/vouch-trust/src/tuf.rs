//! The TUF client around `sigstore-tuf`: when to go to the network, the
//! verified cache, and air-gap export/import.
//!
//! `sigstore-tuf` does the TUF work (root chaining, thresholds, rollback and
//! freeze checks, length and hash pinning; TUF spec §5). This module decides
//! *when* to use it and *where* bytes go:
//! - a cache whose metadata still verifies at `now` is used without network;
//! - otherwise (expired timestamp, no cache), or when asked to
//!   ([`Network::RefreshNow`]), one refresh from the mirror, with the
//!   timeouts below, starting from the cache when there is one (so rollback
//!   protection holds across refreshes);
//! - whatever a session downloads is staged in memory and written to the
//!   cache only once the session verified completely (see the `store` module).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sigstore_tuf::{HttpRepository, Repository, Updater, UpdaterConfig};

use crate::store::{DirRepository, STATE_FILE, StagedStore, read_at_most, safe_join, write_new};
use crate::{LoadedTrust, Provenance, TrustError};

/// Sigstore's public-good TUF repository (SPEC.md §6.1).
pub const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The target holding the Sigstore trusted root (SPEC.md §6.1).
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// TCP/TLS connect timeout for a mirror: a CDN or a loopback mirror answers
/// in well under a second; 5 s tolerates a slow link and still tells an
/// offline machine quickly that there is no network.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest pause between two reads of one response (TUF's slow-retrieval
/// attack, spec §1.5.2): the largest file is a few MB.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest one request may take, start to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a whole refresh (root chain, timestamp, snapshot, targets and the
/// trusted root) may take; a refresh is about five requests.
pub const REFRESH_DEADLINE: Duration = Duration::from_secs(60);

/// Largest `root.json` accepted (python-tuf's default, 512 000 bytes).
pub const MAX_ROOT_METADATA_SIZE: u64 = 512_000;
/// Largest `timestamp.json` accepted (python-tuf's default, 16 KiB; the
/// public-good one is under 1 KiB).
pub const MAX_TIMESTAMP_METADATA_SIZE: u64 = 16_384;
/// Largest `snapshot.json` accepted (python-tuf's default, 2 MB).
pub const MAX_SNAPSHOT_METADATA_SIZE: u64 = 2_000_000;
/// Largest targets metadata accepted (python-tuf's default, 5 MB).
pub const MAX_TARGETS_METADATA_SIZE: u64 = 5_000_000;
/// Largest of vouch's own small JSON files (the cache's
/// `vouch-state.json`, an export's `vouch-export.json`): both are a few hundred
/// bytes.
pub const MAX_VOUCH_RECORD_SIZE: u64 = 64 * 1024;
/// Most root rotations walked in one refresh (python-tuf's default).
pub const MAX_ROOT_ROTATIONS: u32 = 32;
/// Most delegated targets roles visited for one target (python-tuf's
/// default).
pub const MAX_DELEGATIONS: u32 = 32;

/// Which TUF repository to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TufInstance {
    /// Sigstore public-good, bootstrapped from the `root.json` embedded in
    /// the binary (from `sigstore-trust-root`).
    PublicGood,
    /// A private Sigstore deployment: its mirror URL and a `root.json` the
    /// user trusts to bootstrap it.
    Custom {
        /// Base URL of the TUF repository.
        mirror: String,
        /// The initial `root.json`. `None`: the `root.json` in this mirror's
        /// cache, verified when it was written (cosign's `TUF_MIRROR`
        /// without `TUF_ROOT_JSON`, after `cosign initialize`).
        root_file: Option<PathBuf>,
    },
}

impl TufInstance {
    /// The mirror URL.
    pub fn mirror(&self) -> &str {
        match self {
            Self::PublicGood => PUBLIC_GOOD_MIRROR,
            Self::Custom { mirror, .. } => mirror,
        }
    }
}

/// Whether a load may go to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Refresh from the mirror when the cache is missing or its timestamp
    /// expired.
    RefreshWhenDue,
    /// Refresh from the mirror now even when the cache still verifies, as
    /// `cosign initialize` does: to pick up a new trusted root before the
    /// cached timestamp expires. A failed refresh is an error and leaves the
    /// cache as it was.
    RefreshNow,
    /// Never touch the network: the cache (stale if need be, with its age
    /// reported) or, for public-good, the trusted root embedded in vouch.
    Offline,
}

/// Network timeouts; [`Timeouts::default`] uses the named constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// See [`CONNECT_TIMEOUT`].
    pub connect: Duration,
    /// See [`READ_TIMEOUT`].
    pub read: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request: Duration,
    /// See [`REFRESH_DEADLINE`].
    pub refresh: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: CONNECT_TIMEOUT,
            read: READ_TIMEOUT,
            request: REQUEST_TIMEOUT,
            refresh: REFRESH_DEADLINE,
        }
    }
}

/// Everything a TUF load needs. The caller (the CLI) resolves flags and
/// environment into this; nothing here reads the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TufOptions {
    /// The repository.
    pub instance: TufInstance,
    /// The cache base directory; each mirror gets a subdirectory
    /// ([`TufOptions::cache_dir`]).
    pub cache_root: PathBuf,
    /// Network policy.
    pub network: Network,
    /// Network timeouts.
    pub timeouts: Timeouts,
}

impl TufOptions {
    /// Options for `instance` cached under `cache_root`, refreshing when due,
    /// with the default timeouts.
    pub fn new(instance: TufInstance, cache_root: PathBuf) -> Self {
        Self {
            instance,
            cache_root,
            network: Network::RefreshWhenDue,
            timeouts: Timeouts::default(),
        }
    }

    /// The cache directory of this mirror: `<cache_root>/<mirror>` with the
    /// scheme stripped and `/` and `:` turned into `-`, as sigstore-go names
    /// it (SPEC.md §6.1).
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_root
            .join(mirror_dir_name(self.instance.mirror()))
    }

    /// The `root.json` the session starts from: embedded for public-good,
    /// the user's file, or the one in this mirror's cache.
    fn bootstrap_root(&self) -> Result<Vec<u8>, TrustError> {
        match &self.instance {
            TufInstance::PublicGood => Ok(sigstore_trust_root::SigstoreInstance::PublicGood
                .tuf_root()
                .to_vec()),
            TufInstance::Custom {
                root_file: Some(file),
                ..
            } => crate::read_file(file, MAX_ROOT_METADATA_SIZE, "TUF root"),
            TufInstance::Custom {
                mirror,
                root_file: None,
            } => {
                let cached = self.cache_dir().join("root.json");
                match read_at_most(&cached, MAX_ROOT_METADATA_SIZE) {
                    Ok(Some(bytes)) => Ok(bytes),
                    _ => Err(TrustError::NoCachedRoot {
                        mirror: mirror.clone(),
                        path: cached,
                    }),
                }
            }
        }
    }
}

/// The cache subdirectory name for a mirror URL (SPEC.md §6.1): always one
/// plain path component, never empty, `.` or `..`, so a mirror's cache stays
/// inside the cache root.
pub fn mirror_dir_name(mirror: &str) -> String {
    let without_scheme = mirror
        .split_once("://")
        .map_or(mirror, |(_, rest)| rest)
        .trim_end_matches('/');
    let name = without_scheme
        .chars()
        .map(|c| match c {
            '/' | ':' | '\\' | '\0' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect::<String>()
        .replace("..", "-");
    if name.is_empty() || name == "." {
        format!("_{name}")
    } else {
        name
    }
}

/// The default cache base: `$XDG_CACHE_HOME/vouch/tuf`, else
/// `$HOME/.cache/vouch/tuf`. The caller passes the variables' values.
pub fn default_cache_root(xdg_cache_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    // XDG Base Directory spec: a relative XDG_CACHE_HOME is invalid, ignore it.
    match (xdg_cache_home.filter(|p| p.is_absolute()), home) {
        (Some(xdg), _) => Some(xdg.join("vouch").join("tuf")),
        (None, Some(home)) => Some(home.join(".cache").join("vouch").join("tuf")),
        (None, None) => None,
    }
}

/// vouch's record of the last successful verification of a cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheState {
    /// When the cache last verified completely (RFC 3339).
    verified_at: jiff::Timestamp,
    /// The mirror.
    mirror: String,
    /// `network` or `import from <dir>`.
    source: String,
}

/// What a verified TUF session established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TufStatus {
    /// The mirror.
    pub mirror: String,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Version of the trusted `root.json`.
    pub root_version: u64,
    /// When that root expires.
    pub root_expires: jiff::Timestamp,
    /// Version of `timestamp.json`.
    pub timestamp_version: u64,
    /// When it expires (after that, a refresh is due).
    pub timestamp_expires: jiff::Timestamp,
    /// Version of `snapshot.json`.
    pub snapshot_version: u64,
    /// When it expires.
    pub snapshot_expires: jiff::Timestamp,
    /// Version of `targets.json`.
    pub targets_version: u64,
    /// When it expires.
    pub targets_expires: jiff::Timestamp,
    /// When the data last verified completely (refresh or import).
    pub verified_at: Option<jiff::Timestamp>,
    /// Where the data came from last (`network`, `import from DIR`).
    pub last_source: Option<String>,
    /// Whether this load fetched from the network.
    pub refreshed_now: bool,
    /// Set when the metadata had expired and was accepted only because the
    /// load was offline (it was verified at `verified_at` instead of now):
    /// the role whose expiry made it so, and when.
    pub expired: Option<ExpiredRole>,
}

impl TufStatus {
    /// Whether the metadata had expired and was used offline anyway.
    pub fn is_stale(&self) -> bool {
        self.expired.is_some()
    }
}

/// The TUF role whose metadata had expired, and when it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiredRole {
    /// `timestamp`, `snapshot`, `targets` or `root`.
    pub role: String,
    /// Its expiry time.
    pub expires: jiff::Timestamp,
}

/// One verified session: the staging store, the target and the status.
struct Session {
    staged: StagedStore,
    trusted_root: Vec<u8>,
    updater: Updater,
}

fn updater_config() -> UpdaterConfig {
    let mut config = UpdaterConfig::default();
    config.root_max_length = MAX_ROOT_METADATA_SIZE;
    config.timestamp_max_length = MAX_TIMESTAMP_METADATA_SIZE;
    config.snapshot_max_length = MAX_SNAPSHOT_METADATA_SIZE;
    config.targets_max_length = MAX_TARGETS_METADATA_SIZE;
    config.target_max_length = vouch_verify::MAX_TRUSTED_ROOT_SIZE as u64;
    config.max_root_rotations = MAX_ROOT_ROTATIONS;
    config.max_delegations = MAX_DELEGATIONS;
    config
}

fn runtime() -> Result<tokio::runtime::Runtime, TrustError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TrustError::Runtime { source })
}

/// Runs the TUF workflow against `repo`, reading the cache at `cache` (for
/// the newest trusted root and the rollback floors) and staging writes.
async fn session(
    repo: impl Repository + 'static,
    cache: Option<&Path>,
    bootstrap: &[u8],
    at: jiff::Timestamp,
) -> Result<Session, sigstore_tuf::Error> {
    let staged = StagedStore::new(cache);
    let mut updater = Updater::new(repo, bootstrap)?
        .with_config(updater_config())
        .with_store(staged.clone());
    updater.refresh(at).await?;
    // Every root this session trusted: the newest, and those it rotated
    // through (their keys verified the next root).
    distinct_role_keys(updater.trusted().root_bytes())?;
    for (name, bytes) in staged.staged() {
        if name.starts_with("root_history/") {
            distinct_role_keys(&bytes)?;
        }
    }
    let trusted_root = updater.get_target(TRUSTED_ROOT_TARGET, at).await?;
    Ok(Session {
        staged,
        trusted_root,
        updater,
    })
}

/// Refuses a root that lists one key under two key IDs in a role whose
/// threshold is above one. TUF counts a threshold by key ID (python-tuf and
/// sigstore-tuf alike), so that one key alone could meet it; tough recomputes
/// key IDs against this (CVE-2025-2885's class). Each key is parsed exactly
/// as sigstore-tuf parses it to verify (`Key::verification_key`), and keys
/// are compared by the raw public key bytes it verifies with: key type,
/// scheme, PEM framing (line breaks, header lines, text after the END line,
/// which sigstore-tuf's PEM parser ignores), hex against PEM and RSA
/// algorithm parameters therefore do not hide a twin. A key sigstore-tuf
/// cannot parse is skipped: no signature can count for it. One EC key
/// written once with its point compressed is not a twin by these bytes, but
/// sigstore-tuf 0.15.1 never verifies a signature against a compressed point
/// (test `a_compressed_ec_twin_can_never_count`), so it cannot count either.
fn distinct_role_keys(root_metadata: &[u8]) -> Result<(), sigstore_tuf::Error> {
    let doc: serde_json::Value = serde_json::from_slice(root_metadata)?;
    let signed = &doc["signed"];
    let version = signed["version"].as_u64().unwrap_or_default();
    let Some(roles) = signed["roles"].as_object() else {
        return Ok(());
    };
    for (role, binding) in roles {
        let threshold = binding["threshold"].as_u64().unwrap_or(1);
        let ids = binding["keyids"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if threshold < 2 {
            continue;
        }
        let mut seen: std::collections::HashMap<Vec<u8>, &str> = std::collections::HashMap::new();
        for id in ids.iter().filter_map(|v| v.as_str()) {
            let Some(material) =
                <sigstore_tuf::Key as serde::Deserialize>::deserialize(&signed["keys"][id])
                    .ok()
                    .and_then(|key| key.verification_key().ok())
                    .map(|key| key.as_bytes().to_vec())
            else {
                continue;
            };
            if let Some(first) = seen.insert(material, id) {
                return Err(sigstore_tuf::Error::Malformed(format!(
                    "root version {version}: role {role} lists one key under two key IDs \
                     ({first} and {id}); with threshold {threshold} that key alone could \
                     count twice"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a load's metadata was just fetched from the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// This load refreshed from the mirror.
    FromMirror,
    /// This load used the cache (or an import) as it was.
    None,
}

fn status(session: &Session, opts: &TufOptions, fetch: Fetch) -> TufStatus {
    let trusted = session.updater.trusted();
    let state = read_state(&opts.cache_dir());
    let (ts_v, ts_e) = trusted
        .timestamp()
        .map(|t| (t.version, t.expires))
        .unwrap_or_default();
    let (sn_v, sn_e) = trusted
        .snapshot()
        .map(|s| (s.version, s.expires))
        .unwrap_or_default();
    let (tg_v, tg_e) = trusted
        .targets_role("targets")
        .map(|t| (t.version, t.expires))
        .unwrap_or_default();
    TufStatus {
        mirror: opts.instance.mirror().to_string(),
        cache_dir: opts.cache_dir(),
        root_version: trusted.root().version,
        root_expires: trusted.root().expires,
        timestamp_version: ts_v,
        timestamp_expires: ts_e,
        snapshot_version: sn_v,
        snapshot_expires: sn_e,
        targets_version: tg_v,
        targets_expires: tg_e,
        verified_at: state.as_ref().map(|s| s.verified_at),
        last_source: state.map(|s| s.source),
        refreshed_now: fetch == Fetch::FromMirror,
        expired: None,
    }
}

fn read_state(cache_dir: &Path) -> Option<CacheState> {
    let bytes = read_at_most(&cache_dir.join(STATE_FILE), MAX_VOUCH_RECORD_SIZE)
        .ok()
        .flatten()?;
    serde_json::from_slice(&bytes).ok()
}

fn commit(
    session: &Session,
    opts: &TufOptions,
    now: jiff::Timestamp,
    source: String,
) -> Result<(), TrustError> {
    let dir = opts.cache_dir();
    let state = CacheState {
        verified_at: now,
        mirror: opts.instance.mirror().to_string(),
        source,
    };
    let state = serde_json::to_vec_pretty(&state).expect("state serializes");
    session
        .staged
        .commit(&dir, &state)
        .map_err(|source| TrustError::CacheWrite { path: dir, source })
}

fn has_cache(dir: &Path) -> bool {
    dir.join("timestamp.json").is_file()
}

/// `now` as a jiff timestamp (the epoch for a clock before it).
pub(crate) fn to_jiff(now: SystemTime) -> jiff::Timestamp {
    jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn loaded(session: &Session, status: TufStatus) -> Result<LoadedTrust, TrustError> {
    LoadedTrust::from_json(
        session.trusted_root.clone(),
        format!("{} from TUF {}", TRUSTED_ROOT_TARGET, status.mirror),
        Provenance::Tuf(status),
    )
}

/// Loads the trusted root through TUF as `opts` says (see the module docs).
pub(crate) fn load(opts: &TufOptions, now: SystemTime) -> Result<LoadedTrust, TrustError> {
    let now = to_jiff(now);
    let dir = opts.cache_dir();
    let bootstrap = opts.bootstrap_root()?;
    let rt = runtime()?;
    if has_cache(&dir) && opts.network != Network::RefreshNow {
        let offline = DirRepository::new(&dir);
        match rt.block_on(session(offline, Some(&dir), &bootstrap, now)) {
            Ok(s) => return loaded(&s, status(&s, opts, Fetch::None)),
            Err(e) if opts.network == Network::Offline => {
                return offline_stale(opts, &bootstrap, &rt, e);
            }
            // Expired or otherwise unusable: a refresh is due.
            Err(_) => {}
        }
    }
    match opts.network {
        Network::Offline => offline_without_cache(opts),
        Network::RefreshWhenDue | Network::RefreshNow => {
            let s = match refresh(opts, &bootstrap, &rt, now) {
                Ok(s) => s,
                Err(e) => {
                    // A timed-out refresh may leave a DNS lookup running on a
                    // blocking thread; dropping the runtime would wait for it.
                    rt.shutdown_background();
                    return Err(e);
                }
            };
            // The target must be a usable trusted root *before* it is
            // cached: a TUF-valid but unusable target would otherwise sit in
            // the cache, and block refreshes, until the timestamp expires.
            let mut trust = loaded(&s, status(&s, opts, Fetch::FromMirror))?;
            commit(&s, opts, now, "network".into())?;
            if let Provenance::Tuf(status) = &mut trust.provenance {
                status.verified_at = Some(now);
                status.last_source = Some("network".into());
            }
            Ok(trust)
        }
    }
}

/// Offline, the cache did not verify at `now`. If the reason is expiry,
/// verify it at the time it last verified (vouch's own record) and report
/// it as stale; any other reason is an error.
fn offline_stale(
    opts: &TufOptions,
    bootstrap: &[u8],
    rt: &tokio::runtime::Runtime,
    error: sigstore_tuf::Error,
) -> Result<LoadedTrust, TrustError> {
    let dir = opts.cache_dir();
    let context = format!("offline verification of the TUF cache at {}", dir.display());
    let expired = match &error {
        sigstore_tuf::Error::Expired { role, expires } => Some(ExpiredRole {
            role: role.clone(),
            expires: *expires,
        }),
        _ => None,
    };
    let (Some(expired), Some(state)) = (expired, read_state(&dir)) else {
        return Err(TrustError::Tuf { context, error });
    };
    let offline = DirRepository::new(&dir);
    let s = rt
        .block_on(session(offline, Some(&dir), bootstrap, state.verified_at))
        .map_err(|error| TrustError::Tuf {
            context: context.clone(),
            error,
        })?;
    let mut stale = status(&s, opts, Fetch::None);
    stale.expired = Some(expired);
    loaded(&s, stale)
}

fn offline_without_cache(opts: &TufOptions) -> Result<LoadedTrust, TrustError> {
    match opts.instance {
        TufInstance::PublicGood => {
            let mut trust = crate::TrustSource::EmbeddedProduction.load(SystemTime::UNIX_EPOCH)?;
            if let Provenance::Embedded { no_cache_at, .. } = &mut trust.provenance {
                *no_cache_at = Some(opts.cache_dir());
            }
            Ok(trust)
        }
        TufInstance::Custom { .. } => Err(TrustError::NoOfflineData {
            mirror: opts.instance.mirror().to_string(),
            cache_dir: opts.cache_dir(),
        }),
    }
}

fn refresh(
    opts: &TufOptions,
    bootstrap: &[u8],
    rt: &tokio::runtime::Runtime,
    now: jiff::Timestamp,
) -> Result<Session, TrustError> {
    let mirror = opts.instance.mirror().to_string();
    let t = opts.timeouts;
    let client = sigstore_tuf::reqwest::Client::builder()
        .connect_timeout(t.connect)
        .read_timeout(t.read)
        .timeout(t.request)
        .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TrustError::Network {
            mirror: mirror.clone(),
            detail: e.to_string(),
        })?;
    let repo = HttpRepository::new(&mirror)
        .map_err(|error| TrustError::Tuf {
            context: format!("TUF mirror {mirror}"),
            error,
        })?
        .with_http_client(client);
    let dir = opts.cache_dir();
    let cache = has_cache(&dir).then_some(dir.as_path());
    let work = session(repo, cache, bootstrap, now);
    match rt.block_on(async { tokio::time::timeout(t.refresh, work).await }) {
        Err(_) => Err(TrustError::Network {
            mirror,
            detail: format!(
                "the refresh did not finish within {} s",
                t.refresh.as_secs()
            ),
        }),
        Ok(Ok(s)) => Ok(s),
        Ok(Err(error)) => match network_failure(&error) {
            Some(detail) => Err(TrustError::Network { mirror, detail }),
            None => Err(TrustError::Tuf {
                context: format!("TUF refresh from {mirror}"),
                error,
            }),
        },
    }
}

/// When `error` is a connection failure, a timeout, an HTTP error status
/// (a proxy's 502, a captive portal's 403) or a file the mirror does not
/// have — the mirror is not usable from here, as opposed to a refusal of
/// what it served — a description of it.
fn network_failure(error: &sigstore_tuf::Error) -> Option<String> {
    // sigstore-tuf =0.15.1 reports these as source-less transport errors:
    // "GET <url> returned status <code>" and "timestamp.json not found" (the
    // first file asked for). A snapshot or target missing after a valid
    // timestamp is a mirror withholding data: a refusal, as is an oversized
    // response.
    if let sigstore_tuf::Error::Transport {
        message,
        source: None,
    } = error
        && (message.contains(" returned status ") || message == "timestamp.json not found")
    {
        return Some(crate::error_chain(error));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<sigstore_tuf::reqwest::Error>()
            && (http.is_connect() || http.is_timeout())
        {
            return Some(crate::error_chain(error));
        }
        source = e.source();
    }
    None
}

/// Verifies a directory written by [`export`] (a TUF repository) from the
/// bootstrap root and the current cache, then installs it into the cache.
/// Nothing is written unless everything verifies.
pub fn import(opts: &TufOptions, dir: &Path, now: SystemTime) -> Result<TufStatus, TrustError> {
    let now = to_jiff(now);
    let tuf_dir = dir.join(EXPORT_TUF_DIR);
    if let Some(manifest) = read_export_manifest(dir)?
        && manifest.mirror != opts.instance.mirror()
    {
        return Err(TrustError::MirrorMismatch {
            dir: dir.to_path_buf(),
            expected: opts.instance.mirror().to_string(),
            found: manifest.mirror,
        });
    }
    let bootstrap = opts.bootstrap_root()?;
    let cache_dir = opts.cache_dir();
    let cache = has_cache(&cache_dir).then_some(cache_dir.as_path());
    let s = runtime()?
        .block_on(session(
            DirRepository::new(&tuf_dir),
            cache,
            &bootstrap,
            now,
        ))
        .map_err(|error| TrustError::Tuf {
            context: format!("import of {}", tuf_dir.display()),
            error,
        })?;
    crate::TrustedMaterial::from_json(&s.trusted_root).map_err(|source| TrustError::Invalid {
        origin: format!("{} in {}", TRUSTED_ROOT_TARGET, tuf_dir.display()),
        source,
    })?;
    commit(&s, opts, now, format!("import from {}", dir.display()))?;
    Ok(status(&s, opts, Fetch::None))
}

/// The mirror a directory written by [`export`] names in its
/// `vouch-export.json` (unsigned: it only chooses which bootstrap root to
/// verify the export from); `None` when there is no such file.
pub fn export_mirror(dir: &Path) -> Result<Option<String>, TrustError> {
    Ok(read_export_manifest(dir)?.map(|m| m.mirror))
}

/// Verifies a directory written by [`export`] from `opts`' bootstrap root
/// alone, reading no cache and writing nothing, and returns the
/// `trusted_root.json` it proves and the time it was verified as of.
///
/// That time is the export's (`vouch-export.json`): a release carried
/// across an air gap is verified long after the short-lived timestamp
/// expired. The file is unsigned, so whoever wrote the media chooses the
/// time, but a time can only select metadata the repository's own keys
/// signed: it can roll back to an older trusted root of the same
/// deployment (docs/threat-model.md), never bring in another.
pub fn verify_export(
    opts: &TufOptions,
    dir: &Path,
) -> Result<(Vec<u8>, jiff::Timestamp), TrustError> {
    let manifest = read_export_manifest(dir)?.ok_or_else(|| TrustError::Export {
        path: dir.join(EXPORT_MANIFEST),
        detail: "missing: not a vouch trust export".into(),
    })?;
    if manifest.mirror != opts.instance.mirror() {
        return Err(TrustError::MirrorMismatch {
            dir: dir.to_path_buf(),
            expected: opts.instance.mirror().to_string(),
            found: manifest.mirror,
        });
    }
    let bootstrap = opts.bootstrap_root()?;
    let tuf_dir = dir.join(EXPORT_TUF_DIR);
    let s = runtime()?
        .block_on(session(
            DirRepository::new(&tuf_dir),
            None,
            &bootstrap,
            manifest.exported_at,
        ))
        .map_err(|error| TrustError::Tuf {
            context: format!("verifying {}", tuf_dir.display()),
            error,
        })?;
    Ok((s.trusted_root, manifest.exported_at))
}

/// Subdirectory of an export holding the TUF repository.
pub const EXPORT_TUF_DIR: &str = "tuf";
/// File of an export describing it (mirror, time, versions).
pub const EXPORT_MANIFEST: &str = "vouch-export.json";

/// What `vouch-export.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportManifest {
    mirror: String,
    exported_at: jiff::Timestamp,
    root_version: u64,
    timestamp_expires: jiff::Timestamp,
}

fn read_export_manifest(dir: &Path) -> Result<Option<ExportManifest>, TrustError> {
    let path = dir.join(EXPORT_MANIFEST);
    let Some(bytes) = crate::read_file_if_present(&path, MAX_VOUCH_RECORD_SIZE)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| TrustError::Export {
            path,
            detail: format!("not a vouch export manifest: {e}"),
        })
}

/// Loads the trusted root through TUF as `opts` says, then writes `out`:
/// `trusted_root.json` (for `--trusted-root`), `tuf/` (a TUF repository:
/// every root from the bootstrap on, timestamp, snapshot, targets and the
/// target, under the names a TUF client asks for) and `vouch-export.json`.
/// The written repository is verified again before returning.
pub fn export(opts: &TufOptions, out: &Path, now: SystemTime) -> Result<TufStatus, TrustError> {
    let jnow = to_jiff(now);
    let trust = load(opts, now)?;
    let Provenance::Tuf(status) = trust.provenance else {
        return Err(TrustError::NothingToExport {
            cache_dir: opts.cache_dir(),
        });
    };
    if let Some(expired) = &status.expired {
        return Err(TrustError::StaleExport {
            cache_dir: opts.cache_dir(),
            expired: expired.expires,
        });
    }
    check_export_target(out)?;
    let bootstrap = opts.bootstrap_root()?;
    let cache_dir = opts.cache_dir();
    // Re-verify the cache we just loaded (or refreshed) to get at its bytes.
    let rt = runtime()?;
    let s = rt
        .block_on(session(
            DirRepository::new(&cache_dir),
            Some(&cache_dir),
            &bootstrap,
            jnow,
        ))
        .map_err(|error| TrustError::Tuf {
            context: format!("re-verifying the TUF cache at {}", cache_dir.display()),
            error,
        })?;
    let files = repository_files(&s)?;
    let manifest = ExportManifest {
        mirror: status.mirror.clone(),
        exported_at: jnow,
        root_version: status.root_version,
        timestamp_expires: status.timestamp_expires,
    };
    let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    // Built in a work directory inside `out` (same filesystem, whatever
    // `out` is) and moved into place only once it verified: a failed export
    // leaves `out` as it was, and no file of an older export stays.
    crate::store::replace_within(
        out,
        &[EXPORT_TUF_DIR, TRUSTED_ROOT_TARGET, EXPORT_MANIFEST],
        |new| {
            let write = |name: &str, bytes: &[u8]| {
                let path = safe_join(new, name).map_err(|()| TrustError::Export {
                    path: out.join(name),
                    detail: "a file name that would leave the export directory".into(),
                })?;
                write_new(&path, bytes).map_err(|source| TrustError::CacheWrite {
                    path: out.join(name),
                    source,
                })
            };
            for (name, bytes) in &files {
                write(&format!("{EXPORT_TUF_DIR}/{name}"), bytes)?;
            }
            write(TRUSTED_ROOT_TARGET, &s.trusted_root)?;
            write(EXPORT_MANIFEST, &manifest)?;
            // The export must verify on its own, from the bootstrap root alone.
            rt.block_on(session(
                DirRepository::new(&new.join(EXPORT_TUF_DIR)),
                None,
                &bootstrap,
                jnow,
            ))
            .map(|_| ())
            .map_err(|error| TrustError::Tuf {
                context: format!("verifying the export for {}", out.display()),
                error,
            })
        },
        |path, source| TrustError::CacheWrite { path, source },
    )?;
    Ok(status)
}

/// An export goes to a new or empty directory, or replaces an earlier
/// export; anything else in `out` is the user's and is not touched.
fn check_export_target(out: &Path) -> Result<(), TrustError> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TrustError::Read {
                path: out.to_path_buf(),
                source,
            });
        }
    };
    // Work directories left by an interrupted export do not count.
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(crate::store::WORK_DIR_PREFIX))
        .collect();
    let ours = [TRUSTED_ROOT_TARGET, EXPORT_TUF_DIR, EXPORT_MANIFEST];
    let earlier_export = names.iter().any(|n| n == EXPORT_MANIFEST)
        && names.iter().all(|n| ours.contains(&n.as_str()));
    if names.is_empty() || earlier_export {
        return Ok(());
    }
    let foreign: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !ours.contains(n))
        .collect();
    Err(TrustError::Export {
        path: out.to_path_buf(),
        detail: format!(
            "exists and is not an earlier vouch export (it holds {}); give a new or empty \
             directory",
            if foreign.is_empty() {
                "no vouch-export.json".to_string()
            } else {
                foreign.join(", ")
            }
        ),
    })
}

/// The files of a TUF repository equivalent to a verified session.
fn repository_files(s: &Session) -> Result<Vec<(String, Vec<u8>)>, TrustError> {
    let trusted = s.updater.trusted();
    let missing = |name: &str| TrustError::Export {
        path: PathBuf::from(name),
        detail: "missing from the verified TUF cache".into(),
    };
    let get = |name: &str| s.staged.read(name).ok_or_else(|| missing(name));
    let mut files = Vec::new();
    for version in 1..=trusted.root().version {
        if let Some(bytes) = s.staged.read(&format!("root_history/{version}.root.json")) {
            files.push((format!("{version}.root.json"), bytes));
        }
    }
    files.push(("root.json".into(), trusted.root_bytes().to_vec()));
    files.push(("timestamp.json".into(), get("timestamp.json")?));
    let snapshot = get("snapshot.json")?;
    let targets = get("targets.json")?;
    let (sv, tv) = (
        trusted.snapshot().map(|x| x.version).unwrap_or_default(),
        trusted
            .targets_role("targets")
            .map(|x| x.version)
            .unwrap_or_default(),
    );
    files.push((format!("{sv}.snapshot.json"), snapshot.clone()));
    files.push(("snapshot.json".into(), snapshot));
    files.push((format!("{tv}.targets.json"), targets.clone()));
    files.push(("targets.json".into(), targets));
    let info = trusted
        .targets_role("targets")
        .and_then(|t| t.target(TRUSTED_ROOT_TARGET))
        .ok_or_else(|| missing(TRUSTED_ROOT_TARGET))?;
    // Consistent-snapshot names, one per hash a client may ask by. Only the
    // algorithms TUF clients use, and only hex values: the targets metadata
    // may carry any other key and value, and they must never become a path.
    for (algorithm, hash) in &info.hashes {
        let length = match algorithm.as_str() {
            "sha256" => 64,
            "sha512" => 128,
            _ => continue,
        };
        let hex = hash.to_string();
        if hex.len() != length || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TrustError::Export {
                path: PathBuf::from(TRUSTED_ROOT_TARGET),
                detail: format!(
                    "the targets metadata gives a {algorithm} hash that is not hex: {hex:?}"
                ),
            });
        }
        files.push((
            format!("targets/{hex}.{TRUSTED_ROOT_TARGET}"),
            s.trusted_root.clone(),
        ));
    }
    files.push((
        format!("targets/{TRUSTED_ROOT_TARGET}"),
        s.trusted_root.clone(),
    ));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_dir_names_follow_sigstore_go() {
        assert_eq!(
            mirror_dir_name("https://tuf-repo-cdn.sigstore.dev"),
            "tuf-repo-cdn.sigstore.dev"
        );
        assert_eq!(
            mirror_dir_name("http://127.0.0.1:8080/Repo/"),
            "127.0.0.1-8080-repo"
        );
        assert!(!mirror_dir_name("http://x/../../etc").contains(".."));
        for odd in ["", "https://", ".", "https://./", "..", "https://../"] {
            let name = mirror_dir_name(odd);
            let mut parts = Path::new(&name).components();
            assert!(
                matches!(parts.next(), Some(std::path::Component::Normal(_)))
                    && parts.next().is_none(),
                "{odd:?} -> {name:?}"
            );
        }
    }

    #[test]
    fn default_cache_root_prefers_absolute_xdg() {
        let xdg = Path::new("/x/cache");
        let home = Path::new("/home/u");
        assert_eq!(
            default_cache_root(Some(xdg), Some(home)).unwrap(),
            Path::new("/x/cache/vouch/tuf")
        );
        assert_eq!(
            default_cache_root(Some(Path::new("rel")), Some(home)).unwrap(),
            Path::new("/home/u/.cache/vouch/tuf")
        );
        assert_eq!(default_cache_root(None, None), None);
    }

    #[test]
    fn offline_without_cache_uses_the_embedded_root_for_public_good_only() {
        let dir = std::env::temp_dir().join(format!("vouch-tuf-empty-{}", std::process::id()));
        let mut opts = TufOptions::new(TufInstance::PublicGood, dir.clone());
        opts.network = Network::Offline;
        let trust = load(&opts, SystemTime::now()).unwrap();
        assert!(matches!(trust.provenance, Provenance::Embedded { .. }));
        assert!(!dir.exists(), "offline load must not create the cache");

        // A private mirror has no embedded fallback.
        let root = std::env::temp_dir().join(format!("vouch-tuf-root-{}.json", std::process::id()));
        std::fs::write(&root, b"{}").unwrap();
        opts.instance = TufInstance::Custom {
            mirror: "http://127.0.0.1:9/".into(),
            root_file: Some(root.clone()),
        };
        let err = load(&opts, SystemTime::now()).unwrap_err();
        assert!(
            matches!(&err, TrustError::NoOfflineData { mirror, .. } if mirror == "http://127.0.0.1:9/"),
            "{err}"
        );
        assert!(!dir.exists(), "offline load must not create the cache");

        // An unreadable --tuf-root names the file.
        opts.instance = TufInstance::Custom {
            mirror: "http://127.0.0.1:9/".into(),
            root_file: Some("/nonexistent/root.json".into()),
        };
        let err = load(&opts, SystemTime::now()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/root.json"), "{err}");

        // No --tuf-root and nothing cached: says what to give.
        opts.instance = TufInstance::Custom {
            mirror: "http://127.0.0.1:9/".into(),
            root_file: None,
        };
        let err = load(&opts, SystemTime::now()).unwrap_err();
        assert!(matches!(err, TrustError::NoCachedRoot { .. }), "{err}");
        std::fs::remove_file(&root).unwrap();
    }

    #[test]
    fn one_key_under_two_ids_is_found_across_encodings() {
        use base64::Engine as _;
        // Sigstore's own roots list distinct keys.
        for instance in [
            sigstore_trust_root::SigstoreInstance::PublicGood,
            sigstore_trust_root::SigstoreInstance::Staging,
        ] {
            distinct_role_keys(instance.tuf_root()).unwrap();
        }
        // One ed25519 key written every way sigstore-tuf reads as that key.
        let raw = [7u8; 32];
        let spki = [
            &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ][..],
            &raw,
        ]
        .concat();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let twins = [
            format!(
                "-----BEGIN PUBLIC KEY-----\r\n{}\r\n{}\r\n-----END PUBLIC KEY-----",
                &b64[..20],
                &b64[20..]
            ),
            hex::encode_upper(raw),
            hex::encode(raw),
            format!("{pem}AAAA\n"),
            format!("-----BEGIN PUBLIC KEY-----{b64}\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----\nX-Note: hi\n\n{b64}\n-----END PUBLIC KEY-----\n"),
        ];
        let root = |a: &str, b: &str, threshold: u64, types: (&str, &str)| {
            serde_json::json!({"signed": {"version": 3, "keys": {
                "k1": {"keytype": types.0, "scheme": "ed25519", "keyval": {"public": a}},
                "k2": {"keytype": types.1, "scheme": "ed25519", "keyval": {"public": b}},
            }, "roles": {"snapshot": {"keyids": ["k1", "k2"], "threshold": threshold}}}})
            .to_string()
        };
        let same = ("ed25519", "ed25519");
        for twin in &twins {
            let err = distinct_role_keys(root(&pem, twin, 2, same).as_bytes())
                .expect_err(&format!("twin not found: {twin:?}"));
            assert!(
                err.to_string().contains(
                    "root version 3: role snapshot lists one key under two key IDs (k1 and k2)"
                ),
                "{err}"
            );
            // Threshold 1: a twin cannot help anyone.
            distinct_role_keys(root(&pem, twin, 1, same).as_bytes()).unwrap();
        }
        // Nor does another key type hide it: the scheme picks the algorithm.
        assert!(
            distinct_role_keys(root(&pem, &pem, 2, ("ed25519", "x-other")).as_bytes()).is_err()
        );
        // Two different keys are fine, and so is a key sigstore-tuf cannot
        // parse (no signature can count for it).
        distinct_role_keys(root(&pem, &hex::encode([8u8; 32]), 2, same).as_bytes()).unwrap();
        distinct_role_keys(root(&pem, "not a key", 2, same).as_bytes()).unwrap();
    }

    #[test]
    fn a_compressed_ec_twin_can_never_count() {
        use aws_lc_rs::encoding::{AsBigEndian as _, EcPublicKeyCompressedBin};
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
        use base64::Engine as _;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let uncompressed = pair.public_key().as_ref().to_vec();
        let compressed: EcPublicKeyCompressedBin = pair.public_key().as_be_bytes().unwrap();
        // SubjectPublicKeyInfo for P-256 (id-ecPublicKey, prime256v1).
        let pem = |point: &[u8]| {
            let mut body = hex::decode("301306072a8648ce3d020106082a8648ce3d030107").unwrap();
            body.extend_from_slice(&[0x03, (point.len() + 1) as u8, 0x00]);
            body.extend_from_slice(point);
            let der = [&[0x30, body.len() as u8][..], &body].concat();
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
        };
        let key = |point: &[u8]| -> sigstore_tuf::Key {
            serde_json::from_value(serde_json::json!({"keytype": "ecdsa",
                "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem(point)}}))
            .unwrap()
        };
        let signature = pair.sign(&rng, b"signed metadata").unwrap();
        let signature = sigstore_types::SignatureBytes::new(signature.as_ref().to_vec());
        key(&uncompressed)
            .verify(b"signed metadata", &signature)
            .unwrap();
        // If this starts to verify (a sigstore-tuf upgrade), the duplicate
        // check must compare decompressed points.
        assert!(
            key(compressed.as_ref())
                .verify(b"signed metadata", &signature)
                .is_err(),
            "sigstore-tuf now verifies against a compressed EC point"
        );
    }

    /// A load from `http://127.0.0.1:<port>` bootstrapped from the
    /// public-good root, cached under `dir/cache`; it must fail.
    fn load_from_local_port(dir: &Path, port: u16) -> TrustError {
        std::fs::create_dir_all(dir).unwrap();
        let root = dir.join("root.json");
        std::fs::write(
            &root,
            sigstore_trust_root::SigstoreInstance::PublicGood.tuf_root(),
        )
        .unwrap();
        let opts = TufOptions::new(
            TufInstance::Custom {
                mirror: format!("http://127.0.0.1:{port}"),
                root_file: Some(root),
            },
            dir.join("cache"),
        );
        load(&opts, SystemTime::now()).unwrap_err()
    }

    #[test]
    fn unreachable_mirror_is_reported_as_network_failure() {
        let dir = std::env::temp_dir().join(format!("vouch-tuf-unreach-{}", std::process::id()));
        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = load_from_local_port(&dir, port);
        assert!(matches!(err, TrustError::Network { .. }), "{err}");
        assert!(
            !dir.join("cache").exists(),
            "no cache after a failed refresh"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A mirror behind a broken proxy (every answer 502) or pointing at the
    /// wrong place (404) is unusable from here: a network failure (for which
    /// the CLI gives the offline advice), not a TUF refusal.
    #[test]
    fn http_errors_from_the_mirror_are_reported_as_network_failure() {
        use std::io::{Read as _, Write as _};
        for status in ["502 Bad Gateway", "404 Not Found"] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let answer = status.to_string();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {answer}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                }
            });
            let dir =
                std::env::temp_dir().join(format!("vouch-tuf-http-{}-{port}", std::process::id()));
            let err = load_from_local_port(&dir, port);
            assert!(matches!(err, TrustError::Network { .. }), "{status}: {err}");
            let text = err.to_string();
            let code = &status[..3];
            assert!(
                text.contains(&format!("returned status {code}"))
                    || (code == "404" && text.contains("timestamp.json not found")),
                "{status}: {text}"
            );
            assert!(!dir.join("cache").exists());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

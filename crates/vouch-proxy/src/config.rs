//! Configuration: a TOML file ([`ConfigFile`], the "low-level" shape read
//! from disk), environment overrides, and the validated [`Settings`] the
//! rest of the crate uses.
//!
//! Secrets (upstream passwords and tokens) can be inline, in a file, or in
//! an environment variable; they are read once, at load time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cache::s3::{S3Config, S3ConfigError, S3Credentials, S3Serve};
use crate::names::{NameError, UpstreamName};
use crate::store::postgres::{DEFAULT_MAX_CONNECTIONS, redact_database_url};
use crate::upstream::RealmHost;

/// Default listen address: loopback, so a fresh install is not exposed
/// before someone decides where it should listen.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default state directory (SQLite database, server secret, cache).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vouch-proxy";
/// Default token lifetime. The docker token spec asks for at least 60 s
/// (`expires_in` "recommended" minimum); docker/containerd refresh on 401, so
/// short is cheap. Five minutes matches distribution's token server default.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);
/// The docker token spec: clients assume 60 s when `expires_in` is smaller.
pub const MIN_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Tokens longer-lived than a day would make revocation meaningless for
/// anyone who saved one; one day is the upper bound we accept.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default disk cache size: 10 GiB, enough for a few releases of a typical
/// multi-image application.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 10 << 30;
/// Default tag → digest cache lifetime. Short, so a re-pushed tag shows up
/// within half a minute; long enough to absorb the HEAD-then-GET pair every
/// client sends for one pull (research/proxy.md §2.4).
pub const DEFAULT_TAG_TTL: Duration = Duration::from_secs(30);
/// How long a verified license stays cached in memory. Revocation and
/// expiry take effect within this time (docs/proxy.md).
pub const DEFAULT_LICENSE_CACHE_TTL: Duration = Duration::from_secs(5);
/// Default `server.license_stale_secs`: ten minutes of fail-static covers
/// a database restart or failover (seconds to minutes) while bounding how
/// long a license revoked during an outage keeps pulling.
pub const DEFAULT_LICENSE_STALE: Duration = Duration::from_secs(600);
/// Default per-license request rate. One `docker pull` of a 20-layer image
/// is ~45 requests; 20/s sustained with a burst of 200 lets several parallel
/// pulls through and stops a runaway script.
pub const DEFAULT_RATE_PER_SECOND: f64 = 20.0;
/// Default burst for the per-license token bucket (see above).
pub const DEFAULT_RATE_BURST: u32 = 200;
/// How long graceful shutdown waits for in-flight requests.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default time from the first byte of a request to its complete head.
/// Registry clients (docker, containerd, helm, a load balancer) send a head
/// of well under 8 KiB in one write; ten seconds is ample for a slow link
/// and a third of hyper's own 30 s default, so a slowloris client holding a
/// connection slot is dropped quickly.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may sit with no request in flight. Longer than
/// the 60 s idle timeout of common load balancers (AWS ALB's default), so
/// the proxy never closes a kept-alive connection the balancer is about to
/// reuse (which the balancer would report as a 502); nginx's
/// `keepalive_timeout` default is the same 75 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default time a response write may wait for a client that stopped
/// reading before the connection is closed: nginx's `send_timeout` default.
/// Only a write the client blocks counts, never time spent waiting for the
/// upstream, so a slow cold pull is not cut.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on connections open at once: half of 1024, the usual Linux
/// soft limit on open files, leaving the other half for upstream
/// connections, the state database and cache files.
pub const DEFAULT_MAX_CLIENT_CONNECTIONS: usize = 512;
/// The longest a timeout may be set to: an hour is already far beyond any
/// legitimate header read or keep-alive.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// A secret file larger than this is certainly not a password.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The configuration file as written (every field optional).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSection,
    /// `[state]`.
    #[serde(default)]
    pub state: StateSection,
    /// `[cache]`.
    #[serde(default)]
    pub cache: CacheSection,
    /// `[rate_limit]`.
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    /// `[[upstreams]]`.
    #[serde(default)]
    pub upstreams: Vec<UpstreamSection>,
    /// `[portal]`.
    #[serde(default)]
    pub portal: PortalSection,
}

/// `[portal]`: how the customer portal presents the vendor.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSection {
    /// The vendor's name, shown on every page.
    pub vendor_name: Option<String>,
    /// The vendor's logo: a PNG, JPEG or SVG file of at most
    /// [`MAX_LOGO_BYTES`], read at startup and served at `/portal/logo`.
    pub logo_file: Option<PathBuf>,
}

/// The largest logo file accepted: a header logo is a few KiB; 256 KiB
/// leaves room for a detailed SVG without letting a wrong file (a photo)
/// be served on every page.
pub const MAX_LOGO_BYTES: u64 = 256 * 1024;
/// The longest vendor name shown.
pub const MAX_VENDOR_NAME_LEN: usize = 100;
/// The portal's vendor name when none is configured.
pub const DEFAULT_VENDOR_NAME: &str = "vouch-proxy";

/// The portal's branding, resolved.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The vendor's name.
    pub vendor_name: String,
    /// The logo's bytes and media type, when configured.
    pub logo: Option<Logo>,
}

/// A logo file, read and typed by its first bytes.
#[derive(Debug, Clone)]
pub struct Logo {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// `image/png`, `image/jpeg` or `image/svg+xml`.
    pub media_type: &'static str,
}

impl PortalSection {
    fn resolve(&self) -> Result<PortalSettings, ConfigError> {
        let vendor_name = self
            .vendor_name
            .clone()
            .unwrap_or_else(|| DEFAULT_VENDOR_NAME.to_string());
        if vendor_name.trim().is_empty()
            || vendor_name.len() > MAX_VENDOR_NAME_LEN
            || vendor_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "portal.vendor_name",
                format!("must be 1 to {MAX_VENDOR_NAME_LEN} characters without control characters"),
            ));
        }
        let logo = self.logo_file.as_deref().map(read_logo).transpose()?;
        Ok(PortalSettings { vendor_name, logo })
    }
}

fn read_logo(path: &Path) -> Result<Logo, ConfigError> {
    let key = "portal.logo_file";
    let size = std::fs::metadata(path)
        .map_err(|e| invalid(key, format!("{}: {e}", path.display())))?
        .len();
    if size > MAX_LOGO_BYTES {
        return Err(invalid(
            key,
            format!(
                "{} is {size} bytes; at most {MAX_LOGO_BYTES}",
                path.display()
            ),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| invalid(key, format!("{}: {e}", path.display())))?;
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let media_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if head.contains("<svg") {
        "image/svg+xml"
    } else {
        return Err(invalid(
            key,
            format!("{} is not a PNG, JPEG or SVG file", path.display()),
        ));
    };
    Ok(Logo { bytes, media_type })
}

/// `[server]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Optional second address serving only `/metrics` and `/healthz`;
    /// when set, `/metrics` is not served on `listen`.
    pub ops_listen: Option<String>,
    /// Scheme of the token realm URL: "https" (default; behind a TLS
    /// terminator) or "http".
    pub public_scheme: Option<String>,
    /// Take the realm scheme from `X-Forwarded-Proto` when present. Only
    /// for deployments behind a proxy that sets it.
    pub trust_forwarded_proto: Option<bool>,
    /// Token lifetime in seconds.
    pub token_ttl_secs: Option<u64>,
    /// Seconds a verified license is cached in memory.
    pub license_cache_secs: Option<u64>,
    /// Seconds a license checked successfully keeps working, for the
    /// entitlements it had, while the state database cannot answer; 0
    /// turns this off.
    pub license_stale_secs: Option<u64>,
    /// Seconds to wait for in-flight requests on shutdown.
    pub shutdown_grace_secs: Option<u64>,
    /// The host (and port) clients use, for the token realm; default: the
    /// request's own authority (`Host`, or `:authority` for HTTP/2).
    pub public_host: Option<String>,
    /// Seconds from the first byte of a request to its complete head.
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a connection may sit with no request in flight.
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a response write may wait for a client that stopped reading.
    pub send_timeout_secs: Option<u64>,
    /// Connections open at once, per listener.
    pub max_connections: Option<usize>,
    /// Connections open at once from one client address; 0 (default): no
    /// per-address limit.
    pub max_connections_per_ip: Option<usize>,
    /// `[server.tls]`: serve HTTPS (and HTTP/2 by ALPN) with this
    /// certificate instead of plain HTTP.
    pub tls: Option<TlsSection>,
}

/// `[server.tls]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM; ECDSA, Ed25519 or RSA).
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM): the ops listener then serves TLS and requires
    /// a client certificate issued by one of them.
    pub ops_client_ca_file: Option<PathBuf>,
}

/// `[state]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// Directory for the database, the server secret and (by default) the cache.
    pub dir: Option<PathBuf>,
    /// `postgres://…`: keep apps, licenses and the pull log in PostgreSQL
    /// (shared by every replica) instead of `<dir>/state.db`.
    pub database_url: Option<SecretSource>,
    /// Postgres connection pool size per replica.
    pub max_connections: Option<u32>,
    /// The server secret (license hashing and token signing keys); replicas
    /// must share it. Default `<dir>/secret.key`, created when missing.
    pub secret_file: Option<PathBuf>,
}

/// `[cache]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Cache directory (default `<state.dir>/cache`).
    pub dir: Option<PathBuf>,
    /// Size bound in bytes; least recently used content is evicted beyond it.
    pub max_bytes: Option<u64>,
    /// Seconds a tag → digest answer is reused.
    pub tag_ttl_secs: Option<u64>,
    /// Where content lives: `disk` (default, `dir`) or
    /// `s3://bucket[/prefix][?options]` (S3-compatible storage; options as
    /// in [`S3Config::from_url`], or in `[cache.s3]`, which wins).
    pub store: Option<String>,
    /// `[cache.s3]`: how to reach the object store.
    #[serde(default)]
    pub s3: S3Section,
}

/// `[cache.s3]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    /// Endpoint URL for S3-compatible services (MinIO, R2, Ceph); default AWS.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key ID; with `secret_access_key`. Without both, the standard
    /// AWS environment / instance credentials are used.
    pub access_key_id: Option<String>,
    /// Secret access key (inline, `{ file = … }` or `{ env = … }`).
    pub secret_access_key: Option<SecretSource>,
    /// Allow a plain-http endpoint (loopback tests).
    pub insecure_allow_http: Option<bool>,
    /// `stream` (default: the proxy sends the bytes) or `redirect` (a 307
    /// to a presigned URL; clients fetch from the object store).
    pub serve: Option<S3Serve>,
    /// Lifetime of presigned URLs in `redirect` mode, in seconds.
    pub presign_ttl_secs: Option<u64>,
    /// Largest blob stored.
    pub max_blob_size: Option<u64>,
}

/// `[rate_limit]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Sustained requests per second per license; 0 turns the limit off.
    pub requests_per_second: Option<f64>,
    /// Requests a license may make at once before the sustained rate applies.
    pub burst: Option<u32>,
}

/// A secret given inline, in a file, or in an environment variable.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// `password = "…"`.
    Inline(String),
    /// `password = { file = "/run/secrets/x" }` (trailing newline removed).
    File {
        /// Path of the file.
        file: PathBuf,
    },
    /// `password = { env = "GHCR_TOKEN" }`.
    Env {
        /// Variable name.
        env: String,
    },
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File { file } => f.debug_struct("File").field("file", file).finish(),
            Self::Env { env } => f.debug_struct("Env").field("env", env).finish(),
        }
    }
}

/// `[[upstreams]]`: one upstream registry and the vendor's credentials for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    /// The `<upstream-host>` path component clients use (`ghcr.io`).
    pub name: String,
    /// Where it is (default `https://<name>`); scheme, host and port only.
    pub url: Option<String>,
    /// Username for Basic auth or for the token flow.
    pub username: Option<String>,
    /// Password (with `username`).
    pub password: Option<SecretSource>,
    /// A static bearer token instead of username/password.
    pub token: Option<SecretSource>,
    /// Allow a plain-HTTP `url` (credentials and content travel unencrypted).
    #[serde(default)]
    pub insecure_allow_http: bool,
    /// Hosts (`host` or `host:port`) besides the upstream's own that may
    /// receive the vendor's credentials as the token realm of its
    /// `WWW-Authenticate` challenge (Docker Hub: `auth.docker.io`).
    #[serde(default)]
    pub realm_hosts: Vec<String>,
    /// Follow upstream redirects (and anonymous token realms) to loopback,
    /// private, link-local and unspecified addresses other than the
    /// upstream's own origin (blob storage on an internal network).
    #[serde(default)]
    pub insecure_allow_internal_redirects: bool,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: toml::de::Error,
    },
    /// A value is out of range or malformed.
    #[error("{key}: {reason}")]
    Invalid {
        /// The setting, as `section.key` (or the environment variable).
        key: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A name is malformed.
    #[error(transparent)]
    Name(#[from] NameError),
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Scheme for the token realm URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicScheme {
    /// `https://` (the default: the proxy sits behind a TLS terminator).
    Https,
    /// `http://` (tests, or a trusted network).
    Http,
}

impl PublicScheme {
    /// `"https"` or `"http"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }

    fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value {
            "https" => Ok(Self::Https),
            "http" => Ok(Self::Http),
            other => Err(invalid(
                key,
                format!("expected \"https\" or \"http\", found {other:?}"),
            )),
        }
    }
}

/// How to authenticate to an upstream.
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamCredentials {
    /// No credentials (public images).
    Anonymous,
    /// Username and password: sent as Basic, or exchanged for a bearer
    /// token when the upstream asks for the token flow.
    Basic {
        /// Username.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A static bearer token sent as-is.
    Bearer(String),
}

impl std::fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// A validated upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Path component clients use.
    pub name: UpstreamName,
    /// Base URL (`scheme://host[:port]`), without a trailing slash.
    pub url: reqwest::Url,
    /// The vendor's credentials.
    pub credentials: UpstreamCredentials,
    /// Whether plain HTTP is allowed for this upstream (its URL and redirects).
    pub allow_http: bool,
    /// Other hosts the vendor's credentials may be sent to as a token realm.
    pub realm_hosts: Vec<RealmHost>,
    /// Whether redirects may lead to internal addresses other than the
    /// upstream's own origin (`insecure_allow_internal_redirects`).
    pub allow_internal_redirects: bool,
}

/// `[server.tls]` → the files, both required.
fn resolve_tls(section: &TlsSection) -> Result<crate::tls::TlsFiles, ConfigError> {
    let required = |value: &Option<PathBuf>, key: &str| {
        value.clone().ok_or_else(|| {
            invalid(
                format!("server.tls.{key}"),
                "is required with [server.tls] (a PEM file)",
            )
        })
    };
    Ok(crate::tls::TlsFiles {
        cert_file: required(&section.cert_file, "cert_file")?,
        key_file: required(&section.key_file, "key_file")?,
        ops_client_ca_file: section.ops_client_ca_file.clone(),
    })
}

/// Validated settings ("high-level args").
#[derive(Debug, Clone)]
pub struct Settings {
    /// Main listen address.
    pub listen: SocketAddr,
    /// Optional ops-only listen address.
    pub ops_listen: Option<SocketAddr>,
    /// TLS for the listeners, when configured (`[server.tls]`).
    pub tls: Option<crate::tls::TlsFiles>,
    /// Realm scheme.
    pub public_scheme: PublicScheme,
    /// Honour `X-Forwarded-Proto`.
    pub trust_forwarded_proto: bool,
    /// The realm host, when fixed by configuration.
    pub public_host: Option<String>,
    /// Timeouts and caps for client connections.
    pub connections: ConnectionLimits,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// License cache lifetime.
    pub license_cache_ttl: Duration,
    /// How long a checked license, app and entitlement decision are still
    /// used while the state database cannot answer (zero: not at all).
    pub license_stale: Duration,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// State directory.
    pub state_dir: PathBuf,
    /// Cache directory.
    pub cache_dir: PathBuf,
    /// Cache size bound.
    pub cache_max_bytes: u64,
    /// Tag → digest lifetime.
    pub tag_ttl: Duration,
    /// Per-license rate; `None` when off.
    pub rate_limit: Option<RateLimit>,
    /// Upstreams by name.
    pub upstreams: BTreeMap<UpstreamName, UpstreamSettings>,
    /// PostgreSQL instead of SQLite, when set.
    pub database: Option<PostgresSettings>,
    /// The server secret file.
    pub secret_file: PathBuf,
    /// S3-compatible content storage instead of the disk cache, when set.
    pub s3: Option<S3Config>,
    /// The customer portal's branding.
    pub portal: PortalSettings,
}

/// The limits applied to every client connection of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time from the first byte of a request to its complete head.
    pub header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight.
    pub idle_timeout: Duration,
    /// Time a response write may wait for a client that stopped reading.
    pub send_timeout: Duration,
    /// Connections open at once (per listener).
    pub max_connections: usize,
    /// Connections open at once from one client address; `None`: no limit.
    pub max_connections_per_ip: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connections: DEFAULT_MAX_CLIENT_CONNECTIONS,
            max_connections_per_ip: None,
        }
    }
}

/// Validated `[state] database_url`.
#[derive(Clone)]
pub struct PostgresSettings {
    /// The connection URL (may hold a password: never logged).
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

impl PostgresSettings {
    /// The URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        redact_database_url(&self.url)
    }
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A token-bucket rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Refill per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

impl Settings {
    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("state.db")
    }

    /// The server secret file (keys for license hashing and token signing).
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file.clone()
    }
}

/// Environment variables that override the file, and the key each overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("VOUCH_PROXY_LISTEN", "server.listen"),
    ("VOUCH_PROXY_OPS_LISTEN", "server.ops_listen"),
    ("VOUCH_PROXY_PUBLIC_SCHEME", "server.public_scheme"),
    ("VOUCH_PROXY_PUBLIC_HOST", "server.public_host"),
    ("VOUCH_PROXY_TOKEN_TTL_SECS", "server.token_ttl_secs"),
    ("VOUCH_PROXY_STATE_DIR", "state.dir"),
    ("VOUCH_PROXY_DATABASE_URL", "state.database_url"),
    ("VOUCH_PROXY_SECRET_FILE", "state.secret_file"),
    ("VOUCH_PROXY_BLOB_STORE", "cache.store"),
    ("VOUCH_PROXY_CACHE_DIR", "cache.dir"),
    ("VOUCH_PROXY_CACHE_MAX_BYTES", "cache.max_bytes"),
    (
        "VOUCH_PROXY_RATE_LIMIT_RPS",
        "rate_limit.requests_per_second",
    ),
    ("VOUCH_PROXY_RATE_LIMIT_BURST", "rate_limit.burst"),
];

impl ConfigFile {
    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Applies [`ENV_OVERRIDES`], looking each variable up with `env`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(var: &str, v: &str) -> Result<T, ConfigError> {
            v.parse()
                .map_err(|_| invalid(var, format!("expected a number, found {v:?}")))
        }
        for (var, _) in ENV_OVERRIDES {
            let Some(v) = env(var) else { continue };
            match *var {
                "VOUCH_PROXY_LISTEN" => self.server.listen = Some(v),
                "VOUCH_PROXY_OPS_LISTEN" => self.server.ops_listen = Some(v),
                "VOUCH_PROXY_PUBLIC_SCHEME" => self.server.public_scheme = Some(v),
                "VOUCH_PROXY_PUBLIC_HOST" => self.server.public_host = Some(v),
                "VOUCH_PROXY_TOKEN_TTL_SECS" => self.server.token_ttl_secs = Some(num(var, &v)?),
                "VOUCH_PROXY_STATE_DIR" => self.state.dir = Some(v.into()),
                "VOUCH_PROXY_DATABASE_URL" => {
                    self.state.database_url = Some(SecretSource::Inline(v))
                }
                "VOUCH_PROXY_SECRET_FILE" => self.state.secret_file = Some(v.into()),
                "VOUCH_PROXY_BLOB_STORE" => self.cache.store = Some(v),
                "VOUCH_PROXY_CACHE_DIR" => self.cache.dir = Some(v.into()),
                "VOUCH_PROXY_CACHE_MAX_BYTES" => self.cache.max_bytes = Some(num(var, &v)?),
                "VOUCH_PROXY_RATE_LIMIT_RPS" => {
                    self.rate_limit.requests_per_second = Some(num(var, &v)?)
                }
                "VOUCH_PROXY_RATE_LIMIT_BURST" => self.rate_limit.burst = Some(num(var, &v)?),
                _ => unreachable!("every ENV_OVERRIDES entry is handled"),
            }
        }
        Ok(())
    }

    /// Validates everything and reads secrets (files, and environment
    /// variables through `env`).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let addr = |key: &str, v: &str| -> Result<SocketAddr, ConfigError> {
            v.parse()
                .map_err(|_| invalid(key, format!("expected IP:PORT, found {v:?}")))
        };
        let listen = addr(
            "server.listen",
            self.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN),
        )?;
        let ops_listen = self
            .server
            .ops_listen
            .as_deref()
            .map(|v| addr("server.ops_listen", v))
            .transpose()?;
        let public_scheme = PublicScheme::parse(
            "server.public_scheme",
            self.server.public_scheme.as_deref().unwrap_or("https"),
        )?;
        let tls = self.server.tls.as_ref().map(resolve_tls).transpose()?;
        if tls.is_some() && self.server.public_scheme.as_deref() == Some("http") {
            return Err(invalid(
                "server.public_scheme",
                "is \"http\" while [server.tls] makes the proxy serve HTTPS: clients would be \
                 sent to a plain-HTTP token realm; remove it (the default is https)",
            ));
        }
        let token_ttl = self
            .server
            .token_ttl_secs
            .map_or(DEFAULT_TOKEN_TTL, Duration::from_secs);
        if !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&token_ttl) {
            return Err(invalid(
                "server.token_ttl_secs",
                format!(
                    "must be between {} and {} seconds",
                    MIN_TOKEN_TTL.as_secs(),
                    MAX_TOKEN_TTL.as_secs()
                ),
            ));
        }
        let public_host = self
            .server
            .public_host
            .as_deref()
            .map(|host| {
                if crate::auth::is_valid_host(host) {
                    Ok(host.to_string())
                } else {
                    Err(invalid(
                        "server.public_host",
                        format!("expected host[:port] (no scheme or path), found {host:?}"),
                    ))
                }
            })
            .transpose()?;
        let connections = self.server.connection_limits()?;
        let state_dir = self
            .state
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let cache_dir = self
            .cache
            .dir
            .clone()
            .unwrap_or_else(|| state_dir.join("cache"));
        let cache_max_bytes = self.cache.max_bytes.unwrap_or(DEFAULT_CACHE_MAX_BYTES);
        if cache_max_bytes == 0 {
            return Err(invalid("cache.max_bytes", "must be positive"));
        }
        let rate = self
            .rate_limit
            .requests_per_second
            .unwrap_or(DEFAULT_RATE_PER_SECOND);
        if !rate.is_finite() || rate < 0.0 {
            return Err(invalid(
                "rate_limit.requests_per_second",
                "must be a number >= 0",
            ));
        }
        let burst = self.rate_limit.burst.unwrap_or(DEFAULT_RATE_BURST);
        let rate_limit = if rate == 0.0 {
            None
        } else if burst == 0 {
            return Err(invalid(
                "rate_limit.burst",
                "must be at least 1 when a rate is set",
            ));
        } else {
            Some(RateLimit {
                per_second: rate,
                burst,
            })
        };
        let mut upstreams = BTreeMap::new();
        for (i, section) in self.upstreams.iter().enumerate() {
            let upstream = resolve_upstream(i, section, env)?;
            if upstreams.insert(upstream.name.clone(), upstream).is_some() {
                return Err(invalid(
                    format!("upstreams[{i}].name"),
                    format!("upstream {:?} is configured twice", section.name),
                ));
            }
        }
        let database = self
            .state
            .database_url
            .as_ref()
            .map(|source| -> Result<PostgresSettings, ConfigError> {
                let url = read_secret("state.database_url", source, env)?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(invalid(
                        "state.database_url",
                        format!(
                            "expected a postgres:// or postgresql:// URL, found {}",
                            redact_database_url(&url)
                        ),
                    ));
                }
                Ok(PostgresSettings {
                    url,
                    max_connections: self
                        .state
                        .max_connections
                        .unwrap_or(DEFAULT_MAX_CONNECTIONS),
                })
            })
            .transpose()?;
        let secret_file = self
            .state
            .secret_file
            .clone()
            .unwrap_or_else(|| state_dir.join("secret.key"));
        let s3 = match self.cache.store.as_deref() {
            None | Some("disk") => None,
            Some(url) => Some(resolve_s3(url, &self.cache.s3, &cache_dir, env)?),
        };
        let portal = self.portal.resolve()?;
        Ok(Settings {
            portal,
            database,
            secret_file,
            s3,
            listen,
            ops_listen,
            tls,
            public_scheme,
            trust_forwarded_proto: self.server.trust_forwarded_proto.unwrap_or(false),
            public_host,
            connections,
            token_ttl,
            license_cache_ttl: self
                .server
                .license_cache_secs
                .map_or(DEFAULT_LICENSE_CACHE_TTL, Duration::from_secs),
            license_stale: self
                .server
                .license_stale_secs
                .map_or(DEFAULT_LICENSE_STALE, Duration::from_secs),
            shutdown_grace: self
                .server
                .shutdown_grace_secs
                .map_or(DEFAULT_SHUTDOWN_GRACE, Duration::from_secs),
            state_dir,
            cache_dir,
            cache_max_bytes,
            tag_ttl: self
                .cache
                .tag_ttl_secs
                .map_or(DEFAULT_TAG_TTL, Duration::from_secs),
            rate_limit,
            upstreams,
        })
    }
}

/// What the admin commands (`app`, `channel`, `license`) need from the
/// configuration: where the state is and which upstreams exist. Made by
/// [`ConfigFile::resolve_for_admin`], which checks the whole file as
/// [`ConfigFile::resolve`] does but reads none of the secrets only `serve`
/// uses (upstream passwords and tokens, the S3 secret key): they are often
/// given only to the service (`{ env = … }` in its unit, a mounted file),
/// not to the shell an operator runs `license create` in.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// State directory (SQLite database and, by default, the server secret).
    pub state_dir: PathBuf,
    /// PostgreSQL instead of SQLite, when set.
    pub database: Option<PostgresSettings>,
    /// The server secret file.
    pub secret_file: PathBuf,
    /// The configured upstreams' names.
    pub upstreams: Vec<UpstreamName>,
    /// `<public_scheme>://<public_host>` when `server.public_host` is set:
    /// where customers reach the proxy (and its portal).
    pub public_url: Option<String>,
}

impl AdminSettings {
    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("state.db")
    }
}

/// The upstream names a configuration defines, which `app add` and `app
/// allow` check `--allow` prefixes against.
pub trait ConfiguredUpstreams {
    /// Every configured upstream's name, sorted.
    fn upstream_names(&self) -> Vec<&UpstreamName>;
}

impl ConfiguredUpstreams for Settings {
    fn upstream_names(&self) -> Vec<&UpstreamName> {
        self.upstreams.keys().collect()
    }
}

impl ConfiguredUpstreams for AdminSettings {
    fn upstream_names(&self) -> Vec<&UpstreamName> {
        let mut names: Vec<_> = self.upstreams.iter().collect();
        names.sort();
        names
    }
}

/// Stands in for a serve-only secret while the admin commands check the
/// file: never read, never used (the settings holding it are dropped).
const SERVE_ONLY_SECRET: &str = "<read by serve only>";

impl ConfigFile {
    /// Validates everything as [`ConfigFile::resolve`] does, reading only
    /// the secrets the admin commands need (the database URL); upstream
    /// credentials and the S3 secret key are left unread.
    pub fn resolve_for_admin(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AdminSettings, ConfigError> {
        let mut file = self.clone();
        let unread = || Some(SecretSource::Inline(SERVE_ONLY_SECRET.to_string()));
        for upstream in &mut file.upstreams {
            if upstream.password.is_some() {
                upstream.password = unread();
            }
            if upstream.token.is_some() {
                upstream.token = unread();
            }
        }
        if file.cache.s3.secret_access_key.is_some() {
            file.cache.s3.secret_access_key = unread();
        }
        let settings = file.resolve(env)?;
        Ok(AdminSettings {
            public_url: settings
                .public_host
                .as_ref()
                .map(|host| format!("{}://{host}", settings.public_scheme.as_str())),
            upstreams: settings.upstreams.into_keys().collect(),
            state_dir: settings.state_dir,
            database: settings.database,
            secret_file: settings.secret_file,
        })
    }
}

impl ServerSection {
    /// The connection timeouts and caps, defaults filled in and checked.
    fn connection_limits(&self) -> Result<ConnectionLimits, ConfigError> {
        let timeout = |key: &str, secs: Option<u64>, default: Duration| {
            let value = secs.map_or(default, Duration::from_secs);
            if value.is_zero() || value > MAX_CONNECTION_TIMEOUT {
                return Err(invalid(
                    key,
                    format!(
                        "must be between 1 and {} seconds",
                        MAX_CONNECTION_TIMEOUT.as_secs()
                    ),
                ));
            }
            Ok(value)
        };
        let max_connections = self
            .max_connections
            .unwrap_or(DEFAULT_MAX_CLIENT_CONNECTIONS);
        if max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        Ok(ConnectionLimits {
            header_read_timeout: timeout(
                "server.header_read_timeout_secs",
                self.header_read_timeout_secs,
                DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: timeout(
                "server.idle_timeout_secs",
                self.idle_timeout_secs,
                DEFAULT_IDLE_TIMEOUT,
            )?,
            send_timeout: timeout(
                "server.send_timeout_secs",
                self.send_timeout_secs,
                DEFAULT_SEND_TIMEOUT,
            )?,
            max_connections,
            max_connections_per_ip: self.max_connections_per_ip.filter(|n| *n > 0),
        })
    }
}

/// `[cache] store = "s3://…"` with `[cache.s3]` applied over the URL's
/// options, checked by [`S3Config::validate`]. Fills stage under
/// `<cache.dir>/s3-staging` (local to each replica).
fn resolve_s3(
    url: &str,
    section: &S3Section,
    cache_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Config, ConfigError> {
    if !url.starts_with("s3://") {
        return Err(invalid(
            "cache.store",
            format!("expected \"disk\" or s3://bucket[/prefix], found {url:?}"),
        ));
    }
    let s3_error = |key: &str, e: S3ConfigError| invalid(key, e.to_string());
    let mut config = S3Config::parse_url(url, cache_dir.join("s3-staging"))
        .map_err(|e| s3_error("cache.store", e))?;
    if let Some(endpoint) = &section.endpoint {
        config.endpoint = Some(endpoint.clone());
    }
    if let Some(region) = &section.region {
        config.region = region.clone();
    }
    if let Some(allow) = section.insecure_allow_http {
        config.insecure_allow_http = allow;
    }
    if let Some(serve) = section.serve {
        config.serve = serve;
    }
    if let Some(secs) = section.presign_ttl_secs {
        config.presign_ttl = Duration::from_secs(secs);
    }
    if let Some(size) = section.max_blob_size {
        config.max_blob_size = size;
    }
    config.credentials = match (&section.access_key_id, &section.secret_access_key) {
        (None, None) => None,
        (Some(id), Some(secret)) => Some(S3Credentials {
            access_key_id: id.clone(),
            secret_access_key: read_secret("cache.s3.secret_access_key", secret, env)?,
            session_token: None,
        }),
        _ => {
            return Err(invalid(
                "cache.s3.access_key_id",
                "give access_key_id and secret_access_key together, or neither",
            ));
        }
    };
    // Judged once, after `[cache.s3]` has amended the URL's values: an
    // error names the place the failing value came from.
    config.validate().map_err(|e| {
        let from_section = match &e {
            S3ConfigError::Invalid { field, .. } => match *field {
                "bucket" | "prefix" | "multipart_threshold" => false,
                "region" => section.region.is_some(),
                // A plain-http refusal is also the section's when it set
                // insecure_allow_http; any other endpoint fault is the
                // endpoint's own.
                "endpoint" => {
                    let http_refused = !config.insecure_allow_http
                        && config
                            .endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://"));
                    section.endpoint.is_some()
                        || (http_refused && section.insecure_allow_http.is_some())
                }
                "presign_ttl" => section.presign_ttl_secs.is_some(),
                "max_blob_size" => section.max_blob_size.is_some(),
                _ => true,
            },
            _ => true,
        };
        s3_error(
            if from_section {
                "cache.s3"
            } else {
                "cache.store"
            },
            e,
        )
    })?;
    Ok(config)
}

fn resolve_upstream(
    i: usize,
    section: &UpstreamSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<UpstreamSettings, ConfigError> {
    let key = |k: &str| format!("upstreams[{i}].{k}");
    let name = UpstreamName::new(&section.name)?;
    let url_text = section
        .url
        .clone()
        .unwrap_or_else(|| format!("https://{}", section.name));
    let url = reqwest::Url::parse(&url_text)
        .map_err(|e| invalid(key("url"), format!("{url_text:?}: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if section.insecure_allow_http => {}
        "http" => {
            return Err(invalid(
                key("url"),
                "plain http sends the vendor's credentials unencrypted; set insecure_allow_http = true to allow it",
            ));
        }
        other => {
            return Err(invalid(
                key("url"),
                format!("scheme must be https, found {other:?}"),
            ));
        }
    }
    if url.host_str().is_none()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid(
            key("url"),
            "must be scheme://host[:port] only (no path, query, or user info; the proxy appends /v2/…)",
        ));
    }
    let credentials = match (&section.username, &section.password, &section.token) {
        (None, None, None) => UpstreamCredentials::Anonymous,
        (Some(username), Some(password), None) => UpstreamCredentials::Basic {
            username: username.clone(),
            password: read_secret(&key("password"), password, env)?,
        },
        (None, None, Some(token)) => {
            UpstreamCredentials::Bearer(read_secret(&key("token"), token, env)?)
        }
        _ => {
            return Err(invalid(
                key("username"),
                "give either username + password, or token, or neither (anonymous)",
            ));
        }
    };
    let realm_hosts = section
        .realm_hosts
        .iter()
        .map(|h| RealmHost::parse(h).map_err(|e| invalid(key("realm_hosts"), e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(UpstreamSettings {
        name,
        url,
        credentials,
        allow_http: section.insecure_allow_http,
        realm_hosts,
        allow_internal_redirects: section.insecure_allow_internal_redirects,
    })
}

fn read_secret(
    key: &str,
    source: &SecretSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let value = match source {
        SecretSource::Inline(v) => v.clone(),
        SecretSource::Env { env: var } => env(var)
            .ok_or_else(|| invalid(key, format!("environment variable {var} is not set")))?,
        SecretSource::File { file } => {
            let meta = std::fs::metadata(file)
                .map_err(|e| invalid(key, format!("{}: {e}", file.display())))?;
            if meta.len() > MAX_SECRET_FILE_BYTES {
                return Err(invalid(
                    key,
                    format!(
                        "{} is larger than {MAX_SECRET_FILE_BYTES} bytes",
                        file.display()
                    ),
                ));
            }
            std::fs::read_to_string(file)
                .map_err(|e| invalid(key, format!("{}: {e}", file.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }
    };
    if value.is_empty() {
        return Err(invalid(key, "is empty"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_resolve() {
        let s = ConfigFile::default().resolve(&no_env).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.public_scheme, PublicScheme::Https);
        assert_eq!(s.cache_dir, PathBuf::from(DEFAULT_STATE_DIR).join("cache"));
        assert!(s.upstreams.is_empty());
    }

    #[test]
    fn parses_upstreams_with_secret_sources() {
        let file = ConfigFile::parse(
            r#"
            [server]
            listen = "127.0.0.1:9000"
            [[upstreams]]
            name = "ghcr.io"
            username = "bot"
            password = { env = "GHCR_TOKEN" }
            [[upstreams]]
            name = "local.test"
            url = "http://127.0.0.1:5000"
            insecure_allow_http = true
            token = "t0k"
            "#,
        )
        .unwrap();
        let env = |k: &str| (k == "GHCR_TOKEN").then(|| "s3cret".to_string());
        let s = file.resolve(&env).unwrap();
        let ghcr = &s.upstreams[&UpstreamName::new("ghcr.io").unwrap()];
        assert_eq!(ghcr.url.as_str(), "https://ghcr.io/");
        assert_eq!(
            ghcr.credentials,
            UpstreamCredentials::Basic {
                username: "bot".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{:?}", ghcr.credentials).contains("s3cret"));
        let local = &s.upstreams[&UpstreamName::new("local.test").unwrap()];
        assert_eq!(local.credentials, UpstreamCredentials::Bearer("t0k".into()));
    }

    #[test]
    fn refuses_unsafe_or_malformed_upstreams() {
        for (toml, needle) in [
            (
                "name = \"x.io\"\nurl = \"http://x.io\"",
                "insecure_allow_http",
            ),
            ("name = \"x.io\"\nurl = \"https://x.io/v2\"", "no path"),
            ("name = \"x.io\"\nurl = \"https://u:p@x.io\"", "user info"),
            ("name = \"x.io\"\nurl = \"file:///etc\"", "scheme"),
            (
                "name = \"x.io\"\nrealm_hosts = [\"https://auth.x.io\"]",
                "realm_hosts",
            ),
            (
                "name = \"x.io\"\nrealm_hosts = [\"auth.x.io/token\"]",
                "realm_hosts",
            ),
            ("name = \"X.io\"", "invalid repository name"),
            ("name = \"x.io:5000\"", "invalid repository name"),
            (
                "name = \"x.io\"\nusername = \"u\"",
                "either username + password",
            ),
            (
                "name = \"x.io\"\npassword = { env = \"NOPE\" }\nusername = \"u\"",
                "NOPE is not set",
            ),
        ] {
            let file = ConfigFile::parse(&format!("[[upstreams]]\n{toml}\n")).unwrap();
            let err = file.resolve(&no_env).unwrap_err().to_string();
            assert!(err.contains(needle), "{toml}: {err}");
        }
        let twice =
            ConfigFile::parse("[[upstreams]]\nname = \"a.io\"\n[[upstreams]]\nname = \"a.io\"\n")
                .unwrap();
        assert!(
            twice
                .resolve(&no_env)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn admin_settings_leave_serve_only_secrets_unread() {
        let file = ConfigFile::parse(
            r#"
            [state]
            dir = "/srv/state"
            database_url = { env = "DB" }
            [cache]
            store = "s3://bucket/prefix"
            [cache.s3]
            access_key_id = "AKIA"
            secret_access_key = { file = "/nonexistent/s3-secret" }
            [[upstreams]]
            name = "ghcr.io"
            username = "bot"
            password = { env = "GHCR_TOKEN" }
            [[upstreams]]
            name = "quay.io"
            token = { file = "/nonexistent/quay-token" }
            "#,
        )
        .unwrap();
        let env = |k: &str| (k == "DB").then(|| "postgres://vouch@db/vouch".to_string());
        let err = file.resolve(&env).unwrap_err().to_string();
        assert!(err.contains("GHCR_TOKEN is not set"), "{err}");
        let admin = file.resolve_for_admin(&env).unwrap();
        let names: Vec<_> = admin.upstream_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["ghcr.io", "quay.io"]);
        assert_eq!(admin.database.unwrap().url, "postgres://vouch@db/vouch");
        assert_eq!(admin.secret_file, Path::new("/srv/state/secret.key"));
        // The database URL is read: the admin commands need it.
        let err = file.resolve_for_admin(&no_env).unwrap_err().to_string();
        assert!(err.contains("state.database_url"), "{err}");
        // Everything else is still judged.
        let mut bad = file.clone();
        bad.upstreams[0].token = bad.upstreams[1].token.clone();
        let err = bad.resolve_for_admin(&env).unwrap_err().to_string();
        assert!(err.contains("upstreams[0].username"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = ConfigFile::parse("[server]\nlisten_addr = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut file = ConfigFile::parse("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let env = |k: &str| match k {
            "VOUCH_PROXY_LISTEN" => Some("127.0.0.1:2".to_string()),
            "VOUCH_PROXY_RATE_LIMIT_RPS" => Some("0".to_string()),
            "VOUCH_PROXY_CACHE_MAX_BYTES" => Some("1024".to_string()),
            _ => None,
        };
        file.apply_env(&env).unwrap();
        let s = file.resolve(&no_env).unwrap();
        assert_eq!(s.listen.port(), 2);
        assert_eq!(s.rate_limit, None);
        assert_eq!(s.cache_max_bytes, 1024);
        let bad = |k: &str| (k == "VOUCH_PROXY_CACHE_MAX_BYTES").then(|| "lots".to_string());
        assert!(
            file.apply_env(&bad)
                .unwrap_err()
                .to_string()
                .contains("VOUCH_PROXY_CACHE_MAX_BYTES")
        );
    }

    #[test]
    fn token_ttl_is_bounded() {
        for secs in [10, 100_000] {
            let file = ConfigFile::parse(&format!("[server]\ntoken_ttl_secs = {secs}\n")).unwrap();
            assert!(file.resolve(&no_env).is_err(), "{secs}");
        }
    }

    #[test]
    fn scale_out_backends_resolve_and_never_show_secrets() {
        let file = ConfigFile::parse(
            r#"
            [state]
            dir = "/tmp/vp"
            database_url = { env = "DB" }
            max_connections = 4
            secret_file = "/run/secrets/vp.key"
            [cache]
            store = "s3://vouch-cache/prod/eu"
            [cache.s3]
            endpoint = "http://127.0.0.1:9000"
            insecure_allow_http = true
            access_key_id = "AKID"
            secret_access_key = { env = "S3_SECRET" }
            serve = "redirect"
            presign_ttl_secs = 60
            "#,
        )
        .unwrap();
        let env = |k: &str| match k {
            "DB" => Some("postgres://vouch:pw0rd@127.0.0.1:5432/vouch".to_string()),
            "S3_SECRET" => Some("sk3cret".to_string()),
            _ => None,
        };
        let s = file.resolve(&env).unwrap();
        let db = s.database.as_ref().unwrap();
        assert_eq!(db.max_connections, 4);
        assert_eq!(db.url, "postgres://vouch:pw0rd@127.0.0.1:5432/vouch");
        assert_eq!(s.secret_path(), PathBuf::from("/run/secrets/vp.key"));
        let s3 = s.s3.as_ref().unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("vouch-cache", "prod/eu")
        );
        assert_eq!(s3.serve, S3Serve::Redirect);
        assert_eq!(s3.presign_ttl, Duration::from_secs(60));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.staging_dir, PathBuf::from("/tmp/vp/cache/s3-staging"));
        let credentials = s3.credentials.as_ref().unwrap();
        assert_eq!(
            (
                credentials.access_key_id.as_str(),
                credentials.secret_access_key.as_str()
            ),
            ("AKID", "sk3cret")
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("pw0rd") && !shown.contains("sk3cret"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://vouch:***@127.0.0.1:5432/vouch"),
            "{shown}"
        );

        // Defaults: SQLite, disk, secret beside the database.
        let s = ConfigFile::default().resolve(&no_env).unwrap();
        assert!(s.database.is_none() && s.s3.is_none());
        assert_eq!(
            s.secret_path(),
            PathBuf::from(DEFAULT_STATE_DIR).join("secret.key")
        );
    }

    #[test]
    fn the_s3_section_wins_over_the_url_before_anything_is_judged() {
        // The URL alone would be refused (http endpoint, TTL 0); the section
        // supplies what makes it valid, so the whole is accepted.
        let file = ConfigFile::parse(
            "[cache]\nstore = \"s3://b-1/p?endpoint=http://127.0.0.1:9000&presign_ttl_secs=0&region=eu-west-1\"\n\
             [cache.s3]\ninsecure_allow_http = true\npresign_ttl_secs = 30\n",
        )
        .unwrap();
        let s = file.resolve(&no_env).unwrap();
        let s3 = s.s3.as_ref().unwrap();
        assert!(s3.insecure_allow_http);
        assert_eq!(s3.presign_ttl, Duration::from_secs(30));
        assert_eq!(s3.region, "eu-west-1");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        // And the other way round: a section value that spoils a good URL.
        let file = ConfigFile::parse(
            "[cache]\nstore = \"s3://b-1?insecure_allow_http=true&endpoint=http://127.0.0.1:9000\"\n\
             [cache.s3]\ninsecure_allow_http = false\n",
        )
        .unwrap();
        let err = file.resolve(&no_env).unwrap_err().to_string();
        assert!(err.contains("cache.s3: S3 endpoint"), "{err}");
    }

    #[test]
    fn scale_out_backends_refuse_what_cannot_work() {
        let cases = [
            (
                "[state]\ndatabase_url = \"mysql://u:hunter2@h/db\"",
                "expected a postgres:// or postgresql:// URL, found mysql://u:***@h/db",
            ),
            (
                "[cache]\nstore = \"gs://b\"",
                "expected \"disk\" or s3://bucket[/prefix]",
            ),
            (
                "[cache]\nstore = \"s3://Bad_Bucket\"",
                "cache.store: S3 bucket: expected 3–63 characters",
            ),
            (
                "[cache]\nstore = \"s3://bucket/a/../b\"",
                "cache.store: S3 prefix: expected",
            ),
            (
                "[cache]\nstore = \"s3://bucket\"\n[cache.s3]\nendpoint = \"http://127.0.0.1:9000\"",
                "cache.s3: S3 endpoint: expected `https://` (`http://` needs insecure_allow_http)",
            ),
            (
                "[cache]\nstore = \"s3://bucket?endpoint=http://127.0.0.1:9000\"",
                "cache.store: S3 endpoint: expected `https://` (`http://` needs insecure_allow_http)",
            ),
            (
                "[cache]\nstore = \"s3://bucket?endpoint=https://minio:9000/path\"\n[cache.s3]\ninsecure_allow_http = true",
                "cache.store: S3 endpoint: expected scheme://host[:port] only",
            ),
            (
                "[cache]\nstore = \"s3://bucket?region=EU\"\n[cache.s3]\npresign_ttl_secs = 60",
                "cache.store: S3 region: expected a region name",
            ),
            (
                "[cache]\nstore = \"s3://bucket?max_blob_size=5\"\n[cache.s3]\nmax_blob_size = 0",
                "cache.s3: S3 max_blob_size: expected 1 byte to 5 TiB",
            ),
            (
                "[cache]\nstore = \"s3://bucket\"\n[cache.s3]\naccess_key_id = \"AKID\"",
                "give access_key_id and secret_access_key together",
            ),
            (
                "[cache]\nstore = \"s3://bucket\"\n[cache.s3]\npresign_ttl_secs = 0",
                "cache.s3: S3 presign_ttl: expected 1 s to 7 days",
            ),
        ];
        for (text, expected) in cases {
            let err = ConfigFile::parse(text)
                .unwrap()
                .resolve(&no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = ConfigFile::parse("[cache.s3]\nserve = \"proxy\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown variant `proxy`, expected `stream` or `redirect`"),
            "{err}"
        );
    }

    #[test]
    fn scale_out_environment_overrides() {
        let mut file = ConfigFile::default();
        let env = |k: &str| match k {
            "VOUCH_PROXY_DATABASE_URL" => Some("postgresql://db/vouch".to_string()),
            "VOUCH_PROXY_BLOB_STORE" => Some("s3://cache-bucket".to_string()),
            "VOUCH_PROXY_SECRET_FILE" => Some("/etc/vp.key".to_string()),
            _ => None,
        };
        file.apply_env(&env).unwrap();
        let s = file.resolve(&no_env).unwrap();
        assert_eq!(s.database.unwrap().url, "postgresql://db/vouch");
        let s3 = s.s3.unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("cache-bucket", "")
        );
        assert_eq!(s.secret_file, PathBuf::from("/etc/vp.key"));
    }
}

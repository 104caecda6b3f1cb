//! S3-compatible object storage for cached content (AWS S3, MinIO, R2,
//! moto…), on the `object_store` crate.
//!
//! ```text
//! <prefix>/manifests/sha256/<hex>   exact bytes; Content-Type = the manifest's media type
//! <prefix>/blobs/sha256/<hex>       exact bytes; Content-Type = application/octet-stream;
//!                                   x-amz-meta-vouch-verified-size = their verified size
//! ```
//!
//! Keys are content-addressed, so replicas sharing a bucket need no
//! locking: two replicas importing one digest write identical bytes and
//! the last complete upload wins. An object becomes visible only when its
//! upload completes (a single `PUT`, or `CompleteMultipartUpload` above
//! [`MULTIPART_THRESHOLD_BYTES`]), so a replica killed mid-upload leaves no
//! object under a digest key — at most an incomplete multipart upload,
//! which a bucket lifecycle rule (`AbortIncompleteMultipartUpload`)
//! removes. Nothing unverified is ever uploaded: blobs come from
//! [`super::fill`] only after their digest matched, manifests are hashed
//! here before the `PUT`, and a manifest read back is hashed again.
//!
//! The store does not bound its size (no LRU): expire content with a
//! bucket lifecycle rule. Blobs are served either through the proxy
//! ([`S3Serve::Stream`], ranged `GET`s) or by a presigned `307` redirect
//! ([`S3Serve::Redirect`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer as _;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt as _;

use super::{
    BlobAccess, BlobBody, BlobHandle, BlobStore, ByteStream, CacheError, CacheFuture,
    MAX_STORED_MANIFEST_BYTES, RangeRead, StoredManifest, check_media_type, io,
};
use crate::memo::TtlMap;
use crate::names::Digest;

/// Region used when none is given: SigV4 needs one, and MinIO, moto and
/// R2 accept `us-east-1` (R2 also `auto`).
pub const DEFAULT_REGION: &str = "us-east-1";
/// How long a presigned blob URL is valid by default. Clients follow the
/// redirect at once and S3 checks the expiry only when a request starts,
/// so a long download is not cut; a resumed download (a `Range` request
/// to the same URL) still works for this long. Short, so a leaked URL is
/// of little use.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);
/// Longest presign TTL: SigV4 query authentication caps `X-Amz-Expires`
/// at 604 800 s (7 days).
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Largest blob accepted by default: 10 GiB, the disk cache's default
/// size (the bound that limits blobs in the embedded store).
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 10 * 1024 * 1024 * 1024;
/// Largest object S3 stores (5 TiB); `max_blob_size` may not exceed it.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Blobs of at least this size are uploaded in parts; smaller ones in one
/// `PUT` (read into memory, so this also bounds the memory of an import).
pub const MULTIPART_THRESHOLD_BYTES: u64 = 16 * 1024 * 1024;
/// Largest single `PUT` S3 accepts (5 GiB); the multipart threshold may
/// not exceed it.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB for every part
/// but the last); grown for blobs that would need more than
/// [`MAX_PARTS`] parts.
pub const MULTIPART_PART_BYTES: u64 = 8 * 1024 * 1024;
/// Most parts in one multipart upload (S3's limit).
pub const MAX_PARTS: u64 = 10_000;
/// Parts of one upload in flight at once: memory per import is this
/// times the part size (32 MiB by default).
pub const UPLOAD_CONCURRENCY: usize = 4;
/// Longest key prefix (S3 keys are at most 1024 bytes; the longest suffix,
/// `/manifests/sha512/<128 hex>`, is 147).
pub const MAX_PREFIX_LEN: usize = 512;
/// Connect timeout for storage requests (the same as for upstreams).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the next bytes of a storage response (the same as for
/// upstreams). There is no overall request timeout: a blob streamed to a
/// slow client may take long.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries of a failed storage request (object_store retries 5xx,
/// throttling and connection errors with exponential backoff).
pub const MAX_RETRIES: usize = 3;
/// Longest time spent retrying one storage request.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variables read when [`S3Config::credentials`] is not
/// set: the standard AWS credential chain (static keys, web identity,
/// ECS/EKS container credentials), then instance metadata (IMDSv2).
/// Nothing else comes from the environment, so no variable can turn off
/// TLS or signing, or move the bucket.
pub const CREDENTIAL_ENV_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
];
/// Content type of blob objects (what a presigned GET answers with).
const BLOB_CONTENT_TYPE: &str = "application/octet-stream";
/// User metadata every blob object carries (`x-amz-meta-vouch-verified-size`):
/// the size at which its bytes hashed to its digest. An object whose size
/// differs, or that lacks it (rewritten, truncated or restored behind the
/// proxy's back, or stored by a version before it), is not served: it is a
/// cache miss, fetched from the upstream, verified and stored again.
const VERIFIED_SIZE: &str = "vouch-verified-size";
/// Name prefix of the files [`super::fill`] stages (removed at start).
const STAGED_FILE_PREFIX: &str = "b-";

/// How blobs are delivered to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S3Serve {
    /// The proxy streams the object (a ranged `GET` for `Range`). Storage
    /// needs no public reachability; all bytes pass through the proxy.
    #[default]
    Stream,
    /// `GET` answers `307` to a presigned URL valid for
    /// [`S3Config::presign_ttl`]; clients download from storage directly
    /// (it honours `Range`). `HEAD` is still answered by the proxy.
    Redirect,
}

impl std::str::FromStr for S3Serve {
    type Err = S3ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stream" => Ok(Self::Stream),
            "redirect" => Ok(Self::Redirect),
            other => Err(S3ConfigError::Invalid {
                field: "serve",
                expected: "`stream` or `redirect`",
                found: other.to_string(),
            }),
        }
    }
}

/// Static credentials for the bucket.
#[derive(Clone)]
pub struct S3Credentials {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key (never printed).
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where and how content is stored in an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Bucket name (3–63 of `a-z 0-9 . -`).
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint for non-AWS storage (MinIO, moto, R2), e.g.
    /// `https://minio.internal:9000`; `None` for AWS. Requests use
    /// path-style addressing (`<endpoint>/<bucket>/<key>`).
    pub endpoint: Option<String>,
    /// SigV4 region.
    pub region: String,
    /// Static credentials; `None` reads [`CREDENTIAL_ENV_VARS`] and then
    /// instance metadata.
    pub credentials: Option<S3Credentials>,
    /// Allow an `http://` endpoint (loopback tests, trusted networks).
    pub insecure_allow_http: bool,
    /// How blobs are served.
    pub serve: S3Serve,
    /// Validity of presigned URLs ([`S3Serve::Redirect`]).
    pub presign_ttl: Duration,
    /// Largest blob cached (larger ones are refused with a 502).
    pub max_blob_size: u64,
    /// Blobs of at least this size are uploaded in parts.
    pub multipart_threshold: u64,
    /// Local directory where fills stage blobs while they download and are
    /// hashed (one per replica; staging leftovers are deleted at start).
    pub staging_dir: PathBuf,
}

/// Why an S3 configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3ConfigError {
    /// A value does not have the expected form.
    #[error("S3 {field}: expected {expected}, found {found:?}")]
    Invalid {
        /// Which setting.
        field: &'static str,
        /// What is accepted.
        expected: &'static str,
        /// What was given (never a secret).
        found: String,
    },
    /// The URL carries credentials.
    #[error(
        "S3 URL: credentials do not belong in the URL (found `user@` before the bucket); give them \
         as access key settings or through the AWS environment"
    )]
    CredentialsInUrl,
    /// A URL option was given twice.
    #[error("S3 URL: option {0:?} given twice")]
    DuplicateOption(String),
    /// `object_store` refused the configuration.
    #[error("S3 client for bucket {bucket}: {source}")]
    Client {
        /// The bucket.
        bucket: String,
        /// Why.
        source: object_store::Error,
    },
    /// The staging directory could not be prepared.
    #[error("S3 staging directory {}: {source}", path.display())]
    Staging {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl S3Config {
    /// A configuration with defaults for everything but where the content
    /// goes: region [`DEFAULT_REGION`], AWS endpoint, credentials from the
    /// environment, [`S3Serve::Stream`], [`DEFAULT_PRESIGN_TTL`],
    /// [`DEFAULT_MAX_BLOB_SIZE`], [`MULTIPART_THRESHOLD_BYTES`].
    pub fn new(bucket: &str, prefix: &str, staging_dir: PathBuf) -> Self {
        Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: DEFAULT_REGION.to_string(),
            credentials: None,
            insecure_allow_http: false,
            serve: S3Serve::Stream,
            presign_ttl: DEFAULT_PRESIGN_TTL,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            multipart_threshold: MULTIPART_THRESHOLD_BYTES,
            staging_dir,
        }
    }

    /// Parses `s3://<bucket>[/<prefix>][?<option>=<value>&…]`. Options:
    /// `region`, `endpoint`, `serve` (`stream`|`redirect`),
    /// `presign_ttl_secs`, `max_blob_size`, `multipart_threshold`,
    /// `insecure_allow_http` (`true`|`false`). Credentials are not
    /// accepted in the URL. The result is checked as by [`Self::validate`].
    pub fn from_url(url: &str, staging_dir: PathBuf) -> Result<Self, S3ConfigError> {
        let config = Self::parse_url(url, staging_dir)?;
        config.validate()?;
        Ok(config)
    }

    /// [`Self::from_url`] without the final [`Self::validate`], for a caller
    /// that amends the result first (the proxy's `[cache.s3]` section wins
    /// over the URL, so a URL value it replaces must not be judged alone).
    pub(crate) fn parse_url(url: &str, staging_dir: PathBuf) -> Result<Self, S3ConfigError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3ConfigError::Invalid {
                field: "URL",
                expected: "`s3://<bucket>[/<prefix>][?options]`",
                found: url.to_string(),
            })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.contains('@') {
            return Err(S3ConfigError::CredentialsInUrl);
        }
        let mut config = Self::new(bucket, prefix, staging_dir);
        let mut seen = std::collections::HashSet::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(key.to_string()) {
                return Err(S3ConfigError::DuplicateOption(key.into_owned()));
            }
            config.set_option(&key, &value)?;
        }
        Ok(config)
    }

    fn set_option(&mut self, key: &str, value: &str) -> Result<(), S3ConfigError> {
        let number = |field: &'static str| {
            value.parse::<u64>().map_err(|_| S3ConfigError::Invalid {
                field,
                expected: "a whole number",
                found: value.to_string(),
            })
        };
        match key {
            "region" => self.region = value.to_string(),
            "endpoint" => self.endpoint = Some(value.to_string()),
            "serve" => self.serve = value.parse()?,
            "presign_ttl_secs" => {
                self.presign_ttl = Duration::from_secs(number("presign_ttl_secs")?)
            }
            "max_blob_size" => self.max_blob_size = number("max_blob_size")?,
            "multipart_threshold" => self.multipart_threshold = number("multipart_threshold")?,
            "insecure_allow_http" => {
                self.insecure_allow_http = match value {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(S3ConfigError::Invalid {
                            field: "insecure_allow_http",
                            expected: "`true` or `false`",
                            found: other.to_string(),
                        });
                    }
                }
            }
            other => {
                return Err(S3ConfigError::Invalid {
                    field: "URL option",
                    expected: "one of region, endpoint, serve, presign_ttl_secs, max_blob_size, \
                               multipart_threshold, insecure_allow_http",
                    found: other.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Checks every value: bucket and prefix syntax, region, endpoint
    /// (`https`, or `http` only with `insecure_allow_http`; no user, path,
    /// query), presign TTL within 1 s ..= [`MAX_PRESIGN_TTL`], blob and
    /// multipart sizes within S3's limits, credentials complete.
    pub fn validate(&self) -> Result<(), S3ConfigError> {
        let invalid = |field, expected, found: &str| S3ConfigError::Invalid {
            field,
            expected,
            found: found.to_string(),
        };
        let b = self.bucket.as_bytes();
        if !(3..=63).contains(&b.len())
            || !b
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(c))
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return Err(invalid(
                "bucket",
                "3–63 characters of a-z, 0-9, `.`, `-`, starting and ending with a letter or digit",
                &self.bucket,
            ));
        }
        if self.prefix.len() > MAX_PREFIX_LEN
            || (!self.prefix.is_empty()
                && !self.prefix.split('/').all(|segment| {
                    !segment.is_empty()
                        && segment != "."
                        && segment != ".."
                        && segment
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
                }))
        {
            return Err(invalid(
                "prefix",
                "`/`-separated segments of A-Z, a-z, 0-9, `.`, `_`, `-` (not `.` or `..`), at most 512 bytes",
                &self.prefix,
            ));
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(invalid(
                "region",
                "a region name such as `eu-west-1`",
                &self.region,
            ));
        }
        if let Some(endpoint) = &self.endpoint {
            self.validate_endpoint(endpoint)?;
        }
        if self.presign_ttl < Duration::from_secs(1) || self.presign_ttl > MAX_PRESIGN_TTL {
            return Err(invalid(
                "presign_ttl",
                "1 s to 7 days (SigV4's limit)",
                &format!("{} s", self.presign_ttl.as_secs()),
            ));
        }
        if self.max_blob_size == 0 || self.max_blob_size > MAX_OBJECT_BYTES {
            return Err(invalid(
                "max_blob_size",
                "1 byte to 5 TiB (S3's object limit)",
                &self.max_blob_size.to_string(),
            ));
        }
        if self.multipart_threshold == 0 || self.multipart_threshold > MAX_SINGLE_PUT_BYTES {
            return Err(invalid(
                "multipart_threshold",
                "1 byte to 5 GiB (S3's single PUT limit)",
                &self.multipart_threshold.to_string(),
            ));
        }
        if let Some(c) = &self.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            return Err(invalid(
                "credentials",
                "both an access key ID and a secret access key",
                if c.access_key_id.is_empty() {
                    "no access key ID"
                } else {
                    "no secret access key"
                },
            ));
        }
        Ok(())
    }

    fn validate_endpoint(&self, endpoint: &str) -> Result<(), S3ConfigError> {
        let invalid = |expected| S3ConfigError::Invalid {
            field: "endpoint",
            expected,
            // The URL may carry a password: show only its scheme and host.
            found: reqwest::Url::parse(endpoint)
                .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
                .unwrap_or_else(|_| "an unparsable URL".to_string()),
        };
        let url = reqwest::Url::parse(endpoint)
            .map_err(|_| invalid("an absolute URL such as `https://minio.internal:9000`"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("no credentials in the endpoint URL"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "scheme://host[:port] only (path-style requests add the bucket)",
            ));
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.insecure_allow_http => Ok(()),
            "http" => Err(invalid("`https://` (`http://` needs insecure_allow_http)")),
            _ => Err(invalid("an `https://` URL")),
        }
    }
}

/// What kind of content a key holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Manifest,
    Blob,
}

/// Content in an S3-compatible bucket.
#[derive(Debug)]
pub struct S3Store {
    client: Arc<AmazonS3>,
    config: S3Config,
    /// Small manifests read or written recently. Content-addressed, so an
    /// entry can never be stale; it saves an object-store round trip
    /// (tens of milliseconds on real S3) on every manifest GET.
    recent_manifests: TtlMap<Digest, StoredManifest>,
    /// Sizes of blobs known to be stored, so a cached blob GET costs no
    /// `HEAD` round trip (which bounded redirect mode at the object store's
    /// latency). Short-lived: an object a lifecycle rule deletes is noticed
    /// within [`KNOWN_BLOB_TTL`].
    known_blobs: TtlMap<Digest, u64>,
}

/// How long a stored blob's size is trusted without asking the store.
pub const KNOWN_BLOB_TTL: Duration = Duration::from_secs(60);
/// How many blob sizes are remembered (~100 bytes each).
pub const KNOWN_BLOBS: usize = 65_536;

/// Manifests up to this size are kept in [`S3Store`]'s memory.
pub const MEMORY_MANIFEST_BYTES: usize = 64 * 1024;
/// How many manifests are kept in memory (at most 64 MiB with
/// [`MEMORY_MANIFEST_BYTES`]; typically ~2 KiB each).
pub const MEMORY_MANIFESTS: usize = 1024;
/// How long a remembered manifest is reused (only to let memory turn over).
const MEMORY_MANIFEST_TTL: Duration = Duration::from_secs(3600);

fn storage(
    operation: &'static str,
    key: &ObjectPath,
) -> impl FnOnce(object_store::Error) -> CacheError {
    let key = key.to_string();
    move |source| CacheError::Storage {
        operation,
        key,
        source,
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl S3Store {
    /// Builds the store from `config` (checked with [`S3Config::validate`];
    /// credentials from the AWS environment when not given) and prepares
    /// the staging directory, deleting fills left by an earlier run.
    /// Blocking; makes no request (see [`Self::probe`]).
    pub fn new(config: S3Config) -> Result<Self, S3ConfigError> {
        Self::with_env(config, &|name| std::env::var(name).ok())
    }

    /// [`Self::new`] with the environment given as a function (tests).
    pub fn with_env(
        config: S3Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, S3ConfigError> {
        config.validate()?;
        let client_options = ClientOptions::new()
            .with_allow_http(config.insecure_allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_read_timeout(READ_TIMEOUT)
            .with_timeout_disabled();
        let retry = RetryConfig {
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_client_options(client_options)
            .with_retry(retry);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        match &config.credentials {
            Some(c) => {
                builder = builder
                    .with_access_key_id(&c.access_key_id)
                    .with_secret_access_key(&c.secret_access_key);
                if let Some(token) = &c.session_token {
                    builder = builder.with_token(token);
                }
            }
            None => {
                for name in CREDENTIAL_ENV_VARS {
                    if let Some(value) = env(name) {
                        let key: AmazonS3ConfigKey = name
                            .to_ascii_lowercase()
                            .parse()
                            .expect("object_store knows every credential variable");
                        builder = builder.with_config(key, value);
                    }
                }
            }
        }
        let client = builder.build().map_err(|source| S3ConfigError::Client {
            bucket: config.bucket.clone(),
            source,
        })?;
        prepare_staging(&config.staging_dir)?;
        Ok(Self {
            client: Arc::new(client),
            config,
            recent_manifests: TtlMap::new(MEMORY_MANIFEST_TTL, MEMORY_MANIFESTS),
            known_blobs: TtlMap::new(KNOWN_BLOB_TTL, KNOWN_BLOBS),
        })
    }

    fn remember(&self, digest: &Digest, manifest: &StoredManifest) {
        if manifest.bytes.len() <= MEMORY_MANIFEST_BYTES {
            self.recent_manifests
                .insert(digest.clone(), manifest.clone());
        }
    }

    /// Checks that the bucket exists and answers with these credentials
    /// (lists at most one key under the prefix): call at start to fail
    /// early. A `HEAD` would not do: S3 answers a missing bucket with the
    /// same bodiless 404 as a missing key.
    pub async fn probe(&self) -> Result<(), CacheError> {
        let prefix = self.key_for("blobs", "");
        self.client
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(storage("probe", &prefix))
    }

    /// The object key of a manifest (for operators and tests).
    pub fn manifest_key(&self, digest: &Digest) -> String {
        self.key(Kind::Manifest, digest).to_string()
    }

    /// The object key of a blob (for operators and tests).
    pub fn blob_key(&self, digest: &Digest) -> String {
        self.key(Kind::Blob, digest).to_string()
    }

    fn key(&self, kind: Kind, digest: &Digest) -> ObjectPath {
        let dir = match kind {
            Kind::Manifest => "manifests",
            Kind::Blob => "blobs",
        };
        self.key_for(
            dir,
            &format!("{}/{}", digest.algorithm().name(), digest.hex()),
        )
    }

    fn key_for(&self, dir: &str, rest: &str) -> ObjectPath {
        if self.config.prefix.is_empty() {
            ObjectPath::from(format!("{dir}/{rest}"))
        } else {
            ObjectPath::from(format!("{}/{dir}/{rest}", self.config.prefix))
        }
    }

    /// Asks the bucket what it holds under blob `key` (a `HEAD`).
    async fn stored_blob(&self, key: &ObjectPath) -> Result<StoredBlob, CacheError> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.client.get_opts(key, options).await {
            Ok(head) => Ok(StoredBlob::judge(head.meta.size, &head.attributes)),
            Err(e) if is_not_found(&e) => Ok(StoredBlob::Missing),
            Err(e) => Err(storage("stat", key)(e)),
        }
    }

    async fn upload_single(
        &self,
        key: &ObjectPath,
        staged: &Path,
        size: u64,
    ) -> Result<(), CacheError> {
        let data = tokio::fs::read(staged).await.map_err(io("read", staged))?;
        if data.len() as u64 != size {
            return Err(CacheError::StagedSize {
                path: staged.to_path_buf(),
                expected: size,
                found: data.len() as u64,
            });
        }
        let options = PutOptions {
            attributes: blob_attributes(size),
            ..PutOptions::default()
        };
        self.client
            .put_opts(key, PutPayload::from(data), options)
            .await
            .map_err(storage("upload", key))?;
        Ok(())
    }

    async fn upload_multipart(
        &self,
        key: &ObjectPath,
        staged: &Path,
        size: u64,
    ) -> Result<(), CacheError> {
        let part_size = MULTIPART_PART_BYTES.max(size.div_ceil(MAX_PARTS));
        let options = PutMultipartOptions {
            attributes: blob_attributes(size),
            ..PutMultipartOptions::default()
        };
        let upload = self
            .client
            .put_multipart_opts(key, options)
            .await
            .map_err(storage("start multipart upload", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size as usize);
        let result = async {
            let mut file = tokio::fs::File::open(staged)
                .await
                .map_err(io("open", staged))?;
            let mut sent = 0u64;
            let mut buf = vec![0u8; part_size as usize];
            loop {
                let n = read_full(&mut file, &mut buf)
                    .await
                    .map_err(io("read", staged))?;
                if n == 0 {
                    break;
                }
                sent += n as u64;
                if sent > size {
                    break;
                }
                writer
                    .wait_for_capacity(UPLOAD_CONCURRENCY)
                    .await
                    .map_err(storage("upload part", key))?;
                writer.write(&buf[..n]);
            }
            if sent != size {
                return Err(CacheError::StagedSize {
                    path: staged.to_path_buf(),
                    expected: size,
                    found: sent,
                });
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .map_err(storage("complete multipart upload", key))?;
                Ok(())
            }
            Err(e) => {
                // Nothing became visible; free the uploaded parts now
                // rather than leaving them to the lifecycle rule.
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key = %key, error = %abort, "could not abort multipart upload; the bucket's lifecycle rule will remove it");
                }
                Err(e)
            }
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn content_type(value: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, value.to_string().into());
    attributes
}

/// The attributes of a blob object of `size` verified bytes.
fn blob_attributes(size: u64) -> Attributes {
    let mut attributes = content_type(BLOB_CONTENT_TYPE);
    attributes.insert(
        Attribute::Metadata(VERIFIED_SIZE.into()),
        size.to_string().into(),
    );
    attributes
}

/// What the bucket holds under a blob's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredBlob {
    /// No object.
    Missing,
    /// An object of the size recorded when its digest was verified.
    Verified(u64),
    /// An object whose size is not the verified one (`recorded`; `None`:
    /// no record).
    Damaged {
        /// The object's size.
        size: u64,
        /// The verified size recorded with it.
        recorded: Option<u64>,
    },
}

impl StoredBlob {
    /// Judges an object of `size` bytes with `attributes`.
    fn judge(size: u64, attributes: &Attributes) -> Self {
        let recorded = attributes
            .get(&Attribute::Metadata(VERIFIED_SIZE.into()))
            .and_then(|v| v.parse::<u64>().ok());
        if recorded == Some(size) {
            Self::Verified(size)
        } else {
            Self::Damaged { size, recorded }
        }
    }
}

/// Creates the staging directory and deletes fill files left in it.
fn prepare_staging(dir: &Path) -> Result<(), S3ConfigError> {
    let staging = |source| S3ConfigError::Staging {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(staging)?;
    for entry in std::fs::read_dir(dir).map_err(staging)? {
        let entry = entry.map_err(staging)?;
        let is_fill = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(STAGED_FILE_PREFIX));
        if is_fill && entry.file_type().map_err(staging)?.is_file() {
            std::fs::remove_file(entry.path()).map_err(staging)?;
        }
    }
    Ok(())
}

/// Reads byte ranges of one object.
#[derive(Debug)]
struct ObjectReader {
    client: Arc<AmazonS3>,
    key: ObjectPath,
}

impl RangeRead for ObjectReader {
    fn read_range(&self, range: std::ops::Range<u64>) -> CacheFuture<'_, ByteStream> {
        Box::pin(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..GetOptions::default()
            };
            let result = self
                .client
                .get_opts(&self.key, options)
                .await
                .map_err(storage("read", &self.key))?;
            let stream = result
                .into_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other));
            Ok(Box::pin(stream) as ByteStream)
        })
    }
}

impl BlobStore for S3Store {
    fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>> {
        Box::pin(async move {
            if let Some(manifest) = self.recent_manifests.get(digest) {
                return Ok(Some(manifest));
            }
            let key = self.key(Kind::Manifest, digest);
            let result = match self.client.get_opts(&key, GetOptions::default()).await {
                Ok(result) => result,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(storage("read", &key)(e)),
            };
            if result.meta.size > MAX_STORED_MANIFEST_BYTES {
                return Err(CacheError::Damaged(digest.clone()));
            }
            let media_type = result
                .attributes
                .get(&Attribute::ContentType)
                .map(|v| v.as_ref().to_string())
                .filter(|m| check_media_type(m).is_ok())
                .ok_or_else(|| CacheError::Damaged(digest.clone()))?;
            let bytes: Bytes = result.bytes().await.map_err(storage("read", &key))?;
            let manifest = StoredManifest { media_type, bytes };
            // Others may write to a shared bucket: check what we read.
            manifest
                .verify(digest)
                .map_err(|_| CacheError::Damaged(digest.clone()))?;
            self.remember(digest, &manifest);
            Ok(Some(manifest))
        })
    }

    fn put_manifest<'a>(
        &'a self,
        digest: &'a Digest,
        manifest: &'a StoredManifest,
    ) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            manifest.verify(digest)?;
            manifest.check_storable(digest)?;
            let key = self.key(Kind::Manifest, digest);
            let options = PutOptions {
                attributes: content_type(&manifest.media_type),
                ..PutOptions::default()
            };
            self.client
                .put_opts(&key, PutPayload::from(manifest.bytes.clone()), options)
                .await
                .map_err(storage("upload", &key))?;
            self.remember(digest, manifest);
            Ok(())
        })
    }

    fn blob<'a>(
        &'a self,
        digest: &'a Digest,
        access: BlobAccess,
    ) -> CacheFuture<'a, Option<BlobHandle>> {
        Box::pin(async move {
            let key = self.key(Kind::Blob, digest);
            let size = match self.known_blobs.get(digest) {
                Some(size) => size,
                None => match self.stored_blob(&key).await? {
                    StoredBlob::Verified(size) => {
                        self.known_blobs.insert(digest.clone(), size);
                        size
                    }
                    StoredBlob::Missing => return Ok(None),
                    StoredBlob::Damaged { size, recorded } => {
                        tracing::warn!(%key, size, ?recorded, "cached object's size is not the verified one (changed behind the proxy's back, or stored before sizes were recorded); serving from the upstream and storing it again");
                        return Ok(None);
                    }
                },
            };
            let body = match (self.config.serve, access) {
                // A HEAD sends no bytes: a reader costs no request, where a
                // presigned URL would be signed only to be thrown away.
                (S3Serve::Stream, _) | (S3Serve::Redirect, BlobAccess::Head) => {
                    BlobBody::Ranged(Box::new(ObjectReader {
                        client: self.client.clone(),
                        key,
                    }))
                }
                (S3Serve::Redirect, BlobAccess::Get) => BlobBody::Redirect(
                    self.client
                        .signed_url(Method::GET, &key, self.config.presign_ttl)
                        .await
                        .map_err(storage("presign", &key))?,
                ),
            };
            Ok(Some(BlobHandle { size, body }))
        })
    }

    fn staging_dir(&self) -> &Path {
        &self.config.staging_dir
    }

    /// Drops the remembered size, so the next request asks the bucket
    /// (an object deleted or replaced behind the proxy's back).
    fn forget_blob(&self, digest: &Digest) {
        self.known_blobs.remove(digest);
    }

    fn import_blob<'a>(
        &'a self,
        digest: &'a Digest,
        staged: &'a Path,
        size: u64,
    ) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let key = self.key(Kind::Blob, digest);
            // Another replica may have stored it already (same bytes).
            if self.stored_blob(&key).await? != StoredBlob::Verified(size) {
                if size < self.config.multipart_threshold {
                    self.upload_single(&key, staged, size).await?;
                } else {
                    self.upload_multipart(&key, staged, size).await?;
                }
            }
            tokio::fs::remove_file(staged)
                .await
                .map_err(io("remove", staged))?;
            self.known_blobs.insert(digest.clone(), size);
            Ok(())
        })
    }

    fn label(&self) -> &'static str {
        "s3"
    }

    fn max_blob_size(&self) -> u64 {
        self.config.max_blob_size
    }

    fn max_blob_size_setting(&self) -> &'static str {
        "cache.s3.max_blob_size"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging() -> PathBuf {
        PathBuf::from("/nonexistent-staging")
    }

    #[test]
    fn parses_a_url_with_options() {
        let c = S3Config::from_url(
            "s3://vouch-cache/prod/eu?region=eu-west-1&endpoint=http://127.0.0.1:9000&insecure_allow_http=true&serve=redirect&presign_ttl_secs=60&max_blob_size=1000&multipart_threshold=500",
            staging(),
        )
        .unwrap();
        assert_eq!(c.bucket, "vouch-cache");
        assert_eq!(c.prefix, "prod/eu");
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.insecure_allow_http);
        assert_eq!(c.serve, S3Serve::Redirect);
        assert_eq!(c.presign_ttl, Duration::from_secs(60));
        assert_eq!(c.max_blob_size, 1000);
        assert_eq!(c.multipart_threshold, 500);
        assert!(c.credentials.is_none());
        let plain = S3Config::from_url("s3://vouch-cache", staging()).unwrap();
        assert_eq!(plain.prefix, "");
        assert_eq!(plain.region, DEFAULT_REGION);
        assert_eq!(plain.serve, S3Serve::Stream);
        assert_eq!(plain.presign_ttl, DEFAULT_PRESIGN_TTL);
        assert_eq!(plain.max_blob_size, DEFAULT_MAX_BLOB_SIZE);
        assert_eq!(
            S3Config::from_url("s3://vouch-cache/a/", staging())
                .unwrap()
                .prefix,
            "a"
        );
    }

    #[test]
    fn refuses_bad_urls_saying_what_was_expected() {
        let error = |url: &str| S3Config::from_url(url, staging()).unwrap_err();
        let err = |url: &str| error(url).to_string();
        let field_of = |url: &str| match error(url) {
            S3ConfigError::Invalid { field, .. } => field,
            other => panic!("{url}: {other}"),
        };
        assert_eq!(
            err("https://bucket/x"),
            "S3 URL: expected `s3://<bucket>[/<prefix>][?options]`, found \"https://bucket/x\""
        );
        assert!(matches!(
            error("s3://AKIA:secret@bucket"),
            S3ConfigError::CredentialsInUrl
        ));
        assert!(!err("s3://AKIA:secret@bucket").contains("secret@"));
        assert!(err("s3://Bucket").starts_with("S3 bucket: expected 3–63 characters"));
        assert_eq!(field_of("s3://Bucket"), "bucket");
        assert_eq!(field_of("s3://ab"), "bucket");
        assert_eq!(field_of("s3://bucket/a/../b"), "prefix");
        assert_eq!(field_of("s3://bucket/a//b"), "prefix");
        assert_eq!(field_of("s3://bucket/a%20b"), "prefix");
        assert_eq!(
            err("s3://bucket?serve=proxy"),
            "S3 serve: expected `stream` or `redirect`, found \"proxy\""
        );
        assert!(matches!(
            error("s3://bucket?serve=stream&serve=redirect"),
            S3ConfigError::DuplicateOption(option) if option == "serve"
        ));
        assert_eq!(field_of("s3://bucket?access_key_id=x"), "URL option");
        assert_eq!(
            err("s3://bucket?endpoint=http://127.0.0.1:9000"),
            "S3 endpoint: expected `https://` (`http://` needs insecure_allow_http), found \"http://127.0.0.1\""
        );
        let with_password = err("s3://bucket?endpoint=https://u:hunter2@minio.example");
        assert!(with_password.contains("no credentials"), "{with_password}");
        assert!(!with_password.contains("hunter2"), "{with_password}");
        assert!(err("s3://bucket?endpoint=https://minio.example/path").contains("scheme://host"));
        assert_eq!(field_of("s3://bucket?presign_ttl_secs=0"), "presign_ttl");
        assert_eq!(
            field_of("s3://bucket?presign_ttl_secs=604801"),
            "presign_ttl"
        );
        assert!(S3Config::from_url("s3://bucket?presign_ttl_secs=604800", staging()).is_ok());
        assert_eq!(field_of("s3://bucket?max_blob_size=0"), "max_blob_size");
        assert!(err("s3://bucket?max_blob_size=x").contains("expected a whole number"));
        assert_eq!(field_of("s3://bucket?region=EU"), "region");
    }

    #[test]
    fn credentials_are_never_printed() {
        let mut c = S3Config::new("bucket", "", staging());
        c.credentials = Some(S3Credentials {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: Some("FwoGZXIvYXdzE".into()),
        });
        let printed = format!("{c:?}");
        assert!(printed.contains("AKIAEXAMPLE"));
        assert!(!printed.contains("wJalrXUtnFEMI"));
        assert!(!printed.contains("FwoGZXIvYXdzE"));
        c.credentials.as_mut().unwrap().secret_access_key.clear();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "S3 credentials: expected both an access key ID and a secret access key, found \"no secret access key\""
        );
    }

    #[test]
    fn keys_are_content_addressed_under_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::sha256_of(b"x");
        let hex = digest.hex().to_string();
        let mut config = S3Config::new("bucket", "team/cache", dir.path().join("staging"));
        config.credentials = Some(S3Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        });
        let store = S3Store::with_env(config.clone(), &|_| None).unwrap();
        assert_eq!(
            store.blob_key(&digest),
            format!("team/cache/blobs/sha256/{hex}")
        );
        assert_eq!(
            store.manifest_key(&digest),
            format!("team/cache/manifests/sha256/{hex}")
        );
        config.prefix.clear();
        let store = S3Store::with_env(config, &|_| None).unwrap();
        assert_eq!(store.blob_key(&digest), format!("blobs/sha256/{hex}"));
    }

    #[test]
    fn only_an_object_of_its_recorded_verified_size_is_trusted() {
        let with = |recorded: Option<&str>| {
            let mut attributes = content_type(BLOB_CONTENT_TYPE);
            if let Some(value) = recorded {
                attributes.insert(
                    Attribute::Metadata(VERIFIED_SIZE.into()),
                    value.to_string().into(),
                );
            }
            attributes
        };
        assert_eq!(
            StoredBlob::judge(10, &blob_attributes(10)),
            StoredBlob::Verified(10)
        );
        // Truncated, or grown, behind the proxy's back.
        assert_eq!(
            StoredBlob::judge(5, &blob_attributes(10)),
            StoredBlob::Damaged {
                size: 5,
                recorded: Some(10)
            }
        );
        assert_eq!(
            StoredBlob::judge(11, &with(Some("10"))),
            StoredBlob::Damaged {
                size: 11,
                recorded: Some(10)
            }
        );
        // No record (rewritten, or stored by an older version), or one
        // that is not a number.
        for record in [None, Some(""), Some("ten"), Some("-10"), Some("10 ")] {
            assert_eq!(
                StoredBlob::judge(10, &with(record)),
                StoredBlob::Damaged {
                    size: 10,
                    recorded: None
                },
                "{record:?}"
            );
        }
    }

    #[test]
    fn staging_leftovers_are_removed_and_other_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("b-abc-1-0"), b"half a blob").unwrap();
        std::fs::write(staging.join("notes.txt"), b"not ours").unwrap();
        let mut config = S3Config::new("bucket", "", staging.clone());
        config.region = "eu-west-1".into();
        S3Store::with_env(config, &|_| None).unwrap();
        assert!(!staging.join("b-abc-1-0").exists());
        assert!(staging.join("notes.txt").exists());
    }
}

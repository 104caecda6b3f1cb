//! The registry client: auth challenges and tokens, digest-checked manifest
//! and blob fetches with size limits, retries for 429/503, and a bound on
//! concurrent requests.
//!
//! Every manifest and blob is checked against the digest that was asked for;
//! `Docker-Content-Digest` is never trusted on its own (STYLE.md, "what we
//! avoid"; ATTACKS.md G.70).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::Semaphore;
use vouch_oci_types::{
    AuthScheme, LinkError, MAX_MANIFEST_SIZE, Registry, Repository, Sha256Digest, next_link,
    parse_challenge,
};

use crate::body::ReadError;
use crate::credentials::{Credential, CredentialStore};
use crate::error::{NetworkFailure, OciError, SchemesAllowed};
use crate::token::{
    PlainHttpRealms, RealmHosts, RealmPolicy, TokenCache, TokenCredential, TokenError,
    TokenRequest, check_realm, fetch_token,
};

/// cosign's default `COSIGN_MAX_ATTACHMENT_SIZE` (128 MiB): the largest
/// signature, attestation or bundle layer we read.
pub const MAX_ATTACHMENT_SIZE: u64 = 128 * 1024 * 1024;
/// Retries after 429/503 (and connection resets), after the first attempt.
pub const MAX_RETRIES: u32 = 3;
/// First backoff; doubled per retry.
pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(200);
/// The longest `Retry-After` we honour; longer waits fail with the advice instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// TCP connect timeout: an unreachable registry fails fast with a clear message.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout, generous for large layers on slow links.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Concurrent requests per client unless configured otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Largest error body we keep for messages.
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// The scheme a registry is reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// Whether a registry may be reached over plain HTTP: cosign's
/// `--allow-http-registry`, which marks every registry `name.Insecure` in
/// go-containerregistry. HTTPS is always tried first (ggcr's `ping`); plain
/// HTTP is only the fallback when HTTPS fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlainHttp {
    /// Only loopback registries (`localhost`, `127.0.0.0/8`) may fall back to
    /// plain HTTP, as in docker and go-containerregistry (the default).
    #[default]
    LoopbackOnly,
    /// `--allow-http-registry`: any registry may fall back to plain HTTP.
    Allowed,
}

/// Whether HTTPS certificates are verified: cosign's
/// `--allow-insecure-registry` turns verification off
/// (`tls.Config{InsecureSkipVerify: true}`) and changes nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVerification {
    /// Certificates are verified against the platform's roots (the default).
    #[default]
    Verify,
    /// `--allow-insecure-registry`: any certificate is accepted (self-signed,
    /// expired, another name). For test registries only.
    InsecureSkipVerify,
}

/// How to reach registries: two independent settings, as in cosign, so that
/// neither flag changes what the other means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transport {
    /// Which registries may fall back to plain HTTP.
    pub plain_http: PlainHttp,
    /// Whether HTTPS certificates are verified.
    pub tls: TlsVerification,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where credentials come from.
    pub credentials: CredentialStore,
    /// Transport policy.
    pub transport: Transport,
    /// Bound on concurrent requests.
    pub max_concurrency: usize,
    /// `User-Agent`.
    pub user_agent: String,
    /// When the referrers API's failure sends discovery to the tag schema.
    pub referrers_fallback: ReferrersFallback,
    /// The longest one request may take, body included (default
    /// [`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
}

/// When a failing referrers API sends discovery to the referrers tag schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferrersFallback {
    /// Only where distribution-spec v1.1 says (404, 400, 406, a 200 that is
    /// not an image index); any other failure is an error (the default:
    /// ATTACKS.md G.72, a registry must not hide signatures by answering 500).
    #[default]
    AsSpecified,
    /// Also after a 5xx (`--referrers-fallback-on-error`): for a broken
    /// registry or proxy, so images signed in the legacy `.sig` layout can
    /// still be verified. The fallback is reported
    /// ([`crate::ReferrersSource::TagSchemaAfterError`]), never silent.
    OnServerError,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            credentials: CredentialStore::default(),
            transport: Transport::default(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            request_timeout: REQUEST_TIMEOUT,
            user_agent: format!("vouch/{}", env!("CARGO_PKG_VERSION")),
            referrers_fallback: ReferrersFallback::default(),
        }
    }
}

/// A request body: bytes (at most one upload chunk), their media type and,
/// for a chunk of a blob upload, its `Content-Range`.
#[derive(Debug, Clone)]
pub(crate) struct RequestBody {
    pub(crate) content_type: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) content_range: Option<String>,
}

impl RequestBody {
    /// `bytes` of `content_type`, with a `Content-Range` when given.
    pub(crate) fn new(content_type: &str, bytes: Vec<u8>, content_range: Option<String>) -> Self {
        Self {
            content_type: content_type.to_string(),
            bytes,
            content_range,
        }
    }
}

/// A body fetched from a registry, with what the registry said about it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `Content-Type`, without parameters.
    pub media_type: String,
    /// The SHA-256 of the bytes (checked against the request when it was by digest).
    pub digest: Sha256Digest,
}

/// A registry client. Cheap to clone; clones share the token cache and the
/// concurrency bound.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
    /// What was fetched by content, when [`Self::remembering_fetched`] asked.
    pub(crate) memo: Option<Arc<crate::memo::FetchMemo>>,
}

struct Inner {
    http: reqwest::Client,
    options: ClientOptions,
    /// `Authorization` values by registry and scope, until they expire.
    tokens: TokenCache,
    /// The scheme each registry answered on, once it has.
    schemes: std::sync::Mutex<HashMap<String, Scheme>>,
    permits: Semaphore,
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client with these options.
    pub fn new(options: ClientOptions) -> Result<Self, OciError> {
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(options.request_timeout)
            .danger_accept_invalid_certs(
                options.transport.tls == TlsVerification::InsecureSkipVerify,
            )
            .build()
            .map_err(|e| OciError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                permits: Semaphore::new(options.max_concurrency.max(1)),
                options,
                tokens: TokenCache::new(),
                schemes: std::sync::Mutex::new(HashMap::new()),
                requests: std::sync::atomic::AtomicU64::new(0),
            }),
            memo: None,
        })
    }

    /// How many HTTP requests this client (and its clones) has sent.
    pub fn request_count(&self) -> u64 {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When a failing referrers API sends discovery to the tag schema.
    pub fn referrers_fallback(&self) -> ReferrersFallback {
        self.inner.options.referrers_fallback
    }

    /// `scheme://host` for a registry: the scheme it answered on, or `https`
    /// before it has answered.
    pub fn base_url(&self, registry: &Registry) -> String {
        let scheme = self.known_scheme(registry).unwrap_or(Scheme::Https);
        format!("{}://{}", scheme.as_str(), registry.api_host())
    }

    fn known_scheme(&self, registry: &Registry) -> Option<Scheme> {
        let schemes = self.inner.schemes.lock().unwrap_or_else(|e| e.into_inner());
        schemes.get(registry.as_str()).copied()
    }

    fn remember_scheme(&self, registry: &Registry, scheme: Scheme) {
        let mut schemes = self.inner.schemes.lock().unwrap_or_else(|e| e.into_inner());
        schemes.insert(registry.as_str().to_string(), scheme);
    }

    /// Whether `registry` may fall back to plain HTTP.
    fn schemes_allowed(&self, registry: &Registry) -> SchemesAllowed {
        if self.inner.options.transport.plain_http == PlainHttp::Allowed || registry.is_loopback() {
            SchemesAllowed::HttpsThenHttp
        } else {
            SchemesAllowed::HttpsOnly
        }
    }

    /// Sends the request `build` makes for `registry`'s `path`, choosing the
    /// scheme as go-containerregistry's `ping` does: HTTPS first, then plain
    /// HTTP where that is allowed. A rejected certificate is not a reason to
    /// fall back: the server speaks TLS, and plain HTTP would only hide what
    /// is wrong. The scheme that answers is kept for this client's lifetime.
    async fn dispatch(
        &self,
        registry: &Registry,
        path: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<Response, OciError> {
        let allowed = self.schemes_allowed(registry);
        let schemes: &[Scheme] = match (self.known_scheme(registry), allowed) {
            (Some(Scheme::Https), _) => &[Scheme::Https],
            (Some(Scheme::Http), _) => &[Scheme::Http],
            (None, SchemesAllowed::HttpsThenHttp) => &[Scheme::Https, Scheme::Http],
            (None, _) => &[Scheme::Https],
        };
        let mut failures = Vec::new();
        let mut last_url = String::new();
        for &scheme in schemes {
            let url = format!("{}://{}{path}", scheme.as_str(), registry.api_host());
            self.inner
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match build(&url).send().await {
                Ok(response) => {
                    self.remember_scheme(registry, scheme);
                    return Ok(response);
                }
                Err(e) => {
                    if let Some(reason) = certificate_rejection(&e) {
                        return Err(OciError::UntrustedCertificate {
                            registry: registry.to_string(),
                            url,
                            reason,
                        });
                    }
                    failures.push((url.clone(), network_failure(&e)));
                    last_url = url;
                }
            }
        }
        Err(OciError::Unreachable {
            registry: registry.to_string(),
            url: last_url,
            attempts: failures,
            tried: allowed,
        })
    }

    /// GETs a manifest by tag or digest. `Ok(None)` when the registry says
    /// it does not exist (404). A manifest fetched by digest must hash to it.
    pub async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<Fetched>, OciError> {
        if let Ok(asked) = reference.parse::<Sha256Digest>()
            && let Some(kept) = self.remembered(repo, &asked)
        {
            return Ok(Some(kept));
        }
        let path = format!("/v2/{}/manifests/{reference}", repo.path());
        let Some(response) = self.get(repo, &path, accept).await? else {
            return Ok(None);
        };
        let media_type = media_type(response.headers());
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let what = format!("manifest {repo}:{reference}");
        let bytes = read_limited(response, MAX_MANIFEST_SIZE, &what).await?;
        let digest = Sha256Digest::of(&bytes);
        if let Ok(asked) = reference.parse::<Sha256Digest>()
            && asked != digest
        {
            return Err(OciError::DigestMismatch {
                what,
                expected: asked.to_string(),
                found: digest.to_string(),
            });
        }
        if let Some(header) = header_digest.filter(|h| h.starts_with("sha256:"))
            && header != digest.to_string()
        {
            return Err(OciError::DigestMismatch {
                what: format!("{what} (Docker-Content-Digest header)"),
                expected: header,
                found: digest.to_string(),
            });
        }
        Ok(Some(self.remember(
            repo,
            Fetched {
                bytes,
                media_type,
                digest,
            },
        )))
    }

    /// GETs a blob, which must hash to `digest` and be at most `limit` bytes.
    pub async fn blob(
        &self,
        repo: &Repository,
        digest: &Sha256Digest,
        limit: u64,
    ) -> Result<Fetched, OciError> {
        if let Some(kept) = self.remembered(repo, digest)
            && kept.bytes.len() as u64 <= limit
        {
            return Ok(kept);
        }
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        let what = format!("blob {repo}@{digest}");
        let response = self
            .get(repo, &path, &[])
            .await?
            .ok_or_else(|| OciError::NotFound { what: what.clone() })?;
        let media_type = media_type(response.headers());
        let bytes = read_limited(response, limit, &what).await?;
        let found = Sha256Digest::of(&bytes);
        if found != *digest {
            return Err(OciError::DigestMismatch {
                what,
                expected: digest.to_string(),
                found: found.to_string(),
            });
        }
        Ok(self.remember(
            repo,
            Fetched {
                bytes,
                media_type,
                digest: found,
            },
        ))
    }

    /// What [`Self::remembering_fetched`] kept for `digest` of `repo`.
    pub(crate) fn remembered(&self, repo: &Repository, digest: &Sha256Digest) -> Option<Fetched> {
        self.memo.as_ref()?.get(repo, digest)
    }

    /// Keeps `fetched` when [`Self::remembering_fetched`] asked; returns it.
    fn remember(&self, repo: &Repository, fetched: Fetched) -> Fetched {
        if let Some(memo) = &self.memo {
            memo.keep(repo, &fetched);
        }
        fetched
    }

    /// GETs `path` in `repo`'s registry, authenticating as needed. `Ok(None)`
    /// on 404. Other non-success statuses are errors that say what happened.
    pub async fn get(
        &self,
        repo: &Repository,
        path: &str,
        accept: &[&str],
    ) -> Result<Option<Response>, OciError> {
        let response = self.send(repo, Method::GET, path, accept).await?;
        match response.status() {
            s if s.is_success() => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(repo, path, response).await),
        }
    }

    /// Sends a request, answering auth challenges and retrying 429/503. The
    /// caller interprets the status.
    pub async fn send(
        &self,
        repo: &Repository,
        method: Method,
        path: &str,
        accept: &[&str],
    ) -> Result<Response, OciError> {
        let scope = format!("repository:{}:pull", repo.path());
        self.send_to(repo.registry(), &scope, method, path, accept, None)
            .await
    }

    /// Checks that the stored credentials for `registry` are accepted
    /// (`GET /v2/`, as `docker login` does).
    pub async fn ping(&self, registry: &Registry) -> Result<(), OciError> {
        let response = self
            .send_to(registry, "", Method::GET, "/v2/", &[], None)
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(OciError::Unauthorized {
                registry: registry.to_string(),
                detail: oci_error_text(
                    &read_limited(response, MAX_ERROR_BODY, "error body")
                        .await
                        .unwrap_or_default(),
                ),
            }),
            status => Err(OciError::Status {
                url: format!("{}/v2/", self.base_url(registry)),
                status: status.as_u16(),
                detail: oci_error_text(
                    &read_limited(response, MAX_ERROR_BODY, "error body")
                        .await
                        .unwrap_or_default(),
                ),
            }),
        }
    }

    /// Sends a request to `registry` with rights `scope`, answering its auth
    /// challenge and retrying 429/503; `body`, when given, is sent again as
    /// is on a retry or an answered challenge.
    pub(crate) async fn send_to(
        &self,
        registry: &Registry,
        scope: &str,
        method: Method,
        path: &str,
        accept: &[&str],
        body: Option<&RequestBody>,
    ) -> Result<Response, OciError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| OciError::Client(e.to_string()))?;
        let cache_key = format!("{registry}|{scope}");
        let mut authorization = self.inner.tokens.get(&cache_key);
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            let build = |url: &str| {
                let mut request = self.inner.http.request(method.clone(), url);
                if !accept.is_empty() {
                    request = request.header(ACCEPT, accept.join(", "));
                }
                if let Some(auth) = &authorization {
                    request = request.header(AUTHORIZATION, auth);
                }
                if let Some(body) = body {
                    request = request
                        .header(CONTENT_TYPE, body.content_type.as_str())
                        .body(body.bytes.clone());
                    if let Some(range) = &body.content_range {
                        request = request.header("Content-Range", range.as_str());
                    }
                }
                request
            };
            let response = self.dispatch(registry, path, build).await?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !answered_challenge => {
                    answered_challenge = true;
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let Some(challenge) = challenge else {
                        return Ok(response);
                    };
                    let (header, expires_at) =
                        self.answer_challenge(registry, &challenge, scope).await?;
                    self.inner
                        .tokens
                        .insert(&cache_key, header.clone(), expires_at);
                    authorization = Some(header);
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    if attempt < MAX_RETRIES =>
                {
                    attempt += 1;
                    let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                    if wait > MAX_RETRY_AFTER {
                        return Ok(response);
                    }
                    tokio::time::sleep(wait).await;
                }
                _ => return Ok(response),
            }
        }
    }

    /// The `Authorization` header value that answers a `WWW-Authenticate`
    /// challenge, and when it expires (a Basic header does not).
    async fn answer_challenge(
        &self,
        registry: &Registry,
        challenge: &str,
        scope: &str,
    ) -> Result<(String, Option<std::time::Instant>), OciError> {
        let credential = self.inner.options.credentials.lookup(registry)?;
        let parsed = parse_challenge(challenge).map_err(|e| OciError::Auth {
            registry: registry.to_string(),
            reason: format!(
                "unparsable WWW-Authenticate challenge `{}`: {e}",
                challenge.chars().take(200).collect::<String>()
            ),
        })?;
        let params = parsed.params;
        match parsed.scheme {
            AuthScheme::Basic => match credential {
                Credential::Basic { username, password } => Ok((
                    format!(
                        "Basic {}",
                        STANDARD.encode(format!("{username}:{password}"))
                    ),
                    None,
                )),
                _ => Err(OciError::Unauthorized {
                    registry: registry.to_string(),
                    detail: "the registry wants a user name and password and none is stored".into(),
                }),
            },
            AuthScheme::Bearer => {
                let realm = params.get("realm").ok_or_else(|| OciError::Auth {
                    registry: registry.to_string(),
                    reason: "Bearer challenge without a realm".into(),
                })?;
                let scope = params.get("scope").map_or(scope, String::as_str);
                let token = self
                    .token(
                        registry,
                        realm,
                        params.get("service").map(String::as_str),
                        scope,
                        &credential,
                    )
                    .await?;
                Ok((format!("Bearer {}", token.value), Some(token.expires_at)))
            }
            AuthScheme::Other(other) => Err(OciError::Auth {
                registry: registry.to_string(),
                reason: format!("unsupported auth scheme `{}`", other.to_ascii_lowercase()),
            }),
        }
    }

    /// The distribution token flow ([`crate::fetch_token`]) under vouch's
    /// realm policy: an `https` realm, or an `http` one only when the
    /// registry itself is reached over plain HTTP.
    async fn token(
        &self,
        registry: &Registry,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: &Credential,
    ) -> Result<crate::Token, OciError> {
        let auth_err = |reason: String| OciError::Auth {
            registry: registry.to_string(),
            reason,
        };
        let realm_url = reqwest::Url::parse(realm)
            .map_err(|e| auth_err(format!("bad token realm `{realm}`: {e}")))?;
        let registry_url = reqwest::Url::parse(&self.base_url(registry))
            .map_err(|e| auth_err(format!("registry URL: {e}")))?;
        let policy = RealmPolicy {
            registry: &registry_url,
            plain_http: PlainHttpRealms::WhenRegistryIsHttp,
            hosts: RealmHosts::Any,
        };
        // With `RealmHosts::Any`, every realm the policy admits gets the
        // credentials; only the scheme can refuse one.
        check_realm(&realm_url, &policy).map_err(|_| {
            auth_err(format!(
                "refusing to send credentials to non-HTTPS token realm `{realm}`"
            ))
        })?;
        let credential = match credential {
            Credential::IdentityToken(token) => TokenCredential::RefreshToken {
                token,
                client_id: "vouch",
            },
            Credential::Basic { username, password } => {
                TokenCredential::Basic { username, password }
            }
            _ => TokenCredential::Anonymous,
        };
        let request = TokenRequest {
            realm: &realm_url,
            service,
            scope,
            credential,
        };
        fetch_token(&self.inner.http, &request, Some(&self.inner.requests))
            .await
            .map_err(|e| match e {
                TokenError::Send(e) => transport_error(registry, realm, e),
                TokenError::Refused { status, detail } => OciError::Unauthorized {
                    registry: registry.to_string(),
                    detail: format!(
                        "the token endpoint refused the credentials ({}): {detail}",
                        StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string())
                    ),
                },
                TokenError::Status { status } => auth_err(format!(
                    "token endpoint {realm} answered {}",
                    StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string())
                )),
                TokenError::Body(ReadError::TooLarge { limit }) => OciError::TooLarge {
                    what: "token response".into(),
                    limit,
                },
                TokenError::Body(ReadError::Transfer { reason }) => OciError::Transfer {
                    what: "token response".into(),
                    reason,
                },
                other => auth_err(other.to_string()),
            })
    }

    /// Turns a non-success response into an error that says what to do.
    pub(crate) async fn status_error(
        &self,
        repo: &Repository,
        path: &str,
        response: Response,
    ) -> OciError {
        let status = response.status();
        let body = read_limited(response, MAX_ERROR_BODY, "error body")
            .await
            .unwrap_or_default();
        let text = oci_error_text(&body);
        match status {
            StatusCode::UNAUTHORIZED => OciError::Unauthorized {
                registry: repo.registry().to_string(),
                detail: text,
            },
            StatusCode::FORBIDDEN => OciError::Denied {
                what: format!("{repo} ({path})"),
                detail: text,
            },
            _ => OciError::Status {
                url: format!("{}{path}", self.base_url(repo.registry())),
                status: status.as_u16(),
                detail: text,
            },
        }
    }
}

/// Reads a body of at most `limit` bytes ([`crate::read_limited`]), naming
/// `what` in the error.
pub(crate) async fn read_limited(
    response: Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, OciError> {
    crate::body::read_limited(response, limit)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge { limit } => OciError::TooLarge {
                what: what.to_string(),
                limit,
            },
            ReadError::Transfer { reason } => OciError::Transfer {
                what: what.to_string(),
                reason,
            },
        })
}

/// The `rel="next"` target of a response's `Link` header (distribution-spec
/// pagination), `None` on the last page. An unreadable header is an error,
/// never taken for the last page.
pub fn next_link_of(headers: &HeaderMap) -> Result<Option<String>, LinkError> {
    let Some(value) = headers.get(reqwest::header::LINK) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| LinkError::Malformed)?;
    Ok(next_link(value)?.map(str::to_string))
}

/// Parses a registry's JSON document, naming it in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, OciError> {
    serde_json::from_slice(bytes).map_err(|e| OciError::Malformed {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// `Content-Type` without parameters, lowercased.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The message of an OCI error body (`{"errors":[{"code","message"}]}`), or
/// the start of a non-JSON body.
pub(crate) fn oci_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body)
        && !parsed.errors.is_empty()
    {
        return parsed
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    text.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `Retry-After` delay in seconds, when the header gives one.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The wait before retry `attempt` (1-based) without a `Retry-After`.
pub(crate) fn backoff(attempt: u32) -> Duration {
    RETRY_BASE_DELAY * 2u32.saturating_pow(attempt.saturating_sub(1))
}

/// An error for a request to a URL the registry named (a token realm), which
/// is used as it is.
fn transport_error(registry: &Registry, url: &str, e: reqwest::Error) -> OciError {
    match certificate_rejection(&e) {
        Some(reason) => OciError::UntrustedCertificate {
            registry: registry.to_string(),
            url: url.to_string(),
            reason,
        },
        None => OciError::Unreachable {
            registry: registry.to_string(),
            url: url.to_string(),
            attempts: vec![(url.to_string(), network_failure(&e))],
            tried: SchemesAllowed::NamedUrl,
        },
    }
}

/// How sending a request failed: the kind of network failure, read from
/// the error's causes (an `io::Error`'s kind, the connector's "dns error",
/// a rustls error), else the innermost cause's text.
fn network_failure(e: &reqwest::Error) -> NetworkFailure {
    if e.is_timeout() {
        return NetworkFailure::TimedOut;
    }
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = vec![e];
    while let Some(source) = causes.last().and_then(|c| c.source()) {
        causes.push(source);
    }
    let innermost = causes.last().map(|c| c.to_string()).unwrap_or_default();
    if let Some(tls) = find_rustls_error(e) {
        return match tls {
            // The ClientHello was answered with bytes that are no TLS
            // record: an HTTP server's "400 Bad Request".
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                NetworkFailure::PlainHttpServer
            }
            other => NetworkFailure::TlsHandshake {
                detail: other.to_string(),
            },
        };
    }
    if causes.iter().any(|c| c.to_string() == "dns error") {
        return NetworkFailure::Dns { detail: innermost };
    }
    for cause in &causes {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return NetworkFailure::Refused,
                std::io::ErrorKind::TimedOut => return NetworkFailure::TimedOut,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe => return NetworkFailure::Reset,
                _ => {}
            }
        }
    }
    // A TLS handshake the server closed without a word: rustls reports the
    // end of the stream in text only.
    if innermost.contains("tls handshake eof") || innermost.contains("peer closed connection") {
        return NetworkFailure::TlsHandshake { detail: innermost };
    }
    NetworkFailure::Other { detail: innermost }
}

/// The certificate problem when the TLS handshake failed because the
/// server's certificate was rejected: `rustls::Error::InvalidCertificate`,
/// which reqwest's connector hands up inside two nested `io::Error`s (whose
/// `source()` skips the wrapped error, hence `get_ref`).
fn certificate_rejection(e: &reqwest::Error) -> Option<String> {
    match find_rustls_error(e)? {
        rustls::Error::InvalidCertificate(problem) => {
            Some(format!("invalid certificate: {problem:?}"))
        }
        rustls::Error::NoCertificatesPresented => {
            Some("the server presented no certificate".to_string())
        }
        _ => None,
    }
}

fn find_rustls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    if let Some(found) = error.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(found) = find_rustls_error(inner)
    {
        return Some(found);
    }
    find_rustls_error(error.source()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_error_bodies_become_messages() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"license expired on 2026-01-01","detail":null}]}"#;
        assert_eq!(
            oci_error_text(body),
            "UNAUTHORIZED: license expired on 2026-01-01"
        );
        assert_eq!(
            oci_error_text(b"404 page not found\n"),
            "404 page not found"
        );
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), RETRY_BASE_DELAY);
        assert_eq!(backoff(3), RETRY_BASE_DELAY * 4);
    }
}

//! The HTTP server: routing, authentication, rate limiting, and the
//! wiring of stores, caches and upstreams. Content handlers are in
//! `content.rs`, the token endpoint in `token.rs`.
//!
//! Order of checks for a repository request, each refusing with its own
//! status before the next runs: method (405) → path (400/404) →
//! credentials (401) → license status (401) → rate (429) → app (403) →
//! repository allow-list (403) → entitlement (404; 403 for a tag of
//! another channel) → upstream.

mod content;
pub mod listen;
mod token;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;

use crate::auth::{self, Presented, TokenError};
use crate::cache::BlobStore;
use crate::cache::fill::Fills;
use crate::cache::held::Holdings;
use crate::config::Settings;
use crate::entitlement::Links;
use crate::error::ApiError;
use crate::memo::{SingleFlight, TtlMap};
use crate::metrics::Metrics;
use crate::names::{AppSlug, Digest, Repository, Tag, UpstreamName};
use crate::pulllog::{PullLogTask, PullLogWriter};
use crate::ratelimit::RateLimiter;
use crate::route::{self, Operation, RepoRequest, Route};
use crate::secret::{LicenseId, LicenseIdHash, LicenseIdHasher, ServerSecret, TokenKey};
use crate::store::{
    App, License, LicenseNumber, LicenseStore, PullAction, PullLog, PullRecord, Release,
    ResolutionStore, StoreError,
};
use crate::upstream::{Upstream, UpstreamError};

/// Licenses, apps and decisions held in memory at most (each map then
/// evicts entry by entry; see [`TtlMap`]).
pub const MEMO_CAPACITY: usize = 100_000;
/// Manifests are immutable, so their parsed links are kept for a day.
pub const LINKS_TTL: Duration = Duration::from_secs(24 * 3600);

/// The stores a proxy runs on.
#[derive(Clone)]
pub struct Stores {
    /// Apps, channels, licenses.
    pub licenses: Arc<dyn LicenseStore>,
    /// The pull log.
    pub pull_log: Arc<dyn PullLog>,
    /// Tag and attachment history.
    pub resolutions: Arc<dyn ResolutionStore>,
    /// Manifest and blob content.
    pub content: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

/// Why the proxy cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// An upstream client cannot be built.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// An app and its releases, as cached for request handling.
#[derive(Debug)]
pub(crate) struct AppView {
    pub(crate) app: App,
    pub(crate) releases: Vec<Release>,
}

/// The proxy: everything a request handler needs.
pub struct Proxy {
    settings: Settings,
    stores: Stores,
    upstreams: BTreeMap<UpstreamName, Arc<Upstream>>,
    hasher: LicenseIdHasher,
    token_key: TokenKey,
    licenses_by_hash: TtlMap<LicenseIdHash, Arc<License>>,
    licenses_by_number: TtlMap<LicenseNumber, Arc<License>>,
    apps: TtlMap<AppSlug, Arc<AppView>>,
    tag_digests: TtlMap<(Repository, Tag, String), Digest>,
    /// What each tag resolved to recently (`None`: absent upstream).
    tag_resolved: TtlMap<(Repository, Tag), Option<Digest>>,
    decisions: TtlMap<(LicenseNumber, Repository, Digest), ()>,
    links: TtlMap<Digest, Arc<Links>>,
    manifest_flights: SingleFlight<
        content::ManifestKey,
        Result<(Digest, crate::cache::StoredManifest), ApiError>,
    >,
    fills: Fills,
    /// Which repository is known to hold which cached digest.
    held: Holdings,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    pull_log: PullLogWriter,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listen", &self.settings.listen)
            .finish_non_exhaustive()
    }
}

/// Everything a repository request handler needs, after every check
/// before entitlement has passed.
pub(crate) struct Ctx {
    pub(crate) license: Arc<License>,
    pub(crate) app: Arc<AppView>,
    pub(crate) repository: Repository,
    pub(crate) client_name: String,
    pub(crate) upstream: Arc<Upstream>,
}

impl Proxy {
    /// Builds a proxy and starts its pull-log writer. Call
    /// [`PullLogTask::finish`] after the server stops to flush the log.
    pub fn new(
        settings: Settings,
        stores: Stores,
        secret: &ServerSecret,
    ) -> Result<(Arc<Self>, PullLogTask), StartError> {
        let upstreams = settings
            .upstreams
            .values()
            .map(|u| Ok((u.name.clone(), Arc::new(Upstream::new(u.clone())?))))
            .collect::<Result<_, UpstreamError>>()?;
        let (pull_log, task) = PullLogWriter::start(stores.pull_log.clone());
        let cache_ttl = settings.license_cache_ttl;
        let tag_ttl = settings.tag_ttl;
        let proxy = Self {
            upstreams,
            hasher: secret.license_hasher(),
            token_key: secret.token_key(),
            licenses_by_hash: TtlMap::new(cache_ttl, MEMO_CAPACITY),
            licenses_by_number: TtlMap::new(cache_ttl, MEMO_CAPACITY),
            apps: TtlMap::new(cache_ttl, MEMO_CAPACITY),
            tag_digests: TtlMap::new(tag_ttl, MEMO_CAPACITY),
            tag_resolved: TtlMap::new(tag_ttl, MEMO_CAPACITY),
            decisions: TtlMap::new(tag_ttl, MEMO_CAPACITY),
            links: TtlMap::new(LINKS_TTL, MEMO_CAPACITY),
            manifest_flights: SingleFlight::default(),
            fills: Fills::default(),
            held: Holdings::default(),
            limiter: RateLimiter::new(settings.rate_limit),
            metrics: Arc::new(Metrics::default()),
            pull_log,
            stores,
            settings,
        };
        Ok((Arc::new(proxy), task))
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The main router: the registry API, `/healthz`, and `/metrics`
    /// unless an ops listener serves it.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/healthz", get(healthz))
            .route("/v2", axum::routing::any(v2))
            .route("/v2/", axum::routing::any(v2))
            .route("/v2/{*rest}", axum::routing::any(v2))
            .fallback(not_found);
        if self.settings.ops_listen.is_none() {
            router = router.route("/metrics", get(metrics));
        }
        router
            .layer(axum::middleware::map_response(content::nosniff))
            .with_state(self.clone())
    }

    /// The ops router: `/metrics` and `/healthz`.
    pub fn ops_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .layer(axum::middleware::map_response(content::nosniff))
            .with_state(self.clone())
    }

    async fn dispatch(self: &Arc<Self>, parts: &Parts, body: Body) -> (&'static str, Response) {
        let path = parts.uri.path();
        if path == "/v2/token" {
            return (
                "token",
                self.token(parts, body)
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
            );
        }
        if !route::is_pull_method(&parts.method) {
            return (
                "write",
                ApiError::unsupported(format!(
                    "{} is not supported: this is a pull-only proxy",
                    parts.method
                ))
                .into_response(),
            );
        }
        let route = match route::parse(path) {
            Ok(route) => route,
            Err(e) => return ("invalid", e.into_response()),
        };
        match route {
            Route::Base => (
                "base",
                self.base(parts)
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
            ),
            Route::Token => unreachable!("handled above"),
            Route::Catalog => (
                "catalog",
                match self.authenticate(parts, None).await {
                    Ok(_) => ApiError::new(
                        StatusCode::NOT_FOUND,
                        crate::error::ErrorCode::Unsupported,
                        "the catalog is not served; ask the vendor for your image list",
                    )
                    .into_response(),
                    Err(e) => e.into_response(),
                },
            ),
            Route::Repo(request) => {
                let label = match request.operation {
                    Operation::Manifest(_) => "manifest",
                    Operation::Blob(_) => "blob",
                    Operation::TagsList => "tags",
                    Operation::Referrers(_) => "referrers",
                    Operation::Upload => "upload",
                };
                (label, self.repository_request(parts, request).await)
            }
        }
    }

    async fn base(&self, parts: &Parts) -> Result<Response, ApiError> {
        self.authenticate(parts, None).await?;
        Ok(([(header::CONTENT_TYPE, "application/json")], "{}").into_response())
    }

    async fn repository_request(self: &Arc<Self>, parts: &Parts, request: RepoRequest) -> Response {
        if request.operation == Operation::Upload {
            return ApiError::unsupported(
                "blob uploads are not supported: this is a pull-only proxy",
            )
            .into_response();
        }
        let received = Timestamp::now();
        let license = match self.authenticate(parts, Some(&request.name())).await {
            Ok(license) => license,
            Err(e) => return e.into_response(),
        };
        let (action, reference) = match &request.operation {
            Operation::Manifest(r) => (PullAction::Manifest, r.to_string()),
            Operation::Blob(d) => (PullAction::Blob, d.to_string()),
            Operation::TagsList => (PullAction::Tags, String::new()),
            Operation::Referrers(d) => (PullAction::Referrers, d.to_string()),
            Operation::Upload => unreachable!("refused above"),
        };
        let record = PullRecord {
            license: license.number,
            at: received,
            action,
            method: parts.method.to_string(),
            repository: request.repository.to_string(),
            reference,
            status: 0,
            bytes: 0,
        };
        let response = match self.authorize(&license, &request).await {
            Ok(ctx) => match self.serve_operation(&ctx, parts, &request.operation).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            },
            Err(e) => e.into_response(),
        };
        content::log_when_sent(response, record, self.pull_log.clone())
    }

    /// Rate limit, app and repository allow-list.
    async fn authorize(
        &self,
        license: &Arc<License>,
        request: &RepoRequest,
    ) -> Result<Ctx, ApiError> {
        self.rate_limit(license.number)?;
        if license.app != request.app {
            self.metrics.denial("wrong_app");
            return Err(ApiError::denied(format!(
                "license {} is for app {}, not {}",
                license.number, license.app, request.app
            )));
        }
        let not_served = || {
            self.metrics.denial("repository_not_allowed");
            ApiError::denied(format!(
                "repository {} is not served by app {}",
                request.repository, request.app
            ))
        };
        let app = self.app(&request.app).await?.ok_or_else(not_served)?;
        if !app
            .app
            .repositories
            .iter()
            .any(|p| request.repository.is_within(p))
        {
            return Err(not_served());
        }
        let upstream = self
            .upstreams
            .get(&request.repository.upstream)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_gateway(format!(
                    "upstream {} is allowed for app {} but not configured on this proxy",
                    request.repository.upstream, request.app
                ))
            })?;
        Ok(Ctx {
            license: license.clone(),
            app,
            repository: request.repository.clone(),
            client_name: request.name(),
            upstream,
        })
    }

    fn rate_limit(&self, license: LicenseNumber) -> Result<(), ApiError> {
        self.limiter.check(license, Instant::now()).map_err(|wait| {
            self.metrics.rate_limited();
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                crate::error::ErrorCode::TooManyRequests,
                format!("license {license} is over its request rate; retry in {secs} s"),
            )
            .with_header(header::RETRY_AFTER, &secs.to_string())
        })
    }

    async fn serve_operation(
        self: &Arc<Self>,
        ctx: &Ctx,
        parts: &Parts,
        operation: &Operation,
    ) -> Result<Response, ApiError> {
        match operation {
            Operation::Manifest(reference) => {
                self.serve_manifest(ctx, &parts.method, reference, &parts.headers)
                    .await
            }
            Operation::Blob(digest) => {
                self.serve_blob(ctx, &parts.method, digest, &parts.headers)
                    .await
            }
            Operation::TagsList => self.serve_tags(ctx, parts.uri.query()).await,
            Operation::Referrers(digest) => {
                self.serve_referrers(ctx, digest, parts.uri.query()).await
            }
            Operation::Upload => unreachable!("refused before authorization"),
        }
    }

    // ---- authentication -------------------------------------------------

    /// The `WWW-Authenticate` challenge for this request. The realm names
    /// `server.public_host` when set; otherwise the host the client used:
    /// the request's authority (HTTP/2 `:authority`, or an absolute-form
    /// HTTP/1.1 target, which RFC 9112 §3.2.2 says wins over `Host`), else
    /// its `Host` header.
    fn challenge(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        insufficient: bool,
    ) -> Result<String, ApiError> {
        let host = match &self.settings.public_host {
            Some(host) => host.as_str(),
            None => parts
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| {
                    parts
                        .headers
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                })
                .filter(|h| auth::is_valid_host(h))
                .ok_or_else(|| ApiError::name_invalid("missing or invalid Host header"))?,
        };
        let forwarded = self
            .settings
            .trust_forwarded_proto
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
            })
            .flatten()
            .filter(|p| *p == "http" || *p == "https");
        let scheme = forwarded.unwrap_or(self.settings.public_scheme.as_str());
        Ok(auth::bearer_challenge(
            scheme,
            host,
            scope_name,
            insufficient,
        ))
    }

    /// A 401 with the challenge, counted under `reason`.
    fn refuse(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        reason: &'static str,
        message: String,
    ) -> ApiError {
        self.refuse_with(parts, scope_name, reason, message, false)
    }

    fn refuse_with(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        reason: &'static str,
        message: String,
        insufficient: bool,
    ) -> ApiError {
        self.metrics.auth_failure(reason);
        let challenge = match self.challenge(parts, scope_name, insufficient) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut error =
            ApiError::unauthorized(message).with_header(header::WWW_AUTHENTICATE, &challenge);
        if let Some(name) = scope_name {
            error = error.with_detail(
                serde_json::json!([{"Type": "repository", "Name": name, "Action": "pull"}]),
            );
        }
        error
    }

    /// Who is calling: a valid, current license from Basic credentials or
    /// one of our tokens (which must grant `scope_name` when given).
    async fn authenticate(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
    ) -> Result<Arc<License>, ApiError> {
        let headers = &parts.headers;
        let presented =
            auth::parse_authorization(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
                .map_err(|e| self.refuse(parts, scope_name, "malformed", e.to_string()))?;
        let license = match presented {
            Presented::Missing => {
                return Err(self.refuse(
                    parts,
                    scope_name,
                    "missing",
                    "authentication required: log in with your email as username and your license ID as password".into(),
                ));
            }
            Presented::Basic { username, password } => self
                .license_from_basic(&username, &password)
                .await
                .map_err(|(reason, message)| self.refuse(parts, scope_name, reason, message))?,
            Presented::Bearer(token) => {
                let now = Timestamp::now().as_second();
                let claims = auth::verify(&self.token_key, &token, now).map_err(|e| {
                    let reason = match e {
                        TokenError::Expired(_) => "expired_token",
                        _ => "bad_token",
                    };
                    self.refuse(
                        parts,
                        scope_name,
                        reason,
                        format!("{e}; request a new token"),
                    )
                })?;
                let license = self
                    .license_by_number(claims.license())
                    .await?
                    .filter(|l| l.app.as_str() == claims.app)
                    .ok_or_else(|| {
                        self.refuse(
                            parts,
                            scope_name,
                            "bad_token",
                            "token names an unknown license".into(),
                        )
                    })?;
                if let Some(name) = scope_name.filter(|n| !claims.grants(n)) {
                    return Err(self.token_lacks_scope(parts, name, &license).await);
                }
                license
            }
        };
        self.check_license_status(&license)
            .map_err(|(reason, message)| self.refuse(parts, scope_name, reason, message))?;
        Ok(license)
    }

    /// The license for Basic credentials: the password must be a license
    /// ID and the username its email (any case) or the ID itself (the
    /// `licenseID:licenseID` form of KOTS pull secrets).
    pub(crate) async fn license_from_basic(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Arc<License>, (&'static str, String)> {
        let unknown = || {
            (
                "unknown_license",
                "invalid username or license ID".to_string(),
            )
        };
        let id = LicenseId::parse(password).map_err(|_| unknown())?;
        let hash = self.hasher.hash(&id);
        let license = match self.licenses_by_hash.get(&hash) {
            Some(l) => l,
            None => {
                let found = self
                    .stores
                    .licenses
                    .license_by_hash(&hash)
                    .await
                    .map_err(|e| ("store", format!("cannot check the license now: {e}")))?
                    .ok_or_else(unknown)?;
                let found = Arc::new(found);
                self.licenses_by_hash.insert(hash, found.clone());
                found
            }
        };
        // The lookup was by hash; compare again in constant time so the
        // decision does not rest on the index alone.
        if !license.id_hash.ct_eq(&hash) {
            return Err(unknown());
        }
        if !(username.eq_ignore_ascii_case(&license.email) || username == password) {
            return Err((
                "wrong_username",
                "username does not match the license: use the email the license was issued to"
                    .into(),
            ));
        }
        Ok(license)
    }

    async fn license_by_number(
        &self,
        number: LicenseNumber,
    ) -> Result<Option<Arc<License>>, ApiError> {
        if let Some(l) = self.licenses_by_number.get(&number) {
            return Ok(Some(l));
        }
        let found = self
            .stores
            .licenses
            .license(number)
            .await
            .map_err(store_error)?;
        Ok(found.map(|l| {
            let l = Arc::new(l);
            self.licenses_by_number.insert(number, l.clone());
            l
        }))
    }

    /// Expired and revoked licenses are refused on every request, not
    /// only when a token is issued.
    pub(crate) fn check_license_status(
        &self,
        license: &License,
    ) -> Result<(), (&'static str, String)> {
        if let Some(at) = license.revoked_at {
            return Err((
                "revoked",
                format!("license {} was revoked at {at}", license.number),
            ));
        }
        if let Some(at) = license.expires_at.filter(|at| *at <= Timestamp::now()) {
            return Err((
                "expired",
                format!(
                    "license {} expired at {at}; ask the vendor to renew it",
                    license.number
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn app(&self, slug: &AppSlug) -> Result<Option<Arc<AppView>>, ApiError> {
        if let Some(view) = self.apps.get(slug) {
            return Ok(Some(view));
        }
        let Some(app) = self.stores.licenses.app(slug).await.map_err(store_error)? else {
            return Ok(None);
        };
        let releases = self
            .stores
            .licenses
            .releases(slug)
            .await
            .map_err(store_error)?;
        let view = Arc::new(AppView { app, releases });
        self.apps.insert(slug.clone(), view.clone());
        Ok(Some(view))
    }

    fn log(&self, record: PullRecord) {
        self.pull_log.record(record);
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::internal(format!("state store: {e}"))
}

async fn v2(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let started = Instant::now();
    let request_id = new_request_id();
    let (label, mut response) = proxy.dispatch(&parts, body).await;
    if response.status().is_server_error() {
        response = conceal_server_error(response, &request_id, &parts).await;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    // A challenge or a token is for this client, now: no cache (a shared
    // one above all) may keep or replay it (issue 14, finding 6).
    if label == "token" || response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = response.status().as_u16();
    proxy.metrics.request(label, status);
    tracing::debug!(
        request_id,
        method = %parts.method,
        path = parts.uri.path(),
        status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The response header carrying [`new_request_id`]'s ID.
pub const REQUEST_ID_HEADER: header::HeaderName = header::HeaderName::from_static("x-request-id");
/// Random bytes in a request ID: 64 bits make a collision among the
/// requests of one log's lifetime vanishingly unlikely.
pub const REQUEST_ID_BYTES: usize = 8;
/// The most of a 5xx body kept for the log. Our own error bodies are a
/// message of a few hundred bytes (upstream text in them is cut at 512).
pub const MAX_LOGGED_ERROR_BODY: usize = 16 * 1024;

/// A new request ID: 16 hex digits.
fn new_request_id() -> String {
    let mut bytes = [0u8; REQUEST_ID_BYTES];
    // With no random source the ID is still a correlation handle, only not
    // a unique one; requests are not refused for it.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// Replaces a 5xx body, which may name internal URLs, OS errors or words
/// the upstream said (possibly the vendor's own secrets), with a short
/// message and the request ID; the full body goes to the log at `error`
/// level with the same ID (issue 14, finding 4). 4xx bodies are kept: they
/// tell the customer about their own license, channel and entitlement.
async fn conceal_server_error(response: Response, request_id: &str, parts: &Parts) -> Response {
    let (mut head, body) = response.into_parts();
    let detail = match axum::body::to_bytes(body, MAX_LOGGED_ERROR_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => format!("(error body unreadable or over {MAX_LOGGED_ERROR_BODY} bytes)"),
    };
    let status = head.status;
    tracing::error!(
        request_id,
        method = %parts.method,
        path = parts.uri.path(),
        status = status.as_u16(),
        detail,
        "request failed"
    );
    let (code, what) = match status {
        StatusCode::SERVICE_UNAVAILABLE => (
            crate::error::ErrorCode::Unavailable,
            "the upstream registry cannot be reached now; try again later",
        ),
        StatusCode::BAD_GATEWAY => (
            crate::error::ErrorCode::Unknown,
            "the upstream registry gave an answer the proxy cannot use",
        ),
        _ => (
            crate::error::ErrorCode::Unknown,
            "the proxy could not answer this request",
        ),
    };
    let error = ApiError::new(
        status,
        code,
        format!("{what}; if it persists, give the vendor request ID {request_id}"),
    )
    .with_detail(serde_json::json!({ "request_id": request_id }));
    head.headers.remove(header::CONTENT_LENGTH);
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(head, Body::from(error.body()))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(proxy): State<Arc<Proxy>>) -> Response {
    let mut text = proxy.metrics.render();
    text.push_str(&format!(
        "# HELP vouch_proxy_pull_log_dropped_total Pull-log lines dropped because the write queue was full.\n\
         # TYPE vouch_proxy_pull_log_dropped_total counter\nvouch_proxy_pull_log_dropped_total {}\n",
        proxy.pull_log.dropped()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> Response {
    ApiError::name_unknown("not a registry API path (expected /v2/…)").into_response()
}

/// Serves until `shutdown` resolves, then waits up to the configured grace
/// period for in-flight requests. `ops` serves `/metrics` and `/healthz`.
/// Both listeners speak HTTP/1.1 and cleartext HTTP/2 and apply
/// `server.*` connection limits ([`listen::serve`]).
pub async fn serve(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    ops: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = proxy.settings.shutdown_grace;
    let limits = proxy.settings.connections;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let ops_task = ops.map(|listener| {
        let router = proxy.ops_router();
        tokio::spawn(listen::serve(
            listener,
            router,
            limits,
            stopped(stop_rx.clone()),
            grace,
        ))
    });
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    listen::serve(listener, proxy.router(), limits, stopped(stop_rx), grace).await;
    if let Some(task) = ops_task {
        task.abort();
    }
    Ok(())
}

//! The HTTP server: routing, authentication, rate limiting, and the
//! wiring of stores, caches and upstreams. Content handlers are in
//! `content.rs`, the token endpoint in `token.rs`.
//!
//! Order of checks for a repository request, each refusing with its own
//! status before the next runs: method (405) → path (400/404) →
//! credentials (401) → license status (401) → rate (429) → app (403) →
//! repository allow-list (403) → entitlement (404; 403 for a tag of
//! another channel) → upstream.

mod authn;
mod body;
mod content;
mod edge;
pub mod listen;
mod portal;
mod service;
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

use crate::cache::BlobStore;
use crate::cache::fill::Fills;
use crate::cache::held::Holdings;
use crate::config::Settings;
use crate::entitlement::Links;
use crate::error::ApiError;
use crate::health::{Component, Health, State as HealthState};
use crate::memo::{FailStatic, SingleFlight, TtlMap};
use crate::metrics::{DatabaseAsk, Metrics};
use crate::names::{AppSlug, Digest, Repository, Tag, UpstreamName};
use crate::pulllog::{PullLogTask, PullLogWriter};
use crate::ratelimit::RateLimiter;
use crate::route::{self, Operation, RepoRequest, Route};
use crate::secret::{LicenseIdHash, LicenseIdHasher, ServerSecret, TokenKey};
use crate::store::{
    App, License, LicenseNumber, LicenseStore, PullAction, PullLog, PullRecord, Release,
    ResolutionStore, StoreError,
};
use crate::upstream::{Upstream, UpstreamError};
use content::ContentOperation;
use edge::RequestError;
use service::ContentError;

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
    licenses_by_hash: FailStatic<LicenseIdHash, Arc<License>>,
    licenses_by_number: FailStatic<LicenseNumber, Arc<License>>,
    apps: FailStatic<AppSlug, Arc<AppView>>,
    tag_digests: TtlMap<(Repository, Tag, String), Digest>,
    /// What each tag resolved to recently (`None`: absent upstream).
    tag_resolved: TtlMap<(Repository, Tag), Option<Digest>>,
    decisions: FailStatic<(LicenseNumber, Repository, Digest), ()>,
    links: TtlMap<Digest, Arc<Links>>,
    manifest_flights: SingleFlight<service::ManifestKey, Result<service::Manifest, ContentError>>,
    fills: Fills,
    /// Which repository is known to hold which cached digest.
    held: Holdings,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    /// How the database, the content store and each upstream are doing.
    health: Arc<Health>,
    pull_log: PullLogWriter,
    /// The customer portal's keys, signed-out sessions and sign-in limiter.
    portal: portal::PortalState,
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
    /// Builds a proxy and starts its pull-log writer and the background
    /// probe of a failing state database (`probe_database`; a tokio
    /// runtime must be running). Call [`PullLogTask::finish`] after the
    /// server stops to flush the log.
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
        let stale = settings.license_stale;
        let proxy = Self {
            upstreams,
            hasher: secret.license_hasher(),
            token_key: secret.token_key(),
            licenses_by_hash: FailStatic::new(cache_ttl, stale, MEMO_CAPACITY),
            licenses_by_number: FailStatic::new(cache_ttl, stale, MEMO_CAPACITY),
            apps: FailStatic::new(cache_ttl, stale, MEMO_CAPACITY),
            tag_digests: TtlMap::new(tag_ttl, MEMO_CAPACITY),
            tag_resolved: TtlMap::new(tag_ttl, MEMO_CAPACITY),
            decisions: FailStatic::new(tag_ttl, stale, MEMO_CAPACITY),
            links: TtlMap::new(LINKS_TTL, MEMO_CAPACITY),
            manifest_flights: SingleFlight::default(),
            fills: Fills::default(),
            held: Holdings::default(),
            limiter: RateLimiter::new(settings.rate_limit),
            metrics: Arc::new(Metrics::default()),
            health: Arc::new(Health::new(
                [Component::Database, Component::Store].into_iter().chain(
                    settings
                        .upstreams
                        .keys()
                        .map(|name| Component::Upstream(name.to_string())),
                ),
            )),
            pull_log,
            portal: portal::PortalState::new(secret.portal_key(), &settings),
            stores,
            settings,
        };
        let proxy = Arc::new(proxy);
        tokio::spawn(probe_database(Arc::downgrade(&proxy)));
        Ok((proxy, task))
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The main router: the registry API, the customer portal
    /// (`/portal`), `/healthz`, and `/metrics` unless an ops listener
    /// serves it.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/v2", axum::routing::any(v2))
            .route("/v2/", axum::routing::any(v2))
            .route("/v2/{*rest}", axum::routing::any(v2))
            .route("/portal", axum::routing::any(portal::portal))
            .route("/portal/", axum::routing::any(portal::portal))
            .route("/portal/{*rest}", axum::routing::any(portal::portal))
            .fallback(not_found);
        // Component states are for operators: with an ops listener, the
        // public `/healthz` only says the process serves.
        router = if self.settings.ops_listen.is_none() {
            router
                .route("/metrics", get(metrics))
                .route("/healthz", get(healthz))
                .route("/readyz", get(readyz))
        } else {
            router.route("/healthz", get(alive))
        };
        router
            .layer(axum::middleware::map_response(body::nosniff))
            .with_state(self.clone())
    }

    /// The ops router: `/metrics`, `/healthz` and `/readyz`.
    pub fn ops_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .layer(axum::middleware::map_response(body::nosniff))
            .with_state(self.clone())
    }

    async fn dispatch(self: &Arc<Self>, parts: &Parts, body: Body) -> (&'static str, Response) {
        // The token endpoint takes POST; every other route is pull-only.
        match (
            route::parse(parts.uri.path()),
            route::is_pull_method(&parts.method),
        ) {
            (Ok(Route::Token), _) => (
                "token",
                self.token(parts, body)
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
            ),
            (_, false) => (
                "write",
                RequestError::Push(parts.method.clone()).into_response(),
            ),
            (Err(e), true) => ("invalid", e.into_response()),
            (Ok(Route::Base), true) => (
                "base",
                self.base(parts)
                    .await
                    .unwrap_or_else(IntoResponse::into_response),
            ),
            (Ok(Route::Catalog), true) => (
                "catalog",
                match self.authenticate(parts, None).await {
                    Ok(_) => RequestError::Catalog.into_response(),
                    Err(e) => e.into_response(),
                },
            ),
            (Ok(Route::Repo(request)), true) => {
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
        let Some(operation) = ContentOperation::of(request.operation.clone()) else {
            return RequestError::Upload.into_response();
        };
        let received = Timestamp::now();
        let license = match self.authenticate(parts, Some(&request.name())).await {
            Ok(license) => license,
            Err(e) => return e.into_response(),
        };
        let (action, reference) = match &operation {
            ContentOperation::Manifest(r) => (PullAction::Manifest, r.to_string()),
            ContentOperation::Blob(d) => (PullAction::Blob, d.to_string()),
            ContentOperation::TagsList => (PullAction::Tags, String::new()),
            ContentOperation::Referrers(d) => (PullAction::Referrers, d.to_string()),
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
        let served = match self.authorize(&license, &request).await {
            // Shared: a cached blob's body may need it after this returns.
            Ok(ctx) => {
                self.serve_operation(&Arc::new(ctx), parts, &operation)
                    .await
            }
            Err(e) => Err(e),
        };
        let response = served.unwrap_or_else(IntoResponse::into_response);
        body::log_when_sent(response, record, self.pull_log.clone())
    }

    /// Rate limit, app and repository allow-list.
    async fn authorize(
        &self,
        license: &Arc<License>,
        request: &RepoRequest,
    ) -> Result<Ctx, RequestError> {
        self.rate_limit(license.number)?;
        if license.app != request.app {
            self.metrics.denial("wrong_app");
            return Err(RequestError::WrongApp {
                license: license.number,
                app: license.app.clone(),
                requested: request.app.clone(),
            });
        }
        let not_served = || {
            self.metrics.denial("repository_not_allowed");
            RequestError::RepositoryNotServed {
                repository: request.repository.clone(),
                app: request.app.clone(),
            }
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
            .ok_or_else(|| RequestError::UpstreamNotConfigured {
                upstream: request.repository.upstream.clone(),
                app: request.app.clone(),
            })?;
        Ok(Ctx {
            license: license.clone(),
            app,
            repository: request.repository.clone(),
            client_name: request.name(),
            upstream,
        })
    }

    fn rate_limit(&self, license: LicenseNumber) -> Result<(), RequestError> {
        self.limiter.check(license, Instant::now()).map_err(|wait| {
            self.metrics.rate_limited();
            RequestError::RateLimited { license, wait }
        })
    }

    async fn serve_operation(
        self: &Arc<Self>,
        ctx: &Arc<Ctx>,
        parts: &Parts,
        operation: &ContentOperation,
    ) -> Result<Response, RequestError> {
        match operation {
            ContentOperation::Manifest(reference) => {
                self.serve_manifest(ctx, &parts.method, reference, &parts.headers)
                    .await
            }
            ContentOperation::Blob(digest) => {
                self.serve_blob(ctx, &parts.method, digest, &parts.headers)
                    .await
            }
            ContentOperation::TagsList => self.serve_tags(ctx, parts.uri.query()).await,
            ContentOperation::Referrers(digest) => {
                self.serve_referrers(ctx, digest, parts.uri.query()).await
            }
        }
    }

    pub(crate) async fn app(&self, slug: &AppSlug) -> Result<Option<Arc<AppView>>, StoreError> {
        if let Some(view) = self.apps.fresh(slug) {
            return Ok(Some(view));
        }
        let found = self.ask_database(async {
            let Some(app) = self.stores.licenses.app(slug).await? else {
                return Ok(None);
            };
            let releases = self.stores.licenses.releases(slug).await?;
            Ok(Some(Arc::new(AppView { app, releases })))
        });
        match found.await {
            Ok(view) => {
                if let Some(view) = &view {
                    self.apps.insert(slug.clone(), view.clone());
                }
                Ok(view)
            }
            Err(e) => self.fail_static(self.apps.stale(slug), e, "app").map(Some),
        }
    }

    fn log(&self, record: PullRecord) {
        self.pull_log.record(record);
    }
}

async fn v2(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let started = Instant::now();
    let request_id = new_request_id();
    let (label, mut response) = proxy.dispatch(&parts, body).await;
    if response.status().is_server_error() {
        response = edge::conceal_server_error(response, &request_id, &parts).await;
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

async fn alive() -> &'static str {
    "ok\n"
}

/// `/healthz`: 200 while the proxy serves (probes keep working), with
/// each component's state and since when; `status` is `degraded` when any
/// is not `ok`.
async fn healthz(State(proxy): State<Arc<Proxy>>) -> Response {
    health_answer(&proxy, StatusCode::OK)
}

/// `/readyz`: 200 unless the proxy can serve nothing new: the database is
/// down and fail static is off. A database outage that fail static covers
/// keeps every replica in the load balancer (they all share the database,
/// so taking them out would only turn degraded service into none).
async fn readyz(State(proxy): State<Arc<Proxy>>) -> Response {
    let database_down = proxy.health.state(&Component::Database) == HealthState::Down;
    let status = if database_down && proxy.settings.license_stale.is_zero() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    health_answer(&proxy, status)
}

fn health_answer(proxy: &Proxy, status: StatusCode) -> Response {
    let reports = proxy.health.reports();
    let components: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|r| {
            (
                r.component.label(),
                serde_json::json!({ "state": r.state.as_str(), "since": r.since.to_string() }),
            )
        })
        .collect();
    let overall = if reports.iter().all(|r| r.state == HealthState::Ok) {
        "ok"
    } else {
        "degraded"
    };
    let body = serde_json::json!({ "status": overall, "components": components });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn metrics(State(proxy): State<Arc<Proxy>>) -> Response {
    let mut text = proxy.metrics.render();
    text.push_str(&format!(
        "# HELP vouch_proxy_pulllog_dropped_total Pull-log records lost: the write queue or the outage buffer was full, or the state store could not take them at shutdown.\n\
         # TYPE vouch_proxy_pulllog_dropped_total counter\nvouch_proxy_pulllog_dropped_total {}\n\
         # HELP vouch_proxy_pulllog_buffered Pull-log records waiting in memory for the state store.\n\
         # TYPE vouch_proxy_pulllog_buffered gauge\nvouch_proxy_pulllog_buffered {}\n\
         # HELP vouch_proxy_blob_fills_in_flight Blobs being fetched from an upstream into the cache (a fill ends once the blob is stored, after its clients got the last byte).\n\
         # TYPE vouch_proxy_blob_fills_in_flight gauge\nvouch_proxy_blob_fills_in_flight {}\n",
        proxy.pull_log.dropped(),
        proxy.pull_log.buffered(),
        proxy.fills.in_flight()
    ));
    text.push_str(
        "# HELP vouch_proxy_degraded Whether a component is failing (1) or answering (0).\n\
         # TYPE vouch_proxy_degraded gauge\n",
    );
    for r in proxy.health.reports() {
        text.push_str(&format!(
            "vouch_proxy_degraded{{component=\"{}\"}} {}\n",
            r.component.label(),
            u8::from(r.state != HealthState::Ok)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> Response {
    route::RouteError::NotRegistryApi.into_response()
}

/// Serves until `shutdown` resolves, then waits up to the configured grace
/// period for in-flight requests. `ops` serves `/metrics` and `/healthz`.
/// Both listeners speak HTTP/1.1 and cleartext HTTP/2 and apply
/// `server.*` connection limits ([`listen::serve`]).
pub async fn serve(
    proxy: Arc<Proxy>,
    listener: tokio::net::TcpListener,
    ops: Option<tokio::net::TcpListener>,
    tls: Option<crate::tls::ServerTls>,
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
            tls.as_ref().and_then(|tls| tls.ops.clone()),
            stopped(stop_rx.clone()),
            grace,
        ))
    });
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let main_tls = tls.map(|tls| tls.main);
    listen::serve(
        listener,
        proxy.router(),
        limits,
        main_tls,
        stopped(stop_rx),
        grace,
    )
    .await;
    if let Some(task) = ops_task {
        task.abort();
    }
    Ok(())
}

/// While the state database is failing, how long the background probe
/// waits between two asks, counted from the end of the last one. Requests
/// do not ask a database known to be failing at all; they are answered
/// from fail static (or with the 503) at once.
pub const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Longest the background probe waits for the database's answer: the
/// PostgreSQL pool's acquire timeout (5 s), so a probe never outlasts
/// what a request would have waited.
pub const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the state database again every [`DATABASE_PROBE_INTERVAL`] while
/// it is marked failing, and marks it up when it answers. Ends when the
/// proxy is dropped.
async fn probe_database(proxy: std::sync::Weak<Proxy>) {
    loop {
        tokio::time::sleep(DATABASE_PROBE_INTERVAL).await;
        let Some(proxy) = proxy.upgrade() else {
            return;
        };
        if proxy.health.state(&Component::Database) == HealthState::Ok {
            continue;
        }
        let ping = proxy.stores.licenses.ping();
        match tokio::time::timeout(DATABASE_PROBE_TIMEOUT, ping).await {
            Ok(Ok(())) => proxy.health.ok(&Component::Database),
            Ok(Err(e)) => tracing::debug!(error = %e, "state database probe: no answer yet"),
            Err(_) => tracing::debug!(
                timeout_secs = DATABASE_PROBE_TIMEOUT.as_secs(),
                "state database probe: no answer yet"
            ),
        }
    }
}

impl Proxy {
    /// The state database's answer to `ask` for a request. A database
    /// known to be failing is not asked ([`BackendError::NotAsked`] at
    /// once: the background probe asks it and marks it up again); one
    /// that fails now is marked failing, so that the next requests do not
    /// wait on it either. Counted in `vouch_proxy_database_asks_total`.
    ///
    /// [`BackendError::NotAsked`]: crate::store::BackendError::NotAsked
    pub(crate) async fn ask_database<T>(
        &self,
        ask: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.health.state(&Component::Database) != HealthState::Ok {
            self.metrics.database_ask(DatabaseAsk::Skipped);
            return Err(StoreError::Backend {
                operation: "ask",
                source: crate::store::BackendError::NotAsked,
            });
        }
        let answer = ask.await;
        match &answer {
            Ok(_) => self.metrics.database_ask(DatabaseAsk::Answered),
            Err(e @ StoreError::Backend { .. }) => {
                self.metrics.database_ask(DatabaseAsk::Failed);
                self.health
                    .failing(Component::Database, HealthState::Down, e);
            }
            // The database answered (that something is absent, or a row
            // it holds is damaged).
            Err(_) => self.metrics.database_ask(DatabaseAsk::Answered),
        }
        answer
    }

    /// Fail static (issue 21, item 3): when the state store cannot answer
    /// (a [`StoreError::Backend`]), the answer it gave within
    /// `server.license_stale_secs`, if any; otherwise the error. Either
    /// way the database is marked failing (degraded when the stale answer
    /// serves). `what` names the answer in the log.
    pub(crate) fn fail_static<V>(
        &self,
        stale: Option<V>,
        error: StoreError,
        what: &'static str,
    ) -> Result<V, StoreError> {
        if !matches!(error, StoreError::Backend { .. }) {
            return Err(error);
        }
        let state = match stale {
            Some(_) => HealthState::Degraded,
            None => HealthState::Down,
        };
        self.health.failing(Component::Database, state, &error);
        match stale {
            Some(value) => {
                tracing::debug!(what, error = %error, "state store unavailable; using the last answer (fail static)");
                Ok(value)
            }
            None => Err(error),
        }
    }
}

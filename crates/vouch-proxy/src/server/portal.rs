//! The portal's handlers, `/portal/…`: sign-in and sign-out, the license
//! page and the release policy download. Sessions, CSRF tokens and HTML
//! come from `crate::portal`; licenses, apps and tag digests from the
//! proxy's own caches, exactly as registry requests read them.
//!
//! What never happens: a license ID in a URL (sign-in is a POST form), in
//! a log (the form is never logged) or on a page after sign-in (commands
//! say where to paste it). Sign-in attempts are rate-limited per client
//! address and page loads per license, at the registry's rate.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use jiff::Timestamp;

use super::{Ctx, Proxy};
use crate::config::PublicScheme;
use crate::memo::TtlMap;
use crate::names::{Digest, Reference, Repository, Tag};
use crate::policy::{AppPolicy, VersionImages};
use crate::portal::render::{
    self, Branding, ChannelView, DigestUnknown, ImageRow, LicensePage, Notice, SignIn, Standing,
    Verification, VersionView,
};
use crate::portal::session::{self, SIGN_IN_FORM_TTL_SECS, Session};
use crate::ratelimit::RateLimiter;
use crate::route::client_name;
use crate::secret::PortalKey;
use crate::store::License;
use crate::upstream::{self, UpstreamError};

/// Largest portal form accepted (an email, a license ID and a token).
pub const MAX_PORTAL_FORM_BYTES: usize = 8 * 1024;
/// The session cookie.
pub const SESSION_COOKIE: &str = "vouch_portal";
/// The sign-in form's nonce cookie.
pub const SIGN_IN_COOKIE: &str = "vouch_portal_sign_in";
/// Sessions this replica saw signed out, remembered in memory until they
/// would have expired anyway (the state store, shared by every replica,
/// is the record; this spares it a query on this replica).
pub const MAX_SIGNED_OUT_SESSIONS: usize = 100_000;
/// Image digests resolved at once for one page.
pub const PAGE_RESOLVE_CONCURRENCY: usize = 8;

/// What the portal keeps beside the proxy.
pub(crate) struct PortalState {
    key: PortalKey,
    signed_out: TtlMap<String, ()>,
    sign_in_limiter: RateLimiter<IpAddr>,
    branding: Branding,
}

impl PortalState {
    /// The portal's state for `settings`, signing with `key`.
    pub(crate) fn new(key: PortalKey, settings: &crate::config::Settings) -> Self {
        Self {
            key,
            signed_out: TtlMap::new(
                Duration::from_secs(session::SESSION_TTL_SECS as u64),
                MAX_SIGNED_OUT_SESSIONS,
            ),
            sign_in_limiter: RateLimiter::new(settings.rate_limit),
            branding: Branding {
                vendor_name: settings.portal.vendor_name.clone(),
                has_logo: settings.portal.logo.is_some(),
            },
        }
    }
}

/// Who is asking.
enum Visitor {
    /// A valid session of a license that is not revoked.
    SignedIn(Session, Arc<License>),
    /// No session, or one that no longer counts; with the reason to show.
    SignedOut(Option<&'static str>),
}

/// Why a portal request failed, as a page.
struct Failure {
    status: StatusCode,
    title: &'static str,
    text: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, title: &'static str, text: impl Into<String>) -> Self {
        Self {
            status,
            title,
            text: text.into(),
            retry_after: None,
        }
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The portal cannot check your license right now. Try again in a minute.",
        )
    }

    fn rate_limited(wait: Duration) -> Self {
        let mut f = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many requests in a short time. Wait a moment and try again.",
        );
        f.retry_after = Some(wait.as_secs().max(1));
        f
    }
}

/// `/portal` and everything under it.
pub(super) async fn portal(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let outcome = match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/portal" | "/portal/") => proxy.home(&parts).await,
        (&Method::POST, "/portal/sign-in") => proxy.sign_in(&parts, body).await,
        (&Method::POST, "/portal/sign-out") => proxy.sign_out(&parts, body).await,
        (&Method::GET | &Method::HEAD, "/portal/license") => proxy.license_page(&parts).await,
        (&Method::GET | &Method::HEAD, "/portal/style.css") => Ok(asset(
            "text/css; charset=utf-8",
            render::STYLE_CSS.as_bytes().to_vec(),
        )),
        (&Method::GET | &Method::HEAD, "/portal/logo") => match &proxy.settings.portal.logo {
            Some(logo) => {
                let mut response = asset(logo.media_type, logo.bytes.clone());
                // An SVG opened on its own runs no script in our origin.
                response.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                    ),
                );
                Ok(response)
            }
            None => Err(Failure::new(StatusCode::NOT_FOUND, "Not found", "No logo.")),
        },
        (&Method::GET | &Method::HEAD, p) if p.starts_with("/portal/policy/") => {
            proxy
                .policy_download(&parts, &p["/portal/policy/".len()..])
                .await
        }
        (
            _,
            "/portal" | "/portal/" | "/portal/license" | "/portal/sign-in" | "/portal/sign-out",
        ) => Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "This page does not take that request.",
        )),
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page.",
        )),
    };
    let mut response = outcome.unwrap_or_else(|f| proxy.failure_page(f));
    secure_headers(response.headers_mut());
    response
}

/// Headers every portal response carries: no caching of anything
/// personal, no framing, no referrer, a CSP that allows only the portal's
/// own stylesheet and logo (and, for an SVG logo opened directly, no script).
fn secure_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
}

fn asset(media_type: &'static str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn see_other(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The value of cookie `name`, if sent once and not overlong.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| v.len() <= session::MAX_COOKIE_VALUE_LEN)
}

impl Proxy {
    /// Whether cookies get `Secure`: when the proxy serves TLS or tells
    /// clients it is reached over HTTPS (behind a TLS terminator).
    fn cookies_secure(&self) -> bool {
        self.settings.tls.is_some() || self.settings.public_scheme == PublicScheme::Https
    }

    fn set_cookie(&self, h: &mut HeaderMap, name: &str, value: &str, max_age: i64) {
        let secure = if self.cookies_secure() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{name}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }

    fn failure_page(&self, f: Failure) -> Response {
        let mut response = html(
            f.status,
            render::message(&self.portal.branding, f.title, &f.text),
        );
        if let Some(secs) = f.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }

    /// The session in the request, checked: signature, lifetime, not
    /// signed out, and the license still there and not revoked.
    async fn visitor(&self, parts: &Parts) -> Result<Visitor, Failure> {
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Visitor::SignedOut(None));
        };
        let now = Timestamp::now().as_second();
        let Ok(session) = session::open(&self.portal.key, value, now) else {
            return Ok(Visitor::SignedOut(Some(
                "Your session ended. Sign in again.",
            )));
        };
        if self.portal.signed_out.get(&session.sid).is_some() {
            return Ok(Visitor::SignedOut(None));
        }
        // Signed out on another replica? Unknown (the database down) is
        // not signed in.
        let signed_out = self
            .ask_database(self.stores.licenses.session_signed_out(&session.sid))
            .await
            .map_err(|_| Failure::unavailable())?;
        if signed_out {
            self.portal.signed_out.insert(session.sid.clone(), ());
            return Ok(Visitor::SignedOut(None));
        }
        let license = self
            .license_by_number(session.license())
            .await
            .map_err(|_| Failure::unavailable())?;
        match license {
            Some(l) if l.revoked_at.is_none() => Ok(Visitor::SignedIn(session, l)),
            Some(_) => Ok(Visitor::SignedOut(Some(
                "Your license was revoked, so you were signed out.",
            ))),
            None => Ok(Visitor::SignedOut(None)),
        }
    }

    /// The sign-in page with a fresh form nonce; the session cookie is
    /// cleared when one was sent.
    fn sign_in_page(
        &self,
        parts: &Parts,
        status: StatusCode,
        email: &str,
        message: Option<(Notice, &str)>,
    ) -> Result<Response, Failure> {
        let nonce = session::random_hex().map_err(|_| Failure::unavailable())?;
        let csrf = session::sign_in_token(&self.portal.key, &nonce);
        let body = render::sign_in(
            &self.portal.branding,
            &SignIn {
                email,
                csrf: &csrf,
                message,
            },
        );
        let mut response = html(status, body);
        let h = response.headers_mut();
        self.set_cookie(h, SIGN_IN_COOKIE, &nonce, SIGN_IN_FORM_TTL_SECS);
        if cookie(&parts.headers, SESSION_COOKIE).is_some() {
            self.set_cookie(h, SESSION_COOKIE, "", 0);
        }
        Ok(response)
    }

    async fn home(&self, parts: &Parts) -> Result<Response, Failure> {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match self.visitor(parts).await? {
            Visitor::SignedIn(..) => Ok(see_other("/portal/license")),
            Visitor::SignedOut(reason) => {
                let email = param("email")
                    .filter(|e| e.len() <= crate::admin::MAX_EMAIL_LEN)
                    .unwrap_or_default();
                let message = match (reason, param("signed_out")) {
                    (Some(r), _) => Some((Notice::Info, r)),
                    (None, Some(_)) => Some((Notice::Info, "You are signed out.")),
                    (None, None) => None,
                };
                self.sign_in_page(parts, StatusCode::OK, email, message)
            }
        }
    }

    async fn read_form(&self, body: Body) -> Result<Vec<(String, String)>, Failure> {
        let unreadable = || {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The form could not be read.",
            )
        };
        let bytes = tokio::time::timeout(
            self.settings.connections.header_read_timeout,
            axum::body::to_bytes(body, MAX_PORTAL_FORM_BYTES),
        )
        .await
        .map_err(|_| unreadable())?
        .map_err(|_| unreadable())?;
        Ok(form_urlencoded::parse(&bytes).into_owned().collect())
    }

    async fn sign_in(&self, parts: &Parts, body: Body) -> Result<Response, Failure> {
        let client = parts
            .extensions
            .get::<ConnectInfo<IpAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0);
        self.portal
            .sign_in_limiter
            .check(client, Instant::now())
            .map_err(|wait| {
                self.metrics.rate_limited();
                Failure::rate_limited(wait)
            })?;
        let form = self.read_form(body).await?;
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let (email, id) = (field("email"), field("license_id"));
        let email_shown = if email.len() <= crate::admin::MAX_EMAIL_LEN {
            email
        } else {
            ""
        };
        let nonce = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
        if session::check_sign_in(&self.portal.key, nonce, field("csrf")).is_err() {
            return self.sign_in_page(
                parts,
                StatusCode::FORBIDDEN,
                email_shown,
                Some((
                    Notice::Error,
                    "This sign-in form expired or was not sent from this portal. Try again.",
                )),
            );
        }
        let license = match self.license_from_basic(email, id).await {
            Ok(l) => l,
            Err(super::authn::AuthFailure::Store(_)) => return Err(Failure::unavailable()),
            Err(failure) => {
                self.metrics.auth_failure(failure.reason());
                return self.sign_in_page(
                    parts,
                    StatusCode::UNAUTHORIZED,
                    email_shown,
                    Some((
                        Notice::Error,
                        "That email and license ID do not match a license.",
                    )),
                );
            }
        };
        if license.revoked_at.is_some() {
            self.metrics.auth_failure("revoked");
            return self.sign_in_page(
                parts,
                StatusCode::UNAUTHORIZED,
                email_shown,
                Some((Notice::Error, "This license was revoked.")),
            );
        }
        self.rate_limit(license.number)
            .map_err(|_| Failure::rate_limited(Duration::from_secs(1)))?;
        let now = Timestamp::now().as_second();
        let session = Session::new(license.number, now).map_err(|_| Failure::unavailable())?;
        let mut response = see_other("/portal/license");
        let h = response.headers_mut();
        self.set_cookie(
            h,
            SESSION_COOKIE,
            &session::seal(&self.portal.key, &session),
            session::SESSION_TTL_SECS,
        );
        self.set_cookie(h, SIGN_IN_COOKIE, "", 0);
        tracing::info!(license = %license.number, "portal sign-in");
        Ok(response)
    }

    async fn sign_out(&self, parts: &Parts, body: Body) -> Result<Response, Failure> {
        let form = self.read_form(body).await?;
        let given = form
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str());
        if let Visitor::SignedIn(session, _) = self.visitor(parts).await? {
            session::check_csrf(&self.portal.key, &session, given).map_err(|_| {
                Failure::new(
                    StatusCode::FORBIDDEN,
                    "Not signed out",
                    "The sign-out form was not sent from this portal.",
                )
            })?;
            // Recorded for every replica first: a sign-out the database
            // did not take is not reported as done.
            let expires_at = Timestamp::from_second(session.exp).unwrap_or(Timestamp::MAX);
            self.ask_database(self.stores.licenses.sign_out_session(
                &session.sid,
                expires_at,
                Timestamp::now(),
            ))
            .await
            .map_err(|_| Failure::unavailable())?;
            self.portal.signed_out.insert(session.sid.clone(), ());
        }
        let mut response = see_other("/portal/?signed_out=1");
        self.set_cookie(response.headers_mut(), SESSION_COOKIE, "", 0);
        Ok(response)
    }

    /// The signed-in license, rate-limited, or the sign-in page to answer.
    async fn require_session(
        &self,
        parts: &Parts,
    ) -> Result<Result<(Session, Arc<License>), Response>, Failure> {
        match self.visitor(parts).await? {
            Visitor::SignedIn(session, license) => {
                self.rate_limit(license.number)
                    .map_err(|_| Failure::rate_limited(Duration::from_secs(1)))?;
                Ok(Ok((session, license)))
            }
            Visitor::SignedOut(reason) => Ok(Err(self.sign_in_page(
                parts,
                StatusCode::UNAUTHORIZED,
                "",
                Some((
                    Notice::Info,
                    reason.unwrap_or("Sign in to see your license."),
                )),
            )?)),
        }
    }

    /// The host customers pull from: `server.public_host`, else the
    /// request's (checked as the token realm's is).
    fn portal_host(&self, parts: &Parts) -> Result<String, Failure> {
        self.request_host(parts).ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "Missing or invalid Host header.",
            )
        })
    }

    async fn license_page(self: &Arc<Self>, parts: &Parts) -> Result<Response, Failure> {
        let (session, license) = match self.require_session(parts).await? {
            Ok(signed_in) => signed_in,
            Err(page) => return Ok(page),
        };
        let host = self.portal_host(parts)?;
        let now = Timestamp::now();
        let standing = match license.expires_at {
            Some(at) if at <= now => Standing::Expired,
            _ => Standing::Active,
        };
        let app = self
            .app(&license.app)
            .await
            .map_err(|_| Failure::unavailable())?;
        let mut channels = Vec::new();
        for channel in &license.channels {
            let versions = match (&app, standing) {
                (Some(app), Standing::Active) => {
                    self.channel_versions(&license, app, channel, &host).await
                }
                _ => Vec::new(),
            };
            channels.push(ChannelView {
                name: channel.to_string(),
                versions,
            });
        }
        let page = LicensePage {
            host,
            email: license.email.clone(),
            number: license.number.0,
            app: license.app.to_string(),
            standing,
            expires_at: license.expires_at,
            now,
            channels,
            csrf: session::csrf_token(&self.portal.key, &session),
        };
        Ok(html(
            StatusCode::OK,
            render::license(&self.portal.branding, &page),
        ))
    }

    /// The versions `channel` serves, in release order, each with its
    /// images and their current digests.
    async fn channel_versions(
        self: &Arc<Self>,
        license: &Arc<License>,
        app: &Arc<super::AppView>,
        channel: &crate::names::ChannelName,
        host: &str,
    ) -> Vec<VersionView> {
        let mut versions: Vec<&Tag> = Vec::new();
        for r in app.releases.iter().filter(|r| &r.channel == channel) {
            if !versions.contains(&&r.version) {
                versions.push(&r.version);
            }
        }
        let policy = app.app.release_policy.as_ref();
        let mut views = Vec::new();
        for version in versions {
            let mut wanted: Vec<(Repository, Reference)> = Vec::new();
            let mut note = None;
            for r in app
                .releases
                .iter()
                .filter(|r| &r.channel == channel && &r.version == version)
            {
                let repositories = match (&r.repository, policy) {
                    (Some(repo), _) => vec![repo.clone()],
                    (None, Some(p)) => p
                        .images
                        .iter()
                        .filter_map(|n| p.image_repository(n).ok())
                        .collect(),
                    (None, None) => {
                        note = Some(format!(
                            "This version is the tag {} in each repository of the app; the vendor has not listed its images.",
                            r.reference
                        ));
                        Vec::new()
                    }
                };
                for repo in repositories {
                    if !wanted
                        .iter()
                        .any(|(w, rf)| *w == repo && *rf == r.reference)
                    {
                        wanted.push((repo, r.reference.clone()));
                    }
                }
            }
            let base = format!("{host}/proxy/{}", license.app);
            let images: Vec<ImageRow> = futures_util::stream::iter(wanted)
                .map(|(repo, reference)| {
                    let base = base.clone();
                    async move {
                        let name = format!("{base}/{repo}");
                        let (shown, digest) = match &reference {
                            Reference::Digest(d) => (format!("{name}@{d}"), Ok(d.to_string())),
                            Reference::Tag(t) => (
                                format!("{name}:{t}"),
                                self.current_digest(license, app, &repo, t)
                                    .await
                                    .map(|d| d.to_string()),
                            ),
                        };
                        ImageRow {
                            name,
                            reference: shown,
                            digest,
                        }
                    }
                })
                .buffered(PAGE_RESOLVE_CONCURRENCY)
                .collect()
                .await;
            let verification = policy.map(|p| Verification {
                policy_url: format!("/portal/policy/{version}"),
                policy_file: policy_file_name(&license.app.to_string(), version),
                subject: p.subject.clone(),
                issuer: p.issuer.clone(),
                attestations: p.attestations.clone(),
            });
            views.push(VersionView {
                version: version.to_string(),
                images,
                note,
                verification,
            });
        }
        views
    }

    /// A tag's digest now, through the tag cache and the upstream as a
    /// pull resolves it; the reason in a customer's words otherwise.
    async fn current_digest(
        self: &Arc<Self>,
        license: &Arc<License>,
        app: &Arc<super::AppView>,
        repository: &Repository,
        tag: &Tag,
    ) -> Result<Digest, DigestUnknown> {
        if !app.app.repositories.iter().any(|p| repository.is_within(p)) {
            return Err(DigestUnknown::NotServed);
        }
        let upstream = self
            .upstreams
            .get(&repository.upstream)
            .cloned()
            .ok_or(DigestUnknown::NotServed)?;
        let ctx = Ctx {
            license: license.clone(),
            app: app.clone(),
            repository: repository.clone(),
            client_name: client_name(&license.app, repository),
            upstream,
        };
        let accept = upstream::manifest_accept(&HeaderMap::new());
        match self.manifest_by_tag(&ctx, tag, &accept).await {
            Ok((digest, _)) => Ok(digest),
            Err(super::service::ContentError::Upstream(UpstreamError::NotFound { .. })) => {
                Err(DigestUnknown::NotPublished)
            }
            Err(_) => Err(DigestUnknown::Unreachable),
        }
    }

    async fn policy_download(&self, parts: &Parts, version: &str) -> Result<Response, Failure> {
        let (_, license) = match self.require_session(parts).await? {
            Ok(signed_in) => signed_in,
            Err(page) => return Ok(page),
        };
        let not_found = || {
            Failure::new(
                StatusCode::NOT_FOUND,
                "No such policy",
                "There is no release policy for that version on your channels.",
            )
        };
        if license.expires_at.is_some_and(|at| at <= Timestamp::now()) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "License expired",
                "Your license has expired.",
            ));
        }
        let version = Tag::new(version).map_err(|_| not_found())?;
        let app = self
            .app(&license.app)
            .await
            .map_err(|_| Failure::unavailable())?
            .ok_or_else(not_found)?;
        let policy = app.app.release_policy.as_ref().ok_or_else(not_found)?;
        let releases: Vec<_> = app
            .releases
            .iter()
            .filter(|r| license.channels.contains(&r.channel) && r.version == version)
            .collect();
        if releases.is_empty() {
            return Err(not_found());
        }
        let images = version_images(policy, &version, releases.iter().copied());
        let host = self.portal_host(parts)?;
        let text = policy.render(&format!("{host}/proxy/{}", license.app), &version, &images);
        let disposition = format!(
            "attachment; filename=\"{}\"",
            policy_file_name(license.app.as_str(), &version)
        );
        let mut response = (
            [(header::CONTENT_TYPE, "application/toml; charset=utf-8")],
            text,
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(response)
    }
}

/// `<app>-<version>-release.toml` (both valid by construction: no quote,
/// slash or space).
fn policy_file_name(app: &str, version: &Tag) -> String {
    format!("{app}-{version}-release.toml")
}

/// What version `version` of the app holds, for its policy file: the
/// policy's images for releases of the tag in every repository; images
/// under the policy's repository released by that tag; pinned digests as
/// third-party images. Releases of another tag elsewhere cannot be said in
/// the policy format (verify-release checks `<registry>/<name>:<version>`)
/// and are left out.
pub(crate) fn version_images<'a>(
    policy: &AppPolicy,
    version: &Tag,
    releases: impl Iterator<Item = &'a crate::store::Release>,
) -> VersionImages {
    let mut images = VersionImages {
        signed: Vec::new(),
        pinned: Vec::new(),
    };
    let add_signed = |name: &crate::names::RepoPath, images: &mut VersionImages| {
        if !images.signed.contains(name) {
            images.signed.push(name.clone());
        }
    };
    for r in releases {
        match (&r.repository, &r.reference) {
            (None, _) => {
                for name in &policy.images {
                    add_signed(name, &mut images);
                }
            }
            (Some(repo), Reference::Tag(t)) if t == version => {
                if let Some(name) = policy.name_of(repo) {
                    add_signed(&name, &mut images);
                }
            }
            (Some(repo), Reference::Digest(d)) => {
                let name = repo
                    .path
                    .as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if !images.pinned.iter().any(|(_, r, pd)| r == repo && pd == d) {
                    images.pinned.push((name, repo.clone(), d.clone()));
                }
            }
            (Some(_), Reference::Tag(_)) => {}
        }
    }
    images
}

//! The client side: requests to a vendor's upstream registry with the
//! vendor's credentials (Basic, a static bearer token, or the docker token
//! flow), following redirects without credentials, and mapping upstream
//! failures to what a client should see (research/proxy.md §2.10).
//!
//! What an upstream can make the proxy contact is bounded (issue 14,
//! finding 3). "The upstream's own host" is the origin of its configured
//! `url`: scheme, host as written, and port. Anything else it names — a
//! redirect target, a token realm — is another host:
//! - the vendor's credentials go only to the upstream's origin and to
//!   token realms on hosts listed in `realm_hosts`;
//! - other hosts are reached only at public addresses: an IP literal is
//!   checked before connecting, a name is resolved by [`PublicOnlyResolver`]
//!   (so a public-looking name resolving to 127.0.0.1 is refused, and DNS
//!   cannot answer differently between the check and the connection),
//!   unless the vendor sets `insecure_allow_internal_redirects`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use base64::Engine as _;
use serde::Deserialize;

use crate::config::{UpstreamCredentials, UpstreamSettings};
use crate::metrics::Metrics;
use crate::names::RepoPath;

pub mod fetch;

pub use fetch::{BadContent, Resource};

/// Redirects followed per request. distribution's client and Go's
/// net/http stop at 10; blob storage needs one (registry → S3/GCS), so 5
/// leaves room for a CDN hop without allowing loops.
pub const MAX_REDIRECTS: usize = 5;
/// Time to establish a TCP (and TLS) connection to an upstream.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while reading an upstream response before giving up.
/// Generous for slow object storage; a stalled transfer still ends.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest token response read from an upstream's token endpoint (they are
/// a few KiB; GCR's are the largest seen, under 2 KiB).
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest `WWW-Authenticate` header parsed.
pub const MAX_CHALLENGE_LEN: usize = 4 * 1024;
/// Assumed token lifetime when the upstream gives none: the token spec's
/// default of 60 seconds.
pub const DEFAULT_UPSTREAM_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Upstream tokens are reused until this long before they expire.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(10);
/// Most upstream tokens cached per upstream (one per repository scope).
pub const MAX_CACHED_TOKENS: usize = 1024;
/// Longest upstream error body quoted in our own error messages.
const MAX_QUOTED_BODY: usize = 512;

/// What went wrong talking to an upstream.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Connection refused, DNS failure, timeout.
    #[error("upstream {upstream} is unreachable: {reason}")]
    Unreachable {
        /// Upstream name.
        upstream: String,
        /// What failed.
        reason: String,
    },
    /// The upstream refused the vendor's credentials.
    #[error("upstream {upstream} refused the vendor's credentials ({status}): {detail}")]
    CredentialsRefused {
        /// Upstream name.
        upstream: String,
        /// 401 or 403.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The upstream rate-limited us.
    #[error("upstream {upstream} is rate limiting requests")]
    RateLimited {
        /// Upstream name.
        upstream: String,
        /// Its `Retry-After`, if any.
        retry_after: Option<String>,
    },
    /// An answer that makes no sense (bad challenge, bad token response,
    /// bad redirect, 5xx).
    #[error("upstream {upstream}: {reason}")]
    BadResponse {
        /// Upstream name.
        upstream: String,
        /// What was wrong.
        reason: String,
    },
    /// The upstream does not have it (404).
    #[error("upstream {upstream} has no {resource}")]
    NotFound {
        /// Upstream name.
        upstream: String,
        /// What was asked for.
        resource: Box<Resource>,
    },
    /// A status the request does not expect (not 200 or 404, and none of
    /// the failures above).
    #[error("upstream {upstream} answered {status} for {}{resource}", page.map(|p| format!("page {p} of ")).unwrap_or_default())]
    Status {
        /// Upstream name.
        upstream: String,
        /// The status.
        status: StatusCode,
        /// What was asked for.
        resource: Box<Resource>,
        /// The page of a paged list (1-based).
        page: Option<usize>,
    },
    /// Content that is not what was asked for: refused, never cached.
    #[error("upstream {upstream} answered {resource} with {problem}: refused, not cached")]
    Invalid {
        /// Upstream name.
        upstream: String,
        /// What was asked for.
        resource: Box<Resource>,
        /// What is wrong with it.
        problem: BadContent,
    },
}

/// An authentication scheme named in a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Not (yet) known, or not one we speak.
    Unknown,
    /// `Basic`.
    Basic,
    /// `Bearer` (the docker token flow).
    Bearer,
}

#[derive(Debug)]
struct AuthState {
    scheme: Scheme,
    /// Bearer tokens by scope.
    tokens: HashMap<String, (String, Instant)>,
}

/// One upstream registry.
#[derive(Debug)]
pub struct Upstream {
    settings: UpstreamSettings,
    /// For the upstream's own origin and its listed realm hosts.
    client: reqwest::Client,
    /// For every other host an upstream names: connects to public
    /// addresses only (unless internal redirects are allowed).
    elsewhere: reqwest::Client,
    auth: Mutex<AuthState>,
}

/// A request to send upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRequest<'a> {
    /// GET or HEAD.
    pub method: Method,
    /// The repository on the upstream.
    pub repository: &'a RepoPath,
    /// What follows `/v2/<repository>/`: `manifests/<ref>`, `blobs/<digest>`, …
    pub suffix: String,
    /// Headers to pass (Accept, Range).
    pub headers: HeaderMap,
}

impl Upstream {
    /// A client for one configured upstream.
    pub fn new(settings: UpstreamSettings) -> Result<Self, UpstreamError> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .user_agent(concat!("vouch-proxy/", env!("CARGO_PKG_VERSION")))
                .no_proxy()
        };
        let elsewhere = if settings.allow_internal_redirects {
            tracing::warn!(
                upstream = %settings.name,
                "redirects to internal addresses are followed (insecure_allow_internal_redirects)"
            );
            builder()
        } else {
            builder().dns_resolver(Arc::new(PublicOnlyResolver))
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| UpstreamError::Unreachable {
                upstream: settings.name.to_string(),
                reason: format!("cannot build HTTP client: {e}"),
            })
        };
        let client = built(builder())?;
        let elsewhere = built(elsewhere)?;
        let scheme = match settings.credentials {
            UpstreamCredentials::Bearer(_) => Scheme::Bearer,
            _ => Scheme::Unknown,
        };
        Ok(Self {
            settings,
            client,
            elsewhere,
            auth: Mutex::new(AuthState {
                scheme,
                tokens: HashMap::new(),
            }),
        })
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        self.settings.name.as_str()
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Unreachable {
            upstream: self.name().to_string(),
            reason: e.to_string(),
        }
    }

    fn bad(&self, reason: impl Into<String>) -> UpstreamError {
        UpstreamError::BadResponse {
            upstream: self.name().to_string(),
            reason: reason.into(),
        }
    }

    /// Sends a request, authenticating as the vendor and following
    /// redirects (without credentials). Returns the final response for
    /// the caller to interpret; 401/403/429/5xx are already turned into
    /// errors, other statuses (200, 206, 404, 416, …) are returned.
    pub async fn send(
        &self,
        request: &UpstreamRequest<'_>,
        metrics: &Metrics,
    ) -> Result<reqwest::Response, UpstreamError> {
        let started = Instant::now();
        let result = self.send_inner(request).await;
        metrics.upstream_request(
            started.elapsed(),
            result.as_ref().map(|r| r.status().as_u16()).ok(),
        );
        result
    }

    async fn send_inner(
        &self,
        request: &UpstreamRequest<'_>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = format!(
            "{}/v2/{}/{}",
            self.settings.url.as_str().trim_end_matches('/'),
            request.repository,
            request.suffix
        );
        let scope = format!("repository:{}:pull", request.repository);
        let mut response = self
            .send_once(request, &url, self.authorization(&scope))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let authorization = self.answer_challenge(challenge.as_deref(), &scope).await?;
            response = self.send_once(request, &url, Some(authorization)).await?;
        }
        let response = self.follow_redirects(request, response).await?;
        self.check_status(response).await
    }

    async fn send_once(
        &self,
        request: &UpstreamRequest<'_>,
        url: &str,
        authorization: Option<String>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut builder = self
            .client
            .request(request.method.clone(), url)
            .headers(request.headers.clone());
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))
    }

    /// The Authorization header to send up front, from what earlier
    /// challenges taught us.
    fn authorization(&self, scope: &str) -> Option<String> {
        let auth = crate::memo::lock(&self.auth);
        match (&self.settings.credentials, auth.scheme) {
            (UpstreamCredentials::Bearer(token), _) => Some(format!("Bearer {token}")),
            (UpstreamCredentials::Basic { username, password }, Scheme::Basic) => {
                Some(basic(username, password))
            }
            (_, Scheme::Bearer) => auth
                .tokens
                .get(scope)
                .filter(|(_, expires)| *expires > Instant::now())
                .map(|(token, _)| format!("Bearer {token}")),
            _ => None,
        }
    }

    async fn answer_challenge(
        &self,
        challenge: Option<&str>,
        scope: &str,
    ) -> Result<String, UpstreamError> {
        let refused = |detail: &str| UpstreamError::CredentialsRefused {
            upstream: self.name().to_string(),
            status: 401,
            detail: detail.to_string(),
        };
        let challenge =
            challenge.ok_or_else(|| refused("401 without a WWW-Authenticate challenge"))?;
        let parsed = parse_challenge(challenge)
            .ok_or_else(|| self.bad(format!("unreadable challenge {challenge:?}")))?;
        match (parsed.scheme, &self.settings.credentials) {
            (Scheme::Basic, UpstreamCredentials::Basic { username, password }) => {
                crate::memo::lock(&self.auth).scheme = Scheme::Basic;
                Ok(basic(username, password))
            }
            (Scheme::Basic, _) => Err(refused(
                "upstream asks for Basic auth; configure username and password",
            )),
            (Scheme::Bearer, UpstreamCredentials::Bearer(_)) => {
                Err(refused("static bearer token refused"))
            }
            (Scheme::Bearer, credentials) => {
                let realm = parsed
                    .params
                    .get("realm")
                    .ok_or_else(|| self.bad("bearer challenge without realm"))?;
                let token = self
                    .fetch_token(
                        realm,
                        parsed.params.get("service").map(String::as_str),
                        scope,
                        credentials,
                    )
                    .await?;
                let mut auth = crate::memo::lock(&self.auth);
                auth.scheme = Scheme::Bearer;
                if auth.tokens.len() >= MAX_CACHED_TOKENS {
                    auth.tokens.clear();
                }
                auth.tokens
                    .insert(scope.to_string(), (token.0.clone(), token.1));
                Ok(format!("Bearer {}", token.0))
            }
            (Scheme::Unknown, _) => {
                Err(self.bad(format!("unsupported auth scheme in {challenge:?}")))
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: &UpstreamCredentials,
    ) -> Result<(String, Instant), UpstreamError> {
        let mut url =
            reqwest::Url::parse(realm).map_err(|e| self.bad(format!("realm {realm:?}: {e}")))?;
        self.check_url(&url)?;
        let trusted = self.is_own_origin(&url)
            || is_listed_realm(&self.settings.url, &self.settings.realm_hosts, &url)
            || is_known_realm(&self.settings.url, &url);
        let client = match (trusted, credentials) {
            (true, _) => &self.client,
            (false, UpstreamCredentials::Anonymous) => self.client_elsewhere(&url)?,
            (false, _) => {
                return Err(self.bad(format!(
                    "the token realm {url} is not on the upstream's host, so the vendor's credentials are not sent there; \
                     if it is the upstream's token server, list {:?} in realm_hosts",
                    host_port(&url)
                )));
            }
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let mut builder = client.get(url.clone());
        if let UpstreamCredentials::Basic { username, password } = credentials {
            builder = builder.header(header::AUTHORIZATION, basic(username, password));
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.send_error(&e, &url))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(UpstreamError::CredentialsRefused {
                upstream: self.name().to_string(),
                status: status.as_u16(),
                detail: "token endpoint refused the vendor's credentials".into(),
            });
        }
        if !status.is_success() {
            return Err(self.bad(format!("token endpoint answered {status}")));
        }
        let body = read_limited(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|e| self.bad(format!("token response: {e}")))?;
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| self.bad(format!("token response is not JSON: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.bad("token response without a token"))?;
        let ttl = parsed
            .expires_in
            .map_or(DEFAULT_UPSTREAM_TOKEN_TTL, Duration::from_secs)
            .saturating_sub(TOKEN_REFRESH_MARGIN);
        Ok((token, Instant::now() + ttl))
    }

    fn check_url(&self, url: &reqwest::Url) -> Result<(), UpstreamError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.settings.allow_http => Ok(()),
            other => Err(self.bad(format!(
                "refusing a {other}:// URL ({url}); only https is followed (insecure_allow_http permits http)"
            ))),
        }
    }

    /// Whether `url` is on the upstream's own origin (scheme, host as
    /// configured, port): `localhost` is not `127.0.0.1`, and another port
    /// is another service.
    fn is_own_origin(&self, url: &reqwest::Url) -> bool {
        url.origin() == self.settings.url.origin()
    }

    /// The client for a host the upstream named (a redirect target, an
    /// anonymous token realm): the upstream's own client for its origin;
    /// otherwise refuses an internal IP literal here and leaves names to
    /// [`PublicOnlyResolver`].
    fn client_elsewhere(&self, url: &reqwest::Url) -> Result<&reqwest::Client, UpstreamError> {
        if self.is_own_origin(url) {
            return Ok(&self.client);
        }
        if self.settings.allow_internal_redirects {
            return Ok(&self.elsewhere);
        }
        // The URL parser has already normalised IPv4 forms (`0x7f.1`) to
        // dotted decimal; an IPv6 literal comes bracketed.
        let literal = url.host_str().and_then(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        });
        match literal {
            Some(ip) if is_internal(ip) => Err(self.bad(format!(
                "refusing {url}: {ip} is an internal address (loopback, private, link-local, multicast, reserved or unspecified) \
                 and not the upstream's own host; insecure_allow_internal_redirects permits it"
            ))),
            _ => Ok(&self.elsewhere),
        }
    }

    /// A failed request: refused by [`PublicOnlyResolver`] (the upstream
    /// named an internal host: 502), or the host is unreachable (503).
    fn send_error(&self, e: &reqwest::Error, url: &reqwest::Url) -> UpstreamError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(internal) = s.downcast_ref::<InternalAddress>() {
                return self.bad(format!(
                    "refusing {url}: {internal}, and it is not the upstream's own host; \
                     insecure_allow_internal_redirects permits it"
                ));
            }
            source = s.source();
        }
        self.unreachable(error_chain(e))
    }

    /// Follows 301/302/303/307/308 with GET/HEAD and no credentials:
    /// redirect targets are storage (S3, GCS, CDN) that must not see the
    /// vendor's registry credentials (distribution-spec: clients must not
    /// forward Authorization across hosts). Targets off the upstream's
    /// origin must be public addresses ([`Self::client_elsewhere`]).
    async fn follow_redirects(
        &self,
        request: &UpstreamRequest<'_>,
        mut response: reqwest::Response,
    ) -> Result<reqwest::Response, UpstreamError> {
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED
            {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    self.bad(format!("{} without a Location header", response.status()))
                })?;
            let next = response
                .url()
                .join(location)
                .map_err(|e| self.bad(format!("redirect to {location:?}: {e}")))?;
            self.check_url(&next)?;
            let client = self.client_elsewhere(&next)?;
            let mut headers = HeaderMap::new();
            for name in [header::RANGE, header::ACCEPT] {
                if let Some(v) = request.headers.get(&name) {
                    headers.insert(name, v.clone());
                }
            }
            response = client
                .request(request.method.clone(), next.clone())
                .headers(headers)
                .send()
                .await
                .map_err(|e| self.send_error(&e, &next))?;
        }
        Err(self.bad(format!("more than {MAX_REDIRECTS} redirects")))
    }

    async fn check_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, UpstreamError> {
        let status = response.status();
        match status.as_u16() {
            401 | 403 => {
                let detail = quote_body(response).await;
                Err(UpstreamError::CredentialsRefused {
                    upstream: self.name().to_string(),
                    status: status.as_u16(),
                    detail,
                })
            }
            429 => Err(UpstreamError::RateLimited {
                upstream: self.name().to_string(),
                retry_after: response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| v.len() < 64)
                    .map(str::to_string),
            }),
            500..=599 => {
                let detail = quote_body(response).await;
                Err(self.bad(format!("answered {status}: {detail}")))
            }
            _ => Ok(response),
        }
    }
}

/// Whether `realm` is on a host the vendor listed in `realm_hosts`, over the
/// upstream's own scheme: a listed host never gets the credentials in
/// cleartext for an HTTPS upstream.
fn is_listed_realm(upstream: &reqwest::Url, listed: &[RealmHost], realm: &reqwest::Url) -> bool {
    realm.scheme() == upstream.scheme() && listed.iter().any(|h| h.matches(realm))
}

/// Token servers that well-known registries name in their challenges,
/// trusted for them without `realm_hosts`: (registry host, realm host), both
/// HTTPS on the default port. Docker Hub serves its API on
/// `registry-1.docker.io` and its tokens on `auth.docker.io`; GHCR, Quay,
/// ECR, GAR and distribution serve tokens on the registry host itself.
const KNOWN_REALMS: &[(&str, &str)] = &[
    ("registry-1.docker.io", "auth.docker.io"),
    ("index.docker.io", "auth.docker.io"),
    ("docker.io", "auth.docker.io"),
];

/// Whether `realm` is the well-known token server of the registry at
/// `upstream` ([`KNOWN_REALMS`]).
fn is_known_realm(upstream: &reqwest::Url, realm: &reqwest::Url) -> bool {
    let https_default = |u: &reqwest::Url| u.scheme() == "https" && u.port().is_none();
    https_default(upstream)
        && https_default(realm)
        && KNOWN_REALMS.iter().any(|(registry, token_server)| {
            upstream.host_str() == Some(registry) && realm.host_str() == Some(token_server)
        })
}

/// A host besides the upstream's own that may receive the vendor's
/// credentials as a token realm (`realm_hosts = ["auth.docker.io"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmHost {
    host: String,
    /// `None`: the realm URL's scheme's default port.
    port: Option<u16>,
}

impl RealmHost {
    /// Parses `host` or `host:port` (no scheme, path or user info).
    pub fn parse(text: &str) -> Result<Self, InvalidRealmHost> {
        let refuse = |problem| InvalidRealmHost {
            text: text.to_string(),
            problem,
        };
        if text.is_empty() || text.contains(['/', '@', '?', '#', '\\']) {
            return Err(refuse(RealmHostProblem::NotAHost));
        }
        let url = reqwest::Url::parse(&format!("https://{text}"))
            .map_err(|e| refuse(RealmHostProblem::Url(e.to_string())))?;
        let host = url
            .host_str()
            .ok_or_else(|| refuse(RealmHostProblem::NoHost))?;
        // An explicit :443 is normalised away by the URL parser; keep it.
        let port = match text.rsplit_once(':') {
            Some((_, p)) if !text.ends_with(']') => {
                Some(p.parse().map_err(|_| refuse(RealmHostProblem::BadPort))?)
            }
            _ => None,
        };
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// Whether `url` is on this host (and port).
    pub fn matches(&self, url: &reqwest::Url) -> bool {
        url.host_str() == Some(self.host.as_str())
            && match self.port {
                None => url.port().is_none(),
                Some(port) => url.port_or_known_default() == Some(port),
            }
    }
}

/// A `realm_hosts` entry that is not `host` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {problem}; expected host or host:port")]
pub struct InvalidRealmHost {
    /// The entry.
    pub text: String,
    /// What is wrong with it.
    pub problem: RealmHostProblem,
}

/// What is wrong with a `realm_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealmHostProblem {
    /// Empty, or holds a path, user info, query or fragment.
    #[error("not a host")]
    NotAHost,
    /// Not a URL authority.
    #[error("{0}")]
    Url(String),
    /// No host in it.
    #[error("no host")]
    NoHost,
    /// A port that is not a number up to 65535.
    #[error("bad port")]
    BadPort,
}

/// `host[:port]` of a URL, as `realm_hosts` takes it.
fn host_port(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    }
}

/// Whether an upstream may not send the proxy to `ip` (a host other than
/// its own): loopback, private (RFC 1918; IPv6 unique local, RFC 4193),
/// shared address space (RFC 6598: carrier NAT, some clouds' metadata
/// services), link-local (RFC 3927, RFC 4291: cloud metadata at
/// 169.254.169.254), unspecified and "this network" (RFC 1122 §3.2.1.3:
/// Linux connects 0.0.0.0 to loopback). IPv4-mapped IPv6 addresses are
/// judged as IPv4.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || a >= 240
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local()
                    || v6.is_multicast()
            }
        },
    }
}

/// The IPv4 address an IPv6 address reaches, where it embeds one: mapped
/// (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`, deprecated but routed by
/// some stacks), NAT64 (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002::/16`,
/// RFC 3056). Each is judged as the IPv4 address it leads to.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| Some(std::net::Ipv4Addr::new(a, b, c, d));
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..]
            if !v6.is_loopback() && !v6.is_unspecified() =>
        {
            v4(o[12], o[13], o[14], o[15])
        }
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => v4(o[12], o[13], o[14], o[15]),
        [0x2002, ..] => v4(o[2], o[3], o[4], o[5]),
        _ => None,
    }
}

/// A name that resolves only to internal addresses ([`is_internal`]).
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses ({addresses})")]
pub struct InternalAddress {
    host: String,
    addresses: String,
}

/// DNS for hosts an upstream names other than its own: internal
/// addresses are dropped, and a name with no other address fails with
/// [`InternalAddress`]. Checking here, where the connection gets its
/// addresses, leaves no window for DNS to answer differently between a
/// check and the connection. (IP literals never reach a resolver; see
/// `Upstream::client_elsewhere`.)
#[derive(Debug)]
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let (internal, public): (Vec<SocketAddr>, Vec<SocketAddr>) =
                tokio::net::lookup_host((host.as_str(), 0))
                    .await?
                    .partition(|a| is_internal(a.ip()));
            if public.is_empty() && !internal.is_empty() {
                let addresses = internal
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(InternalAddress { host, addresses }) as _);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// The error and its causes, for messages ("connection refused" sits a
/// few levels down in reqwest's error chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn quote_body(response: reqwest::Response) -> String {
    match read_limited(response, MAX_QUOTED_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(e) => e,
    }
}

/// Reads a whole body of at most `limit` bytes (refusing larger ones
/// without reading them all).
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("body larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("body larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A parsed `WWW-Authenticate` challenge from an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme.
    pub scheme: Scheme,
    /// Its auth-params, keys lower-cased (`realm`, `service`, `scope`).
    pub params: HashMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`
/// (RFC 9110 §11.6.1 auth-params, quoted or token values). Upstream-
/// controlled input: bounded by [`MAX_CHALLENGE_LEN`], `None` when malformed.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    if value.len() > MAX_CHALLENGE_LEN {
        return None;
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("basic") {
        Scheme::Basic
    } else {
        Scheme::Unknown
    };
    let mut params = HashMap::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => val.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, val);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge { scheme, params })
}

/// The Accept list sent when a client sends none: every manifest type we
/// serve (research/proxy.md §2.4; distribution refuses OCI manifests to
/// clients that do not list them, research/peers.md §1).
pub const DEFAULT_MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// The Accept header to send upstream for a manifest: the client's,
/// every value joined (containers/image sends one header per media type),
/// when it names a manifest media type; otherwise (none, `*/*`,
/// `application/json`) [`DEFAULT_MANIFEST_ACCEPT`], which is what a
/// client accepting anything accepts.
pub fn manifest_accept(headers: &HeaderMap) -> HeaderValue {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = values.join(", ");
    if joined.contains("application/vnd.")
        && joined.len() <= MAX_ACCEPT_LEN
        && let Ok(v) = HeaderValue::from_str(&joined)
    {
        return v;
    }
    HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT)
}

/// The media types served as manifests: OCI image manifest and index
/// (image-spec v1.1 `media-types.md`), Docker image manifest v2 schema 2
/// and manifest list — exactly what [`DEFAULT_MANIFEST_ACCEPT`] asks for.
/// Docker schema 1 is deprecated and never asked for.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Why upstream content is not served as a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAManifest {
    /// The media type is not one of [`MANIFEST_MEDIA_TYPES`] (an upstream
    /// answering `text/html`, say, after a redirect to a web page).
    #[error("media type {0:?} is not an OCI or Docker manifest or index type")]
    MediaType(String),
    /// The body is not a JSON object.
    #[error("the body is not a JSON object ({0})")]
    NotJson(String),
}

/// Refuses upstream content that is not a manifest: a media type outside
/// [`MANIFEST_MEDIA_TYPES`], or a body that is not a JSON object (both
/// image-spec manifest and index are JSON objects). Never served, never
/// cached.
pub fn check_manifest(media_type: &str, bytes: &[u8]) -> Result<(), NotAManifest> {
    if !MANIFEST_MEDIA_TYPES.contains(&media_type) {
        return Err(NotAManifest::MediaType(media_type.to_string()));
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
        .map(drop)
        .map_err(|e| NotAManifest::NotJson(e.to_string()))
}

/// Longest Accept value passed upstream (the full list of every manifest
/// type with parameters is under 1 KiB).
pub const MAX_ACCEPT_LEN: usize = 4 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["service"], "registry.example.com");
        assert_eq!(c.params["scope"], "repository:a/b:pull");
        let c = parse_challenge(r#"Basic realm="basic-realm""#).unwrap();
        assert_eq!(c.scheme, Scheme::Basic);
        let c = parse_challenge(r#"Bearer realm="a\"b", service=svc"#).unwrap();
        assert_eq!(c.params["realm"], "a\"b");
        assert_eq!(c.params["service"], "svc");
    }

    #[test]
    fn refuses_unreadable_challenges() {
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge("Bearer novalue").is_none());
        assert!(
            parse_challenge(&format!(
                "Bearer realm=\"{}\"",
                "a".repeat(MAX_CHALLENGE_LEN)
            ))
            .is_none()
        );
    }

    #[test]
    fn accept_defaults_to_every_manifest_type() {
        let mut h = HeaderMap::new();
        assert_eq!(manifest_accept(&h), DEFAULT_MANIFEST_ACCEPT);
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(manifest_accept(&h), DEFAULT_MANIFEST_ACCEPT);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        );
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        );
        assert_eq!(
            manifest_accept(&h),
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        );
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "ff02::1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "52.216.0.1",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2600:1f18::1",
            "::ffff:52.216.0.1",
            "64:ff9b::808:808",
            "2002:808:808::",
            "198.20.0.1",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn docker_hubs_token_server_is_known_only_for_docker_hub_over_https() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let realm = url("https://auth.docker.io/token");
        for hub in ["https://registry-1.docker.io", "https://index.docker.io"] {
            assert!(is_known_realm(&url(hub), &realm), "{hub}");
        }
        for (upstream, realm) in [
            ("https://ghcr.io", "https://auth.docker.io/token"),
            (
                "https://registry-1.docker.io",
                "http://auth.docker.io/token",
            ),
            (
                "https://registry-1.docker.io",
                "https://auth.docker.io:8443/token",
            ),
            (
                "https://registry-1.docker.io",
                "https://auth.docker.io.evil.test/token",
            ),
            (
                "http://registry-1.docker.io",
                "https://auth.docker.io/token",
            ),
            (
                "https://registry-1.docker.io.evil.test",
                "https://auth.docker.io/token",
            ),
        ] {
            assert!(
                !is_known_realm(&url(upstream), &url(realm)),
                "{upstream} {realm}"
            );
        }
    }

    #[test]
    fn a_listed_realm_gets_credentials_only_over_the_upstreams_scheme() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let listed = [RealmHost::parse("auth.example.com").unwrap()];
        let https = url("https://registry.example.com");
        assert!(is_listed_realm(
            &https,
            &listed,
            &url("https://auth.example.com/t")
        ));
        assert!(!is_listed_realm(
            &https,
            &listed,
            &url("http://auth.example.com/t")
        ));
        assert!(!is_listed_realm(
            &https,
            &listed,
            &url("https://other.example.com/t")
        ));
        let http = url("http://registry.internal:5000");
        assert!(is_listed_realm(
            &http,
            &listed,
            &url("http://auth.example.com/t")
        ));
    }

    #[test]
    fn realm_hosts_match_host_and_port() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let docker = RealmHost::parse("auth.docker.io").unwrap();
        assert!(docker.matches(&url("https://auth.docker.io/token")));
        assert!(docker.matches(&url("https://auth.docker.io:443/token")));
        assert!(!docker.matches(&url("https://auth.docker.io:8443/token")));
        assert!(!docker.matches(&url("https://auth.docker.io.evil.test/token")));
        let port = RealmHost::parse("127.0.0.1:5001").unwrap();
        assert!(port.matches(&url("http://127.0.0.1:5001/token")));
        assert!(!port.matches(&url("http://127.0.0.1:5002/token")));
        assert!(!port.matches(&url("http://localhost:5001/token")));
        let v6 = RealmHost::parse("[::1]:5001").unwrap();
        assert!(v6.matches(&url("http://[::1]:5001/token")));
        assert!(
            RealmHost::parse("[::1]")
                .unwrap()
                .matches(&url("https://[::1]/t"))
        );
        for bad in [
            "",
            "https://auth.docker.io",
            "auth.docker.io/token",
            "u@h",
            "h:x",
        ] {
            assert!(
                matches!(
                    RealmHost::parse(bad),
                    Err(InvalidRealmHost {
                        problem: RealmHostProblem::NotAHost
                            | RealmHostProblem::BadPort
                            | RealmHostProblem::Url(_),
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_manifests_pass_as_manifests() {
        let oci = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(check_manifest(oci, br#"{"schemaVersion":2}"#), Ok(()));
        assert!(matches!(
            check_manifest("text/html", b"<html></html>"),
            Err(NotAManifest::MediaType(_))
        ));
        assert!(matches!(
            check_manifest("application/json", b"{}"),
            Err(NotAManifest::MediaType(_))
        ));
        for body in [&b"<html>"[..], b"[1]", b"\"s\"", b""] {
            assert!(matches!(
                check_manifest(oci, body),
                Err(NotAManifest::NotJson(_))
            ));
        }
    }
}

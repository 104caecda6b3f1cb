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

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use base64::Engine as _;
use vouch_oci::{
    AuthScheme, PlainHttpRealms, RealmAccess, RealmHosts, RealmPolicy, TokenCache, TokenCredential,
    TokenError, TokenRequest, check_realm, error_chain, fetch_token, parse_challenge,
};

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
/// The token flow's limits, shared with `vouch` (`vouch_oci::token`).
pub use vouch_oci::{
    DEFAULT_TOKEN_TTL, MAX_CACHED_TOKENS, MAX_CHALLENGE_LEN, MAX_TOKEN_RESPONSE, RealmHost,
    TOKEN_REFRESH_MARGIN,
};
/// What is served as a manifest, shared with `vouch` (`vouch_oci_types`).
pub use vouch_oci_types::{MANIFEST_MEDIA_TYPES, NotAManifest, check_manifest};
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
    /// Bearer tokens by scope, until they expire.
    tokens: TokenCache,
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
                tokens: TokenCache::new(),
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
            (_, Scheme::Bearer) => auth.tokens.get(scope).map(|t| format!("Bearer {t}")),
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
        let parsed = parse_challenge(challenge).map_err(|e| {
            self.bad(format!(
                "unreadable challenge {:?}: {e}",
                challenge.chars().take(200).collect::<String>()
            ))
        })?;
        let scheme = match parsed.scheme {
            AuthScheme::Basic => Scheme::Basic,
            AuthScheme::Bearer => Scheme::Bearer,
            AuthScheme::Other(_) => Scheme::Unknown,
        };
        match (scheme, &self.settings.credentials) {
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
                auth.tokens
                    .insert(scope, token.value.clone(), Some(token.expires_at));
                Ok(format!("Bearer {}", token.value))
            }
            (Scheme::Unknown, _) => {
                Err(self.bad(format!("unsupported auth scheme in {challenge:?}")))
            }
        }
    }

    /// The shared token flow ([`vouch_oci::fetch_token`]) under the proxy's
    /// realm policy: the vendor's credentials go to the upstream's origin,
    /// its `realm_hosts` over its own scheme and the known token servers of
    /// well-known registries; another realm is asked anonymously through the
    /// public-addresses-only client, or not at all when there are
    /// credentials to send.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: &UpstreamCredentials,
    ) -> Result<vouch_oci::Token, UpstreamError> {
        let url =
            reqwest::Url::parse(realm).map_err(|e| self.bad(format!("realm {realm:?}: {e}")))?;
        let policy = RealmPolicy {
            registry: &self.settings.url,
            plain_http: if self.settings.allow_http {
                PlainHttpRealms::Allowed
            } else {
                PlainHttpRealms::WhenRegistryIsHttp
            },
            hosts: RealmHosts::Listed(&self.settings.realm_hosts),
        };
        let access = check_realm(&url, &policy).map_err(|_| self.refused_scheme(&url))?;
        let client = match (access, credentials) {
            (RealmAccess::WithCredentials, _) => &self.client,
            (RealmAccess::AnonymousOnly, UpstreamCredentials::Anonymous) => {
                self.client_elsewhere(&url)?
            }
            (RealmAccess::AnonymousOnly, _) => {
                return Err(self.bad(format!(
                    "the token realm {url} is not on the upstream's host, so the vendor's credentials are not sent there; \
                     if it is the upstream's token server, list {:?} in realm_hosts",
                    host_port(&url)
                )));
            }
        };
        let credential = match credentials {
            UpstreamCredentials::Basic { username, password } => {
                TokenCredential::Basic { username, password }
            }
            _ => TokenCredential::Anonymous,
        };
        let realm = &url;
        fetch_token(
            client,
            &TokenRequest {
                realm,
                service,
                scope,
                credential,
            },
            None,
        )
        .await
        .map_err(|e| match e {
            TokenError::Send(e) => self.send_error(&e, &url),
            TokenError::Refused { status, .. } => UpstreamError::CredentialsRefused {
                upstream: self.name().to_string(),
                status,
                detail: "token endpoint refused the vendor's credentials".into(),
            },
            TokenError::Status { status } => {
                self.bad(format!("token endpoint answered {}", status_text(status)))
            }
            TokenError::NoToken => self.bad("token response without a token"),
            other => self.bad(other.to_string()),
        })
    }

    fn refused_scheme(&self, url: &reqwest::Url) -> UpstreamError {
        self.bad(format!(
            "refusing a {}:// URL ({url}); only https is followed (insecure_allow_http permits http)",
            url.scheme()
        ))
    }

    fn check_url(&self, url: &reqwest::Url) -> Result<(), UpstreamError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.settings.allow_http => Ok(()),
            _ => Err(self.refused_scheme(url)),
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

async fn quote_body(response: reqwest::Response) -> String {
    match read_limited(response, MAX_QUOTED_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(e) => e.to_string(),
    }
}

/// A status code with its reason phrase, as `reqwest::StatusCode` shows it.
fn status_text(status: u16) -> String {
    StatusCode::from_u16(status).map_or_else(|_| status.to_string(), |s| s.to_string())
}

/// Reads a whole body of at most `limit` bytes ([`vouch_oci::read_limited`],
/// refusing larger ones without reading them all).
pub async fn read_limited(
    response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, vouch_oci::ReadError> {
    vouch_oci::read_limited(response, limit as u64).await
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

/// Longest Accept value passed upstream (the full list of every manifest
/// type with parameters is under 1 KiB).
pub const MAX_ACCEPT_LEN: usize = 4 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_defaults_to_every_manifest_type() {
        let mut h = HeaderMap::new();
        assert_eq!(manifest_accept(&h), DEFAULT_MANIFEST_ACCEPT);
        assert_eq!(DEFAULT_MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
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
}

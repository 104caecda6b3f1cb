//! The client side: requests to a vendor's upstream registry with the
//! vendor's credentials (Basic, a static bearer token, or the docker token
//! flow), following redirects without credentials, and mapping upstream
//! failures to what a client should see (research/proxy.md §2.10).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use base64::Engine as _;
use serde::Deserialize;

use crate::config::{UpstreamCredentials, UpstreamSettings};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::names::RepoPath;

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
    /// bad redirect, wrong content, oversized body, 5xx).
    #[error("upstream {upstream}: {reason}")]
    BadResponse {
        /// Upstream name.
        upstream: String,
        /// What was wrong.
        reason: String,
    },
}

impl UpstreamError {
    /// The response a client gets for this failure. Upstream auth failures
    /// are the vendor's problem, so never a 401 that would make the client
    /// re-prompt for its license.
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Unreachable { .. } => ApiError::unavailable(self.to_string()),
            Self::RateLimited { retry_after, .. } => {
                let e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TooManyRequests,
                    self.to_string(),
                );
                match retry_after {
                    Some(v) => e.with_header(header::RETRY_AFTER, v),
                    None => e,
                }
            }
            Self::CredentialsRefused { .. } | Self::BadResponse { .. } => {
                ApiError::bad_gateway(self.to_string())
            }
        }
    }
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
    client: reqwest::Client,
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
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("vouch-proxy/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| UpstreamError::Unreachable {
                upstream: settings.name.to_string(),
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        let scheme = match settings.credentials {
            UpstreamCredentials::Bearer(_) => Scheme::Bearer,
            _ => Scheme::Unknown,
        };
        Ok(Self {
            settings,
            client,
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
        let auth = self.auth.lock().expect("auth lock");
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
                self.auth.lock().expect("auth lock").scheme = Scheme::Basic;
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
                let mut auth = self.auth.lock().expect("auth lock");
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
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let mut builder = self.client.get(url);
        if let UpstreamCredentials::Basic { username, password } = credentials {
            builder = builder.header(header::AUTHORIZATION, basic(username, password));
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
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

    /// Follows 301/302/303/307/308 with GET/HEAD and no credentials:
    /// redirect targets are storage (S3, GCS, CDN) that must not see the
    /// vendor's registry credentials (distribution-spec: clients must not
    /// forward Authorization across hosts).
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
            let mut headers = HeaderMap::new();
            for name in [header::RANGE, header::ACCEPT] {
                if let Some(v) = request.headers.get(&name) {
                    headers.insert(name, v.clone());
                }
            }
            response = self
                .client
                .request(request.method.clone(), next)
                .headers(headers)
                .send()
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?;
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
    fn upstream_failures_never_look_like_client_auth_failures() {
        let e = UpstreamError::CredentialsRefused {
            upstream: "ghcr.io".into(),
            status: 401,
            detail: "bad".into(),
        };
        assert_eq!(e.to_api().status, StatusCode::BAD_GATEWAY);
        let e = UpstreamError::Unreachable {
            upstream: "ghcr.io".into(),
            reason: "refused".into(),
        };
        assert_eq!(e.to_api().status, StatusCode::SERVICE_UNAVAILABLE);
        let e = UpstreamError::RateLimited {
            upstream: "ghcr.io".into(),
            retry_after: Some("7".into()),
        };
        let api = e.to_api();
        assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            api.headers
                .iter()
                .any(|(n, v)| n == header::RETRY_AFTER && v == "7")
        );
    }
}

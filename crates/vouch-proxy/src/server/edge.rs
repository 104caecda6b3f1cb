//! The edge of the pipeline: the one place where typed failures of the
//! stages behind it (authenticate, authorize, entitlement, content
//! service, upstream, cache fill, state store) become HTTP statuses and
//! OCI error bodies, and where 5xx bodies are concealed.

use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authn::AuthFailure;
use super::service::ContentError;
use super::token::TokenError;
use super::{MAX_LOGGED_ERROR_BODY, Proxy};
use crate::auth;
use crate::cache::fill::FillError;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::ContentKind;
use crate::names::{AppSlug, Digest, Repository, UpstreamName};
use crate::route::RouteError;
use crate::store::{LicenseNumber, StoreError};
use crate::upstream::{Resource, UpstreamError};

/// Why a repository request is refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RequestError {
    /// The license is over its request rate.
    #[error("license {license} is over its request rate; retry in {} s", retry_secs(*.wait))]
    RateLimited {
        /// The license.
        license: LicenseNumber,
        /// How long until a request is allowed.
        wait: Duration,
    },
    /// The license is for another app than the path names.
    #[error("license {license} is for app {app}, not {requested}")]
    WrongApp {
        /// The license.
        license: LicenseNumber,
        /// Its app.
        app: AppSlug,
        /// The app in the path.
        requested: AppSlug,
    },
    /// The app's allow-list does not cover the repository.
    #[error("repository {repository} is not served by app {app}")]
    RepositoryNotServed {
        /// The repository.
        repository: Repository,
        /// The app.
        app: AppSlug,
    },
    /// Allowed, but the repository's upstream is not configured here.
    #[error("upstream {upstream} is allowed for app {app} but not configured on this proxy")]
    UpstreamNotConfigured {
        /// The upstream.
        upstream: UpstreamName,
        /// The app.
        app: AppSlug,
    },
    /// Content the license's entitlement does not reach: for the license
    /// it does not exist.
    #[error("{reason}")]
    NotEntitled {
        /// Manifest or blob.
        kind: ContentKind,
        /// Why, for the customer.
        reason: String,
    },
    /// A tag another channel of the app releases.
    #[error("{0}")]
    OnOtherChannel(String),
    /// A tags-list `n` that is not a number.
    #[error("n={0:?} is not a number")]
    PageSize(String),
    /// A `Range` outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// The app serves no referrers API.
    #[error("the referrers API is not available for {repository}; use the referrers tag schema (tag {})", subject.referrers_tag())]
    ReferrersOff {
        /// The repository.
        repository: Repository,
        /// The subject asked about.
        subject: Digest,
    },
    /// A manifest whose media type is not header text.
    #[error("unusable media type")]
    UnusableMediaType,
    /// The content service failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A method other than GET and HEAD (the token endpoint aside).
    #[error("{0} is not supported: this is a pull-only proxy")]
    Push(Method),
    /// A blob upload.
    #[error("blob uploads are not supported: this is a pull-only proxy")]
    Upload,
    /// `/v2/_catalog`.
    #[error("the catalog is not served; ask the vendor for your image list")]
    Catalog,
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        Self::Content(e.into())
    }
}

impl From<UpstreamError> for RequestError {
    fn from(e: UpstreamError) -> Self {
        Self::Content(e.into())
    }
}

fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let message = e.to_string();
        match e {
            RequestError::RateLimited { wait, .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                message,
            )
            .with_header(header::RETRY_AFTER, &retry_secs(wait).to_string()),
            RequestError::WrongApp { .. }
            | RequestError::RepositoryNotServed { .. }
            | RequestError::OnOtherChannel(_) => ApiError::denied(message),
            RequestError::UpstreamNotConfigured { .. } | RequestError::UnusableMediaType => {
                ApiError::bad_gateway(message)
            }
            RequestError::NotEntitled { kind, .. } => {
                ApiError::new(StatusCode::NOT_FOUND, unknown_code(kind), message)
            }
            RequestError::PageSize(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::PaginationNumberInvalid,
                message,
            ),
            RequestError::RangeNotSatisfiable { size } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::RangeInvalid,
                message,
            )
            .with_header(header::CONTENT_RANGE, &format!("bytes */{size}")),
            RequestError::ReferrersOff { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::Unsupported, message)
            }
            RequestError::Content(e) => e.into(),
            RequestError::Push(_) | RequestError::Upload => ApiError::unsupported(message),
            RequestError::Catalog => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::Unsupported, message)
            }
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// Our own failure: a 500 naming the state store.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ContentError::from(e).into()
    }
}

/// A path or name refused by the router: `NAME_UNKNOWN` (404) for what is
/// not a proxied repository or endpoint, `NAME_INVALID`, `TAG_INVALID` or
/// `DIGEST_INVALID` (400) for what is outside the grammar.
impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        let message = e.to_string();
        match e {
            RouteError::NotRegistryApi
            | RouteError::UnknownEndpoint
            | RouteError::NotProxyName(_) => ApiError::name_unknown(message),
            RouteError::Tag(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::TagInvalid, message)
            }
            RouteError::Digest(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid, message)
            }
            _ => ApiError::name_invalid(message),
        }
    }
}

/// The token endpoint's refusals: 401 with a Basic challenge for
/// credentials, 400 for a malformed OAuth2 form (the OAuth code leads the
/// message), 405 for another method; the rest as registry requests get them.
impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let message = e.to_string();
        match e {
            TokenError::Credentials { .. } => ApiError::unauthorized(message)
                .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"vouch-proxy\""),
            TokenError::OAuth { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Unsupported, message)
            }
            TokenError::Method => ApiError::unsupported(message),
            TokenError::Request(e) => e.into(),
            TokenError::Answered(answer) => answer,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

fn unknown_code(kind: ContentKind) -> ErrorCode {
    match kind {
        ContentKind::Manifest => ErrorCode::ManifestUnknown,
        ContentKind::Blob => ErrorCode::BlobUnknown,
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when the state store
/// cannot answer: a PostgreSQL restart or failover takes seconds to tens
/// of seconds, and registry clients retry a 503 that says when.
pub const STATE_RETRY_AFTER_SECS: u64 = 10;

/// The `detail.component` of a 503 for the state store, which
/// [`conceal_server_error`] turns into "temporarily unavailable".
const STATE_COMPONENT: &str = "database";

/// The state store could not answer (connecting, a pool timeout, SQL):
/// 503 with `Retry-After`, never a 401 that makes the client re-prompt for
/// credentials that are fine (issue 21, item 2). Other store failures
/// (a value that no longer parses) are our own 500.
fn state_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::Backend { .. } => ApiError::unavailable(format!("state store: {e}"))
            .with_header(header::RETRY_AFTER, &STATE_RETRY_AFTER_SECS.to_string())
            .with_detail(serde_json::json!({ "component": STATE_COMPONENT })),
        _ => ApiError::internal(format!("state store: {e}")),
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Upstream(e) => e.into(),
            ContentError::Fill(e) => e.into(),
            ContentError::Store(e) => state_error(&e),
            ContentError::CacheRead { .. } => ApiError::internal(e.to_string()),
        }
    }
}

impl From<FillError> for ApiError {
    fn from(e: FillError) -> Self {
        match e {
            FillError::Upstream(e) => e.into(),
            FillError::Staging { .. } | FillError::Store(_) | FillError::Lost => {
                ApiError::internal(e.to_string())
            }
            _ => ApiError::bad_gateway(e.to_string()),
        }
    }
}

/// What a client sees for an upstream failure. Upstream auth failures are
/// the vendor's problem, so never a 401 that would make the client
/// re-prompt for its license; a 404 is the client's 404 for what it asked.
impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        match &e {
            UpstreamError::Unreachable { .. } => ApiError::unavailable(e.to_string()),
            UpstreamError::RateLimited { retry_after, .. } => {
                let api = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TooManyRequests,
                    e.to_string(),
                );
                match retry_after {
                    Some(v) => api.with_header(header::RETRY_AFTER, v),
                    None => api,
                }
            }
            UpstreamError::NotFound { resource, .. } => not_found(resource),
            _ => ApiError::bad_gateway(e.to_string()),
        }
    }
}

/// The 404 for what the upstream does not have.
fn not_found(resource: &Resource) -> ApiError {
    let (code, message) = match resource {
        Resource::Manifest {
            repository,
            reference,
        } => (
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in {repository}"),
        ),
        Resource::Blob { repository, digest } => (
            ErrorCode::BlobUnknown,
            format!("blob {digest} is not in {repository}"),
        ),
        Resource::Tags { repository } => (
            ErrorCode::NameUnknown,
            format!("repository {repository} is unknown upstream"),
        ),
        Resource::Referrers {
            repository,
            subject,
        } => (
            ErrorCode::Unsupported,
            format!(
                "the referrers API is not available for {repository} (the upstream does not serve it); use the referrers tag schema (tag {})",
                subject.referrers_tag()
            ),
        ),
    };
    ApiError::new(StatusCode::NOT_FOUND, code, message)
}

impl Proxy {
    /// The host clients reach the proxy by: `server.public_host` when set;
    /// otherwise the request's authority (HTTP/2 `:authority`, or an
    /// absolute-form HTTP/1.1 target, which RFC 9112 §3.2.2 says wins over
    /// `Host`), else its `Host` header, when it is a valid host.
    pub(super) fn request_host(&self, parts: &Parts) -> Option<String> {
        match &self.settings.public_host {
            Some(host) => Some(host.clone()),
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
                .map(str::to_string),
        }
    }

    /// The `WWW-Authenticate` challenge for this request. The realm names
    /// `server.public_host` when set; otherwise the host the client used:
    /// the request's authority (HTTP/2 `:authority`, or an absolute-form
    /// HTTP/1.1 target, which RFC 9112 §3.2.2 says wins over `Host`), else
    /// its `Host` header.
    pub(super) fn challenge(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        insufficient: bool,
    ) -> Result<String, ApiError> {
        let host = self
            .request_host(parts)
            .ok_or_else(|| ApiError::name_invalid("missing or invalid Host header"))?;
        let host = host.as_str();
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

    /// What a caller who could not be authenticated sees: a 401 with the
    /// challenge ([`Proxy::refuse`]), except when the state store could
    /// not answer, which says nothing about the credentials (503).
    pub(super) fn refuse_or_unavailable(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        failure: AuthFailure,
    ) -> ApiError {
        match failure {
            AuthFailure::Store(e) => {
                self.metrics.auth_failure(AuthFailure::STORE_REASON);
                state_error(&e)
            }
            failure => self.refuse(parts, scope_name, &failure),
        }
    }

    /// A 401 with the challenge, counted under the failure's reason.
    pub(super) fn refuse(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
        failure: &AuthFailure,
    ) -> ApiError {
        self.refuse_with(
            parts,
            scope_name,
            failure.reason(),
            failure.to_string(),
            false,
        )
    }

    pub(super) fn refuse_with(
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
}

/// Replaces a 5xx body, which may name internal URLs, OS errors or words
/// the upstream said (possibly the vendor's own secrets), with a short
/// message and the request ID; the full body goes to the log at `error`
/// level with the same ID (issue 14, finding 4). 4xx bodies are kept: they
/// tell the customer about their own license, channel and entitlement.
pub(super) async fn conceal_server_error(
    response: Response,
    request_id: &str,
    parts: &Parts,
) -> Response {
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
    let component = serde_json::from_str::<serde_json::Value>(&detail)
        .ok()
        .and_then(|v| {
            v["errors"][0]["detail"]["component"]
                .as_str()
                .map(str::to_owned)
        });
    let (code, what) = match status {
        StatusCode::SERVICE_UNAVAILABLE if component.as_deref() == Some(STATE_COMPONENT) => (
            crate::error::ErrorCode::Unavailable,
            "the service is temporarily unavailable; try again later",
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_never_look_like_client_auth_failures() {
        let e = UpstreamError::CredentialsRefused {
            upstream: "ghcr.io".into(),
            status: 401,
            detail: "bad".into(),
        };
        assert_eq!(ApiError::from(e).status, StatusCode::BAD_GATEWAY);
        let e = UpstreamError::Unreachable {
            upstream: "ghcr.io".into(),
            reason: "refused".into(),
        };
        assert_eq!(ApiError::from(e).status, StatusCode::SERVICE_UNAVAILABLE);
        let e = UpstreamError::RateLimited {
            upstream: "ghcr.io".into(),
            retry_after: Some("7".into()),
        };
        let api = ApiError::from(e);
        assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            api.headers
                .iter()
                .any(|(n, v)| n == header::RETRY_AFTER && v == "7")
        );
    }

    #[test]
    fn an_upstream_404_is_the_clients_404_for_what_it_asked() {
        let repository = Repository::parse("ghcr.io/acme/api").unwrap();
        let digest = Digest::sha256_of(b"x");
        let missing = |resource| UpstreamError::NotFound {
            upstream: "ghcr.io".into(),
            resource: Box::new(resource),
        };
        let cases = [
            (
                Resource::Blob {
                    repository: repository.clone(),
                    digest: digest.clone(),
                },
                ErrorCode::BlobUnknown,
            ),
            (
                Resource::Manifest {
                    repository: repository.clone(),
                    reference: crate::names::Reference::Digest(digest.clone()),
                },
                ErrorCode::ManifestUnknown,
            ),
            (
                Resource::Tags {
                    repository: repository.clone(),
                },
                ErrorCode::NameUnknown,
            ),
            (
                Resource::Referrers {
                    repository,
                    subject: digest,
                },
                ErrorCode::Unsupported,
            ),
        ];
        for (resource, code) in cases {
            let api = ApiError::from(missing(resource));
            assert_eq!((api.status, api.code), (StatusCode::NOT_FOUND, code));
        }
    }
}

//! The token endpoint, `/v2/token` (docker token spec): `GET` with Basic
//! auth and `scope` parameters, or `POST` with the OAuth2 password grant
//! (distribution `docs/spec/auth/oauth.md`), which containerd tries first.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::authn::{AuthFailure, check_license_status};
use super::edge::RequestError;
use super::{AppView, Proxy};
use crate::auth::{self, MAX_SCOPES, Presented};
use crate::error::ApiError;
use crate::names::{AppSlug, Repository};
use crate::route::{client_name, parse_client_name};
use crate::store::{License, PullAction, PullRecord};

/// Largest `POST /v2/token` form accepted: username, password, scopes and
/// client id fit in well under 8 KiB.
pub const MAX_TOKEN_FORM_BYTES: usize = 8 * 1024;

/// Why the token endpoint issued no token. The edge (`server/edge.rs`)
/// makes each an HTTP answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TokenError {
    /// No valid credentials (401 with a Basic challenge); `reason` is the
    /// metric label it was counted under.
    #[error("{message}")]
    Credentials {
        /// The `vouch_proxy_auth_failures_total` reason.
        reason: &'static str,
        /// What the client is told.
        message: String,
    },
    /// A malformed OAuth2 password-grant form (RFC 6749 §5.2).
    #[error("{code}: {message}")]
    OAuth {
        /// The OAuth error code (`invalid_request`, `unsupported_grant_type`).
        code: &'static str,
        /// What was wrong.
        message: &'static str,
    },
    /// A method other than GET, HEAD and POST.
    #[error("the token endpoint takes GET or POST")]
    Method,
    /// Refused as a registry request would be (rate limit, another app,
    /// a repository not served, the state store).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Authentication's own answer (made at the edge): a refusal, or a
    /// 503 when the state store cannot answer.
    #[error("{}", .0.message)]
    Answered(ApiError),
}

impl Proxy {
    pub(super) async fn token(
        self: &Arc<Self>,
        parts: &Parts,
        body: Body,
    ) -> Result<Response, TokenError> {
        let (username, password, scopes, oauth) = match parts.method {
            Method::GET | Method::HEAD => {
                let scopes: Vec<String> =
                    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                        .filter(|(k, _)| k == "scope")
                        .map(|(_, v)| v.into_owned())
                        .collect();
                let presented = auth::parse_authorization(
                    parts
                        .headers
                        .get(header::AUTHORIZATION)
                        .map(|v| v.as_bytes()),
                )
                .map_err(|e| self.refuse_token("malformed", e.to_string()))?;
                match presented {
                    Presented::Basic { username, password } => (username, password, scopes, false),
                    Presented::Missing => {
                        return Err(self.refuse_token(
                            "missing",
                            "the token endpoint needs Basic auth: your email as username, your license ID as password".into(),
                        ));
                    }
                    Presented::Bearer(_) => {
                        return Err(self.refuse_token(
                            "malformed",
                            "the token endpoint takes Basic auth, not a token".into(),
                        ));
                    }
                }
            }
            Method::POST => {
                let unreadable = || TokenError::OAuth {
                    code: "invalid_request",
                    message: "form body too large, unreadable or not sent in time",
                };
                // The request is in flight while its body is read, so no
                // connection timeout runs: the form (one packet from any
                // real client) gets the header-read timeout, so a client
                // announcing a body and sending nothing cannot hold a slot.
                let bytes = tokio::time::timeout(
                    self.settings.connections.header_read_timeout,
                    axum::body::to_bytes(body, MAX_TOKEN_FORM_BYTES),
                )
                .await
                .map_err(|_| unreadable())?
                .map_err(|_| unreadable())?;
                let mut grant_type = None;
                let (mut username, mut password, mut scopes) = (None, None, Vec::new());
                for (k, v) in form_urlencoded::parse(&bytes) {
                    match &*k {
                        "grant_type" => grant_type = Some(v.into_owned()),
                        "username" => username = Some(v.into_owned()),
                        "password" => password = Some(v.into_owned()),
                        "scope" => scopes.push(v.into_owned()),
                        _ => {}
                    }
                }
                if grant_type.as_deref() != Some("password") {
                    return Err(TokenError::OAuth {
                        code: "unsupported_grant_type",
                        message: "only grant_type=password is supported",
                    });
                }
                let (Some(username), Some(password)) = (username, password) else {
                    return Err(TokenError::OAuth {
                        code: "invalid_request",
                        message: "username and password are required",
                    });
                };
                (username, password, scopes, true)
            }
            _ => return Err(TokenError::Method),
        };
        let license = self
            .license_from_basic(&username, &password)
            .await
            .map_err(|failure| match failure {
                AuthFailure::Store(e) => TokenError::Answered(self.refuse_or_unavailable(
                    parts,
                    None,
                    AuthFailure::Store(e),
                )),
                failure => self.refuse_token(failure.reason(), failure.to_string()),
            })?;
        check_license_status(&license)
            .map_err(|failure| self.refuse_token(failure.reason(), failure.to_string()))?;
        self.rate_limit(license.number)?;
        let granted = self
            .grant(&license, scopes.iter().map(String::as_str))
            .await?;
        let now = Timestamp::now();
        let ttl = self.settings.token_ttl.as_secs() as i64;
        let claims = auth::TokenClaims::new(
            license.number,
            &license.app,
            granted.clone(),
            now.as_second(),
            ttl,
        );
        let token = auth::mint(&self.token_key, &claims);
        self.metrics.token_issued();
        self.log(PullRecord {
            license: license.number,
            at: now,
            action: PullAction::Token,
            method: parts.method.to_string(),
            repository: String::new(),
            reference: granted.join(" "),
            status: 200,
            bytes: 0,
        });
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": now.to_string(),
        });
        if oauth {
            let scope: Vec<String> = granted
                .iter()
                .map(|n| format!("repository:{n}:pull"))
                .collect();
            body["scope"] = serde_json::Value::String(scope.join(" "));
        }
        Ok((
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response())
    }

    /// The intersection of what was asked and what the license's app may
    /// reach: `pull` on repositories of its own app within the app's
    /// allow-list. Channel entitlement is checked per request (a token
    /// for a repository does not grant every tag in it).
    async fn grant<'a>(
        &self,
        license: &License,
        requested: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<String>, RequestError> {
        let app = self.app(&license.app).await?;
        let mut granted = Vec::new();
        for name in auth::requested_pull_names(requested) {
            let Ok((slug, repository)) = parse_client_name(&name) else {
                continue;
            };
            let allowed = self
                .pull_refusal(license, app.as_deref(), &slug, &repository)
                .is_none();
            if allowed && granted.len() < MAX_SCOPES {
                granted.push(client_name(&slug, &repository));
            }
        }
        Ok(granted)
    }

    /// Why `license` may never pull `repository` of app `slug`, whatever
    /// token it asks for; `None` when a token for it is granted. `app` is
    /// the license's app. The same checks, in the same order, as a request
    /// with Basic auth (`authorize`).
    fn pull_refusal(
        &self,
        license: &License,
        app: Option<&AppView>,
        slug: &AppSlug,
        repository: &Repository,
    ) -> Option<PullRefusal> {
        if *slug != license.app {
            return Some(PullRefusal::OtherApp);
        }
        if !app.is_some_and(|a| a.app.repositories.iter().any(|p| repository.is_within(p))) {
            return Some(PullRefusal::NotServed);
        }
        if !self.upstreams.contains_key(&repository.upstream) {
            return Some(PullRefusal::UpstreamMissing);
        }
        None
    }

    /// The answer to a valid token that does not grant `name` (a client
    /// repository name from the request path). If no token ever would —
    /// another app's repository, one outside the allow-list — the reason,
    /// as Basic auth gives it (403 DENIED; issue 14, finding 11): a 401
    /// `insufficient_scope` would send the client for a token that grants
    /// nothing again, and it prints "requested access to the resource is
    /// denied" without the reason. Otherwise (a token for another
    /// repository of the app) the 401 `insufficient_scope` challenge, so
    /// the client fetches a token for this one. The license's status comes
    /// first, as for every request.
    pub(super) async fn token_lacks_scope(
        &self,
        parts: &Parts,
        name: &str,
        license: &License,
    ) -> ApiError {
        if let Err(failure) = check_license_status(license) {
            return self.refuse(parts, Some(name), &failure);
        }
        if let Ok((slug, repository)) = parse_client_name(name) {
            let app = match self.app(&license.app).await {
                Ok(app) => app,
                Err(e) => return e.into(),
            };
            if let Some(refusal) = self.pull_refusal(license, app.as_deref(), &slug, &repository) {
                return refusal
                    .error(&self.metrics, license, slug, repository)
                    .into();
            }
        }
        self.refuse_with(
            parts,
            Some(name),
            "insufficient_scope",
            format!("token does not grant pull on {name}; request a token for this repository"),
            true,
        )
    }

    fn refuse_token(&self, reason: &'static str, message: String) -> TokenError {
        self.metrics.auth_failure(reason);
        TokenError::Credentials { reason, message }
    }
}

/// Why a license may not pull a repository, whatever token it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullRefusal {
    /// The repository path names another app.
    OtherApp,
    /// The app's allow-list does not cover the repository.
    NotServed,
    /// Allowed, but its upstream is not configured on this proxy.
    UpstreamMissing,
}

impl PullRefusal {
    /// The error a request gets, counted under its denial reason: the
    /// same as `authorize` gives a request with Basic auth.
    fn error(
        self,
        metrics: &crate::metrics::Metrics,
        license: &License,
        slug: AppSlug,
        repository: Repository,
    ) -> RequestError {
        match self {
            Self::OtherApp => {
                metrics.denial("wrong_app");
                RequestError::WrongApp {
                    license: license.number,
                    app: license.app.clone(),
                    requested: slug,
                }
            }
            Self::NotServed => {
                metrics.denial("repository_not_allowed");
                RequestError::RepositoryNotServed {
                    repository,
                    app: slug,
                }
            }
            Self::UpstreamMissing => RequestError::UpstreamNotConfigured {
                upstream: repository.upstream,
                app: slug,
            },
        }
    }
}

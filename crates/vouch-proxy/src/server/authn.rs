//! The authenticate stage: who is calling, from Basic credentials or one
//! of our tokens, and whether their license is current. Failures are
//! [`AuthFailure`]s, each counted under its own reason; the edge
//! (`edge.rs`) makes them 401s with the `WWW-Authenticate` challenge.

use std::sync::Arc;

use axum::http::header;
use axum::http::request::Parts;
use jiff::Timestamp;

use super::Proxy;
use crate::auth::{self, AuthHeaderError, Presented, TokenError};
use crate::error::ApiError;
use crate::secret::LicenseId;
use crate::store::{License, LicenseNumber, StoreError};

/// Why a caller is not authenticated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AuthFailure {
    /// An `Authorization` header that does not parse.
    #[error(transparent)]
    Malformed(#[from] AuthHeaderError),
    /// No credentials.
    #[error(
        "authentication required: log in with your email as username and your license ID as password"
    )]
    Missing,
    /// No license has this ID.
    #[error("invalid username or license ID")]
    UnknownLicense,
    /// The username is neither the license's email nor its ID.
    #[error("username does not match the license: use the email the license was issued to")]
    WrongUsername,
    /// The license could not be looked up.
    #[error("cannot check the license now: {0}")]
    Store(StoreError),
    /// The license was revoked.
    #[error("license {license} was revoked at {at}")]
    Revoked {
        /// The license.
        license: LicenseNumber,
        /// When.
        at: Timestamp,
    },
    /// The license expired.
    #[error("license {license} expired at {at}; ask the vendor to renew it")]
    Expired {
        /// The license.
        license: LicenseNumber,
        /// When.
        at: Timestamp,
    },
    /// A bearer token that does not verify or has expired.
    #[error("{0}; request a new token")]
    Token(TokenError),
    /// A valid token for a license that no longer exists (or another app's).
    #[error("token names an unknown license")]
    UnknownTokenLicense,
}

impl AuthFailure {
    /// The metrics label of [`AuthFailure::Store`].
    pub(crate) const STORE_REASON: &'static str = "store";

    /// The metrics label (`vouch_proxy_auth_failures_total{reason}`).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Missing => "missing",
            Self::UnknownLicense => "unknown_license",
            Self::WrongUsername => "wrong_username",
            Self::Store(_) => Self::STORE_REASON,
            Self::Revoked { .. } => "revoked",
            Self::Expired { .. } => "expired",
            Self::Token(TokenError::Expired(_)) => "expired_token",
            Self::Token(_) | Self::UnknownTokenLicense => "bad_token",
        }
    }
}

/// Expired and revoked licenses are refused on every request, not only
/// when a token is issued.
pub(crate) fn check_license_status(license: &License) -> Result<(), AuthFailure> {
    if let Some(at) = license.revoked_at {
        return Err(AuthFailure::Revoked {
            license: license.number,
            at,
        });
    }
    if let Some(at) = license.expires_at.filter(|at| *at <= Timestamp::now()) {
        return Err(AuthFailure::Expired {
            license: license.number,
            at,
        });
    }
    Ok(())
}

impl Proxy {
    /// Who is calling: a valid, current license from Basic credentials or
    /// one of our tokens (which must grant `scope_name` when given).
    pub(super) async fn authenticate(
        &self,
        parts: &Parts,
        scope_name: Option<&str>,
    ) -> Result<Arc<License>, ApiError> {
        let headers = &parts.headers;
        let presented =
            auth::parse_authorization(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
                .map_err(|e| self.refuse(parts, scope_name, &AuthFailure::Malformed(e)))?;
        let license = match presented {
            Presented::Missing => {
                return Err(self.refuse(parts, scope_name, &AuthFailure::Missing));
            }
            Presented::Basic { username, password } => self
                .license_from_basic(&username, &password)
                .await
                .map_err(|failure| self.refuse_or_unavailable(parts, scope_name, failure))?,
            Presented::Bearer(token) => {
                let now = Timestamp::now().as_second();
                let claims = auth::verify(&self.token_key, &token, now)
                    .map_err(|e| self.refuse(parts, scope_name, &AuthFailure::Token(e)))?;
                let license = self
                    .license_by_number(claims.license())
                    .await?
                    .filter(|l| l.app.as_str() == claims.app)
                    .ok_or_else(|| {
                        self.refuse(parts, scope_name, &AuthFailure::UnknownTokenLicense)
                    })?;
                if let Some(name) = scope_name.filter(|n| !claims.grants(n)) {
                    return Err(self.token_lacks_scope(parts, name, &license).await);
                }
                license
            }
        };
        check_license_status(&license)
            .map_err(|failure| self.refuse(parts, scope_name, &failure))?;
        Ok(license)
    }

    /// The license for Basic credentials: the password must be a license
    /// ID and the username its email (any case) or the ID itself (the
    /// `licenseID:licenseID` form of KOTS pull secrets).
    pub(crate) async fn license_from_basic(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Arc<License>, AuthFailure> {
        let unknown = || AuthFailure::UnknownLicense;
        let id = LicenseId::parse(password).map_err(|_| unknown())?;
        let hash = self.hasher.hash(&id);
        let license = match self.licenses_by_hash.fresh(&hash) {
            Some(l) => l,
            None => match self
                .ask_database(self.stores.licenses.license_by_hash(&hash))
                .await
            {
                Ok(found) => {
                    let found = Arc::new(found.ok_or_else(unknown)?);
                    self.licenses_by_hash.insert(hash, found.clone());
                    found
                }
                Err(e) => self
                    .fail_static(self.licenses_by_hash.stale(&hash), e, "license")
                    .map_err(AuthFailure::Store)?,
            },
        };
        // The lookup was by hash; compare again in constant time so the
        // decision does not rest on the index alone.
        if !license.id_hash.ct_eq(&hash) {
            return Err(unknown());
        }
        if !(username.eq_ignore_ascii_case(&license.email) || username == password) {
            return Err(AuthFailure::WrongUsername);
        }
        Ok(license)
    }

    pub(super) async fn license_by_number(
        &self,
        number: LicenseNumber,
    ) -> Result<Option<Arc<License>>, ApiError> {
        if let Some(l) = self.licenses_by_number.fresh(&number) {
            return Ok(Some(l));
        }
        let found = self
            .ask_database(self.stores.licenses.license(number))
            .await;
        match found {
            Ok(found) => Ok(found.map(|l| {
                let l = Arc::new(l);
                self.licenses_by_number.insert(number, l.clone());
                l
            })),
            Err(e) => Ok(Some(self.fail_static(
                self.licenses_by_number.stale(&number),
                e,
                "license",
            )?)),
        }
    }
}

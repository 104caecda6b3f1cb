//! Errors as clients see them: an HTTP status plus the OCI error body
//! `{"errors":[{"code","message","detail"}]}` (distribution-spec, "Error
//! Codes"), and the headers some of them need (`WWW-Authenticate`,
//! `Retry-After`, `Allow`, `Content-Range`).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// OCI error codes (distribution-spec "Error Codes"), plus distribution's
/// `UNKNOWN`/`UNAVAILABLE`/`TAG_INVALID`/`PAGINATION_NUMBER_INVALID` and our `RANGE_INVALID` where the
/// spec has none. The spec allows codes beyond its table; clients key on
/// the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Blob unknown to the registry.
    BlobUnknown,
    /// Malformed digest.
    DigestInvalid,
    /// Manifest unknown.
    ManifestUnknown,
    /// Malformed repository name.
    NameInvalid,
    /// Repository (or endpoint) not known.
    NameUnknown,
    /// Malformed tag.
    TagInvalid,
    /// A tags-list `n` that is not a number.
    PaginationNumberInvalid,
    /// Authentication required or failed.
    Unauthorized,
    /// Authenticated, but not allowed.
    Denied,
    /// Operation not supported (push, delete, catalog).
    Unsupported,
    /// Rate limited.
    TooManyRequests,
    /// A `Range` that cannot be satisfied.
    RangeInvalid,
    /// The upstream misbehaved (502).
    Unknown,
    /// The upstream could not be reached (503).
    Unavailable,
}

impl ErrorCode {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::TagInvalid => "TAG_INVALID",
            Self::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::RangeInvalid => "RANGE_INVALID",
            Self::Unknown => "UNKNOWN",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OCI code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Optional `detail` object.
    pub detail: Option<serde_json::Value>,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header (values that are not valid header text are dropped;
    /// callers only pass text they built from validated parts).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// Sets `detail`.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// 400 NAME_INVALID.
    pub fn name_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::NameInvalid, message)
    }

    /// 404 NAME_UNKNOWN.
    pub fn name_unknown(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NameUnknown, message)
    }

    /// 401 UNAUTHORIZED (the caller adds the challenge).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403 DENIED.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Denied, message)
    }

    /// 405 UNSUPPORTED: the proxy is pull-only.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            message,
        )
        .with_header(header::ALLOW, "GET, HEAD")
    }

    /// 502 UNKNOWN: the upstream answered something unusable.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, ErrorCode::Unknown, message)
    }

    /// 503 UNAVAILABLE: the upstream cannot be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    }

    /// 500 with an OCI body, for our own failures (database, disk). Never
    /// bare: the message says what failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            message,
        )
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "errors": [{
                "code": self.code.as_str(),
                "message": self.message,
                "detail": self.detail,
            }]
        })
        .to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code.as_str(),
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_oci_error_shape() {
        let e = ApiError::denied("no").with_detail(serde_json::json!({"Tag": "v1"}));
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["errors"][0]["code"], "DENIED");
        assert_eq!(v["errors"][0]["message"], "no");
        assert_eq!(v["errors"][0]["detail"]["Tag"], "v1");
        let r = ApiError::unsupported("push").into_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}

//! Turning a request path into a [`Route`]: the only place the path is
//! read. It works on the raw (still percent-encoded) path and refuses
//! anything outside the OCI grammar, so `..`, `%2e%2e`, `//`, backslashes
//! and upper-case tricks never reach an upstream URL or a file name.
//!
//! Client repository names have the form
//! `proxy/<app>/<upstream>/<path…>` (research/proxy.md §1, Replicated's
//! layout); the upstream sees only `<path…>`.

use axum::http::Method;

use crate::names::{
    AppSlug, Digest, MAX_NAME_LEN, NameError, Reference, RepoPath, Repository, UpstreamName,
    is_path_component,
};

/// First component of every client repository name.
pub const PROXY_PREFIX: &str = "proxy";
/// Longest request path considered: a 255-character name plus the longest
/// suffix (`/referrers/sha512:<128 hex>`) and `/v2/` fit well within it.
pub const MAX_PATH_LEN: usize = 512;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check (and the auth probe).
    Base,
    /// `/v2/token`: the token endpoint.
    Token,
    /// `/v2/_catalog`: not served.
    Catalog,
    /// Something under a repository.
    Repo(RepoRequest),
}

/// A request under `/v2/proxy/<app>/<upstream>/<path…>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRequest {
    /// The app from the path.
    pub app: AppSlug,
    /// The upstream repository.
    pub repository: Repository,
    /// What is asked of it.
    pub operation: Operation,
}

impl RepoRequest {
    /// The client-facing name, `proxy/<app>/<upstream>/<path>`, as used
    /// in token scopes.
    pub fn name(&self) -> String {
        client_name(&self.app, &self.repository)
    }
}

/// The client-facing repository name for an app's upstream repository.
pub fn client_name(app: &AppSlug, repository: &Repository) -> String {
    format!("{PROXY_PREFIX}/{app}/{repository}")
}

/// The operation on a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `manifests/<reference>`.
    Manifest(Reference),
    /// `blobs/<digest>`.
    Blob(Digest),
    /// `tags/list`.
    TagsList,
    /// `referrers/<digest>`.
    Referrers(Digest),
    /// `blobs/uploads/…`: push, which the proxy does not do.
    Upload,
}

/// Why a request path or repository name was refused. The edge
/// (`server/edge.rs`) turns each into its OCI error code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("request path longer than {MAX_PATH_LEN} bytes")]
    PathTooLong,
    /// The path is not under `/v2/`.
    #[error("not a registry API path (expected /v2/…)")]
    NotRegistryApi,
    /// The path has bytes outside the OCI grammar (`%`, `\`, spaces, …).
    #[error(
        "request path has characters outside the OCI name and reference grammar (percent-encoding is not accepted)"
    )]
    ForbiddenCharacters,
    /// No registry endpoint ends the path.
    #[error(
        "unknown registry endpoint (expected <name>/manifests/<reference>, blobs/<digest>, tags/list or referrers/<digest>)"
    )]
    UnknownEndpoint,
    /// A component of the repository name is outside the grammar.
    #[error(
        "repository name {0:?} is invalid: each component must be lowercase letters and digits joined by '.', '_', '__' or '-'"
    )]
    InvalidComponent(String),
    /// The repository name is longer than [`MAX_NAME_LEN`].
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    /// The name is not of the form `proxy/<app>/<upstream>/<path…>`.
    #[error(
        "repository {0:?} is not served here: names have the form proxy/<app>/<upstream-host>/<repository>"
    )]
    NotProxyName(String),
    /// The app, upstream or repository path of the name is invalid.
    #[error("{0}")]
    Name(NameError),
    /// The manifest reference is not a valid tag.
    #[error("{0}")]
    Tag(NameError),
    /// A digest in the path is not a valid digest.
    #[error("{0}")]
    Digest(NameError),
}

/// Parses a client repository name (`proxy/<app>/<upstream>/<path…>`).
pub fn parse_client_name(name: &str) -> Result<(AppSlug, Repository), RouteError> {
    if name.len() > MAX_NAME_LEN {
        return Err(RouteError::NameTooLong);
    }
    let mut parts = name.splitn(4, '/');
    let (Some(prefix), Some(app), Some(upstream), Some(path)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RouteError::NotProxyName(name.to_owned()));
    };
    if prefix != PROXY_PREFIX {
        return Err(RouteError::NotProxyName(name.to_owned()));
    }
    let app = AppSlug::new(app).map_err(RouteError::Name)?;
    let upstream = UpstreamName::new(upstream).map_err(RouteError::Name)?;
    let path = RepoPath::new(path).map_err(RouteError::Name)?;
    Ok((app, Repository { upstream, path }))
}

/// Parses a request path (the raw, percent-encoded form from the request
/// line). The caller refuses non-pull methods before calling this.
pub fn parse(path: &str) -> Result<Route, RouteError> {
    if path.len() > MAX_PATH_LEN {
        return Err(RouteError::PathTooLong);
    }
    let rest = match path {
        "/v2" | "/v2/" => return Ok(Route::Base),
        "/v2/token" => return Ok(Route::Token),
        "/v2/_catalog" => return Ok(Route::Catalog),
        _ => path
            .strip_prefix("/v2/")
            .ok_or(RouteError::NotRegistryApi)?,
    };
    // Every byte of a valid path is in the OCI grammar or one of the fixed
    // words; refusing the rest up front means nothing below sees '%', '\'
    // or control characters.
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b':'))
    {
        return Err(RouteError::ForbiddenCharacters);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let (operation, name_len) = match (n >= 3)
        .then(|| (segments[n - 3], segments[n - 2], segments[n - 1]))
    {
        Some((_, "manifests", reference)) => (Operation::Manifest(reference_of(reference)?), n - 2),
        Some((_, "blobs", "uploads")) => (Operation::Upload, n - 2),
        Some(("blobs", "uploads", _)) => (Operation::Upload, n - 3),
        Some((_, "blobs", digest)) => (Operation::Blob(digest_of(digest)?), n - 2),
        Some((_, "tags", "list")) => (Operation::TagsList, n - 2),
        Some((_, "referrers", digest)) => (Operation::Referrers(digest_of(digest)?), n - 2),
        _ => return Err(RouteError::UnknownEndpoint),
    };
    let name = segments[..name_len].join("/");
    if !segments[..name_len].iter().all(|s| is_path_component(s)) {
        return Err(RouteError::InvalidComponent(name));
    }
    let (app, repository) = parse_client_name(&name)?;
    Ok(Route::Repo(RepoRequest {
        app,
        repository,
        operation,
    }))
}

fn reference_of(text: &str) -> Result<Reference, RouteError> {
    Reference::parse(text).map_err(|e| match e {
        NameError::Digest(_) => RouteError::Digest(e),
        _ => RouteError::Tag(e),
    })
}

fn digest_of(text: &str) -> Result<Digest, RouteError> {
    Digest::parse(text).map_err(|e| RouteError::Digest(e.into()))
}

/// Whether a method is a pull (GET/HEAD). Everything else is refused with
/// 405 before any other work.
pub fn is_pull_method(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn repo(path: &str) -> RepoRequest {
        match parse(path) {
            Ok(Route::Repo(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    /// The status and OCI error code a refused path gets at the edge.
    fn code(path: &str) -> (u16, &'static str) {
        let e = crate::error::ApiError::from(parse(path).unwrap_err());
        (e.status.as_u16(), e.code.as_str())
    }

    #[test]
    fn fixed_routes() {
        assert_eq!(parse("/v2/").unwrap(), Route::Base);
        assert_eq!(parse("/v2").unwrap(), Route::Base);
        assert_eq!(parse("/v2/token").unwrap(), Route::Token);
        assert_eq!(parse("/v2/_catalog").unwrap(), Route::Catalog);
    }

    #[test]
    fn repository_operations() {
        let r = repo("/v2/proxy/acme/ghcr.io/acme/api/manifests/v1.0");
        assert_eq!(r.app.as_str(), "acme");
        assert_eq!(r.repository.to_string(), "ghcr.io/acme/api");
        assert_eq!(r.name(), "proxy/acme/ghcr.io/acme/api");
        assert!(matches!(
            r.operation,
            Operation::Manifest(Reference::Tag(_))
        ));
        let r = repo(&format!(
            "/v2/proxy/acme/ghcr.io/acme/api/manifests/sha256:{HEX}"
        ));
        assert!(matches!(
            r.operation,
            Operation::Manifest(Reference::Digest(_))
        ));
        let r = repo(&format!("/v2/proxy/acme/ghcr.io/acme/blobs/sha256:{HEX}"));
        assert_eq!(r.repository.path.as_str(), "acme");
        assert!(matches!(r.operation, Operation::Blob(_)));
        assert_eq!(
            repo("/v2/proxy/acme/ghcr.io/a/b/c/tags/list").operation,
            Operation::TagsList
        );
        assert!(matches!(
            repo(&format!("/v2/proxy/acme/ghcr.io/a/referrers/sha256:{HEX}")).operation,
            Operation::Referrers(_)
        ));
        // A repository may itself contain the words the routes use.
        let r = repo("/v2/proxy/acme/ghcr.io/acme/manifests/manifests/v1");
        assert_eq!(r.repository.path.as_str(), "acme/manifests");
    }

    #[test]
    fn uploads_are_recognised() {
        for path in [
            "/v2/proxy/acme/ghcr.io/acme/api/blobs/uploads/",
            "/v2/proxy/acme/ghcr.io/acme/api/blobs/uploads",
            "/v2/proxy/acme/ghcr.io/acme/api/blobs/uploads/0f1e-22",
        ] {
            assert_eq!(repo(path).operation, Operation::Upload, "{path}");
        }
    }

    #[test]
    fn traversal_and_encoding_tricks_are_refused() {
        for path in [
            "/v2/proxy/acme/ghcr.io/acme/../evil/manifests/v1",
            "/v2/proxy/acme/ghcr.io/acme/./api/manifests/v1",
            "/v2/proxy/acme/ghcr.io/acme/%2e%2e/evil/manifests/v1",
            "/v2/proxy/acme/ghcr.io/acme%2fevil/manifests/v1",
            "/v2/proxy/acme/ghcr.io//acme/manifests/v1",
            "/v2/proxy/acme/ghcr.io/acme\\..\\x/manifests/v1",
            "/v2/proxy/acme/ghcr.io/Acme/manifests/v1",
            "/v2/proxy/acme/169.254.169.254:80/latest/manifests/v1",
            "/v2/proxy/acme/ghcr.io/acme/api/manifests/..",
            "/v2/proxy/acme/ghcr.io/acme/api/manifests/v1%00",
            "/v2/proxy/acme/ghcr.io/acme/api/manifests/v1 x",
        ] {
            assert!(
                matches!(
                    parse(path),
                    Err(RouteError::ForbiddenCharacters
                        | RouteError::InvalidComponent(_)
                        | RouteError::Name(_)
                        | RouteError::Tag(_))
                ),
                "{path}"
            );
            let (status, _) = code(path);
            assert_eq!(status, 400, "{path}");
        }
    }

    #[test]
    fn names_outside_the_proxy_layout_are_unknown() {
        assert_eq!(
            code("/v2/library/ubuntu/manifests/latest"),
            (404, "NAME_UNKNOWN")
        );
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/manifests/latest"),
            (404, "NAME_UNKNOWN")
        );
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/acme/api/unknown/x"),
            (404, "NAME_UNKNOWN")
        );
        assert_eq!(code("/other"), (404, "NAME_UNKNOWN"));
        assert_eq!(parse("/other"), Err(RouteError::NotRegistryApi));
        assert_eq!(
            parse("/v2/proxy/acme/ghcr.io/acme/api/unknown/x"),
            Err(RouteError::UnknownEndpoint)
        );
        assert!(matches!(
            parse("/v2/library/ubuntu/manifests/latest"),
            Err(RouteError::NotProxyName(name)) if name == "library/ubuntu"
        ));
    }

    #[test]
    fn references_and_digests_are_validated() {
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/acme/manifests/sha256:abc"),
            (400, "DIGEST_INVALID")
        );
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/acme/manifests/-bad"),
            (400, "TAG_INVALID")
        );
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/acme/blobs/v1"),
            (400, "DIGEST_INVALID")
        );
        assert_eq!(
            code("/v2/proxy/acme/ghcr.io/acme/referrers/latest"),
            (400, "DIGEST_INVALID")
        );
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = format!("/v2/proxy/acme/ghcr.io/{}/manifests/v1", "a".repeat(240));
        assert_eq!(code(&long), (400, "NAME_INVALID"));
        assert_eq!(parse(&long), Err(RouteError::NameTooLong));
        assert_eq!(
            code(&format!("/v2/{}", "a/".repeat(300))),
            (400, "NAME_INVALID")
        );
    }
}

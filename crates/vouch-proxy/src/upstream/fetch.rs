//! What the proxy fetches from an upstream, as typed values: a checked
//! manifest, the answer to a `HEAD`, the response carrying a blob, and a
//! list read page by page. Every status other than the one expected is an
//! [`UpstreamError`] variant (a 404 is [`UpstreamError::NotFound`] naming
//! the [`Resource`]); what a client sees for each is decided at the edge
//! (`server/edge.rs`), not here.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;

use super::{
    DEFAULT_MANIFEST_ACCEPT, Upstream, UpstreamError, UpstreamRequest, check_manifest, read_limited,
};
use crate::cache::{StoredManifest, check_media_type};
use crate::metrics::{ContentKind, Metrics};
use crate::names::{Digest, Reference, Repository};

/// Largest manifest accepted from an upstream: the distribution-spec
/// says registries SHOULD accept manifests of at least 4 MiB, and
/// distribution's default limit is 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
// Every manifest accepted from an upstream fits in the cache.
const _: () = assert!(MAX_MANIFEST_BYTES as u64 <= crate::cache::MAX_STORED_MANIFEST_BYTES);

/// What a request to an upstream is about, for its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// A manifest by tag or digest.
    Manifest {
        /// Where.
        repository: Repository,
        /// Which.
        reference: Reference,
    },
    /// A blob.
    Blob {
        /// Where.
        repository: Repository,
        /// Which.
        digest: Digest,
    },
    /// The tag list of a repository.
    Tags {
        /// Which.
        repository: Repository,
    },
    /// The referrers of a subject.
    Referrers {
        /// Where.
        repository: Repository,
        /// Whose.
        subject: Digest,
    },
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Manifest {
                repository,
                reference,
            } => write!(f, "manifest {reference} of {repository}"),
            Self::Blob { repository, digest } => write!(f, "blob {digest} of {repository}"),
            Self::Tags { repository } => write!(f, "the tags of {repository}"),
            Self::Referrers {
                repository,
                subject,
            } => write!(f, "the referrers of {subject} in {repository}"),
        }
    }
}

/// What is wrong with content an upstream sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadContent {
    /// A `Docker-Content-Digest` that is not a digest.
    #[error("an invalid Docker-Content-Digest")]
    DigestHeader,
    /// A `Docker-Content-Digest` naming another digest than the one asked for.
    #[error("Docker-Content-Digest {0}")]
    OtherDigest(Digest),
    /// Bytes that do not hash to the digest.
    #[error("content that hashes to {0}")]
    HashMismatch(Digest),
    /// Neither a usable `Content-Type` nor a `mediaType` field.
    #[error("no media type")]
    NoMediaType,
    /// Not a manifest or index.
    #[error("something else: {0}")]
    NotAManifest(#[from] super::NotAManifest),
    /// A body that could not be read whole within its limit.
    #[error("a body that could not be read: {0}")]
    Body(vouch_oci::ReadError),
    /// A blob `HEAD` without a usable `Content-Length`.
    #[error("no blob length")]
    NoLength,
    /// A list page that is not the JSON it should be (a tag list, an image index).
    #[error("page {page}, which is not {expected}: {reason}")]
    NotAList {
        /// 1-based.
        page: usize,
        /// What it should be.
        expected: &'static str,
        /// The parser's complaint.
        reason: String,
    },
}

/// A list the upstream may page with `Link: <…>; rel="next"`.
#[derive(Debug, Clone)]
pub struct PagedList {
    /// The list, for errors.
    pub resource: Resource,
    /// The first page: `tags/list` or `referrers/<digest>[?artifactType=…]`.
    pub first: String,
    /// Pages followed at most.
    pub max_pages: usize,
    /// Largest page read.
    pub max_page_bytes: usize,
}

/// One page of an upstream list.
#[derive(Debug, Clone)]
pub struct Page {
    /// Its response headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Upstream {
    fn invalid(&self, resource: Resource, problem: BadContent) -> UpstreamError {
        UpstreamError::Invalid {
            upstream: self.name().to_string(),
            resource: Box::new(resource),
            problem,
        }
    }

    /// Turns a response into `Ok` for 200, [`UpstreamError::NotFound`] for
    /// 404 and [`UpstreamError::Status`] for anything else.
    fn expect_ok(
        &self,
        response: reqwest::Response,
        resource: &Resource,
    ) -> Result<reqwest::Response, UpstreamError> {
        match response.status() {
            StatusCode::OK => Ok(response),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound {
                upstream: self.name().to_string(),
                resource: Box::new(resource.clone()),
            }),
            other => Err(UpstreamError::Status {
                upstream: self.name().to_string(),
                status: other,
                resource: Box::new(resource.clone()),
                page: None,
            }),
        }
    }

    /// Sends one request for `resource` and expects a 200 ([`Self::expect_ok`]).
    async fn fetch(
        &self,
        method: Method,
        repository: &Repository,
        suffix: String,
        headers: HeaderMap,
        resource: &Resource,
        metrics: &Metrics,
    ) -> Result<reqwest::Response, UpstreamError> {
        let request = UpstreamRequest {
            method,
            repository: &repository.path,
            suffix,
            headers,
        };
        self.expect_ok(self.send(&request, metrics).await?, resource)
    }

    /// A manifest, refused unless it is a manifest or index whose bytes
    /// hash to the digest asked for (by digest) or announced (by tag; the
    /// digest of the bytes when none is announced).
    pub async fn manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        accept: HeaderValue,
        metrics: &Metrics,
    ) -> Result<(Digest, StoredManifest), UpstreamError> {
        let resource = Resource::Manifest {
            repository: repository.clone(),
            reference: reference.clone(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept);
        let response = self
            .fetch(
                Method::GET,
                repository,
                format!("manifests/{reference}"),
                headers,
                &resource,
                metrics,
            )
            .await?;
        let invalid = |problem| self.invalid(resource.clone(), problem);
        let header_digest = match response.headers().get("docker-content-digest") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| Digest::parse(v).ok())
                    .ok_or_else(|| invalid(BadContent::DigestHeader))?,
            ),
        };
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
            .filter(|v| check_media_type(v).is_ok());
        let bytes = Bytes::from(
            read_limited(response, MAX_MANIFEST_BYTES)
                .await
                .map_err(|e| invalid(BadContent::Body(e)))?,
        );
        let media_type = content_type
            .or_else(|| media_type_field(&bytes))
            .ok_or_else(|| invalid(BadContent::NoMediaType))?;
        check_manifest(&media_type, &bytes).map_err(|e| invalid(e.into()))?;
        let digest = match (reference, header_digest) {
            (Reference::Digest(d), Some(h)) if h != *d => {
                return Err(invalid(BadContent::OtherDigest(h)));
            }
            (Reference::Digest(d), _) => d.clone(),
            (Reference::Tag(_), Some(h)) => h,
            (Reference::Tag(_), None) => Digest::sha256_of(&bytes),
        };
        let mut verifier = digest.verifier();
        verifier.update(&bytes);
        verifier
            .finish()
            .map_err(|found| invalid(BadContent::HashMismatch(found)))?;
        Ok((digest, StoredManifest { media_type, bytes }))
    }

    /// `HEAD` of a manifest or blob: its `Content-Length`, if sent, when the
    /// upstream holds it and does not name another digest.
    pub async fn head(
        &self,
        repository: &Repository,
        kind: ContentKind,
        digest: &Digest,
        metrics: &Metrics,
    ) -> Result<Option<u64>, UpstreamError> {
        let mut headers = HeaderMap::new();
        let (what, resource) = match kind {
            ContentKind::Manifest => {
                // distribution answers 404 for an OCI manifest or index by
                // digest when the Accept header does not list its type.
                headers.insert(
                    header::ACCEPT,
                    HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT),
                );
                let reference = Reference::Digest(digest.clone());
                let repository = repository.clone();
                (
                    "manifests",
                    Resource::Manifest {
                        repository,
                        reference,
                    },
                )
            }
            ContentKind::Blob => {
                let (repository, digest) = (repository.clone(), digest.clone());
                ("blobs", Resource::Blob { repository, digest })
            }
        };
        let response = self
            .fetch(
                Method::HEAD,
                repository,
                format!("{what}/{digest}"),
                headers,
                &resource,
                metrics,
            )
            .await?;
        if let Some(h) = response.headers().get("docker-content-digest") {
            match h.to_str().ok().and_then(|v| Digest::parse(v).ok()) {
                Some(named) if named == *digest => {}
                Some(named) => return Err(self.invalid(resource, BadContent::OtherDigest(named))),
                None => return Err(self.invalid(resource, BadContent::DigestHeader)),
            }
        }
        Ok(response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok()))
    }

    /// The `HEAD` of a blob: its length, which a blob `HEAD` must send.
    pub async fn blob_length(
        &self,
        repository: &Repository,
        digest: &Digest,
        metrics: &Metrics,
    ) -> Result<u64, UpstreamError> {
        self.head(repository, ContentKind::Blob, digest, metrics)
            .await?
            .ok_or_else(|| {
                let (repository, digest) = (repository.clone(), digest.clone());
                self.invalid(Resource::Blob { repository, digest }, BadContent::NoLength)
            })
    }

    /// The 200 response carrying a blob, for the caller to stream and verify.
    pub async fn blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        metrics: &Metrics,
    ) -> Result<reqwest::Response, UpstreamError> {
        let suffix = format!("blobs/{digest}");
        let (blob_repository, digest) = (repository.clone(), digest.clone());
        let resource = Resource::Blob {
            repository: blob_repository,
            digest,
        };
        self.fetch(
            Method::GET,
            repository,
            suffix,
            HeaderMap::new(),
            &resource,
            metrics,
        )
        .await
    }

    /// Every page of `list` in `repository`, following `Link: <…>;
    /// rel="next"` only within the same list. A 404 on the first page is
    /// [`UpstreamError::NotFound`]; on a later one, like any other status,
    /// [`UpstreamError::Status`] naming the page.
    pub async fn pages(
        &self,
        repository: &Repository,
        list: &PagedList,
        metrics: &Metrics,
    ) -> Result<Vec<Page>, UpstreamError> {
        let first_path = list.first.split('?').next().unwrap_or_default();
        let list_path = format!("/v2/{}/{first_path}", repository.path);
        let mut pages = Vec::new();
        let mut suffix = list.first.clone();
        while pages.len() < list.max_pages {
            let (headers, resource) = (HeaderMap::new(), &list.resource);
            let fetched = self
                .fetch(
                    Method::GET,
                    repository,
                    suffix.clone(),
                    headers,
                    resource,
                    metrics,
                )
                .await;
            let response = match fetched {
                Err(UpstreamError::NotFound { .. }) if !pages.is_empty() => {
                    Err(self.page_status(list, StatusCode::NOT_FOUND, pages.len() + 1))
                }
                Err(UpstreamError::Status { status, .. }) => {
                    Err(self.page_status(list, status, pages.len() + 1))
                }
                other => other,
            }?;
            let headers = response.headers().clone();
            let next = headers
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| next_page_query(v, &list_path));
            let body = read_limited(response, list.max_page_bytes)
                .await
                .map_err(|e| self.invalid(list.resource.clone(), BadContent::Body(e)))?;
            pages.push(Page {
                headers,
                body: Bytes::from(body),
            });
            match next {
                Some(query) => suffix = format!("{first_path}?{query}"),
                None => break,
            }
        }
        Ok(pages)
    }

    fn page_status(&self, list: &PagedList, status: StatusCode, page: usize) -> UpstreamError {
        UpstreamError::Status {
            upstream: self.name().to_string(),
            status,
            resource: Box::new(list.resource.clone()),
            page: Some(page),
        }
    }

    /// A [`BadContent::NotAList`] for page `page` (1-based) of `list`.
    pub fn not_a_list(
        &self,
        list: &PagedList,
        page: usize,
        expected: &'static str,
        reason: impl std::fmt::Display,
    ) -> UpstreamError {
        let reason = reason.to_string();
        let problem = BadContent::NotAList {
            page,
            expected,
            reason,
        };
        self.invalid(list.resource.clone(), problem)
    }
}

/// The `query` of an upstream `Link: <…>; rel="next"` to the next page of
/// the same list (`path`: `/v2/<repo>/tags/list` or `/v2/<repo>/referrers/
/// <digest>`), if it is one; a link pointing anywhere else is ignored.
fn next_page_query(link: &str, path: &str) -> Option<String> {
    let target = vouch_oci_types::next_link(link).ok()??;
    let (target_path, query) = target.split_once('?')?;
    (target_path == path
        && query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=&_.-%".contains(&b)))
    .then(|| query.to_string())
}

fn media_type_field(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Shape>(bytes)
        .ok()?
        .media_type
        .filter(|m| check_media_type(m).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_page_links_are_followed_only_within_the_same_list() {
        let repo = "/v2/acme/api/tags/list";
        assert_eq!(
            next_page_query("</v2/acme/api/tags/list?n=100&last=v9>; rel=\"next\"", repo),
            Some("n=100&last=v9".to_string())
        );
        let referrers = "/v2/acme/api/referrers/sha256:aa";
        assert_eq!(
            next_page_query(
                "</v2/acme/api/referrers/sha256:aa?n=1&last=x>; rel=\"next\"",
                referrers
            ),
            Some("n=1&last=x".to_string())
        );
        assert_eq!(
            next_page_query(
                "</v2/acme/api/referrers/sha256:bb?n=1>; rel=\"next\"",
                referrers
            ),
            None,
            "another subject's referrers"
        );
        for link in [
            "</v2/acme/other/tags/list?n=1>; rel=\"next\"",
            "<https://evil.example/v2/acme/api/tags/list?n=1>; rel=\"next\"",
            "</v2/acme/api/tags/list?n=1>; rel=\"prev\"",
            "</v2/acme/api/tags/list?n=1#x>; rel=\"next\"",
            "garbage",
        ] {
            assert_eq!(next_page_query(link, repo), None, "{link}");
        }
    }
}

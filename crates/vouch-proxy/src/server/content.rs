//! The content handlers: manifests, blobs, tags and referrers. Each
//! decides entitlement, asks the content service (`service.rs`) and turns
//! what it gets into a response; failures go back to the edge as
//! [`RequestError`]s.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::body::{ByteRange, Counted, file_stream};
use super::edge::RequestError;
use super::{Ctx, Proxy};
use crate::cache::fill::{FillError, Passthrough};
use crate::cache::resume::{CachedRead, Fallback};
use crate::cache::{BlobAccess, BlobBody, BlobHandle, ByteStream};
use crate::entitlement::{Entitlements, TagDecision, links};
use crate::metrics::{CacheLookup, ContentKind};
use crate::names::{Digest, Reference};
use crate::route::Operation;
use crate::upstream::fetch::{MAX_MANIFEST_BYTES, Page, PagedList};
use crate::upstream::{self, Resource};

use super::service::ContentError;

/// Largest referrers response read from an upstream (an image index; the
/// same bound as manifests).
pub const MAX_REFERRERS_BYTES: usize = MAX_MANIFEST_BYTES;
/// Largest tags-list page read from an upstream (~60 000 tags).
pub const MAX_TAGS_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Upstream tag-list pages followed (ghcr.io and Docker Hub page by 100–
/// 1000 tags; 100 pages covers every repository we have seen).
pub const MAX_TAG_PAGES: usize = 100;
/// Upstream referrers pages followed in `passthrough` mode (a subject
/// with more than a few pages of signatures is not one we serve).
pub const MAX_REFERRERS_PAGES: usize = 16;
/// Most tags returned per page when the client asks for more (or none).
pub const MAX_TAGS_PER_PAGE: usize = 10_000;
/// Blobs up to this size are verified completely before the response
/// starts, so a lying upstream produces a clean 502 rather than a cut
/// connection. Above it, streaming starts at once (first-byte latency on
/// large layers matters more) and the last byte waits for verification.
pub const VERIFY_BEFORE_SEND_BYTES: u64 = 1024 * 1024;

/// The media type of an image index, which referrers lists are.
const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Whether the client asked for a subset of the referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReferrersFilter {
    /// Every referrer.
    None,
    /// Those of one `artifactType` (answered with `OCI-Filters-Applied`).
    ArtifactType,
}

/// An operation on content, the routes that reach the content handlers:
/// uploads are refused before authorization, so they are not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentOperation {
    /// `manifests/<reference>`.
    Manifest(Reference),
    /// `blobs/<digest>`.
    Blob(Digest),
    /// `tags/list`.
    TagsList,
    /// `referrers/<digest>`.
    Referrers(Digest),
}

impl ContentOperation {
    /// The content operation of a route's operation; `None` for an upload.
    pub(crate) fn of(operation: Operation) -> Option<Self> {
        match operation {
            Operation::Manifest(r) => Some(Self::Manifest(r)),
            Operation::Blob(d) => Some(Self::Blob(d)),
            Operation::TagsList => Some(Self::TagsList),
            Operation::Referrers(d) => Some(Self::Referrers(d)),
            Operation::Upload => None,
        }
    }
}

fn digest_header(digest: &Digest) -> HeaderValue {
    HeaderValue::from_str(&digest.to_string()).expect("digests are header-safe")
}

fn etag(digest: &Digest) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{digest}\"")).expect("header-safe")
}

impl Proxy {
    /// A refusal for content the license's entitlement does not reach:
    /// the answer for content that does not exist, so nothing is learnt
    /// about the upstream (issue 14, finding 10), with the reason.
    fn not_entitled(&self, kind: ContentKind, reason: String) -> RequestError {
        self.metrics.denial("not_entitled");
        RequestError::NotEntitled { kind, reason }
    }

    /// Refuses a digest the license's entitlement does not reach.
    async fn check_digest(
        self: &Arc<Self>,
        ctx: &Ctx,
        kind: ContentKind,
        digest: &Digest,
    ) -> Result<(), RequestError> {
        if self.digest_entitled(ctx, digest).await? {
            return Ok(());
        }
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let reason = entitlements.digest_refusal(&ctx.repository, digest);
        Err(self.not_entitled(kind, reason))
    }

    /// Records that `artifact` is attached to `subject` in this
    /// repository, if the state store takes it ([`Proxy::record_if_possible`]).
    async fn record_attachment(&self, ctx: &Ctx, subject: &Digest, artifact: &Digest) {
        let record = self
            .stores
            .resolutions
            .record_attachment(&ctx.repository, subject, artifact);
        self.record_if_possible(record, || {
            format!("{artifact} attached to {subject} in {}", ctx.repository)
        })
        .await;
    }

    // ---- manifests ------------------------------------------------------

    pub(super) async fn serve_manifest(
        self: &Arc<Self>,
        ctx: &Ctx,
        method: &Method,
        reference: &Reference,
        headers: &HeaderMap,
    ) -> Result<Response, RequestError> {
        let accept = upstream::manifest_accept(headers);
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let (digest, manifest) = match reference {
            Reference::Tag(tag) => {
                let subject = match entitlements.tag(&ctx.repository, tag) {
                    TagDecision::Granted => None,
                    TagDecision::Artifact(subject) => {
                        if !self.digest_entitled(ctx, &subject).await? {
                            let reason = format!(
                                "tag {tag} is an artefact of {subject}, which is not entitled: {}",
                                entitlements.digest_refusal(&ctx.repository, &subject)
                            );
                            return Err(self.not_entitled(ContentKind::Manifest, reason));
                        }
                        Some(subject)
                    }
                    TagDecision::NotReleased(message) => {
                        return Err(self.not_entitled(ContentKind::Manifest, message));
                    }
                    TagDecision::OnOtherChannel(message) => {
                        self.metrics.denial("not_entitled");
                        return Err(RequestError::OnOtherChannel(message));
                    }
                };
                let (digest, manifest) = self.manifest_by_tag(ctx, tag, &accept).await?;
                if let Some(subject) = subject {
                    self.record_attachment(ctx, &subject, &digest).await;
                }
                (digest, manifest)
            }
            Reference::Digest(digest) => {
                self.check_digest(ctx, ContentKind::Manifest, digest)
                    .await?;
                let manifest = self.manifest_by_digest(ctx, digest).await?;
                self.confirm_held(ctx, ContentKind::Manifest, digest)
                    .await?;
                (digest.clone(), manifest)
            }
        };
        let mut response = Response::new(if method == Method::HEAD {
            Body::empty()
        } else {
            self.metrics
                .bytes_sent(ContentKind::Manifest, manifest.bytes.len() as u64);
            Body::from(manifest.bytes.clone())
        });
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&manifest.media_type)
                .map_err(|_| RequestError::UnusableMediaType)?,
        );
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(manifest.bytes.len()),
        );
        h.insert("docker-content-digest", digest_header(&digest));
        h.insert(header::ETAG, etag(&digest));
        Ok(response)
    }

    // ---- blobs ----------------------------------------------------------

    pub(super) async fn serve_blob(
        self: &Arc<Self>,
        ctx: &Arc<Ctx>,
        method: &Method,
        digest: &Digest,
        headers: &HeaderMap,
    ) -> Result<Response, RequestError> {
        self.check_digest(ctx, ContentKind::Blob, digest).await?;
        let range = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(ByteRange::parse);
        let access = if method == Method::HEAD {
            BlobAccess::Head
        } else {
            BlobAccess::Get
        };
        if let Some(handle) = self.cached_blob(digest, access).await {
            self.metrics.cache(ContentKind::Blob, CacheLookup::Hit);
            self.confirm_held(ctx, ContentKind::Blob, digest).await?;
            match self.file_response(ctx, handle, method, digest, range).await {
                // The cache is a cache: content it cannot read (an object
                // gone from the bucket) is fetched again.
                Err(RequestError::Content(ContentError::CacheRead { reason, .. })) => {
                    tracing::debug!(%digest, reason, "reading a cached blob failed; fetching it from the upstream again");
                    self.store_failed("read", &reason);
                    self.stores.content.forget_blob(digest);
                }
                other => return other,
            }
        } else {
            self.metrics.cache(ContentKind::Blob, CacheLookup::Miss);
        }
        if method == Method::HEAD {
            let length = ctx
                .upstream
                .blob_length(&ctx.repository, digest, &self.metrics)
                .await?;
            self.held.record(&ctx.repository, digest);
            let mut out = Response::new(Body::empty());
            blob_headers(out.headers_mut(), digest, length);
            return Ok(out);
        }
        let (fill, total) = match self.fill_blob(ctx, digest).await {
            Err(ContentError::Fill(e)) if e.is_store_side() => {
                return self.uncached_blob(ctx, digest, &e).await;
            }
            other => other?,
        };
        if let (None, Some(total)) = (range, total.filter(|t| *t > VERIFY_BEFORE_SEND_BYTES))
            && let Some(stream) = fill.follow(total).await
        {
            let body = Body::from_stream(Counted::new(stream, self.metrics.clone()));
            let mut response = Response::new(body);
            blob_headers(response.headers_mut(), digest, total);
            return Ok(response);
        }
        match fill.finished().await {
            Err(e) if e.is_store_side() => return self.uncached_blob(ctx, digest, &e).await,
            other => other.map_err(ContentError::from)?,
        };
        match self.cached_blob(digest, access).await {
            Some(handle) => self.file_response(ctx, handle, method, digest, range).await,
            None => {
                let cause = "it left the cache before it could be read";
                self.uncached_blob(ctx, digest, &cause).await
            }
        }
    }

    /// Serves a blob the cache cannot (its disk full or failing, its
    /// bucket unreachable): a transfer of its own from the upstream,
    /// verified as a fill is, never stored. A small blob is verified
    /// before any byte is sent; a large one streams with its final byte
    /// held back. A `Range` is ignored (RFC 9110 §14.2 allows it): the
    /// whole blob is the only thing that can be verified.
    async fn uncached_blob(
        self: &Arc<Self>,
        ctx: &Ctx,
        digest: &Digest,
        cause: &(dyn std::fmt::Display + Sync),
    ) -> Result<Response, RequestError> {
        tracing::debug!(%digest, cause = %cause, "the cache cannot serve this blob; serving it from the upstream, uncached");
        let response = (self.blob_fetcher(ctx, digest))().await?;
        let total = response.content_length();
        let stream = Passthrough::start(response, digest.clone(), self.fill_report(ctx));
        let mut out = match total {
            Some(total) if total <= VERIFY_BEFORE_SEND_BYTES => {
                let bytes = collect_verified(stream, digest).await?;
                Response::new(Body::from(bytes))
            }
            _ => Response::new(Body::from_stream(Counted::new(
                stream,
                self.metrics.clone(),
            ))),
        };
        blob_headers(out.headers_mut(), digest, total.unwrap_or_default());
        if total.is_none() {
            out.headers_mut().remove(header::CONTENT_LENGTH);
        }
        Ok(out)
    }

    /// Serves a cached blob: the whole of it, or one range (206; 416 when
    /// unsatisfiable), from a local file or remote storage, or (a store
    /// serving by redirect, `GET` only) a `307` to the storage URL.
    async fn file_response(
        self: &Arc<Self>,
        ctx: &Arc<Ctx>,
        handle: BlobHandle,
        method: &Method,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Response, RequestError> {
        let size = handle.size;
        let span = match range {
            None => None,
            Some(range) => Some(
                range
                    .resolve(size)
                    .ok_or(RequestError::RangeNotSatisfiable { size })?,
            ),
        };
        let (start, length) = span.map_or((0, size), |(start, end)| (start, end - start + 1));
        let cache_read = |reason: String| ContentError::CacheRead {
            digest: digest.clone(),
            reason,
        };
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            match handle.body {
                BlobBody::File(file) => {
                    let stream = Box::pin(file_stream(file, start, length));
                    self.cached_body(ctx, digest, start..start + length, stream)
                }
                BlobBody::Ranged(_) if length == 0 => Body::empty(),
                BlobBody::Ranged(reader) => {
                    let stream = reader
                        .read_range(start..start + length)
                        .await
                        .map_err(|e| cache_read(e.to_string()))?;
                    self.cached_body(ctx, digest, start..start + length, stream)
                }
                BlobBody::Redirect(url) => return Ok(redirect_response(&url, digest)),
            }
        };
        let mut response = Response::new(body);
        blob_headers(response.headers_mut(), digest, length);
        if let Some((start, end)) = span {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("header-safe"),
            );
        }
        Ok(response)
    }

    /// The body of `span` of a cached blob read from `bytes`: finished
    /// from the upstream if the store fails part way ([`CachedRead`]).
    fn cached_body(
        self: &Arc<Self>,
        ctx: &Arc<Ctx>,
        digest: &Digest,
        span: std::ops::Range<u64>,
        bytes: ByteStream,
    ) -> Body {
        let (proxy, ctx) = (self.clone(), ctx.clone());
        let fallback = move |digest: &Digest| Fallback {
            fetch: proxy.blob_fetcher(&ctx, digest),
            report: proxy.fill_report(&ctx),
            store: proxy.stores.content.clone(),
        };
        let read = CachedRead::new(bytes, digest.clone(), span, fallback);
        Body::from_stream(Counted::new(read.into_stream(), self.metrics.clone()))
    }

    // ---- tags -------------------------------------------------------------

    pub(super) async fn serve_tags(
        &self,
        ctx: &Ctx,
        query: Option<&str>,
    ) -> Result<Response, RequestError> {
        let mut n = None;
        let mut last = None;
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "n" => {
                    n = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| RequestError::PageSize(value.into_owned()))?,
                    )
                }
                "last" => last = Some(value.into_owned()),
                _ => {}
            }
        }
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let mut tags: Vec<String> = self
            .upstream_tags(ctx)
            .await?
            .into_iter()
            .filter(|t| entitlements.grants_tag(&ctx.repository, t))
            .collect();
        tags.sort();
        tags.dedup();
        if let Some(last) = &last {
            tags.retain(|t| t > last);
        }
        let page = n.unwrap_or(MAX_TAGS_PER_PAGE).min(MAX_TAGS_PER_PAGE);
        let mut link = None;
        if tags.len() > page {
            tags.truncate(page);
            if let Some(last_tag) = tags.last() {
                link = Some(format!(
                    "</v2/{}/tags/list?n={page}&last={last_tag}>; rel=\"next\"",
                    ctx.client_name
                ));
            }
        }
        let body = serde_json::json!({ "name": ctx.client_name, "tags": tags }).to_string();
        let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(link) = link {
            response.headers_mut().insert(
                header::LINK,
                HeaderValue::from_str(&link).expect("validated names"),
            );
        }
        Ok(response)
    }

    async fn upstream_tags(&self, ctx: &Ctx) -> Result<Vec<String>, RequestError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let list = PagedList {
            resource: Resource::Tags {
                repository: ctx.repository.clone(),
            },
            first: "tags/list".to_string(),
            max_pages: MAX_TAG_PAGES,
            max_page_bytes: MAX_TAGS_PAGE_BYTES,
        };
        let pages = ctx
            .upstream
            .pages(&ctx.repository, &list, &self.metrics)
            .await?;
        let mut all = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let page: TagList = serde_json::from_slice(&page.body)
                .map_err(|e| ctx.upstream.not_a_list(&list, i + 1, "a tag list", e))?;
            all.extend(page.tags.unwrap_or_default());
        }
        Ok(all)
    }

    // ---- referrers --------------------------------------------------------

    pub(super) async fn serve_referrers(
        self: &Arc<Self>,
        ctx: &Ctx,
        subject: &Digest,
        query: Option<&str>,
    ) -> Result<Response, RequestError> {
        if ctx.app.app.referrers == crate::store::ReferrersMode::NotFound {
            return Err(RequestError::ReferrersOff {
                repository: ctx.repository.clone(),
                subject: subject.clone(),
            });
        }
        // Only artifactType is forwarded; it is checked to be a plain
        // media-type token so nothing else rides along.
        let artifact_type = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "artifactType")
            .map(|(_, v)| v.into_owned())
            .filter(|v| {
                v.len() <= crate::cache::MAX_MEDIA_TYPE_LEN
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+/".contains(&b))
            });
        if !self.digest_entitled(ctx, subject).await? {
            // For this license the subject has no referrers: the spec's
            // answer is 200 with an empty index (a 403 is a hard error for
            // cosign and oras, not a fallback), and the upstream is not asked.
            self.metrics.denial("not_entitled");
            let filter = match artifact_type {
                Some(_) => ReferrersFilter::ArtifactType,
                None => ReferrersFilter::None,
            };
            return Ok(empty_referrers(filter));
        }
        let first = match &artifact_type {
            Some(t) => format!("referrers/{subject}?artifactType={}", t.replace('+', "%2B")),
            None => format!("referrers/{subject}"),
        };
        let list = PagedList {
            resource: Resource::Referrers {
                repository: ctx.repository.clone(),
                subject: subject.clone(),
            },
            first,
            max_pages: MAX_REFERRERS_PAGES,
            max_page_bytes: MAX_REFERRERS_BYTES,
        };
        let mut pages = ctx
            .upstream
            .pages(&ctx.repository, &list, &self.metrics)
            .await?;
        let filters = pages
            .first()
            .and_then(|p| p.headers.get("oci-filters-applied").cloned());
        // One page is served byte for byte; several are merged into one
        // index, so the client never sees an upstream Link it cannot follow.
        let body = if pages.len() == 1 {
            pages.remove(0).body
        } else {
            merge_referrers_pages(&pages)
                .map_err(|(page, e)| ctx.upstream.not_a_list(&list, page, "an image index", e))?
        };
        let listed =
            links(&body).map_err(|e| ctx.upstream.not_a_list(&list, 1, "an image index", e))?;
        // Referrers of an entitled subject are its signatures and
        // attestations: entitled too, from now on.
        for artifact in &listed.manifests {
            self.record_attachment(ctx, subject, artifact).await;
        }
        let mut out = Response::new(Body::from(body));
        let h = out.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(IMAGE_INDEX));
        if let Some(f) = filters {
            h.insert("oci-filters-applied", f);
        }
        Ok(out)
    }
}

/// The referrers of a subject that has none (distribution-spec, "Listing
/// Referrers": 200 with an image index whose `manifests` is empty), with
/// `OCI-Filters-Applied` when an `artifactType` filter was asked for.
fn empty_referrers(filter: ReferrersFilter) -> Response {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_INDEX,
        "manifests": [],
    });
    let mut out = Response::new(Body::from(index.to_string()));
    let h = out.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(IMAGE_INDEX));
    if filter == ReferrersFilter::ArtifactType {
        h.insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    out
}

/// Joins the `manifests` of several upstream referrers pages into one
/// image index (descriptors kept as the upstream wrote them); a page that
/// is not an image index is refused with its number (1-based).
fn merge_referrers_pages(pages: &[Page]) -> Result<Bytes, (usize, serde_json::Error)> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<serde_json::Value>,
    }
    let mut manifests = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let page: Index = serde_json::from_slice(&page.body).map_err(|e| (i + 1, e))?;
        manifests.extend(page.manifests);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_INDEX,
        "manifests": manifests,
    });
    Ok(Bytes::from(index.to_string()))
}

/// The whole of a small verified blob, or the [`FillError`] that ended
/// its stream.
async fn collect_verified(
    stream: impl futures_util::Stream<Item = std::io::Result<Bytes>>,
    digest: &Digest,
) -> Result<Bytes, ContentError> {
    use futures_util::StreamExt as _;
    let mut out = bytes::BytesMut::new();
    futures_util::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(e) => {
                let reason = e.to_string();
                let e = match e.into_inner().map(|inner| inner.downcast::<FillError>()) {
                    Some(Ok(fill)) => *fill,
                    _ => FillError::Read {
                        digest: digest.clone(),
                        reason,
                    },
                };
                return Err(e.into());
            }
        }
    }
    Ok(out.freeze())
}

fn blob_headers(h: &mut HeaderMap, digest: &Digest, length: u64) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert("docker-content-digest", digest_header(digest));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, etag(digest));
}

/// A `307` to where storage serves the blob (a presigned URL: the
/// store's signature, never the client's credentials). The client sends
/// its `Range` there itself.
fn redirect_response(url: &reqwest::Url, digest: &Digest) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(url.as_str()).expect("a parsed URL is header-safe"),
    );
    h.insert("docker-content-digest", digest_header(digest));
    response
}

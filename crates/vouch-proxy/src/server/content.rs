//! Manifests, blobs, tags and referrers: entitlement, cache, upstream.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::{Ctx, Proxy, store_error};
use crate::cache::{BlobAccess, BlobBody, BlobHandle, StoredManifest, check_media_type};
use crate::entitlement::{Entitlements, Links, MAX_MANIFESTS_PER_CHECK, TagDecision, links};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{ContentKind, Metrics};
use crate::names::{Digest, Reference, Repository, Tag, UpstreamName};
use crate::pulllog::PullLogWriter;
use crate::store::PullRecord;
use crate::upstream::{self, Upstream, UpstreamRequest, check_manifest, read_limited};

/// Largest manifest accepted from an upstream: the distribution-spec
/// says registries SHOULD accept manifests of at least 4 MiB, and
/// distribution's default limit is 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
// Every manifest accepted from an upstream fits in the cache.
const _: () = assert!(MAX_MANIFEST_BYTES as u64 <= crate::cache::MAX_STORED_MANIFEST_BYTES);
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
/// Read buffer for serving cached blobs.
const FILE_CHUNK_BYTES: usize = 256 * 1024;

/// What a manifest fetch is coalesced on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ManifestKey {
    /// By tag, per Accept value.
    Tag(UpstreamName, Repository, Tag, String),
    /// By digest.
    Digest(UpstreamName, Repository, Digest),
}

fn manifest_unknown(repository: &Repository, reference: &impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::ManifestUnknown,
        format!("manifest {reference} is not in {repository}"),
    )
}

/// A 404 for content the license's entitlement does not reach: the answer
/// for content that does not exist, so nothing is learnt about the
/// upstream (issue 14, finding 10), with the reason in the message.
fn not_entitled(kind: ContentKind, message: String) -> ApiError {
    let code = match kind {
        ContentKind::Manifest => ErrorCode::ManifestUnknown,
        ContentKind::Blob => ErrorCode::BlobUnknown,
    };
    ApiError::new(StatusCode::NOT_FOUND, code, message)
}

fn blob_unknown(repository: &Repository, digest: &Digest) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::BlobUnknown,
        format!("blob {digest} is not in {repository}"),
    )
}

fn digest_header(digest: &Digest) -> HeaderValue {
    HeaderValue::from_str(&digest.to_string()).expect("digests are header-safe")
}

impl Proxy {
    // ---- manifests ------------------------------------------------------

    pub(super) async fn serve_manifest(
        self: &Arc<Self>,
        ctx: &Ctx,
        method: &Method,
        reference: &Reference,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        let accept = upstream::manifest_accept(headers);
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let (digest, manifest) = match reference {
            Reference::Tag(tag) => {
                let subject = match entitlements.tag(&ctx.repository, tag) {
                    TagDecision::Granted => None,
                    TagDecision::Artifact(subject) => {
                        if !self.digest_entitled(ctx, &subject).await? {
                            self.metrics.denial("not_entitled");
                            return Err(not_entitled(
                                ContentKind::Manifest,
                                format!(
                                    "tag {tag} is an artefact of {subject}, which is not entitled: {}",
                                    entitlements.digest_refusal(&ctx.repository, &subject)
                                ),
                            ));
                        }
                        Some(subject)
                    }
                    TagDecision::NotReleased(message) => {
                        self.metrics.denial("not_entitled");
                        return Err(not_entitled(ContentKind::Manifest, message));
                    }
                    TagDecision::OnOtherChannel(message) => {
                        self.metrics.denial("not_entitled");
                        return Err(ApiError::denied(message));
                    }
                };
                let (digest, manifest) = self.manifest_by_tag(ctx, tag, &accept).await?;
                if let Some(subject) = subject {
                    self.stores
                        .resolutions
                        .record_attachment(&ctx.repository, &subject, &digest)
                        .await
                        .map_err(store_error)?;
                }
                (digest, manifest)
            }
            Reference::Digest(digest) => {
                if !self.digest_entitled(ctx, digest).await? {
                    self.metrics.denial("not_entitled");
                    return Err(not_entitled(
                        ContentKind::Manifest,
                        entitlements.digest_refusal(&ctx.repository, digest),
                    ));
                }
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
                .map_err(|_| ApiError::bad_gateway("unusable media type"))?,
        );
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(manifest.bytes.len()),
        );
        h.insert("docker-content-digest", digest_header(&digest));
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&format!("\"{digest}\"")).expect("header-safe"),
        );
        Ok(response)
    }

    /// A manifest by tag: the tag cache (short TTL), else the upstream.
    async fn manifest_by_tag(
        self: &Arc<Self>,
        ctx: &Ctx,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<(Digest, StoredManifest), ApiError> {
        let accept_text = String::from_utf8_lossy(accept.as_bytes()).into_owned();
        let key = (ctx.repository.clone(), tag.clone(), accept_text.clone());
        if let Some(digest) = self.tag_digests.get(&key)
            && let Some(m) = self.cached_manifest(&digest).await
        {
            self.metrics.cache(ContentKind::Manifest, true);
            return Ok((digest, m));
        }
        self.metrics.cache(ContentKind::Manifest, false);
        let flight = ManifestKey::Tag(
            ctx.upstream_name(),
            ctx.repository.clone(),
            tag.clone(),
            accept_text,
        );
        let (this, upstream, repository, wanted, accept) = (
            self.clone(),
            ctx.upstream.clone(),
            ctx.repository.clone(),
            tag.clone(),
            accept.clone(),
        );
        let fetched = self
            .manifest_flights
            .run(flight, move || async move {
                let reference = Reference::Tag(wanted.clone());
                let (digest, manifest) = this
                    .fetch_manifest(&upstream, &repository, &reference, accept)
                    .await?;
                this.tag_digests.insert(key, digest.clone());
                this.tag_resolved
                    .insert((repository.clone(), wanted.clone()), Some(digest.clone()));
                this.stores
                    .resolutions
                    .record_tag(&repository, &wanted, &digest, Timestamp::now())
                    .await
                    .map_err(store_error)?;
                Ok((digest, manifest))
            })
            .await;
        match fetched {
            Err(e)
                if e.status == StatusCode::SERVICE_UNAVAILABLE
                    || e.status == StatusCode::BAD_GATEWAY =>
            {
                self.stale_tag(ctx, tag).await.ok_or(e)
            }
            other => other,
        }
    }

    /// When the upstream cannot answer for a tag, the digest it pointed
    /// to last, if that manifest is cached (a pull-through cache keeps
    /// serving what it has; a missing tag, 404, never gets here).
    async fn stale_tag(&self, ctx: &Ctx, tag: &Tag) -> Option<(Digest, StoredManifest)> {
        let known = self
            .stores
            .resolutions
            .tag_digests(&ctx.repository, tag)
            .await
            .ok()?;
        for digest in known {
            if let Some(m) = self.cached_manifest(&digest).await {
                tracing::warn!(repository = %ctx.repository, %tag, %digest, "upstream unavailable; serving the last known digest of the tag");
                return Some((digest, m));
            }
        }
        None
    }

    /// A manifest by digest: the cache, else the upstream.
    async fn manifest_by_digest(
        self: &Arc<Self>,
        ctx: &Ctx,
        digest: &Digest,
    ) -> Result<StoredManifest, ApiError> {
        if let Some(m) = self.cached_manifest(digest).await {
            self.metrics.cache(ContentKind::Manifest, true);
            return Ok(m);
        }
        self.metrics.cache(ContentKind::Manifest, false);
        let flight =
            ManifestKey::Digest(ctx.upstream_name(), ctx.repository.clone(), digest.clone());
        let (this, upstream, repository, digest) = (
            self.clone(),
            ctx.upstream.clone(),
            ctx.repository.clone(),
            digest.clone(),
        );
        let accept = HeaderValue::from_static(upstream::DEFAULT_MANIFEST_ACCEPT);
        self.manifest_flights
            .run(flight, move || async move {
                this.fetch_manifest(&upstream, &repository, &Reference::Digest(digest), accept)
                    .await
            })
            .await
            .map(|(_, m)| m)
    }

    async fn cached_manifest(&self, digest: &Digest) -> Option<StoredManifest> {
        match self.stores.content.manifest(digest).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "cache read failed; fetching from upstream");
                None
            }
        }
    }

    /// Fetches, verifies and caches a manifest.
    async fn fetch_manifest(
        &self,
        upstream: &Upstream,
        repository: &Repository,
        reference: &Reference,
        accept: HeaderValue,
    ) -> Result<(Digest, StoredManifest), ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept);
        let request = UpstreamRequest {
            method: Method::GET,
            repository: &repository.path,
            suffix: format!("manifests/{reference}"),
            headers,
        };
        let response = upstream
            .send(&request, &self.metrics)
            .await
            .map_err(|e| e.to_api())?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(manifest_unknown(repository, reference)),
            other => {
                return Err(ApiError::bad_gateway(format!(
                    "upstream {} answered {other} for manifest {reference} of {repository}",
                    upstream.name()
                )));
            }
        }
        let header_digest = match response.headers().get("docker-content-digest") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| Digest::parse(v).ok())
                    .ok_or_else(|| {
                        ApiError::bad_gateway(format!(
                            "upstream {} sent an invalid Docker-Content-Digest",
                            upstream.name()
                        ))
                    })?,
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
                .map_err(|e| {
                    ApiError::bad_gateway(format!(
                        "manifest {reference} from {}: {e}",
                        upstream.name()
                    ))
                })?,
        );
        let media_type = content_type
            .or_else(|| media_type_field(&bytes))
            .ok_or_else(|| {
                ApiError::bad_gateway(format!("manifest {reference} has no media type"))
            })?;
        check_manifest(&media_type, &bytes).map_err(|e| {
            ApiError::bad_gateway(format!(
                "upstream {} answered manifest {reference} with something else: {e}: refused, not cached",
                upstream.name()
            ))
        })?;
        let digest = match (reference, &header_digest) {
            (Reference::Digest(d), Some(h)) if h != d => {
                return Err(ApiError::bad_gateway(format!(
                    "upstream {} answered manifest {d} with Docker-Content-Digest {h}: refused, not cached",
                    upstream.name()
                )));
            }
            (Reference::Digest(d), _) => d.clone(),
            (Reference::Tag(_), Some(h)) => h.clone(),
            (Reference::Tag(_), None) => Digest::sha256_of(&bytes),
        };
        let mut verifier = digest.verifier();
        verifier.update(&bytes);
        verifier.finish().map_err(|found| {
            ApiError::bad_gateway(format!(
                "upstream {} sent a manifest for {digest} that hashes to {found}: refused, not cached",
                upstream.name()
            ))
        })?;
        let manifest = StoredManifest { media_type, bytes };
        if let Err(e) = self.stores.content.put_manifest(&digest, &manifest).await {
            tracing::warn!(%digest, error = %e, "could not cache manifest; serving it anyway");
        }
        self.held.record(repository, &digest);
        Ok((digest, manifest))
    }

    // ---- entitlement by digest -------------------------------------------

    /// Whether `target` is reachable from the license's roots in this
    /// repository (see [`crate::entitlement`]). Tags are re-resolved
    /// upstream (at most once per tag TTL) only when the known history
    /// does not reach the target.
    pub(super) async fn digest_entitled(
        self: &Arc<Self>,
        ctx: &Ctx,
        target: &Digest,
    ) -> Result<bool, ApiError> {
        let key = (ctx.license.number, ctx.repository.clone(), target.clone());
        if self.decisions.get(&key).is_some() {
            return Ok(true);
        }
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let (mut roots, tags) = entitlements.roots(&ctx.repository);
        for tag in &tags {
            roots.extend(
                self.stores
                    .resolutions
                    .tag_digests(&ctx.repository, tag)
                    .await
                    .map_err(store_error)?,
            );
        }
        let mut seen = HashSet::new();
        if self.reachable(ctx, roots, target, &mut seen).await? {
            self.decisions.insert(key, ());
            return Ok(true);
        }
        let mut fresh = Vec::new();
        for tag in tags {
            // Resolved within the tag TTL: use that answer (it may not be
            // in the store yet), do not ask again.
            match self
                .tag_resolved
                .get(&(ctx.repository.clone(), tag.clone()))
            {
                Some(Some(digest)) => {
                    fresh.push(digest);
                    continue;
                }
                Some(None) => continue,
                None => {}
            }
            let accept = HeaderValue::from_static(upstream::DEFAULT_MANIFEST_ACCEPT);
            match self.manifest_by_tag(ctx, &tag, &accept).await {
                Ok((digest, _)) => fresh.push(digest),
                Err(e) if e.status == StatusCode::NOT_FOUND => {
                    self.tag_resolved
                        .insert((ctx.repository.clone(), tag), None);
                }
                Err(e) => return Err(e),
            }
        }
        if self.reachable(ctx, fresh, target, &mut seen).await? {
            self.decisions.insert(key, ());
            return Ok(true);
        }
        Ok(false)
    }

    /// Breadth-first search from `roots` through manifest links and
    /// recorded attachments, sharing `seen` across calls.
    async fn reachable(
        self: &Arc<Self>,
        ctx: &Ctx,
        roots: Vec<Digest>,
        target: &Digest,
        seen: &mut HashSet<Digest>,
    ) -> Result<bool, ApiError> {
        let mut queue: VecDeque<Digest> = roots.into();
        while let Some(manifest) = queue.pop_front() {
            if manifest == *target {
                return Ok(true);
            }
            if !seen.insert(manifest.clone()) {
                continue;
            }
            if seen.len() > MAX_MANIFESTS_PER_CHECK {
                tracing::warn!(repository = %ctx.repository, %target, "entitlement search stopped at {MAX_MANIFESTS_PER_CHECK} manifests");
                return Ok(false);
            }
            let links = self.links_of(ctx, &manifest).await?;
            if links.blobs.contains(target) || links.manifests.contains(target) {
                return Ok(true);
            }
            queue.extend(links.manifests.iter().cloned());
            queue.extend(
                self.stores
                    .resolutions
                    .attachments(&ctx.repository, &manifest)
                    .await
                    .map_err(store_error)?,
            );
        }
        Ok(false)
    }

    async fn links_of(
        self: &Arc<Self>,
        ctx: &Ctx,
        digest: &Digest,
    ) -> Result<Arc<Links>, ApiError> {
        if let Some(links) = self.links.get(digest) {
            return Ok(links);
        }
        let links = match self.manifest_by_digest(ctx, digest).await {
            Ok(m) => links(&m.bytes).unwrap_or_else(|e| {
                tracing::warn!(%digest, error = %e, "manifest links unreadable; treating as a leaf");
                Links::default()
            }),
            // A root the upstream no longer has links to nothing.
            Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(Arc::new(Links::default())),
            Err(e) => return Err(e),
        };
        let links = Arc::new(links);
        self.links.insert(digest.clone(), links.clone());
        Ok(links)
    }

    // ---- blobs ----------------------------------------------------------

    pub(super) async fn serve_blob(
        self: &Arc<Self>,
        ctx: &Ctx,
        method: &Method,
        digest: &Digest,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        if !self.digest_entitled(ctx, digest).await? {
            self.metrics.denial("not_entitled");
            let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
            return Err(not_entitled(
                ContentKind::Blob,
                entitlements.digest_refusal(&ctx.repository, digest),
            ));
        }
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
            self.metrics.cache(ContentKind::Blob, true);
            self.confirm_held(ctx, ContentKind::Blob, digest).await?;
            return self.file_response(handle, method, digest, range).await;
        }
        self.metrics.cache(ContentKind::Blob, false);
        if method == Method::HEAD {
            return self.blob_head_upstream(ctx, digest).await;
        }
        let (this, upstream, repository, blob) = (
            self.clone(),
            ctx.upstream.clone(),
            ctx.repository.clone(),
            digest.clone(),
        );
        let fetch = async move {
            let request = UpstreamRequest {
                method: Method::GET,
                repository: &repository.path,
                suffix: format!("blobs/{blob}"),
                headers: HeaderMap::new(),
            };
            let response = upstream
                .send(&request, &this.metrics)
                .await
                .map_err(|e| e.to_api())?;
            match response.status() {
                StatusCode::OK => {
                    // Recorded before the fill reports its start, so the
                    // requests of this repository that joined it see it.
                    this.held.record(&repository, &blob);
                    Ok(response)
                }
                StatusCode::NOT_FOUND => Err(blob_unknown(&repository, &blob)),
                other => Err(ApiError::bad_gateway(format!(
                    "upstream {} answered {other} for blob {blob}",
                    upstream.name()
                ))),
            }
        };
        let (fill, ours) = self
            .fills
            .join_or_start(digest, self.stores.content.clone(), fetch);
        let started = fill.started().await;
        // A fill started by another request serves this one only once this
        // repository is known to hold the blob: the fill was for it (and
        // recorded that when the upstream answered), or its upstream says so.
        if !ours {
            self.confirm_held(ctx, ContentKind::Blob, digest).await?;
        }
        let total = started?;
        if let (None, Some(total)) = (range, total.filter(|t| *t > VERIFY_BEFORE_SEND_BYTES))
            && let Some(stream) = fill.follow(total).await
        {
            let body = Body::from_stream(Counted::new(stream, self.metrics.clone()));
            let mut response = Response::new(body);
            blob_headers(response.headers_mut(), digest, total);
            return Ok(response);
        }
        fill.finished().await?;
        let handle = self.cached_blob(digest, access).await.ok_or_else(|| {
            ApiError::unavailable(format!(
                "blob {digest} left the cache before it could be served; retry"
            ))
        })?;
        self.file_response(handle, method, digest, range).await
    }

    async fn cached_blob(&self, digest: &Digest, access: BlobAccess) -> Option<BlobHandle> {
        match self.stores.content.blob(digest, access).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "cache read failed; fetching from upstream");
                None
            }
        }
    }

    /// Cached bytes are given out for a repository only once it is known
    /// to hold the digest (see [`crate::cache::held`]): fetched from it, or
    /// confirmed by a `HEAD` to its upstream now. A 404 there is this
    /// repository's 404; any other failure is what an uncached pull would
    /// answer (502, 503, 429), and the cached bytes stay unserved.
    async fn confirm_held(
        &self,
        ctx: &Ctx,
        kind: ContentKind,
        digest: &Digest,
    ) -> Result<(), ApiError> {
        if self.held.holds(&ctx.repository, digest) {
            return Ok(());
        }
        let (upstream, repository, wanted, metrics) = (
            ctx.upstream.clone(),
            ctx.repository.clone(),
            digest.clone(),
            self.metrics.clone(),
        );
        self.held
            .confirm(&ctx.repository, digest, move || async move {
                head_upstream(&upstream, &repository, kind, &wanted, &metrics)
                    .await
                    .map(|_| ())
            })
            .await
    }

    async fn blob_head_upstream(&self, ctx: &Ctx, digest: &Digest) -> Result<Response, ApiError> {
        let response = head_upstream(
            &ctx.upstream,
            &ctx.repository,
            ContentKind::Blob,
            digest,
            &self.metrics,
        )
        .await?;
        self.held.record(&ctx.repository, digest);
        let length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_gateway(format!(
                    "upstream {} sent no blob length",
                    ctx.upstream.name()
                ))
            })?;
        let mut out = Response::new(Body::empty());
        blob_headers(out.headers_mut(), digest, length);
        Ok(out)
    }

    /// Serves a cached blob: the whole of it, or one range (206; 416 when
    /// unsatisfiable), from a local file or remote storage, or (a store
    /// serving by redirect, `GET` only) a `307` to the storage URL.
    async fn file_response(
        &self,
        handle: BlobHandle,
        method: &Method,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Response, ApiError> {
        let size = handle.size;
        let span = match range {
            None => None,
            Some(range) => Some(range.resolve(size).ok_or_else(|| {
                ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::RangeInvalid,
                    format!("range not satisfiable for a blob of {size} bytes"),
                )
                .with_header(header::CONTENT_RANGE, &format!("bytes */{size}"))
            })?),
        };
        let (start, length) = span.map_or((0, size), |(start, end)| (start, end - start + 1));
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            match handle.body {
                BlobBody::File(mut file) => {
                    if span.is_some() {
                        file.seek(std::io::SeekFrom::Start(start))
                            .await
                            .map_err(|e| ApiError::internal(format!("cache seek: {e}")))?;
                    }
                    file_body(file, length, self.metrics.clone())
                }
                BlobBody::Ranged(_) if length == 0 => Body::empty(),
                BlobBody::Ranged(reader) => {
                    let stream = reader
                        .read_range(start..start + length)
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    Body::from_stream(Counted::new(stream, self.metrics.clone()))
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

    // ---- tags -------------------------------------------------------------

    pub(super) async fn serve_tags(
        &self,
        ctx: &Ctx,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let mut n = None;
        let mut last = None;
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "n" => {
                    n = Some(value.parse::<usize>().map_err(|_| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            ErrorCode::PaginationNumberInvalid,
                            format!("n={value:?} is not a number"),
                        )
                    })?)
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

    async fn upstream_tags(&self, ctx: &Ctx) -> Result<Vec<String>, ApiError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let list = PagedList {
            first: "tags/list".to_string(),
            what: format!("the tags of {}", ctx.repository),
            max_pages: MAX_TAG_PAGES,
            max_page_bytes: MAX_TAGS_PAGE_BYTES,
        };
        let not_found =
            || ApiError::name_unknown(format!("repository {} is unknown upstream", ctx.repository));
        let mut all = Vec::new();
        for page in self.upstream_pages(ctx, &list, not_found).await? {
            let page: TagList = serde_json::from_slice(&page.body).map_err(|e| {
                ApiError::bad_gateway(format!(
                    "tags of {} are not a tag list: {e}",
                    ctx.repository
                ))
            })?;
            all.extend(page.tags.unwrap_or_default());
        }
        Ok(all)
    }

    /// Fetches a list the upstream may page with `Link: <…>; rel="next"`,
    /// following links only within the same list. A 404 on the first page
    /// is `not_found()`; any other failure is a gateway error naming the page.
    async fn upstream_pages(
        &self,
        ctx: &Ctx,
        list: &PagedList,
        not_found: impl Fn() -> ApiError,
    ) -> Result<Vec<UpstreamPage>, ApiError> {
        let list_path = format!(
            "/v2/{}/{}",
            ctx.repository.path,
            list.first.split('?').next().unwrap_or_default()
        );
        let mut pages = Vec::new();
        let mut suffix = list.first.clone();
        while pages.len() < list.max_pages {
            let request = UpstreamRequest {
                method: Method::GET,
                repository: &ctx.repository.path,
                suffix: suffix.clone(),
                headers: HeaderMap::new(),
            };
            let response = ctx
                .upstream
                .send(&request, &self.metrics)
                .await
                .map_err(|e| e.to_api())?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND if pages.is_empty() => return Err(not_found()),
                other => {
                    return Err(ApiError::bad_gateway(format!(
                        "upstream {} answered {other} for page {} of {}",
                        ctx.upstream.name(),
                        pages.len() + 1,
                        list.what
                    )));
                }
            }
            let headers = response.headers().clone();
            let next = headers
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| next_page_query(v, &list_path));
            let body = read_limited(response, list.max_page_bytes)
                .await
                .map_err(|e| ApiError::bad_gateway(format!("{}: {e}", list.what)))?;
            pages.push(UpstreamPage {
                headers,
                body: Bytes::from(body),
            });
            match next {
                Some(query) => {
                    let path = list.first.split('?').next().unwrap_or_default();
                    suffix = format!("{path}?{query}");
                }
                None => break,
            }
        }
        Ok(pages)
    }

    // ---- referrers --------------------------------------------------------

    pub(super) async fn serve_referrers(
        self: &Arc<Self>,
        ctx: &Ctx,
        subject: &Digest,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let unavailable = |why: &str| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::Unsupported,
                format!(
                    "the referrers API is not available for {}{why}; use the referrers tag schema (tag {})",
                    ctx.repository,
                    subject.referrers_tag()
                ),
            )
        };
        if ctx.app.app.referrers == crate::store::ReferrersMode::NotFound {
            return Err(unavailable(""));
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
            return Ok(empty_referrers(artifact_type.is_some()));
        }
        let suffix = match &artifact_type {
            Some(t) => format!("referrers/{subject}?artifactType={}", t.replace('+', "%2B")),
            None => format!("referrers/{subject}"),
        };
        let list = PagedList {
            first: suffix,
            what: format!("the referrers of {subject}"),
            max_pages: MAX_REFERRERS_PAGES,
            max_page_bytes: MAX_REFERRERS_BYTES,
        };
        let mut pages = self
            .upstream_pages(ctx, &list, || {
                unavailable(" (the upstream does not serve it)")
            })
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
                .map_err(|e| ApiError::bad_gateway(format!("referrers of {subject}: {e}")))?
        };
        let listed = links(&body)
            .map_err(|e| ApiError::bad_gateway(format!("referrers of {subject}: {e}")))?;
        // Referrers of an entitled subject are its signatures and
        // attestations: entitled too, from now on.
        for artifact in &listed.manifests {
            self.stores
                .resolutions
                .record_attachment(&ctx.repository, subject, artifact)
                .await
                .map_err(store_error)?;
        }
        let mut out = Response::new(Body::from(body));
        let h = out.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        );
        if let Some(f) = filters {
            h.insert("oci-filters-applied", f);
        }
        Ok(out)
    }
}

/// The referrers of a subject that has none (distribution-spec, "Listing
/// Referrers": 200 with an image index whose `manifests` is empty), with
/// `OCI-Filters-Applied` when an `artifactType` filter was asked for.
fn empty_referrers(filtered: bool) -> Response {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [],
    });
    let mut out = Response::new(Body::from(index.to_string()));
    let h = out.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    );
    if filtered {
        h.insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    out
}

/// Joins the `manifests` of several upstream referrers pages into one
/// image index (descriptors kept as the upstream wrote them).
fn merge_referrers_pages(pages: &[UpstreamPage]) -> Result<Bytes, String> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        manifests: Vec<serde_json::Value>,
    }
    let mut manifests = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let page: Page = serde_json::from_slice(&page.body)
            .map_err(|e| format!("page {} is not an image index: {e}", i + 1))?;
        manifests.extend(page.manifests);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    Ok(Bytes::from(index.to_string()))
}

/// A list fetched from the upstream page by page.
struct PagedList {
    /// The first page: `tags/list` or `referrers/<digest>[?artifactType=…]`.
    first: String,
    /// What the list is, for errors ("the tags of …").
    what: String,
    /// Pages followed at most.
    max_pages: usize,
    /// Largest page read.
    max_page_bytes: usize,
}

/// One page of an upstream list.
struct UpstreamPage {
    headers: HeaderMap,
    body: Bytes,
}

impl Ctx {
    fn upstream_name(&self) -> UpstreamName {
        self.repository.upstream.clone()
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

/// `HEAD` of a manifest or blob in `repository` on its upstream: the
/// response when the upstream holds it (and does not name another
/// digest), else the error a client gets (404 `MANIFEST_UNKNOWN` /
/// `BLOB_UNKNOWN`, or the upstream failure).
async fn head_upstream(
    upstream: &Upstream,
    repository: &Repository,
    kind: ContentKind,
    digest: &Digest,
    metrics: &Metrics,
) -> Result<reqwest::Response, ApiError> {
    let mut headers = HeaderMap::new();
    let what = match kind {
        ContentKind::Manifest => {
            // distribution answers 404 for an OCI manifest or index by
            // digest when the Accept header does not list its type.
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_static(upstream::DEFAULT_MANIFEST_ACCEPT),
            );
            "manifests"
        }
        ContentKind::Blob => "blobs",
    };
    let request = UpstreamRequest {
        method: Method::HEAD,
        repository: &repository.path,
        suffix: format!("{what}/{digest}"),
        headers,
    };
    let response = upstream
        .send(&request, metrics)
        .await
        .map_err(|e| e.to_api())?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(match kind {
                ContentKind::Manifest => manifest_unknown(repository, digest),
                ContentKind::Blob => blob_unknown(repository, digest),
            });
        }
        other => {
            return Err(ApiError::bad_gateway(format!(
                "upstream {} answered {other} for HEAD of {what}/{digest} in {repository}",
                upstream.name()
            )));
        }
    }
    if let Some(h) = response.headers().get("docker-content-digest")
        && h.to_str().ok().and_then(|v| Digest::parse(v).ok()).as_ref() != Some(digest)
    {
        return Err(ApiError::bad_gateway(format!(
            "upstream {} answered HEAD {digest} with another digest",
            upstream.name()
        )));
    }
    Ok(response)
}

fn blob_headers(h: &mut HeaderMap, digest: &Digest, length: u64) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert("docker-content-digest", digest_header(digest));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{digest}\"")).expect("header-safe"),
    );
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

fn file_body(file: tokio::fs::File, length: u64, metrics: Arc<Metrics>) -> Body {
    let reader = tokio_util::io::ReaderStream::with_capacity(file.take(length), FILE_CHUNK_BYTES);
    Body::from_stream(Counted::new(reader, metrics))
}

/// Adds `X-Content-Type-Options: nosniff` to every response (a layer on
/// both routers): a browser shown a manifest, blob or error never guesses
/// it is HTML (issue 14, finding 3).
pub(super) async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A single byte range from a `Range` header (RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-[last]`.
    From(u64, Option<u64>),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a single range; anything else (several ranges, other
    /// units, malformed) is `None`, and RFC 9110 §14.2 lets the server
    /// ignore such a header and send the whole blob (200): several ranges
    /// get the whole blob, never `multipart/byteranges`. An inverted
    /// range (`bytes=500-0`) is kept, so that [`Self::resolve`] refuses it
    /// with a 416 instead of sending the whole blob.
    pub fn parse(value: &str) -> Option<Self> {
        let spec = value.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        match (first.trim(), last.trim()) {
            ("", n) => number(n).filter(|n| *n > 0).map(Self::Suffix),
            (a, "") => number(a).map(|a| Self::From(a, None)),
            (a, b) => Some(Self::From(number(a)?, Some(number(b)?))),
        }
    }

    /// The inclusive byte span within a blob of `size`, or `None` when
    /// the range cannot be satisfied (416): it starts at or beyond the end,
    /// or ends before it starts.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Self::From(first, _) if first >= size => None,
            Self::From(first, Some(last)) if last < first => None,
            Self::From(first, last) => Some((first, last.map_or(size - 1, |l| l.min(size - 1)))),
            Self::Suffix(_) if size == 0 => None,
            Self::Suffix(n) => Some((size - n.min(size), size - 1)),
        }
    }
}

/// A body stream that counts what it sends (for metrics and the pull
/// log, which is written when the response body is dropped).
pub(crate) struct Counted<S> {
    inner: Pin<Box<S>>,
    metrics: Arc<Metrics>,
}

impl<S> Counted<S> {
    fn new(inner: S, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Box::pin(inner),
            metrics,
        }
    }
}

impl<S: Stream<Item = std::io::Result<Bytes>>> Stream for Counted<S> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.metrics
                .bytes_sent(ContentKind::Blob, chunk.len() as u64);
        }
        polled
    }
}

/// Writes the pull-log line for a response: at once when the body size
/// is known (or it is a HEAD), otherwise when the streamed body has been
/// sent or abandoned, with the bytes actually sent.
pub(crate) fn log_when_sent(
    response: Response,
    mut record: PullRecord,
    log: PullLogWriter,
) -> Response {
    use axum::body::HttpBody as _;
    record.status = response.status().as_u16();
    if record.method == "HEAD" {
        log.record(record);
        return response;
    }
    if let Some(size) = response.body().size_hint().exact() {
        record.bytes = size;
        log.record(record);
        return response;
    }
    let (parts, body) = response.into_parts();
    let logged = LoggedBody {
        inner: body.into_data_stream(),
        record: Some(record),
        log,
    };
    Response::from_parts(parts, Body::from_stream(logged))
}

struct LoggedBody {
    inner: axum::body::BodyDataStream,
    record: Option<PullRecord>,
    log: PullLogWriter,
}

impl Stream for LoggedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            let n = chunk.len() as u64;
            if let Some(r) = self.record.as_mut() {
                r.bytes += n;
            }
        }
        polled
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            self.log.record(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange::From(0, Some(99)))
        );
        assert_eq!(
            ByteRange::parse("bytes=100-"),
            Some(ByteRange::From(100, None))
        );
        assert_eq!(ByteRange::parse("bytes=-5"), Some(ByteRange::Suffix(5)));
        assert_eq!(
            ByteRange::parse("bytes=500-0"),
            Some(ByteRange::From(500, Some(0)))
        );
        assert_eq!(ByteRange::From(500, Some(0)).resolve(1000), None);
        assert_eq!(ByteRange::From(5, Some(1)).resolve(3), None);
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=-0",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
        assert_eq!(ByteRange::From(0, Some(99)).resolve(50), Some((0, 49)));
        assert_eq!(ByteRange::From(10, None).resolve(50), Some((10, 49)));
        assert_eq!(ByteRange::From(50, None).resolve(50), None);
        assert_eq!(ByteRange::Suffix(5).resolve(50), Some((45, 49)));
        assert_eq!(ByteRange::Suffix(500).resolve(50), Some((0, 49)));
        assert_eq!(ByteRange::Suffix(5).resolve(0), None);
    }

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

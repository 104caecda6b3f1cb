//! The content service behind the handlers: manifests and blobs from the
//! cache, else from the upstream (one fetch per key however many ask),
//! verified and cached; and the entitlement graph read through them. It
//! returns typed values and [`ContentError`]s; what a client sees for each
//! is decided in `edge.rs`.

use std::sync::Arc;

use axum::http::HeaderValue;
use jiff::Timestamp;

use super::{Ctx, Proxy};
use crate::cache::fill::{Fetcher, Fill, FillError, FillReport};
use crate::cache::{BlobAccess, BlobHandle, StoredManifest};
use crate::entitlement::graph::{self, ManifestGraph, Reach};
use crate::entitlement::{Entitlements, Links, links};
use crate::health::{Component, State};
use crate::metrics::{CacheLookup, ContentKind};
use crate::names::{Digest, Reference, Repository, Tag, UpstreamName};
use crate::store::StoreError;
use crate::upstream::{self, UpstreamError};

/// Why content could not be served.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ContentError {
    /// The upstream did not give it (including its 404).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Fetching a blob into the cache failed.
    #[error(transparent)]
    Fill(#[from] FillError),
    /// The state store failed (shared: flights hand one error to many).
    #[error("state store: {0}")]
    Store(Arc<StoreError>),
    /// Reading a cached blob failed.
    #[error("cache read of {digest}: {reason}")]
    CacheRead {
        /// The blob.
        digest: Digest,
        /// What failed.
        reason: String,
    },
}

impl From<StoreError> for ContentError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// What a manifest fetch is coalesced on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ManifestKey {
    /// By tag, per Accept value.
    Tag(UpstreamName, Repository, Tag, String),
    /// By digest.
    Digest(UpstreamName, Repository, Digest),
}

/// A fetched or cached manifest and its digest.
pub(crate) type Manifest = (Digest, StoredManifest);

impl Proxy {
    /// A manifest by tag: the tag cache (short TTL), else the upstream;
    /// when the upstream cannot answer (anything but a 404 or 429), the
    /// digest the tag pointed to last, if that manifest is cached.
    pub(super) async fn manifest_by_tag(
        self: &Arc<Self>,
        ctx: &Ctx,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Manifest, ContentError> {
        let accept_text = String::from_utf8_lossy(accept.as_bytes()).into_owned();
        let key = (ctx.repository.clone(), tag.clone(), accept_text.clone());
        if let Some(digest) = self.tag_digests.get(&key)
            && let Some(m) = self.cached_manifest(&digest).await
        {
            self.metrics.cache(ContentKind::Manifest, CacheLookup::Hit);
            return Ok((digest, m));
        }
        self.metrics.cache(ContentKind::Manifest, CacheLookup::Miss);
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
                let record = this.stores.resolutions.record_tag(
                    &repository,
                    &wanted,
                    &digest,
                    Timestamp::now(),
                );
                this.record_if_possible(record, || {
                    format!("tag {repository}:{wanted} pointing at {digest}")
                })
                .await;
                Ok((digest, manifest))
            })
            .await;
        match fetched {
            Err(ContentError::Upstream(e))
                if !matches!(
                    e,
                    UpstreamError::NotFound { .. } | UpstreamError::RateLimited { .. }
                ) =>
            {
                self.stale_tag(ctx, tag)
                    .await
                    .ok_or(ContentError::Upstream(e))
            }
            other => other,
        }
    }

    /// Records a fact learnt from an upstream (a tag's digest, an
    /// attachment) if the state store takes it. The history only ever adds
    /// entitlement, so a record lost while the store cannot answer costs a
    /// later 404 of an old digest at worst, and the pull goes on. The
    /// database's fault is logged once (see [`crate::health`]); this says
    /// at debug only what was lost (`what`).
    pub(super) async fn record_if_possible(
        &self,
        record: impl std::future::Future<Output = Result<(), StoreError>>,
        what: impl FnOnce() -> String,
    ) {
        if let Err(e) = self.ask_database(record).await {
            tracing::debug!(record = what(), error = %e, "could not record in the state store");
        }
    }

    /// The digest a tag pointed to last, if that manifest is cached (a
    /// pull-through cache keeps serving what it has).
    async fn stale_tag(&self, ctx: &Ctx, tag: &Tag) -> Option<Manifest> {
        let known = self
            .ask_database(self.stores.resolutions.tag_digests(&ctx.repository, tag))
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
    pub(super) async fn manifest_by_digest(
        self: &Arc<Self>,
        ctx: &Ctx,
        digest: &Digest,
    ) -> Result<StoredManifest, ContentError> {
        if let Some(m) = self.cached_manifest(digest).await {
            self.metrics.cache(ContentKind::Manifest, CacheLookup::Hit);
            return Ok(m);
        }
        self.metrics.cache(ContentKind::Manifest, CacheLookup::Miss);
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
                let reference = Reference::Digest(digest);
                this.fetch_manifest(&upstream, &repository, &reference, accept)
                    .await
            })
            .await
            .map(|(_, m)| m)
    }

    async fn cached_manifest(&self, digest: &Digest) -> Option<StoredManifest> {
        match self.stores.content.manifest(digest).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%digest, error = %e, "cache read failed; fetching from upstream");
                self.store_failed("read", &e);
                None
            }
        }
    }

    /// Fetches a verified manifest and caches it.
    async fn fetch_manifest(
        &self,
        upstream: &upstream::Upstream,
        repository: &Repository,
        reference: &Reference,
        accept: HeaderValue,
    ) -> Result<Manifest, ContentError> {
        let fetched = upstream
            .manifest(repository, reference, accept, &self.metrics)
            .await;
        self.upstream_answered(repository, &fetched);
        let (digest, manifest) = fetched?;
        if let Err(e) = self.stores.content.put_manifest(&digest, &manifest).await {
            tracing::debug!(%digest, error = %e, "could not cache manifest; serving it anyway");
            self.store_failed("write", &e);
        }
        self.held.record(repository, &digest);
        Ok((digest, manifest))
    }

    /// A cached blob, if there is one (a failing cache is a miss).
    pub(super) async fn cached_blob(
        &self,
        digest: &Digest,
        access: BlobAccess,
    ) -> Option<BlobHandle> {
        match self.stores.content.blob(digest, access).await {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(%digest, error = %e, "cache read failed; fetching from upstream");
                self.store_failed("read", &e);
                None
            }
        }
    }

    /// Joins or starts the fill of a blob from this repository's upstream,
    /// and waits for the upstream's answer: the fill and the blob's length
    /// if announced. A fill another request started serves this one only
    /// once this repository is known to hold the blob: the fill was for it
    /// (and recorded that when the upstream answered), or its upstream
    /// says so.
    pub(super) async fn fill_blob(
        self: &Arc<Self>,
        ctx: &Ctx,
        digest: &Digest,
    ) -> Result<(Arc<Fill>, Option<u64>), ContentError> {
        let (fill, ours) = self.fills.join_or_start(
            digest,
            self.stores.content.clone(),
            self.blob_fetcher(ctx, digest),
            self.fill_report(ctx),
        );
        let started = fill.started().await;
        if !ours {
            self.confirm_held(ctx, ContentKind::Blob, digest).await?;
        }
        let total = started?;
        Ok((fill, total))
    }

    /// Who hears about the faults of a transfer for this request.
    pub(super) fn fill_report(&self, ctx: &Ctx) -> FillReport {
        FillReport {
            upstream: ctx.repository.upstream.to_string(),
            repository: ctx.repository.to_string(),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Reports a failed content-store operation: counted, and the store
    /// marked degraded (the proxy serves around it).
    pub(super) fn store_failed(&self, op: &'static str, e: &dyn std::fmt::Display) {
        self.metrics.store_error(self.stores.content.label(), op);
        self.health.failing(Component::Store, State::Degraded, e);
    }

    /// Reports how an upstream answered: unreachable marks it down,
    /// anything it said ends that (a `degraded` upstream, whose blob
    /// transfers break, stays so until one completes: see
    /// [`FillReport`]).
    pub(super) fn upstream_answered<T>(
        &self,
        repository: &Repository,
        result: &Result<T, UpstreamError>,
    ) {
        let component = Component::Upstream(repository.upstream.to_string());
        match result {
            Err(e @ UpstreamError::Unreachable { .. }) => {
                self.health.failing(component, State::Down, e);
            }
            _ => self.health.ok_if(&component, State::Down),
        }
    }

    /// Starts transfers of `digest` from this repository's upstream (see
    /// [`Fetcher`]); each records that the repository holds the blob once
    /// the upstream answered.
    pub(super) fn blob_fetcher(self: &Arc<Self>, ctx: &Ctx, digest: &Digest) -> Fetcher {
        let (this, upstream, repository, blob) = (
            self.clone(),
            ctx.upstream.clone(),
            ctx.repository.clone(),
            digest.clone(),
        );
        Arc::new(move || {
            let (this, upstream, repository, blob) = (
                this.clone(),
                upstream.clone(),
                repository.clone(),
                blob.clone(),
            );
            Box::pin(async move {
                let response = upstream.blob(&repository, &blob, &this.metrics).await;
                this.upstream_answered(&repository, &response);
                let response = response?;
                // Recorded before the fill reports its start, so the
                // requests of this repository that joined it see it.
                this.held.record(&repository, &blob);
                Ok(response)
            })
        })
    }

    /// Cached bytes are given out for a repository only once it is known
    /// to hold the digest (see [`crate::cache::held`]): fetched from it, or
    /// confirmed by a `HEAD` to its upstream now. A 404 there is this
    /// repository's 404; any other failure is what an uncached pull would
    /// answer, and the cached bytes stay unserved.
    pub(super) async fn confirm_held(
        &self,
        ctx: &Ctx,
        kind: ContentKind,
        digest: &Digest,
    ) -> Result<(), ContentError> {
        let (upstream, repository, wanted, metrics) = (
            ctx.upstream.clone(),
            ctx.repository.clone(),
            digest.clone(),
            self.metrics.clone(),
        );
        self.held
            .confirm(&ctx.repository, digest, move || async move {
                upstream
                    .head(&repository, kind, &wanted, &metrics)
                    .await
                    .map(drop)
            })
            .await?;
        Ok(())
    }

    /// Whether `target` is reachable from the license's roots in this
    /// repository ([`graph::reach`]); a yes is remembered for the tag TTL.
    pub(super) async fn digest_entitled(
        self: &Arc<Self>,
        ctx: &Ctx,
        target: &Digest,
    ) -> Result<bool, ContentError> {
        let key = (ctx.license.number, ctx.repository.clone(), target.clone());
        if self.decisions.fresh(&key).is_some() {
            return Ok(true);
        }
        let entitlements = Entitlements::new(&ctx.license, &ctx.app.releases);
        let (roots, tags) = entitlements.roots(&ctx.repository);
        let repository = RepositoryGraph { proxy: self, ctx };
        let reach = match graph::reach(&repository, roots, &tags, target).await {
            // Fail static: a yes given within the stale window stands
            // while the state store cannot answer.
            Err(ContentError::Store(e)) => match self.decisions.stale(&key) {
                Some(()) if matches!(*e, StoreError::Backend { .. }) => return Ok(true),
                _ => return Err(ContentError::Store(e)),
            },
            other => other?,
        };
        match reach {
            Reach::Reachable => {
                self.decisions.insert(key, ());
                Ok(true)
            }
            Reach::Unreachable => Ok(false),
            Reach::TooLarge => {
                tracing::warn!(repository = %ctx.repository, %target, "entitlement search stopped at {} manifests", crate::entitlement::MAX_MANIFESTS_PER_CHECK);
                Ok(false)
            }
        }
    }
}

/// One repository's manifests, tags and attachments as the entitlement
/// search reads them: the caches, the state store and the upstream.
struct RepositoryGraph<'a> {
    proxy: &'a Arc<Proxy>,
    ctx: &'a Ctx,
}

impl ManifestGraph for RepositoryGraph<'_> {
    type Error = ContentError;

    async fn recorded_tag_digests(&self, tag: &Tag) -> Result<Vec<Digest>, ContentError> {
        let resolutions = &self.proxy.stores.resolutions;
        let ask = resolutions.tag_digests(&self.ctx.repository, tag);
        Ok(self.proxy.ask_database(ask).await?)
    }

    /// Resolved within the tag TTL: that answer (it may not be in the
    /// store yet); otherwise the upstream's.
    async fn current_tag_digest(&self, tag: &Tag) -> Result<Option<Digest>, ContentError> {
        let key = (self.ctx.repository.clone(), tag.clone());
        if let Some(known) = self.proxy.tag_resolved.get(&key) {
            return Ok(known);
        }
        let accept = HeaderValue::from_static(upstream::DEFAULT_MANIFEST_ACCEPT);
        match self.proxy.manifest_by_tag(self.ctx, tag, &accept).await {
            Ok((digest, _)) => Ok(Some(digest)),
            Err(ContentError::Upstream(UpstreamError::NotFound { .. })) => {
                self.proxy.tag_resolved.insert(key, None);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn links(&self, digest: &Digest) -> Result<Arc<Links>, ContentError> {
        if let Some(links) = self.proxy.links.get(digest) {
            return Ok(links);
        }
        let links = match self.proxy.manifest_by_digest(self.ctx, digest).await {
            Ok(m) => links(&m.bytes).unwrap_or_else(|e| {
                tracing::warn!(%digest, error = %e, "manifest links unreadable; treating as a leaf");
                Links::default()
            }),
            // A root the upstream no longer has links to nothing.
            Err(ContentError::Upstream(UpstreamError::NotFound { .. })) => {
                return Ok(Arc::new(Links::default()));
            }
            Err(e) => return Err(e),
        };
        let links = Arc::new(links);
        self.proxy.links.insert(digest.clone(), links.clone());
        Ok(links)
    }

    async fn attachments(&self, manifest: &Digest) -> Result<Vec<Digest>, ContentError> {
        let resolutions = &self.proxy.stores.resolutions;
        let ask = resolutions.attachments(&self.ctx.repository, manifest);
        Ok(self.proxy.ask_database(ask).await?)
    }
}

impl Ctx {
    fn upstream_name(&self) -> UpstreamName {
        self.repository.upstream.clone()
    }
}

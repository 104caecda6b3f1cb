//! A cached blob's bytes, finished from the upstream when the store fails
//! part way (issue 21: the cache is a cache).
//!
//! A read of the store (a file on the cache disk, an object in the bucket)
//! that fails, or ends early, after some bytes were sent does not cut the
//! client's response: [`CachedRead`] fetches the blob from the upstream
//! again and sends the rest of the span the client asked for, hashing the
//! whole blob as a fill does and holding back the final byte until it
//! verified ([`Passthrough::part`]). A ranged `GET` from the failed offset
//! would save the upstream the bytes already sent, but the digest covers
//! the whole blob: checking it would mean hashing every cached read as it
//! is served, on the hot path, for the sake of the rare failure; the whole
//! blob is fetched instead.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::fill::{Fetcher, FillError, FillReport, Passthrough};
use super::{BlobStore, ByteStream};
use crate::health::{Component, State};
use crate::names::Digest;

/// Where a cached read goes on from when the store fails.
pub struct Fallback {
    /// Starts a transfer of the blob from its upstream.
    pub fetch: Fetcher,
    /// Who hears about the faults.
    pub report: FillReport,
    /// The store read (told to forget the blob, named in metrics).
    pub store: Arc<dyn BlobStore>,
}

/// Bytes `span` of a cached blob: the store's `bytes`, then the
/// upstream's if the store fails before the end of the span. The
/// [`Fallback`] is made by `F` (given the digest) only then: nearly every
/// read completes, and building it per request (a fetcher, the names in a
/// [`FillReport`]) was a measurable share of a small cached blob's cost.
pub struct CachedRead<F> {
    cache: ByteStream,
    digest: Digest,
    span: std::ops::Range<u64>,
    sent: u64,
    fallback: Option<F>,
    upstream: Option<Passthrough>,
}

impl<F: FnOnce(&Digest) -> Fallback + Send + 'static> CachedRead<F> {
    /// The bytes of `span` of `digest`, read from `bytes` (the store's
    /// stream of exactly that span); `fallback` makes where to go on from
    /// if the store fails.
    pub fn new(bytes: ByteStream, digest: Digest, span: std::ops::Range<u64>, fallback: F) -> Self {
        Self {
            cache: bytes,
            digest,
            span,
            sent: 0,
            fallback: Some(fallback),
            upstream: None,
        }
    }

    /// As a stream of body chunks.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        futures_util::stream::unfold(self, |mut r| async move {
            r.next_chunk().await.map(|item| (item, r))
        })
    }

    fn length(&self) -> u64 {
        self.span.end - self.span.start
    }

    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        if let Some(upstream) = &mut self.upstream {
            return upstream.next_chunk().await;
        }
        match self.cache.next().await {
            Some(Ok(chunk)) => {
                self.sent += chunk.len() as u64;
                Some(Ok(chunk))
            }
            // Everything was sent already: nothing to finish.
            _ if self.sent >= self.length() => None,
            Some(Err(e)) => self.carry_on_from_upstream(&e).await,
            None => {
                let cause = format!("ended after {} of {} bytes", self.sent, self.length());
                self.carry_on_from_upstream(&cause).await
            }
        }
    }

    /// The store failed after `sent` bytes: report it, make the store
    /// forget the blob, and send the rest from the upstream.
    async fn carry_on_from_upstream(
        &mut self,
        cause: &(dyn std::fmt::Display + Sync),
    ) -> Option<io::Result<Bytes>> {
        // Taken once: from then on the upstream's transfer serves the rest.
        let Some(make) = self.fallback.take() else {
            return Some(Err(io::Error::other(
                "the cached read and its upstream fallback both failed",
            )));
        };
        let Fallback {
            fetch,
            report,
            store,
        } = make(&self.digest);
        tracing::debug!(digest = %self.digest, sent = self.sent, error = %cause, "cached read failed mid-blob; sending the rest from the upstream");
        report.metrics.store_error(store.label(), "read");
        report
            .health
            .failing(Component::Store, State::Degraded, cause);
        store.forget_blob(&self.digest);
        let response = match fetch().await {
            Ok(r) => r,
            Err(e) => return Some(Err(io::Error::other(FillError::Upstream(e)))),
        };
        let from = self.span.start + self.sent;
        let upstream = self.upstream.insert(Passthrough::part(
            response,
            self.digest.clone(),
            from..self.span.end,
            report,
        ));
        upstream.next_chunk().await
    }
}

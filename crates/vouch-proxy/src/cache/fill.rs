//! Fetching a blob into the cache once, however many clients ask.
//!
//! The first request for a digest starts a [`Fill`]: a task that streams
//! the upstream body into a staging file while hashing it, and hands the
//! file to the store only when the digest matches. Later requests for the
//! same digest join it, so one upstream transfer feeds all of them, and a
//! client that disconnects does not stop it. Each client follows the fill
//! as it grows ("tail-following"): the latest chunks, once written to the
//! staging file, are also kept in memory ([`RECENT_BYTES`] of them), and a
//! client that keeps up takes them from there; one that lags behind them,
//! or joins late, reads the staging file until it catches up.
//!
//! No client ever receives a complete body that was not verified: readers
//! hold back the final byte until the fill reports the digest matched,
//! and if it did not, their stream ends in an error (the connection is
//! cut short of `Content-Length`). Small blobs are not streamed at all
//! before verification (see the blob handler), so they fail with a clean
//! 502.
//!
//! The cache is only a cache (issue 21): when the store side fails (the
//! staging file cannot be written, even after the store made room, or
//! the store does not take the verified file), readers are not cut. Each
//! one carries on with a [`Passthrough`]: its own transfer from the
//! upstream, hashed from the first byte, whose bytes the reader already
//! sent are compared with what it sent, and whose final byte is again
//! held back until the whole blob verified. Nothing is cached then.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::watch;

use super::disk::unique;
use super::{BlobStore, CacheError, on_blocking_pool, write_making_room};
use crate::health::{Component, Health, State};
use crate::metrics::Metrics;
use crate::names::{Digest, DigestVerifier};
use crate::upstream::UpstreamError;

/// Starts one upstream transfer of a blob: resolves to the upstream's 200
/// response, or why not. Called once by a fill, and again by each reader
/// that carries on without the cache ([`Passthrough`]).
pub type Fetcher = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<reqwest::Response, UpstreamError>> + Send>>
        + Send
        + Sync,
>;

/// Bytes gathered before each write to the staging file (and each wake-up
/// of readers): large enough that a 1 GiB layer costs ~4000 round trips to
/// the blocking pool, small enough that readers trail the upstream by a
/// fraction of a second (1 MiB measured no better, docs/benchmarks.md).
pub const STAGING_WRITE_BYTES: usize = 256 * 1024;
/// Largest chunk a reader sends at once.
pub const READ_CHUNK_BYTES: u64 = 256 * 1024;
/// Bytes of a fill's latest chunks kept in memory for its readers (see
/// [`Recent`]): 16 staging writes, about a hundredth of a second of a fast
/// upstream, so a reader slowed by its own client for longer reads the
/// staging file instead. Memory per fill, whatever the number of readers.
pub const RECENT_BYTES: usize = 16 * STAGING_WRITE_BYTES;

/// Why a fill failed. Cloned to every request that joined it, so the
/// causes that are not `Clone` are shared.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FillError {
    /// The upstream did not send the blob.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream announced more than the cache takes.
    #[error(
        "blob {digest} is {size} bytes, larger than the cache accepts ({max} bytes); raise {setting}"
    )]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its announced size.
        size: u64,
        /// The cache's limit.
        max: u64,
        /// The setting that raises it.
        setting: &'static str,
    },
    /// The upstream sent more than it announced (or than the cache takes).
    #[error("upstream sent more than {limit} bytes for blob {digest}")]
    Overlong {
        /// The blob.
        digest: Digest,
        /// What it announced, or the cache's limit.
        limit: u64,
    },
    /// The body ended before its announced length.
    #[error("upstream ended blob {digest} after {written} of {size} bytes")]
    Short {
        /// The blob.
        digest: Digest,
        /// Bytes received.
        written: u64,
        /// Bytes announced.
        size: u64,
    },
    /// Reading the body failed.
    #[error("reading blob {digest} from upstream: {reason}")]
    Read {
        /// The blob.
        digest: Digest,
        /// What failed.
        reason: String,
    },
    /// The bytes do not hash to the digest.
    #[error(
        "upstream sent {received} bytes for {digest} that hash to {found}: refused, not cached"
    )]
    DigestMismatch {
        /// The blob asked for.
        digest: Digest,
        /// What the bytes hash to.
        found: Digest,
        /// How many bytes were received.
        received: u64,
    },
    /// Writing the staging file failed.
    #[error("cache staging file {}: {source}", path.display())]
    Staging {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: Arc<io::Error>,
    },
    /// The store did not take the verified file.
    #[error(transparent)]
    Store(Arc<CacheError>),
    /// The fill's task ended without reporting (it panicked).
    #[error("blob fetch task ended without a result")]
    Lost,
    /// A reader carrying on without the cache got other bytes from the
    /// upstream than the ones it had already sent.
    #[error(
        "upstream sent blob {digest} differently the second time (first difference before byte {offset}): refused"
    )]
    Inconsistent {
        /// The blob.
        digest: Digest,
        /// The end of the chunk that differed.
        offset: u64,
    },
}

impl FillError {
    /// Whether the failure is the cache's own (writing the staging file,
    /// or the store taking the verified file) rather than the upstream's:
    /// then the blob can still be served, uncached.
    pub fn is_store_side(&self) -> bool {
        matches!(self, Self::Staging { .. } | Self::Store(_))
    }
}

/// Where a blob's bytes come from, and who hears about its faults: a
/// digest mismatch is logged every time (a security event) and counted
/// per upstream; a failing store marks the store degraded.
#[derive(Clone)]
pub struct FillReport {
    /// The upstream's name.
    pub upstream: String,
    /// The repository asked.
    pub repository: String,
    /// Component states.
    pub health: Arc<Health>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl FillReport {
    /// Logs and counts a refused transfer (a digest mismatch; other
    /// failures are the request's).
    fn refused(&self, e: &FillError) {
        if let FillError::DigestMismatch {
            digest,
            found,
            received,
        } = e
        {
            tracing::error!(upstream = self.upstream, repository = self.repository, %digest, %found, received, "upstream sent a blob that does not match its digest: refused, not cached");
            self.metrics.digest_mismatch(&self.upstream);
        }
    }

    /// Reports how a fill ended: a transfer the upstream broke (cut,
    /// short, overlong or lying) marks the upstream degraded, one that
    /// completed marks it and the store up.
    fn ended(&self, store: &dyn BlobStore, result: &Result<u64, FillError>) {
        let upstream = Component::Upstream(self.upstream.clone());
        match result {
            Ok(_) => {
                self.health.ok(&Component::Store);
                self.health.ok_if(&upstream, State::Degraded);
            }
            Err(e) if e.is_store_side() => {
                let op = match e {
                    FillError::Staging { .. } => "write",
                    _ => "import",
                };
                self.metrics.store_error(store.label(), op);
                self.health.failing(Component::Store, State::Degraded, e);
            }
            Err(
                e @ (FillError::Read { .. }
                | FillError::Short { .. }
                | FillError::Overlong { .. }
                | FillError::DigestMismatch { .. }),
            ) => {
                self.refused(e);
                self.health.failing(upstream, State::Degraded, e);
            }
            Err(e) => self.refused(e),
        }
    }
}

/// Where a fill is.
#[derive(Debug, Clone)]
pub enum FillState {
    /// Waiting for the upstream's response headers.
    Starting,
    /// Receiving the body.
    Receiving {
        /// `Content-Length`, when the upstream sent one.
        total: Option<u64>,
        /// Bytes written to the staging file so far.
        written: u64,
    },
    /// The whole blob arrived and matched its digest (its size): readers
    /// may send the final byte. Storing it (`fsync`, then the store's
    /// import) is still to come, and is no reader's concern: a 64 MiB
    /// `fsync` alone can take longer than the transfer.
    Verified(u64),
    /// Finished: the blob's size once verified and stored, or why not.
    Done(Result<u64, FillError>),
}

/// One blob being fetched.
pub struct Fill {
    digest: Digest,
    staged: PathBuf,
    state: watch::Receiver<FillState>,
    recent: Arc<Recent>,
    fetch: Fetcher,
    report: FillReport,
}

/// A fill's latest chunks, each added once it is in the staging file (so
/// that whatever a reader sent from memory, the file holds too: a reader
/// that carries on without the cache compares the file's bytes with a
/// new transfer, see [`Passthrough`]), the oldest dropped beyond
/// [`RECENT_BYTES`]. Readers that keep up send these `Bytes` as they are:
/// no read of the staging file back, no copy, no thread hop per chunk.
#[derive(Debug, Default)]
struct Recent {
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// `(offset in the blob, bytes)`, in order and contiguous.
    chunks: VecDeque<(u64, Bytes)>,
    /// Their total length.
    bytes: usize,
}

impl Recent {
    /// Adds the chunk at `offset`, which the staging file now holds.
    fn push(&self, offset: u64, chunk: Bytes) {
        let mut window = crate::memo::lock(&self.window);
        window.bytes += chunk.len();
        window.chunks.push_back((offset, chunk));
        while window.bytes > RECENT_BYTES && window.chunks.len() > 1 {
            if let Some((_, dropped)) = window.chunks.pop_front() {
                window.bytes -= dropped.len();
            }
        }
    }

    /// The bytes from `offset` to the end of the chunk holding it, but not
    /// past `until` nor more than `max`; `None` when no kept chunk holds
    /// `offset` (not yet written, or dropped already).
    fn slice(&self, offset: u64, until: u64, max: u64) -> Option<Bytes> {
        let window = crate::memo::lock(&self.window);
        let (start, chunk) = window
            .chunks
            .iter()
            .rev()
            .find(|(start, chunk)| *start <= offset && offset < start + chunk.len() as u64)?;
        let end = (start + chunk.len() as u64)
            .min(until)
            .min(offset.saturating_add(max));
        (end > offset).then(|| chunk.slice((offset - start) as usize..(end - start) as usize))
    }
}

impl std::fmt::Debug for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fill")
            .field("digest", &self.digest)
            .field("staged", &self.staged)
            .finish_non_exhaustive()
    }
}

/// The fills in progress, by digest.
#[derive(Debug, Default)]
pub struct Fills {
    inflight: Arc<Mutex<HashMap<Digest, Arc<Fill>>>>,
}

impl Fills {
    /// Joins the fill for `digest`, or starts one with `fetch` (see
    /// [`Fetcher`]) that tells `report` how it went. Returns the fill and
    /// whether this call started it.
    pub fn join_or_start(
        &self,
        digest: &Digest,
        store: Arc<dyn BlobStore>,
        fetch: Fetcher,
        report: FillReport,
    ) -> (Arc<Fill>, bool) {
        let mut inflight = crate::memo::lock(&self.inflight);
        if let Some(fill) = inflight.get(digest) {
            return (fill.clone(), false);
        }
        let (tx, rx) = watch::channel(FillState::Starting);
        let fill = Arc::new(Fill {
            digest: digest.clone(),
            staged: store
                .staging_dir()
                .join(format!("b-{}-{}", digest.hex(), unique())),
            state: rx,
            recent: Arc::default(),
            fetch,
            report,
        });
        inflight.insert(digest.clone(), fill.clone());
        let task_fill = fill.clone();
        let registry = self.inflight.clone();
        tokio::spawn(async move {
            let result = run(&task_fill, &store, &tx).await;
            task_fill.report.ended(&*store, &result);
            if result.is_err() {
                let _ = tokio::fs::remove_file(&task_fill.staged).await;
            }
            {
                let mut inflight = crate::memo::lock(&registry);
                if inflight
                    .get(&task_fill.digest)
                    .is_some_and(|f| Arc::ptr_eq(f, &task_fill))
                {
                    inflight.remove(&task_fill.digest);
                }
            }
            let _ = tx.send(FillState::Done(result));
        });
        (fill, true)
    }

    /// How many fills are running.
    pub fn in_flight(&self) -> usize {
        crate::memo::lock(&self.inflight).len()
    }
}

async fn run(
    fill: &Fill,
    store: &Arc<dyn BlobStore>,
    tx: &watch::Sender<FillState>,
) -> Result<u64, FillError> {
    let mut response = (fill.fetch)().await?;
    let max = store.max_blob_size();
    let total = response.content_length();
    if let Some(total) = total.filter(|t| *t > max) {
        return Err(FillError::TooLarge {
            digest: fill.digest.clone(),
            size: total,
            max,
            setting: store.max_blob_size_setting(),
        });
    }
    let staging_error = |e: io::Error| FillError::Staging {
        path: fill.staged.clone(),
        source: Arc::new(e),
    };
    let file = tokio::fs::File::create_new(&fill.staged)
        .await
        .map_err(staging_error)?;
    let file = Arc::new(file.into_std().await);
    let _ = tx.send(FillState::Receiving { total, written: 0 });
    let mut verifier = fill.digest.verifier();
    let mut written = 0u64;
    // The upstream's chunks as they came (no copy into a buffer of ours),
    // written together once they add up to STAGING_WRITE_BYTES.
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0u64;
    loop {
        let chunk = response.chunk().await.map_err(|e| FillError::Read {
            digest: fill.digest.clone(),
            reason: e.to_string(),
        })?;
        let end = chunk.is_none();
        if let Some(chunk) = chunk {
            let received = written + pending_len + chunk.len() as u64;
            if total.is_some_and(|t| received > t) || received > max {
                return Err(FillError::Overlong {
                    digest: fill.digest.clone(),
                    limit: total.unwrap_or(max),
                });
            }
            verifier.update(&chunk);
            pending_len += chunk.len() as u64;
            pending.push(chunk);
        }
        if pending_len >= STAGING_WRITE_BYTES as u64 || (end && pending_len > 0) {
            let remaining = total.map_or(pending_len, |t| t - written);
            let chunks = std::mem::take(&mut pending);
            write_making_room(&file, written, &chunks, &**store, remaining)
                .await
                .map_err(staging_error)?;
            for chunk in chunks {
                let offset = written;
                written += chunk.len() as u64;
                fill.recent.push(offset, chunk);
            }
            pending_len = 0;
            tx.send_modify(|s| {
                if let FillState::Receiving { written: w, .. } = s {
                    *w = written;
                }
            });
        }
        if end {
            break;
        }
    }
    if let Some(total) = total.filter(|t| *t != written) {
        return Err(FillError::Short {
            digest: fill.digest.clone(),
            written,
            size: total,
        });
    }
    verifier
        .finish()
        .map_err(|found| FillError::DigestMismatch {
            digest: fill.digest.clone(),
            found,
            received: written,
        })?;
    let _ = tx.send(FillState::Verified(written));
    on_blocking_pool(&file, |f| f.sync_data())
        .await
        .map_err(staging_error)?;
    drop(file);
    store
        .import_blob(&fill.digest, &fill.staged, written)
        .await
        .map_err(|e| FillError::Store(Arc::new(e)))?;
    Ok(written)
}

impl Fill {
    /// Waits for the upstream's answer: the blob's length (if the upstream
    /// sent one), or the error to return.
    pub async fn started(&self) -> Result<Option<u64>, FillError> {
        let mut rx = self.state.clone();
        let state = rx
            .wait_for(|s| !matches!(s, FillState::Starting))
            .await
            .map_err(|_| FillError::Lost)?
            .clone();
        match state {
            FillState::Receiving { total, .. } => Ok(total),
            FillState::Verified(size) => Ok(Some(size)),
            FillState::Done(result) => result.map(Some),
            // wait_for returned only once the state left Starting.
            FillState::Starting => Err(FillError::Lost),
        }
    }

    /// Waits for the end: the verified size, or why it failed.
    pub async fn finished(&self) -> Result<u64, FillError> {
        let mut rx = self.state.clone();
        let state = rx
            .wait_for(|s| matches!(s, FillState::Done(_)))
            .await
            .map_err(|_| FillError::Lost)?
            .clone();
        match state {
            FillState::Done(result) => result,
            // wait_for returned only once the state was Done.
            _ => Err(FillError::Lost),
        }
    }

    /// A stream of the blob as it arrives, for a fill whose length is
    /// known. `None` when the staging file is already gone (the fill
    /// finished meanwhile): read the store instead.
    pub async fn follow(
        &self,
        total: u64,
    ) -> Option<impl Stream<Item = io::Result<Bytes>> + Send + 'static> {
        let file = tokio::fs::File::open(&self.staged).await.ok()?;
        let follower = Follower {
            state: self.state.clone(),
            recent: self.recent.clone(),
            file,
            file_position: 0,
            offset: 0,
            total,
            verified: None,
            digest: self.digest.clone(),
            fetch: self.fetch.clone(),
            report: self.report.clone(),
            passthrough: None,
        };
        Some(futures_util::stream::unfold(follower, |mut f| async move {
            f.next_chunk().await.map(|item| (item, f))
        }))
    }

    /// The fetcher this fill was started with, for serving the blob
    /// without the cache.
    pub fn fetcher(&self) -> Fetcher {
        self.fetch.clone()
    }
}

struct Follower {
    state: watch::Receiver<FillState>,
    recent: Arc<Recent>,
    /// The staging file, for what is no longer (or not) in `recent`.
    file: tokio::fs::File,
    /// Where the next read of `file` starts.
    file_position: u64,
    /// The next byte to send.
    offset: u64,
    total: u64,
    /// The verified size, once the fill said so.
    verified: Option<u64>,
    digest: Digest,
    fetch: Fetcher,
    report: FillReport,
    passthrough: Option<Passthrough>,
}

impl Follower {
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        if let Some(passthrough) = &mut self.passthrough {
            return passthrough.next_chunk().await;
        }
        loop {
            // Once verified, what becomes of the cache no longer matters:
            // this reader's open file holds the verified bytes.
            let state = match self.verified {
                Some(size) => FillState::Verified(size),
                None => self.state.borrow_and_update().clone(),
            };
            let (readable, verified) = match state {
                FillState::Starting => (0, false),
                // Hold back the last byte until the digest is checked.
                FillState::Receiving { written, .. } => {
                    (written.min(self.total.saturating_sub(1)), false)
                }
                FillState::Verified(size) | FillState::Done(Ok(size)) => {
                    self.verified = Some(size);
                    (size, true)
                }
                // Not a problem of the bytes: they can still be served.
                FillState::Done(Err(e)) if e.is_store_side() => {
                    return self.carry_on_uncached(e).await;
                }
                FillState::Done(Err(e)) => return Some(Err(io::Error::other(e))),
            };
            if self.offset < readable {
                let chunk = match self.recent.slice(self.offset, readable, READ_CHUNK_BYTES) {
                    Some(chunk) => chunk,
                    None => match self.read_file(readable).await {
                        Ok(chunk) => chunk,
                        Err(e) => return Some(Err(e)),
                    },
                };
                self.offset += chunk.len() as u64;
                return Some(Ok(chunk));
            }
            if verified {
                return None;
            }
            if self.state.changed().await.is_err() {
                return Some(Err(io::Error::other(
                    "blob fetch task ended without a result",
                )));
            }
        }
    }

    /// The next chunk from the staging file, up to `readable`: for a
    /// reader behind the chunks kept in memory (or that joined late).
    async fn read_file(&mut self, readable: u64) -> io::Result<Bytes> {
        if self.file_position != self.offset {
            self.file.seek(io::SeekFrom::Start(self.offset)).await?;
            self.file_position = self.offset;
        }
        let n = (readable - self.offset).min(READ_CHUNK_BYTES) as usize;
        let mut buf = vec![0u8; n];
        self.file.read_exact(&mut buf).await?;
        self.file_position += n as u64;
        Ok(Bytes::from(buf))
    }

    /// The fill failed on the cache's side after this reader sent
    /// `offset` bytes: carry on with a transfer of its own.
    async fn carry_on_uncached(&mut self, cause: FillError) -> Option<io::Result<Bytes>> {
        tracing::debug!(digest = %self.digest, sent = self.offset, error = %cause, "cache failed mid-blob; serving the rest from the upstream, uncached");
        let response = match (self.fetch)().await {
            Ok(r) => r,
            Err(e) => return Some(Err(io::Error::other(FillError::Upstream(e)))),
        };
        // A second handle on the same open file (the fill may have
        // unlinked it), positioned at its start.
        let file = match self.file.try_clone().await {
            Ok(mut file) => match file.seek(io::SeekFrom::Start(0)).await {
                Ok(_) => file,
                Err(e) => return Some(Err(e)),
            },
            Err(e) => return Some(Err(e)),
        };
        let sent = Prefix {
            file,
            len: self.offset,
        };
        let passthrough = self.passthrough.insert(Passthrough::new(
            response,
            self.digest.clone(),
            Span::AfterCompared(sent),
            self.report.clone(),
        ));
        passthrough.next_chunk().await
    }
}

/// Bytes a reader already sent, to compare with a second transfer.
struct Prefix {
    /// Positioned at the start.
    file: tokio::fs::File,
    len: u64,
}

/// What of the blob a [`Passthrough`] sends: everything; everything past
/// a prefix the client already received (compared with the new bytes
/// when they are at hand); or one span of it, for a transfer that takes
/// over a cached read mid-way.
enum Span {
    /// The whole blob.
    Whole,
    /// Past `Prefix::len`, the prefix compared.
    AfterCompared(Prefix),
    /// `from..until` of the blob (the part before `from` was sent from the
    /// cache, which verified it when it was stored).
    Part {
        /// First byte to send.
        from: u64,
        /// Byte after the last to send.
        until: u64,
    },
}

/// One client's transfer of a blob straight from the upstream, without
/// the cache: hashed from the first byte to the last whatever part of it
/// the client gets, the final byte sent held back until the whole blob
/// verified, and the bytes the client already received (a [`Prefix`])
/// compared rather than sent again.
pub struct Passthrough {
    response: reqwest::Response,
    digest: Digest,
    verifier: Option<DigestVerifier>,
    total: Option<u64>,
    received: u64,
    span: Span,
    held: Option<u8>,
    report: FillReport,
}

impl Passthrough {
    /// A transfer of `response` (the upstream's 200 for `digest`) that
    /// sends `span` of it.
    fn new(response: reqwest::Response, digest: Digest, span: Span, report: FillReport) -> Self {
        Self {
            report,
            total: response.content_length(),
            verifier: Some(digest.verifier()),
            response,
            digest,
            received: 0,
            span,
            held: None,
        }
    }

    /// A whole blob from `response`, for a request the cache cannot serve.
    pub fn start(
        response: reqwest::Response,
        digest: Digest,
        report: FillReport,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        Self::new(response, digest, Span::Whole, report).into_stream()
    }

    /// Bytes `from..until` of the blob from `response` (the upstream's 200
    /// for all of it), for a cached read that failed after sending the
    /// bytes before `from`: the whole blob is hashed, and the last byte of
    /// the span held back until it verified.
    pub(crate) fn part(
        response: reqwest::Response,
        digest: Digest,
        span: std::ops::Range<u64>,
        report: FillReport,
    ) -> Self {
        let span = Span::Part {
            from: span.start,
            until: span.end,
        };
        Self::new(response, digest, span, report)
    }

    fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        futures_util::stream::unfold(self, |mut p| async move {
            p.next_chunk().await.map(|item| (item, p))
        })
    }

    /// The announced length, if any.
    pub fn announced(&self) -> Option<u64> {
        self.total
    }

    /// The first byte to send, and the byte after the last.
    fn bounds(&self) -> (u64, u64) {
        match &self.span {
            Span::Whole => (0, u64::MAX),
            Span::AfterCompared(prefix) => (prefix.len, u64::MAX),
            Span::Part { from, until } => (*from, *until),
        }
    }

    pub(crate) async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        let failed = |e: FillError| Some(Err(io::Error::other(e)));
        loop {
            let verifier = self.verifier.as_mut()?;
            let chunk = match self.response.chunk().await {
                Ok(chunk) => chunk,
                Err(e) => {
                    return failed(FillError::Read {
                        digest: self.digest.clone(),
                        reason: e.to_string(),
                    });
                }
            };
            let Some(chunk) = chunk else {
                return self.finish();
            };
            let start = self.received;
            self.received += chunk.len() as u64;
            if self.total.is_some_and(|t| self.received > t) {
                return failed(FillError::Overlong {
                    digest: self.digest.clone(),
                    limit: self.total.unwrap_or_default(),
                });
            }
            verifier.update(&chunk);
            if let Err(e) = self.compare_sent(start, &chunk).await {
                return Some(Err(e));
            }
            let (from, until) = self.bounds();
            let end = self.received;
            let fresh = chunk.slice(
                (from.clamp(start, end) - start) as usize
                    ..(until.clamp(start, end) - start) as usize,
            );
            if fresh.is_empty() {
                continue;
            }
            // Hold back the last byte to send until the next chunk, or the
            // end once verified.
            let mut out = BytesMut::with_capacity(fresh.len());
            out.extend(self.held.take());
            out.extend_from_slice(&fresh[..fresh.len() - 1]);
            self.held = Some(fresh[fresh.len() - 1]);
            if !out.is_empty() {
                return Some(Ok(out.freeze()));
            }
        }
    }

    /// Checks that the part of `chunk` (at `start`) within the compared
    /// prefix equals what was sent.
    async fn compare_sent(&mut self, start: u64, chunk: &Bytes) -> io::Result<()> {
        let Span::AfterCompared(sent) = &mut self.span else {
            return Ok(());
        };
        let overlap = sent.len.saturating_sub(start).min(chunk.len() as u64) as usize;
        if overlap > 0 {
            let mut before = vec![0u8; overlap];
            sent.file.read_exact(&mut before).await?;
            if before[..] != chunk[..overlap] {
                return Err(io::Error::other(FillError::Inconsistent {
                    digest: self.digest.clone(),
                    offset: start + overlap as u64,
                }));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Option<io::Result<Bytes>> {
        let verifier = self.verifier.take()?;
        if let Some(total) = self.total.filter(|t| *t != self.received) {
            return Some(Err(io::Error::other(FillError::Short {
                digest: self.digest.clone(),
                written: self.received,
                size: total,
            })));
        }
        // The blob ends before what the client was sent, or promised.
        let (from, until) = self.bounds();
        let promised = if until == u64::MAX { from } else { until };
        if promised > self.received {
            return Some(Err(io::Error::other(FillError::Inconsistent {
                digest: self.digest.clone(),
                offset: self.received,
            })));
        }
        if let Err(found) = verifier.finish() {
            let e = FillError::DigestMismatch {
                digest: self.digest.clone(),
                found,
                received: self.received,
            };
            self.report.refused(&e);
            return Some(Err(io::Error::other(e)));
        }
        self.held.take().map(|b| Ok(Bytes::from(vec![b])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::disk::DiskStore;
    use crate::cache::{BlobAccess, BlobHandle, CacheFuture, StoredManifest};
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;

    /// A one-shot HTTP server on 127.0.0.1 that answers every connection
    /// with `body` (declaring `declared_len`), in two halves with a pause.
    async fn serve(body: Vec<u8>, declared_len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let body = body.clone();
                tokio::spawn(async move {
                    let mut req = [0u8; 1024];
                    let _ = socket.read(&mut req).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {declared_len}\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let (a, b) = body.split_at(body.len() / 2);
                    let _ = socket.write_all(a).await;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    let _ = socket.write_all(b).await;
                });
            }
        });
        format!("http://{addr}/blob")
    }

    fn fetch(url: String) -> Fetcher {
        Arc::new(move || {
            let url = url.clone();
            Box::pin(async move {
                reqwest::get(url)
                    .await
                    .map_err(|e| UpstreamError::Unreachable {
                        upstream: "test".into(),
                        reason: e.to_string(),
                    })
            })
        })
    }

    fn report() -> FillReport {
        FillReport {
            upstream: "test".into(),
            repository: "test/repo".into(),
            health: Arc::new(Health::default()),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// A blob as a `GET` finds it (`None` when absent).
    async fn cached(store: &dyn BlobStore, digest: &Digest) -> Option<BlobHandle> {
        store.blob(digest, BlobAccess::Get).await.unwrap()
    }

    async fn collect(stream: impl Stream<Item = io::Result<Bytes>>) -> Result<Vec<u8>, io::Error> {
        let mut out = Vec::new();
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn concurrent_readers_share_one_verified_fill() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn BlobStore> = Arc::new(DiskStore::open(dir.path(), 1 << 30).unwrap());
        let body: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let digest = Digest::sha256_of(&body);
        let url = serve(body.clone(), body.len()).await;
        let fills = Fills::default();
        let (a, started_a) =
            fills.join_or_start(&digest, store.clone(), fetch(url.clone()), report());
        let (b, started_b) = fills.join_or_start(&digest, store.clone(), fetch(url), report());
        assert!(started_a && !started_b);
        assert!(Arc::ptr_eq(&a, &b));
        let total = a.started().await.unwrap().unwrap();
        let stream = a.follow(total).await.unwrap();
        assert_eq!(collect(stream).await.unwrap(), body);
        assert_eq!(b.finished().await.unwrap(), body.len() as u64);
        assert!(cached(&*store, &digest).await.is_some());
        assert_eq!(fills.in_flight(), 0);
    }

    /// A disk store whose import of a verified blob waits until released
    /// (a slow `fsync`, a slow bucket).
    struct SlowImport {
        disk: DiskStore,
        release: tokio::sync::Semaphore,
    }

    impl SlowImport {
        /// A disk store in `dir` whose imports wait for a permit.
        fn open(dir: &std::path::Path) -> Arc<Self> {
            Arc::new(Self {
                disk: DiskStore::open(dir, 1 << 30).unwrap(),
                release: tokio::sync::Semaphore::new(0),
            })
        }
    }

    impl BlobStore for SlowImport {
        fn manifest<'a>(&'a self, digest: &'a Digest) -> CacheFuture<'a, Option<StoredManifest>> {
            self.disk.manifest(digest)
        }
        fn put_manifest<'a>(
            &'a self,
            digest: &'a Digest,
            manifest: &'a StoredManifest,
        ) -> CacheFuture<'a, ()> {
            self.disk.put_manifest(digest, manifest)
        }
        fn blob<'a>(
            &'a self,
            digest: &'a Digest,
            access: BlobAccess,
        ) -> CacheFuture<'a, Option<BlobHandle>> {
            self.disk.blob(digest, access)
        }
        fn staging_dir(&self) -> &std::path::Path {
            self.disk.staging_dir()
        }
        fn import_blob<'a>(
            &'a self,
            digest: &'a Digest,
            staged: &'a std::path::Path,
            size: u64,
        ) -> CacheFuture<'a, ()> {
            Box::pin(async move {
                let _released = self.release.acquire().await.expect("open");
                self.disk.import_blob(digest, staged, size).await
            })
        }
        fn label(&self) -> &'static str {
            "slow"
        }
        fn max_blob_size(&self) -> u64 {
            self.disk.max_blob_size()
        }
        fn max_blob_size_setting(&self) -> &'static str {
            self.disk.max_blob_size_setting()
        }
    }

    #[tokio::test]
    async fn readers_get_the_final_byte_once_verified_before_the_store_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let slow = SlowImport::open(dir.path());
        let store: Arc<dyn BlobStore> = slow.clone();
        let body: Vec<u8> = (0..600_000u32).map(|i| (i % 241) as u8).collect();
        let digest = Digest::sha256_of(&body);
        let url = serve(body.clone(), body.len()).await;
        let fills = Fills::default();
        let (fill, _) = fills.join_or_start(&digest, store.clone(), fetch(url), report());
        let total = fill.started().await.unwrap().unwrap();
        let stream = fill.follow(total).await.unwrap();
        // The import has not been allowed to run: the whole body arrives
        // anyway (the timeout only turns a hang into a failure).
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), collect(stream));
        assert_eq!(read.await.expect("the body completes").unwrap(), body);
        assert!(cached(&*store, &digest).await.is_none(), "not stored yet");
        slow.release.add_permits(1);
        assert_eq!(fill.finished().await.unwrap(), body.len() as u64);
        assert!(cached(&*store, &digest).await.is_some());
    }

    /// A body larger than the chunks kept in memory.
    fn large_body() -> Vec<u8> {
        (0..RECENT_BYTES as u32 + 2 * 1024 * 1024)
            .map(|i| (i % 239) as u8)
            .collect()
    }

    /// Whether `chunk` is a slice of one of the fill's chunks in memory
    /// (sent without a copy), not bytes read from the staging file.
    fn from_memory(fill: &Fill, chunk: &Bytes) -> bool {
        let at = chunk.as_ptr() as usize;
        crate::memo::lock(&fill.recent.window)
            .chunks
            .iter()
            .any(|(_, kept)| {
                let start = kept.as_ptr() as usize;
                start <= at && at + chunk.len() <= start + kept.len()
            })
    }

    /// The offset of the oldest chunk still in memory.
    fn oldest_in_memory(fill: &Fill) -> u64 {
        crate::memo::lock(&fill.recent.window)
            .chunks
            .front()
            .map_or(0, |(offset, _)| *offset)
    }

    #[test]
    fn recent_chunks_are_sliced_in_place_and_the_oldest_dropped_beyond_the_bound() {
        const S: u64 = STAGING_WRITE_BYTES as u64;
        let recent = Recent::default();
        let count = RECENT_BYTES / STAGING_WRITE_BYTES + 2;
        for i in 0..count {
            recent.push(
                i as u64 * S,
                Bytes::from(vec![i as u8; STAGING_WRITE_BYTES]),
            );
        }
        let window = crate::memo::lock(&recent.window);
        let kept: usize = window.chunks.iter().map(|(_, c)| c.len()).sum();
        assert_eq!((kept, window.bytes), (RECENT_BYTES, RECENT_BYTES));
        drop(window);
        assert!(recent.slice(0, u64::MAX, u64::MAX).is_none(), "dropped");
        assert!(recent.slice(2 * S - 1, u64::MAX, u64::MAX).is_none());
        let third = recent.slice(2 * S, u64::MAX, u64::MAX).unwrap();
        assert_eq!(third.len(), STAGING_WRITE_BYTES);
        assert!(third.iter().all(|b| *b == 2));
        // Bounded by `until` and by `max`, and the same memory.
        let part = recent.slice(2 * S + 10, 2 * S + 100, 50).unwrap();
        assert_eq!(part.len(), 50);
        assert_eq!(part.as_ptr(), third[10..].as_ptr());
        assert_eq!(recent.slice(2 * S + 10, 2 * S + 30, 50).unwrap().len(), 20);
        // Only to the end of the chunk holding the offset.
        assert_eq!(
            recent.slice(3 * S - 1, u64::MAX, u64::MAX).unwrap().len(),
            1
        );
        assert!(
            recent.slice(count as u64 * S, u64::MAX, u64::MAX).is_none(),
            "not yet written"
        );
    }

    #[tokio::test]
    async fn a_reader_that_lags_behind_the_chunks_in_memory_reads_the_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn BlobStore> = Arc::new(DiskStore::open(dir.path(), 1 << 30).unwrap());
        let body = large_body();
        let digest = Digest::sha256_of(&body);
        let url = serve(body.clone(), body.len()).await;
        let (fill, _) =
            Fills::default().join_or_start(&digest, store.clone(), fetch(url), report());
        let total = fill.started().await.unwrap().unwrap();
        let stream = fill.follow(total).await.unwrap();
        futures_util::pin_mut!(stream);
        let first = stream.next().await.unwrap().unwrap();
        assert!(
            from_memory(&fill, &first),
            "sent from memory while it keeps up"
        );
        // The reader's client stalls until the whole blob arrived: what
        // follows its first chunk is no longer in memory.
        assert_eq!(fill.finished().await.unwrap(), body.len() as u64);
        assert!(oldest_in_memory(&fill) > first.len() as u64);
        let rest = collect(stream).await.unwrap();
        assert_eq!([&first[..], &rest[..]].concat(), body);
    }

    #[tokio::test]
    async fn a_reader_joining_late_reads_the_staging_file_then_the_chunks_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let slow = SlowImport::open(dir.path());
        let store: Arc<dyn BlobStore> = slow.clone();
        let body = large_body();
        let digest = Digest::sha256_of(&body);
        let url = serve(body.clone(), body.len()).await;
        let fills = Fills::default();
        let (fill, _) = fills.join_or_start(&digest, store.clone(), fetch(url.clone()), report());
        let mut state = fill.state.clone();
        state
            .wait_for(|s| matches!(s, FillState::Verified(_)))
            .await
            .unwrap();
        // A second request joins the fill once every byte arrived (the
        // store has not taken the file yet).
        let (late, started) = fills.join_or_start(&digest, store.clone(), fetch(url), report());
        assert!(!started && Arc::ptr_eq(&fill, &late));
        let total = late.started().await.unwrap().unwrap();
        assert!(oldest_in_memory(&late) > 0);
        let stream = late.follow(total).await.unwrap();
        let mut chunks = Vec::new();
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk.unwrap());
        }
        assert!(!from_memory(&late, &chunks[0]), "the start from the file");
        assert!(
            from_memory(&late, chunks.last().unwrap()),
            "the end from memory"
        );
        assert_eq!(chunks.concat(), body);
        slow.release.add_permits(1);
        assert_eq!(late.finished().await.unwrap(), body.len() as u64);
        assert!(cached(&*store, &digest).await.is_some());
    }

    #[tokio::test]
    async fn a_lying_upstream_poisons_nothing_and_readers_get_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn BlobStore> = Arc::new(DiskStore::open(dir.path(), 1 << 30).unwrap());
        let body = vec![7u8; 600_000];
        let claimed = Digest::sha256_of(b"something else");
        let url = serve(body.clone(), body.len()).await;
        let fills = Fills::default();
        let (fill, _) = fills.join_or_start(&claimed, store.clone(), fetch(url), report());
        let total = fill.started().await.unwrap().unwrap();
        let stream = fill.follow(total).await.unwrap();
        let err = collect(stream).await.unwrap_err();
        assert!(
            matches!(
                err.get_ref().and_then(|e| e.downcast_ref::<FillError>()),
                Some(FillError::DigestMismatch { .. })
            ),
            "{err}"
        );
        let err = fill.finished().await.unwrap_err();
        assert!(matches!(err, FillError::DigestMismatch { .. }), "{err}");
        assert!(cached(&*store, &claimed).await.is_none());
        assert_eq!(std::fs::read_dir(store.staging_dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn short_bodies_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn BlobStore> = Arc::new(DiskStore::open(dir.path(), 1 << 30).unwrap());
        let body = vec![1u8; 1000];
        let digest = Digest::sha256_of(&body);
        let url = serve(body.clone(), 2000).await;
        let (fill, _) =
            Fills::default().join_or_start(&digest, store.clone(), fetch(url), report());
        let err = fill.finished().await.unwrap_err();
        assert!(
            matches!(
                err,
                FillError::Short {
                    written: 1000,
                    size: 2000,
                    ..
                } | FillError::Read { .. }
            ),
            "{err}"
        );
        assert!(cached(&*store, &digest).await.is_none());
    }
}

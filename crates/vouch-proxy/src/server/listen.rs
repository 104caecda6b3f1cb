//! The accept loop: HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge)
//! on one port, with the limits `axum::serve` does not offer (issue 14,
//! finding 2):
//!
//! - a per-process connection cap (a semaphore taken before `accept`, so
//!   excess clients wait in the kernel's backlog instead of using file
//!   descriptors),
//! - an optional per-address connection cap,
//! - a header-read timeout: once bytes of a new request arrive on a
//!   connection with no request in flight, the request must reach the
//!   router within it,
//! - an idle timeout: a connection with no request in flight and no new
//!   bytes is closed after it,
//! - a send timeout: a connection whose client stops reading (a response
//!   write blocked that long) is closed.
//!
//! A new connection starts in the header-read phase, so one that never
//! sends a byte is closed after the header-read timeout, not the idle one.
//! HTTP/2 connections (recognised by their preface) skip the header-read
//! clock between requests: PING, SETTINGS and WINDOW_UPDATE frames arrive
//! on idle connections and are not the start of a request.
//!
//! Both timeouts are counted per connection by [`Activity`], which sees
//! the bytes read (through [`Watched`]) and the requests in flight (a
//! [`InFlight`] guard lives in each response body until it is sent).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::config::ConnectionLimits;

/// How long to pause accepting after an `accept` error that is not about
/// one connection (EMFILE, ENFILE, ENOMEM): the same one second
/// `axum::serve` and hyper's examples use, long enough for connections to
/// close and free descriptors, short enough to be unnoticed.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// What a connection is doing, as far as the timeouts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight and none being read: the idle clock runs.
    Idle,
    /// Bytes of a request arrived; its head has not reached the router.
    ReadingHead,
    /// At least one request is being answered: no clock runs.
    Busy,
}

#[derive(Debug)]
struct ActivityState {
    phase: Phase,
    in_flight: usize,
    /// When the current phase began.
    since: Instant,
    /// The connection speaks HTTP/2 (its first bytes were the preface).
    http2: bool,
    /// No bytes read yet: the first read decides `http2`.
    first_read: bool,
    /// Since when a response write has been waiting for the client to read.
    write_blocked_since: Option<Instant>,
}

/// The HTTP/2 connection preface's first bytes (RFC 9113 §3.4); no HTTP/1
/// method is `PRI`.
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// One connection's activity, shared by its reader, its requests and its
/// watchdog.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ActivityState {
                phase: Phase::ReadingHead,
                in_flight: 0,
                since: Instant::now(),
                http2: false,
                first_read: true,
                write_blocked_since: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // The state is three plain fields; a panic elsewhere cannot leave
        // it half-written, so a poisoned lock is still good.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived from the client; `first` are the first of them when
    /// this is the connection's first read.
    fn bytes_read(&self, read: &[u8]) {
        let mut state = self.lock();
        if state.first_read {
            state.first_read = false;
            let n = read.len().min(HTTP2_PREFACE_START.len());
            if n >= 4 && read[..n] == HTTP2_PREFACE_START[..n] {
                // A preface is no request: the idle clock runs until one.
                state.http2 = true;
                state.phase = Phase::Idle;
                state.since = Instant::now();
                drop(state);
                self.changed.notify_one();
                return;
            }
        }
        if state.phase == Phase::Idle && !state.http2 {
            state.phase = Phase::ReadingHead;
            state.since = Instant::now();
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A response write could not proceed: the client is not reading.
    fn write_blocked(&self) {
        let mut state = self.lock();
        if state.write_blocked_since.is_none() {
            state.write_blocked_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A response write went through.
    fn wrote(&self) {
        let mut state = self.lock();
        if state.write_blocked_since.take().is_some() {
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request reached the router; the guard ends it.
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.phase = Phase::Busy;
        drop(state);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Records what a socket write did: blocked (the client is not reading)
    /// or went through.
    fn write_progress(&self, result: &Poll<std::io::Result<usize>>) {
        match result {
            Poll::Pending => self.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.wrote(),
            Poll::Ready(_) => {}
        }
    }

    /// When the connection should be closed, if nothing changes first.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let state = self.lock();
        let phase = match state.phase {
            Phase::Idle => Some(state.since + limits.idle_timeout),
            Phase::ReadingHead => Some(state.since + limits.header_read_timeout),
            Phase::Busy => None,
        };
        let send = state.write_blocked_since.map(|t| t + limits.send_timeout);
        match (phase, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A request in flight on a connection: created when the request reaches
/// the router, dropped when its response body is sent or abandoned.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.phase = Phase::Idle;
            state.since = Instant::now();
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request counted until it is done.
struct Guarded {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream (TCP, or TLS over it) that reports the bytes it
/// reads to its [`Activity`].
struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read(&buf.filled()[before..]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.activity.write_progress(&result);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.activity.write_progress(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Connections open per client address.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its address; uncounted on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut table = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = table.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut table = self
            .table
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = table.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// The address a per-address cap counts: an IPv4 address as it is, an IPv6
/// address by its /64 (one subscriber's prefix: a client that holds a /64
/// has 2^64 addresses to spread connections over).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// `accept` errors that concern one connection only: try the next.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until
/// `stop` resolves, then asks every connection to finish (HTTP/1.1: after
/// the response in flight; HTTP/2: GOAWAY) and waits for them up to `grace`.
///
/// A TLS handshake must complete within the header-read timeout, like a
/// request head: a client that opens a connection and sends nothing, or
/// stalls mid-handshake, holds a connection slot no longer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let Some((stream, peer, permit)) = accepted else {
            continue;
        };
        let slot = match limits.max_connections_per_ip {
            Some(max) => match per_address.take(client_key(peer.ip()), max) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, max, "connection refused: per-address limit");
                    continue;
                }
            },
            None => None,
        };
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            limits,
            peer,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            let Some(acceptor) = tls else {
                return connection.run(stream).await;
            };
            match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => connection.run(stream).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "closing connection: TLS handshake timeout"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "shutdown grace period over; dropping remaining connections"
        );
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: ConnectionLimits,
    peer: std::net::SocketAddr,
}

impl Connection {
    /// Serves HTTP/1.1 or HTTP/2 on `stream` until the connection ends or
    /// one of its timeouts passes.
    async fn run<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let service = {
            let activity = activity.clone();
            let router = self.router;
            let peer = self.peer;
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let in_flight = activity.begin();
                let mut router = router.clone();
                // The client's address, for handlers that limit by it
                // (portal sign-in attempts).
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(client_key(peer.ip())));
                async move {
                    let response = match tower_service::Service::call(&mut router, request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    Ok::<_, Infallible>(response.map(|body| {
                        Body::new(Guarded {
                            body,
                            _in_flight: in_flight,
                        })
                    }))
                }
            })
        };
        let connection = self
            .watcher
            .watch(self.builder.serve_connection(io, service));
        watch_connection(connection, &activity, &self.limits, self.peer).await;
    }
}

/// The next connection, once a connection permit is free. `None` after an
/// error (logged; after a resource error, once [`ACCEPT_ERROR_BACKOFF`]
/// has passed).
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(
    TcpStream,
    std::net::SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, permit)),
        Err(e) if is_connection_error(&e) => None,
        Err(e) => {
            tracing::error!(error = %e, "accepting connections failed; pausing");
            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            None
        }
    }
}

/// Drives one connection until it ends or one of its timeouts passes.
async fn watch_connection<F: Future>(
    connection: F,
    activity: &Activity,
    limits: &ConnectionLimits,
    peer: std::net::SocketAddr,
) {
    tokio::pin!(connection);
    loop {
        let deadline = activity.deadline(limits);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut connection => return,
            () = activity.changed.notified() => {}
            () = expired => {
                // Re-read: a request may have begun at the same instant.
                if activity.deadline(limits).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, "closing connection: header-read, idle or send timeout");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        }
    }

    /// The deadline's distance from the current phase's start.
    fn after_phase_start(activity: &Activity) -> Option<Duration> {
        let since = activity.lock().since;
        activity.deadline(&limits()).map(|at| at - since)
    }

    #[test]
    fn a_new_connection_has_the_header_read_timeout_until_it_is_http2() {
        let http1 = Activity::new();
        assert_eq!(after_phase_start(&http1), Some(Duration::from_secs(10)));
        http1.bytes_read(b"GET /v2/ HTTP/1.1\r\n");
        assert_eq!(after_phase_start(&http1), Some(Duration::from_secs(10)));

        let http2 = Activity::new();
        http2.bytes_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(after_phase_start(&http2), Some(Duration::from_secs(75)));
        // PING, SETTINGS or WINDOW_UPDATE frames between requests start no
        // header clock on an HTTP/2 connection.
        http2.bytes_read(&[0, 0, 8, 6, 0, 0, 0, 0, 0]);
        assert_eq!(after_phase_start(&http2), Some(Duration::from_secs(75)));

        // On HTTP/1.1 bytes after an idle spell start a request head.
        let request = http1.begin();
        drop(request);
        assert_eq!(after_phase_start(&http1), Some(Duration::from_secs(75)));
        http1.bytes_read(b"GET");
        assert_eq!(after_phase_start(&http1), Some(Duration::from_secs(10)));
    }

    #[test]
    fn the_per_address_cap_counts_ipv6_clients_by_their_64() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn a_blocked_response_write_has_the_send_timeout_and_progress_clears_it() {
        let activity = Activity::new();
        activity.bytes_read(b"GET /v2/x/blobs/sha256:0 HTTP/1.1\r\n\r\n");
        let _request = activity.begin();
        assert_eq!(activity.deadline(&limits()), None, "busy, writing");
        activity.write_progress(&Poll::Pending);
        let blocked_at = activity.lock().write_blocked_since.expect("blocked");
        assert_eq!(
            activity.deadline(&limits()),
            Some(blocked_at + Duration::from_secs(60))
        );
        // Still blocked: the clock keeps its start.
        std::thread::sleep(Duration::from_millis(5));
        activity.write_progress(&Poll::Pending);
        assert_eq!(
            activity.deadline(&limits()),
            Some(blocked_at + Duration::from_secs(60))
        );
        activity.write_progress(&Poll::Ready(Ok(4096)));
        assert_eq!(activity.deadline(&limits()), None, "the client read again");
    }
}

//! Response bodies and headers that every handler shares: cached files
//! streamed with counting, the pull-log line written when a body has been
//! sent, `Range` parsing, and `X-Content-Type-Options`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;

use crate::metrics::{ContentKind, Metrics};
use crate::pulllog::PullLogWriter;
use crate::store::PullRecord;

/// Largest read when serving a cached blob: one chunk of the body.
const FILE_CHUNK_BYTES: usize = 256 * 1024;

/// `length` bytes of a cached file from offset `start` (the caller
/// counts them: see `content.rs`'s `cached_body`).
pub(super) fn file_stream(file: Arc<std::fs::File>, start: u64, length: u64) -> FileChunks {
    FileChunks {
        file,
        offset: start,
        remaining: length,
    }
}

/// Reads a cached file chunk by chunk, in place on the runtime's thread.
///
/// The disk cache is local storage and its files are nearly always in the
/// page cache, where a read costs microseconds: less than handing it to
/// tokio's blocking pool and back (two thread wake-ups per read, which
/// were most of a cached blob's cost; docs/benchmarks.md). This is what
/// nginx does by default. The price is that a disk that stalls also stalls
/// the requests sharing that worker thread; the cache must be on local
/// disk (docs/proxy.md).
pub(super) struct FileChunks {
    /// Shared with other requests for the same blob: read by position only.
    file: Arc<std::fs::File>,
    offset: u64,
    remaining: u64,
}

impl Stream for FileChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use std::os::unix::fs::FileExt as _;
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want =
            usize::try_from(self.remaining).map_or(FILE_CHUNK_BYTES, |n| n.min(FILE_CHUNK_BYTES));
        let mut chunk = vec![0; want];
        let read = self
            .file
            .read_at(&mut chunk, self.offset)
            .and_then(|n| match n {
                0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => Ok(n),
            });
        Poll::Ready(Some(read.map(|n| {
            chunk.truncate(n);
            self.offset += n as u64;
            self.remaining -= n as u64;
            Bytes::from(chunk)
        })))
    }
}

/// Adds `X-Content-Type-Options: nosniff` to every response (a layer on
/// both routers): a browser shown a manifest, blob or error never guesses
/// it is HTML (issue 14, finding 3).
pub(crate) async fn nosniff(mut response: Response) -> Response {
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
    pub(crate) fn new(inner: S, metrics: Arc<Metrics>) -> Self {
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
    use futures_util::StreamExt as _;
    use std::io::Write as _;

    /// A temporary file holding `bytes`, opened for reading.
    fn file_of(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn chunks(file: std::fs::File, offset: u64, remaining: u64) -> FileChunks {
        FileChunks {
            file: Arc::new(file),
            offset,
            remaining,
        }
    }

    #[tokio::test]
    async fn file_chunks_read_the_span_asked_for_in_bounded_chunks() {
        let bytes: Vec<u8> = (0..FILE_CHUNK_BYTES * 2 + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let start = 7;
        let length = (bytes.len() - 10) as u64;
        let pieces: Vec<Bytes> = chunks(file_of(&bytes), start, length)
            .map(|chunk| chunk.unwrap())
            .collect()
            .await;
        assert_eq!(pieces.len(), 3, "two whole chunks and the rest");
        assert!(pieces.iter().all(|p| p.len() <= FILE_CHUNK_BYTES));
        assert_eq!(pieces.concat(), bytes[7..bytes.len() - 3]);
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_ends_the_body_with_an_error() {
        let mut stream = chunks(file_of(b"only this"), 0, 100);
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"only this");
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

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
}

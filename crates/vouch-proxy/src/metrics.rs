//! Prometheus metrics in the text exposition format (version 0.0.4),
//! written by hand: a few counters and one histogram do not justify a
//! metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram: loopback
/// (1 ms) to a slow cross-region registry (10 s), roughly ×2.5 apart as in
/// the Prometheus client defaults.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// What kind of content a byte or cache counter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// Manifests (and indexes).
    Manifest,
    /// Blobs (layers, configs).
    Blob,
}

impl ContentKind {
    fn index(self) -> usize {
        match self {
            Self::Manifest => 0,
            Self::Blob => 1,
        }
    }

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manifest => "manifest",
            Self::Blob => "blob",
        }
    }
}

/// What a cache lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLookup {
    /// The content was cached.
    Hit,
    /// It was not: the upstream is asked.
    Miss,
}

/// How a request's read of the state database went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseAsk {
    /// The database answered.
    Answered,
    /// The database was asked and failed (or did not answer in time).
    Failed,
    /// Not asked: the database is known to be failing; the request was
    /// answered from fail static, or with a 503, without waiting on it.
    Skipped,
}

impl DatabaseAsk {
    const ALL: [Self; 3] = [Self::Answered, Self::Failed, Self::Skipped];

    fn index(self) -> usize {
        self as usize
    }

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

const KINDS: [ContentKind; 2] = [ContentKind::Manifest, ContentKind::Blob];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The proxy's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    bytes: [AtomicU64; 2],
    cache_hits: [AtomicU64; 2],
    cache_misses: [AtomicU64; 2],
    upstream_requests: Mutex<BTreeMap<u16, u64>>,
    upstream_latency: Histogram,
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
    denials: Mutex<BTreeMap<&'static str, u64>>,
    tokens_issued: AtomicU64,
    rate_limited: AtomicU64,
    digest_mismatches: Mutex<BTreeMap<String, u64>>,
    store_errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    database_asks: [AtomicU64; 3],
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A counter family with one sample per label set (`labels` as written
/// between the braces).
fn labelled_counter(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    family(out, name, "counter", help);
    for (labels, n) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {n}");
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *crate::memo::lock(map).entry(key).or_insert(0) += 1;
}

impl Metrics {
    /// Counts a finished request by route and status.
    pub fn request(&self, route: &'static str, status: u16) {
        bump(&self.requests, (route, status));
    }

    /// Counts body bytes sent.
    pub fn bytes_sent(&self, kind: ContentKind, n: u64) {
        self.bytes[kind.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a cache lookup.
    pub fn cache(&self, kind: ContentKind, lookup: CacheLookup) {
        let counters = match lookup {
            CacheLookup::Hit => &self.cache_hits,
            CacheLookup::Miss => &self.cache_misses,
        };
        counters[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Records an upstream request: its latency to response headers and
    /// its status (`None` when no response came).
    pub fn upstream_request(&self, latency: Duration, status: Option<u16>) {
        bump(&self.upstream_requests, status.unwrap_or(0));
        let h = &self.upstream_latency;
        let secs = latency.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts a refused authentication, by reason.
    pub fn auth_failure(&self, reason: &'static str) {
        bump(&self.auth_failures, reason);
    }

    /// Counts a refused authorization (403), by reason.
    pub fn denial(&self, reason: &'static str) {
        bump(&self.denials, reason);
    }

    /// Counts an issued token.
    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rate-limited request.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an upstream that sent bytes not matching the digest asked for.
    pub fn digest_mismatch(&self, upstream: &str) {
        *crate::memo::lock(&self.digest_mismatches)
            .entry(upstream.to_string())
            .or_default() += 1;
    }

    /// Counts a failed content-store operation (`store`: `disk` or `s3`;
    /// `op`: `read`, `write`, `import`).
    pub fn store_error(&self, store: &'static str, op: &'static str) {
        *crate::memo::lock(&self.store_errors)
            .entry((store, op))
            .or_default() += 1;
    }

    /// Counts a request's read of the state database, by outcome.
    pub fn database_ask(&self, outcome: DatabaseAsk) {
        self.database_asks[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "vouch_proxy_requests_total",
            "counter",
            "Requests answered, by route and HTTP status.",
        );
        for ((route, status), n) in crate::memo::lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "vouch_proxy_requests_total{{route=\"{route}\",code=\"{status}\"}} {n}"
            );
        }
        family(
            &mut out,
            "vouch_proxy_bytes_sent_total",
            "counter",
            "Body bytes sent to clients, by content kind.",
        );
        for kind in KINDS {
            let n = self.bytes[kind.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "vouch_proxy_bytes_sent_total{{kind=\"{}\"}} {n}",
                kind.as_str()
            );
        }
        family(
            &mut out,
            "vouch_proxy_cache_requests_total",
            "counter",
            "Cache lookups, by content kind and result.",
        );
        for kind in KINDS {
            let hits = self.cache_hits[kind.index()].load(Ordering::Relaxed);
            let misses = self.cache_misses[kind.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "vouch_proxy_cache_requests_total{{kind=\"{}\",result=\"hit\"}} {hits}",
                kind.as_str()
            );
            let _ = writeln!(
                out,
                "vouch_proxy_cache_requests_total{{kind=\"{}\",result=\"miss\"}} {misses}",
                kind.as_str()
            );
        }
        family(
            &mut out,
            "vouch_proxy_upstream_requests_total",
            "counter",
            "Upstream requests, by HTTP status (0: no response).",
        );
        for (status, n) in crate::memo::lock(&self.upstream_requests).iter() {
            let _ = writeln!(
                out,
                "vouch_proxy_upstream_requests_total{{code=\"{status}\"}} {n}"
            );
        }
        family(
            &mut out,
            "vouch_proxy_upstream_latency_seconds",
            "histogram",
            "Time to upstream response headers.",
        );
        let h = &self.upstream_latency;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "vouch_proxy_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                h.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "vouch_proxy_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "vouch_proxy_upstream_latency_seconds_sum {}",
            h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "vouch_proxy_upstream_latency_seconds_count {count}");
        family(
            &mut out,
            "vouch_proxy_auth_failures_total",
            "counter",
            "Refused authentications (401), by reason.",
        );
        for (reason, n) in crate::memo::lock(&self.auth_failures).iter() {
            let _ = writeln!(
                out,
                "vouch_proxy_auth_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
        family(
            &mut out,
            "vouch_proxy_denials_total",
            "counter",
            "Refused authorizations (403), by reason.",
        );
        for (reason, n) in crate::memo::lock(&self.denials).iter() {
            let _ = writeln!(out, "vouch_proxy_denials_total{{reason=\"{reason}\"}} {n}");
        }
        family(
            &mut out,
            "vouch_proxy_tokens_issued_total",
            "counter",
            "Bearer tokens issued.",
        );
        let _ = writeln!(
            out,
            "vouch_proxy_tokens_issued_total {}",
            self.tokens_issued.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "vouch_proxy_rate_limited_total",
            "counter",
            "Requests refused by the per-license rate limit.",
        );
        let _ = writeln!(
            out,
            "vouch_proxy_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        );
        labelled_counter(
            &mut out,
            "vouch_proxy_upstream_digest_mismatch_total",
            "Blobs an upstream sent that did not hash to the digest asked for (refused), by upstream.",
            crate::memo::lock(&self.digest_mismatches)
                .iter()
                .map(|(upstream, n)| (format!("upstream=\"{upstream}\""), *n)),
        );
        labelled_counter(
            &mut out,
            "vouch_proxy_store_errors_total",
            "Failed content-store operations, by store and operation.",
            crate::memo::lock(&self.store_errors)
                .iter()
                .map(|((store, op), n)| (format!("store=\"{store}\",op=\"{op}\""), *n)),
        );
        labelled_counter(
            &mut out,
            "vouch_proxy_database_asks_total",
            "Reads of the state database made for requests, by outcome (skipped: not asked, the database being known to fail).",
            DatabaseAsk::ALL.iter().map(|a| {
                let n = self.database_asks[a.index()].load(Ordering::Relaxed);
                (format!("outcome=\"{}\"", a.as_str()), n)
            }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request("manifest", 200);
        m.request("manifest", 200);
        m.bytes_sent(ContentKind::Blob, 10);
        m.cache(ContentKind::Manifest, CacheLookup::Hit);
        m.upstream_request(Duration::from_millis(3), Some(200));
        m.auth_failure("expired");
        m.database_ask(DatabaseAsk::Skipped);
        m.database_ask(DatabaseAsk::Skipped);
        let text = m.render();
        assert!(text.contains("vouch_proxy_database_asks_total{outcome=\"skipped\"} 2"));
        assert!(text.contains("vouch_proxy_database_asks_total{outcome=\"failed\"} 0"));
        assert!(
            text.contains("vouch_proxy_requests_total{route=\"manifest\",code=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("vouch_proxy_bytes_sent_total{kind=\"blob\"} 10"));
        assert!(
            text.contains("vouch_proxy_cache_requests_total{kind=\"manifest\",result=\"hit\"} 1")
        );
        assert!(text.contains("vouch_proxy_upstream_latency_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("vouch_proxy_upstream_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("vouch_proxy_upstream_latency_seconds_count 1"));
        assert!(text.contains("vouch_proxy_auth_failures_total{reason=\"expired\"} 1"));
        assert!(text.starts_with("# HELP vouch_proxy_requests_total"));
    }
}

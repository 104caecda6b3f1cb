//! Per-license rate limiting: a token bucket per license, in memory (and
//! per client address, for portal sign-in attempts).
//! (With several replicas each enforces its own bucket; issue 8 moves
//! the counters to shared state if that matters.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;
use crate::store::LicenseNumber;

/// Most licenses tracked at once. Buckets of idle licenses are full and
/// carry no information, so they are dropped when this is reached.
pub const MAX_TRACKED_LICENSES: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter, with a bucket per key (a license by default).
#[derive(Debug)]
pub struct RateLimiter<K = LicenseNumber> {
    rate: Option<RateLimit>,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: std::hash::Hash + Eq + Copy> RateLimiter<K> {
    /// A limiter; `None` lets everything through.
    pub fn new(rate: Option<RateLimit>) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `license` at `now`, or says how long until one
    /// is available.
    pub fn check(&self, license: K, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.rate else { return Ok(()) };
        let burst = f64::from(rate.burst);
        let mut buckets = crate::memo::lock(&self.buckets);
        if buckets.len() >= MAX_TRACKED_LICENSES && !buckets.contains_key(&license) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate.per_second
                    < burst
            });
        }
        let bucket = buckets.entry(license).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / rate.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::<LicenseNumber>::new(Some(RateLimit {
            per_second: 2.0,
            burst: 3,
        }));
        let t0 = Instant::now();
        let a = LicenseNumber(1);
        for _ in 0..3 {
            assert!(limiter.check(a, t0).is_ok());
        }
        let wait = limiter.check(a, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        // Another license has its own bucket.
        assert!(limiter.check(LicenseNumber(2), t0).is_ok());
        // Half a second later one more request fits.
        assert!(limiter.check(a, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check(a, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limiter = RateLimiter::<LicenseNumber>::new(None);
        for _ in 0..1000 {
            assert!(limiter.check(LicenseNumber(1), Instant::now()).is_ok());
        }
    }
}

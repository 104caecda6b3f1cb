//! Small in-process caches: a bounded map with a time-to-live, and
//! single-flight (one computation per key, shared by every caller that
//! asks while it runs).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

/// Locks `mutex`, recovering it if a panic elsewhere poisoned it. Every
/// mutex in the server guards a cache, a table of counters or a map of
/// in-flight work, each of which a panic leaves usable (at worst an entry
/// is missing or stale, which costs a recomputation); a poisoned lock must
/// not turn every later request into a panic.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a [`TtlMap`] reads the time: [`SystemClock`] in the server, a
/// hand-moved clock in tests.
pub trait Clock: Send + Sync {
    /// Now, on a monotonic clock.
    fn now(&self) -> Instant;
}

/// [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A bounded map whose entries expire `ttl` after insertion. When full it
/// evicts entry by entry (quick_cache's CLOCK-Pro: cold, rarely read
/// entries go first), so a full map never drops its hot set at once.
pub struct TtlMap<K, V> {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    entries: quick_cache::sync::Cache<K, (V, Instant)>,
}

impl<K, V> fmt::Debug for TtlMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlMap")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    /// An empty map of at most about `capacity` entries, on the system clock.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self::with_clock(ttl, capacity, Arc::new(SystemClock))
    }

    /// An empty map reading the time from `clock`.
    pub fn with_clock(ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl,
            clock,
            entries: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The value, if present and younger than the TTL (an expired entry
    /// is removed).
    pub fn get(&self, key: &K) -> Option<V> {
        let (value, at) = self.entries.get(key)?;
        if self.clock.now().saturating_duration_since(at) < self.ttl {
            return Some(value);
        }
        self.entries.remove_if(key, |(_, stored)| *stored == at);
        None
    }

    /// Inserts or replaces; when the map is full, another entry is evicted.
    pub fn insert(&self, key: K, value: V) {
        self.entries.insert(key, (value, self.clock.now()));
    }

    /// Removes one entry.
    pub fn remove(&self, key: &K) {
        self.entries.remove(key);
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }
}

/// Answers of the state store kept twice: for a short `fresh` window,
/// within which they are used without asking again, and for a longer
/// `stale` window, within which they are used only while the store cannot
/// answer (fail static, issue 21, item 3). A stale window of zero keeps
/// nothing stale.
pub struct FailStatic<K, V> {
    fresh: TtlMap<K, V>,
    stale: TtlMap<K, V>,
}

impl<K, V> fmt::Debug for FailStatic<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailStatic")
            .field("fresh", &self.fresh)
            .field("stale", &self.stale)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> FailStatic<K, V> {
    /// Empty, each window holding at most about `capacity` entries.
    pub fn new(fresh: Duration, stale: Duration, capacity: usize) -> Self {
        Self {
            fresh: TtlMap::new(fresh, capacity),
            stale: TtlMap::new(stale, capacity),
        }
    }

    /// The answer, if given within the fresh window.
    pub fn fresh(&self, key: &K) -> Option<V> {
        self.fresh.get(key)
    }

    /// The answer, if given within the stale window: only for when the
    /// store cannot answer.
    pub fn stale(&self, key: &K) -> Option<V> {
        self.stale.get(key)
    }

    /// Records an answer the store just gave.
    pub fn insert(&self, key: K, value: V) {
        self.fresh.insert(key.clone(), value.clone());
        self.stale.insert(key, value);
    }
}

type SharedFuture<V> = Shared<Pin<Box<dyn Future<Output = V> + Send>>>;

/// Runs at most one computation per key at a time; callers that arrive
/// while it runs wait for the same result.
pub struct SingleFlight<K, V: Clone> {
    inflight: Mutex<HashMap<K, SharedFuture<V>>>,
}

impl<K, V: Clone> std::fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleFlight")
    }
}

impl<K: Eq + Hash + Clone, V: Clone + Send + Sync + 'static> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone + Send + Sync + 'static> SingleFlight<K, V> {
    /// The result of the computation for `key`, starting it with `make`
    /// if none is running.
    pub async fn run<F>(&self, key: K, make: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let shared = {
            let mut inflight = lock(&self.inflight);
            match inflight.get(&key) {
                Some(existing) => existing.clone(),
                None => {
                    let fut: Pin<Box<dyn Future<Output = V> + Send>> = Box::pin(make());
                    let shared = fut.shared();
                    inflight.insert(key.clone(), shared.clone());
                    shared
                }
            }
        };
        let value = shared.clone().await;
        let mut inflight = lock(&self.inflight);
        if inflight.get(&key).is_some_and(|f| f.ptr_eq(&shared)) {
            inflight.remove(&key);
        }
        value
    }

    /// Computations running now.
    pub fn len(&self) -> usize {
        lock(&self.inflight).len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A clock moved by hand.
    #[derive(Debug)]
    struct TestClock(Mutex<Instant>);

    impl TestClock {
        fn advance(&self, by: Duration) {
            *lock(&self.0) += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Instant {
            *lock(&self.0)
        }
    }

    #[test]
    fn ttl_map_expires_entries_at_their_ttl() {
        let clock = Arc::new(TestClock(Mutex::new(Instant::now())));
        let m = TtlMap::with_clock(Duration::from_secs(30), 10, clock.clone());
        m.insert(1, "a");
        clock.advance(Duration::from_secs(20));
        m.insert(2, "b");
        assert_eq!(m.get(&1), Some("a"));
        clock.advance(Duration::from_secs(10));
        assert_eq!(m.get(&1), None, "30 s old");
        assert_eq!(m.get(&2), Some("b"), "10 s old");
        m.insert(1, "c");
        assert_eq!(m.get(&1), Some("c"), "a new insert starts a new TTL");
    }

    #[test]
    fn a_full_ttl_map_evicts_entry_by_entry() {
        let clock = Arc::new(TestClock(Mutex::new(Instant::now())));
        let m = TtlMap::with_clock(Duration::from_secs(30), 100, clock);
        for i in 0..1000 {
            m.insert(i, i);
        }
        let kept = (0..1000).filter(|i| m.get(i).is_some()).count();
        assert!(kept > 0, "never emptied at once");
        assert!(kept <= 200, "bounded: {kept} kept");
        assert_eq!(m.get(&999), Some(999), "the newest entry stays");
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let mutex = Arc::new(Mutex::new(1));
        let poisoner = mutex.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 2);
    }

    #[tokio::test]
    async fn single_flight_runs_once_for_concurrent_callers() {
        let flights = Arc::new(SingleFlight::<u32, u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (flights, runs) = (flights.clone(), runs.clone());
            handles.push(tokio::spawn(async move {
                flights
                    .run(1, || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        42
                    })
                    .await
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty());
    }
}

//! Small in-process caches: a bounded map with a time-to-live, and
//! single-flight (one computation per key, shared by every caller that
//! asks while it runs).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

/// A map whose entries expire `ttl` after insertion. When it reaches its
/// capacity it is emptied: the caches it backs are hot sets much smaller
/// than the cap, so a rare full reset costs less than tracking recency.
#[derive(Debug)]
pub struct TtlMap<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    /// An empty map.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value, if present and younger than the TTL.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("ttl map lock");
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Inserts or replaces.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("ttl map lock");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.entries.lock().expect("ttl map lock").clear();
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
            let mut inflight = self.inflight.lock().expect("single flight lock");
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
        let mut inflight = self.inflight.lock().expect("single flight lock");
        if inflight.get(&key).is_some_and(|f| f.ptr_eq(&shared)) {
            inflight.remove(&key);
        }
        value
    }

    /// Computations running now.
    pub fn len(&self) -> usize {
        self.inflight.lock().expect("single flight lock").len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn ttl_map_expires_and_resets_when_full() {
        let m = TtlMap::new(Duration::from_millis(30), 2);
        m.insert(1, "a");
        assert_eq!(m.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(m.get(&1), None);
        m.insert(2, "b");
        m.insert(3, "c");
        m.insert(4, "d");
        assert_eq!(m.get(&2), None);
        assert_eq!(m.get(&4), Some("d"));
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

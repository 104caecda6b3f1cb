//! Writing the pull log off the request path: requests queue records on a
//! bounded channel; one task writes them in batches. When the state store
//! cannot take them (an outage), the task keeps them in memory, up to
//! [`MAX_BUFFERED_RECORDS`], and writes them once it can again (issue 21,
//! item 4): an outage loses no record unless the buffer overflows, and
//! what overflows is counted (`vouch_proxy_pulllog_dropped_total`) and
//! logged once, with the number lost, when the outage ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{PullLog, PullRecord};

/// Records queued before new ones are dropped (and counted): a few
/// seconds of traffic at the rates measured in bench/proxy.sh.
pub const MAX_QUEUED_RECORDS: usize = 50_000;
/// Records kept in memory while the state store cannot take them: about
/// 200 bytes each, 20 MiB at the bound; 100 s of pulls at 1000 requests a
/// second, well over a database restart or failover.
pub const MAX_BUFFERED_RECORDS: usize = 100_000;
/// Records written per transaction.
pub const BATCH_RECORDS: usize = 1_000;
/// Longest a record waits before its batch is written, and how often a
/// write is tried again during an outage.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The sending side, cloned into request handlers.
#[derive(Debug, Clone)]
pub struct PullLogWriter {
    tx: mpsc::Sender<PullRecord>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    dropped: AtomicU64,
    buffered: AtomicU64,
}

/// The writing task; [`PullLogTask::finish`] flushes what is queued.
#[derive(Debug)]
pub struct PullLogTask {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

/// Records not yet written, and the outage they wait through.
struct Pending {
    records: VecDeque<PullRecord>,
    counts: Arc<Counts>,
    /// When writes started failing, and records lost since.
    outage: Option<(Instant, u64)>,
}

impl Pending {
    fn push(&mut self, record: PullRecord) {
        if self.records.len() >= MAX_BUFFERED_RECORDS {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some((_, lost)) = &mut self.outage {
                *lost += 1;
            }
            return;
        }
        self.records.push_back(record);
        self.counts
            .buffered
            .store(self.records.len() as u64, Ordering::Relaxed);
    }

    /// Writes what is pending, batch by batch; stops at the first failure
    /// and keeps the rest.
    async fn flush(&mut self, store: &dyn PullLog) {
        while !self.records.is_empty() {
            let n = self.records.len().min(BATCH_RECORDS);
            let batch: Vec<PullRecord> = self.records.iter().take(n).cloned().collect();
            if let Err(e) = store.append(&batch).await {
                if self.outage.is_none() {
                    tracing::warn!(error = %e, buffered = self.records.len(), max = MAX_BUFFERED_RECORDS, "pull log cannot be written; buffering records in memory until the state store answers");
                    self.outage = Some((Instant::now(), 0));
                }
                return;
            }
            self.records.drain(..n);
            self.counts
                .buffered
                .store(self.records.len() as u64, Ordering::Relaxed);
        }
        if let Some((since, lost)) = self.outage.take() {
            let secs = since.elapsed().as_secs();
            if lost > 0 {
                tracing::error!(
                    lost,
                    outage_secs = secs,
                    "pull log written again; records lost because the buffer was full"
                );
            } else {
                tracing::info!(outage_secs = secs, "pull log written again; no record lost");
            }
        }
    }

    /// The last write, at shutdown: what cannot be written is lost.
    async fn finish(&mut self, store: &dyn PullLog) {
        self.flush(store).await;
        if !self.records.is_empty() {
            let lost = self.records.len() as u64;
            self.counts.dropped.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(lost, "pull log cannot be written at shutdown; records lost");
        }
    }
}

impl PullLogWriter {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn PullLog>) -> (Self, PullLogTask) {
        let (tx, mut rx) = mpsc::channel::<PullRecord>(MAX_QUEUED_RECORDS);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let counts = Arc::new(Counts::default());
        let mut pending = Pending {
            records: VecDeque::new(),
            counts: counts.clone(),
            outage: None,
        };
        let handle = tokio::spawn(async move {
            let mut stopping = false;
            while !stopping {
                // With nothing pending, wait for a record; otherwise only
                // until the next try.
                if pending.records.is_empty() {
                    let first = tokio::select! {
                        first = rx.recv() => first,
                        _ = &mut stopped => None,
                    };
                    let Some(first) = first else { break };
                    pending.push(first);
                }
                let deadline = tokio::time::sleep(FLUSH_INTERVAL);
                tokio::pin!(deadline);
                while pending.outage.is_some() || pending.records.len() < BATCH_RECORDS {
                    tokio::select! {
                        next = rx.recv() => match next {
                            Some(r) => pending.push(r),
                            None => { stopping = true; break }
                        },
                        () = &mut deadline => break,
                        _ = &mut stopped => { stopping = true; break }
                    }
                }
                pending.flush(&*store).await;
            }
            // Drain what is still queued, then stop.
            while let Ok(r) = rx.try_recv() {
                pending.push(r);
            }
            pending.finish(&*store).await;
        });
        (Self { tx, counts }, PullLogTask { stop, handle })
    }

    /// Queues a record; drops it (counted) when the queue is full.
    pub fn record(&self, record: PullRecord) {
        if self.tx.try_send(record).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records lost: the queue was full, the outage buffer was full, or
    /// the store could not take them at shutdown.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Records waiting in memory to be written.
    pub fn buffered(&self) -> u64 {
        self.counts.buffered.load(Ordering::Relaxed)
    }
}

impl PullLogTask {
    /// Writes every record queued so far and stops the task (records
    /// queued afterwards are not written).
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{LicenseNumber, PullAction, StoreError, StoreFuture};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    fn record(status: u16) -> PullRecord {
        PullRecord {
            license: LicenseNumber(3),
            at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            action: PullAction::Blob,
            method: "GET".into(),
            repository: "ghcr.io/acme/api".into(),
            reference: "sha256:ab".into(),
            status,
            bytes: 10,
        }
    }

    /// A pull log that refuses writes while `down`.
    #[derive(Default)]
    struct Flaky {
        down: AtomicBool,
        written: Mutex<Vec<PullRecord>>,
    }

    impl PullLog for Flaky {
        fn append<'a>(&'a self, records: &'a [PullRecord]) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                if self.down.load(Ordering::SeqCst) {
                    return Err(StoreError::Backend {
                        operation: "append pulls",
                        source: crate::store::BackendError::Connect("refused".into()),
                    });
                }
                self.written.lock().unwrap().extend_from_slice(records);
                Ok(())
            })
        }

        fn pulls(&self, _: LicenseNumber, _: u32) -> StoreFuture<'_, Vec<PullRecord>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn pull_summary(&self, _: LicenseNumber) -> StoreFuture<'_, crate::store::PullSummary> {
            Box::pin(async {
                Ok(crate::store::PullSummary {
                    requests: 0,
                    last_at: None,
                })
            })
        }
    }

    /// A store that is down, and an empty buffer in front of it.
    fn down() -> (Arc<Flaky>, Arc<Counts>, Pending) {
        let store = Arc::new(Flaky::default());
        store.down.store(true, Ordering::SeqCst);
        let counts = Arc::new(Counts::default());
        let pending = Pending {
            records: VecDeque::new(),
            counts: counts.clone(),
            outage: None,
        };
        (store, counts, pending)
    }

    #[tokio::test]
    async fn records_written_during_an_outage_are_kept_and_written_when_the_store_is_back() {
        let (store, counts, mut pending) = down();
        for status in 0..2500 {
            pending.push(record(status));
            if status % 1000 == 0 {
                pending.flush(&*store).await;
            }
        }
        assert!(pending.outage.is_some());
        assert_eq!(counts.buffered.load(Ordering::SeqCst), 2500);
        store.down.store(false, Ordering::SeqCst);
        pending.flush(&*store).await;
        assert!(pending.outage.is_none());
        let written = store.written.lock().unwrap();
        assert_eq!(written.len(), 2500);
        assert!(written.iter().map(|r| r.status).eq(0..2500), "in order");
        assert_eq!(counts.dropped.load(Ordering::SeqCst), 0);
        assert_eq!(counts.buffered.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn what_overflows_the_outage_buffer_is_counted_as_lost() {
        let (store, counts, mut pending) = down();
        pending.push(record(1));
        pending.flush(&*store).await;
        for _ in 0..MAX_BUFFERED_RECORDS + 2 {
            pending.push(record(2));
        }
        assert_eq!(pending.records.len(), MAX_BUFFERED_RECORDS);
        assert_eq!(pending.outage.map(|(_, lost)| lost), Some(3));
        assert_eq!(counts.dropped.load(Ordering::SeqCst), 3);
        // Still down at shutdown: the rest is lost too, and counted.
        pending.finish(&*store).await;
        assert_eq!(
            counts.dropped.load(Ordering::SeqCst),
            3 + MAX_BUFFERED_RECORDS as u64
        );
    }

    #[tokio::test]
    async fn records_are_written_and_flushed_on_finish() {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let (writer, task) = PullLogWriter::start(store.clone());
        for status in [200, 404, 403] {
            writer.record(PullRecord {
                license: LicenseNumber(3),
                at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
                action: PullAction::Manifest,
                method: "GET".into(),
                repository: "ghcr.io/acme/api".into(),
                reference: "v1".into(),
                status,
                bytes: 10,
            });
        }
        task.finish().await;
        drop(writer);
        let pulls = store.pulls(LicenseNumber(3), 10).await.unwrap();
        assert_eq!(pulls.len(), 3);
    }
}

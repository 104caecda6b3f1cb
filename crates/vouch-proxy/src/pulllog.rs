//! Writing the pull log off the request path: requests queue records on a
//! bounded channel; one task writes them in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{PullLog, PullRecord};

/// Records queued before new ones are dropped (and counted): a few
/// seconds of traffic at the rates measured in bench/proxy.sh.
pub const MAX_QUEUED_RECORDS: usize = 50_000;
/// Records written per transaction.
pub const BATCH_RECORDS: usize = 1_000;
/// Longest a record waits before its batch is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The sending side, cloned into request handlers.
#[derive(Debug, Clone)]
pub struct PullLogWriter {
    tx: mpsc::Sender<PullRecord>,
    dropped: Arc<AtomicU64>,
}

/// The writing task; [`PullLogTask::finish`] flushes what is queued.
#[derive(Debug)]
pub struct PullLogTask {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

async fn write(store: &dyn PullLog, batch: &mut Vec<PullRecord>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.append(batch).await {
        tracing::error!(error = %e, records = batch.len(), "pull log write failed; records lost");
    }
    batch.clear();
}

impl PullLogWriter {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn PullLog>) -> (Self, PullLogTask) {
        let (tx, mut rx) = mpsc::channel::<PullRecord>(MAX_QUEUED_RECORDS);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH_RECORDS);
            let mut stopping = false;
            while !stopping {
                let first = tokio::select! {
                    first = rx.recv() => first,
                    _ = &mut stopped => None,
                };
                let Some(first) = first else { break };
                batch.push(first);
                let deadline = tokio::time::sleep(FLUSH_INTERVAL);
                tokio::pin!(deadline);
                while batch.len() < BATCH_RECORDS {
                    tokio::select! {
                        next = rx.recv() => match next {
                            Some(r) => batch.push(r),
                            None => { stopping = true; break }
                        },
                        () = &mut deadline => break,
                        _ = &mut stopped => { stopping = true; break }
                    }
                }
                write(&*store, &mut batch).await;
            }
            // Drain what is still queued, then stop.
            while let Ok(r) = rx.try_recv() {
                batch.push(r);
                if batch.len() >= BATCH_RECORDS {
                    write(&*store, &mut batch).await;
                }
            }
            write(&*store, &mut batch).await;
        });
        (
            Self {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            PullLogTask { stop, handle },
        )
    }

    /// Queues a record; drops it (counted) when the queue is full.
    pub fn record(&self, record: PullRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
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
    use crate::store::{LicenseNumber, PullAction};

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

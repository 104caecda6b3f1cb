//! `vouch-proxy migrate`: copies the embedded SQLite state into PostgreSQL,
//! for moving from one machine to replicas (issue 8).
//!
//! Everything is copied as it is: apps (allow-lists, referrers mode),
//! channels (empty ones too) and releases, licenses (numbers, ID hashes,
//! creation, expiry and revocation times), tag history (first and last
//! seen), attachments, and the pull log in its order. License IDs are
//! stored as HMAC(key, ID) with the key derived from `secret.key`, which is
//! not in the database: every replica must be given the same `secret.key`
//! the SQLite server used, or no copied license authenticates.
//!
//! The copy is one PostgreSQL transaction: it is seen whole or not at all.
//! The pull log is read from SQLite in pages, so memory stays bounded by
//! the rest of the state plus one page.

use crate::store::StateCounts;
use crate::store::postgres::{ImportError, ImportTarget, PostgresStore};
use crate::store::sqlite::SqliteStore;

/// Pull-log lines read from SQLite and written to PostgreSQL at a time:
/// about 200 KiB in memory, and a handful of round trips per million lines
/// (each page is written in batches of `INSERT_BATCH_ROWS`).
pub const PULL_LOG_PAGE_ROWS: u32 = 10_000;

/// What a migration copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// What the source held.
    pub source: StateCounts,
    /// What the target held before and deleted ([`ImportTarget::ReplaceExisting`]).
    pub replaced: StateCounts,
    /// What the target holds now (equal to `source`, or the copy fails).
    pub copied: StateCounts,
}

/// Why a migration failed; the target is then unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The target refused or the database failed.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The source changed while being copied (a server still writing to
    /// it): what it holds at the end is not what it held at the start.
    #[error(
        "the SQLite state changed while being copied: expected it to still hold {before}, \
         found {after}; stop every vouch-proxy using the SQLite file and run migrate again"
    )]
    SourceChanged {
        /// What the source held when the copy began.
        before: StateCounts,
        /// What it held when the copy ended.
        after: StateCounts,
    },
    /// The source did not change, yet the copy does not hold what it holds
    /// (the target's tables are locked during the copy, so this is a bug).
    #[error(
        "the copy does not match the source: expected {expected}, the target would hold {found}; \
         nothing was committed. This is a bug in vouch-proxy: please report it with this message"
    )]
    Mismatch {
        /// What the source holds.
        expected: StateCounts,
        /// What the copy holds.
        found: StateCounts,
    },
}

/// Copies everything `from` holds into `to`. With [`ImportTarget::Empty`],
/// a target that holds anything is refused ([`ImportError::TargetNotEmpty`]
/// names how many licenses it holds).
pub async fn migrate(
    from: &SqliteStore,
    to: &PostgresStore,
    target: ImportTarget,
) -> Result<MigrationReport, MigrateError> {
    let source = from.counts().await?;
    let snapshot = from.snapshot().await?;
    let mut import = to.begin_import(target).await?;
    let replaced = import.replaced();
    import.state(&snapshot).await?;
    drop(snapshot);
    let mut after = 0;
    loop {
        let page = from.pull_log_page(after, PULL_LOG_PAGE_ROWS).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        let records: Vec<_> = page.into_iter().map(|(_, r)| r).collect();
        import.pulls(&records).await?;
    }
    // Compare before committing: a server still writing to the SQLite file
    // would otherwise leave a copy that silently lacks its last writes.
    // A changed source is the more specific report, so it is checked first.
    let at_end = from.counts().await?;
    if at_end != source {
        return Err(MigrateError::SourceChanged {
            before: source,
            after: at_end,
        });
    }
    let copied = import.counts().await?;
    if copied != source {
        return Err(MigrateError::Mismatch {
            expected: source,
            found: copied,
        });
    }
    import.commit().await?;
    Ok(MigrationReport {
        source,
        replaced,
        copied,
    })
}

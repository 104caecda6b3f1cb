//! Which repository is known to hold which digest.
//!
//! The content cache is keyed by digest alone and shared by every app and
//! upstream, but a registry serves content from a repository only once
//! that repository holds it (distribution-spec: blobs and manifests are
//! addressed by `<name>` *and* digest). Cached bytes are therefore given
//! out for a repository only when that repository is known to hold the
//! digest: the proxy fetched it from there, or the repository's upstream
//! confirmed it with a `HEAD` (issue 14, finding 1: otherwise whoever can
//! publish a manifest into any allowed repository could list any cached
//! digest in it and read it through every license that may pull there).
//!
//! The record lives in memory, per replica, not in the state store: it is
//! a cache of upstream answers, not state. Losing it (restart, a replica
//! that never saw the digest, the map filling up) costs one `HEAD` per
//! repository and digest, never a wrong answer; keeping it in the store
//! would add a write per fetched digest and a schema change for no gain in
//! correctness.

use std::future::Future;
use std::time::Duration;

use crate::memo::{SingleFlight, TtlMap};
use crate::names::{Digest, Repository};
use crate::upstream::UpstreamError;

/// How long a confirmation is trusted. A repository keeps its content
/// until the vendor deletes it there; a day bounds how long a deletion
/// upstream (a layer withdrawn from one repository) goes unnoticed by the
/// cache, at one `HEAD` per repository and digest per day.
pub const HELD_TTL: Duration = Duration::from_secs(24 * 3600);
/// Repository–digest pairs remembered at most (a full map evicts entry by
/// entry, see [`TtlMap`]); ~300 bytes each, ~30 MiB at the bound.
pub const MAX_HELD: usize = 100_000;

type Key = (Repository, Digest);

/// The repositories known to hold each digest, and the confirmations
/// running now (one upstream `HEAD` per pair, however many clients ask).
pub struct Holdings {
    known: TtlMap<Key, ()>,
    confirming: SingleFlight<Key, Result<(), UpstreamError>>,
}

impl std::fmt::Debug for Holdings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Holdings")
    }
}

impl Default for Holdings {
    fn default() -> Self {
        Self {
            known: TtlMap::new(HELD_TTL, MAX_HELD),
            confirming: SingleFlight::default(),
        }
    }
}

impl Holdings {
    /// Whether `repository` is known to hold `digest`.
    pub fn holds(&self, repository: &Repository, digest: &Digest) -> bool {
        self.known
            .get(&(repository.clone(), digest.clone()))
            .is_some()
    }

    /// Records that `repository` holds `digest`: its upstream served or
    /// confirmed it.
    pub fn record(&self, repository: &Repository, digest: &Digest) {
        self.known.insert((repository.clone(), digest.clone()), ());
    }

    /// `Ok` when `repository` holds `digest`: known already, or `ask` (the
    /// upstream's answer, run once for concurrent callers) says so, which
    /// is then recorded. Otherwise why `ask` could not confirm it.
    pub async fn confirm<F>(
        &self,
        repository: &Repository,
        digest: &Digest,
        ask: impl FnOnce() -> F,
    ) -> Result<(), UpstreamError>
    where
        F: Future<Output = Result<(), UpstreamError>> + Send + 'static,
    {
        if self.holds(repository, digest) {
            return Ok(());
        }
        let answer = self
            .confirming
            .run((repository.clone(), digest.clone()), ask)
            .await;
        if answer.is_ok() {
            self.record(repository, digest);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn digest(c: &str) -> Digest {
        Digest::parse(&format!("sha256:{}", c.repeat(64))).unwrap()
    }

    #[tokio::test]
    async fn holdings_are_per_repository_and_only_a_yes_is_remembered() {
        let holdings = Holdings::default();
        let api = Repository::parse("up.test/acme/api").unwrap();
        let mirror = Repository::parse("up2.test/acme/api").unwrap();
        let d = digest("a");
        holdings.record(&api, &d);
        assert!(holdings.holds(&api, &d));
        assert!(!holdings.holds(&mirror, &d), "another upstream");
        assert!(!holdings.holds(&api, &digest("b")), "another digest");

        let asked = Arc::new(AtomicUsize::new(0));
        let ask = |answer: Result<(), UpstreamError>| {
            let asked = asked.clone();
            move || async move {
                asked.fetch_add(1, Ordering::SeqCst);
                answer
            }
        };
        let no = UpstreamError::BadResponse {
            upstream: "up2.test".into(),
            reason: "answered 500".into(),
        };
        assert!(holdings.confirm(&mirror, &d, ask(Err(no))).await.is_err());
        assert!(!holdings.holds(&mirror, &d), "a failure is not recorded");
        holdings.confirm(&mirror, &d, ask(Ok(()))).await.unwrap();
        holdings.confirm(&mirror, &d, ask(Ok(()))).await.unwrap();
        holdings.confirm(&api, &d, ask(Ok(()))).await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2, "known pairs are not asked");
    }
}

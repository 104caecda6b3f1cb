//! What a client fetched by content, kept for the rest of its life when the
//! caller asks ([`RegistryClient::remembering_fetched`]): `vouch release
//! save` verifies a release and then copies it, and the copy would otherwise
//! ask the registry again for every manifest and signature the verification
//! already read (31 requests per image became 19 in the 100-image
//! benchmark, docs/benchmarks.md).
//!
//! Only what is named by its digest is kept, under the repository it was
//! read from and the SHA-256 its bytes hash to: a manifest (fetched by tag or
//! digest) and a small blob read whole ([`RegistryClient::blob`]), never a
//! layer streamed to disk. Content-addressed bytes cannot go stale, so an
//! answer from here is the answer the registry would give; tags are always
//! asked again.

use std::collections::HashMap;
use std::sync::Mutex;

use vouch_oci_types::{Repository, Sha256Digest};

use crate::client::{Fetched, RegistryClient};

/// Manifests and blobs by repository and digest, up to a byte budget.
#[derive(Debug)]
pub(crate) struct FetchMemo {
    limit: u64,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    bytes: u64,
    fetched: HashMap<(Repository, Sha256Digest), Fetched>,
}

impl FetchMemo {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            kept: Mutex::default(),
        }
    }

    /// What was kept for `digest` of `repo`.
    pub(crate) fn get(&self, repo: &Repository, digest: &Sha256Digest) -> Option<Fetched> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.fetched.get(&(repo.clone(), *digest)).cloned()
    }

    /// Keeps `fetched` (under the digest its bytes hash to) while the budget
    /// allows; past it, nothing more is kept.
    pub(crate) fn keep(&self, repo: &Repository, fetched: &Fetched) {
        let size = fetched.bytes.len() as u64;
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.bytes + size > self.limit {
            return;
        }
        let key = (repo.clone(), fetched.digest);
        if !kept.fetched.contains_key(&key) {
            kept.bytes += size;
            kept.fetched.insert(key, fetched.clone());
        }
    }
}

impl RegistryClient {
    /// This client (and its clones from now on) keeps every manifest and
    /// every blob read whole that it fetches, up to `limit` bytes in all, and
    /// answers a later request for the same digest of the same repository
    /// from memory (see the module documentation). For a command that reads
    /// the same content twice: `vouch release save`.
    pub fn remembering_fetched(mut self, limit: u64) -> Self {
        self.memo = Some(std::sync::Arc::new(FetchMemo::new(limit)));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(bytes: &[u8]) -> Fetched {
        Fetched {
            bytes: bytes.to_vec(),
            media_type: "application/json".into(),
            digest: Sha256Digest::of(bytes),
        }
    }

    fn repo(path: &str) -> Repository {
        Repository::new(
            vouch_oci_types::Registry::new("registry.example").unwrap(),
            path,
        )
        .unwrap()
    }

    #[test]
    fn keeps_by_repository_and_digest() {
        let memo = FetchMemo::new(1024);
        let a = fetched(b"manifest a");
        memo.keep(&repo("acme/a"), &a);
        let got = memo.get(&repo("acme/a"), &a.digest).unwrap();
        assert_eq!(got.bytes, a.bytes);
        assert_eq!(got.media_type, a.media_type);
        // The same content read from another repository is not known there.
        assert!(memo.get(&repo("acme/b"), &a.digest).is_none());
        assert!(
            memo.get(&repo("acme/a"), &Sha256Digest::of(b"other"))
                .is_none()
        );
    }

    #[test]
    fn keeps_nothing_past_its_budget() {
        let memo = FetchMemo::new(10);
        let small = fetched(b"12345");
        let large = fetched(b"123456");
        memo.keep(&repo("acme/a"), &small);
        memo.keep(&repo("acme/a"), &large);
        assert!(memo.get(&repo("acme/a"), &small.digest).is_some());
        assert!(memo.get(&repo("acme/a"), &large.digest).is_none());
        // Keeping the same thing twice does not count it twice.
        memo.keep(&repo("acme/a"), &small);
        let tiny = fetched(b"123");
        memo.keep(&repo("acme/a"), &tiny);
        assert!(memo.get(&repo("acme/a"), &tiny.digest).is_some());
    }
}

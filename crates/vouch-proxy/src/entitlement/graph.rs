//! The entitlement graph: whether a digest is reachable from a license's
//! roots (see [`crate::entitlement`]). The search is pure: what it needs
//! to know about manifests, tags and attachments comes through
//! [`ManifestGraph`], which the server implements over its caches, state
//! store and upstream, and tests implement in memory.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;

use super::{Links, MAX_MANIFESTS_PER_CHECK};
use crate::names::{Digest, Tag};

/// What the search reads about one repository's content.
pub trait ManifestGraph {
    /// Why an answer could not be had.
    type Error;

    /// The digests `tag` is recorded to have pointed to.
    fn recorded_tag_digests(
        &self,
        tag: &Tag,
    ) -> impl Future<Output = Result<Vec<Digest>, Self::Error>> + Send;

    /// What `tag` points to now (`None`: the upstream has no such tag).
    fn current_tag_digest(
        &self,
        tag: &Tag,
    ) -> impl Future<Output = Result<Option<Digest>, Self::Error>> + Send;

    /// What `manifest` links to (nothing, for a manifest that no longer
    /// exists or whose links cannot be read).
    fn links(
        &self,
        manifest: &Digest,
    ) -> impl Future<Output = Result<Arc<Links>, Self::Error>> + Send;

    /// The artefacts (signatures, attestations) recorded as attached to
    /// `manifest`.
    fn attachments(
        &self,
        manifest: &Digest,
    ) -> impl Future<Output = Result<Vec<Digest>, Self::Error>> + Send;
}

/// The answer of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The target is reachable from a root.
    Reachable,
    /// Every manifest reachable from the roots was read; the target is not
    /// among them or their links.
    Unreachable,
    /// The search stopped after [`MAX_MANIFESTS_PER_CHECK`] manifests
    /// without finding the target: not entitled.
    TooLarge,
}

/// Whether `target` is reachable from `roots` (pinned digests) and the
/// digests of `tags`: first through what is recorded of the tags; only if
/// that fails are the tags' current digests asked for.
pub async fn reach<G: ManifestGraph + Sync>(
    graph: &G,
    mut roots: Vec<Digest>,
    tags: &[Tag],
    target: &Digest,
) -> Result<Reach, G::Error> {
    for tag in tags {
        roots.extend(graph.recorded_tag_digests(tag).await?);
    }
    let mut seen = HashSet::new();
    match search(graph, roots, target, &mut seen).await? {
        Reach::Unreachable => {}
        decided => return Ok(decided),
    }
    let mut fresh = Vec::new();
    for tag in tags {
        fresh.extend(graph.current_tag_digest(tag).await?);
    }
    search(graph, fresh, target, &mut seen).await
}

/// Breadth-first search from `roots` through manifest links and recorded
/// attachments, sharing `seen` across calls.
async fn search<G: ManifestGraph + Sync>(
    graph: &G,
    roots: Vec<Digest>,
    target: &Digest,
    seen: &mut HashSet<Digest>,
) -> Result<Reach, G::Error> {
    let mut queue: VecDeque<Digest> = roots.into();
    while let Some(manifest) = queue.pop_front() {
        if manifest == *target {
            return Ok(Reach::Reachable);
        }
        if !seen.insert(manifest.clone()) {
            continue;
        }
        if seen.len() > MAX_MANIFESTS_PER_CHECK {
            return Ok(Reach::TooLarge);
        }
        let links = graph.links(&manifest).await?;
        if links.blobs.contains(target) || links.manifests.contains(target) {
            return Ok(Reach::Reachable);
        }
        queue.extend(links.manifests.iter().cloned());
        queue.extend(graph.attachments(&manifest).await?);
    }
    Ok(Reach::Unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::sync::Mutex;

    /// A repository in memory.
    #[derive(Default)]
    struct Memory {
        links: HashMap<Digest, Links>,
        attachments: HashMap<Digest, Vec<Digest>>,
        recorded: HashMap<Tag, Vec<Digest>>,
        current: HashMap<Tag, Digest>,
        /// Tags whose current digest was asked for.
        asked: Mutex<Vec<Tag>>,
    }

    impl ManifestGraph for Memory {
        type Error = Infallible;

        async fn recorded_tag_digests(&self, tag: &Tag) -> Result<Vec<Digest>, Infallible> {
            Ok(self.recorded.get(tag).cloned().unwrap_or_default())
        }

        async fn current_tag_digest(&self, tag: &Tag) -> Result<Option<Digest>, Infallible> {
            crate::memo::lock(&self.asked).push(tag.clone());
            Ok(self.current.get(tag).cloned())
        }

        async fn links(&self, manifest: &Digest) -> Result<Arc<Links>, Infallible> {
            Ok(Arc::new(
                self.links.get(manifest).cloned().unwrap_or_default(),
            ))
        }

        async fn attachments(&self, manifest: &Digest) -> Result<Vec<Digest>, Infallible> {
            Ok(self.attachments.get(manifest).cloned().unwrap_or_default())
        }
    }

    fn d(n: u32) -> Digest {
        Digest::sha256_of(&n.to_be_bytes())
    }

    fn tag(t: &str) -> Tag {
        Tag::new(t).unwrap()
    }

    /// index 1 → manifests 2, 3; 2 → config 20, layer 21; signature 9
    /// attached to 1, linking blob 90.
    fn image() -> Memory {
        let mut m = Memory::default();
        let links = |manifests: Vec<Digest>, blobs: Vec<Digest>| Links { manifests, blobs };
        m.links.insert(d(1), links(vec![d(2), d(3)], vec![]));
        m.links.insert(d(2), links(vec![], vec![d(20), d(21)]));
        m.links.insert(d(9), links(vec![], vec![d(90)]));
        m.attachments.insert(d(1), vec![d(9)]);
        m
    }

    async fn decide(graph: &Memory, roots: Vec<Digest>, tags: &[Tag], target: u32) -> Reach {
        let Ok(reach) = reach(graph, roots, tags, &d(target)).await;
        reach
    }

    #[tokio::test]
    async fn reaches_children_blobs_and_attachments_of_a_pinned_root() {
        let graph = image();
        for target in [1, 2, 3, 20, 21, 9, 90] {
            assert_eq!(
                decide(&graph, vec![d(1)], &[], target).await,
                Reach::Reachable,
                "{target}"
            );
        }
        assert_eq!(decide(&graph, vec![d(2)], &[], 3).await, Reach::Unreachable);
        assert_eq!(decide(&graph, vec![d(1)], &[], 4).await, Reach::Unreachable);
        assert_eq!(decide(&graph, vec![], &[], 1).await, Reach::Unreachable);
    }

    #[tokio::test]
    async fn a_tag_is_resolved_afresh_only_when_its_history_does_not_reach() {
        let mut graph = image();
        graph.recorded.insert(tag("1.0"), vec![d(2)]);
        graph.current.insert(tag("1.0"), d(1));
        let tags = [tag("1.0")];
        assert_eq!(decide(&graph, vec![], &tags, 21).await, Reach::Reachable);
        assert!(
            crate::memo::lock(&graph.asked).is_empty(),
            "history sufficed"
        );
        assert_eq!(decide(&graph, vec![], &tags, 90).await, Reach::Reachable);
        assert_eq!(*crate::memo::lock(&graph.asked), tags.to_vec());
        graph.current.clear();
        assert_eq!(decide(&graph, vec![], &tags, 90).await, Reach::Unreachable);
    }

    #[tokio::test]
    async fn the_search_stops_at_its_bound() {
        let mut graph = Memory::default();
        let chain = MAX_MANIFESTS_PER_CHECK as u32 + 10;
        for n in 0..chain {
            graph.links.insert(
                d(n),
                Links {
                    manifests: vec![d(n + 1)],
                    blobs: vec![],
                },
            );
        }
        let far = chain + 1;
        assert_eq!(decide(&graph, vec![d(0)], &[], far).await, Reach::TooLarge);
        assert_eq!(decide(&graph, vec![d(0)], &[], 100).await, Reach::Reachable);
    }

    #[tokio::test]
    async fn cycles_end() {
        let mut graph = Memory::default();
        let to = |n| Links {
            manifests: vec![d(n)],
            blobs: vec![],
        };
        graph.links.insert(d(1), to(2));
        graph.links.insert(d(2), to(1));
        graph.attachments.insert(d(2), vec![d(1)]);
        assert_eq!(decide(&graph, vec![d(1)], &[], 3).await, Reach::Unreachable);
    }
}

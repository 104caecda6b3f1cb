//! Loading a saved release into a private registry (`vouch release load`):
//! every image, platform and attachment of the layout pushed under one
//! prefix, and the policy rewritten to the mirror's names.
//!
//! Where each repository goes (docs/air-gap.md, "Load it"): a signed image
//! `<registry>/<name>` of the policy goes to `<to>/<name>`; a third-party
//! image `<host>/<path>` to `<to>/<path>`, unless a `--map SOURCE=TARGET`
//! exception's SOURCE is its repository or a parent of it (then SOURCE is
//! replaced by TARGET). Blobs are pushed after a `HEAD` (mounted from
//! another repository of the mirror that already has them), manifests by
//! digest, children first, then tags: the version (or a third-party image's
//! tag) and the legacy `sha256-<hex>.sig`/`.att`/`.sbom` tags. A registry
//! that answers a referrer's push without `OCI-Subject` has no referrers
//! API: the referrers are then also listed in the tag schema
//! (`sha256-<hex>` indexes). Everything is idempotent: a second load
//! uploads nothing and rewrites the same manifests.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use vouch_oci::oci::{Descriptor, ImageManifest, MAX_MANIFEST_SIZE, OCI_INDEX};
use vouch_oci::{
    LayoutEntry, OciError, OciLayout, PushedBlob, Reference, RegistryClient, Repository,
    Sha256Digest, Tag,
};

use crate::layout::{
    IMAGE_ANNOTATION, ROLE_ANNOTATION, Refers, Role, SUBJECT_ANNOTATION, refers_to,
};
use crate::policy::ReleasePolicy;

/// Where a saved release's repositories go in the mirror.
#[derive(Debug, Clone)]
pub struct Mapping {
    to: String,
    exceptions: Vec<(String, String)>,
}

/// Why a release could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// `--to` or a `--map` target is not a repository prefix.
    #[error("{what} `{given}` is not a registry and repository prefix: {reason}")]
    BadTarget {
        /// Which argument.
        what: &'static str,
        /// What was given.
        given: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The mirror refused or failed a push, or served a wrong answer.
    #[error("loading {image} into {repository}: {source}")]
    Registry {
        /// The policy's name of the image.
        image: String,
        /// The mirror repository.
        repository: String,
        /// What happened.
        #[source]
        source: Box<OciError>,
    },
    /// The layout does not hold what its index says (it is checked before
    /// a load; this is a layout changed during one).
    #[error("{0}")]
    Layout(String),
    /// The policy could not be rewritten to the mirror's names.
    #[error("rewriting the policy: {0}")]
    Policy(String),
}

impl LoadError {
    /// Whether this is a registry access failure (nothing was found wrong).
    pub fn is_access_failure(&self) -> bool {
        matches!(self, Self::Registry { source, .. } if source.is_access_failure())
    }
}

impl Mapping {
    /// Repositories go under `to` (`registry.internal/prefix`), except those
    /// under a `(source, target)` of `exceptions`.
    pub fn new(to: &str, exceptions: Vec<(String, String)>) -> Result<Self, LoadError> {
        let to = to.trim_end_matches('/').to_string();
        check_prefix("--to", &to)?;
        for (_, target) in &exceptions {
            check_prefix("--map target", target)?;
        }
        Ok(Self { to, exceptions })
    }

    /// The mirror's registry base path: the rewritten policy's `registry`.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// The mirror repository of the policy's signed image `name`.
    pub fn signed(&self, name: &str) -> String {
        format!("{}/{name}", self.to)
    }

    /// The mirror repository of a third-party image's repository `source`.
    pub fn third_party(&self, source: &Repository) -> String {
        let source = source.to_string();
        for (from, to) in &self.exceptions {
            if let Some(rest) = source.strip_prefix(from.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{to}{rest}");
            }
        }
        let path = source.split_once('/').map_or(source.as_str(), |(_, p)| p);
        format!("{}/{path}", self.to)
    }
}

/// Refuses a prefix that does not make a valid repository.
fn check_prefix(what: &'static str, prefix: &str) -> Result<(), LoadError> {
    format!("{prefix}/x:v")
        .parse::<Reference>()
        .map(drop)
        .map_err(|e| LoadError::BadTarget {
            what,
            given: prefix.to_string(),
            reason: e.to_string(),
        })
}

/// The reference a third-party image has in the mirror: its repository
/// mapped, its tag and digest kept.
fn mirrored_reference(mapping: &Mapping, reference: &str) -> Result<String, LoadError> {
    let parsed: Reference = reference
        .parse()
        .map_err(|e: vouch_oci::ReferenceError| LoadError::Policy(format!("{reference}: {e}")))?;
    let mut text = mapping.third_party(parsed.repository());
    if let Some(tag) = parsed.tag() {
        text.push(':');
        text.push_str(tag.as_str());
    }
    if let Some(digest) = parsed.digest() {
        text.push('@');
        text.push_str(&digest.to_string());
    }
    Ok(text)
}

/// `policy_toml` with `registry` set to the mirror's and every third-party
/// reference mapped (comments and layout of the file are not kept).
pub fn rewrite_policy(policy_toml: &str, mapping: &Mapping) -> Result<String, LoadError> {
    let mut table: toml::Table = policy_toml
        .parse()
        .map_err(|e: toml::de::Error| LoadError::Policy(e.to_string()))?;
    table.insert("registry".into(), toml::Value::String(mapping.to.clone()));
    if let Some(toml::Value::Array(list)) = table.get_mut("third_party") {
        for item in list.iter_mut() {
            if let Some(toml::Value::String(reference)) =
                item.as_table_mut().and_then(|t| t.get_mut("reference"))
            {
                *reference = mirrored_reference(mapping, reference)?;
            }
        }
    }
    toml::to_string(&table).map_err(|e| LoadError::Policy(e.to_string()))
}

/// How referrers were made visible in the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersMode {
    /// No referrer was pushed.
    None,
    /// The mirror indexed them (`OCI-Subject`): its referrers API lists them.
    Api,
    /// The mirror has no referrers API: they are listed in the tag schema.
    TagSchema,
}

/// A progress event of a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadProgress {
    /// An image (with its attachments) was loaded.
    ImageLoaded {
        /// The policy's name for it.
        name: String,
        /// Its mirror repository.
        repository: String,
        /// Images loaded so far.
        done: usize,
        /// Images to load.
        total: usize,
    },
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Images loaded.
    pub images: usize,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs mounted from another repository of the mirror.
    pub blobs_mounted: usize,
    /// Blobs the mirror had already.
    pub blobs_present: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Manifests pushed (by digest or tag).
    pub manifests: usize,
    /// How referrers were made visible.
    pub referrers: ReferrersMode,
}

/// One image of the layout to load, with its attachments.
#[derive(Debug, Clone)]
struct Job {
    name: String,
    target: Repository,
    tag: Option<String>,
    image: LayoutEntry,
    attachments: Vec<LayoutEntry>,
}

/// What the tasks of a load share.
#[derive(Clone)]
struct Loader {
    client: RegistryClient,
    layout: OciLayout,
    /// The mirror repository each blob was pushed to first (to mount from).
    pushed: Arc<Mutex<HashMap<Sha256Digest, Repository>>>,
    /// Blobs this load already put in (or found in) a repository: asked
    /// for again there (the empty config every referrer shares), they need
    /// no request.
    in_place: Arc<Mutex<HashSet<(Repository, Sha256Digest)>>>,
    stats: Arc<Mutex<LoadSummary>>,
}

/// Loads every image of `layout` (checked and verified before: see
/// [`crate::layout::check_saved_release`]) into the mirror `mapping` names,
/// at most `concurrency` images at once. The first failure stops it.
pub async fn load_release(
    client: &RegistryClient,
    layout: &OciLayout,
    policy: &ReleasePolicy,
    version: &str,
    mapping: &Mapping,
    concurrency: usize,
    progress: impl Fn(LoadProgress) + Send + Sync + 'static,
) -> Result<LoadSummary, LoadError> {
    let jobs = jobs(layout, policy, version, mapping)?;
    let loader = Loader {
        client: client.clone(),
        layout: layout.clone(),
        pushed: Arc::default(),
        in_place: Arc::default(),
        stats: Arc::new(Mutex::new(LoadSummary {
            images: 0,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_uploaded: 0,
            manifests: 0,
            referrers: ReferrersMode::None,
        })),
    };
    let total = jobs.len();
    let mut pending = jobs.into_iter();
    let mut tasks = JoinSet::new();
    let mut done = 0;
    loop {
        while tasks.len() < concurrency.max(1) {
            let Some(job) = pending.next() else { break };
            let loader = loader.clone();
            tasks.spawn(async move {
                let result = loader.image(&job).await;
                (job, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (job, result) =
            joined.map_err(|e| LoadError::Layout(format!("internal error: {e}")))?;
        result.map_err(|source| LoadError::Registry {
            image: job.name.clone(),
            repository: job.target.to_string(),
            source: Box::new(source),
        })?;
        done += 1;
        progress(LoadProgress::ImageLoaded {
            name: job.name,
            repository: job.target.to_string(),
            done,
            total,
        });
    }
    let mut summary = lock(&loader.stats).clone();
    summary.images = done;
    Ok(summary)
}

/// The images of the layout, each with its mirror repository, tag and
/// attachments.
fn jobs(
    layout: &OciLayout,
    policy: &ReleasePolicy,
    version: &str,
    mapping: &Mapping,
) -> Result<Vec<Job>, LoadError> {
    let entries = &layout.index().entries;
    let role = |e: &LayoutEntry| e.annotation(ROLE_ANNOTATION).and_then(Role::parse);
    let mut jobs = Vec::new();
    for image in entries.iter().filter(|e| role(e) == Some(Role::Image)) {
        let name = image
            .annotation(IMAGE_ANNOTATION)
            .unwrap_or_default()
            .to_string();
        let (target, tag) = if policy.images.iter().any(|i| i.name == name) {
            (mapping.signed(&name), Some(version.to_string()))
        } else if let Some(t) = policy.third_party.iter().find(|t| t.name == name) {
            let parsed: Reference = t
                .reference
                .parse()
                .map_err(|e: vouch_oci::ReferenceError| LoadError::Policy(e.to_string()))?;
            (
                mapping.third_party(parsed.repository()),
                parsed.tag().map(|t| t.as_str().to_string()),
            )
        } else {
            return Err(LoadError::Layout(format!(
                "image entry {} names `{name}`, which the policy does not",
                image.digest
            )));
        };
        let target: Reference =
            format!("{target}:x")
                .parse()
                .map_err(|e: vouch_oci::ReferenceError| LoadError::BadTarget {
                    what: "mirror repository",
                    given: target.clone(),
                    reason: e.to_string(),
                })?;
        let attachments = entries
            .iter()
            .filter(|e| {
                !matches!(
                    role(e),
                    Some(Role::Image | Role::TrustedRoot | Role::Policy)
                )
            })
            .filter(|e| e.annotation(IMAGE_ANNOTATION) == Some(name.as_str()))
            .cloned()
            .collect();
        jobs.push(Job {
            name,
            target: target.repository().clone(),
            tag,
            image: image.clone(),
            attachments,
        });
    }
    Ok(jobs)
}

/// A boxed future (`tree` recurses into an index's manifests).
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Loader {
    fn count(&self, update: impl FnOnce(&mut LoadSummary)) {
        update(&mut lock(&self.stats));
    }

    /// The manifest `digest` as the layout holds it, and its media type.
    fn manifest(&self, digest: &Sha256Digest) -> Result<(Vec<u8>, String), OciError> {
        let bytes = self
            .layout
            .blob(&(*digest).into(), MAX_MANIFEST_SIZE, "a manifest")?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            .or_else(|| {
                self.layout
                    .index()
                    .entries
                    .iter()
                    .find(|e| e.digest == (*digest).into())
                    .map(|e| e.descriptor.media_type.clone())
            })
            .unwrap_or_else(|| vouch_oci::oci::OCI_MANIFEST.to_string());
        Ok((bytes, media_type))
    }

    /// Loads one image, then its attachments, then the tag schema for
    /// referrers the mirror did not index.
    async fn image(&self, job: &Job) -> Result<(), OciError> {
        let digest = sha256_of(&job.image)?;
        self.tree(&job.target, digest, 0).await?;
        if let Some(tag) = &job.tag {
            let (bytes, media_type) = self.manifest(&digest)?;
            self.client
                .push_manifest(&job.target, tag, &media_type, &bytes)
                .await?;
            self.count(|s| s.manifests += 1);
        }
        let mut unindexed: BTreeMap<Sha256Digest, Vec<Descriptor>> = BTreeMap::new();
        for entry in &job.attachments {
            let attachment = sha256_of(entry)?;
            let indexed = self.tree(&job.target, attachment, 0).await?;
            let role = entry.annotation(ROLE_ANNOTATION).and_then(Role::parse);
            let subject: Option<Sha256Digest> = entry
                .annotation(SUBJECT_ANNOTATION)
                .and_then(|s| s.parse().ok());
            match (role, subject) {
                (Some(Role::Referrer), Some(subject)) => {
                    let mode = if indexed {
                        ReferrersMode::Api
                    } else {
                        unindexed
                            .entry(subject)
                            .or_default()
                            .push(self.referrer_descriptor(&attachment)?);
                        ReferrersMode::TagSchema
                    };
                    self.count(|s| {
                        if s.referrers != ReferrersMode::TagSchema {
                            s.referrers = mode;
                        }
                    });
                }
                (Some(role), Some(subject)) => {
                    let Some(suffix) = role.legacy_suffix() else {
                        continue;
                    };
                    let tag = Tag::for_digest(&subject, suffix);
                    let (bytes, media_type) = self.manifest(&attachment)?;
                    self.client
                        .push_manifest(&job.target, tag.as_str(), &media_type, &bytes)
                        .await?;
                    self.count(|s| s.manifests += 1);
                }
                _ => {}
            }
        }
        for (subject, descriptors) in unindexed {
            self.tag_schema(&job.target, &subject, descriptors).await?;
        }
        Ok(())
    }

    /// A referrer's descriptor as the referrers API lists it: its artifact
    /// type (else its config's media type) and its own annotations.
    fn referrer_descriptor(&self, digest: &Sha256Digest) -> Result<Descriptor, OciError> {
        let (bytes, media_type) = self.manifest(digest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| OciError::Malformed {
                what: format!("referrer {digest}"),
                reason: e.to_string(),
            })?;
        Ok(Descriptor {
            media_type,
            digest: digest.to_string(),
            size: bytes.len() as u64,
            artifact_type: manifest
                .artifact_type
                .clone()
                .or(Some(manifest.config.media_type.clone())),
            annotations: manifest.annotations,
            platform: None,
        })
    }

    /// Adds `descriptors` to the referrers tag-schema index `sha256-<hex>`
    /// of `subject` in `repo` (keeping what it lists already).
    async fn tag_schema(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        descriptors: Vec<Descriptor>,
    ) -> Result<(), OciError> {
        let tag = Tag::for_digest(subject, "");
        let tag = tag.as_str();
        let mut manifests: Vec<Descriptor> =
            match self.client.manifest(repo, tag, &[OCI_INDEX]).await? {
                Some(existing) => {
                    serde_json::from_slice::<vouch_oci::oci::ImageIndex>(&existing.bytes)
                        .map(|i| i.manifests)
                        .unwrap_or_default()
                }
                None => Vec::new(),
            };
        for descriptor in descriptors {
            if !manifests.iter().any(|d| d.digest == descriptor.digest) {
                manifests.push(descriptor);
            }
        }
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        self.client
            .push_manifest(repo, tag, OCI_INDEX, &bytes)
            .await?;
        self.count(|s| s.manifests += 1);
        Ok(())
    }

    /// Pushes manifest `digest` and everything it refers to into `repo`,
    /// children first; returns whether the mirror indexed its subject.
    fn tree<'a>(
        &'a self,
        repo: &'a Repository,
        digest: Sha256Digest,
        depth: usize,
    ) -> Boxed<'a, Result<bool, OciError>> {
        Box::pin(async move {
            let (bytes, media_type) = self.manifest(&digest)?;
            let refers = refers_to(&bytes, depth).map_err(|reason| OciError::Malformed {
                what: format!("manifest {digest}"),
                reason,
            })?;
            match refers {
                Refers::Manifests(list) => {
                    for child in &list {
                        let child = descriptor_digest(child)?;
                        self.tree(repo, child, depth + 1).await?;
                    }
                }
                Refers::Blobs(list) => {
                    for blob in &list {
                        self.blob(repo, blob).await?;
                    }
                }
            }
            let pushed = self
                .client
                .push_manifest(repo, &digest.to_string(), &media_type, &bytes)
                .await?;
            self.count(|s| s.manifests += 1);
            Ok(pushed.subject_indexed)
        })
    }

    /// Pushes the blob `descriptor` names, mounted from the first mirror
    /// repository it went to when there is one.
    async fn blob(&self, repo: &Repository, descriptor: &Descriptor) -> Result<(), OciError> {
        let (digest, size) = (&descriptor_digest(descriptor)?, descriptor.size);
        let place = (repo.clone(), *digest);
        if lock(&self.in_place).contains(&place) {
            self.count(|s| s.blobs_present += 1);
            return Ok(());
        }
        let from = lock(&self.pushed)
            .get(digest)
            .filter(|r| *r != repo)
            .cloned();
        let file: PathBuf = self.layout.root().join("blobs/sha256").join(digest.hex());
        let pushed = self
            .client
            .push_blob(repo, digest, size, &file, from.as_ref(), &|_| {})
            .await?;
        self.count(|s| match pushed {
            PushedBlob::AlreadyThere => s.blobs_present += 1,
            PushedBlob::Mounted => s.blobs_mounted += 1,
            PushedBlob::Uploaded(n) => {
                s.blobs_uploaded += 1;
                s.bytes_uploaded += n;
            }
        });
        lock(&self.pushed)
            .entry(*digest)
            .or_insert_with(|| repo.clone());
        lock(&self.in_place).insert(place);
        Ok(())
    }
}

/// The value behind `mutex`, even if a task panicked holding it (every
/// value here is a plain record, consistent after each statement).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn sha256_of(entry: &LayoutEntry) -> Result<Sha256Digest, OciError> {
    entry.digest.as_sha256().ok_or_else(|| OciError::Malformed {
        what: "index.json entry".into(),
        reason: format!("{} is not SHA-256", entry.digest),
    })
}

fn descriptor_digest(descriptor: &Descriptor) -> Result<Sha256Digest, OciError> {
    descriptor.sha256().map_err(|e| OciError::Malformed {
        what: format!("descriptor {}", descriptor.digest),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(text: &str) -> Repository {
        format!("{text}:x")
            .parse::<Reference>()
            .unwrap()
            .repository()
            .clone()
    }

    #[test]
    fn repositories_go_under_the_prefix_unless_an_exception_names_them() {
        let mapping = Mapping::new(
            "registry.internal/mirror/",
            vec![(
                "docker.io/library/envoy".into(),
                "registry.internal/base/envoy".into(),
            )],
        )
        .unwrap();
        assert_eq!(mapping.to(), "registry.internal/mirror");
        assert_eq!(
            mapping.signed("operator"),
            "registry.internal/mirror/operator"
        );
        assert_eq!(
            mapping.third_party(&repo("quay.io/jetstack/cert-manager")),
            "registry.internal/mirror/jetstack/cert-manager"
        );
        assert_eq!(
            mapping.third_party(&repo("docker.io/library/envoy")),
            "registry.internal/base/envoy"
        );
        // A prefix matches whole components only.
        assert_eq!(
            mapping.third_party(&repo("docker.io/library/envoyproxy")),
            "registry.internal/mirror/library/envoyproxy"
        );
        assert!(matches!(
            Mapping::new("Registry Internal", Vec::new()),
            Err(LoadError::BadTarget { what: "--to", .. })
        ));
        assert!(matches!(
            Mapping::new("r.internal", vec![("a".into(), "../x".into())]),
            Err(LoadError::BadTarget { .. })
        ));
    }

    #[test]
    fn the_rewritten_policy_names_the_mirror_and_keeps_the_rest() {
        let mapping = Mapping::new("r.internal/m", Vec::new()).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let text = format!(
            "registry = \"vendor.example/acme\"\n[identity]\nsubject = \"s\"\nissuer = \"i\"\n\
             [[image]]\nname = \"operator\"\n[[third_party]]\nname = \"envoy\"\n\
             reference = \"docker.io/envoyproxy/envoy:v1.30@{digest}\"\ncategory = \"upstream\"\n"
        );
        let rewritten = rewrite_policy(&text, &mapping).unwrap();
        let policy = ReleasePolicy::from_toml(&rewritten).unwrap();
        assert_eq!(policy.registry, "r.internal/m");
        assert_eq!(policy.images[0].name, "operator");
        assert_eq!(
            policy.third_party[0].reference,
            format!("r.internal/m/envoyproxy/envoy:v1.30@{digest}")
        );
    }
}

//! Saving a verified release into an OCI image layout (`vouch release
//! save`): every image at the digest that verified (every platform of an
//! index), everything attached to it (referrers, legacy `.sig`/`.att`/
//! `.sbom` manifests) with their blobs, the trusted root and the policy;
//! then `index.json`, annotated as [`crate::layout`] describes, written
//! last. Blobs stream into the layout (never a whole layer in memory) and a
//! blob already there whole is not fetched again, so an interrupted save
//! resumes where it stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::task::JoinSet;
use vouch_image::Candidate;
use vouch_oci::oci::{Descriptor, MANIFEST_ACCEPT, OCI_EMPTY, OCI_MANIFEST};
use vouch_oci::{
    Copied, Digest, LayoutEntry, LayoutError, LayoutIndex, LayoutWriter, OciError,
    REF_NAME_ANNOTATION, Reference, RegistryClient, Repository, Sha256Digest, Tag,
};

use crate::layout::{
    ATTACHMENTS_ANNOTATION, IMAGE_ANNOTATION, MAX_INDEX_DEPTH, POLICY_ANNOTATION,
    POLICY_MEDIA_TYPE, ROLE_ANNOTATION, Refers, Role, SIGNER_ANNOTATION, SUBJECT_ANNOTATION,
    TITLE_ANNOTATION, TRUSTED_ROOT_ANNOTATION, TRUSTED_ROOT_MEDIA_TYPE, TUF_EXPORT_MEDIA_TYPE,
    VERIFIED_ANNOTATION, VERSION_ANNOTATION, refers_to,
};
use crate::verify::{ImageRow, ReleaseReport};

/// The legacy cosign tags looked for on every saved image and platform.
const LEGACY_ROLES: [Role; 3] = [Role::Signatures, Role::Attestations, Role::Sbom];

/// Whether the release verified before it was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// It verified: what was saved is what verified.
    Verified,
    /// `--no-verify`: saved as found; the layout says so.
    NotVerified,
}

/// What to save.
#[derive(Debug, Clone, Copy)]
pub struct SaveInputs<'a> {
    /// The release verification whose rows say which digests to save.
    pub report: &'a ReleaseReport,
    /// The release policy, as its file reads (saved as is).
    pub policy_toml: &'a [u8],
    /// The `trusted_root.json` the release was verified with.
    pub trusted_root_json: &'a [u8],
    /// Whether the report is a pass.
    pub verification: Verification,
    /// The files of a `vouch trust export` that prove the trusted root
    /// (its path in the export, its bytes), when it came through TUF.
    pub tuf_export: Option<&'a [(String, Vec<u8>)]>,
    /// Images saved at once (at least 1).
    pub concurrency: usize,
}

/// A progress event of a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveProgress {
    /// An image (with its attachments) was saved.
    ImageSaved {
        /// The policy's name for it.
        name: String,
        /// Images saved so far.
        done: usize,
        /// Images to save.
        total: usize,
    },
    /// Bytes arrived from the registry.
    Bytes {
        /// Bytes downloaded so far, in all.
        fetched: u64,
    },
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveSummary {
    /// Images saved.
    pub images: usize,
    /// Attachment manifests (referrers and legacy manifests) saved.
    pub attachments: usize,
    /// Blobs downloaded.
    pub blobs_fetched: usize,
    /// Blobs already in the layout (a resumed save), not downloaded again.
    pub blobs_present: usize,
    /// Bytes downloaded.
    pub bytes_fetched: u64,
    /// The SHA-256 of the `index.json` written: the layout digest.
    pub index_digest: Sha256Digest,
}

/// Why a release could not be saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    /// The registry failed or served content that failed a check.
    #[error("saving {image}: {source}")]
    Registry {
        /// The policy's name of the image being saved.
        image: String,
        /// What happened.
        #[source]
        source: OciError,
    },
    /// A manifest the registry served is not one vouch can copy.
    #[error("saving {image}: manifest {digest}: {reason}")]
    Malformed {
        /// The policy's name of the image being saved.
        image: String,
        /// The manifest.
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the layout failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// No image of the report has a digest: nothing would be saved.
    #[error("no image of release {version} was found; nothing to save")]
    NothingToSave {
        /// The version.
        version: String,
    },
}

impl SaveError {
    /// Whether this is a registry access failure (nothing was found wrong).
    pub fn is_access_failure(&self) -> bool {
        matches!(self, Self::Registry { source, .. } if source.is_access_failure())
    }
}

/// Counters shared by the tasks of one save.
#[derive(Debug, Default)]
struct Counters {
    blobs_fetched: AtomicUsize,
    blobs_present: AtomicUsize,
    bytes_fetched: AtomicU64,
}

/// Copies one image and everything attached to it.
#[derive(Clone)]
struct Copier {
    client: RegistryClient,
    writer: LayoutWriter,
    counters: Arc<Counters>,
    progress: Arc<dyn Fn(SaveProgress) + Send + Sync>,
}

/// Saves the release `inputs.report` verified into the layout `writer`
/// writes, and writes `index.json` last. Only rows with a digest are saved
/// (an image absent at the version is not); the images of a row are read
/// by that digest, so what is saved is what verified.
pub async fn save_release(
    client: &RegistryClient,
    writer: &LayoutWriter,
    inputs: SaveInputs<'_>,
    progress: impl Fn(SaveProgress) + Send + Sync + 'static,
) -> Result<SaveSummary, SaveError> {
    let rows: Vec<ImageRow> = inputs
        .report
        .rows
        .iter()
        .filter(|r| r.digest.is_some())
        .cloned()
        .collect();
    if rows.is_empty() {
        return Err(SaveError::NothingToSave {
            version: inputs.report.version.clone(),
        });
    }
    let copier = Copier {
        client: client.clone(),
        writer: writer.clone(),
        counters: Arc::default(),
        progress: Arc::new(progress),
    };
    let mut entries = vec![
        artifact(
            writer,
            Role::TrustedRoot,
            TRUSTED_ROOT_MEDIA_TYPE,
            TRUSTED_ROOT_MEDIA_TYPE,
            &[("trusted_root.json", inputs.trusted_root_json)],
        )?,
        artifact(
            writer,
            Role::Policy,
            POLICY_MEDIA_TYPE,
            POLICY_MEDIA_TYPE,
            &[("release.toml", inputs.policy_toml)],
        )?,
    ];
    if let Some(files) = inputs.tuf_export {
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect();
        entries.push(artifact(
            writer,
            Role::Tuf,
            TUF_EXPORT_MEDIA_TYPE,
            "application/json",
            &files,
        )?);
    }
    let saved = copy_rows(&copier, rows, inputs.concurrency).await?;
    let attachments = saved.iter().map(|e| e.len() - 1).sum();
    let images = saved.len();
    entries.extend(saved.into_iter().flatten());
    let mut annotations = BTreeMap::new();
    annotations.insert(VERSION_ANNOTATION.into(), inputs.report.version.clone());
    annotations.insert(
        TRUSTED_ROOT_ANNOTATION.into(),
        Sha256Digest::of(inputs.trusted_root_json).to_string(),
    );
    annotations.insert(
        POLICY_ANNOTATION.into(),
        Sha256Digest::of(inputs.policy_toml).to_string(),
    );
    annotations.insert(
        VERIFIED_ANNOTATION.into(),
        (inputs.verification == Verification::Verified).to_string(),
    );
    let index_digest = writer.write_index(&LayoutIndex {
        entries,
        annotations,
    })?;
    let counters = &copier.counters;
    Ok(SaveSummary {
        images,
        attachments,
        blobs_fetched: counters.blobs_fetched.load(Ordering::Relaxed),
        blobs_present: counters.blobs_present.load(Ordering::Relaxed),
        bytes_fetched: counters.bytes_fetched.load(Ordering::Relaxed),
        index_digest,
    })
}

/// Copies the images of `rows`, at most `concurrency` at once; returns the
/// `index.json` entries of each (the image first), in the rows' order. The
/// first failure stops the save.
async fn copy_rows(
    copier: &Copier,
    rows: Vec<ImageRow>,
    concurrency: usize,
) -> Result<Vec<Vec<LayoutEntry>>, SaveError> {
    let total = rows.len();
    let mut results: Vec<Option<Vec<LayoutEntry>>> = vec![None; total];
    let mut tasks = JoinSet::new();
    let mut pending = rows.into_iter().enumerate();
    let mut done = 0;
    loop {
        while tasks.len() < concurrency.max(1) {
            let Some((i, row)) = pending.next() else {
                break;
            };
            let copier = copier.clone();
            tasks.spawn(async move { (i, copier.image(&row).await, row.name) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, result, name) = joined.map_err(|e| SaveError::Malformed {
            image: "?".into(),
            digest: String::new(),
            reason: format!("internal error: {e}"),
        })?;
        results[i] = Some(result?);
        done += 1;
        (copier.progress)(SaveProgress::ImageSaved { name, done, total });
    }
    Ok(results.into_iter().flatten().collect())
}

/// Stores `files` (title, bytes) as the layers of an artifact manifest of
/// `role` and returns its `index.json` entry.
pub(crate) fn artifact(
    writer: &LayoutWriter,
    role: Role,
    media_type: &str,
    layer_type: &str,
    files: &[(&str, &[u8])],
) -> Result<LayoutEntry, SaveError> {
    let empty = writer.put_blob(b"{}")?;
    let mut layers = Vec::with_capacity(files.len());
    for (title, bytes) in files {
        let layer = writer.put_blob(bytes)?;
        layers.push(serde_json::json!({
            "mediaType": layer_type, "digest": layer.to_string(), "size": bytes.len(),
            "annotations": {TITLE_ANNOTATION: title},
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": {"mediaType": OCI_EMPTY, "digest": empty.to_string(), "size": 2},
        "layers": layers,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
    let digest = writer.put_blob(&manifest)?;
    let mut entry = entry(OCI_MANIFEST, digest, manifest.len() as u64, role);
    entry.descriptor.artifact_type = Some(media_type.to_string());
    Ok(entry)
}

/// An `index.json` entry of `role`.
pub(crate) fn entry(media_type: &str, digest: Sha256Digest, size: u64, role: Role) -> LayoutEntry {
    let mut annotations = BTreeMap::new();
    annotations.insert(ROLE_ANNOTATION.to_string(), role.as_str().to_string());
    LayoutEntry {
        descriptor: Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            artifact_type: None,
            annotations,
            platform: None,
        },
        digest: Digest::from(digest),
    }
}

/// What the row's verification says covers `candidate`: the predicate
/// types it verified as.
fn verified_types(row: &ImageRow, matches: impl Fn(&Candidate) -> bool) -> Vec<String> {
    let mut types: Vec<String> = row
        .verified
        .iter()
        .filter(|(c, _)| matches(c))
        .map(|(_, t)| t.clone())
        .collect();
    types.sort();
    types.dedup();
    types
}

impl Copier {
    /// Copies the image of `row` (at its verified digest) and everything
    /// attached to it and to each of its platforms.
    async fn image(&self, row: &ImageRow) -> Result<Vec<LayoutEntry>, SaveError> {
        let registry = |source: OciError| SaveError::Registry {
            image: row.name.clone(),
            source,
        };
        let reference: Reference = row
            .reference
            .parse()
            .map_err(|e| registry(OciError::BadReference(e)))?;
        let digest: Sha256Digest =
            row.digest
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|e| SaveError::Malformed {
                    image: row.name.clone(),
                    digest: row.digest.clone().unwrap_or_default(),
                    reason: format!("{e}"),
                })?;
        let repo = reference.repository();
        let (media_type, size, platforms) = self.tree(row, repo, digest, 0).await?;
        let mut image = entry(&media_type, digest, size, Role::Image);
        let annotations = &mut image.descriptor.annotations;
        annotations.insert(IMAGE_ANNOTATION.into(), row.name.clone());
        if let Some(tag) = reference.tag() {
            annotations.insert(REF_NAME_ANNOTATION.into(), format!("{repo}:{tag}"));
        }
        if let Some(signer) = &row.signer {
            annotations.insert(SIGNER_ANNOTATION.into(), signer.clone());
        }
        let mut attached = Vec::new();
        for subject in std::iter::once(digest).chain(platforms) {
            attached.extend(self.attachments(row, repo, subject).await?);
        }
        let list: Vec<String> = attached.iter().map(|e| e.digest.to_string()).collect();
        image
            .descriptor
            .annotations
            .insert(ATTACHMENTS_ANNOTATION.into(), list.join(","));
        Ok(std::iter::once(image).chain(attached).collect())
    }

    /// The referrers and legacy cosign manifests of `subject`, copied, as
    /// `index.json` entries.
    async fn attachments(
        &self,
        row: &ImageRow,
        repo: &Repository,
        subject: Sha256Digest,
    ) -> Result<Vec<LayoutEntry>, SaveError> {
        let registry = |source: OciError| SaveError::Registry {
            image: row.name.clone(),
            source,
        };
        let mut entries = Vec::new();
        let referrers = self
            .client
            .referrers(repo, &subject, None)
            .await
            .map_err(registry)?;
        for descriptor in referrers.manifests {
            let digest = descriptor.sha256().map_err(|e| SaveError::Malformed {
                image: row.name.clone(),
                digest: descriptor.digest.clone(),
                reason: e.to_string(),
            })?;
            let (media_type, size, _) = self.tree(row, repo, digest, MAX_INDEX_DEPTH).await?;
            let mut referrer = entry(&media_type, digest, size, Role::Referrer);
            referrer.descriptor.artifact_type = descriptor.artifact_type.clone();
            let types = verified_types(row, |c| *c == Candidate::Referrer(digest));
            entries.push(self.attached(referrer, row, subject, &types));
        }
        for role in LEGACY_ROLES {
            let suffix = role.legacy_suffix().unwrap_or_default();
            let tag = Tag::for_digest(&subject, suffix);
            let Some(found) = self
                .client
                .manifest(repo, tag.as_str(), MANIFEST_ACCEPT)
                .await
                .map_err(registry)?
            else {
                continue;
            };
            let (media_type, size, _) = self.tree(row, repo, found.digest, MAX_INDEX_DEPTH).await?;
            let mut legacy = entry(&media_type, found.digest, size, role);
            legacy
                .descriptor
                .annotations
                .insert(REF_NAME_ANNOTATION.into(), format!("{repo}:{tag}"));
            let types = verified_types(row, |c| match (role, c) {
                (Role::Signatures, Candidate::LegacySignature { image, .. })
                | (Role::Attestations, Candidate::LegacyAttestation { image, .. }) => {
                    *image == subject
                }
                _ => false,
            });
            entries.push(self.attached(legacy, row, subject, &types));
        }
        Ok(entries)
    }

    /// `entry` annotated as attached to `subject` of `row`, covered by the
    /// statements of `types` that verified.
    fn attached(
        &self,
        mut entry: LayoutEntry,
        row: &ImageRow,
        subject: Sha256Digest,
        types: &[String],
    ) -> LayoutEntry {
        let annotations = &mut entry.descriptor.annotations;
        annotations.insert(IMAGE_ANNOTATION.into(), row.name.clone());
        annotations.insert(SUBJECT_ANNOTATION.into(), subject.to_string());
        if !types.is_empty() {
            annotations.insert(VERIFIED_ANNOTATION.into(), types.join(","));
        }
        entry
    }

    /// Copies manifest (or index) `digest` of `repo` and everything it
    /// refers to; returns its media type, size and, for an index, the
    /// digests of its manifests. The manifest is stored after its blobs.
    fn tree<'a>(
        &'a self,
        row: &'a ImageRow,
        repo: &'a Repository,
        digest: Sha256Digest,
        depth: usize,
    ) -> Boxed<'a, Result<Tree, SaveError>> {
        Box::pin(async move {
            let registry = |source: OciError| SaveError::Registry {
                image: row.name.clone(),
                source,
            };
            let malformed = |reason: String| SaveError::Malformed {
                image: row.name.clone(),
                digest: digest.to_string(),
                reason,
            };
            let fetched = self
                .client
                .manifest(repo, &digest.to_string(), MANIFEST_ACCEPT)
                .await
                .map_err(registry)?
                .ok_or_else(|| {
                    registry(OciError::NotFound {
                        what: format!("manifest {repo}@{digest}"),
                    })
                })?;
            let mut children = Vec::new();
            match refers_to(&fetched.bytes, depth).map_err(malformed)? {
                Refers::Manifests(list) => {
                    for child in &list {
                        let child = child.sha256().map_err(|e| malformed(e.to_string()))?;
                        self.tree(row, repo, child, depth + 1).await?;
                        children.push(child);
                    }
                }
                Refers::Blobs(list) => {
                    for blob in &list {
                        let blob_digest = blob.sha256().map_err(|e| malformed(e.to_string()))?;
                        self.blob(repo, &blob_digest, blob.size)
                            .await
                            .map_err(registry)?;
                    }
                }
            }
            self.writer.put_blob(&fetched.bytes)?;
            let media_type = if fetched.media_type.is_empty() {
                value_media_type(&fetched.bytes)
            } else {
                fetched.media_type
            };
            Ok((media_type, fetched.bytes.len() as u64, children))
        })
    }

    /// Copies one blob, counting it.
    async fn blob(
        &self,
        repo: &Repository,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<(), OciError> {
        let counters = self.counters.clone();
        let progress = self.progress.clone();
        let on_bytes = move |n: u64| {
            let fetched = counters.bytes_fetched.fetch_add(n, Ordering::Relaxed) + n;
            progress(SaveProgress::Bytes { fetched });
        };
        match self
            .client
            .copy_blob(repo, digest, size, &self.writer, &on_bytes)
            .await?
        {
            Copied::Fetched(_) => self.counters.blobs_fetched.fetch_add(1, Ordering::Relaxed),
            Copied::AlreadyThere(_) => self.counters.blobs_present.fetch_add(1, Ordering::Relaxed),
        };
        Ok(())
    }
}

/// A copied manifest: its media type, size and, for an index, the digests
/// of its manifests.
type Tree = (String, u64, Vec<Sha256Digest>);

/// A boxed future (`tree` recurses into an index's manifests).
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A manifest's own `mediaType` field (for a registry that sent none).
fn value_media_type(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| OCI_MANIFEST.to_string())
}

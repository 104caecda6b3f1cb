//! OCI image layouts on disk (image-spec `image-layout.md`): a strict
//! reader, for verifying an image saved by `cosign save` or `skopeo copy …
//! oci:DIR` with no network, and a content-addressed writer.
//!
//! Reading: `oci-layout` must say version 1.0.0; `index.json` is bounded and
//! checked ([`LayoutIndex::parse`]); every blob read is a regular file (no
//! symlink out of the layout) under `blobs/<alg>/<hex>`, no larger than the
//! limit the caller gives, and hashes to its name.
//!
//! What is attached to an image is found the ways the writers store it:
//! `index.json` entries named by the cosign tag conventions
//! (`sha256-<hex>.sig`, `.att`, the referrers tag schema `sha256-<hex>`),
//! cosign's `kind` annotations (`dev.cosignproject.cosign/sigs` and `/atts`
//! for the saved image), and referrer manifests whose `subject` is the image,
//! listed in `index.json` or only stored under `blobs/` (as `cosign save`
//! leaves them).
//!
//! Writing: a blob is written under a temporary name in `.partial/` and
//! renamed to its digest only once its bytes hashed to it, so a killed run
//! leaves no half-written blob under its final name, and a second run skips
//! every blob already there.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use vouch_oci_types::{
    COSIGN_KIND_ANNOTATION, COSIGN_KIND_ATTESTATIONS, COSIGN_KIND_IMAGE, COSIGN_KIND_IMAGE_INDEX,
    COSIGN_KIND_SIGNATURES, Digest, INDEX_FILE, ImageManifest, LayoutEntry, LayoutIndex,
    LayoutProblem, MAX_INDEX_SIZE, MAX_MANIFEST_SIZE, MAX_OCI_LAYOUT_SIZE, OCI_LAYOUT_FILE,
    Repository, SIGSTORE_BUNDLE_PREFIX, Sha256Digest, Tag, blob_path, check_oci_layout,
    oci_layout_marker,
};

use crate::client::{Fetched, MAX_ATTACHMENT_SIZE};
use crate::discovery::{
    BUNDLE_PREDICATE_TYPE_ANNOTATION, BundleReferrer, LegacyLayer, MAX_REFERRERS,
    MAX_SIGNATURE_LAYERS,
};

/// Where a writer keeps blobs it has not finished, relative to the root.
pub const PARTIAL_DIR: &str = ".partial";
/// The chunk size blobs are hashed and copied in: memory stays bounded
/// whatever a layer's size.
const CHUNK: usize = 64 * 1024;

/// Why a layout, or something read from or written to it, is refused.
/// Every variant names the layout and, where there is one, the blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The directory has no `oci-layout` file (or it cannot be read).
    #[error("{}: not an OCI image layout: {reason}", root.display())]
    NotALayout {
        /// The layout's root.
        root: PathBuf,
        /// What is missing or unreadable.
        reason: String,
    },
    /// `oci-layout` or `index.json` breaks the image-spec.
    #[error("{}: {problem}", root.display())]
    Refused {
        /// The layout's root.
        root: PathBuf,
        /// What is wrong.
        problem: LayoutProblem,
    },
    /// A blob the layout refers to is not there.
    #[error("{}: blob {digest} is missing (expected at {})", root.display(), blob_path(digest))]
    MissingBlob {
        /// The layout's root.
        root: PathBuf,
        /// The blob.
        digest: Digest,
    },
    /// A blob's bytes do not hash to its name: the layout was changed.
    #[error("{}: blob {expected} was changed: its content hashes to {found}", root.display())]
    BlobDigestMismatch {
        /// The layout's root.
        root: PathBuf,
        /// Its name.
        expected: Digest,
        /// What its content hashes to.
        found: Digest,
    },
    /// A blob's size is not what its descriptor says.
    #[error("{}: blob {digest} is {found} bytes, its descriptor says {expected}", root.display())]
    BlobSizeMismatch {
        /// The layout's root.
        root: PathBuf,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The file's size.
        found: u64,
    },
    /// A blob is larger than what is read for its kind.
    #[error("{}: blob {digest} is {size} bytes, over the {limit}-byte limit for {what}", root.display())]
    BlobTooLarge {
        /// The layout's root.
        root: PathBuf,
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
        /// What it was read as.
        what: &'static str,
    },
    /// A layout file is a symlink, a directory or another special file.
    #[error("{}: not a regular file (symlinks are not followed out of a layout)", path.display())]
    NotARegularFile {
        /// The file.
        path: PathBuf,
    },
    /// A document in the layout (a manifest) is malformed.
    #[error("{}: {what}: {reason}", root.display())]
    Malformed {
        /// The layout's root.
        root: PathBuf,
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A layout archive (`.tar`) holds an entry a layout does not have: a
    /// link, a device, a path outside the layout's own, a file twice.
    #[error("{}: entry `{entry}`: {reason}", archive.display())]
    UnsafeArchiveEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's path, as the archive gives it.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LayoutError + '_ {
    move |e| LayoutError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads a regular file (never through a symlink) of at most `limit` bytes;
/// `Ok(None)` when it does not exist.
fn read_regular(path: &Path, limit: u64) -> Result<Option<(Vec<u8>, u64)>, LayoutError> {
    let size = match regular_size(path)? {
        Some(size) => size,
        None => return Ok(None),
    };
    if size > limit {
        return Ok(Some((Vec::new(), size)));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(io_error(path))?;
    Ok(Some((bytes, size)))
}

/// The size of a regular file, `None` when there is none; a symlink or
/// directory is refused.
fn regular_size(path: &Path) -> Result<Option<u64>, LayoutError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(meta.len())),
        Ok(_) => Err(LayoutError::NotARegularFile {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// An OCI image layout opened for reading. Cheap to clone.
#[derive(Clone)]
pub struct OciLayout {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    index: LayoutIndex,
    /// The SHA-256 of `index.json` as read.
    index_digest: Sha256Digest,
    /// Referrer manifests by subject, found once on first use.
    referrers: OnceLock<HashMap<Sha256Digest, Vec<Sha256Digest>>>,
}

impl std::fmt::Debug for OciLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciLayout")
            .field("root", &self.inner.root)
            .field("entries", &self.inner.index.entries.len())
            .finish()
    }
}

impl OciLayout {
    /// Opens the layout at `root`: checks `oci-layout` and parses
    /// `index.json`. Blobs are checked when read.
    pub fn open(root: &Path) -> Result<Self, LayoutError> {
        let refused = |problem| LayoutError::Refused {
            root: root.to_path_buf(),
            problem,
        };
        let marker = root.join(OCI_LAYOUT_FILE);
        let (bytes, size) =
            read_regular(&marker, MAX_OCI_LAYOUT_SIZE)?.ok_or_else(|| LayoutError::NotALayout {
                root: root.to_path_buf(),
                reason: format!("no {OCI_LAYOUT_FILE} file"),
            })?;
        if size > MAX_OCI_LAYOUT_SIZE {
            return Err(refused(LayoutProblem::Version {
                found: format!("a {size}-byte file"),
            }));
        }
        check_oci_layout(&bytes).map_err(refused)?;
        let index_path = root.join(INDEX_FILE);
        let (bytes, size) =
            read_regular(&index_path, MAX_INDEX_SIZE)?.ok_or_else(|| LayoutError::NotALayout {
                root: root.to_path_buf(),
                reason: format!("no {INDEX_FILE} file"),
            })?;
        if size > MAX_INDEX_SIZE {
            return Err(refused(LayoutProblem::Index {
                reason: format!("{size} bytes, over the {MAX_INDEX_SIZE}-byte limit"),
            }));
        }
        let index = LayoutIndex::parse(&bytes).map_err(refused)?;
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                index,
                index_digest: Sha256Digest::of(&bytes),
                referrers: OnceLock::new(),
            }),
        })
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// `index.json`.
    pub fn index(&self) -> &LayoutIndex {
        &self.inner.index
    }

    /// The SHA-256 of `index.json` as read: since every blob is named by
    /// its digest, it pins the whole layout.
    pub fn index_digest(&self) -> Sha256Digest {
        self.inner.index_digest
    }

    /// Whether blob `digest` is in the layout (a regular file under its
    /// name); its content is not read.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, LayoutError> {
        Ok(regular_size(&self.inner.root.join(blob_path(digest)))?.is_some())
    }

    /// Reads blob `digest` (at most `limit` bytes, read as `what`), checking
    /// it hashes to its name. `Ok(None)` when the layout does not have it.
    pub fn try_blob(
        &self,
        digest: &Digest,
        limit: u64,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, LayoutError> {
        let path = self.inner.root.join(blob_path(digest));
        let Some((bytes, size)) = read_regular(&path, limit)? else {
            return Ok(None);
        };
        if size > limit {
            return Err(LayoutError::BlobTooLarge {
                root: self.inner.root.clone(),
                digest: digest.clone(),
                size,
                limit,
                what,
            });
        }
        let found = Digest::of(digest.algorithm(), &bytes);
        if found != *digest {
            return Err(LayoutError::BlobDigestMismatch {
                root: self.inner.root.clone(),
                expected: digest.clone(),
                found,
            });
        }
        Ok(Some(bytes))
    }

    /// Reads blob `digest`, which must be there ([`Self::try_blob`]).
    pub fn blob(
        &self,
        digest: &Digest,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, LayoutError> {
        self.try_blob(digest, limit, what)?
            .ok_or_else(|| self.missing(digest))
    }

    fn missing(&self, digest: &Digest) -> LayoutError {
        LayoutError::MissingBlob {
            root: self.inner.root.clone(),
            digest: digest.clone(),
        }
    }

    /// Checks blob `digest` without holding it in memory: it exists, is
    /// `size` bytes and hashes to its name (for layers of any size).
    pub fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        let path = self.inner.root.join(blob_path(digest));
        let found_size = regular_size(&path)?.ok_or_else(|| self.missing(digest))?;
        if found_size != size {
            return Err(LayoutError::BlobSizeMismatch {
                root: self.inner.root.clone(),
                digest: digest.clone(),
                expected: size,
                found: found_size,
            });
        }
        file_matches(&path, digest)?.map_err(|found| LayoutError::BlobDigestMismatch {
            root: self.inner.root.clone(),
            expected: digest.clone(),
            found,
        })
    }

    /// The manifest `reference` names in the layout: a digest, or a name
    /// in `index.json` (`org.opencontainers.image.ref.name`) that is the tag
    /// alone (as skopeo writes it) or `<repository>:<tag>`. `Ok(None)` when
    /// the layout has no such manifest.
    pub fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Fetched>, LayoutError> {
        let digest = match reference.parse::<Sha256Digest>() {
            Ok(digest) => digest,
            Err(_) => match self.named(repo, reference) {
                Some(entry) => match entry.digest.as_sha256() {
                    Some(digest) => digest,
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
        };
        let Some(bytes) = self.try_blob(&digest.into(), MAX_MANIFEST_SIZE, "a manifest")? else {
            return Ok(None);
        };
        let media_type = self.media_type(&digest, &bytes);
        Ok(Some(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    /// The `index.json` entry named `<repo>:<tag>` or `<tag>`, the
    /// repository-qualified name first.
    pub fn named(&self, repo: &Repository, tag: &str) -> Option<&LayoutEntry> {
        let qualified = format!("{repo}:{tag}");
        let entries = &self.inner.index.entries;
        entries
            .iter()
            .find(|e| e.ref_name() == Some(qualified.as_str()))
            .or_else(|| entries.iter().find(|e| e.ref_name() == Some(tag)))
    }

    /// A manifest's media type: its own `mediaType` field, else what an
    /// `index.json` entry for it says.
    fn media_type(&self, digest: &Sha256Digest, bytes: &[u8]) -> String {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Typed {
            media_type: Option<String>,
        }
        serde_json::from_slice::<Typed>(bytes)
            .ok()
            .and_then(|t| t.media_type)
            .or_else(|| {
                let digest = Digest::from(*digest);
                self.inner
                    .index
                    .entries
                    .iter()
                    .find(|e| e.digest == digest)
                    .map(|e| e.descriptor.media_type.clone())
            })
            .unwrap_or_default()
    }

    /// The image manifest `digest`, parsed.
    fn image_manifest(&self, digest: &Sha256Digest) -> Result<ImageManifest, LayoutError> {
        let bytes = self.blob(&(*digest).into(), MAX_MANIFEST_SIZE, "a manifest")?;
        serde_json::from_slice(&bytes).map_err(|e| LayoutError::Malformed {
            root: self.inner.root.clone(),
            what: format!("manifest {digest}"),
            reason: e.to_string(),
        })
    }

    /// The digest of the image (or index) `cosign save` saved: its entry
    /// of kind `dev.cosignproject.cosign/image` or `/imageIndex`.
    pub fn cosign_image(&self) -> Option<Sha256Digest> {
        let index = &self.inner.index;
        index
            .of_cosign_kind(COSIGN_KIND_IMAGE_INDEX)
            .chain(index.of_cosign_kind(COSIGN_KIND_IMAGE))
            .find_map(|e| e.digest.as_sha256())
    }

    /// The image the layout holds, for `--local-image`: the one `cosign
    /// save` marked, else the only entry of `index.json` that no cosign
    /// annotation or tag convention marks as an attachment.
    pub fn subject_image(&self) -> Result<Sha256Digest, LayoutError> {
        if let Some(digest) = self.cosign_image() {
            return Ok(digest);
        }
        let images: Vec<&LayoutEntry> = self
            .inner
            .index
            .entries
            .iter()
            .filter(|e| e.annotation(COSIGN_KIND_ANNOTATION).is_none())
            .filter(|e| !e.ref_name().is_some_and(is_attachment_tag))
            .filter(|e| !self.is_referrer(e))
            .collect();
        match images.as_slice() {
            [one] => one
                .digest
                .as_sha256()
                .ok_or_else(|| LayoutError::Malformed {
                    root: self.inner.root.clone(),
                    what: INDEX_FILE.into(),
                    reason: format!("the image's digest {} is not SHA-256", one.digest),
                }),
            other => Err(LayoutError::Malformed {
                root: self.inner.root.clone(),
                what: INDEX_FILE.into(),
                reason: format!(
                    "{} images and no cosign `kind` annotation saying which was saved; expected \
                     exactly one",
                    other.len()
                ),
            }),
        }
    }

    /// Whether an entry is a referrer (an artifact, or a manifest with a
    /// `subject`) rather than an image. Unreadable entries are not: reading
    /// the image later reports them.
    fn is_referrer(&self, entry: &LayoutEntry) -> bool {
        if entry.descriptor.artifact_type.is_some() {
            return true;
        }
        entry.digest.as_sha256().is_some_and(|digest| {
            self.image_manifest(&digest)
                .is_ok_and(|m| m.subject.is_some())
        })
    }

    /// The referrer manifests of `subject` the layout holds: manifests
    /// listed in `index.json` or stored under `blobs/sha256` whose `subject`
    /// is it (read once, each digest-checked).
    pub fn referrers(&self, subject: &Sha256Digest) -> Result<Vec<Sha256Digest>, LayoutError> {
        // A scan that fails is not kept: the next call scans again and
        // fails with the same typed error.
        let map = match self.inner.referrers.get() {
            Some(map) => map,
            None => {
                let scanned = self.scan_referrers()?;
                self.inner.referrers.get_or_init(|| scanned)
            }
        };
        Ok(map.get(subject).cloned().unwrap_or_default())
    }

    /// Every small blob under `blobs/sha256` that is an image manifest with
    /// a subject, by subject (cosign save leaves referrers out of
    /// `index.json`, so listing it is not enough).
    fn scan_referrers(&self) -> Result<HashMap<Sha256Digest, Vec<Sha256Digest>>, LayoutError> {
        let dir = self.inner.root.join("blobs").join("sha256");
        let mut map: HashMap<Sha256Digest, Vec<Sha256Digest>> = HashMap::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(map),
            Err(e) => return Err(io_error(&dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            if let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Sha256Digest::from_hex(n).ok())
            {
                names.push(digest);
            }
        }
        names.sort();
        for digest in names {
            let path = dir.join(digest.hex());
            match regular_size(&path)? {
                Some(size) if size <= MAX_MANIFEST_SIZE => {}
                _ => continue,
            }
            let bytes = self.blob(&digest.into(), MAX_MANIFEST_SIZE, "a manifest")?;
            let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&bytes) else {
                continue;
            };
            let Some(subject) = manifest.subject.as_ref().and_then(|s| s.sha256().ok()) else {
                continue;
            };
            let list = map.entry(subject).or_default();
            list.push(digest);
            if list.len() > MAX_REFERRERS {
                return Err(LayoutError::Malformed {
                    root: self.inner.root.clone(),
                    what: format!("referrers of {subject}"),
                    reason: format!("more than {MAX_REFERRERS}"),
                });
            }
        }
        Ok(map)
    }

    /// The Sigstore bundles attached to `subject` as referrers, as
    /// [`crate::RegistryClient::sigstore_bundles`] finds them in a registry.
    pub fn sigstore_bundles(
        &self,
        subject: &Sha256Digest,
    ) -> Result<Vec<BundleReferrer>, LayoutError> {
        let mut bundles = Vec::new();
        for digest in self.referrers(subject)? {
            let manifest = self.image_manifest(&digest)?;
            let artifact_type = manifest
                .artifact_type
                .clone()
                .or_else(|| Some(manifest.config.media_type.clone()));
            let is_bundle = artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX));
            let [layer] = manifest.layers.as_slice() else {
                continue;
            };
            if !is_bundle || !layer.media_type.starts_with(SIGSTORE_BUNDLE_PREFIX) {
                continue;
            }
            let bundle = self.descriptor_blob(layer, "a Sigstore bundle")?;
            bundles.push(BundleReferrer {
                manifest_digest: digest,
                artifact_type,
                predicate_type_hint: manifest
                    .annotations
                    .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                    .cloned(),
                bundle,
            });
        }
        Ok(bundles)
    }

    /// The layers of the legacy cosign manifest for `subject` with
    /// `suffix` (`sig`, `att`, `sbom`): the entry named
    /// `sha256-<hex>.<suffix>`, or for the image `cosign save` saved, its
    /// entry of kind `dev.cosignproject.cosign/sigs` or `/atts`.
    pub fn legacy_layers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        suffix: &str,
    ) -> Result<Vec<LegacyLayer>, LayoutError> {
        let tag = Tag::for_digest(subject, suffix);
        let kind = match suffix {
            "sig" => Some(COSIGN_KIND_SIGNATURES),
            "att" => Some(COSIGN_KIND_ATTESTATIONS),
            _ => None,
        };
        let entry = self.named(repo, tag.as_str()).or_else(|| {
            let kind = kind.filter(|_| self.cosign_image() == Some(*subject))?;
            self.inner.index.of_cosign_kind(kind).next()
        });
        let Some(digest) = entry.and_then(|e| e.digest.as_sha256()) else {
            return Ok(Vec::new());
        };
        let manifest = self.image_manifest(&digest)?;
        if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(LayoutError::Malformed {
                root: self.inner.root.clone(),
                what: format!("manifest {digest} ({tag})"),
                reason: format!(
                    "{} layers, more than the {MAX_SIGNATURE_LAYERS} cosign allows",
                    manifest.layers.len()
                ),
            });
        }
        manifest
            .layers
            .into_iter()
            .map(|descriptor| {
                let content = self.descriptor_blob(&descriptor, "a signature layer")?;
                Ok(LegacyLayer {
                    descriptor,
                    content,
                })
            })
            .collect()
    }

    /// The blob a descriptor names, which must be there, of the size it says.
    fn descriptor_blob(
        &self,
        descriptor: &vouch_oci_types::Descriptor,
        what: &'static str,
    ) -> Result<Vec<u8>, LayoutError> {
        let digest = Digest::parse(&descriptor.digest).map_err(|e| LayoutError::Malformed {
            root: self.inner.root.clone(),
            what: format!("descriptor of {what}"),
            reason: e.to_string(),
        })?;
        let bytes = self.blob(&digest, MAX_ATTACHMENT_SIZE, what)?;
        if bytes.len() as u64 != descriptor.size {
            return Err(LayoutError::BlobSizeMismatch {
                root: self.inner.root.clone(),
                digest,
                expected: descriptor.size,
                found: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}

/// Whether a reference name is one of cosign's attachment tags
/// (`sha256-<hex>`, `sha256-<hex>.sig`, `.att`, `.sbom`).
fn is_attachment_tag(name: &str) -> bool {
    let tag = name.rsplit(':').next().unwrap_or(name);
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or_default();
    Sha256Digest::from_hex(hex).is_ok()
}

/// Whether a file's content hashes to `digest`, read in chunks: `Ok(Err(found))`
/// with what it hashes to when it does not.
fn file_matches(path: &Path, digest: &Digest) -> Result<Result<(), Digest>, LayoutError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut verifier = digest.verifier();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            return Ok(verifier.finish());
        }
        verifier.update(&buffer[..n]);
    }
}

/// Writes an OCI image layout: content-addressed blobs, written under a
/// temporary name and renamed once they hash to their digest, and
/// `index.json` replaced whole.
#[derive(Debug, Clone)]
pub struct LayoutWriter {
    root: PathBuf,
}

/// A blob being written ([`LayoutWriter::blob_sink`]): bytes go to a file
/// in `.partial/` while they are hashed; [`BlobSink::finish`] renames it to
/// its digest only if they hash to it.
#[derive(Debug)]
pub struct BlobSink {
    root: PathBuf,
    expected: Sha256Digest,
    partial: PathBuf,
    file: File,
    hasher: vouch_oci_types::DigestVerifier,
    written: u64,
}

impl BlobSink {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), LayoutError> {
        self.file
            .write_all(bytes)
            .map_err(io_error(&self.partial))?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks the digest, syncs the file and renames it to its final name.
    /// On a mismatch the partial file is removed and nothing is stored.
    pub fn finish(self) -> Result<(), LayoutError> {
        let Self {
            root,
            expected,
            partial,
            file,
            hasher,
            ..
        } = self;
        if let Err(found) = hasher.finish() {
            let _ = std::fs::remove_file(&partial);
            return Err(LayoutError::BlobDigestMismatch {
                root,
                expected: expected.into(),
                found,
            });
        }
        file.sync_all().map_err(io_error(&partial))?;
        drop(file);
        let target = root.join(blob_path(&expected.into()));
        std::fs::rename(&partial, &target).map_err(io_error(&target))
    }
}

impl LayoutWriter {
    /// Creates (or reopens, to resume) the layout at `root`: the directory,
    /// `oci-layout`, `blobs/sha256` and `.partial/`. An existing
    /// `oci-layout` must say version 1.0.0.
    pub fn create(root: &Path) -> Result<Self, LayoutError> {
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(io_error(&blobs))?;
        let partial = root.join(PARTIAL_DIR);
        std::fs::create_dir_all(&partial).map_err(io_error(&partial))?;
        let marker = root.join(OCI_LAYOUT_FILE);
        match read_regular(&marker, MAX_OCI_LAYOUT_SIZE)? {
            Some((bytes, _)) => {
                check_oci_layout(&bytes).map_err(|problem| LayoutError::Refused {
                    root: root.to_path_buf(),
                    problem,
                })?
            }
            None => std::fs::write(&marker, oci_layout_marker()).map_err(io_error(&marker))?,
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The layout's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether blob `digest` is already stored, whole and unchanged (it is
    /// `size` bytes and hashes to its name): a resumed run skips it.
    pub fn has_blob(&self, digest: &Sha256Digest, size: u64) -> Result<bool, LayoutError> {
        let path = self.root.join(blob_path(&(*digest).into()));
        if regular_size(&path)? != Some(size) {
            return Ok(false);
        }
        Ok(file_matches(&path, &(*digest).into())?.is_ok())
    }

    /// Starts writing blob `digest`.
    pub fn blob_sink(&self, digest: &Sha256Digest) -> Result<BlobSink, LayoutError> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = self.root.join(PARTIAL_DIR).join(format!(
            "{}-{}-{n}",
            digest.hex(),
            std::process::id()
        ));
        let file = File::create(&partial).map_err(io_error(&partial))?;
        Ok(BlobSink {
            root: self.root.clone(),
            expected: *digest,
            partial,
            file,
            hasher: Digest::from(*digest).verifier(),
            written: 0,
        })
    }

    /// Stores `bytes` as a blob (unless it is there already) and returns
    /// its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Sha256Digest, LayoutError> {
        let digest = Sha256Digest::of(bytes);
        if !self.has_blob(&digest, bytes.len() as u64)? {
            let mut sink = self.blob_sink(&digest)?;
            sink.write(bytes)?;
            sink.finish()?;
        }
        Ok(digest)
    }

    /// Replaces `index.json` with `index` (written aside, then renamed)
    /// and returns the SHA-256 of what it wrote.
    pub fn write_index(&self, index: &LayoutIndex) -> Result<Sha256Digest, LayoutError> {
        let partial = self.root.join(PARTIAL_DIR).join(INDEX_FILE);
        let bytes = index.to_json();
        std::fs::write(&partial, &bytes).map_err(io_error(&partial))?;
        let target = self.root.join(INDEX_FILE);
        std::fs::rename(&partial, &target).map_err(io_error(&target))?;
        Ok(Sha256Digest::of(&bytes))
    }

    /// Removes `.partial/` (what an interrupted run left), once the layout
    /// is complete.
    pub fn finish(self) -> Result<(), LayoutError> {
        let partial = self.root.join(PARTIAL_DIR);
        match std::fs::remove_dir_all(&partial) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&partial)(e)),
        }
    }
}

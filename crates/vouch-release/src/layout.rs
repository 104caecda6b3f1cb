//! A release saved as an OCI image layout (`vouch release save`), and the
//! checks that refuse a layout changed on the way across an air gap
//! (`vouch release verify --layout`) before its images are verified.
//!
//! The format (docs/air-gap.md, "The layout"): every `index.json` entry
//! carries a [`ROLE_ANNOTATION`] saying what it is — an image of the
//! release, a referrer or legacy cosign manifest attached to one, the
//! trusted root or the release policy — and image entries name the policy's
//! image ([`IMAGE_ANNOTATION`]) and every attachment saved for it
//! ([`ATTACHMENTS_ANNOTATION`]). The index's own annotations record the
//! version and the digests of the trusted root and the policy.
//!
//! What these checks can and cannot see: the layout is written by whoever
//! last had the media, so a consistent rewrite of `index.json` (a new
//! trusted root *and* its recorded digest) passes them. The anchors are
//! what the verifier brings: `--trusted-root` and `--policy` given on the
//! command line, or the layout digest ([`OciLayout::index_digest`], which
//! pins every blob) carried apart from the media (docs/threat-model.md).

use std::collections::BTreeSet;
use std::path::PathBuf;

use vouch_oci::oci::{Descriptor, ImageIndex, ImageManifest, MAX_MANIFEST_SIZE};
use vouch_oci::{Digest, LayoutEntry, LayoutError, OciLayout, Reference, Sha256Digest};

use crate::policy::{Expected, ReleasePolicy};

/// What an `index.json` entry of a saved release is.
pub const ROLE_ANNOTATION: &str = "dev.vouch.release.role";
/// The policy's name of the image an entry is (or is attached to).
pub const IMAGE_ANNOTATION: &str = "dev.vouch.release.image";
/// The digest of the image (or platform) an attachment is attached to.
pub const SUBJECT_ANNOTATION: &str = "dev.vouch.release.subject";
/// On an image entry: the digests of every attachment manifest saved for
/// it, comma-separated.
pub const ATTACHMENTS_ANNOTATION: &str = "dev.vouch.release.attachments";
/// On an image entry: who signed it, as verified when it was saved.
pub const SIGNER_ANNOTATION: &str = "dev.vouch.release.signer";
/// On an attachment entry: the predicate types of the statements in it
/// that verified when it was saved, comma-separated (cosign's signature
/// type for a signature). On the index: `true`, or `false` for a release
/// saved with `--no-verify`.
pub const VERIFIED_ANNOTATION: &str = "dev.vouch.release.verified";
/// On the index: the release version saved.
pub const VERSION_ANNOTATION: &str = "dev.vouch.release.version";
/// On the index: the SHA-256 of the saved `trusted_root.json`.
pub const TRUSTED_ROOT_ANNOTATION: &str = "dev.vouch.release.trusted-root";
/// On the index: the SHA-256 of the saved release policy.
pub const POLICY_ANNOTATION: &str = "dev.vouch.release.policy";
/// A file name, as OCI artifacts carry it.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// The media and artifact type of a saved `trusted_root.json`.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot.v0.1+json";
/// The media and artifact type of a saved release policy.
pub const POLICY_MEDIA_TYPE: &str = "application/vnd.dev.vouch.release-policy.v1+toml";
/// The artifact type of the saved `vouch trust export` files.
pub const TUF_EXPORT_MEDIA_TYPE: &str = "application/vnd.dev.vouch.tuf-export.v1";
/// The most files a saved TUF export may have: every root version from the
/// bootstrap on (vouch-trust follows at most 32 rotations), timestamp,
/// snapshot, targets, delegations, the target and the manifest.
pub const MAX_TUF_FILES: usize = 128;
/// The largest saved TUF file read (vouch-trust's limit for targets
/// metadata, the largest role).
pub const MAX_TUF_FILE: u64 = 5_000_000;
/// The largest saved `trusted_root.json` read (vouch-verify's limit).
const MAX_TRUSTED_ROOT: u64 = vouch_verify::MAX_TRUSTED_ROOT_SIZE as u64;
/// How deep image indexes may nest in a saved image (an index of platform
/// manifests is depth 1).
pub const MAX_INDEX_DEPTH: usize = 2;

/// What an `index.json` entry of a saved release is ([`ROLE_ANNOTATION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An image of the release, at the digest saved.
    Image,
    /// A referrer (a Sigstore bundle, or another artifact) of an image.
    Referrer,
    /// A legacy cosign `sha256-<hex>.sig` manifest.
    Signatures,
    /// A legacy cosign `sha256-<hex>.att` manifest.
    Attestations,
    /// A legacy cosign `sha256-<hex>.sbom` manifest.
    Sbom,
    /// The `trusted_root.json` used when saving.
    TrustedRoot,
    /// The release policy.
    Policy,
    /// The `vouch trust export` that proves the trusted root through TUF.
    Tuf,
}

impl Role {
    /// The annotation's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Referrer => "referrer",
            Self::Signatures => "signatures",
            Self::Attestations => "attestations",
            Self::Sbom => "sbom",
            Self::TrustedRoot => "trusted-root",
            Self::Policy => "policy",
            Self::Tuf => "tuf",
        }
    }

    /// The role an annotation's value names.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Image,
            Self::Referrer,
            Self::Signatures,
            Self::Attestations,
            Self::Sbom,
            Self::TrustedRoot,
            Self::Policy,
            Self::Tuf,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }

    /// The legacy cosign tag suffix of this role's manifests.
    pub fn legacy_suffix(self) -> Option<&'static str> {
        match self {
            Self::Signatures => Some("sig"),
            Self::Attestations => Some("att"),
            Self::Sbom => Some("sbom"),
            _ => None,
        }
    }
}

/// Why a saved release is refused. Each variant names the layout and what
/// in it is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SavedLayoutError {
    /// The layout is an OCI image layout but not one `vouch release save`
    /// wrote (no version, trusted root or policy recorded).
    #[error("{}: not a saved release: {reason}", root.display())]
    NotASavedRelease {
        /// The layout's root.
        root: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `index.json` does not hash to the digest the verifier expected.
    #[error(
        "{}: index.json is {found}, not the layout digest {expected} you gave: the layout was \
         changed after it was saved",
        root.display()
    )]
    IndexDigestMismatch {
        /// The layout's root.
        root: PathBuf,
        /// The digest given.
        expected: Sha256Digest,
        /// What `index.json` hashes to.
        found: Sha256Digest,
    },
    /// The trusted root or policy is not the one recorded in the index.
    #[error(
        "{}: the {what} was swapped: index.json records {recorded}, the layout holds {found}",
        root.display()
    )]
    Swapped {
        /// The layout's root.
        root: PathBuf,
        /// Which.
        what: Carried,
        /// The digest recorded in the index's annotations.
        recorded: String,
        /// The digest of what the layout holds.
        found: String,
    },
    /// The trusted root is not the one the TUF metadata saved with it
    /// proves.
    #[error(
        "{}: the trusted root is {found}, not the one its TUF metadata proves ({proven})",
        root.display()
    )]
    TrustedRootUnproven {
        /// The layout's root.
        root: PathBuf,
        /// The digest of the layout's trusted root.
        found: String,
        /// The digest of the trusted root the TUF metadata proves.
        proven: String,
    },
    /// An image the policy requires at the version is not in the layout.
    #[error("{}: image {image} ({reference}) is not in the layout", root.display())]
    ImageMissing {
        /// The layout's root.
        root: PathBuf,
        /// The policy's name for it.
        image: String,
        /// The reference the policy gives it.
        reference: String,
    },
    /// The layout holds an image the policy does not name (or names at
    /// another reference or digest).
    #[error(
        "{}: index.json entry {entry} is an image the policy does not name: {what}",
        root.display()
    )]
    UnexpectedImage {
        /// The layout's root.
        root: PathBuf,
        /// The entry's position in `index.json` (from 0).
        entry: usize,
        /// Which image it says it is.
        what: String,
    },
    /// An `index.json` entry that a saved release does not have.
    #[error("{}: index.json entry {entry} ({digest}): {reason}", root.display())]
    UnexpectedEntry {
        /// The layout's root.
        root: PathBuf,
        /// The entry's position in `index.json` (from 0).
        entry: usize,
        /// Its digest.
        digest: String,
        /// Why it does not belong.
        reason: String,
    },
    /// A signature, attestation or other attachment saved with an image is
    /// gone.
    #[error(
        "{}: attachment {digest} of image {image} is missing (saved with it, expected at \
         blobs/sha256/{})",
        root.display(), digest.hex()
    )]
    AttachmentMissing {
        /// The layout's root.
        root: PathBuf,
        /// The policy's name of the image.
        image: String,
        /// The attachment manifest's digest.
        digest: Sha256Digest,
    },
    /// The layout's own checks: a blob changed, missing, oversized, not a
    /// regular file, or a malformed document.
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

impl SavedLayoutError {
    /// Whether the layout is unreadable or not a saved release at all
    /// (rather than one that was changed): usually exit 3, not 1.
    pub fn is_unreadable(&self) -> bool {
        match self {
            Self::NotASavedRelease { .. } => true,
            Self::Layout(e) => matches!(
                e,
                LayoutError::NotALayout { .. }
                    | LayoutError::Refused { .. }
                    | LayoutError::UnsafeArchiveEntry { .. }
                    | LayoutError::Io { .. }
            ),
            _ => false,
        }
    }
}

/// What a saved release carries besides its images, that the index records
/// the digest of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// `trusted_root.json`.
    TrustedRoot,
    /// The release policy.
    Policy,
}

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TrustedRoot => "trusted root",
            Self::Policy => "release policy",
        })
    }
}

/// What a saved release carries besides its images: the version, the
/// trusted root and the policy, and the digests the index records for them.
#[derive(Debug, Clone)]
pub struct SavedRelease {
    /// The layout's root.
    pub root: PathBuf,
    /// The version saved.
    pub version: String,
    /// Whether the release verified when it was saved (`false` for
    /// `--no-verify`): informative only, the layout is verified again.
    pub verified_when_saved: bool,
    /// The saved `trusted_root.json`.
    pub trusted_root_json: Vec<u8>,
    /// Its SHA-256.
    pub trusted_root_digest: Sha256Digest,
    /// The trusted root's digest as the index records it.
    pub recorded_trusted_root: String,
    /// The saved policy (TOML).
    pub policy_toml: Vec<u8>,
    /// Its SHA-256.
    pub policy_digest: Sha256Digest,
    /// The policy's digest as the index records it.
    pub recorded_policy: String,
    /// The SHA-256 of `index.json`: the layout digest.
    pub index_digest: Sha256Digest,
}

impl SavedRelease {
    /// Reads what `layout` records about the release, refusing an
    /// `index.json` that does not hash to `expected_index` when given. The
    /// trusted root and policy are read, not yet compared with what the
    /// index records: [`Self::check_trusted_root`] and
    /// [`Self::check_policy`] do that for the ones the verifier did not give
    /// on the command line.
    pub fn open(
        layout: &OciLayout,
        expected_index: Option<&Sha256Digest>,
    ) -> Result<Self, SavedLayoutError> {
        let root = layout.root().to_path_buf();
        if let Some(expected) = expected_index
            && *expected != layout.index_digest()
        {
            return Err(SavedLayoutError::IndexDigestMismatch {
                root,
                expected: *expected,
                found: layout.index_digest(),
            });
        }
        let annotations = &layout.index().annotations;
        let recorded = |key: &str| {
            annotations
                .get(key)
                .cloned()
                .ok_or_else(|| SavedLayoutError::NotASavedRelease {
                    root: root.clone(),
                    reason: format!("index.json has no `{key}` annotation"),
                })
        };
        let version = recorded(VERSION_ANNOTATION)?;
        let recorded_trusted_root = recorded(TRUSTED_ROOT_ANNOTATION)?;
        let recorded_policy = recorded(POLICY_ANNOTATION)?;
        let (trusted_root_json, trusted_root_digest) =
            artifact(layout, Role::TrustedRoot, MAX_TRUSTED_ROOT)?;
        let (policy_toml, policy_digest) =
            artifact(layout, Role::Policy, crate::MAX_POLICY_SIZE as u64)?;
        Ok(Self {
            root,
            version,
            verified_when_saved: annotations.get(VERIFIED_ANNOTATION).map(String::as_str)
                == Some("true"),
            trusted_root_json,
            trusted_root_digest,
            recorded_trusted_root,
            policy_toml,
            policy_digest,
            recorded_policy,
            index_digest: layout.index_digest(),
        })
    }

    /// Refuses a trusted root other than the one the index records.
    pub fn check_trusted_root(&self) -> Result<(), SavedLayoutError> {
        self.check_recorded(Carried::TrustedRoot)
    }

    /// Refuses a policy other than the one the index records.
    pub fn check_policy(&self) -> Result<(), SavedLayoutError> {
        self.check_recorded(Carried::Policy)
    }

    /// Refuses a trusted root or policy other than the one the index records.
    fn check_recorded(&self, what: Carried) -> Result<(), SavedLayoutError> {
        let (found, recorded) = match what {
            Carried::TrustedRoot => (&self.trusted_root_digest, &self.recorded_trusted_root),
            Carried::Policy => (&self.policy_digest, &self.recorded_policy),
        };
        if found.to_string() == *recorded {
            return Ok(());
        }
        Err(SavedLayoutError::Swapped {
            root: self.root.clone(),
            what,
            recorded: recorded.clone(),
            found: found.to_string(),
        })
    }

    /// Refuses a trusted root other than `proven`, the one the saved TUF
    /// metadata proves (verified by the caller, vouch-trust).
    pub fn check_proven_trusted_root(&self, proven: &[u8]) -> Result<(), SavedLayoutError> {
        let proven = Sha256Digest::of(proven);
        if proven == self.trusted_root_digest {
            return Ok(());
        }
        Err(SavedLayoutError::TrustedRootUnproven {
            root: self.root.clone(),
            found: self.trusted_root_digest.to_string(),
            proven: proven.to_string(),
        })
    }
}

/// The files of a `vouch trust export`: each one's path in the export and
/// its bytes.
pub type ExportFiles = Vec<(String, Vec<u8>)>;

/// The files of the `vouch trust export` a saved release carries (each
/// with its path in the export), or `None` when it carries none (its
/// trusted root did not come through TUF). Every path is `vouch-export.json`,
/// `tuf/<name>` or `tuf/targets/<name>` with plain file names, at most [`MAX_TUF_FILES`] files
/// of at most [`MAX_TUF_FILE`] bytes, each hashing to its digest.
pub fn tuf_export(layout: &OciLayout) -> Result<Option<ExportFiles>, SavedLayoutError> {
    let not_saved = |reason: String| not_saved(layout, reason);
    let entries = of_role(layout, Role::Tuf);
    let entry = match entries.as_slice() {
        [] => return Ok(None),
        [one] => one,
        more => {
            return Err(not_saved(format!(
                "{} TUF exports, expected one",
                more.len()
            )));
        }
    };
    let manifest: ImageManifest = manifest_of(layout, &entry.digest)?;
    if manifest.layers.len() > MAX_TUF_FILES {
        return Err(not_saved(format!(
            "the TUF export has {} files, more than {MAX_TUF_FILES}",
            manifest.layers.len()
        )));
    }
    let mut files = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        let name = layer
            .annotations
            .get(TITLE_ANNOTATION)
            .filter(|n| is_export_path(n))
            .ok_or_else(|| {
                not_saved(format!(
                    "a TUF export file named {:?}, not vouch-export.json or under tuf/",
                    layer.annotations.get(TITLE_ANNOTATION)
                ))
            })?;
        let digest = layer
            .sha256()
            .map_err(|e| not_saved(format!("TUF export file {name}: {e}")))?;
        let bytes = layout.blob(&digest.into(), MAX_TUF_FILE, "a TUF metadata file")?;
        files.push((name.clone(), bytes));
    }
    Ok(Some(files))
}

/// Whether `path` is a file of a `vouch trust export`: `vouch-export.json`,
/// or `tuf/<name>` or `tuf/targets/<name>`, each name of letters, digits,
/// `.`, `_`, `-` that does not start with `.`.
fn is_export_path(path: &str) -> bool {
    let plain = |name: &str| {
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if path == "vouch-export.json" {
        return true;
    }
    match path.strip_prefix("tuf/") {
        Some(rest) => match rest.strip_prefix("targets/") {
            Some(name) => plain(name),
            None => plain(rest),
        },
        None => false,
    }
}

/// The `index.json` entries of `role`.
fn of_role(layout: &OciLayout, role: Role) -> Vec<&LayoutEntry> {
    layout
        .index()
        .entries
        .iter()
        .filter(|e| e.annotation(ROLE_ANNOTATION) == Some(role.as_str()))
        .collect()
}

/// The layout is not one `release save` wrote, for `reason`.
fn not_saved(layout: &OciLayout, reason: String) -> SavedLayoutError {
    SavedLayoutError::NotASavedRelease {
        root: layout.root().to_path_buf(),
        reason,
    }
}

/// The one entry of `role`, an artifact manifest with one layer: the
/// layer's bytes (at most `limit`) and digest.
fn artifact(
    layout: &OciLayout,
    role: Role,
    limit: u64,
) -> Result<(Vec<u8>, Sha256Digest), SavedLayoutError> {
    let not_saved = |reason: String| not_saved(layout, reason);
    let entries = of_role(layout, role);
    let [entry] = entries.as_slice() else {
        return Err(not_saved(format!(
            "{} entries of role `{}`, expected one",
            entries.len(),
            role.as_str()
        )));
    };
    let manifest: ImageManifest = manifest_of(layout, &entry.digest)?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(not_saved(format!(
            "the `{}` manifest has {} layers, expected one",
            role.as_str(),
            manifest.layers.len()
        )));
    };
    let digest = layer
        .sha256()
        .map_err(|e| not_saved(format!("the `{}` layer: {e}", role.as_str())))?;
    let bytes = layout.blob(&digest.into(), limit, role.as_str())?;
    Ok((bytes, digest))
}

/// Reads and parses the manifest (or index) `digest` of the layout.
fn manifest_of<T: serde::de::DeserializeOwned>(
    layout: &OciLayout,
    digest: &Digest,
) -> Result<T, SavedLayoutError> {
    let bytes = layout.blob(digest, MAX_MANIFEST_SIZE, "a manifest")?;
    serde_json::from_slice(&bytes).map_err(|e| {
        LayoutError::Malformed {
            root: layout.root().to_path_buf(),
            what: format!("manifest {digest}"),
            reason: e.to_string(),
        }
        .into()
    })
}

/// The reference a signed image of the policy has at `version`.
pub fn signed_reference(policy: &ReleasePolicy, name: &str, version: &str) -> String {
    format!("{}/{name}:{version}", policy.registry)
}

/// Checks that `layout` holds the release `policy` describes at `version`,
/// whole and nothing else: every `index.json` entry has a known role; every
/// image entry is an image the policy names, at the reference (or pinned
/// digest) it gives; every image the policy requires is there; every
/// attachment saved with an image is still there; and every blob reachable
/// from `index.json` is there, of its size and hashing to its name (layers
/// are hashed as they are read, never held whole).
pub fn check_saved_release(
    layout: &OciLayout,
    policy: &ReleasePolicy,
    version: &str,
) -> Result<(), SavedLayoutError> {
    let root = layout.root().to_path_buf();
    let mut present = BTreeSet::new();
    for (i, entry) in layout.index().entries.iter().enumerate() {
        let unexpected = |reason: String| SavedLayoutError::UnexpectedEntry {
            root: root.clone(),
            entry: i,
            digest: entry.digest.to_string(),
            reason,
        };
        let role = entry
            .annotation(ROLE_ANNOTATION)
            .ok_or_else(|| unexpected(format!("no `{ROLE_ANNOTATION}` annotation")))?;
        let role = Role::parse(role).ok_or_else(|| unexpected(format!("unknown role `{role}`")))?;
        if role == Role::Image {
            present.insert(image_entry(layout, policy, version, i, entry)?);
        }
    }
    for image in &policy.images {
        if !present.contains(&image.name)
            && matches!(image.expected_at(version), Expected::Required)
        {
            return Err(SavedLayoutError::ImageMissing {
                root,
                image: image.name.clone(),
                reference: signed_reference(policy, &image.name, version),
            });
        }
    }
    if let Some(image) = policy
        .third_party
        .iter()
        .find(|t| !present.contains(&t.name))
    {
        return Err(SavedLayoutError::ImageMissing {
            root,
            image: image.name.clone(),
            reference: image.reference.clone(),
        });
    }
    for entry in &layout.index().entries {
        check_tree(layout, &entry.digest, entry.descriptor.size, 0)?;
    }
    Ok(())
}

/// Checks image entry `i` against the policy and that its attachments are
/// all there; returns the policy's name for it.
fn image_entry(
    layout: &OciLayout,
    policy: &ReleasePolicy,
    version: &str,
    i: usize,
    entry: &LayoutEntry,
) -> Result<String, SavedLayoutError> {
    let root = layout.root().to_path_buf();
    let unexpected = |what: String| SavedLayoutError::UnexpectedImage {
        root: root.clone(),
        entry: i,
        what,
    };
    let name = entry
        .annotation(IMAGE_ANNOTATION)
        .ok_or_else(|| unexpected(format!("{} (no `{IMAGE_ANNOTATION}`)", entry.digest)))?;
    let signed = policy.images.iter().any(|im| im.name == name);
    let third_party = policy.third_party.iter().find(|t| t.name == name);
    if signed {
        let expected = signed_reference(policy, name, version);
        if entry.ref_name() != Some(expected.as_str()) {
            return Err(unexpected(format!(
                "{name} named {}, the policy's is {expected}",
                entry.ref_name().unwrap_or("(no name)")
            )));
        }
    } else if let Some(t) = third_party {
        let pinned = t
            .reference
            .parse::<Reference>()
            .ok()
            .and_then(|r| r.digest());
        if pinned.map(Digest::from) != Some(entry.digest.clone()) {
            return Err(unexpected(format!(
                "{name} at {}, the policy pins {}",
                entry.digest, t.reference
            )));
        }
    } else {
        return Err(unexpected(format!("{name} ({})", entry.digest)));
    }
    for digest in entry
        .annotation(ATTACHMENTS_ANNOTATION)
        .unwrap_or_default()
        .split(',')
        .filter(|d| !d.is_empty())
    {
        let digest: Sha256Digest =
            digest
                .parse()
                .map_err(|e| SavedLayoutError::UnexpectedEntry {
                    root: root.clone(),
                    entry: i,
                    digest: entry.digest.to_string(),
                    reason: format!("attachment `{digest}`: {e}"),
                })?;
        if !layout.has_blob(&digest.into())? {
            return Err(SavedLayoutError::AttachmentMissing {
                root: root.clone(),
                image: name.to_string(),
                digest,
            });
        }
    }
    Ok(name.to_string())
}

/// What a manifest of a saved image refers to.
pub(crate) enum Refers {
    /// An image index: its manifests.
    Manifests(Vec<Descriptor>),
    /// An image manifest: its config, then its layers.
    Blobs(Vec<Descriptor>),
}

/// What manifest `bytes`, at `depth` indexes down, refers to; an index
/// deeper than [`MAX_INDEX_DEPTH`] is refused.
pub(crate) fn refers_to(bytes: &[u8], depth: usize) -> Result<Refers, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if value.get("manifests").is_none() {
        let manifest: ImageManifest = serde_json::from_value(value).map_err(|e| e.to_string())?;
        return Ok(Refers::Blobs(
            std::iter::once(manifest.config)
                .chain(manifest.layers)
                .collect(),
        ));
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(format!(
            "image indexes nested deeper than {MAX_INDEX_DEPTH}"
        ));
    }
    let index: ImageIndex = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok(Refers::Manifests(index.manifests))
}

/// Checks the manifest or index `digest` (of `size` bytes) and everything
/// it refers to.
fn check_tree(
    layout: &OciLayout,
    digest: &Digest,
    size: u64,
    depth: usize,
) -> Result<(), SavedLayoutError> {
    let malformed = |reason: String| -> SavedLayoutError {
        LayoutError::Malformed {
            root: layout.root().to_path_buf(),
            what: format!("manifest {digest}"),
            reason,
        }
        .into()
    };
    layout.check_blob(digest, size)?;
    let bytes = layout.blob(digest, MAX_MANIFEST_SIZE, "a manifest")?;
    let (descriptors, manifests) = match refers_to(&bytes, depth).map_err(malformed)? {
        Refers::Manifests(list) => (list, true),
        Refers::Blobs(list) => (list, false),
    };
    for descriptor in descriptors {
        let child = Digest::parse(&descriptor.digest).map_err(|e| malformed(e.to_string()))?;
        if manifests {
            check_tree(layout, &child, descriptor.size, depth + 1)?;
        } else {
            layout.check_blob(&child, descriptor.size)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use vouch_oci::oci::OCI_MANIFEST;
    use vouch_oci::{LayoutIndex, LayoutWriter, REF_NAME_ANNOTATION};

    use super::*;
    use crate::save::{artifact, entry};

    const POLICY: &str = "registry = \"r.example/acme\"\n[identity]\nsubject = \"https://github.com/acme/x/.github/workflows/r.yml@refs/tags/v1\"\nissuer = \"https://token.actions.githubusercontent.com\"\n[[image]]\nname = \"operator\"\n";

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What a saved layout of one image (`operator`, one layer, one
    /// referrer) is made of, to edit one thing at a time.
    struct Parts {
        dir: Dir,
        writer: LayoutWriter,
        entries: Vec<LayoutEntry>,
        annotations: BTreeMap<String, String>,
        layer: Sha256Digest,
    }

    impl Parts {
        fn new(name: &str) -> Self {
            let dir = Dir(std::env::temp_dir().join(format!(
                "vouch-release-layout-{name}-{}",
                std::process::id()
            )));
            let _ = std::fs::remove_dir_all(&dir.0);
            let writer = LayoutWriter::create(&dir.0).unwrap();
            let root = artifact(
                &writer,
                Role::TrustedRoot,
                "t",
                "t",
                &[("t", b"{\"root\":1}")],
            )
            .unwrap();
            let policy =
                artifact(&writer, Role::Policy, "p", "p", &[("p", POLICY.as_bytes())]).unwrap();
            let layer = writer.put_blob(b"layer").unwrap();
            let config = writer.put_blob(b"{}").unwrap();
            let manifest = |extra: serde_json::Value| {
                let mut m = serde_json::json!({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "c", "digest": config.to_string(), "size": 2},
                    "layers": [{"mediaType": "l", "digest": layer.to_string(), "size": 5}],
                });
                if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
                    m.extend(extra.clone());
                }
                let bytes = serde_json::to_vec(&m).unwrap();
                (writer.put_blob(&bytes).unwrap(), bytes.len() as u64)
            };
            let (image, image_size) = manifest(serde_json::json!({}));
            let (referrer, referrer_size) = manifest(serde_json::json!({"subject": {
                "mediaType": OCI_MANIFEST, "digest": image.to_string(), "size": image_size}}));
            let mut image_entry = entry(OCI_MANIFEST, image, image_size, Role::Image);
            let a = &mut image_entry.descriptor.annotations;
            a.insert(IMAGE_ANNOTATION.into(), "operator".into());
            a.insert(
                REF_NAME_ANNOTATION.into(),
                "r.example/acme/operator:v1".into(),
            );
            a.insert(ATTACHMENTS_ANNOTATION.into(), referrer.to_string());
            let referrer_entry = entry(OCI_MANIFEST, referrer, referrer_size, Role::Referrer);
            let mut annotations = BTreeMap::new();
            annotations.insert(VERSION_ANNOTATION.into(), "v1".into());
            annotations.insert(
                TRUSTED_ROOT_ANNOTATION.into(),
                Sha256Digest::of(b"{\"root\":1}").to_string(),
            );
            annotations.insert(
                POLICY_ANNOTATION.into(),
                Sha256Digest::of(POLICY.as_bytes()).to_string(),
            );
            Self {
                dir,
                writer,
                entries: vec![root, policy, image_entry, referrer_entry],
                annotations,
                layer,
            }
        }

        /// Writes `index.json` and opens the layout.
        fn open(&self) -> OciLayout {
            self.writer
                .write_index(&LayoutIndex {
                    entries: self.entries.clone(),
                    annotations: self.annotations.clone(),
                })
                .unwrap();
            OciLayout::open(&self.dir.0).unwrap()
        }

        fn path(&self, digest: &Sha256Digest) -> PathBuf {
            self.dir.0.join("blobs/sha256").join(digest.hex())
        }
    }

    fn policy(text: &str) -> ReleasePolicy {
        ReleasePolicy::from_toml(text).unwrap()
    }

    fn check(layout: &OciLayout, text: &str) -> Result<(), SavedLayoutError> {
        check_saved_release(layout, &policy(text), "v1")
    }

    #[test]
    fn an_intact_saved_release_passes_and_reads_back() {
        let parts = Parts::new("intact");
        let layout = parts.open();
        let saved = SavedRelease::open(&layout, Some(&layout.index_digest())).unwrap();
        saved.check_trusted_root().unwrap();
        saved.check_policy().unwrap();
        assert_eq!(saved.version, "v1");
        assert_eq!(saved.policy_toml, POLICY.as_bytes());
        assert!(!saved.verified_when_saved);
        check(&layout, POLICY).unwrap();
        assert!(Path::new(&parts.dir.0).join("index.json").is_file());
    }

    #[test]
    fn a_layout_digest_other_than_the_one_given_is_refused() {
        let parts = Parts::new("digest");
        let layout = parts.open();
        let other = Sha256Digest::of(b"another index");
        assert!(matches!(
            SavedRelease::open(&layout, Some(&other)),
            Err(SavedLayoutError::IndexDigestMismatch { .. })
        ));
    }

    #[test]
    fn a_layout_without_the_release_annotations_is_not_a_saved_release() {
        let mut parts = Parts::new("bare");
        parts.annotations.clear();
        let result = SavedRelease::open(&parts.open(), None);
        assert!(
            matches!(result, Err(ref e @ SavedLayoutError::NotASavedRelease { .. }) if e.is_unreadable())
        );
    }

    #[test]
    fn a_trusted_root_or_policy_other_than_the_recorded_one_is_refused() {
        let mut parts = Parts::new("swap");
        parts.entries[0] =
            artifact(&parts.writer, Role::TrustedRoot, "t", "t", &[("t", b"{}")]).unwrap();
        let saved = SavedRelease::open(&parts.open(), None).unwrap();
        assert!(matches!(
            saved.check_trusted_root(),
            Err(SavedLayoutError::Swapped {
                what: Carried::TrustedRoot,
                ..
            })
        ));
        saved.check_policy().unwrap();
        parts.entries[1] =
            artifact(&parts.writer, Role::Policy, "p", "p", &[("p", b"x = 1")]).unwrap();
        let saved = SavedRelease::open(&parts.open(), None).unwrap();
        assert!(matches!(
            saved.check_policy(),
            Err(SavedLayoutError::Swapped {
                what: Carried::Policy,
                ..
            })
        ));
    }

    #[test]
    fn an_image_the_policy_requires_but_the_layout_lacks_is_refused() {
        let parts = Parts::new("missing");
        let layout = parts.open();
        let with_ui = format!("{POLICY}[[image]]\nname = \"ui\"\n");
        assert!(matches!(
            check(&layout, &with_ui),
            Err(SavedLayoutError::ImageMissing { ref image, .. }) if image == "ui"
        ));
        // One the policy lets be absent is not.
        let optional = format!("{POLICY}[[image]]\nname = \"ui\"\noptional = true\n");
        check(&layout, &optional).unwrap();
    }

    #[test]
    fn an_image_the_policy_does_not_name_or_names_elsewhere_is_refused() {
        let parts = Parts::new("extra");
        let layout = parts.open();
        let other = POLICY.replace("operator", "ui");
        assert!(matches!(
            check(&layout, &other),
            Err(SavedLayoutError::UnexpectedImage { entry: 2, .. })
        ));
        let moved = POLICY.replace("r.example/acme", "r.example/other");
        assert!(matches!(
            check(&layout, &moved),
            Err(SavedLayoutError::UnexpectedImage { entry: 2, .. })
        ));
    }

    #[test]
    fn an_entry_without_a_known_role_is_refused() {
        let mut parts = Parts::new("role");
        parts.entries[3]
            .descriptor
            .annotations
            .insert(ROLE_ANNOTATION.into(), "payload".into());
        assert!(matches!(
            check(&parts.open(), POLICY),
            Err(SavedLayoutError::UnexpectedEntry { entry: 3, .. })
        ));
        parts.entries[3].descriptor.annotations.clear();
        assert!(matches!(
            check(&parts.open(), POLICY),
            Err(SavedLayoutError::UnexpectedEntry { entry: 3, .. })
        ));
    }

    #[test]
    fn an_attachment_gone_from_the_layout_is_refused() {
        let mut parts = Parts::new("attachment");
        let referrer = parts.entries.remove(3);
        std::fs::remove_file(parts.path(&referrer.digest.as_sha256().unwrap())).unwrap();
        assert!(matches!(
            check(&parts.open(), POLICY),
            Err(SavedLayoutError::AttachmentMissing { ref image, .. }) if image == "operator"
        ));
    }

    #[test]
    fn a_tuf_export_is_read_back_and_only_under_its_own_names() {
        let mut parts = Parts::new("tuf");
        assert!(tuf_export(&parts.open()).unwrap().is_none());
        let files: [(&str, &[u8]); 2] = [("vouch-export.json", b"{}"), ("tuf/1.root.json", b"{}")];
        parts
            .entries
            .push(artifact(&parts.writer, Role::Tuf, "x", "application/json", &files).unwrap());
        let read = tuf_export(&parts.open()).unwrap().unwrap();
        assert_eq!(read[1], ("tuf/1.root.json".to_string(), b"{}".to_vec()));
        check(&parts.open(), POLICY).unwrap();
        for bad in [
            "../x",
            "tuf/../x",
            "tuf/.hidden",
            "tuf/a/b",
            "/etc/passwd",
            "tuf/",
        ] {
            let files: [(&str, &[u8]); 1] = [(bad, b"{}")];
            let tuf = artifact(&parts.writer, Role::Tuf, "x", "application/json", &files).unwrap();
            *parts.entries.last_mut().unwrap() = tuf;
            assert!(
                matches!(
                    tuf_export(&parts.open()),
                    Err(SavedLayoutError::NotASavedRelease { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_changed_or_missing_layer_is_refused() {
        let parts = Parts::new("layer");
        let layout = parts.open();
        std::fs::write(parts.path(&parts.layer), b"LAYER").unwrap();
        assert!(matches!(
            check(&layout, POLICY),
            Err(SavedLayoutError::Layout(
                LayoutError::BlobDigestMismatch { .. }
            ))
        ));
        std::fs::remove_file(parts.path(&parts.layer)).unwrap();
        assert!(matches!(
            check(&layout, POLICY),
            Err(SavedLayoutError::Layout(LayoutError::MissingBlob { .. }))
        ));
    }
}

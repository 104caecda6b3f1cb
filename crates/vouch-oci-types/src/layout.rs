//! The OCI image layout on disk (image-spec v1.1 `image-layout.md`), the
//! pure half: the `oci-layout` marker, `index.json`, reference names and
//! where a blob lives. Reading and writing files is `vouch-oci`'s.
//!
//! Everything here is untrusted input (a layout carried across an air gap,
//! written by `cosign save` or `skopeo copy … oci:DIR`): `index.json` is
//! size-bounded, every descriptor's digest is parsed strictly (so a blob's
//! path is built from lowercase hex only and cannot leave `blobs/`), and
//! every `org.opencontainers.image.ref.name` must follow the spec's `ref`
//! grammar (no `..`, no leading `/`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestError};
use crate::manifest::{Descriptor, ImageIndex, MAX_MANIFEST_SIZE, OCI_INDEX};

/// The marker file at the layout's root.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's entry point.
pub const INDEX_FILE: &str = "index.json";
/// The only `imageLayoutVersion` image-spec v1.0 and v1.1 define.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// The annotation naming an `index.json` entry (a tag, or a full reference).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The largest `oci-layout` file read: it holds one short JSON field.
pub const MAX_OCI_LAYOUT_SIZE: u64 = 4 * 1024;
/// The largest `index.json` read: an image index, bounded like a manifest.
pub const MAX_INDEX_SIZE: u64 = MAX_MANIFEST_SIZE;
/// The most entries `index.json` may list: a release of 100 images, each
/// with a few platforms and a handful of signatures, stays far below.
pub const MAX_INDEX_ENTRIES: usize = 10_000;
/// The longest reference name accepted (a registry host, a repository path
/// of [`crate::MAX_NAME_LEN`] and a tag fit well inside).
pub const MAX_REF_NAME_LEN: usize = 512;

/// cosign's `index.json` annotation saying what an entry is
/// (cosign `pkg/oci/layout/index.go`, `kindAnnotation`).
pub const COSIGN_KIND_ANNOTATION: &str = "kind";
/// cosign's kind of the saved image.
pub const COSIGN_KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
/// cosign's kind of the saved image index.
pub const COSIGN_KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
/// cosign's kind of the saved `.sig` manifest.
pub const COSIGN_KIND_SIGNATURES: &str = "dev.cosignproject.cosign/sigs";
/// cosign's kind of the saved `.att` manifest.
pub const COSIGN_KIND_ATTESTATIONS: &str = "dev.cosignproject.cosign/atts";

/// Why a layout (or a part of it) is refused. Each variant names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutProblem {
    /// `oci-layout` is not `{"imageLayoutVersion": "1.0.0"}`.
    #[error("oci-layout: imageLayoutVersion is {found}, expected \"{IMAGE_LAYOUT_VERSION}\"")]
    Version {
        /// What the file says (quoted), or why it could not be read.
        found: String,
    },
    /// `index.json` is not an image index.
    #[error("index.json is not an image index: {reason}")]
    Index {
        /// What is wrong.
        reason: String,
    },
    /// `index.json` lists more than [`MAX_INDEX_ENTRIES`] entries.
    #[error("index.json lists {count} entries, more than the {MAX_INDEX_ENTRIES} allowed")]
    TooManyEntries {
        /// How many.
        count: usize,
    },
    /// An entry's digest is not an OCI content digest.
    #[error("index.json entry {entry}: {error}")]
    EntryDigest {
        /// The entry's position (from 0).
        entry: usize,
        /// The digest problem.
        error: DigestError,
    },
    /// An entry's reference name breaks the image-spec `ref` grammar
    /// (path traversal, an empty component, a leading `/`, …).
    #[error(
        "index.json entry {entry}: reference name `{name}` is not a valid ref ({REF_NAME_ANNOTATION})"
    )]
    RefName {
        /// The entry's position (from 0).
        entry: usize,
        /// The name (its first characters).
        name: String,
    },
}

/// Checks the `oci-layout` file: a JSON object whose `imageLayoutVersion`
/// is exactly [`IMAGE_LAYOUT_VERSION`].
pub fn check_oci_layout(bytes: &[u8]) -> Result<(), LayoutProblem> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Marker {
        image_layout_version: Option<serde_json::Value>,
    }
    let marker: Marker = serde_json::from_slice(bytes).map_err(|e| LayoutProblem::Version {
        found: format!("unreadable ({e})"),
    })?;
    match marker.image_layout_version {
        Some(serde_json::Value::String(v)) if v == IMAGE_LAYOUT_VERSION => Ok(()),
        Some(other) => Err(LayoutProblem::Version {
            found: other.to_string().chars().take(64).collect(),
        }),
        None => Err(LayoutProblem::Version {
            found: "missing".into(),
        }),
    }
}

/// The contents of `oci-layout` vouch writes.
pub fn oci_layout_marker() -> String {
    serde_json::json!({ "imageLayoutVersion": IMAGE_LAYOUT_VERSION }).to_string()
}

/// One entry of `index.json`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutEntry {
    /// The descriptor as written.
    pub descriptor: Descriptor,
    /// Its digest, parsed.
    pub digest: Digest,
}

impl LayoutEntry {
    /// The entry's `org.opencontainers.image.ref.name`, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotation(REF_NAME_ANNOTATION)
    }

    /// One of the entry's annotations.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.descriptor.annotations.get(key).map(String::as_str)
    }
}

/// `index.json`, every entry checked.
#[derive(Debug, Clone, Default)]
pub struct LayoutIndex {
    /// The entries, in the file's order.
    pub entries: Vec<LayoutEntry>,
    /// The index's own annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `index.json` as written: an image index with annotations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireIndex {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl LayoutIndex {
    /// Parses `index.json` (at most [`MAX_INDEX_SIZE`] bytes, which the
    /// caller enforces while reading): schema version 2, at most
    /// [`MAX_INDEX_ENTRIES`] entries, each with an OCI content digest and a
    /// valid reference name if it has one.
    pub fn parse(bytes: &[u8]) -> Result<Self, LayoutProblem> {
        let wire: WireIndex = serde_json::from_slice(bytes).map_err(|e| LayoutProblem::Index {
            reason: e.to_string(),
        })?;
        if wire.schema_version != 2 {
            return Err(LayoutProblem::Index {
                reason: format!("schemaVersion {}, expected 2", wire.schema_version),
            });
        }
        if wire.manifests.len() > MAX_INDEX_ENTRIES {
            return Err(LayoutProblem::TooManyEntries {
                count: wire.manifests.len(),
            });
        }
        let mut entries = Vec::with_capacity(wire.manifests.len());
        for (entry, descriptor) in wire.manifests.into_iter().enumerate() {
            let digest = Digest::parse(&descriptor.digest)
                .map_err(|error| LayoutProblem::EntryDigest { entry, error })?;
            if let Some(name) = descriptor.annotations.get(REF_NAME_ANNOTATION)
                && !is_ref_name(name)
            {
                return Err(LayoutProblem::RefName {
                    entry,
                    name: name.chars().take(MAX_REF_NAME_LEN).collect(),
                });
            }
            entries.push(LayoutEntry { descriptor, digest });
        }
        Ok(Self {
            entries,
            annotations: wire.annotations,
        })
    }

    /// The `index.json` bytes for these entries and annotations.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            manifests: self.entries.iter().map(|e| e.descriptor.clone()).collect(),
            annotations: self.annotations.clone(),
        };
        serde_json::to_vec_pretty(&wire).unwrap_or_default()
    }

    /// The entries named `name` (`org.opencontainers.image.ref.name`).
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a LayoutEntry> {
        self.entries
            .iter()
            .filter(move |e| e.ref_name() == Some(name))
    }

    /// The entries whose cosign `kind` annotation is `kind`.
    pub fn of_cosign_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a LayoutEntry> {
        self.entries
            .iter()
            .filter(move |e| e.annotation(COSIGN_KIND_ANNOTATION) == Some(kind))
    }

    /// As an [`ImageIndex`] (without the annotations).
    pub fn as_image_index(&self) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            manifests: self.entries.iter().map(|e| e.descriptor.clone()).collect(),
        }
    }
}

/// Where a blob lives, relative to the layout's root: `blobs/<alg>/<hex>`.
/// Built from a parsed digest, so it is always two plain components under
/// `blobs/`.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Whether `name` follows image-spec's `ref` grammar for
/// `org.opencontainers.image.ref.name`:
/// `component ("/" component)*`, `component = alphanum (separator alphanum)*`,
/// `separator = [-._:@+] | "--"`, at most [`MAX_REF_NAME_LEN`] bytes.
pub fn is_ref_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_REF_NAME_LEN && name.split('/').all(is_ref_component)
}

fn is_ref_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let run = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && alnum(bytes[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < bytes.len() {
        if bytes[i..].starts_with(b"--") {
            i += 2;
        } else if b"-._:@+".contains(&bytes[i]) {
            i += 1;
        } else {
            return false;
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sha256Digest;

    fn index_with(descriptor: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"schemaVersion": 2, "manifests": [descriptor]})
            .to_string()
            .into_bytes()
    }

    fn descriptor(digest: &str, name: Option<&str>) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": crate::OCI_MANIFEST, "digest": digest, "size": 2,
        });
        if let Some(name) = name {
            d["annotations"] = serde_json::json!({ REF_NAME_ANNOTATION: name });
        }
        d
    }

    #[test]
    fn the_marker_must_say_version_1_0_0() {
        assert_eq!(check_oci_layout(oci_layout_marker().as_bytes()), Ok(()));
        for bad in [
            &br#"{"imageLayoutVersion":"2.0.0"}"#[..],
            br#"{"imageLayoutVersion":1}"#,
            br#"{}"#,
            b"not json",
        ] {
            assert!(
                matches!(check_oci_layout(bad), Err(LayoutProblem::Version { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn entries_parse_with_their_names() {
        let digest = Sha256Digest::of(b"{}").to_string();
        let index = LayoutIndex::parse(&index_with(descriptor(&digest, Some("v1.2.0")))).unwrap();
        assert_eq!(index.entries[0].digest.to_string(), digest);
        assert_eq!(index.named("v1.2.0").count(), 1);
        let again = LayoutIndex::parse(&index.to_json()).unwrap();
        assert_eq!(again.entries, index.entries);
    }

    #[test]
    fn refuses_bad_digests_and_traversing_names() {
        let digest = Sha256Digest::of(b"{}").to_string();
        for bad in ["sha256:../../etc/passwd", "md5:abc", "sha256:ABC"] {
            assert!(matches!(
                LayoutIndex::parse(&index_with(descriptor(bad, None))),
                Err(LayoutProblem::EntryDigest { entry: 0, .. })
            ));
        }
        for bad in [
            "../v1",
            "/etc/passwd",
            "a//b",
            "v1/..",
            "",
            "a b",
            ".hidden",
        ] {
            assert!(
                matches!(
                    LayoutIndex::parse(&index_with(descriptor(&digest, Some(bad)))),
                    Err(LayoutProblem::RefName { entry: 0, .. })
                ),
                "{bad:?}"
            );
        }
        for good in [
            "v1.2.0",
            "registry.example.com/acme/app:v1",
            "sha256-abc.sig",
            "a--b",
        ] {
            assert!(is_ref_name(good), "{good}");
        }
    }

    #[test]
    fn refuses_other_schema_versions_and_too_many_entries() {
        assert!(matches!(
            LayoutIndex::parse(br#"{"schemaVersion":1,"manifests":[]}"#),
            Err(LayoutProblem::Index { .. })
        ));
        let digest = Sha256Digest::of(b"{}").to_string();
        let many: Vec<_> = (0..=MAX_INDEX_ENTRIES)
            .map(|_| descriptor(&digest, None))
            .collect();
        let bytes = serde_json::json!({"schemaVersion": 2, "manifests": many}).to_string();
        assert!(matches!(
            LayoutIndex::parse(bytes.as_bytes()),
            Err(LayoutProblem::TooManyEntries { .. })
        ));
    }

    #[test]
    fn blob_paths_stay_under_blobs() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(blob_path(&digest), format!("blobs/sha256/{}", digest.hex()));
    }
}

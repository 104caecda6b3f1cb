//! The OCI image-spec documents we read: descriptors, image manifests and
//! indexes (image-spec v1.1). Unknown fields are ignored, as the spec asks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{DigestError, Sha256Digest};

/// The largest manifest read: distribution's default limit on a manifest
/// body (`maxManifestBodySize`, 4 MiB); ggcr allows 100 MiB, but no real
/// manifest comes near 4 MiB.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The media types served and accepted as manifests: OCI image index and
/// manifest (image-spec v1.1 `media-types.md`), Docker manifest list and
/// image manifest v2 schema 2. Docker schema 1 is deprecated and never
/// asked for.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];
/// Every manifest media type we accept when resolving an image.
pub const MANIFEST_ACCEPT: &[&str] = &MANIFEST_MEDIA_TYPES;
/// The empty JSON config of artifact manifests (`{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Layer media type of cosign simple-signing signatures.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer media type of DSSE envelopes (cosign `.att`).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Prefix of Sigstore bundle media types (layers and artifact types).
pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The artifact type cosign v3 gives bundle referrers.
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The referenced content's media type.
    pub media_type: String,
    /// `sha256:<hex>` (or another algorithm, which vouch does not fetch).
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type, for artifact manifests in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform, for entries of an image index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The digest as a SHA-256 digest; other algorithms are refused.
    pub fn sha256(&self) -> Result<Sha256Digest, DigestError> {
        self.digest.parse()
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Platform {
    /// `linux`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type, when present.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1 artifacts).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (also the referrers API answer).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type, when present.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Why content is not served or read as a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAManifest {
    /// The media type is not one of [`MANIFEST_MEDIA_TYPES`] (an upstream
    /// answering `text/html`, say, after a redirect to a web page).
    #[error("media type {0:?} is not an OCI or Docker manifest or index type")]
    MediaType(String),
    /// The body is not a JSON object.
    #[error("the body is not a JSON object ({0})")]
    NotJson(String),
}

/// Refuses content that is not a manifest: a media type outside
/// [`MANIFEST_MEDIA_TYPES`], or a body that is not a JSON object (both
/// image-spec manifest and index are JSON objects).
pub fn check_manifest(media_type: &str, bytes: &[u8]) -> Result<(), NotAManifest> {
    if !MANIFEST_MEDIA_TYPES.contains(&media_type) {
        return Err(NotAManifest::MediaType(
            media_type.chars().take(256).collect(),
        ));
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
        .map(drop)
        .map_err(|e| NotAManifest::NotJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_manifests_pass_as_manifests() {
        assert_eq!(
            check_manifest(OCI_MANIFEST, br#"{"schemaVersion":2}"#),
            Ok(())
        );
        for media_type in MANIFEST_MEDIA_TYPES {
            assert_eq!(check_manifest(media_type, b"{}"), Ok(()));
        }
        for media_type in ["text/html", "application/json", OCI_EMPTY, ""] {
            assert!(matches!(
                check_manifest(media_type, b"{}"),
                Err(NotAManifest::MediaType(_))
            ));
        }
        for body in [&b"<html>"[..], b"[1]", b"\"s\"", b""] {
            assert!(matches!(
                check_manifest(OCI_MANIFEST, body),
                Err(NotAManifest::NotJson(_))
            ));
        }
    }

    #[test]
    fn descriptors_read_sha256_digests_only() {
        let d: Descriptor = serde_json::from_str(&format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"unknown":true}}"#,
            Sha256Digest::of(b"x")
        ))
        .unwrap();
        assert_eq!(d.sha256().unwrap(), Sha256Digest::of(b"x"));
        let sha512 = crate::Digest::of(crate::DigestAlgorithm::Sha512, b"x");
        let d = Descriptor {
            digest: sha512.to_string(),
            ..d
        };
        assert!(matches!(d.sha256(), Err(DigestError::Sha256 { .. })));
    }

    #[test]
    fn manifests_and_indexes_parse_with_defaults() {
        let index: ImageIndex = serde_json::from_str(r#"{"schemaVersion":2}"#).unwrap();
        assert!(index.manifests.is_empty());
        assert!(serde_json::from_str::<ImageManifest>(r#"{"schemaVersion":2}"#).is_err());
    }
}

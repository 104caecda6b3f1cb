//! What a license may pull: the pure part of the decision.
//!
//! A license is assigned channels; a channel's releases grant tags (or
//! pinned digests) in repositories. From those:
//! - a **tag** is allowed if a release on one of the license's channels
//!   grants it in this repository;
//! - an **artefact tag** (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) is
//!   allowed if its subject digest is allowed, so signatures and the
//!   referrers tag schema work for whatever the customer may pull
//!   (research/proxy.md §2.7);
//! - a **digest** is allowed if it is reachable from an allowed root
//!   (pinned digests and the digests granted tags point or pointed to)
//!   through index → manifest → config/layers links, or through artefacts
//!   attached to a reachable manifest.
//!
//! What is not allowed is, for the license, not there: a 404
//! (`MANIFEST_UNKNOWN` / `BLOB_UNKNOWN`, as the distribution-spec requires
//! for content not found), the same answer whether or not the upstream
//! has it, with the reason in the message. Only a tag that another
//! channel of the app releases is a 403 `DENIED` naming that channel: the
//! customer needs that message, and it tells them nothing about the
//! upstream they could not read in the vendor's release notes.
//!
//! This module decides tags and parses manifest links; [`graph`] walks
//! the graph of links, reading manifests and tags through a trait the
//! server implements.

pub mod graph;

use serde::Deserialize;

use crate::names::{ChannelName, Digest, Reference, Repository, Tag};
use crate::store::{License, Release};

/// Manifests fetched while deciding one digest request. An index of ~10
/// platforms with signatures and attestations is ~40 manifests per
/// version; 2048 covers ~50 entitled versions of one repository, and
/// bounds the work one request can cause.
pub const MAX_MANIFESTS_PER_CHECK: usize = 2048;
/// Descriptors read from one manifest; larger lists are refused as not
/// plausible (an index with 1000 platforms, an image with 1000 layers).
pub const MAX_LINKS_PER_MANIFEST: usize = 1000;

/// How a tag request is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagDecision {
    /// A release on one of the license's channels grants it.
    Granted,
    /// An artefact tag: allowed if this subject digest is.
    Artifact(Digest),
    /// No channel of the app releases it here: for this license the tag
    /// does not exist (a 404, like a tag the upstream lacks), with the
    /// message to show.
    NotReleased(String),
    /// Another channel of the app releases it: refused (403) with the
    /// message to show, which names that channel.
    OnOtherChannel(String),
}

/// One license's view of its app's releases.
#[derive(Debug, Clone, Copy)]
pub struct Entitlements<'a> {
    license: &'a License,
    releases: &'a [Release],
}

fn applies(release: &Release, repository: &Repository) -> bool {
    release.repository.as_ref().is_none_or(|r| r == repository)
}

fn names(channels: &[&ChannelName]) -> String {
    if channels.is_empty() {
        "none".to_string()
    } else {
        channels
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<'a> Entitlements<'a> {
    /// The view of `license` over `releases` (every release of its app).
    pub fn new(license: &'a License, releases: &'a [Release]) -> Self {
        Self { license, releases }
    }

    /// Releases of the license's channels that apply to `repository`.
    fn granted<'r>(&'r self, repository: &'r Repository) -> impl Iterator<Item = &'r Release> + 'r {
        let channels = &self.license.channels;
        self.releases
            .iter()
            .filter(move |r| channels.contains(&r.channel) && applies(r, repository))
    }

    fn license_channels(&self) -> String {
        names(&self.license.channels.iter().collect::<Vec<_>>())
    }

    /// Decides a manifest request by tag.
    pub fn tag(&self, repository: &Repository, tag: &Tag) -> TagDecision {
        let wanted = Reference::Tag(tag.clone());
        if self.granted(repository).any(|r| r.reference == wanted) {
            return TagDecision::Granted;
        }
        if let Some(subject) = tag.artifact_subject() {
            return TagDecision::Artifact(subject);
        }
        let mut serving: Vec<&ChannelName> = self
            .releases
            .iter()
            .filter(|r| r.reference == wanted && applies(r, repository))
            .map(|r| &r.channel)
            .collect();
        serving.sort();
        serving.dedup();
        let number = self.license.number;
        if serving.is_empty() {
            TagDecision::NotReleased(format!(
                "tag {tag} of {repository} is not released on any channel of app {}; license {number} is assigned to channel(s): {}",
                self.license.app,
                self.license_channels()
            ))
        } else {
            TagDecision::OnOtherChannel(format!(
                "tag {tag} of {repository} is served by channel(s) {}, but license {number} is assigned to channel(s): {}; the license must be assigned to the channel serving the version",
                names(&serving),
                self.license_channels()
            ))
        }
    }

    /// Roots of the digest graph in `repository`: pinned digests, and the
    /// tags whose digests count as roots.
    pub fn roots(&self, repository: &Repository) -> (Vec<Digest>, Vec<Tag>) {
        let mut digests = Vec::new();
        let mut tags = Vec::new();
        for release in self.granted(repository) {
            match &release.reference {
                Reference::Digest(d) if !digests.contains(d) => digests.push(d.clone()),
                Reference::Tag(t) if !tags.contains(t) => tags.push(t.clone()),
                _ => {}
            }
        }
        (digests, tags)
    }

    /// Whether a tag is granted (for filtering tag lists).
    pub fn grants_tag(&self, repository: &Repository, tag: &str) -> bool {
        self.granted(repository)
            .any(|r| matches!(&r.reference, Reference::Tag(t) if t.as_str() == tag))
    }

    /// The refusal message for a digest that is not reachable.
    pub fn digest_refusal(&self, repository: &Repository, digest: &Digest) -> String {
        format!(
            "{digest} in {repository} is not part of any version on the channel(s) license {} is assigned to ({}); pull an entitled tag, or a digest reachable from one",
            self.license.number,
            self.license_channels()
        )
    }
}

/// What a manifest links to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// Child manifests (an index's `manifests`).
    pub manifests: Vec<Digest>,
    /// Blobs (`config`, `layers`, legacy `blobs` and schema 1 `fsLayers`).
    pub blobs: Vec<Digest>,
}

/// Why a manifest's links cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinksError {
    /// Not JSON of the expected shape.
    #[error("manifest is not a JSON object with descriptor lists: {0}")]
    Malformed(String),
    /// A descriptor digest that is not a valid digest.
    #[error("manifest links to an invalid digest: {0}")]
    BadDigest(String),
    /// More than [`MAX_LINKS_PER_MANIFEST`] descriptors.
    #[error("manifest has more than {MAX_LINKS_PER_MANIFEST} descriptors")]
    TooMany,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyLayer {
    blob_sum: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestShape {
    #[serde(default)]
    manifests: Vec<Descriptor>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    blobs: Vec<Descriptor>,
    #[serde(default)]
    fs_layers: Vec<LegacyLayer>,
}

/// Reads the links of a manifest or index (unknown fields ignored;
/// `subject` is a parent, not a child, and is not followed).
pub fn links(bytes: &[u8]) -> Result<Links, LinksError> {
    let shape: ManifestShape =
        serde_json::from_slice(bytes).map_err(|e| LinksError::Malformed(e.to_string()))?;
    let count =
        shape.manifests.len() + shape.layers.len() + shape.blobs.len() + shape.fs_layers.len() + 1;
    if count > MAX_LINKS_PER_MANIFEST {
        return Err(LinksError::TooMany);
    }
    let parse = |d: &str| {
        Digest::parse(d).map_err(|_| LinksError::BadDigest(d.chars().take(200).collect()))
    };
    let mut links = Links::default();
    for d in &shape.manifests {
        links.manifests.push(parse(&d.digest)?);
    }
    for d in shape.config.iter().chain(&shape.layers).chain(&shape.blobs) {
        links.blobs.push(parse(&d.digest)?);
    }
    for l in &shape.fs_layers {
        links.blobs.push(parse(&l.blob_sum)?);
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::AppSlug;
    use crate::secret::LicenseIdHash;
    use crate::store::LicenseNumber;

    fn license(channels: &[&str]) -> License {
        License {
            number: LicenseNumber(4),
            app: AppSlug::new("acme").unwrap(),
            email: "a@example.com".into(),
            channels: channels
                .iter()
                .map(|c| ChannelName::new(c).unwrap())
                .collect(),
            id_hash: LicenseIdHash([0; 32]),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
        }
    }

    fn release(channel: &str, repo: Option<&str>, reference: &str) -> Release {
        Release {
            channel: ChannelName::new(channel).unwrap(),
            version: Tag::new("1.0").unwrap(),
            repository: repo.map(|r| Repository::parse(r).unwrap()),
            reference: Reference::parse(reference).unwrap(),
        }
    }

    fn repo(r: &str) -> Repository {
        Repository::parse(r).unwrap()
    }

    #[test]
    fn tags_are_granted_by_the_licenses_channels_only() {
        let releases = vec![
            release("stable", None, "1.0"),
            release("beta", None, "1.1"),
            release("stable", Some("ghcr.io/acme/api"), "api-only"),
        ];
        let lic = license(&["stable"]);
        let e = Entitlements::new(&lic, &releases);
        let api = repo("ghcr.io/acme/api");
        let web = repo("ghcr.io/acme/web");
        assert_eq!(e.tag(&api, &Tag::new("1.0").unwrap()), TagDecision::Granted);
        assert_eq!(e.tag(&web, &Tag::new("1.0").unwrap()), TagDecision::Granted);
        assert_eq!(
            e.tag(&api, &Tag::new("api-only").unwrap()),
            TagDecision::Granted
        );
        let TagDecision::NotReleased(m) = e.tag(&web, &Tag::new("api-only").unwrap()) else {
            panic!()
        };
        assert!(m.contains("not released on any channel"), "{m}");
        let TagDecision::OnOtherChannel(m) = e.tag(&api, &Tag::new("1.1").unwrap()) else {
            panic!()
        };
        assert!(
            m.contains("served by channel(s) beta") && m.contains("assigned to channel(s): stable"),
            "{m}"
        );
        let TagDecision::NotReleased(m) = e.tag(&api, &Tag::new("latest").unwrap()) else {
            panic!()
        };
        assert!(m.contains("not released"), "{m}");
        let hex = "ab".repeat(32);
        assert_eq!(
            e.tag(&api, &Tag::new(&format!("sha256-{hex}.sig")).unwrap()),
            TagDecision::Artifact(Digest::parse(&format!("sha256:{hex}")).unwrap())
        );
        assert!(e.grants_tag(&api, "1.0") && !e.grants_tag(&api, "1.1"));
    }

    #[test]
    fn roots_collect_pinned_digests_and_tags() {
        let d = format!("sha256:{}", "cd".repeat(32));
        let releases = vec![
            release("stable", Some("docker.io/library/postgres"), &d),
            release("stable", None, "1.0"),
            release("beta", None, "2.0"),
        ];
        let lic = license(&["stable"]);
        let e = Entitlements::new(&lic, &releases);
        let pg = repo("docker.io/library/postgres");
        let (digests, tags) = e.roots(&pg);
        assert_eq!(digests, vec![Digest::parse(&d).unwrap()]);
        assert_eq!(tags, vec![Tag::new("1.0").unwrap()]);
        let (digests, _) = e.roots(&repo("ghcr.io/acme/api"));
        assert!(digests.is_empty());
        assert!(
            e.digest_refusal(&pg, &Digest::parse(&d).unwrap())
                .contains("channel(s) license 4 is assigned to (stable)")
        );
    }

    #[test]
    fn links_follow_descriptors_but_not_subject() {
        let h = |c: &str| format!("sha256:{}", c.repeat(64));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}"}},{{"digest":"{}"}}],"subject":{{"digest":"{}"}}}}"#,
            h("1"),
            h("2"),
            h("9")
        );
        let l = links(index.as_bytes()).unwrap();
        assert_eq!(l.manifests.len(), 2);
        assert!(l.blobs.is_empty());
        let image = format!(
            r#"{{"config":{{"digest":"{}"}},"layers":[{{"digest":"{}"}}],"annotations":{{}}}}"#,
            h("3"),
            h("4")
        );
        let l = links(image.as_bytes()).unwrap();
        assert_eq!(l.blobs.len(), 2);
        let schema1 = format!(r#"{{"fsLayers":[{{"blobSum":"{}"}}]}}"#, h("5"));
        assert_eq!(links(schema1.as_bytes()).unwrap().blobs.len(), 1);
    }

    #[test]
    fn links_refuse_bad_manifests() {
        assert!(matches!(links(b"[1]"), Err(LinksError::Malformed(_))));
        assert!(matches!(
            links(br#"{"layers":[{"digest":"md5:x"}]}"#),
            Err(LinksError::BadDigest(_))
        ));
        let many = format!(
            r#"{{"layers":[{}]}}"#,
            vec![format!(r#"{{"digest":"sha256:{}"}}"#, "a".repeat(64)); 1001].join(",")
        );
        assert_eq!(links(many.as_bytes()), Err(LinksError::TooMany));
    }
}

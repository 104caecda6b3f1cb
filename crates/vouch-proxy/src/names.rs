//! Names the proxy handles, valid by construction: app slugs, channel names,
//! upstream names, repository paths, tags, digests and references.
//!
//! Everything that reaches an upstream URL or a file name passes through one
//! of these parsers first, so a value of these types cannot carry `..`, `%`,
//! `/` where it does not belong, or any byte outside the OCI grammar
//! (distribution-spec, "Pulling manifests": `<name>` and `<reference>`).
//!
//! The grammar itself (path components, repository paths, tags, digests)
//! and its limits are `vouch-oci-types`', shared with `vouch`; this module
//! adds the proxy's own names on top of it.

use std::fmt;

use vouch_oci_types::ReferenceProblem;

/// The shared grammar and digests this module builds on.
pub use vouch_oci_types::{
    Digest, DigestAlgorithm, DigestError, DigestVerifier, MAX_NAME_LEN, MAX_TAG_LEN,
    is_path_component,
};
/// An app slug or channel name is one DNS label (RFC 1035 §2.3.4: 63 octets),
/// so it can also serve as a host name label for custom domains.
pub const MAX_SLUG_LEN: usize = 63;
/// An upstream name is a host name (RFC 1035 §2.3.4: 253 characters).
pub const MAX_UPSTREAM_NAME_LEN: usize = 253;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// An app slug or channel name that is not lowercase letters and digits
    /// joined by single dashes.
    #[error(
        "invalid {what} `{value}`: use lowercase letters and digits joined by single '-', at most {MAX_SLUG_LEN} characters"
    )]
    Slug {
        /// "app slug" or "channel name".
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A repository path or upstream name outside the OCI name grammar.
    #[error("invalid repository name `{value}`: {reason}")]
    Repository {
        /// The value given.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A tag outside `[a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}`.
    #[error(
        "invalid tag `{0}`: a tag is 1-128 characters of letters, digits, '_', '.', '-' and cannot start with '.' or '-'"
    )]
    Tag(String),
    /// A digest that is not `sha256:<64 hex>` or `sha512:<128 hex>`.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SLUG_LEN
        && value.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn new(value: &str) -> Result<Self, NameError> {
                if is_slug(value) {
                    Ok(Self(value.to_string()))
                } else {
                    Err(NameError::Slug { what: $what, value: value.to_string() })
                }
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

slug_type!(
    /// An app's slug: the `<app>` in `/v2/proxy/<app>/…`.
    AppSlug,
    "app slug"
);
slug_type!(
    /// A release channel of an app (`stable`, `beta`, …).
    ChannelName,
    "channel name"
);

/// The host component of a proxy path: `ghcr.io`, `docker.io`. It names an
/// upstream registry in the configuration; it is never turned into a URL
/// by itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamName(String);

impl UpstreamName {
    /// Parses one OCI path component of at most 253 characters.
    pub fn new(value: &str) -> Result<Self, NameError> {
        if value.len() > MAX_UPSTREAM_NAME_LEN {
            return Err(NameError::Repository {
                value: value.to_string(),
                reason: "upstream name longer than 253 characters",
            });
        }
        if !is_path_component(value) {
            return Err(NameError::Repository {
                value: value.to_string(),
                reason: "an upstream name is one lowercase path component such as `ghcr.io` (no port, no '/')",
            });
        }
        Ok(Self(value.to_string()))
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository path on an upstream registry (`acme/api`): one or more OCI
/// path components joined by `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    /// Parses and validates every component.
    pub fn new(value: &str) -> Result<Self, NameError> {
        let bad = |reason| NameError::Repository {
            value: value.to_string(),
            reason,
        };
        match vouch_oci_types::check_repository_path(value) {
            Ok(()) => Ok(Self(value.to_string())),
            Err(ReferenceProblem::PathLength) if value.is_empty() => Err(bad("empty")),
            Err(ReferenceProblem::PathLength) => Err(bad("longer than 255 characters")),
            Err(_) => Err(bad(
                "each '/'-separated component must be lowercase letters and digits joined by '.', '_', '__' or '-'",
            )),
        }
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` equals `prefix` or lies below it (`acme` covers
    /// `acme` and `acme/api`, never `acmecorp`).
    pub fn is_within(&self, prefix: &RepoPath) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository on a named upstream: `ghcr.io/acme/api`. This is how
/// channels and the cache name a repository, independent of the app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    /// The upstream registry's name.
    pub upstream: UpstreamName,
    /// The path on it.
    pub path: RepoPath,
}

impl Repository {
    /// Parses `host/path…`.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let (host, path) = value.split_once('/').ok_or(NameError::Repository {
            value: value.to_string(),
            reason: "expected <upstream>/<repository path>, e.g. ghcr.io/acme/api",
        })?;
        Ok(Self {
            upstream: UpstreamName::new(host)?,
            path: RepoPath::new(path)?,
        })
    }

    /// Whether this repository lies within `prefix` (same upstream, path at
    /// or below the prefix path).
    pub fn is_within(&self, prefix: &Repository) -> bool {
        self.upstream == prefix.upstream && self.path.is_within(&prefix.path)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.upstream, self.path)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Parses and validates.
    pub fn new(value: &str) -> Result<Self, NameError> {
        match vouch_oci_types::Tag::new(value) {
            Ok(tag) => Ok(Self(tag.as_str().to_string())),
            Err(_) => Err(NameError::Tag(
                value.chars().take(MAX_TAG_LEN + 1).collect(),
            )),
        }
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// If this tag names an artefact attached to a digest — cosign's
    /// `sha256-<hex>.sig`, `.att`, `.sbom`, or the referrers tag schema's
    /// `sha256-<hex>` (distribution-spec, "Referrers Tag Schema") — that
    /// digest.
    pub fn artifact_subject(&self) -> Option<Digest> {
        let (alg, rest) = self.0.split_once('-')?;
        let hex = match rest.split_once('.') {
            Some((hex, "sig" | "att" | "sbom")) => hex,
            Some(_) => return None,
            None => rest,
        };
        Digest::parse(&format!("{alg}:{hex}")).ok()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a manifest request names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `…/manifests/v1.2.0`.
    Tag(Tag),
    /// `…/manifests/sha256:…`.
    Digest(Digest),
}

impl Reference {
    /// A digest if the text contains `:`, a tag otherwise.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        if value.contains(':') {
            Digest::parse(value)
                .map(Self::Digest)
                .map_err(NameError::Digest)
        } else {
            Tag::new(value).map(Self::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => t.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn repo_paths_refuse_traversal_on_the_shared_grammar() {
        // The grammar's cases are vouch-oci-types' tests; here, that a
        // RepoPath is refused with the proxy's error.
        assert!(RepoPath::new("acme/api").is_ok());
        for bad in ["acme/../x", "acme//api", "acme/%2e%2e"] {
            assert!(
                matches!(RepoPath::new(bad), Err(NameError::Repository { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn prefix_matching_is_by_whole_component() {
        let prefix = RepoPath::new("acme").unwrap();
        assert!(RepoPath::new("acme").unwrap().is_within(&prefix));
        assert!(RepoPath::new("acme/api").unwrap().is_within(&prefix));
        assert!(!RepoPath::new("acmecorp/api").unwrap().is_within(&prefix));
        assert!(!RepoPath::new("acm").unwrap().is_within(&prefix));
        let allowed = Repository::parse("ghcr.io/acme").unwrap();
        assert!(
            Repository::parse("ghcr.io/acme/api")
                .unwrap()
                .is_within(&allowed)
        );
        assert!(
            !Repository::parse("quay.io/acme/api")
                .unwrap()
                .is_within(&allowed)
        );
    }

    #[test]
    fn slugs_are_single_dash_lowercase_labels() {
        assert!(AppSlug::new("acme-app2").is_ok());
        for bad in [
            "",
            "Acme",
            "acme--x",
            "-acme",
            "acme-",
            "acme.x",
            "acme_x",
            &"a".repeat(64),
        ] {
            assert!(AppSlug::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_grammar() {
        for good in ["v1", "1.2.3", "_x", "sha256-abc.sig", &"a".repeat(128)] {
            assert!(Tag::new(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a%2f", &"a".repeat(129)] {
            assert!(matches!(Tag::new(bad), Err(NameError::Tag(_))), "{bad}");
        }
    }

    #[test]
    fn references_are_tags_or_content_digests_on_the_shared_grammar() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(
            Reference::parse(&digest.to_string()),
            Ok(Reference::Digest(digest))
        );
        assert!(matches!(Reference::parse("v1.0"), Ok(Reference::Tag(_))));
        let sha384 = Digest::of(DigestAlgorithm::Sha384, b"x").to_string();
        for bad in [sha384.as_str(), "sha256:abc", "md5:00"] {
            assert!(
                matches!(
                    Reference::parse(bad),
                    Err(NameError::Digest(DigestError::Content { .. }))
                ),
                "{bad}"
            );
        }
        assert!(matches!(Reference::parse(".v1"), Err(NameError::Tag(_))));
        assert!(matches!(
            RepoPath::new(""),
            Err(NameError::Repository {
                reason: "empty",
                ..
            })
        ));
        assert!(matches!(
            RepoPath::new(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::Repository {
                reason: "longer than 255 characters",
                ..
            })
        ));
    }

    #[test]
    fn artifact_tags_name_their_subject() {
        let subject = format!("sha256:{HEX}");
        for tag in [
            format!("sha256-{HEX}"),
            format!("sha256-{HEX}.sig"),
            format!("sha256-{HEX}.att"),
            format!("sha256-{HEX}.sbom"),
        ] {
            assert_eq!(
                Tag::new(&tag)
                    .unwrap()
                    .artifact_subject()
                    .unwrap()
                    .to_string(),
                subject
            );
        }
        for tag in [
            format!("sha256-{HEX}.exe"),
            format!("sha256-{}", &HEX[2..]),
            "v1.0".to_string(),
            format!("md5-{HEX}"),
        ] {
            assert!(
                Tag::new(&tag).unwrap().artifact_subject().is_none(),
                "{tag}"
            );
        }
    }
}

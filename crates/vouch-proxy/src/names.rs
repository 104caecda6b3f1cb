//! Names the proxy handles, valid by construction: app slugs, channel names,
//! upstream names, repository paths, tags, digests and references.
//!
//! Everything that reaches an upstream URL or a file name passes through one
//! of these parsers first, so a value of these types cannot carry `..`, `%`,
//! `/` where it does not belong, or any byte outside the OCI grammar
//! (distribution-spec, "Pulling manifests": `<name>` and `<reference>`).

use std::fmt;

use sha2::Digest as _;

/// distribution/reference `NameTotalLengthMax`: the longest repository name
/// (`proxy/<app>/<upstream>/<path>` for a client, `<path>` upstream).
pub const MAX_NAME_LEN: usize = 255;
/// The tag grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` allows 128 characters.
pub const MAX_TAG_LEN: usize = 128;
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
    #[error(
        "invalid digest `{0}`: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    Digest(String),
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

/// Whether `component` matches the OCI path-component grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (distribution-spec, "Pulling manifests").
/// This excludes `.`, `..`, empty components, `%` and every upper-case letter.
pub fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of [a-z0-9]+.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // One separator: '.', '_', '__' or '-'+.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

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
        if value.len() > MAX_NAME_LEN {
            return Err(bad("longer than 255 characters"));
        }
        if value.is_empty() {
            return Err(bad("empty"));
        }
        if !value.split('/').all(is_path_component) {
            return Err(bad(
                "each '/'-separated component must be lowercase letters and digits joined by '.', '_', '__' or '-'",
            ));
        }
        Ok(Self(value.to_string()))
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
        let b = value.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= MAX_TAG_LEN
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(NameError::Tag(value.to_string()))
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

/// A digest algorithm the proxy can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, 64 hex characters.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// `sha256` / `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest: `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase.
/// Other algorithms are refused because the proxy could not verify them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let bad = || NameError::Digest(value.chars().take(200).collect());
        let (alg, hex) = value.split_once(':').ok_or_else(bad)?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(bad()),
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        Ok(Self {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(sha2::Sha256::digest(bytes)),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex part (safe as a file name).
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The tag-schema form, `sha256-<hex>` (distribution-spec, "Referrers Tag Schema").
    pub fn referrers_tag(&self) -> String {
        format!("{}-{}", self.algorithm.as_str(), self.hex)
    }

    /// A hasher that checks content against this digest.
    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier {
            expected: self.clone(),
            state: match self.algorithm {
                DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
                DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            },
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// Hashes content as it streams past and says at the end whether it
/// matches the digest it was created for.
pub struct DigestVerifier {
    expected: Digest,
    state: Hasher,
}

impl fmt::Debug for DigestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl DigestVerifier {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// `Ok(())` when the content hashes to the expected digest, otherwise
    /// the digest it does hash to.
    pub fn finish(self) -> Result<(), Digest> {
        let hex = match self.state {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        if hex == self.expected.hex {
            Ok(())
        } else {
            Err(Digest {
                algorithm: self.expected.algorithm,
                hex,
            })
        }
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
            Digest::parse(value).map(Self::Digest)
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
    fn path_components_follow_the_oci_grammar() {
        for good in [
            "a",
            "ghcr.io",
            "a_b",
            "a__b",
            "a---b",
            "0",
            "us-east1-docker.pkg.dev",
        ] {
            assert!(is_path_component(good), "{good}");
        }
        for bad in [
            "", ".", "..", "a..b", "a.", ".a", "a___b", "A", "a_.b", "a%2e", "a/b", "-a", "a-",
            "a:5000", "a b", "é",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn repo_paths_refuse_traversal_and_empty_components() {
        assert!(RepoPath::new("acme/api").is_ok());
        for bad in [
            "",
            "/acme",
            "acme/",
            "acme//api",
            "acme/../x",
            "acme/./x",
            "..",
            "acme/%2e%2e",
        ] {
            assert!(RepoPath::new(bad).is_err(), "{bad}");
        }
        assert!(RepoPath::new(&"a/".repeat(128)).is_err());
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
            assert!(Tag::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_are_strict() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        for bad in [
            format!("sha256:{}", HEX.to_uppercase()),
            format!("sha256:{}", &HEX[1..]),
            format!("sha256:{HEX}0"),
            format!("sha384:{HEX}"),
            format!("sha256+b64:{HEX}"),
            "sha256:".to_string(),
            HEX.to_string(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
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

    #[test]
    fn verifier_accepts_only_matching_content() {
        let d = Digest::sha256_of(b"hello");
        let mut v = d.verifier();
        v.update(b"hel");
        v.update(b"lo");
        assert!(v.finish().is_ok());
        let mut v = d.verifier();
        v.update(b"hellO");
        assert_eq!(v.finish().unwrap_err(), Digest::sha256_of(b"hellO"));
    }
}

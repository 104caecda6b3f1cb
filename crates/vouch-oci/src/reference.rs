//! Image references, valid by construction (the distribution/reference
//! grammar, with docker's defaults).
//!
//! `app` → `docker.io/library/app:latest`; `ghcr.io/org/app:v1`;
//! `localhost:5000/app@sha256:…`; nested paths such as
//! `proxy.example.com/proxy/app/ghcr.io/org/repo/image:1.2`.

use std::fmt;
use std::str::FromStr;

use vouch_verify::Sha256Digest;

use crate::error::OciError;

/// The registry docker uses when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// The host docker actually talks to for [`DOCKER_HUB`].
pub const DOCKER_HUB_API: &str = "index.docker.io";
/// distribution/reference `NameTotalLengthMax`.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag the distribution grammar allows (`[\w][\w.-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// A registry host, with an optional port: `ghcr.io`, `localhost:5000`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registry(String);

impl Registry {
    /// Parses a host or `host:port`.
    pub fn new(host: &str) -> Result<Self, OciError> {
        let bad = |why: &str| OciError::BadReference {
            reference: host.to_string(),
            reason: why.to_string(),
        };
        if let Some((scheme, rest)) = host.split_once("://") {
            return Err(bad(&format!(
                "a registry host has no scheme: drop `{scheme}://` and give `{rest}`"
            )));
        }
        if let Some((registry, _)) = host.split_once('/') {
            return Err(bad(&format!(
                "expected a registry host (e.g. `ghcr.io` or `proxy.example.com:5000`), not a \
                 repository path: give `{registry}`"
            )));
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(bad("empty or overlong registry host"));
        }
        let host_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !host_ok {
            return Err(bad(
                "registry host must be DNS labels (letters, digits, '-') separated by '.'",
            ));
        }
        if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return Err(bad("registry port must be a number from 1 to 65535"));
        }
        Ok(Self(host.to_ascii_lowercase()))
    }

    /// The host (and port) as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host HTTP requests go to (`index.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.0 == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.0
        }
    }

    /// Whether this is a loopback address, which docker reaches over plain
    /// HTTP without being told to (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        let host = self.0.rsplit_once(':').map_or(self.0.as_str(), |(h, _)| h);
        host == "localhost"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A repository within a registry: `ghcr.io` + `org/app`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: Registry,
    path: String,
}

impl Repository {
    /// Builds a repository from a registry and a path such as `org/app`.
    pub fn new(registry: Registry, path: &str) -> Result<Self, OciError> {
        let bad = |why: String| OciError::BadReference {
            reference: format!("{registry}/{path}"),
            reason: why,
        };
        if path.is_empty() || path.len() > MAX_NAME_LEN {
            return Err(bad(format!(
                "repository path must be 1 to {MAX_NAME_LEN} characters"
            )));
        }
        for component in path.split('/') {
            if !valid_path_component(component) {
                return Err(bad(format!(
                    "`{component}` is not a valid path component (lowercase letters and digits, \
                     separated by '.', '_', '__' or '-')"
                )));
            }
        }
        Ok(Self {
            registry,
            path: path.to_string(),
        })
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The path within the registry, e.g. `library/nginx`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` (distribution/reference).
fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__', or one or more '-'.
        let start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A tag, valid by construction: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Parses a tag.
    pub fn new(tag: &str) -> Result<Self, OciError> {
        let ok = !tag.is_empty()
            && tag.len() <= MAX_TAG_LEN
            && tag.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
            });
        if !ok {
            return Err(OciError::BadReference {
                reference: tag.to_string(),
                reason: format!(
                    "a tag is 1 to {MAX_TAG_LEN} of [A-Za-z0-9_.-], not starting with '.' or '-'"
                ),
            });
        }
        Ok(Self(tag.to_string()))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// cosign's tag for an artefact attached to `digest`:
    /// `sha256-<hex>.<suffix>` (`sig`, `att`, `sbom`), or `sha256-<hex>` for
    /// the OCI referrers tag schema when `suffix` is empty.
    pub fn for_digest(digest: &Sha256Digest, suffix: &str) -> Self {
        let base = format!("sha256-{}", digest.hex());
        Self(if suffix.is_empty() {
            base
        } else {
            format!("{base}.{suffix}")
        })
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A reference to an image: a repository and a tag and/or a digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    repository: Repository,
    tag: Option<Tag>,
    digest: Option<Sha256Digest>,
}

impl Reference {
    /// A reference to `digest` in `repository`.
    pub fn with_digest(repository: Repository, digest: Sha256Digest) -> Self {
        Self {
            repository,
            tag: None,
            digest: Some(digest),
        }
    }

    /// A reference to `tag` in `repository`.
    pub fn with_tag(repository: Repository, tag: Tag) -> Self {
        Self {
            repository,
            tag: Some(tag),
            digest: None,
        }
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<Sha256Digest> {
        self.digest
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| OciError::BadReference {
            reference: s.to_string(),
            reason: why.to_string(),
        };
        if s.is_empty() || s.len() > 2 * MAX_NAME_LEN {
            return Err(bad("empty or overlong reference"));
        }
        // Kubernetes reports running images as `docker-pullable://…` (older
        // kubelets) or `docker://…`; URLs carry `https://`. A reference has
        // no scheme: say exactly what to give instead.
        if let Some((scheme, rest)) = s.split_once("://") {
            return Err(bad(&format!(
                "an image reference has no scheme: drop the `{scheme}://` prefix and give `{rest}`"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    digest
                        .parse::<Sha256Digest>()
                        .map_err(|e| bad(&e.to_string()))?,
                ),
            ),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(Tag::new(&rest[last_slash + i + 1..])?),
            ),
            None => (rest, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Registry::new(first)?, path.to_string())
            }
            _ => (Registry::new(DOCKER_HUB)?, name.to_string()),
        };
        let path = if registry.as_str() == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let repository = Repository::new(registry, &path)?;
        let tag = match (&tag, &digest) {
            (None, None) => Some(Tag::new("latest")?),
            _ => tag,
        };
        Ok(Self {
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn refusal(result: Result<impl std::fmt::Debug, OciError>) -> String {
        match result {
            Err(OciError::BadReference { reason, .. }) => reason,
            other => panic!("expected BadReference, got {other:?}"),
        }
    }

    #[test]
    fn a_scheme_or_a_path_where_a_host_belongs_says_what_to_give() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for scheme in ["docker-pullable", "docker", "https"] {
            let given = format!("{scheme}://ghcr.io/acme/app@{digest}");
            let reason = refusal(given.parse::<Reference>());
            assert!(
                reason.contains(&format!(
                    "drop the `{scheme}://` prefix and give `ghcr.io/acme/app@{digest}`"
                )),
                "{reason}"
            );
        }
        let reason = refusal(Registry::new("proxy.example.com/proxy/acme"));
        assert!(
            reason.contains("not a repository path: give `proxy.example.com`"),
            "{reason}"
        );
        let reason = refusal(Registry::new("https://ghcr.io"));
        assert!(
            reason.contains("drop `https://` and give `ghcr.io`"),
            "{reason}"
        );
    }

    #[test]
    fn applies_docker_defaults() {
        assert_eq!(parse("nginx").to_string(), "docker.io/library/nginx:latest");
        assert_eq!(parse("acme/app:1").to_string(), "docker.io/acme/app:1");
        assert_eq!(
            parse("nginx").repository().registry().api_host(),
            "index.docker.io"
        );
    }

    #[test]
    fn parses_hosts_ports_and_nested_paths() {
        let r = parse("localhost:5000/app:v1");
        assert_eq!(r.repository().registry().as_str(), "localhost:5000");
        assert_eq!(r.tag().unwrap().as_str(), "v1");
        assert!(r.repository().registry().is_loopback());
        let r = parse("image-proxy.example.com/proxy/app/ghcr.io/org/repo/image:1.2.3");
        assert_eq!(r.repository().path(), "proxy/app/ghcr.io/org/repo/image");
        assert_eq!(r.manifest_reference(), "1.2.3");
        assert!(
            parse("127.0.0.1:15000/a/b")
                .repository()
                .registry()
                .is_loopback()
        );
    }

    #[test]
    fn digest_wins_over_tag() {
        let d = Sha256Digest::of(b"x");
        let r = parse(&format!("ghcr.io/org/app:v1@{d}"));
        assert_eq!(r.digest(), Some(d));
        assert_eq!(r.manifest_reference(), d.to_string());
        let r = parse(&format!("ghcr.io/org/app@{d}"));
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "UPPER/case",
            "ghcr.io/org/app:",
            "ghcr.io/org/app:-tag",
            "ghcr.io/org//app",
            "ghcr.io/org/app@sha256:abc",
            "ghcr.io/../etc",
            "ghcr.io:99999/app",
            "ghcr.io/org/a..b",
            &format!("ghcr.io/org/app:{}", "t".repeat(129)),
        ] {
            assert!(bad.parse::<Reference>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn path_components_follow_the_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "0abc"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "a___b", "a-", "A", "a.-b", ".."] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn cosign_tags_name_the_digest() {
        let d = Sha256Digest::of(b"x");
        assert_eq!(
            Tag::for_digest(&d, "sig").as_str(),
            format!("sha256-{}.sig", d.hex())
        );
        assert_eq!(
            Tag::for_digest(&d, "").as_str(),
            format!("sha256-{}", d.hex())
        );
    }
}

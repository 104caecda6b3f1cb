//! Image references, valid by construction (the distribution/reference
//! grammar, with docker's defaults), and the grammar's pieces the proxy
//! builds its own names on: path components, repository paths and tags.
//!
//! `app` → `docker.io/library/app:latest`; `ghcr.io/org/app:v1`;
//! `localhost:5000/app@sha256:…`; nested paths such as
//! `proxy.example.com/proxy/app/ghcr.io/org/repo/image:1.2`.

use std::fmt;
use std::str::FromStr;

use crate::digest::{DigestError, Sha256Digest};

/// The registry docker uses when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// The host docker actually talks to for [`DOCKER_HUB`].
pub const DOCKER_HUB_API: &str = "index.docker.io";
/// distribution/reference `NameTotalLengthMax`: the longest repository
/// name, and the longest registry host.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag the distribution grammar allows (`[\w][\w.-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;
/// Longest whole reference: a name and a tag or digest, each within
/// [`MAX_NAME_LEN`] (the longest digest, `sha512:` + 128 hex, is shorter).
pub const MAX_REFERENCE_LEN: usize = 2 * MAX_NAME_LEN;

/// A reference, registry, repository or tag that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference `{given}`: {problem}")]
pub struct ReferenceError {
    /// What was given.
    pub given: String,
    /// Which rule it breaks.
    pub problem: ReferenceProblem,
}

/// Which rule of the reference grammar a value breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceProblem {
    /// Empty, or longer than [`MAX_REFERENCE_LEN`].
    #[error("empty or overlong reference")]
    Length,
    /// A reference written as a URL (`docker://…`, `https://…`).
    #[error("an image reference has no scheme: drop the `{scheme}://` prefix and give `{rest}`")]
    ReferenceScheme {
        /// The scheme given.
        scheme: String,
        /// The reference without it.
        rest: String,
    },
    /// A registry host written as a URL.
    #[error("a registry host has no scheme: drop `{scheme}://` and give `{rest}`")]
    HostScheme {
        /// The scheme given.
        scheme: String,
        /// The host without it.
        rest: String,
    },
    /// A repository path where a registry host belongs.
    #[error(
        "expected a registry host (e.g. `ghcr.io` or `proxy.example.com:5000`), not a \
         repository path: give `{registry}`"
    )]
    PathInHost {
        /// The host part.
        registry: String,
    },
    /// An empty registry host, or one longer than [`MAX_NAME_LEN`].
    #[error("empty or overlong registry host")]
    HostLength,
    /// A registry host that is not DNS labels.
    #[error("registry host must be DNS labels (letters, digits, '-') separated by '.'")]
    HostLabels,
    /// A port that is not 1 to 65535.
    #[error("registry port must be a number from 1 to 65535")]
    Port,
    /// An empty repository path, or one longer than [`MAX_NAME_LEN`].
    #[error("repository path must be 1 to {MAX_NAME_LEN} characters")]
    PathLength,
    /// A path component outside the grammar ([`is_path_component`]).
    #[error(
        "`{component}` is not a valid path component (lowercase letters and digits, \
         separated by '.', '_', '__' or '-')"
    )]
    PathComponent {
        /// The component.
        component: String,
    },
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}`.
    #[error("a tag is 1 to {MAX_TAG_LEN} of [A-Za-z0-9_.-], not starting with '.' or '-'")]
    Tag,
    /// A digest that is not `sha256:<64 lowercase hex>`.
    #[error(transparent)]
    Digest(DigestError),
}

impl ReferenceProblem {
    fn of(self, given: &str) -> ReferenceError {
        ReferenceError {
            given: given.chars().take(MAX_REFERENCE_LEN + 1).collect(),
            problem: self,
        }
    }
}

/// Whether `component` matches the path-component grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (distribution-spec, "Pulling
/// manifests"). This excludes `.`, `..`, empty components, `%`, `:` and
/// every upper-case letter.
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

/// Checks a repository path (`org/app`): 1 to [`MAX_NAME_LEN`] characters
/// of [`is_path_component`]s joined by `/`.
pub fn check_repository_path(path: &str) -> Result<(), ReferenceProblem> {
    if path.is_empty() || path.len() > MAX_NAME_LEN {
        return Err(ReferenceProblem::PathLength);
    }
    match path.split('/').find(|c| !is_path_component(c)) {
        Some(component) => Err(ReferenceProblem::PathComponent {
            component: component.chars().take(MAX_NAME_LEN).collect(),
        }),
        None => Ok(()),
    }
}

/// A registry host, with an optional port: `ghcr.io`, `localhost:5000`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registry(String);

impl Registry {
    /// Parses a host or `host:port`.
    pub fn new(host: &str) -> Result<Self, ReferenceError> {
        let bad = |problem: ReferenceProblem| problem.of(host);
        if let Some((scheme, rest)) = host.split_once("://") {
            return Err(bad(ReferenceProblem::HostScheme {
                scheme: scheme.to_string(),
                rest: rest.to_string(),
            }));
        }
        if let Some((registry, _)) = host.split_once('/') {
            return Err(bad(ReferenceProblem::PathInHost {
                registry: registry.to_string(),
            }));
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(bad(ReferenceProblem::HostLength));
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
            return Err(bad(ReferenceProblem::HostLabels));
        }
        if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return Err(bad(ReferenceProblem::Port));
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
    pub fn new(registry: Registry, path: &str) -> Result<Self, ReferenceError> {
        check_repository_path(path).map_err(|problem| problem.of(&format!("{registry}/{path}")))?;
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

/// A tag, valid by construction: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Parses a tag.
    pub fn new(tag: &str) -> Result<Self, ReferenceError> {
        let ok = !tag.is_empty()
            && tag.len() <= MAX_TAG_LEN
            && tag.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
            });
        if !ok {
            return Err(ReferenceProblem::Tag.of(tag));
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
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |problem: ReferenceProblem| problem.of(s);
        if s.is_empty() || s.len() > MAX_REFERENCE_LEN {
            return Err(bad(ReferenceProblem::Length));
        }
        // Kubernetes reports running images as `docker-pullable://…` (older
        // kubelets) or `docker://…`; URLs carry `https://`. A reference has
        // no scheme: say exactly what to give instead.
        if let Some((scheme, rest)) = s.split_once("://") {
            return Err(bad(ReferenceProblem::ReferenceScheme {
                scheme: scheme.to_string(),
                rest: rest.to_string(),
            }));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    digest
                        .parse::<Sha256Digest>()
                        .map_err(|e| bad(ReferenceProblem::Digest(e)))?,
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

    fn refusal(result: Result<impl std::fmt::Debug, ReferenceError>) -> String {
        match result {
            Err(e) => e.problem.to_string(),
            Ok(other) => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn problem(result: Result<impl std::fmt::Debug, ReferenceError>) -> ReferenceProblem {
        result
            .map(|ok| panic!("accepted {ok:?}"))
            .unwrap_err()
            .problem
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
    fn rejects_malformed_references_naming_the_rule() {
        use ReferenceProblem as P;
        let long_tag = format!("ghcr.io/org/app:{}", "t".repeat(129));
        let long_path = format!("ghcr.io/{}", "a/".repeat(128));
        type Expected = fn(&ReferenceProblem) -> bool;
        let cases: [(&str, Expected); 12] = [
            ("", |p| matches!(p, P::Length)),
            ("UPPER/case", |p| matches!(p, P::PathComponent { .. })),
            ("ghcr.io/org/app:", |p| matches!(p, P::Tag)),
            ("ghcr.io/org/app:-tag", |p| matches!(p, P::Tag)),
            ("ghcr.io/org//app", |p| matches!(p, P::PathComponent { .. })),
            ("ghcr.io/org/app@sha256:abc", |p| matches!(p, P::Digest(_))),
            ("ghcr.io/../etc", |p| matches!(p, P::PathComponent { .. })),
            ("ghcr.io:99999/app", |p| matches!(p, P::Port)),
            ("ghcr.io/org/a..b", |p| matches!(p, P::PathComponent { .. })),
            (&long_tag, |p| matches!(p, P::Tag)),
            (&long_path, |p| matches!(p, P::PathLength)),
            ("https://ghcr.io/a", |p| {
                matches!(p, P::ReferenceScheme { .. })
            }),
        ];
        for (bad, expected) in cases {
            let found = problem(bad.parse::<Reference>());
            assert!(expected(&found), "{bad:?}: {found:?}");
        }
        let overlong = "a".repeat(MAX_REFERENCE_LEN + 1);
        assert!(matches!(problem(overlong.parse::<Reference>()), P::Length));
    }

    #[test]
    fn registry_hosts_name_the_rule() {
        use ReferenceProblem as P;
        assert!(matches!(problem(Registry::new("")), P::HostLength));
        assert!(matches!(
            problem(Registry::new(&"a".repeat(MAX_NAME_LEN + 1))),
            P::HostLength
        ));
        for bad in ["-a.io", "a_b.io", "a..io", "a.io-"] {
            assert!(
                matches!(problem(Registry::new(bad)), P::HostLabels),
                "{bad}"
            );
        }
        for bad in ["a.io:0", "a.io:x", "a.io:65536"] {
            assert!(matches!(problem(Registry::new(bad)), P::Port), "{bad}");
        }
        assert!(matches!(
            problem(Registry::new("a.io/x")),
            P::PathInHost { .. }
        ));
        assert!(matches!(
            problem(Registry::new("http://a.io")),
            P::HostScheme { .. }
        ));
        assert_eq!(
            Registry::new("GHCR.io:443").unwrap().as_str(),
            "ghcr.io:443"
        );
    }

    #[test]
    fn repository_paths_refuse_traversal_and_empty_components() {
        assert_eq!(check_repository_path("acme/api"), Ok(()));
        for bad in [
            "/acme",
            "acme/",
            "acme//api",
            "acme/../x",
            "acme/./x",
            "..",
            "acme/%2e%2e",
        ] {
            assert!(
                matches!(
                    check_repository_path(bad),
                    Err(ReferenceProblem::PathComponent { .. })
                ),
                "{bad}"
            );
        }
        for bad in [String::new(), "a/".repeat(128)] {
            assert_eq!(
                check_repository_path(&bad),
                Err(ReferenceProblem::PathLength)
            );
        }
        let registry = Registry::new("ghcr.io").unwrap();
        assert!(matches!(
            Repository::new(registry, "a//b").unwrap_err().problem,
            ReferenceProblem::PathComponent { .. }
        ));
    }

    #[test]
    fn tags_follow_the_grammar() {
        for good in [
            "v1",
            "1.2.3",
            "_x",
            "sha256-abc.sig",
            &"a".repeat(MAX_TAG_LEN),
        ] {
            assert!(Tag::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "a:b",
            "a%2f",
            "é",
            &"a".repeat(MAX_TAG_LEN + 1),
        ] {
            assert!(
                matches!(problem(Tag::new(bad)), ReferenceProblem::Tag),
                "{bad}"
            );
        }
    }

    #[test]
    fn path_components_follow_the_grammar() {
        for ok in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "0abc",
            "ghcr.io",
            "us-east1-docker.pkg.dev",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", ".a", "a.", "a..b", "a___b", "a-", "-a", "A", "a.-b", "a_.b", "..", ".", "a%2e",
            "a/b", "a:5000", "a b", "é",
        ] {
            assert!(!is_path_component(bad), "{bad}");
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

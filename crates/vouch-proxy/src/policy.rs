//! An app's release policy: who signs the vendor's images and which
//! attestations each carries, set by the vendor (`vouch-proxy app policy
//! set`) and handed to customers by the portal as the TOML file `vouch
//! verify-release --policy` reads (docs/release-policy.md), with the
//! registry rewritten to the proxy path the customer pulls from.
//!
//! Pure: values in, values or a [`PolicyError`] out. Every part is checked
//! when it is set, so a stored policy always renders to a file
//! `verify-release` accepts (`tests/proxy/portal.rs` parses the rendered
//! file with vouch-release's own parser).

use serde::{Deserialize, Serialize};

use crate::names::{Digest, NameError, RepoPath, Repository, Tag};

/// Longest identity or builder pattern accepted: vouch-verify's
/// `MAX_PATTERN_LEN` (4096 bytes), so a pattern stored here is never
/// refused by `verify-release` for its length.
pub const MAX_PATTERN_LEN: usize = 4096;
/// Most images a policy names. The seed vendor's platform has 11; a
/// release of hundreds fits.
pub const MAX_POLICY_IMAGES: usize = 1000;
/// Most required attestations (cosign knows ten `--type` names).
pub const MAX_POLICY_ATTESTATIONS: usize = 32;
/// Longest exact identity or issuer value (a certificate SAN URI is far
/// shorter; this bounds what the portal renders).
pub const MAX_IDENTITY_LEN: usize = 4096;

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A pattern that does not compile or is empty or too long.
    #[error("{what} {pattern:?} is not a usable pattern: {reason}")]
    BadPattern {
        /// Which setting.
        what: &'static str,
        /// The pattern, cut at 200 characters.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// An exact identity or issuer that is empty, too long or holds
    /// control characters.
    #[error(
        "{what} {value:?} is empty, longer than {MAX_IDENTITY_LEN} bytes or holds control characters"
    )]
    BadValue {
        /// Which setting.
        what: &'static str,
        /// The value, cut at 200 characters.
        value: String,
    },
    /// An attestation that is neither a cosign `--type` name nor an absolute URI.
    #[error(
        "attestation {0:?}: expected a cosign --type name (spdxjson, slsaprovenance1, openvex, …) or a predicate type URI"
    )]
    UnknownAttestation(String),
    /// An image name outside the OCI repository grammar.
    #[error("image {value:?}: {source}")]
    BadImage {
        /// The name given.
        value: String,
        /// Why.
        source: NameError,
    },
    /// The same image twice.
    #[error("image {0:?} is named twice")]
    DuplicateImage(String),
    /// No images, or more than [`MAX_POLICY_IMAGES`].
    #[error("a policy names between 1 and {MAX_POLICY_IMAGES} images, found {0}")]
    ImageCount(usize),
    /// More than [`MAX_POLICY_ATTESTATIONS`].
    #[error("a policy requires at most {MAX_POLICY_ATTESTATIONS} attestations, found {0}")]
    AttestationCount(usize),
    /// A stored policy that does not parse back.
    #[error("stored release policy does not parse: {0}")]
    Stored(String),
}

/// How a certificate claim must look: the whole value, or a pattern the
/// whole value matches (as everywhere in vouch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClaimMatch {
    /// Exactly this value.
    Exact(String),
    /// A regular expression the whole value must match.
    Regexp(String),
}

impl ClaimMatch {
    fn check(&self, what: &'static str) -> Result<(), PolicyError> {
        match self {
            Self::Exact(value) => {
                if value.is_empty()
                    || value.len() > MAX_IDENTITY_LEN
                    || value.chars().any(char::is_control)
                {
                    return Err(PolicyError::BadValue {
                        what,
                        value: value.chars().take(200).collect(),
                    });
                }
                Ok(())
            }
            Self::Regexp(pattern) => check_pattern(what, pattern),
        }
    }

    /// The cosign flag pair for this claim: `--certificate-identity` /
    /// `--certificate-identity-regexp` (or the issuer's), with the value
    /// cosign wants. cosign's patterns match anywhere, vouch's the whole
    /// value, so a pattern is anchored as `^(?:…)$`.
    pub fn cosign_flag(&self, exact_flag: &'static str) -> (String, String) {
        match self {
            Self::Exact(value) => (exact_flag.to_string(), value.clone()),
            Self::Regexp(pattern) => (format!("{exact_flag}-regexp"), format!("^(?:{pattern})$")),
        }
    }
}

/// Checks a whole-match pattern as vouch-verify compiles it: not empty,
/// at most [`MAX_PATTERN_LEN`] bytes, compiling as typed and anchored.
fn check_pattern(what: &'static str, pattern: &str) -> Result<(), PolicyError> {
    let problem = match pattern.len() {
        0 => Some("an empty pattern would match any value".to_string()),
        n if n > MAX_PATTERN_LEN => Some(format!("longer than {MAX_PATTERN_LEN} bytes")),
        _ => [pattern.to_string(), format!("^(?:{pattern})$")]
            .iter()
            .find_map(|form| regex::Regex::new(form).err().map(|e| e.to_string())),
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(PolicyError::BadPattern {
            what,
            pattern: pattern.chars().take(200).collect(),
            reason,
        }),
    }
}

/// An app's release policy, as the vendor sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPolicy {
    /// The upstream repository the release's images sit under
    /// (`ghcr.io/acme/platform`: images are `ghcr.io/acme/platform/<name>`).
    pub repository: Repository,
    /// The signed images, by name under [`AppPolicy::repository`].
    pub images: Vec<RepoPath>,
    /// The certificate identity (SAN) that must have signed.
    pub subject: ClaimMatch,
    /// The OIDC issuer of that identity.
    pub issuer: ClaimMatch,
    /// Attestations every image must carry: cosign `--type` names or URIs.
    pub attestations: Vec<String>,
    /// A pattern every verified SLSA provenance's builder ID must match.
    pub slsa_builder_id_regexp: Option<String>,
}

impl AppPolicy {
    /// Checks every part: patterns compile as vouch compiles them, the
    /// attestation names are cosign's (or URIs), image names are OCI
    /// repository paths, none twice, within the bounds above.
    pub fn check(&self) -> Result<(), PolicyError> {
        self.subject.check("subject")?;
        self.issuer.check("issuer")?;
        if let Some(p) = &self.slsa_builder_id_regexp {
            check_pattern("SLSA builder ID pattern", p)?;
        }
        if self.images.is_empty() || self.images.len() > MAX_POLICY_IMAGES {
            return Err(PolicyError::ImageCount(self.images.len()));
        }
        for (i, image) in self.images.iter().enumerate() {
            if self.images[..i].contains(image) {
                return Err(PolicyError::DuplicateImage(image.to_string()));
            }
        }
        if self.attestations.len() > MAX_POLICY_ATTESTATIONS {
            return Err(PolicyError::AttestationCount(self.attestations.len()));
        }
        for a in &self.attestations {
            vouch_attest::PredicateFilter::parse(a)
                .map_err(|_| PolicyError::UnknownAttestation(a.clone()))?;
        }
        Ok(())
    }

    /// Parses image names given on the command line.
    pub fn parse_images(values: &[String]) -> Result<Vec<RepoPath>, PolicyError> {
        values
            .iter()
            .map(|v| {
                RepoPath::new(v).map_err(|source| PolicyError::BadImage {
                    value: v.clone(),
                    source,
                })
            })
            .collect()
    }

    /// The stored form (JSON).
    pub fn to_stored(&self) -> String {
        let stored = StoredPolicy {
            repository: self.repository.to_string(),
            images: self.images.iter().map(|i| i.to_string()).collect(),
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            attestations: self.attestations.clone(),
            slsa_builder_id_regexp: self.slsa_builder_id_regexp.clone(),
        };
        serde_json::to_string(&stored).expect("a policy serializes")
    }

    /// A stored policy, checked again.
    pub fn from_stored(text: &str) -> Result<Self, PolicyError> {
        let stored: StoredPolicy =
            serde_json::from_str(text).map_err(|e| PolicyError::Stored(e.to_string()))?;
        let policy = Self {
            repository: Repository::parse(&stored.repository)
                .map_err(|e| PolicyError::Stored(e.to_string()))?,
            images: Self::parse_images(&stored.images)?,
            subject: stored.subject,
            issuer: stored.issuer,
            attestations: stored.attestations,
            slsa_builder_id_regexp: stored.slsa_builder_id_regexp,
        };
        policy.check()?;
        Ok(policy)
    }

    /// The repository of image `name`; an error when the whole path is
    /// longer than the OCI grammar allows.
    pub fn image_repository(&self, name: &RepoPath) -> Result<Repository, NameError> {
        Ok(Repository {
            upstream: self.repository.upstream.clone(),
            path: RepoPath::new(&format!("{}/{}", self.repository.path, name))?,
        })
    }

    /// The name of `repository` under [`AppPolicy::repository`], if it
    /// lies below it.
    pub fn name_of(&self, repository: &Repository) -> Option<RepoPath> {
        if repository.upstream != self.repository.upstream {
            return None;
        }
        let rest = repository
            .path
            .as_str()
            .strip_prefix(self.repository.path.as_str())?
            .strip_prefix('/')?;
        RepoPath::new(rest).ok()
    }
}

/// [`AppPolicy`] as the state database keeps it (JSON text).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPolicy {
    repository: String,
    images: Vec<String>,
    subject: ClaimMatch,
    issuer: ClaimMatch,
    attestations: Vec<String>,
    slsa_builder_id_regexp: Option<String>,
}

/// What one version of a release holds, for its policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionImages {
    /// Signed images by name under the policy's repository.
    pub signed: Vec<RepoPath>,
    /// Images pinned by digest: (name shown, repository, digest).
    pub pinned: Vec<(String, Repository, Digest)>,
}

#[derive(Serialize)]
struct PolicyFile<'a> {
    registry: String,
    identity: IdentityFile<'a>,
    attestations: AttestationsFile<'a>,
    image: Vec<ImageFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    third_party: Vec<ThirdPartyFile>,
}

#[derive(Serialize)]
struct IdentityFile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_regexp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer_regexp: Option<&'a str>,
}

#[derive(Serialize)]
struct AttestationsFile<'a> {
    required: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    slsa_builder_id_regexp: Option<&'a str>,
}

#[derive(Serialize)]
struct ImageFile {
    name: String,
}

#[derive(Serialize)]
struct ThirdPartyFile {
    name: String,
    category: &'static str,
    reference: String,
}

fn split(claim: &ClaimMatch) -> (Option<&str>, Option<&str>) {
    match claim {
        ClaimMatch::Exact(v) => (Some(v), None),
        ClaimMatch::Regexp(p) => (None, Some(p)),
    }
}

impl AppPolicy {
    /// The release policy file for `version`, for a customer who reaches
    /// upstream repository `r` as `<base>/<r>` (`base` is
    /// `<host>/proxy/<app>`). TOML, escaped by the serializer.
    pub fn render(&self, base: &str, version: &Tag, images: &VersionImages) -> String {
        let (subject, subject_regexp) = split(&self.subject);
        let (issuer, issuer_regexp) = split(&self.issuer);
        let file = PolicyFile {
            registry: format!("{base}/{}", self.repository),
            identity: IdentityFile {
                subject,
                subject_regexp,
                issuer,
                issuer_regexp,
            },
            attestations: AttestationsFile {
                required: &self.attestations,
                slsa_builder_id_regexp: self.slsa_builder_id_regexp.as_deref(),
            },
            image: images
                .signed
                .iter()
                .map(|n| ImageFile {
                    name: n.to_string(),
                })
                .collect(),
            third_party: images
                .pinned
                .iter()
                .map(|(name, repository, digest)| ThirdPartyFile {
                    name: name.clone(),
                    category: "pinned by digest",
                    reference: format!("{base}/{repository}@{digest}"),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("a policy file serializes");
        format!(
            "# Release policy for version {version}, from the vendor's portal.\n\
             # vouch verify-release --policy <this file> --version {version}\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn policy() -> AppPolicy {
        AppPolicy {
            repository: Repository::parse("ghcr.io/acme/platform").unwrap(),
            images: AppPolicy::parse_images(&["operator".into(), "ui".into()]).unwrap(),
            subject: ClaimMatch::Regexp(
                r"https://github\.com/acme/platform/\.github/workflows/release\.yml@.*".into(),
            ),
            issuer: ClaimMatch::Exact("https://token.actions.githubusercontent.com".into()),
            attestations: vec!["spdxjson".into(), "slsaprovenance1".into()],
            slsa_builder_id_regexp: None,
        }
    }

    #[test]
    fn a_checked_policy_round_trips_through_storage() {
        let p = policy();
        p.check().unwrap();
        assert_eq!(AppPolicy::from_stored(&p.to_stored()).unwrap(), p);
    }

    #[test]
    fn each_bad_part_is_refused_with_its_own_error() {
        let mut p = policy();
        p.subject = ClaimMatch::Regexp("(unclosed".into());
        assert!(matches!(
            p.check(),
            Err(PolicyError::BadPattern {
                what: "subject",
                ..
            })
        ));
        let mut p = policy();
        p.issuer = ClaimMatch::Regexp(String::new());
        assert!(matches!(p.check(), Err(PolicyError::BadPattern { .. })));
        let mut p = policy();
        p.subject = ClaimMatch::Exact("a\nb".into());
        assert!(matches!(p.check(), Err(PolicyError::BadValue { .. })));
        let mut p = policy();
        p.slsa_builder_id_regexp = Some("x".repeat(MAX_PATTERN_LEN + 1));
        assert!(matches!(p.check(), Err(PolicyError::BadPattern { .. })));
        let mut p = policy();
        p.attestations.push("spdxjsn".into());
        assert_eq!(
            p.check(),
            Err(PolicyError::UnknownAttestation("spdxjsn".into()))
        );
        let mut p = policy();
        p.images.push(p.images[0].clone());
        assert!(matches!(p.check(), Err(PolicyError::DuplicateImage(_))));
        let mut p = policy();
        p.images.clear();
        assert_eq!(p.check(), Err(PolicyError::ImageCount(0)));
        assert!(matches!(
            AppPolicy::parse_images(&["Bad/..".into()]),
            Err(PolicyError::BadImage { .. })
        ));
        assert!(matches!(
            AppPolicy::from_stored(r#"{"repository":1}"#),
            Err(PolicyError::Stored(_))
        ));
    }

    #[test]
    fn names_are_relative_to_the_policy_repository() {
        let p = policy();
        let op = RepoPath::new("operator").unwrap();
        let repo = p.image_repository(&op).unwrap();
        assert_eq!(repo.to_string(), "ghcr.io/acme/platform/operator");
        assert_eq!(p.name_of(&repo), Some(op));
        assert_eq!(
            p.name_of(&Repository::parse("ghcr.io/acme/platformx/a").unwrap()),
            None
        );
        assert_eq!(
            p.name_of(&Repository::parse("quay.io/acme/platform/a").unwrap()),
            None
        );
    }

    #[test]
    fn cosign_patterns_are_anchored_like_vouchs() {
        let (flag, value) = policy().subject.cosign_flag("--certificate-identity");
        assert_eq!(flag, "--certificate-identity-regexp");
        assert!(value.starts_with("^(?:https://") && value.ends_with(".*)$"));
        let (flag, value) = policy().issuer.cosign_flag("--certificate-oidc-issuer");
        assert_eq!(flag, "--certificate-oidc-issuer");
        assert_eq!(value, "https://token.actions.githubusercontent.com");
    }
}

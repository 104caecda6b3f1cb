//! The release policy file (TOML): which images make up a release, who must
//! have signed them, and which attestations each must carry. See
//! `docs/release-policy.md` and `examples/` for commented examples.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use vouch_attest::PredicateFilter;
use vouch_verify::{IdentityPolicy, SignerPolicy, ValueMatcher};

use crate::version::Version;

/// Upper bound on a policy file: a release of a few hundred images is tens of
/// KiB; 4 MiB refuses anything else before parsing.
pub const MAX_POLICY_SIZE: usize = 4 * 1024 * 1024;
/// Upper bound on the images in one policy (signed and third-party).
pub const MAX_IMAGES: usize = 10_000;

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is not valid TOML for this schema.
    #[error("release policy: {0}")]
    Parse(String),
    /// The file is larger than [`MAX_POLICY_SIZE`].
    #[error("release policy: larger than {MAX_POLICY_SIZE} bytes")]
    TooLarge,
    /// The file lists more than [`MAX_IMAGES`] images.
    #[error("release policy: more than {MAX_IMAGES} images")]
    TooManyImages,
    /// A value in it is invalid.
    #[error("release policy: {what}: {problem}")]
    Invalid {
        /// Where, e.g. ``image `ui` ``.
        what: String,
        /// Why.
        problem: PolicyProblem,
    },
}

/// What is wrong with one image (or the defaults) of a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyProblem {
    /// Two images of the same name.
    #[error("listed twice")]
    ListedTwice,
    /// A third-party image named by tag, which could change under it.
    #[error("third-party images must be pinned by digest (`…@sha256:<hex>`)")]
    NotPinned,
    /// An identity or builder pattern that cannot be used.
    #[error(transparent)]
    Pattern(vouch_verify::VerifyError),
    /// An attestation type that is neither a `--type` name nor a URI.
    #[error(transparent)]
    AttestationType(vouch_attest::AttestError),
    /// Both the exact value and the pattern of one identity claim.
    #[error("give `{claim}` or `{claim}_regexp`, not both")]
    ExactAndPattern {
        /// `subject` or `issuer`.
        claim: &'static str,
    },
    /// Neither the exact value nor the pattern of one identity claim.
    #[error("`{claim}` or `{claim}_regexp` is required")]
    MissingClaim {
        /// `subject` or `issuer`.
        claim: &'static str,
    },
    /// `optional = true` and `since` together.
    #[error(
        "give `optional = true` or `since`, not both: `since` already says which versions may \
         lack the image"
    )]
    OptionalAndSince,
    /// A `since` that is not a version.
    #[error(
        "`since = \"{since}\"` is not a version: expected numbers separated by dots, with an \
         optional leading `v` and `-pre-release` (e.g. `v1.3.0`)"
    )]
    NotAVersion {
        /// What was given.
        since: String,
    },
}

/// Who must have signed (whole-value regexps, as everywhere in vouch).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// Exact certificate identity.
    pub subject: Option<String>,
    /// Pattern the whole certificate identity must match.
    pub subject_regexp: Option<String>,
    /// Exact OIDC issuer.
    pub issuer: Option<String>,
    /// Pattern the whole OIDC issuer must match.
    pub issuer_regexp: Option<String>,
}

/// Patterns compiled so far, by their text. A release of hundreds of images
/// usually repeats one identity pattern and one builder pattern; each is
/// compiled once (10–20 KiB) and every image shares it.
#[derive(Default)]
struct Patterns(HashMap<String, ValueMatcher>);

impl Patterns {
    fn regex(&mut self, pattern: &str) -> Result<ValueMatcher, vouch_verify::VerifyError> {
        if let Some(compiled) = self.0.get(pattern) {
            return Ok(compiled.clone());
        }
        let compiled = ValueMatcher::regex(pattern)?;
        self.0.insert(pattern.to_string(), compiled.clone());
        Ok(compiled)
    }
}

impl IdentitySpec {
    fn to_policy(&self, what: &str, patterns: &mut Patterns) -> Result<SignerPolicy, PolicyError> {
        let invalid = |problem| PolicyError::Invalid {
            what: what.to_string(),
            problem,
        };
        let mut pick = |exact: &Option<String>, re: &Option<String>, claim| match (exact, re) {
            (Some(v), None) => Ok(ValueMatcher::Exact(v.clone())),
            (None, Some(p)) => patterns
                .regex(p)
                .map_err(|e| invalid(PolicyProblem::Pattern(e))),
            (Some(_), Some(_)) => Err(invalid(PolicyProblem::ExactAndPattern { claim })),
            (None, None) => Err(invalid(PolicyProblem::MissingClaim { claim })),
        };
        Ok(SignerPolicy::keyless(IdentityPolicy::new(
            pick(&self.subject, &self.subject_regexp, "subject")?,
            pick(&self.issuer, &self.issuer_regexp, "issuer")?,
        )))
    }
}

/// The attestations an image must carry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSpec {
    /// `--type` names or predicate URIs, e.g. `["spdxjson", "slsaprovenance1", "openvex"]`.
    #[serde(default)]
    pub required: Vec<String>,
    /// The SLSA provenance builder ID must match this pattern as a whole.
    pub slsa_builder_id_regexp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    registry: String,
    identity: IdentitySpec,
    #[serde(default)]
    attestations: AttestationSpec,
    #[serde(default, rename = "image")]
    images: Vec<RawImage>,
    #[serde(default, rename = "third_party")]
    third_party: Vec<RawThirdParty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    name: String,
    identity: Option<IdentitySpec>,
    attestations: Option<AttestationSpec>,
    #[serde(default)]
    optional: bool,
    since: Option<String>,
}

impl RawImage {
    fn presence(&self, what: &str) -> Result<Presence, PolicyError> {
        let invalid = |problem| PolicyError::Invalid {
            what: what.to_string(),
            problem,
        };
        match (&self.since, self.optional) {
            (None, false) => Ok(Presence::Required),
            (None, true) => Ok(Presence::Optional),
            (Some(_), true) => Err(invalid(PolicyProblem::OptionalAndSince)),
            (Some(since), false) => match Version::parse(since) {
                Some(version) => Ok(Presence::Since(since.clone(), version)),
                None => Err(invalid(PolicyProblem::NotAVersion {
                    since: since.clone(),
                })),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThirdParty {
    name: String,
    reference: String,
    #[serde(default = "default_category")]
    category: String,
    identity: Option<IdentitySpec>,
}

fn default_category() -> String {
    "upstream, not re-signed".to_string()
}

/// One signed image of the release.
#[derive(Debug, Clone)]
pub struct ReleaseImage {
    /// Its name under the registry base path.
    pub name: String,
    /// Who must have signed it.
    pub signer: SignerPolicy,
    /// The predicate types it must carry, parsed.
    pub required: Vec<PredicateFilter>,
    /// The SLSA builder pattern, if any.
    pub slsa_builder: Option<ValueMatcher>,
    /// At which versions the image must exist.
    pub presence: Presence,
}

/// At which versions of the release a signed image must exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// At every version (the default): a missing image fails the release.
    Required,
    /// `optional = true`: may be missing at any version (then it is skipped);
    /// when present it is verified like any other.
    Optional,
    /// `since = "v1.3.0"`: part of the release from that version on. At an
    /// earlier version it may be absent (then it is skipped) and is verified
    /// when present; at that version or later, or at a version that is not
    /// comparable (`latest`, a branch name), it is required. It is always
    /// looked up: `v1.3.0-fips` sorts before `v1.3.0` as a semver
    /// pre-release, and an image that is there must never go unchecked.
    Since(String, Version),
}

/// Whether an image must be there at one version, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// It must exist.
    Required,
    /// It is verified if it exists, skipped if not; the text says why.
    IfPresent(String),
}

impl ReleaseImage {
    /// Whether this image must exist at `version`.
    pub fn expected_at(&self, version: &str) -> Expected {
        match &self.presence {
            Presence::Required => Expected::Required,
            Presence::Optional => Expected::IfPresent("optional in the policy".into()),
            Presence::Since(text, since) => match Version::parse(version) {
                Some(v) if v < *since => {
                    Expected::IfPresent(format!("part of the release since {text}"))
                }
                _ => Expected::Required,
            },
        }
    }
}

/// A third-party image, pinned by digest and not signed by the vendor.
#[derive(Debug, Clone)]
pub struct ThirdPartyImage {
    /// A short name.
    pub name: String,
    /// `registry/repo[:tag]@sha256:…`.
    pub reference: String,
    /// E.g. "upstream, not re-signed".
    pub category: String,
    /// Its own publisher's identity, when it should be verified.
    pub signer: Option<SignerPolicy>,
}

/// A parsed, checked release policy.
#[derive(Debug, Clone)]
pub struct ReleasePolicy {
    /// The registry base path: images are `<registry>/<name>:<version>`.
    pub registry: String,
    /// The signed images.
    pub images: Vec<ReleaseImage>,
    /// The third-party images.
    pub third_party: Vec<ThirdPartyImage>,
}

impl ReleasePolicy {
    /// Parses and checks a policy document: unknown keys, bad patterns,
    /// unknown `--type` names and duplicate image names are refused.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge);
        }
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        if raw.images.len() + raw.third_party.len() > MAX_IMAGES {
            return Err(PolicyError::TooManyImages);
        }
        let registry = raw.registry.trim_end_matches('/').to_string();
        let mut seen = BTreeMap::new();
        let mut patterns = Patterns::default();
        let mut images = Vec::new();
        for image in &raw.images {
            if seen.insert(image.name.clone(), ()).is_some() {
                return Err(PolicyError::Invalid {
                    what: format!("image `{}`", image.name),
                    problem: PolicyProblem::ListedTwice,
                });
            }
            let what = format!("image `{}`", image.name);
            let identity = image.identity.as_ref().unwrap_or(&raw.identity);
            let attestations = image.attestations.as_ref().unwrap_or(&raw.attestations);
            images.push(ReleaseImage {
                name: image.name.clone(),
                signer: identity.to_policy(&what, &mut patterns)?,
                required: attestations
                    .required
                    .iter()
                    .map(|t| {
                        PredicateFilter::parse(t).map_err(|e| PolicyError::Invalid {
                            what: what.clone(),
                            problem: PolicyProblem::AttestationType(e),
                        })
                    })
                    .collect::<Result<_, _>>()?,
                slsa_builder: attestations
                    .slsa_builder_id_regexp
                    .as_deref()
                    .map(|p| {
                        patterns.regex(p).map_err(|e| PolicyError::Invalid {
                            what: what.clone(),
                            problem: PolicyProblem::Pattern(e),
                        })
                    })
                    .transpose()?,
                presence: image.presence(&what)?,
            });
        }
        let third_party = raw
            .third_party
            .iter()
            .map(|t| {
                let what = format!("third-party image `{}`", t.name);
                if !t.reference.contains("@sha256:") {
                    return Err(PolicyError::Invalid {
                        what,
                        problem: PolicyProblem::NotPinned,
                    });
                }
                Ok(ThirdPartyImage {
                    name: t.name.clone(),
                    reference: t.reference.clone(),
                    category: t.category.clone(),
                    signer: t
                        .identity
                        .as_ref()
                        .map(|i| i.to_policy(&what, &mut patterns))
                        .transpose()?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            registry,
            images,
            third_party,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
registry = "registry.example.com/proxy/acme/"
[identity]
subject_regexp = 'https://github\.com/acme/platform/.*'
issuer = "https://token.actions.githubusercontent.com"
[attestations]
required = ["spdxjson", "slsaprovenance1", "openvex"]
slsa_builder_id_regexp = 'https://github\.com/acme/.*'
[[image]]
name = "operator"
[[image]]
name = "ui"
attestations = { required = ["spdxjson"] }
[[third_party]]
name = "envoy"
reference = "docker.io/envoyproxy/gateway@sha256:0000000000000000000000000000000000000000000000000000000000000000"
"#;

    #[test]
    fn parses_defaults_and_overrides() {
        let p = ReleasePolicy::from_toml(POLICY).unwrap();
        assert_eq!(p.registry, "registry.example.com/proxy/acme");
        assert_eq!(p.images.len(), 2);
        assert_eq!(p.images[0].required.len(), 3);
        assert_eq!(p.images[1].required.len(), 1);
        assert!(p.images[1].slsa_builder.is_none());
        assert_eq!(p.third_party[0].category, "upstream, not re-signed");
    }

    #[test]
    fn refuses_unknown_keys_bad_types_duplicates_and_unpinned_third_party() {
        type Check = fn(&PolicyError) -> bool;
        let cases: [(String, Check); 5] = [
            (
                POLICY.replace("name = \"ui\"", "name = \"ui\"\ncolour = 1"),
                |e| matches!(e, PolicyError::Parse(detail) if detail.contains("unknown field")),
            ),
            (
                POLICY.replace("\"openvex\"]", "\"openvex\", \"spdx-json\"]"),
                |e| {
                    matches!(e, PolicyError::Invalid {
                        problem: PolicyProblem::AttestationType(
                            vouch_attest::AttestError::UnknownPredicateType { given },
                        ),
                        ..
                    } if given == "spdx-json")
                },
            ),
            (
                POLICY.replace("name = \"ui\"", "name = \"operator\""),
                |e| {
                    matches!(e, PolicyError::Invalid { what, problem: PolicyProblem::ListedTwice }
                        if what == "image `operator`")
                },
            ),
            (
                POLICY.replace(
                    "@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    ":v1",
                ),
                |e| {
                    matches!(
                        e,
                        PolicyError::Invalid {
                            problem: PolicyProblem::NotPinned,
                            ..
                        }
                    )
                },
            ),
            (
                POLICY.replace(
                    "issuer = \"https",
                    "issuer_regexp = \"(\"\nissuer = \"https",
                ),
                |e| {
                    matches!(
                        e,
                        PolicyError::Invalid {
                            problem: PolicyProblem::ExactAndPattern { claim: "issuer" },
                            ..
                        }
                    )
                },
            ),
        ];
        for (edit, expected) in cases {
            let err = ReleasePolicy::from_toml(&edit).unwrap_err();
            assert!(expected(&err), "{err:?}");
        }
    }
}

#[cfg(test)]
mod presence_tests {
    use super::*;

    fn policy(image: &str) -> Result<ReleasePolicy, PolicyError> {
        ReleasePolicy::from_toml(&format!(
            "registry = \"r.example/acme\"\n[identity]\nsubject = \"s\"\nissuer = \"i\"\n[[image]]\nname = \"a\"\n{image}"
        ))
    }

    #[test]
    fn an_image_is_required_unless_optional_or_not_yet_released() {
        let p = policy("").unwrap();
        assert_eq!(p.images[0].expected_at("v1.0.0"), Expected::Required);
        let p = policy("optional = true").unwrap();
        assert!(matches!(
            p.images[0].expected_at("v1.0.0"),
            Expected::IfPresent(_)
        ));
        let p = policy("since = \"v1.3.0\"").unwrap();
        let image = &p.images[0];
        assert!(matches!(
            image.expected_at("v1.2.9"),
            Expected::IfPresent(_)
        ));
        assert!(matches!(
            image.expected_at("1.3.0-rc.1"),
            Expected::IfPresent(_)
        ));
        assert_eq!(image.expected_at("v1.3.0"), Expected::Required);
        assert_eq!(image.expected_at("v2.0"), Expected::Required);
        // A version that cannot be compared is not a reason to skip: fail closed.
        assert_eq!(image.expected_at("latest"), Expected::Required);
    }

    #[test]
    fn refuses_an_unusable_since_or_both_kinds_of_leave() {
        for image in [
            "since = \"next\"",
            "since = \"v1.3.0\"\noptional = true",
            "optional = \"yes\"",
        ] {
            assert!(policy(image).is_err(), "{image}");
        }
        assert!(matches!(
            policy("since = \"next\""),
            Err(PolicyError::Invalid {
                problem: PolicyProblem::NotAVersion { .. },
                ..
            })
        ));
        assert!(matches!(
            policy("since = \"v1.3.0\"\noptional = true"),
            Err(PolicyError::Invalid {
                problem: PolicyProblem::OptionalAndSince,
                ..
            })
        ));
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_policy_parses() {
        let text = include_str!("../../../examples/stacklok-enterprise.toml");
        let p = ReleasePolicy::from_toml(text).unwrap();
        assert_eq!(p.images.len(), 11);
        assert_eq!(p.third_party.len(), 4);
        assert!(
            p.images
                .iter()
                .all(|i| i.required.len() == 3 && i.slsa_builder.is_some())
        );
    }
}

/// Where a running image sits in a release policy.
#[derive(Debug, Clone, Copy)]
pub enum Classification<'a> {
    /// One of the release's signed images.
    Signed(&'a ReleaseImage),
    /// A third-party image of the release.
    ThirdParty(&'a ThirdPartyImage),
    /// Not part of the release.
    Unknown,
}

impl ReleasePolicy {
    /// Classifies a repository (`registry/path`, no tag or digest) by the policy.
    pub fn classify(&self, repository: &str) -> Classification<'_> {
        if let Some(image) = self
            .images
            .iter()
            .find(|i| repository == format!("{}/{}", self.registry, i.name))
        {
            return Classification::Signed(image);
        }
        let repo_of = |reference: &str| {
            let without_digest = reference.split('@').next().unwrap_or_default();
            let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
            match without_digest[last_slash..].find(':') {
                Some(i) => without_digest[..last_slash + i].to_string(),
                None => without_digest.to_string(),
            }
        };
        match self
            .third_party
            .iter()
            .find(|t| repo_of(&t.reference) == repository)
        {
            Some(t) => Classification::ThirdParty(t),
            None => Classification::Unknown,
        }
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;

    #[test]
    fn classifies_signed_third_party_and_unknown_repositories() {
        let p = ReleasePolicy::from_toml(
            r#"registry = "r.example/acme"
[identity]
subject = "s"
issuer = "i"
[[image]]
name = "operator"
[[third_party]]
name = "envoy"
reference = "r.example/docker.io/envoy:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000"
"#,
        )
        .unwrap();
        assert!(
            matches!(p.classify("r.example/acme/operator"), Classification::Signed(i) if i.name == "operator")
        );
        assert!(
            matches!(p.classify("r.example/docker.io/envoy"), Classification::ThirdParty(t) if t.name == "envoy")
        );
        assert!(matches!(
            p.classify("r.example/acme/operator-evil"),
            Classification::Unknown
        ));
        assert!(matches!(
            p.classify("docker.io/library/nginx"),
            Classification::Unknown
        ));
    }
}

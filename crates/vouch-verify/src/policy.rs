//! Who must have signed: the identity policy.
//!
//! The policy is a required argument of every verify function (STYLE.md,
//! "policy is a required argument"). It mirrors cosign's flags:
//! `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]` and
//! `--certificate-github-workflow-{trigger,sha,name,repository,ref}`.
//!
//! One deliberate difference from cosign: **regular expressions match the whole
//! value** (they are implicitly anchored). cosign's RE2 `MatchString` is a
//! substring search, so `github.com/org/` also matches
//! `https://github.com/evil/x/...github.com/org/` (ATTACKS.md F.62). A pattern
//! that matches only part of the value gets an error that says how to widen it.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::claims::CertificateClaims;
use crate::error::{PolicyError, VerifyError};

/// Upper bound on a user-supplied pattern, in bytes. Patterns are typed by
/// people or written in policy files; 4 KiB is far above any real identity
/// pattern and keeps regex compilation cheap.
pub const MAX_PATTERN_LEN: usize = 4096;

/// How one certificate value is matched.
#[derive(Clone)]
pub enum ValueMatcher {
    /// The value equals this string.
    Exact(String),
    /// The whole value matches this pattern.
    Regex(WholeMatch),
}

impl ValueMatcher {
    /// A pattern that must match the whole value (RE2 syntax, as in cosign).
    pub fn regex(pattern: &str) -> Result<Self, VerifyError> {
        WholeMatch::new(pattern).map(Self::Regex)
    }

    /// Whether `value` satisfies this matcher (a regex must match all of it).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(expected) => expected == value,
            Self::Regex(re) => re.compiled.anchored.is_match(value),
        }
    }

    fn check(&self, what: &'static str, actual: &str) -> Result<(), PolicyError> {
        match self {
            _ if self.matches(actual) => Ok(()),
            _ => Err(PolicyError::Mismatch {
                what,
                expected: self.to_string(),
                actual: actual.to_string(),
                hint: self.partial_match_hint(actual),
            }),
        }
    }

    fn partial_match_hint(&self, actual: &str) -> Option<String> {
        let Self::Regex(re) = self else { return None };
        let found = re.compiled.unanchored.find(actual)?;
        Some(format!(
            "the pattern matches only `{}`, a part of the value; vouch matches the whole value \
             (cosign matches any substring). If that is what you meant, add `.*` where the value \
             may continue, e.g. `{}.*`",
            found.as_str(),
            re.compiled.pattern.trim_end_matches('$')
        ))
    }
}

impl fmt::Display for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(value) => write!(f, "`{value}`"),
            Self::Regex(re) => write!(f, "a value matching `{}`", re.compiled.pattern),
        }
    }
}

impl fmt::Debug for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A compiled pattern that must match a value from its first to its last byte.
///
/// Clones share the pattern and its compiled regexes (10–20 KiB): a
/// release policy hands the same identity pattern to hundreds of images.
/// (Cloning a `Regex` itself would allocate a fresh match-cache pool per copy;
/// the `regex` docs recommend sharing one instead.)
#[derive(Clone)]
pub struct WholeMatch {
    compiled: Arc<Compiled>,
}

struct Compiled {
    pattern: String,
    anchored: Regex,
    unanchored: Regex,
}

impl WholeMatch {
    /// Compiles `pattern` as `^(?:pattern)$`.
    pub fn new(pattern: &str) -> Result<Self, VerifyError> {
        let bad = |reason: String| VerifyError::BadPattern {
            pattern: pattern.chars().take(200).collect(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("an empty pattern would match any value".into()));
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(bad(format!("longer than {MAX_PATTERN_LEN} bytes")));
        }
        // The pattern as typed first: its error then quotes what the user
        // wrote, not the anchored wrapper around it.
        let unanchored = Regex::new(pattern).map_err(|e| bad(e.to_string()))?;
        let anchored = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            compiled: Arc::new(Compiled {
                pattern: pattern.to_string(),
                anchored,
                unanchored,
            }),
        })
    }
}

/// Which GitHub workflow claims must hold (cosign's
/// `--certificate-github-workflow-*` flags); each is an exact match.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GitHubWorkflowPolicy {
    /// `--certificate-github-workflow-trigger` (OID .1.2).
    pub trigger: Option<String>,
    /// `--certificate-github-workflow-sha` (OID .1.3).
    pub sha: Option<String>,
    /// `--certificate-github-workflow-name` (OID .1.4).
    pub name: Option<String>,
    /// `--certificate-github-workflow-repository` (OID .1.5).
    pub repository: Option<String>,
    /// `--certificate-github-workflow-ref` (OID .1.6).
    pub git_ref: Option<String>,
}

/// The signer a keyless signature must come from.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    identity: ValueMatcher,
    issuer: ValueMatcher,
    github: GitHubWorkflowPolicy,
}

impl IdentityPolicy {
    /// Requires the certificate's SAN to match `identity` and its OIDC issuer
    /// to match `issuer`. Both are required, as in cosign's keyless mode.
    pub fn new(identity: ValueMatcher, issuer: ValueMatcher) -> Self {
        Self {
            identity,
            issuer,
            github: GitHubWorkflowPolicy::default(),
        }
    }

    /// Additionally requires these GitHub workflow claims.
    pub fn with_github(mut self, github: GitHubWorkflowPolicy) -> Self {
        self.github = github;
        self
    }

    /// Checks the claims; on failure the error carries every claim the
    /// certificate actually has, so the user can see what to expect instead.
    pub fn check(&self, claims: &CertificateClaims) -> Result<(), VerifyError> {
        self.check_inner(claims)
            .map_err(|problem| VerifyError::Policy {
                problem,
                certificate: Box::new(claims.clone()),
            })
    }

    fn check_inner(&self, claims: &CertificateClaims) -> Result<(), PolicyError> {
        // GitHub claims first, then identity, then issuer: cosign's order
        // (CheckCertificatePolicy), so the first error a cosign user sees matches.
        let gh = &claims.github;
        let wanted = [
            (
                "GitHub workflow trigger",
                &self.github.trigger,
                &gh.workflow_trigger,
            ),
            ("GitHub workflow SHA", &self.github.sha, &gh.workflow_sha),
            ("GitHub workflow name", &self.github.name, &gh.workflow_name),
            (
                "GitHub workflow repository",
                &self.github.repository,
                &gh.workflow_repository,
            ),
            (
                "GitHub workflow ref",
                &self.github.git_ref,
                &gh.workflow_ref,
            ),
        ];
        for (what, expected, actual) in wanted {
            if let Some(expected) = expected {
                match actual {
                    Some(actual) => ValueMatcher::Exact(expected.clone()).check(what, actual)?,
                    None => {
                        return Err(PolicyError::MissingClaim {
                            what,
                            expected: expected.clone(),
                        });
                    }
                }
            }
        }
        self.identity.check("identity", &claims.identity)?;
        self.issuer.check("OIDC issuer", &claims.issuer)
    }
}

/// What a signature must be checked against: a keyless identity, a public
/// key, or — only when the caller says so by name — nothing at all.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignerPolicy {
    /// Keyless: a Fulcio certificate whose claims satisfy the policy.
    Keyless(Box<IdentityPolicy>),
    /// A managed key (`--key`): the signature must verify with this SPKI DER key.
    PublicKey(Vec<u8>),
    /// Keyless, but any identity is accepted. The certificate chain, SCT and
    /// transparency log are still verified; who signed is not checked.
    InsecureAnyIdentity,
}

impl SignerPolicy {
    /// A keyless policy.
    pub fn keyless(identity: IdentityPolicy) -> Self {
        Self::Keyless(Box::new(identity))
    }

    /// A managed-key policy from a PEM `PUBLIC KEY` block.
    pub fn public_key_pem(pem: &str) -> Result<Self, VerifyError> {
        let malformed = |detail: String| VerifyError::MalformedKey { detail };
        let key =
            sigstore_types::DerPublicKey::from_pem(pem).map_err(|e| malformed(e.to_string()))?;
        sigstore_crypto::KeyAlgorithm::from_spki(&key)
            .map_err(|e| malformed(format!("not a supported SubjectPublicKeyInfo: {e}")))?;
        Ok(Self::PublicKey(key.as_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::GitHubClaims;

    const WORKFLOW: &str =
        "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";
    const GHA: &str = "https://token.actions.githubusercontent.com";

    fn claims() -> CertificateClaims {
        CertificateClaims {
            identity: WORKFLOW.into(),
            issuer: GHA.into(),
            github: GitHubClaims {
                workflow_repository: Some("acme/app".into()),
                workflow_ref: Some("refs/tags/v1.2.3".into()),
                ..GitHubClaims::default()
            },
        }
    }

    fn policy(identity: ValueMatcher) -> IdentityPolicy {
        IdentityPolicy::new(identity, ValueMatcher::Exact(GHA.into()))
    }

    #[test]
    fn exact_and_whole_regexp_identities_match() {
        assert!(
            policy(ValueMatcher::Exact(WORKFLOW.into()))
                .check(&claims())
                .is_ok()
        );
        let re = ValueMatcher::regex(r"https://github\.com/acme/app/.*").unwrap();
        assert!(policy(re).check(&claims()).is_ok());
        // Explicit anchors, as cosign users write them, still work.
        let re = ValueMatcher::regex(r"^https://github\.com/acme/app/.*$").unwrap();
        assert!(policy(re).check(&claims()).is_ok());
    }

    #[test]
    fn a_bad_pattern_is_refused_quoting_what_was_typed() {
        for (pattern, typed) in [("a(b", "a(b"), ("", ""), ("x[", "x[")] {
            let refused = ValueMatcher::regex(pattern);
            assert!(
                matches!(&refused, Err(VerifyError::BadPattern { pattern: p, reason })
                    if p == typed && !reason.contains("^(?:")),
                "{refused:?}"
            );
        }
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(
            ValueMatcher::regex(&long),
            Err(VerifyError::BadPattern { .. })
        ));
    }

    #[test]
    fn rejects_regexp_that_matches_only_a_substring() {
        // ATTACKS.md F.62: cosign's unanchored match would accept this.
        let re = ValueMatcher::regex(r"github\.com/acme/").unwrap();
        let err = policy(re).check_inner(&claims()).unwrap_err();
        let PolicyError::Mismatch {
            what: "identity",
            actual,
            hint: Some(hint),
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(actual, WORKFLOW);
        assert!(hint.contains("matches only `github.com/acme/`"), "{hint}");
    }

    #[test]
    fn rejects_attacker_identity_that_embeds_the_expected_one() {
        let mut evil = claims();
        evil.identity =
            format!("https://github.com/evil/x/.github/workflows/a.yml@refs/heads/{WORKFLOW}");
        let re = ValueMatcher::regex(r"https://github\.com/acme/app/.*").unwrap();
        assert!(policy(re).check(&evil).is_err());
    }

    #[test]
    fn rejects_wrong_issuer_and_shows_it() {
        let mut other = claims();
        other.issuer = "https://accounts.example.com".into();
        let err = policy(ValueMatcher::Exact(WORKFLOW.into()))
            .check_inner(&other)
            .unwrap_err();
        assert!(
            matches!(&err, PolicyError::Mismatch { what: "OIDC issuer", actual, .. }
                if actual == "https://accounts.example.com"),
            "{err:?}"
        );
    }

    #[test]
    fn github_claims_must_match_exactly_and_be_present() {
        let base = policy(ValueMatcher::Exact(WORKFLOW.into()));
        let gh = |repo: &str| GitHubWorkflowPolicy {
            repository: Some(repo.into()),
            ..GitHubWorkflowPolicy::default()
        };
        assert!(
            base.clone()
                .with_github(gh("acme/app"))
                .check(&claims())
                .is_ok()
        );
        let err = base
            .clone()
            .with_github(gh("acme/other"))
            .check_inner(&claims())
            .unwrap_err();
        assert!(
            matches!(&err, PolicyError::Mismatch { what: "GitHub workflow repository", actual, .. }
                if actual == "acme/app"),
            "{err:?}"
        );
        let wants_trigger = GitHubWorkflowPolicy {
            trigger: Some("push".into()),
            ..GitHubWorkflowPolicy::default()
        };
        let err = base
            .with_github(wants_trigger)
            .check_inner(&claims())
            .unwrap_err();
        assert!(matches!(err, PolicyError::MissingClaim { .. }), "{err:?}");
    }

    #[test]
    fn refuses_empty_oversized_and_invalid_patterns() {
        assert!(ValueMatcher::regex("").is_err());
        assert!(ValueMatcher::regex(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
        assert!(ValueMatcher::regex("(").is_err());
    }
}

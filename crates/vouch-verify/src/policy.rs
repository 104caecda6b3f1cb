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

    fn check(&self, what: &'static str, actual: &str) -> Result<(), PolicyError> {
        match self {
            Self::Exact(expected) if expected == actual => Ok(()),
            Self::Regex(re) if re.anchored.is_match(actual) => Ok(()),
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
        let found = re.unanchored.find(actual)?;
        Some(format!(
            "the pattern matches only `{}`, a part of the value; vouch matches the whole value \
             (cosign matches any substring). If that is what you meant, add `.*` where the value \
             may continue, e.g. `{}.*`",
            found.as_str(),
            re.pattern.trim_end_matches('$')
        ))
    }
}

impl fmt::Display for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(value) => write!(f, "`{value}`"),
            Self::Regex(re) => write!(f, "a value matching `{}`", re.pattern),
        }
    }
}

impl fmt::Debug for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A compiled pattern that must match a value from its first to its last byte.
#[derive(Clone)]
pub struct WholeMatch {
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
        let anchored = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| bad(e.to_string()))?;
        let unanchored = Regex::new(pattern).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            pattern: pattern.to_string(),
            anchored,
            unanchored,
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
        let key =
            sigstore_types::DerPublicKey::from_pem(pem).map_err(|e| VerifyError::MalformedKey {
                detail: e.to_string(),
            })?;
        Ok(Self::PublicKey(key.as_bytes().to_vec()))
    }
}

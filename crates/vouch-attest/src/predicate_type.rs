//! `--type` resolution and predicate-type filtering.
//!
//! Source: cosign `cmd/cosign/cli/options/predicate.go` (`PredicateTypeMap`,
//! `ParsePredicateType`) and `pkg/policy/attestation.go`
//! (`AttestationToPayloadJSON`); SPEC.md §4.1–4.2.
//!
//! Differences from cosign, on purpose:
//! * A value that is neither a short name nor an absolute URI is rejected with
//!   the list of valid names. cosign's `verify-attestation` uses any such value
//!   verbatim and then reports that nothing matched; its `attest` side rejects
//!   values that fail Go's `url.ParseRequestURI`. Go also accepts a bare
//!   absolute path (`/foo`) there; we do not, since a predicate type is a URI.
//! * `--type openvex` also accepts the versioned namespaces OpenVEX tools write
//!   (`https://openvex.dev/ns/v0.2.0`); cosign compares exactly and so misses
//!   them. Passing a URI (even `https://openvex.dev/ns`) still compares exactly.

use std::fmt;

use crate::error::AttestError;
use crate::json::quote;
use crate::uri;

/// A short name accepted by `--type` (cosign's `PredicateTypeMap` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PredicateTypeName {
    /// `slsaprovenance`: SLSA provenance v0.2.
    SlsaProvenance,
    /// `slsaprovenance02`: SLSA provenance v0.2.
    SlsaProvenance02,
    /// `slsaprovenance1`: SLSA provenance v1.
    SlsaProvenance1,
    /// `link`: in-toto link v1.
    Link,
    /// `spdx`: SPDX document (cosign stores tag-value as a string predicate).
    Spdx,
    /// `spdxjson`: SPDX document in JSON.
    SpdxJson,
    /// `cyclonedx`: CycloneDX BOM.
    CycloneDx,
    /// `vuln`: cosign vulnerability scan.
    Vuln,
    /// `openvex`: OpenVEX document.
    OpenVex,
    /// `custom`: cosign's generic predicate; the default.
    Custom,
}

/// The `--type` value used when none is given (cosign's default).
pub const DEFAULT_PREDICATE_TYPE: PredicateTypeName = PredicateTypeName::Custom;

impl PredicateTypeName {
    /// Every short name, in the order of cosign's `--type` help text.
    pub const ALL: [Self; 10] = [
        Self::SlsaProvenance,
        Self::SlsaProvenance02,
        Self::SlsaProvenance1,
        Self::Link,
        Self::Spdx,
        Self::SpdxJson,
        Self::CycloneDx,
        Self::Vuln,
        Self::OpenVex,
        Self::Custom,
    ];

    /// The name as typed on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SlsaProvenance => "slsaprovenance",
            Self::SlsaProvenance02 => "slsaprovenance02",
            Self::SlsaProvenance1 => "slsaprovenance1",
            Self::Link => "link",
            Self::Spdx => "spdx",
            Self::SpdxJson => "spdxjson",
            Self::CycloneDx => "cyclonedx",
            Self::Vuln => "vuln",
            Self::OpenVex => "openvex",
            Self::Custom => "custom",
        }
    }

    /// The predicate type URI the name stands for.
    pub const fn uri(self) -> &'static str {
        match self {
            Self::SlsaProvenance | Self::SlsaProvenance02 => uri::SLSA_PROVENANCE_V02,
            Self::SlsaProvenance1 => uri::SLSA_PROVENANCE_V1,
            Self::Link => uri::IN_TOTO_LINK_V1,
            Self::Spdx | Self::SpdxJson => uri::SPDX_DOCUMENT,
            Self::CycloneDx => uri::CYCLONEDX_BOM,
            Self::Vuln => uri::COSIGN_VULN_V1,
            Self::OpenVex => uri::OPENVEX_NAMESPACE,
            Self::Custom => uri::COSIGN_CUSTOM_V1,
        }
    }

    /// The short name spelled exactly `name` (case-sensitive, like cosign).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == name)
    }

    /// The short names whose `--type` selects statements of
    /// `predicate_type`, in [`Self::ALL`] order (`spdx` and `spdxjson` both
    /// select `https://spdx.dev/Document`); empty when only the URI itself
    /// does.
    pub fn selecting(predicate_type: &str) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|name| PredicateFilter::from(*name).matches(predicate_type))
            .collect()
    }
}

impl fmt::Display for PredicateTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `--type` value: which statements' `predicateType` it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateFilter {
    given: String,
    uri: String,
    name: Option<PredicateTypeName>,
}

impl PredicateFilter {
    /// Parses a `--type` value: a short name from [`PredicateTypeName::ALL`]
    /// or an absolute URI (`scheme:rest`, no whitespace or control
    /// characters), used as is.
    pub fn parse(type_flag: &str) -> Result<Self, AttestError> {
        if let Some(name) = PredicateTypeName::from_name(type_flag) {
            return Ok(name.into());
        }
        if is_absolute_uri(type_flag) {
            return Ok(Self {
                given: type_flag.to_owned(),
                uri: type_flag.to_owned(),
                name: None,
            });
        }
        Err(AttestError::UnknownPredicateType {
            given: quote(type_flag),
        })
    }

    /// The value as the user gave it; cosign prints this (not the URI) in
    /// `none of the attestations matched the predicate type: <given>, found: …`.
    pub fn given(&self) -> &str {
        &self.given
    }

    /// The predicate type URI this filter stands for.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The short name, when one was given.
    pub fn name(&self) -> Option<PredicateTypeName> {
        self.name
    }

    /// Whether a statement whose `predicateType` is `predicate_type` is
    /// selected: exact string equality, except that the short name `openvex`
    /// also accepts `https://openvex.dev/ns/v<version>` (see the module notes).
    pub fn matches(&self, predicate_type: &str) -> bool {
        match self.name {
            Some(PredicateTypeName::OpenVex) => is_openvex_predicate_type(predicate_type),
            _ => predicate_type == self.uri,
        }
    }
}

impl Default for PredicateFilter {
    fn default() -> Self {
        DEFAULT_PREDICATE_TYPE.into()
    }
}

impl From<PredicateTypeName> for PredicateFilter {
    fn from(name: PredicateTypeName) -> Self {
        Self {
            given: name.as_str().to_owned(),
            uri: name.uri().to_owned(),
            name: Some(name),
        }
    }
}

/// Whether `predicate_type` is the OpenVEX namespace `https://openvex.dev/ns`
/// or a versioned form of it, `https://openvex.dev/ns/v` followed by
/// dot-separated decimal numbers (`v0.2.0`, `v0.0.1`). Anything else — a
/// trailing slash, `https://openvex.dev/nsfoo`, `…/ns/v0.2.0-rc1` — is not.
pub fn is_openvex_predicate_type(predicate_type: &str) -> bool {
    versioned_suffix(predicate_type, uri::OPENVEX_NAMESPACE).is_some()
}

/// `Some("")` when `candidate == base`, `Some(version)` when `candidate` is
/// `base/v<version>` with `version` made of dot-separated decimal numbers,
/// `None` otherwise.
pub(crate) fn versioned_suffix<'a>(candidate: &'a str, base: &str) -> Option<&'a str> {
    let rest = candidate.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let version = rest.strip_prefix("/v")?;
    let well_formed = version
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then_some(version)
}

/// RFC 3986 absolute URI, checked loosely: a scheme (`ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." )`), a colon, and a non-empty remainder, with no whitespace
/// or control characters anywhere.
fn is_absolute_uri(candidate: &str) -> bool {
    let Some((scheme, rest)) = candidate.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok
        && !rest.is_empty()
        && !candidate
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_selecting_a_predicate_type() {
        use PredicateTypeName as N;
        assert_eq!(
            N::selecting("https://spdx.dev/Document"),
            [N::Spdx, N::SpdxJson]
        );
        assert_eq!(N::selecting("https://openvex.dev/ns/v0.2.0"), [N::OpenVex]);
        assert_eq!(
            N::selecting("https://slsa.dev/provenance/v1"),
            [N::SlsaProvenance1]
        );
        assert!(N::selecting("https://example.com/custom-predicate").is_empty());
    }

    #[test]
    fn every_short_name_round_trips() {
        for name in PredicateTypeName::ALL {
            assert_eq!(PredicateTypeName::from_name(name.as_str()), Some(name));
            let filter = PredicateFilter::parse(name.as_str()).unwrap();
            assert_eq!(filter.uri(), name.uri());
            assert_eq!(filter.given(), name.as_str());
        }
    }

    #[test]
    fn short_names_are_case_sensitive_like_cosign() {
        assert!(PredicateTypeName::from_name("SPDX").is_none());
        assert!(PredicateFilter::parse("SPDX").is_err());
    }

    #[test]
    fn absolute_uri_check() {
        assert!(is_absolute_uri("https://example.com/p/v1"));
        assert!(is_absolute_uri("urn:example:predicate"));
        assert!(!is_absolute_uri("/just/a/path"));
        assert!(!is_absolute_uri("https:"));
        assert!(!is_absolute_uri("1http://x"));
        assert!(!is_absolute_uri("https://exa mple.com"));
        assert!(!is_absolute_uri("https://x/\n"));
        assert!(!is_absolute_uri(""));
    }

    #[test]
    fn versioned_suffix_accepts_only_dotted_numbers() {
        let base = "https://openvex.dev/ns";
        assert_eq!(versioned_suffix("https://openvex.dev/ns", base), Some(""));
        assert_eq!(
            versioned_suffix("https://openvex.dev/ns/v0.2.0", base),
            Some("0.2.0")
        );
        for bad in [
            "https://openvex.dev/nsfoo",
            "https://openvex.dev/ns/",
            "https://openvex.dev/ns/v",
            "https://openvex.dev/ns/v0..2",
            "https://openvex.dev/ns/v0.2.0/",
            "https://openvex.dev/ns/0.2.0",
            "https://openvex.dev/ns/v0.2.0-rc1",
        ] {
            assert_eq!(versioned_suffix(bad, base), None, "{bad}");
        }
    }
}

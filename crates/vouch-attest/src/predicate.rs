//! The `Predicate` enum: dispatch from `predicateType` to a typed reader, and
//! the summary of whatever was read.
//!
//! Dispatch is wider than `--type` filtering: it also recognises the versioned
//! URIs in-toto's predicate list names (`https://spdx.dev/Document/v2.3`,
//! `https://cyclonedx.org/bom/v1.4`, `https://openvex.dev/ns/v0.2.0`), because
//! reading a predicate is harmless while selecting one is policy.

use std::fmt;

use serde_json::Value;

use crate::error::AttestError;
use crate::predicate_type::{is_openvex_predicate_type, versioned_suffix};
use crate::provenance::{ProvenanceSummary, SlsaProvenanceV1, SlsaProvenanceV02};
use crate::sbom::{CycloneDxBom, SbomSummary, SpdxDocument};
use crate::uri;
use crate::vex::{VexDocument, VexSummary};

/// A predicate read according to its `predicateType`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Predicate {
    /// `https://spdx.dev/Document` (or `…/v2.x`): SPDX 2.x, JSON or tag-value.
    Spdx(SpdxDocument),
    /// `https://cyclonedx.org/bom` (or `…/v<version>`): CycloneDX JSON.
    CycloneDx(CycloneDxBom),
    /// `https://slsa.dev/provenance/v0.2`.
    SlsaProvenanceV02(SlsaProvenanceV02),
    /// `https://slsa.dev/provenance/v1`.
    SlsaProvenanceV1(SlsaProvenanceV1),
    /// `https://openvex.dev/ns` (or `…/v<version>`).
    OpenVex(VexDocument),
    /// Any other predicate type, kept as JSON.
    Other(Value),
}

impl Predicate {
    /// Reads `predicate` as the type `predicate_type` names. Unknown types
    /// become [`Predicate::Other`]; a known type whose content does not fit
    /// is an error. Pure and total: never panics.
    pub fn parse(predicate_type: &str, predicate: &Value) -> Result<Self, AttestError> {
        Ok(match predicate_type {
            uri::SLSA_PROVENANCE_V02 => {
                Self::SlsaProvenanceV02(SlsaProvenanceV02::from_predicate(predicate)?)
            }
            uri::SLSA_PROVENANCE_V1 => {
                Self::SlsaProvenanceV1(SlsaProvenanceV1::from_predicate(predicate)?)
            }
            other if is_spdx2(other) => Self::Spdx(SpdxDocument::from_predicate(predicate)?),
            other if versioned_suffix(other, uri::CYCLONEDX_BOM).is_some() => {
                Self::CycloneDx(CycloneDxBom::from_predicate(predicate)?)
            }
            other if is_openvex_predicate_type(other) => {
                Self::OpenVex(VexDocument::from_predicate(predicate)?)
            }
            _ => Self::Other(predicate.clone()),
        })
    }

    /// The short description, or `None` for [`Predicate::Other`].
    pub fn summary(&self) -> Option<PredicateSummary> {
        Some(match self {
            Self::Spdx(document) => PredicateSummary::Sbom(document.summary()),
            Self::CycloneDx(bom) => PredicateSummary::Sbom(bom.summary()),
            Self::SlsaProvenanceV02(provenance) => {
                PredicateSummary::Provenance(provenance.summary())
            }
            Self::SlsaProvenanceV1(provenance) => {
                PredicateSummary::Provenance(provenance.summary())
            }
            Self::OpenVex(document) => PredicateSummary::Vex(document.summary()),
            Self::Other(_) => return None,
        })
    }
}

/// `https://spdx.dev/Document`, or a `v2`/`v2.x` versioned form of it (not v3).
fn is_spdx2(predicate_type: &str) -> bool {
    versioned_suffix(predicate_type, uri::SPDX_DOCUMENT)
        .is_some_and(|version| version.is_empty() || version == "2" || version.starts_with("2."))
}

/// The summary of a typed predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredicateSummary {
    /// An SBOM (SPDX or CycloneDX).
    Sbom(SbomSummary),
    /// SLSA provenance.
    Provenance(ProvenanceSummary),
    /// OpenVEX: one line per statement.
    Vex(VexSummary),
}

impl fmt::Display for PredicateSummary {
    /// The inner summary's text: one line, or one line per VEX statement.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sbom(summary) => summary.fmt(f),
            Self::Provenance(summary) => summary.fmt(f),
            Self::Vex(summary) => summary.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dispatches_versioned_sbom_and_vex_uris() {
        let spdx = json!({"spdxVersion": "SPDX-2.3", "name": "n"});
        assert!(matches!(
            Predicate::parse("https://spdx.dev/Document/v2.3", &spdx),
            Ok(Predicate::Spdx(_))
        ));
        assert!(matches!(
            Predicate::parse("https://spdx.dev/Document/v3", &spdx),
            Ok(Predicate::Other(_))
        ));
        let bom = json!({"bomFormat": "CycloneDX", "specVersion": "1.4"});
        assert!(matches!(
            Predicate::parse("https://cyclonedx.org/bom/v1.4", &bom),
            Ok(Predicate::CycloneDx(_))
        ));
        let vex = json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": []});
        assert!(matches!(
            Predicate::parse("https://openvex.dev/ns/v0.2.0", &vex),
            Ok(Predicate::OpenVex(_))
        ));
        assert!(matches!(
            Predicate::parse("https://openvex.dev/nsfoo", &vex),
            Ok(Predicate::Other(_))
        ));
    }

    #[test]
    fn other_predicates_have_no_summary() {
        let predicate = Predicate::parse(uri::COSIGN_CUSTOM_V1, &json!({"Data": "x"})).unwrap();
        assert_eq!(predicate, Predicate::Other(json!({"Data": "x"})));
        assert!(predicate.summary().is_none());
    }

    #[test]
    fn known_types_with_the_wrong_shape_are_errors() {
        for predicate_type in [
            uri::SLSA_PROVENANCE_V02,
            uri::SLSA_PROVENANCE_V1,
            uri::SPDX_DOCUMENT,
            uri::CYCLONEDX_BOM,
            uri::OPENVEX_NAMESPACE,
        ] {
            for value in [Value::Null, json!(1), json!([]), json!({})] {
                assert!(
                    Predicate::parse(predicate_type, &value).is_err(),
                    "{predicate_type} {value}"
                );
            }
        }
    }
}

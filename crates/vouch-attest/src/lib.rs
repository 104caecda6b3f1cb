//! Typed in-toto predicates and their summaries.
//!
//! `vouch-attest` reads what a verified attestation says; it does not verify
//! anything. It is pure: no I/O, network, clock or filesystem. Its parts:
//!
//! * [`parse_statement`]: the in-toto statement inside a DSSE payload, with
//!   named limits ([`MAX_STATEMENT_BYTES`], [`MAX_SUBJECTS`],
//!   [`MAX_SUBJECT_DIGESTS`]), duplicate keys rejected, and subject digest
//!   matching ([`Statement::subject_for_digest`]).
//! * [`PredicateFilter`]: cosign's `--type` table ([`PredicateTypeName`]) and
//!   the `predicateType` comparison it implies.
//! * [`Predicate::parse`]: SPDX 2.x and CycloneDX SBOMs, SLSA provenance v0.2
//!   and v1, OpenVEX, each with a short summary ([`PredicateSummary`]).
//!
//! [`parse_statement`] and [`Predicate::parse`] are the entry points for
//! fuzzing: they never panic on any input.

#![forbid(unsafe_code)]

mod error;
mod json;
mod predicate;
mod predicate_type;
mod provenance;
mod sbom;
mod statement;
pub mod uri;
mod vex;

pub use error::{AttestError, DocumentKind, JsonType};
pub use predicate::{Predicate, PredicateSummary};
pub use predicate_type::{
    DEFAULT_PREDICATE_TYPE, PredicateFilter, PredicateTypeName, is_openvex_predicate_type,
};
pub use provenance::{ProvenanceSummary, SlsaProvenanceV1, SlsaProvenanceV02, SlsaVersion};
pub use sbom::{CycloneDxBom, SbomFormat, SbomSummary, SpdxDocument, SpdxEncoding};
pub use statement::{
    MAX_STATEMENT_BYTES, MAX_SUBJECT_DIGESTS, MAX_SUBJECTS, Statement, StatementType, Subject,
    parse_statement,
};
pub use vex::{VexDocument, VexProduct, VexStatement, VexStatus, VexSummary, VexVulnerability};

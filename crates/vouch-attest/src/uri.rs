//! Predicate type URIs this crate knows, with where each comes from.

/// `--type custom`, cosign's generic predicate (`pkg/cosign/attestation`
/// `CosignCustomProvenanceV01`).
pub const COSIGN_CUSTOM_V1: &str = "https://cosign.sigstore.dev/attestation/v1";

/// `--type vuln`, cosign's vulnerability-scan predicate
/// (`CosignVulnProvenanceV01`).
pub const COSIGN_VULN_V1: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// SLSA provenance v0.2 (in-toto-golang `slsa_provenance/v0.2`).
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// SLSA provenance v1 (in-toto-golang `slsa_provenance/v1`).
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// SPDX document (in-toto-golang `PredicateSPDX`); in-toto's predicate list
/// also names versioned forms such as `https://spdx.dev/Document/v2.3`.
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";

/// CycloneDX BOM (in-toto-golang `PredicateCycloneDX`); in-toto's predicate
/// list also shows versioned forms such as `https://cyclonedx.org/bom/v1.4`.
pub const CYCLONEDX_BOM: &str = "https://cyclonedx.org/bom";

/// in-toto link (in-toto-golang `PredicateLinkV1`).
pub const IN_TOTO_LINK_V1: &str = "https://in-toto.io/Link/v1";

/// OpenVEX namespace (cosign `OpenVexNamespace`, go-vex `TypeURI`). OpenVEX
/// documents carry a versioned form in `@context`, e.g.
/// `https://openvex.dev/ns/v0.2.0`.
pub const OPENVEX_NAMESPACE: &str = "https://openvex.dev/ns";

/// in-toto statement `_type` v0.1 (what cosign writes, even for SLSA v1).
pub const IN_TOTO_STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// in-toto statement `_type` v1.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

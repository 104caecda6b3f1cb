//! `parse_statement` and `Predicate::parse` are fuzzing entry points: every
//! truncation and many single-byte corruptions of valid statements must give
//! `Ok` or `Err`, never a panic. (The fuzz targets explore further.)

mod common;

use common::{cosign_statement, fixture};
use vouch_attest::parse_statement;

/// Bytes that change JSON structure, plus one that breaks UTF-8.
const REPLACEMENTS: &[u8] = b"\"{}[],:0n\\ -\xff";

/// A few of [`REPLACEMENTS`], for the larger real fixture (keeps the debug
/// test run near a second on a 2-core machine).
const FEW_REPLACEMENTS: &[u8] = b"\"}\xff";

fn exercise(bytes: &[u8]) {
    if let Ok(statement) = parse_statement(bytes) {
        for subject in statement.subjects() {
            let _ = statement.subject_for_digest("sha256", subject.name().unwrap_or(""));
        }
        if let Ok(predicate) = statement.parse_predicate()
            && let Some(summary) = predicate.summary()
        {
            let _ = summary.to_string();
        }
    }
}

fn mutate_everywhere(original: &[u8], replacements: &[u8]) {
    for len in 0..=original.len() {
        exercise(&original[..len]);
    }
    let mut bytes = original.to_vec();
    for position in 0..bytes.len() {
        let saved = bytes[position];
        for &replacement in replacements {
            bytes[position] = replacement;
            exercise(&bytes);
        }
        bytes[position] = saved;
    }
}

#[test]
fn truncated_and_corrupted_vex_statement_never_panics() {
    let vex = r#"{"@context":"https://openvex.dev/ns/v0.2.0","version":2,"statements":[
        {"vulnerability":{"name":"CVE-2023-1234","aliases":["GHSA-x"]},"status":"not_affected",
         "justification":"vulnerable_code_not_in_execute_path",
         "products":[{"@id":"pkg:oci/app","identifiers":{"purl":"pkg:oci/app"}},"pkg:x"]}]}"#;
    mutate_everywhere(
        &cosign_statement("https://openvex.dev/ns", vex),
        REPLACEMENTS,
    );
}

#[test]
fn truncated_and_corrupted_sbom_and_provenance_statements_never_panic() {
    let spdx = r#"{"spdxVersion":"SPDX-2.3","name":"n","creationInfo":{"creators":["Tool: x"]},"packages":[{}]}"#;
    mutate_everywhere(
        &cosign_statement("https://spdx.dev/Document", spdx),
        REPLACEMENTS,
    );
    let bom = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"a"}},"components":[{}]}"#;
    mutate_everywhere(
        &cosign_statement("https://cyclonedx.org/bom", bom),
        REPLACEMENTS,
    );
    let slsa1 = r#"{"buildDefinition":{"buildType":"t","externalParameters":{"a":1},"resolvedDependencies":[{}]},"runDetails":{"builder":{"id":"b"},"metadata":{"invocationId":"i"}}}"#;
    mutate_everywhere(
        &cosign_statement("https://slsa.dev/provenance/v1", slsa1),
        REPLACEMENTS,
    );
}

#[test]
fn truncated_and_corrupted_real_slsa_v02_statement_never_panics() {
    let Some(bytes) = fixture("sigstore-go/examples/statement-provenance-sigstorejs1.3.0.json")
    else {
        return;
    };
    mutate_everywhere(&bytes, FEW_REPLACEMENTS);
}

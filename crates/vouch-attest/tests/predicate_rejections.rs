//! Typed predicates that do not fit their `predicateType`, through
//! `Predicate::parse`: each error names the field, what was expected and what
//! was found.

use serde_json::{Value, json};
use vouch_attest::{AttestError, Predicate, uri};

fn message(predicate_type: &str, predicate: Value) -> String {
    Predicate::parse(predicate_type, &predicate)
        .expect_err("predicate should be rejected")
        .to_string()
}

#[test]
fn spdx_rejects_wrong_shapes_and_other_versions() {
    assert_eq!(
        message(uri::SPDX_DOCUMENT, json!(["not", "a", "document"])),
        "SPDX JSON predicate: expected an SPDX JSON object or a tag-value string at `$`, found an array"
    );
    assert_eq!(
        message(uri::SPDX_DOCUMENT, json!({"name": "x"})),
        "SPDX JSON predicate: missing required field `$.spdxVersion`"
    );
    assert_eq!(
        message(
            uri::SPDX_DOCUMENT,
            json!({"spdxVersion": "SPDX-3.0", "name": "x"})
        ),
        "SPDX JSON predicate: expected an SPDX 2.x version such as `SPDX-2.3` (SPDX 3 is not \
         supported) at `$.spdxVersion`, found `SPDX-3.0`"
    );
    assert_eq!(
        message(
            uri::SPDX_DOCUMENT,
            json!({"spdxVersion": "SPDX-2.3", "name": "x", "packages": {}})
        ),
        "SPDX JSON predicate: expected an array at `$.packages`, found an object"
    );
    assert_eq!(
        message(
            uri::SPDX_DOCUMENT,
            json!({"spdxVersion": "SPDX-2.3", "name": "x", "creationInfo": {"creators": ["a", 1]}})
        ),
        "SPDX JSON predicate: expected a string at `$.creationInfo.creators[1]`, found a number"
    );
}

#[test]
fn spdx_tag_value_string_predicate_is_read() {
    let predicate = json!("SPDXVersion: SPDX-2.2\nDocumentName: legacy\nPackageName: a\n");
    let Predicate::Spdx(document) = Predicate::parse(uri::SPDX_DOCUMENT, &predicate).unwrap()
    else {
        panic!("expected SPDX");
    };
    assert_eq!(document.name, "legacy");
    assert_eq!(document.packages, 1);
}

#[test]
fn slsa_v1_rejects_missing_and_mistyped_required_fields() {
    assert_eq!(
        message(
            uri::SLSA_PROVENANCE_V1,
            json!({"runDetails": {"builder": {"id": "b"}}})
        ),
        "SLSA provenance v1 predicate: missing required field `$.buildDefinition`"
    );
    assert_eq!(
        message(
            uri::SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "t", "externalParameters": {}},
                   "runDetails": {"builder": {"id": 5}}})
        ),
        "SLSA provenance v1 predicate: expected a string at `$.runDetails.builder.id`, found a number"
    );
    assert_eq!(
        message(
            uri::SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "t", "externalParameters": {},
                                       "resolvedDependencies": "x"},
                   "runDetails": {"builder": {"id": "b"}}})
        ),
        "SLSA provenance v1 predicate: expected an array at \
         `$.buildDefinition.resolvedDependencies`, found a string"
    );
}

#[test]
fn slsa_v02_rejects_missing_and_mistyped_fields() {
    assert_eq!(
        message(uri::SLSA_PROVENANCE_V02, json!({"builder": {"id": "b"}})),
        "SLSA provenance v0.2 predicate: missing required field `$.buildType`"
    );
    assert_eq!(
        message(
            uri::SLSA_PROVENANCE_V02,
            json!({"builder": {"id": "b"}, "buildType": "t", "invocation": {"configSource": []}})
        ),
        "SLSA provenance v0.2 predicate: expected an object at `$.invocation.configSource`, \
         found an array"
    );
}

#[test]
fn openvex_rejects_missing_statements_and_bad_products() {
    assert_eq!(
        message(
            uri::OPENVEX_NAMESPACE,
            json!({"@context": "https://openvex.dev/ns/v0.2.0"})
        ),
        "OpenVEX predicate: missing required field `$.statements`"
    );
    assert_eq!(
        message(
            uri::OPENVEX_NAMESPACE,
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
                {"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": [7]}]})
        ),
        "OpenVEX predicate: expected a product object (v0.2) or `@id` string (v0.0.x) at \
         `$.statements[0].products[0]`, found a number"
    );
    assert_eq!(
        message(
            uri::OPENVEX_NAMESPACE,
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
                {"vulnerability": ["CVE-1"], "status": "fixed"}]})
        ),
        "OpenVEX predicate: expected a vulnerability object (v0.2) or name string (v0.0.x) at \
         `$.statements[0].vulnerability`, found an array"
    );
    assert_eq!(
        message(
            uri::OPENVEX_NAMESPACE,
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": ["CVE-1"]})
        ),
        "OpenVEX predicate: expected an object at `$.statements[0]`, found a string"
    );
    assert_eq!(
        message(
            uri::OPENVEX_NAMESPACE,
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
                {"vulnerability": {"name": "CVE-1"}, "status": "fixed",
                 "products": [{"@id": "p", "identifiers": {"purl": 1}}]}]})
        ),
        "OpenVEX predicate: expected a string at \
         `$.statements[0].products[0].identifiers.purl`, found a number"
    );
}

#[test]
fn openvex_rejects_a_misspelled_context() {
    let err = Predicate::parse(
        "https://openvex.dev/ns/v0.2.0",
        &json!({"@context": "https://openvex.dev/nsfoo", "statements": []}),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::UnexpectedValue { .. }));
    assert_eq!(
        err.to_string(),
        "OpenVEX predicate: expected `https://openvex.dev/ns` or \
         `https://openvex.dev/ns/v<version>` at `$.@context`, found `https://openvex.dev/nsfoo`"
    );
}

#[test]
fn cyclonedx_rejects_a_missing_spec_version() {
    assert_eq!(
        message(uri::CYCLONEDX_BOM, json!({"bomFormat": "CycloneDX"})),
        "CycloneDX predicate: missing required field `$.specVersion`"
    );
}

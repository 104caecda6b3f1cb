//! The `--type` table (SPEC.md §4.1) and predicate-type filtering (§4.2).

use vouch_attest::{
    AttestError, DEFAULT_PREDICATE_TYPE, PredicateFilter, PredicateTypeName,
    is_openvex_predicate_type,
};

#[test]
fn short_names_map_to_the_uris_in_cosigns_table() {
    let table = [
        ("custom", "https://cosign.sigstore.dev/attestation/v1"),
        ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("spdx", "https://spdx.dev/Document"),
        ("spdxjson", "https://spdx.dev/Document"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("link", "https://in-toto.io/Link/v1"),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", "https://openvex.dev/ns"),
    ];
    assert_eq!(PredicateTypeName::ALL.len(), table.len());
    for (name, uri) in table {
        let filter = PredicateFilter::parse(name).unwrap();
        assert_eq!(filter.uri(), uri, "{name}");
        assert_eq!(filter.given(), name);
        assert_eq!(filter.name().map(PredicateTypeName::as_str), Some(name));
        assert!(filter.matches(uri), "{name}");
    }
}

#[test]
fn default_is_custom_like_cosign() {
    assert_eq!(DEFAULT_PREDICATE_TYPE, PredicateTypeName::Custom);
    let filter = PredicateFilter::default();
    assert_eq!(filter.given(), "custom");
    assert_eq!(filter.uri(), "https://cosign.sigstore.dev/attestation/v1");
    assert!(!filter.matches("https://slsa.dev/provenance/v1"));
}

#[test]
fn a_uri_is_used_verbatim_and_compared_exactly() {
    let filter = PredicateFilter::parse("https://example.com/predicate/v1").unwrap();
    assert_eq!(filter.name(), None);
    assert_eq!(filter.uri(), "https://example.com/predicate/v1");
    assert!(filter.matches("https://example.com/predicate/v1"));
    assert!(!filter.matches("https://example.com/predicate/v1/"));
    assert!(!filter.matches("https://example.com/predicate/V1"));
}

#[test]
fn other_short_names_compare_exactly_without_version_widening() {
    let spdx = PredicateFilter::parse("spdxjson").unwrap();
    assert!(!spdx.matches("https://spdx.dev/Document/v2.3"));
    let slsa = PredicateFilter::parse("slsaprovenance1").unwrap();
    assert!(!slsa.matches("https://slsa.dev/provenance/v1.0"));
    assert!(!slsa.matches("https://slsa.dev/provenance/v0.2"));
}

#[test]
fn openvex_short_name_accepts_the_namespace_and_its_versions() {
    let filter = PredicateFilter::parse("openvex").unwrap();
    for accepted in [
        "https://openvex.dev/ns",
        "https://openvex.dev/ns/v0.2.0",
        "https://openvex.dev/ns/v0.0.1",
        "https://openvex.dev/ns/v1",
    ] {
        assert!(filter.matches(accepted), "{accepted}");
        assert!(is_openvex_predicate_type(accepted), "{accepted}");
    }
}

#[test]
fn openvex_short_name_rejects_misspelled_versions() {
    let filter = PredicateFilter::parse("openvex").unwrap();
    for rejected in [
        "https://openvex.dev/nsfoo",
        "https://openvex.dev/ns/",
        "https://openvex.dev/ns/v",
        "https://openvex.dev/ns/0.2.0",
        "https://openvex.dev/ns/v0.2.0/",
        "https://openvex.dev/ns/v0.2.x",
        "https://openvex.dev/ns/vv0.2.0",
        "http://openvex.dev/ns",
        "https://openvex.dev/NS",
    ] {
        assert!(!filter.matches(rejected), "{rejected}");
    }
}

#[test]
fn openvex_given_as_a_uri_is_compared_exactly_like_cosign() {
    let filter = PredicateFilter::parse("https://openvex.dev/ns").unwrap();
    assert!(filter.matches("https://openvex.dev/ns"));
    assert!(!filter.matches("https://openvex.dev/ns/v0.2.0"));
}

#[test]
fn unknown_names_that_are_not_uris_are_rejected_with_the_valid_names() {
    for given in [
        "sbom",
        "SPDX",
        "slsaprovenance2",
        "",
        "/a/path",
        "spdx json",
    ] {
        let err = PredicateFilter::parse(given).unwrap_err();
        assert!(
            matches!(err, AttestError::UnknownPredicateType { .. }),
            "{given}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "unknown predicate type `{given}`: expected one of slsaprovenance, \
                 slsaprovenance02, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, \
                 openvex, custom or an absolute URI such as `https://example.com/predicate/v1`"
            )
        );
    }
}

#[test]
fn unknown_name_error_escapes_control_characters() {
    let err = PredicateFilter::parse("x\u{1b}[2J").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown predicate type `x\\u{1b}[2J`")
    );
}

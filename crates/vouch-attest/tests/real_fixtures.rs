//! Real-world statements and predicates from the shared fixtures, with values
//! read from the files themselves.

mod common;

use base64::Engine as _;
use common::{IMAGE_HEX, cosign_statement, fixture};
use serde_json::Value;
use vouch_attest::{
    AttestError, Predicate, PredicateFilter, PredicateSummary, SbomFormat, SlsaVersion,
    SpdxEncoding, StatementType, VexStatus, parse_statement,
};

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes)
        .expect("fixture is UTF-8")
        .trim_end()
}

#[test]
fn spdx_json_sbom_from_cosign_test_data_summarises_name_version_and_packages() {
    let Some(bytes) = fixture("predicates/cosign-bom-go-mod.spdx.json") else {
        return;
    };
    let statement =
        parse_statement(&cosign_statement("https://spdx.dev/Document", text(&bytes))).unwrap();
    assert!(
        PredicateFilter::parse("spdxjson")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(
        PredicateFilter::parse("spdx")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(statement.subject_matches_sha256(IMAGE_HEX));

    let Predicate::Spdx(document) = statement.parse_predicate().unwrap() else {
        panic!("expected an SPDX predicate");
    };
    assert_eq!(document.encoding, SpdxEncoding::Json);
    assert_eq!(document.spdx_version, "SPDX-2.2");
    assert_eq!(
        document.name,
        "SBOM-SPDX-34f1a7f5-03ff-4277-9021-8c04f8777803"
    );
    assert_eq!(
        document.document_namespace.as_deref(),
        Some("https://spdx.org/spdxdocs/k8s-releng-bom-16f4e288-6bdf-4b89-a79a-9ffd56ad33e0")
    );
    assert_eq!(document.created.as_deref(), Some("2022-06-07T22:14:56Z"));
    assert_eq!(
        document.creators,
        [
            "Organization: Kubernetes Release Engineering",
            "Tool: sigs.k8s.io/bom/pkg/spdx"
        ]
    );
    assert_eq!(document.packages, 0);

    let summary = document.summary();
    assert_eq!(summary.format, SbomFormat::Spdx);
    assert_eq!(
        summary.to_string(),
        "SPDX-2.2 document SBOM-SPDX-34f1a7f5-03ff-4277-9021-8c04f8777803, 0 packages"
    );
}

#[test]
fn vexctl_demo_document_reads_its_fixed_statement_and_both_products() {
    let Some(bytes) = fixture("predicates/vexctl-demo.vex.json") else {
        return;
    };
    let statement = parse_statement(&cosign_statement(
        "https://openvex.dev/ns/v0.2.0",
        text(&bytes),
    ))
    .unwrap();
    // vexctl writes the versioned namespace; `--type openvex` accepts it
    // (cosign would not), the bare URI given as a URI does not.
    assert!(
        PredicateFilter::parse("openvex")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(
        !PredicateFilter::parse("https://openvex.dev/ns")
            .unwrap()
            .matches(statement.predicate_type())
    );

    let Predicate::OpenVex(document) = statement.parse_predicate().unwrap() else {
        panic!("expected an OpenVEX predicate");
    };
    assert_eq!(document.context, "https://openvex.dev/ns/v0.2.0");
    assert_eq!(
        document.id.as_deref(),
        Some(
            "https://openvex.dev/docs/public/vex-d7653e1c3ccc092c02e2cfd2b12549be29264ff28f9f704f599613b007584dbe"
        )
    );
    assert_eq!(document.author.as_deref(), Some("Wolfi J Inkinson"));
    assert_eq!(document.role.as_deref(), Some("Document Creator"));
    assert_eq!(document.version, Some(1));
    assert_eq!(document.statements.len(), 1);
    let vex = &document.statements[0];
    assert_eq!(vex.status, VexStatus::Fixed);
    assert_eq!(vex.vulnerability.display_name(), "CVE-2014-123456");
    let products: Vec<_> = vex
        .products
        .iter()
        .map(|p| p.id.as_deref().unwrap())
        .collect();
    assert_eq!(
        products,
        [
            "pkg:apk/distro/git@2.39.0-r1?arch=armv7",
            "pkg:apk/distro/git@2.39.0-r1?arch=x86_64"
        ]
    );
    assert_eq!(document.summary().to_string(), "[fixed] CVE-2014-123456");

    // The document for `trivy --vex`: the exact signed text, and a pretty
    // rendering that is the same JSON value as the fixture.
    assert_eq!(statement.predicate_json(), Some(text(&bytes)));
    let fixture_value: Value = serde_json::from_slice(&bytes).unwrap();
    let pretty: Value = serde_json::from_str(&document.to_json_pretty()).unwrap();
    assert_eq!(pretty, fixture_value);
    assert_eq!(document.document, fixture_value);
}

#[test]
fn vexctl_v020_document_reads_its_under_investigation_statement() {
    let Some(bytes) = fixture("predicates/vexctl-v020-1.vex.json") else {
        return;
    };
    let predicate: Value = serde_json::from_slice(&bytes).unwrap();
    let Predicate::OpenVex(document) =
        Predicate::parse("https://openvex.dev/ns", &predicate).unwrap()
    else {
        panic!("expected an OpenVEX predicate");
    };
    assert_eq!(document.author.as_deref(), Some("John Doe"));
    assert_eq!(document.role.as_deref(), Some("Senior Trusted VEX Issuer"));
    assert_eq!(document.version, None);
    assert_eq!(document.timestamp, None);
    let vex = &document.statements[0];
    assert_eq!(vex.status, VexStatus::UnderInvestigation);
    assert_eq!(vex.timestamp.as_deref(), Some("2022-12-22T16:36:43-05:00"));
    assert_eq!(
        vex.products[0].id.as_deref(),
        Some("pkg:apk/wolfi/bash@1.0.0")
    );
    let summary = Predicate::OpenVex(document.clone()).summary().unwrap();
    assert!(matches!(summary, PredicateSummary::Vex(_)));
    assert_eq!(summary.to_string(), "[under_investigation] CVE-9876-54321");
}

#[test]
fn slsa_v02_statement_of_sigstore_js_1_3_0_names_the_github_runner() {
    let Some(bytes) = fixture("sigstore-go/examples/statement-provenance-sigstorejs1.3.0.json")
    else {
        return;
    };
    let statement = parse_statement(&bytes).unwrap();
    assert_eq!(statement.statement_type(), StatementType::V01);
    assert_eq!(
        statement.predicate_type(),
        "https://slsa.dev/provenance/v0.2"
    );
    assert!(
        PredicateFilter::parse("slsaprovenance")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(
        PredicateFilter::parse("slsaprovenance02")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(
        !PredicateFilter::parse("slsaprovenance1")
            .unwrap()
            .matches(statement.predicate_type())
    );

    let [subject] = statement.subjects() else {
        panic!("expected one subject");
    };
    assert_eq!(subject.name(), Some("pkg:npm/sigstore@1.3.0"));
    let sha512 = "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751";
    assert_eq!(subject.digest_for("sha512"), Some(sha512));
    assert!(statement.subject_for_digest("sha512", sha512).is_ok());

    // The npm subject has no sha256, so an image digest cannot match, and the
    // error shows what the statement does carry.
    assert!(!statement.subject_matches_sha256(IMAGE_HEX));
    let err = statement
        .subject_for_digest("sha256", IMAGE_HEX)
        .unwrap_err();
    assert!(matches!(err, AttestError::NoMatchingSubject { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "no subject of the in-toto statement has digest `sha256:{IMAGE_HEX}`; the \
             statement's subjects are: pkg:npm/sigstore@1.3.0 sha512:{sha512}"
        )
    );

    let Predicate::SlsaProvenanceV02(provenance) = statement.parse_predicate().unwrap() else {
        panic!("expected SLSA v0.2");
    };
    assert_eq!(provenance.builder_id, "https://github.com/actions/runner");
    assert_eq!(provenance.build_type, "https://github.com/npm/cli/gha/v2");
    assert_eq!(
        provenance.config_source_uri.as_deref(),
        Some("git+https://github.com/sigstore/sigstore-js@refs/heads/main")
    );
    assert_eq!(
        provenance.config_source_entry_point.as_deref(),
        Some(".github/workflows/release.yml")
    );
    assert_eq!(
        provenance.build_invocation_id.as_deref(),
        Some("4735384265-1")
    );
    assert_eq!(provenance.materials, 1);
    let summary = provenance.summary();
    assert_eq!(summary.slsa_version, SlsaVersion::V02);
    assert_eq!(
        summary.to_string(),
        "SLSA provenance v0.2: builder https://github.com/actions/runner, build type \
         https://github.com/npm/cli/gha/v2, source \
         git+https://github.com/sigstore/sigstore-js@refs/heads/main, invocation 4735384265-1"
    );
}

#[test]
fn slsa_v1_statement_inside_the_gh_cli_sigstore_js_2_1_0_bundle() {
    let Some(bytes) = fixture("gh-cli/sigstore-js-2.1.0-bundle.json") else {
        return;
    };
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    let payload = bundle["dsseEnvelope"]["payload"].as_str().unwrap();
    let statement_bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    let statement = parse_statement(&statement_bytes).unwrap();

    assert_eq!(statement.statement_type(), StatementType::V1);
    assert_eq!(statement.predicate_type(), "https://slsa.dev/provenance/v1");
    assert!(
        PredicateFilter::parse("slsaprovenance1")
            .unwrap()
            .matches(statement.predicate_type())
    );
    assert!(!PredicateFilter::default().matches(statement.predicate_type()));
    let [subject] = statement.subjects() else {
        panic!("expected one subject");
    };
    assert_eq!(subject.name(), Some("pkg:npm/sigstore@2.1.0"));
    assert_eq!(
        subject.digest_for("sha512"),
        Some(
            "90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f"
        )
    );

    let Predicate::SlsaProvenanceV1(provenance) = statement.parse_predicate().unwrap() else {
        panic!("expected SLSA v1");
    };
    assert_eq!(
        provenance.builder_id,
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(
        provenance.build_type,
        "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
    );
    assert_eq!(
        provenance.external_parameters["workflow"]["repository"],
        "https://github.com/sigstore/sigstore-js"
    );
    assert_eq!(
        provenance.external_parameters["workflow"]["path"],
        ".github/workflows/release.yml"
    );
    assert_eq!(
        provenance.invocation_id.as_deref(),
        Some("https://github.com/sigstore/sigstore-js/actions/runs/6014488666/attempts/1")
    );
    assert_eq!(provenance.resolved_dependencies, 1);
    assert_eq!(
        statement
            .parse_predicate()
            .unwrap()
            .summary()
            .unwrap()
            .to_string(),
        "SLSA provenance v1: builder https://github.com/actions/runner/github-hosted, build \
         type https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1, \
         invocation https://github.com/sigstore/sigstore-js/actions/runs/6014488666/attempts/1"
    );
}

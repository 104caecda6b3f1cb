//! A demo release on a real registry, verified in one pass; then each failure
//! mode flips only its own row.

use std::sync::Arc;

use vouch_oci::{AuthLocations, ClientOptions, CredentialStore, Registry, RegistryClient};
use vouch_release::*;
use vouch_testkit::{
    Identity, Layout, LocalRegistry, Publisher, VirtualSigstore, standard_attestations,
};
use vouch_verify::TrustedMaterial;

const USER: &str = "alice@example.com";
const PASSWORD: &str = "LICENSE-0001";
const VERSION: &str = "v1.2.0";
const BUILDER: &str =
    "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";

fn vendor() -> Identity {
    Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v1.2.0",
    )
}

fn policy(host: &str, third_party: &str) -> ReleasePolicy {
    ReleasePolicy::from_toml(&format!(
        r#"
registry = "{host}/acme"
[identity]
subject_regexp = 'https://github\.com/acme/platform/\.github/workflows/release\.yml@refs/tags/v.*'
issuer = "https://token.actions.githubusercontent.com"
[attestations]
required = ["spdxjson", "slsaprovenance1", "openvex"]
slsa_builder_id_regexp = 'https://github\.com/acme/platform/\.github/workflows/.*'
[[image]]
name = "operator"
[[image]]
name = "gateway"
[[image]]
name = "ui"
[[image]]
name = "api"
[[image]]
name = "worker"
[[image]]
name = "unreleased"
since = "v1.3.0"
[[third_party]]
name = "envoy"
reference = "{third_party}"
"#
    ))
    .unwrap()
}

struct World {
    registry: LocalRegistry,
    sigstore: VirtualSigstore,
    publisher: Publisher,
    third_party: String,
}

fn world() -> Option<World> {
    world_with(None)
}

/// The demo release; `bad` replaces one image's attestations.
fn world_with(bad: Option<(&str, Vec<vouch_testkit::AttestationSpec>)>) -> Option<World> {
    let registry = LocalRegistry::start(Some((USER, PASSWORD)))?;
    let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
    let mut publisher = Publisher::new(&registry.host(), Some((USER, PASSWORD)));
    let good = standard_attestations("x", VERSION, BUILDER, &vendor());
    for (name, layout) in [
        ("operator", Layout::Bundle),
        ("gateway", Layout::Legacy),
        ("ui", Layout::Bundle),
        ("api", Layout::Legacy),
        ("worker", Layout::Bundle),
    ] {
        let atts = match &bad {
            Some((bad_name, atts)) if *bad_name == name => atts.clone(),
            _ => good.clone(),
        };
        publisher.push_signed_image(
            &sigstore,
            &format!("acme/{name}"),
            VERSION,
            layout,
            Some(&vendor()),
            &atts,
        );
    }
    let envoy = publisher.push_image("envoyproxy/gateway", "v1.3.0", "envoy");
    let third_party = format!(
        "{}/envoyproxy/gateway:v1.3.0@{}",
        registry.host(),
        envoy.digest
    );
    Some(World {
        registry,
        sigstore,
        publisher,
        third_party,
    })
}

impl World {
    async fn verify(&self) -> ReleaseReport {
        self.verify_reporting(|_| {}).await
    }

    async fn verify_reporting(&self, progress: impl Fn(vouch_release::Progress)) -> ReleaseReport {
        let client = RegistryClient::new(ClientOptions {
            credentials: CredentialStore::new(AuthLocations::default()).with_override(
                Registry::new(&self.registry.host()).unwrap(),
                vouch_oci::Credential::Basic {
                    username: USER.into(),
                    password: PASSWORD.into(),
                },
            ),
            ..ClientOptions::default()
        })
        .unwrap();
        let material = Arc::new(
            TrustedMaterial::from_json(self.sigstore.trusted_root_json().as_bytes()).unwrap(),
        );
        let options = ReleaseOptions {
            version: VERSION.into(),
            missing: MissingImages::Fail,
            concurrency: 4,
        };
        verify_release(
            &client,
            material,
            &policy(&self.registry.host(), &self.third_party),
            &options,
            progress,
        )
        .await
    }
}

fn row<'a>(report: &'a ReleaseReport, name: &str) -> &'a ImageRow {
    report.rows.iter().find(|r| r.name == name).unwrap()
}

fn expect_only_failure(report: &ReleaseReport, name: &str, fragment: &str) {
    for r in &report.rows {
        let expected = if r.name == name {
            Verdict::Fail
        } else if r.name == "unreleased" {
            Verdict::Skip
        } else {
            Verdict::Ok
        };
        assert_eq!(r.verdict, expected, "{}: {:?}", r.name, r.problems);
    }
    let problems = row(report, name).problems.join("\n");
    assert!(
        problems.contains(fragment),
        "expected `{fragment}` in: {problems}"
    );
}

#[tokio::test]
async fn the_demo_release_verifies_in_one_pass() {
    let Some(w) = world() else { return };
    let rows = w.verify().await;
    assert_eq!(rows.rows.len(), 7);
    assert_eq!(
        rows.outcome(),
        Outcome::Passed {
            verified: 5,
            skipped: 1
        },
        "{}",
        to_table(&rows)
    );
    for name in ["operator", "gateway", "ui", "api", "worker"] {
        let r = row(&rows, name);
        assert_eq!(r.verdict, Verdict::Ok, "{name}: {:?}", r.problems);
        assert_eq!(r.sbom_packages, Some(2));
        assert_eq!(r.slsa_builder.as_deref(), Some(BUILDER));
        assert_eq!(r.vex_statements, Some(1));
        assert!(r.vex_document.as_deref().unwrap().contains("CVE-2026-0001"));
    }
    assert_eq!(row(&rows, "unreleased").verdict, Verdict::Skip);
    assert_eq!(row(&rows, "envoy").verdict, Verdict::Ok);
    assert_eq!(
        row(&rows, "unreleased").problems,
        ["no image at v1.2.0 (the registry has no tag `v1.2.0`); part of the release since v1.3.0"]
    );
    let junit = to_junit(&rows);
    assert!(
        junit.contains("tests=\"7\" failures=\"0\" errors=\"0\" skipped=\"1\""),
        "{junit}"
    );
    let json = to_json(&rows);
    assert_eq!(json["schemaVersion"], vouch_release::REPORT_SCHEMA_VERSION);
    assert_eq!(json["passed"], true);
    assert_eq!(json["images"][0]["name"], "operator");
    // `kind` is a closed set; the policy's free-text category has its own field.
    assert_eq!(json["images"][0]["kind"], "signed");
    assert_eq!(json["images"][0]["category"], serde_json::Value::Null);
    let envoy = &json["images"][6];
    assert_eq!(envoy["name"], "envoy");
    assert_eq!(envoy["kind"], "third-party");
    assert_eq!(envoy["category"], "upstream, not re-signed");
}

/// Each image is announced when its check starts (a display shows what is
/// in flight before anything finished) and once when it ends, in that order.
#[tokio::test]
async fn progress_announces_each_image_before_it_finishes() {
    use vouch_release::Progress;
    let Some(w) = world() else { return };
    let events = std::sync::Mutex::new(Vec::new());
    let report = w.verify_reporting(|p| events.lock().unwrap().push(p)).await;
    let events = events.into_inner().unwrap();
    let total = report.rows.len();
    assert_eq!(events.len(), 2 * total, "{events:?}");
    for row in &report.rows {
        let started = events.iter().position(
            |e| matches!(e, Progress::Started { name, total: t } if *name == row.name && *t == total),
        );
        let finished = events.iter().position(
            |e| matches!(e, Progress::Finished { name, total: t, .. } if *name == row.name && *t == total),
        );
        assert!(
            matches!((started, finished), (Some(s), Some(f)) if s < f),
            "{}: {events:?}",
            row.name
        );
    }
    // With 4 in flight, four checks have started before the first ends.
    assert!(
        events[..4]
            .iter()
            .all(|e| matches!(e, Progress::Started { .. })),
        "{events:?}"
    );
    let dones: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Finished { done, .. } => Some(*done),
            Progress::Started { .. } => None,
        })
        .collect();
    assert_eq!(dones, (1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_missing_attestation_fails_only_that_image() {
    let mut atts = standard_attestations("x", VERSION, BUILDER, &vendor());
    atts.retain(|a| !a.predicate_type.contains("openvex"));
    let Some(w) = world_with(Some(("ui", atts))) else {
        return;
    };
    let rows = w.verify().await;
    expect_only_failure(&rows, "ui", "attestation openvex: none verified");
}

#[tokio::test]
async fn a_vex_signed_by_someone_else_fails_only_that_image() {
    let evil = Identity::github_actions(
        "evil/fork",
        ".github/workflows/release.yml",
        "refs/tags/v1.2.0",
    );
    let mut atts = standard_attestations("x", VERSION, BUILDER, &vendor());
    for a in &mut atts {
        if a.predicate_type.contains("openvex") {
            a.identity = evil.clone();
        }
    }
    // worker is published in the bundle layout: the VEX bundle fails the identity policy.
    let Some(w) = world_with(Some(("worker", atts))) else {
        return;
    };
    let rows = w.verify().await;
    expect_only_failure(&rows, "worker", "attestation openvex: none verified");
    assert!(
        row(&rows, "worker")
            .problems
            .join(" ")
            .contains("evil/fork"),
        "{:?}",
        row(&rows, "worker").problems
    );
}

#[tokio::test]
async fn provenance_from_an_untrusted_builder_fails_only_that_image() {
    let atts = standard_attestations(
        "x",
        VERSION,
        "https://github.com/evil/builder/.github/workflows/b.yml@refs/heads/main",
        &vendor(),
    );
    let Some(w) = world_with(Some(("api", atts))) else {
        return;
    };
    let rows = w.verify().await;
    expect_only_failure(&rows, "api", "SLSA builder");
}

#[tokio::test]
async fn a_tag_repointed_to_an_unsigned_image_fails_only_that_image() {
    let Some(w) = world() else { return };
    w.publisher
        .push_image("acme/gateway", VERSION, "an unsigned gateway");
    let rows = w.verify().await;
    expect_only_failure(&rows, "gateway", "signature: no signatures found");
}

#[tokio::test]
async fn a_drifted_third_party_digest_fails_only_that_image() {
    let Some(w) = world() else { return };
    w.publisher
        .push_image("envoyproxy/gateway", "v1.3.0", "envoy, rebuilt");
    let rows = w.verify().await;
    expect_only_failure(&rows, "envoy", "digest drifted");
}

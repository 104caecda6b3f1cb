//! vouch's own registry client (vouch-oci) pulling and verifying through the
//! proxy: images signed by the virtual Sigstore in both cosign layouts are
//! found through the referrers 404 → tag-schema fallback and the legacy tags,
//! and verify; licences without entitlement get the proxy's messages.

use crate::common;

use common::setup::world;
use common::{APP, EMAIL, Options, UPSTREAM, VENDOR_PASS, VENDOR_USER};
use vouch_image::{ImageSignature, Lookup, verify_attached};
use vouch_oci::{
    AuthLocations, ClientOptions, Credential, CredentialStore, Reference, Registry, RegistryClient,
    oci,
};
use vouch_proxy::store::{LicenseStore as _, ReferrersMode};
use vouch_testkit::{Identity, Layout, Publisher, VirtualSigstore, standard_attestations};
use vouch_verify::{IdentityPolicy, SignerPolicy, TrustedMaterial, ValueMatcher};

/// The release policy the tests verify: the vendor's identity and builder,
/// the three attestations required, `names` under `registry`.
fn release_policy(registry: &str, names: &[&str]) -> String {
    let mut toml = format!(
        "registry = \"{registry}\"\n[identity]\nsubject_regexp = 'https://github\\.com/acme/platform/.*'\n\
         issuer = \"https://token.actions.githubusercontent.com\"\n[attestations]\nrequired = [\"spdxjson\", \"slsaprovenance1\", \"openvex\"]\n\
         slsa_builder_id_regexp = 'https://github\\.com/acme/platform/.*'\n"
    );
    for name in names {
        toml.push_str(&format!("[[image]]\nname = \"{name}\"\n"));
    }
    toml
}

/// A customer's whole-release verification through the proxy.
struct Release {
    customer: RegistryClient,
    material: std::sync::Arc<TrustedMaterial>,
    policy: vouch_release::ReleasePolicy,
    options: vouch_release::ReleaseOptions,
}

impl Release {
    fn new(proxy: &str, license: &str, sigstore: &VirtualSigstore, toml: &str) -> Self {
        Self {
            customer: client(proxy, license),
            material: std::sync::Arc::new(
                TrustedMaterial::from_json(sigstore.trusted_root_json().as_bytes()).unwrap(),
            ),
            policy: vouch_release::ReleasePolicy::from_toml(toml).unwrap(),
            options: vouch_release::ReleaseOptions {
                version: "1.0".into(),
                missing: vouch_release::MissingImages::Fail,
                concurrency: 4,
            },
        }
    }

    async fn verify(&self) -> vouch_release::ReleaseReport {
        vouch_release::verify_release(
            &self.customer,
            self.material.clone(),
            &self.policy,
            &self.options,
            |_| {},
        )
        .await
    }
}

fn client(proxy: &str, license: &str) -> RegistryClient {
    let credentials = CredentialStore::new(AuthLocations::default()).with_override(
        Registry::new(proxy).unwrap(),
        Credential::Basic {
            username: EMAIL.into(),
            password: license.into(),
        },
    );
    RegistryClient::new(ClientOptions {
        credentials,
        ..ClientOptions::default()
    })
    .unwrap()
}

fn vendor() -> Identity {
    Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v1.0",
    )
}

fn policy() -> SignerPolicy {
    SignerPolicy::keyless(IdentityPolicy::new(
        ValueMatcher::regex(r"https://github\.com/acme/platform/.*").unwrap(),
        ValueMatcher::Exact("https://token.actions.githubusercontent.com".into()),
    ))
}

/// A world (proxy config amended by `extra_toml`), a virtual Sigstore and a
/// publisher pushing to the world's upstream as the vendor; `None` (after a
/// SKIP line) without docker-registry outside CI.
async fn signing_world(
    extra_toml: &str,
) -> Option<(common::setup::World, VirtualSigstore, Publisher)> {
    let options = Options {
        extra_toml: extra_toml.into(),
        ..Options::default()
    };
    let w = world(ReferrersMode::NotFound, options).await?;
    let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
    let publisher = Publisher::new(&w.registry.host(), Some((VENDOR_USER, VENDOR_PASS)));
    Some((w, sigstore, publisher))
}

#[tokio::test]
async fn vouch_verifies_signed_images_through_the_proxy_in_both_layouts() {
    let Some((w, sigstore, mut publisher)) = signing_world("").await else {
        return;
    };
    let atts = standard_attestations("x", "1.0", "https://b", &vendor());
    publisher.push_signed_image(
        &sigstore,
        "acme/bundled",
        "1.0",
        Layout::Bundle,
        Some(&vendor()),
        &atts,
    );
    publisher.push_signed_image(
        &sigstore,
        "acme/legacy",
        "1.0",
        Layout::Legacy,
        Some(&vendor()),
        &atts,
    );
    let material = TrustedMaterial::from_json(sigstore.trusted_root_json().as_bytes()).unwrap();
    let proxy = w.proxy.addr.to_string();
    let client = client(&proxy, &w.licenses.stable);
    for name in ["bundled", "legacy"] {
        let reference: Reference = format!("{proxy}/proxy/{APP}/{UPSTREAM}/acme/{name}:1.0")
            .parse()
            .unwrap();
        let repo = reference.repository();
        let fetched = client
            .manifest(repo, "1.0", oci::MANIFEST_ACCEPT)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        let found = verify_attached(
            &client,
            &material,
            repo,
            fetched.digest,
            &policy(),
            Lookup::Everything,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.signatures.len(), 1, "{name}: {:?}", found.rejected);
        assert_eq!(found.attestations.len(), 3, "{name}: {:?}", found.rejected);
        let layout_ok = matches!(
            (&found.signatures[0], name),
            (ImageSignature::Bundle(_), "bundled") | (ImageSignature::Legacy(..), "legacy")
        );
        assert!(layout_ok, "{name} found in the wrong layout");
    }
}

#[tokio::test]
async fn licences_without_entitlement_get_the_proxys_reasons_in_vouchs_errors() {
    let Some(w) = world(ReferrersMode::NotFound, Options::default()).await else {
        return;
    };
    let proxy = w.proxy.addr.to_string();
    let reference: Reference = format!("{proxy}/proxy/{APP}/{UPSTREAM}/acme/api:1.0")
        .parse()
        .unwrap();
    let repo = reference.repository();
    // Entitled: resolves.
    assert!(
        client(&proxy, &w.licenses.stable)
            .manifest(repo, "1.0", oci::MANIFEST_ACCEPT)
            .await
            .unwrap()
            .is_some()
    );
    // Expired licence: 401 with the proxy's reason (vouch's CLI adds the
    // hint about the license ID).
    let err = client(&proxy, &w.licenses.expired)
        .manifest(repo, "1.0", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, vouch_oci::OciError::Unauthorized { .. }),
        "{text}"
    );
    assert!(text.contains("expired"), "{text}");
    // A beta licence asking for the stable tag: 403 naming the channel.
    let err = client(&proxy, &w.licenses.beta)
        .manifest(repo, "1.0", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, vouch_oci::OciError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("channel"), "{err}");
}

#[tokio::test]
async fn a_signed_release_verifies_in_one_pass_through_the_proxy_and_a_repointed_tag_fails_its_row()
{
    // Tag answers are not reused, so a repointed tag is seen at once.
    let Some((w, sigstore, mut publisher)) = signing_world("[cache]\ntag_ttl_secs = 0").await
    else {
        return;
    };
    let names = ["operator", "gateway", "ui", "api"];
    for (i, name) in names.iter().enumerate() {
        let atts = standard_attestations(
            name,
            "1.0",
            "https://github.com/acme/platform/.github/workflows/release.yml",
            &vendor(),
        );
        let layout = if i % 2 == 0 {
            Layout::Bundle
        } else {
            Layout::Legacy
        };
        publisher.push_signed_image(
            &sigstore,
            &format!("acme/{name}"),
            "1.0",
            layout,
            Some(&vendor()),
            &atts,
        );
    }
    let proxy = w.proxy.addr.to_string();
    let toml = release_policy(&format!("{proxy}/proxy/{APP}/{UPSTREAM}/acme"), &names);
    let release = Release::new(&proxy, &w.licenses.stable, &sigstore, &toml);
    let verify = || release.verify();
    let report = verify().await;
    assert!(report.passed(), "{}", vouch_release::to_table(&report));
    assert_eq!(report.rows.len(), 4);

    // The vendor's registry now serves an unsigned ui:1.0.
    publisher.push_image("acme/ui", "1.0", "an unsigned ui");
    let report = verify().await;
    let failed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.verdict == vouch_release::Verdict::Fail)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(failed, ["ui"], "{}", vouch_release::to_table(&report));
}

/// Issue 6's failure modes, all in one release verified through the proxy in
/// one pass: each bad image fails with its own reason, every other row stays
/// OK (the same modes one at a time, registry direct, are in
/// crates/vouch-release/tests/release.rs).
#[tokio::test]
async fn through_the_proxy_each_failure_mode_flips_only_its_own_row() {
    let Some((w, sigstore, mut publisher)) = signing_world("[cache]\ntag_ttl_secs = 0").await
    else {
        return;
    };
    let builder = "https://github.com/acme/platform/.github/workflows/release.yml";
    let good = standard_attestations("x", "1.0", builder, &vendor());
    let mut no_vex = good.clone();
    no_vex.retain(|a| !a.predicate_type.contains("openvex"));
    let evil = Identity::github_actions(
        "evil/fork",
        ".github/workflows/release.yml",
        "refs/tags/v1.0",
    );
    let mut evil_vex = good.clone();
    for a in &mut evil_vex {
        if a.predicate_type.contains("openvex") {
            a.identity = evil.clone();
        }
    }
    let untrusted_builder = standard_attestations(
        "x",
        "1.0",
        "https://github.com/evil/builder/.github/workflows/b.yml@refs/heads/main",
        &vendor(),
    );
    let images = [
        ("good-bundle", Layout::Bundle, &good),
        ("good-legacy", Layout::Legacy, &good),
        ("no-vex", Layout::Bundle, &no_vex),
        ("evil-vex", Layout::Bundle, &evil_vex),
        ("bad-builder", Layout::Legacy, &untrusted_builder),
        ("repointed", Layout::Legacy, &good),
    ];
    for (name, layout, atts) in &images {
        publisher.push_signed_image(
            &sigstore,
            &format!("acme/{name}"),
            "1.0",
            *layout,
            Some(&vendor()),
            atts,
        );
    }
    let pinned = publisher.push_image("acme/envoy", "1.0", "envoy upstream build");

    let proxy = w.proxy.addr.to_string();
    let base = format!("{proxy}/proxy/{APP}/{UPSTREAM}/acme");
    let names: Vec<&str> = images.iter().map(|(name, _, _)| *name).collect();
    let mut toml = release_policy(&base, &names);
    toml.push_str(&format!(
        "[[third_party]]\nname = \"envoy\"\nreference = \"{base}/envoy:1.0@{}\"\n",
        pinned.digest
    ));
    let release = Release::new(&proxy, &w.licenses.stable, &sigstore, &toml);
    let verify = || release.verify();
    let attestation_failures = [
        ("no-vex", Some("attestation openvex: none verified")),
        ("evil-vex", Some("evil/fork")),
        ("bad-builder", Some("SLSA builder")),
    ];
    let mut expected = vec![
        ("good-bundle", None),
        ("good-legacy", None),
        ("repointed", None),
        ("envoy", None),
    ];
    expected.extend(attestation_failures);
    expect_rows(&verify().await, &expected);

    // Then upstream the tag is repointed to an unsigned build and the
    // third-party image is rebuilt under its tag: two more rows fail, each
    // with its own reason (the pinned envoy digest stays pullable: the proxy
    // saw the tag point at it).
    publisher.push_image("acme/repointed", "1.0", "an unsigned build");
    publisher.push_image("acme/envoy", "1.0", "envoy, rebuilt");
    let mut expected = vec![
        ("good-bundle", None),
        ("good-legacy", None),
        ("repointed", Some("signature: no signatures found")),
        ("envoy", Some("digest drifted")),
    ];
    expected.extend(attestation_failures);
    let report = verify().await;
    expect_rows(&report, &expected);
    assert!(!report.passed());
}

/// Every row as expected: OK, or FAIL with the fragment among its problems.
fn expect_rows(report: &vouch_release::ReleaseReport, expected: &[(&str, Option<&str>)]) {
    let (table, rows) = (vouch_release::to_table(report), &report.rows);
    assert_eq!(rows.len(), expected.len(), "{table}");
    for (name, failure) in expected {
        let row = rows.iter().find(|r| r.name == *name).unwrap();
        match failure {
            None => assert_eq!(
                row.verdict,
                vouch_release::Verdict::Ok,
                "{name}: {:?}",
                row.problems
            ),
            Some(fragment) => {
                assert_eq!(row.verdict, vouch_release::Verdict::Fail, "{name}\n{table}");
                let problems = row.problems.join("\n");
                assert!(
                    problems.contains(fragment),
                    "{name}: `{fragment}` not in {problems}"
                );
            }
        }
    }
}

/// A license revoked while its release is being verified: the images checked
/// before still verified, the proxy's 401 stops the run, and the outcome is an
/// access failure (the CLI's exit 4) that names the revocation once — never a
/// failed verification, never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_license_revoked_mid_release_stops_the_run_as_an_access_failure() {
    let Some((w, sigstore, mut publisher)) = signing_world("").await else {
        return;
    };
    let names = ["operator", "gateway", "ui", "api"];
    for name in names {
        let atts = standard_attestations(
            name,
            "1.0",
            "https://github.com/acme/platform/.github/workflows/release.yml",
            &vendor(),
        );
        publisher.push_signed_image(
            &sigstore,
            &format!("acme/{name}"),
            "1.0",
            Layout::Bundle,
            Some(&vendor()),
            &atts,
        );
    }
    let proxy = w.proxy.addr.to_string();
    let toml = release_policy(&format!("{proxy}/proxy/{APP}/{UPSTREAM}/acme"), &names);
    let mut release = Release::new(&proxy, &w.licenses.stable, &sigstore, &toml);
    release.options.concurrency = 1;
    let stable = w
        .proxy
        .store
        .licenses(None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| {
            l.app.as_str() == APP
                && l.channels.iter().any(|c| c.as_str() == "stable")
                && l.revoked_at.is_none()
                && l.expires_at.is_some_and(|t| t > jiff::Timestamp::now())
        })
        .expect("the stable license of setup_licenses");
    let store = w.proxy.store.clone();
    let report = vouch_release::verify_release(
        &release.customer,
        release.material.clone(),
        &release.policy,
        &release.options,
        |p| {
            if matches!(p, vouch_release::Progress::Finished { done: 1, .. }) {
                // One image verified: the vendor revokes the license before
                // the next image is started (one at a time).
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current()
                        .block_on(store.revoke_license(stable.number, jiff::Timestamp::now()))
                        .unwrap()
                });
            }
        },
    )
    .await;
    let table = vouch_release::to_table(&report);
    let verdicts: Vec<vouch_release::Verdict> = report.rows.iter().map(|r| r.verdict).collect();
    use vouch_release::Verdict::{Error, Ok};
    assert_eq!(verdicts, [Ok, Error, Error, Error], "{table}");
    let vouch_release::Outcome::AccessFailed(access) = report.outcome() else {
        panic!(
            "expected an access failure: {:?}\n{table}",
            report.outcome()
        );
    };
    assert_eq!(access.image, "gateway", "{table}");
    assert!(access.message.contains("401"), "{}", access.message);
    assert!(
        access.message.contains("was revoked at"),
        "{}",
        access.message
    );
    assert!(!report.passed());
    // The table says once which images went unchecked; the cause is the
    // caller's to print, once.
    assert_eq!(table.matches("ERROR ").count(), 1, "{table}");
    assert!(
        table.contains("3 of 4 images not checked (gateway, ui, api)"),
        "{table}"
    );
}

//! Pushes an image signed by a fresh virtual Sigstore to a registry on
//! 127.0.0.1, for benchmarks and demos: a signature and SPDX, SLSA v1 and
//! OpenVEX attestations, as bundle referrers (cosign v3), legacy tags
//! (cosign v2), or both. Writes the matching trusted_root.json and prints the
//! image digest.
//!
//! Usage: publish_signed_image HOST REPO TAG OUT_DIR [bundle|legacy|both] [USER PASSWORD]

use serde_json::json;
use vouch_testkit::{Identity, Publisher, VirtualSigstore};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: publish_signed_image HOST REPO TAG OUT_DIR [bundle|legacy|both] [USER PASSWORD]"
        );
        std::process::exit(2);
    }
    let (host, repo, tag, out) = (&args[0], &args[1], &args[2], &args[3]);
    let layout = args.get(4).map_or("bundle", String::as_str);
    let auth = match (args.get(5), args.get(6)) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        _ => None,
    };
    let now = 1_750_000_000;
    let sigstore = VirtualSigstore::new("demo", now);
    let identity = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        &format!("refs/tags/{tag}"),
    );
    let mut publisher = Publisher::new(host, auth);
    let image = publisher.push_image(repo, tag, &format!("{repo}:{tag}"));
    let statement = |predicate_type: &str, predicate: serde_json::Value| {
        vouch_testkit::in_toto_statement(repo, image.hex(), predicate_type, &predicate)
    };
    let attestations = [
        (
            "https://spdx.dev/Document",
            json!({"spdxVersion": "SPDX-2.3", "name": repo, "packages": [{"name": "libc"}, {"name": "openssl"}]}),
        ),
        (
            "https://slsa.dev/provenance/v1",
            json!({
                "buildDefinition": {"buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1", "externalParameters": {}},
                "runDetails": {"builder": {"id": "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main"}},
            }),
        ),
        (
            "https://openvex.dev/ns/v0.2.0",
            json!({
                "@context": "https://openvex.dev/ns/v0.2.0", "@id": format!("https://acme.example/vex/{tag}"), "author": "acme",
                "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                "statements": [{"vulnerability": {"name": "CVE-2026-0001"}, "products": [{"@id": format!("pkg:oci/{repo}")}], "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}],
            }),
        ),
    ];
    if layout == "bundle" || layout == "both" {
        let sign = statement("https://sigstore.dev/cosign/sign/v1", json!({}));
        publisher.push_bundle_referrer(
            repo,
            &image,
            &sigstore.sign_statement(&sign, &identity).json,
            "https://sigstore.dev/cosign/sign/v1",
        );
        for (predicate_type, predicate) in &attestations {
            let bundle =
                sigstore.sign_statement(&statement(predicate_type, predicate.clone()), &identity);
            publisher.push_bundle_referrer(repo, &image, &bundle.json, predicate_type);
        }
    }
    if layout == "legacy" || layout == "both" {
        let sig = sigstore.sign_image_legacy(&format!("{host}/{repo}"), &image.digest, &identity);
        publisher.push_legacy_signatures(repo, &image, &[sig]);
        let atts: Vec<_> = attestations
            .iter()
            .map(|(t, p)| sigstore.attest_image_legacy(&statement(t, p.clone()), &identity))
            .collect();
        publisher.push_legacy_attestations(repo, &image, &atts);
    }
    std::fs::create_dir_all(out).expect("create OUT_DIR");
    std::fs::write(
        format!("{out}/trusted_root.json"),
        sigstore.trusted_root_json(),
    )
    .expect("write trusted root");
    println!("{}", image.digest);
}

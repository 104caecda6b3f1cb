//! Publishes a demo release to a registry on 127.0.0.1: signed images (a
//! signature plus SPDX, SLSA v1 and OpenVEX attestations, alternating between
//! bundle referrers and legacy tags) and third-party images pinned by digest.
//! Writes OUT_DIR/trusted_root.json and OUT_DIR/release.toml (a release
//! policy for `vouch verify-release`).
//!
//! Usage: publish_demo_release HOST PATH_PREFIX VERSION OUT_DIR [--images N] [--auth USER PASSWORD] [--serve-as BASE]
//!        publish_demo_release HOST PATH_PREFIX VERSION OUT_DIR --tamper NAME [--auth USER PASSWORD]
//!
//! `--tamper NAME` repoints NAME:VERSION to an unsigned image (run after publishing).
//! `--serve-as BASE` writes the policy for customers who reach HOST through
//! BASE (e.g. a proxy path `proxy-host/proxy/app/upstream-name`).
//! `--serve-as BASE` writes the policy for customers who reach HOST through
//! BASE (e.g. a proxy path `proxy-host/proxy/app/upstream-name`).

use vouch_testkit::{Identity, Layout, Publisher, VirtualSigstore, standard_attestations};

/// The 11 signed images of the seed vendor's platform.
const NAMES: [&str; 11] = [
    "operator",
    "proxyrunner",
    "vmcp",
    "registry-api",
    "toolhive-enterprise",
    "cloud-ui",
    "ai-gateway-operator",
    "ai-gateway-main-processor",
    "ai-gateway-api-key-service",
    "ai-gateway-controller",
    "ai-gateway-extproc",
];
/// Third-party images served through the same registry, not re-signed.
const THIRD_PARTY: [(&str, &str); 4] = [
    ("envoy-gateway", "docker.io/envoyproxy/gateway"),
    ("envoy-ratelimit", "docker.io/envoyproxy/ratelimit"),
    ("presidio", "mcr.microsoft.com/presidio-analyzer"),
    (
        "replicated-sdk",
        "proxy.replicated.com/library/replicated-sdk-image",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: publish_demo_release HOST PATH_PREFIX VERSION OUT_DIR [--images N] [--tamper NAME] [--auth USER PASSWORD]"
        );
        std::process::exit(2);
    }
    let (host, prefix, version, out) = (&args[0], &args[1], &args[2], &args[3]);
    let flag = |name: &str| args.iter().position(|a| a == name).map(|i| i + 1);
    let auth = flag("--auth").map(|i| (args[i].as_str(), args[i + 1].as_str()));
    let mut publisher = Publisher::new(host, auth);
    if let Some(i) = flag("--tamper") {
        let name = &args[i];
        let pushed = publisher.push_image(
            &format!("{prefix}/{name}"),
            version,
            &format!("tampered {name}"),
        );
        println!(
            "{name}:{version} now points to the unsigned {}",
            pushed.digest
        );
        return;
    }
    let count: usize =
        flag("--images").map_or(NAMES.len(), |i| args[i].parse().expect("--images N"));
    let served = flag("--serve-as").map_or(host.clone(), |i| args[i].clone());
    let sigstore = VirtualSigstore::new("demo", 1_750_000_000);
    let vendor = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        &format!("refs/tags/{version}"),
    );
    let builder = "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";
    let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    names.extend((NAMES.len()..count).map(|i| format!("synthetic-{i:04}")));
    names.truncate(count);
    for (i, name) in names.iter().enumerate() {
        let repo = format!("{prefix}/{name}");
        let atts = standard_attestations(&repo, version, builder, &vendor);
        let layout = if i % 2 == 0 {
            Layout::Bundle
        } else {
            Layout::Legacy
        };
        publisher.push_signed_image(&sigstore, &repo, version, layout, Some(&vendor), &atts);
    }
    let mut policy = format!(
        "# Demo release policy written by publish_demo_release.\nregistry = \"{served}/{prefix}\"\n\n[identity]\n\
         subject_regexp = 'https://github\\.com/acme/platform/\\.github/workflows/release\\.yml@refs/tags/v.*'\n\
         issuer = \"https://token.actions.githubusercontent.com\"\n\n[attestations]\n\
         required = [\"spdxjson\", \"slsaprovenance1\", \"openvex\"]\n\
         slsa_builder_id_regexp = 'https://github\\.com/acme/platform/\\.github/workflows/.*'\n"
    );
    for name in &names {
        policy.push_str(&format!("\n[[image]]\nname = \"{name}\"\n"));
    }
    for (name, upstream) in THIRD_PARTY {
        let repo = format!("{prefix}/{upstream}").to_lowercase();
        let pushed = publisher.push_image(&repo, "stable", &format!("{name} upstream build"));
        policy.push_str(&format!(
            "\n[[third_party]]\nname = \"{name}\"\ncategory = \"upstream, not re-signed\"\nreference = \"{served}/{repo}:stable@{}\"\n",
            pushed.digest
        ));
    }
    std::fs::create_dir_all(out).expect("create OUT_DIR");
    std::fs::write(
        format!("{out}/trusted_root.json"),
        sigstore.trusted_root_json(),
    )
    .expect("write trusted root");
    std::fs::write(format!("{out}/release.toml"), policy).expect("write policy");
    println!(
        "published {} signed and {} third-party images",
        names.len(),
        THIRD_PARTY.len()
    );
}

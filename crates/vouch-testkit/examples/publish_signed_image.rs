//! Pushes an image signed by a fresh virtual Sigstore to a registry on
//! 127.0.0.1, for benchmarks and demos: a signature and SPDX, SLSA v1 and
//! OpenVEX attestations, as bundle referrers (cosign v3), legacy tags
//! (cosign v2), or both. Writes the matching trusted_root.json and prints the
//! image digest.
//!
//! Usage: publish_signed_image HOST REPO TAG OUT_DIR [bundle|legacy|both] [USER PASSWORD]

use vouch_testkit::{Identity, Layout, Publisher, VirtualSigstore, standard_attestations};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: publish_signed_image HOST REPO TAG OUT_DIR [bundle|legacy|both] [USER PASSWORD]"
        );
        std::process::exit(2);
    }
    let (host, repo, tag, out) = (&args[0], &args[1], &args[2], &args[3]);
    let layouts: &[Layout] = match args.get(4).map_or("bundle", String::as_str) {
        "legacy" => &[Layout::Legacy],
        "both" => &[Layout::Bundle, Layout::Legacy],
        _ => &[Layout::Bundle],
    };
    let auth = match (args.get(5), args.get(6)) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        _ => None,
    };
    let sigstore = VirtualSigstore::new("demo", 1_750_000_000);
    let identity = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        &format!("refs/tags/{tag}"),
    );
    let builder = "https://github.com/acme/platform/.github/workflows/release.yml@refs/heads/main";
    let attestations = standard_attestations(repo, tag, builder, &identity);
    let mut publisher = Publisher::new(host, auth);
    let mut digest = String::new();
    for layout in layouts {
        // Same content and tag: the second push adds the other layout to the same digest.
        digest = publisher
            .push_signed_image(
                &sigstore,
                repo,
                tag,
                *layout,
                Some(&identity),
                &attestations,
            )
            .digest;
    }
    std::fs::create_dir_all(out).expect("create OUT_DIR");
    std::fs::write(
        format!("{out}/trusted_root.json"),
        sigstore.trusted_root_json(),
    )
    .expect("write trusted root");
    println!("{digest}");
}

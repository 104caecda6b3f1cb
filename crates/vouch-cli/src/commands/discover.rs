//! `vouch discover`: what is attached to an image (like `oras discover` or
//! `cosign tree`): referrers, and cosign's legacy tags.

use serde_json::{Value, json};

use crate::args::{DiscoverArgs, OutputFormat};
use crate::commands::image;
use crate::failure::Failure;

/// cosign's legacy tag suffixes and what they hold.
const LEGACY_SUFFIXES: [(&str, &str); 3] = [
    ("sig", "signatures"),
    ("att", "attestations"),
    ("sbom", "SBOMs"),
];

/// Runs the command.
pub fn run(args: &DiscoverArgs) -> Result<(), Failure> {
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    image::runtime()?.block_on(async {
        let image = image::resolve(&client, &args.registry, &args.image).await?;
        let referrers = client
            .referrers(&image.signatures, &image.digest, None)
            .await?;
        let mut legacy = Vec::new();
        for (suffix, what) in LEGACY_SUFFIXES {
            let layers = client
                .legacy_layers(&image.signatures, &image.digest, suffix)
                .await?;
            if !layers.is_empty() {
                legacy.push((suffix, what, layers));
            }
        }
        let source = match &referrers.source {
            vouch_oci::ReferrersSource::Api => "referrers API".to_string(),
            vouch_oci::ReferrersSource::Layout => "OCI image layout".to_string(),
            vouch_oci::ReferrersSource::TagSchema { because } => {
                format!("referrers tag schema, because {because}")
            }
            vouch_oci::ReferrersSource::TagSchemaAfterError { error } => {
                eprintln!(
                    "WARNING: the referrers API failed ({error}); as \
                     --referrers-fallback-on-error allows, the referrers listed are the tag \
                     schema's, which may miss referrers only the API has"
                );
                "referrers tag schema, after the referrers API failed \
                 (--referrers-fallback-on-error)"
                    .to_string()
            }
        };
        let tree = json!({
            "image": format!("{}@{}", image.reference.repository(), image.digest),
            "referrers": {
                "source": source,
                "manifests": referrers.manifests.iter().map(|d| json!({
                    "digest": d.digest,
                    "artifactType": d.artifact_type,
                    "predicateType": d.annotations.get(vouch_oci::BUNDLE_PREDICATE_TYPE_ANNOTATION),
                })).collect::<Vec<_>>(),
            },
            "legacy": legacy.iter().map(|(suffix, _, layers)| json!({
                "tag": format!("sha256-{}.{suffix}", image.digest.hex()),
                "layers": layers.iter().map(|l| json!({
                    "digest": l.descriptor.digest,
                    "mediaType": l.descriptor.media_type,
                    "predicateType": l.descriptor.annotations.get("predicateType"),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        match args.output {
            OutputFormat::Json => outln!("{tree}"),
            OutputFormat::Text => print_tree(
                &tree,
                &legacy.iter().map(|(_, what, _)| *what).collect::<Vec<_>>(),
            ),
        }
        Ok(())
    })
}

fn print_tree(tree: &Value, legacy_kinds: &[&str]) {
    outln!("{}", tree["image"].as_str().unwrap_or_default());
    let referrers = tree["referrers"]["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    outln!(
        "├── referrers ({}; {} found)",
        tree["referrers"]["source"].as_str().unwrap_or_default(),
        referrers.len()
    );
    for (i, r) in referrers.iter().enumerate() {
        let branch = if i + 1 == referrers.len() {
            "└──"
        } else {
            "├──"
        };
        let kind = r["artifactType"].as_str().unwrap_or("(no artifact type)");
        let predicate = r["predicateType"]
            .as_str()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        outln!(
            "│   {branch} {} {kind}{predicate}",
            r["digest"].as_str().unwrap_or_default()
        );
    }
    let legacy = tree["legacy"].as_array().cloned().unwrap_or_default();
    if legacy.is_empty() {
        outln!("└── no legacy cosign tags (.sig, .att, .sbom)");
    }
    for (i, entry) in legacy.iter().enumerate() {
        let last = i + 1 == legacy.len();
        let layers = entry["layers"].as_array().cloned().unwrap_or_default();
        outln!(
            "{} {} ({} {})",
            if last { "└──" } else { "├──" },
            entry["tag"].as_str().unwrap_or_default(),
            layers.len(),
            legacy_kinds.get(i).unwrap_or(&"layers")
        );
        for (j, layer) in layers.iter().enumerate() {
            let prefix = if last { "    " } else { "│   " };
            let branch = if j + 1 == layers.len() {
                "└──"
            } else {
                "├──"
            };
            let predicate = layer["predicateType"]
                .as_str()
                .map(|p| format!(" {p}"))
                .unwrap_or_default();
            outln!(
                "{prefix}{branch} {} {}{predicate}",
                layer["digest"].as_str().unwrap_or_default(),
                layer["mediaType"].as_str().unwrap_or_default()
            );
        }
    }
}

//! `--local-image` through the binary: an image signed in both cosign
//! layouts, copied into an OCI image layout by `skopeo copy … oci:DIR`,
//! then verified from the layout with the registry gone (no network), as
//! skopeo left it and rearranged into `cosign save`'s shape.

use crate::common;

use serde_json::{Value, json};
use vouch_testkit::{Identity, LocalRegistry, Publisher, VirtualSigstore};

const NOW: u64 = 1_750_000_000;

struct Saved {
    dir: std::path::PathBuf,
    digest: String,
}

impl Drop for Saved {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `acme/app:v1` with a legacy signature and a signature bundle referrer,
/// copied into `<dir>/layout` by skopeo (the referrer untagged); the
/// registry is stopped before this returns.
fn saved(name: &str) -> Option<Saved> {
    if !vouch_testkit::tool_available("skopeo") {
        return None;
    }
    let registry = LocalRegistry::start(None)?;
    let sigstore = VirtualSigstore::new("prod", NOW);
    let identity = Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    );
    let mut p = Publisher::new(&registry.host(), None);
    let image = p.push_image("acme/app", "v1", "app v1");
    let repo = format!("{}/acme/app", registry.host());
    let sig = sigstore.sign_image_legacy(&repo, &image.digest, identity.clone());
    p.push_legacy_signatures("acme/app", &image, &[sig]);
    let statement = vouch_testkit::in_toto_statement(
        "app",
        image.hex(),
        vouch_image::COSIGN_SIGN_PREDICATE,
        &json!({}),
    );
    let bundle = sigstore.sign_statement(&statement, identity);
    let referrer = p.push_bundle_referrer(
        "acme/app",
        &image,
        &bundle.json,
        vouch_image::COSIGN_SIGN_PREDICATE,
    );
    let dir = std::env::temp_dir().join(format!("vouch-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    let layout = dir.join("layout");
    let sig_tag = format!("sha256-{}.sig", image.hex());
    for tag in ["v1", sig_tag.as_str()] {
        vouch_testkit::skopeo_copy(
            &format!("docker://{repo}:{tag}"),
            &format!("oci:{}:{tag}", layout.display()),
        );
    }
    vouch_testkit::skopeo_copy(
        &format!("docker://{repo}@{}", referrer.digest),
        &format!("oci:{}", layout.display()),
    );
    drop(registry);
    Some(Saved {
        dir,
        digest: image.digest,
    })
}

fn verify(saved: &Saved, command: &str, extra: &[&str]) -> std::process::Output {
    let root = saved.dir.join("trusted_root.json");
    let layout = saved.dir.join("layout");
    let mut args = vec![command.to_string(), "--local-image".to_string()];
    args.extend(common::identity_args(&root));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(layout.display().to_string());
    common::vouch(&args)
}

fn digests(out: &std::process::Output) -> Vec<String> {
    let payloads: Value = serde_json::from_slice(&out.stdout).unwrap();
    payloads
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["critical"]["image"]["docker-manifest-digest"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn verifies_a_skopeo_layout_with_no_registry() {
    let Some(s) = saved("skopeo") else { return };
    let out = verify(&s, "verify", &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        digests(&out),
        [s.digest.clone(), s.digest.clone()],
        "bundle and .sig"
    );
    assert!(common::stderr(&out).contains("Verification for"));
}

#[test]
fn verifies_a_layout_in_cosign_save_shape_and_refuses_it_changed() {
    let Some(s) = saved("cosign") else { return };
    // cosign save: entries marked by `kind`, referrers only under blobs/.
    let index_path = s.dir.join("layout/index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap().clone();
    let kind = |name: &str| {
        if name == "v1" {
            "dev.cosignproject.cosign/image"
        } else {
            "dev.cosignproject.cosign/sigs"
        }
    };
    index["manifests"] = entries
        .into_iter()
        .filter_map(|mut e| {
            let name = e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()?
                .to_string();
            e["annotations"] = json!({"kind": kind(&name)});
            Some(e)
        })
        .collect();
    std::fs::write(&index_path, index.to_string()).unwrap();
    let out = verify(&s, "verify", &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(digests(&out).len(), 2);

    // The signature layer changed: refused, naming the blob (exit 1).
    let manifest_hex = index["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(s.dir.join("layout/blobs/sha256").join(&manifest_hex)).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let path = s.dir.join("layout/blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = verify(&s, "verify", &[]);
    common::assert_fails(&out, 1, &format!("blob sha256:{layer} was changed"));
}

#[test]
fn a_directory_that_is_no_layout_is_unreadable_input() {
    let Some(s) = saved("nolayout") else { return };
    std::fs::remove_file(s.dir.join("layout/oci-layout")).unwrap();
    let out = verify(&s, "verify", &[]);
    common::assert_fails(&out, 3, "not an OCI image layout");
}

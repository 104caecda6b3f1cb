//! OCI image layouts on disk: the reader's refusals (each on a layout
//! changed in one way), a layout in `cosign save`'s shape written by
//! [`LayoutWriter`], and one written by `skopeo copy … oci:DIR`.

use serde_json::{Value, json};
use vouch_oci::oci::{OCI_MANIFEST, SIGSTORE_BUNDLE_V03, SIMPLE_SIGNING};
use vouch_oci::*;
use vouch_oci_types::{
    COSIGN_KIND_ANNOTATION, COSIGN_KIND_IMAGE, COSIGN_KIND_SIGNATURES, LayoutEntry, LayoutIndex,
    LayoutProblem, REF_NAME_ANNOTATION, blob_path,
};

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let path = std::env::temp_dir().join(format!("vouch-layout-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    Dir(path)
}

fn repo() -> Repository {
    "registry.example/acme/app:v1"
        .parse::<Reference>()
        .unwrap()
        .repository()
        .clone()
}

fn entry(digest: Sha256Digest, size: usize, annotations: &[(&str, &str)]) -> LayoutEntry {
    let descriptor: vouch_oci::oci::Descriptor = serde_json::from_value(json!({
        "mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": size,
        "annotations": annotations.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
    }))
    .unwrap();
    LayoutEntry {
        digest: digest.into(),
        descriptor,
    }
}

fn manifest(
    w: &LayoutWriter,
    layers: &[(&str, &[u8], Value)],
    extra: Value,
) -> (Sha256Digest, usize) {
    let config = w.put_blob(b"{}").unwrap();
    let layers: Vec<Value> = layers
        .iter()
        .map(|(media_type, content, annotations)| {
            let digest = w.put_blob(content).unwrap();
            json!({"mediaType": media_type, "digest": digest.to_string(), "size": content.len(), "annotations": annotations})
        })
        .collect();
    let mut m = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": layers,
    });
    if let (Value::Object(m), Value::Object(extra)) = (&mut m, extra) {
        m.extend(extra);
    }
    let bytes = serde_json::to_vec(&m).unwrap();
    (w.put_blob(&bytes).unwrap(), bytes.len())
}

/// An image, its `.sig` manifest (cosign kind `sigs`) and a bundle referrer
/// stored only under `blobs/`, as `cosign save` leaves it.
struct CosignShape {
    dir: Dir,
    image: Sha256Digest,
    bundle_referrer: Sha256Digest,
    layer: Sha256Digest,
}

fn cosign_shape(name: &str) -> CosignShape {
    let dir = dir(name);
    let w = LayoutWriter::create(&dir.0).unwrap();
    let (image, image_size) = manifest(
        &w,
        &[(
            "application/vnd.oci.image.layer.v1.tar",
            b"layer bytes",
            json!({}),
        )],
        json!({}),
    );
    let payload = format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{image}"}}}}}}"#);
    let (sigs, sigs_size) = manifest(
        &w,
        &[(
            SIMPLE_SIGNING,
            payload.as_bytes(),
            json!({SIGNATURE_ANNOTATION: "c2ln"}),
        )],
        json!({}),
    );
    let (bundle_referrer, _) = manifest(
        &w,
        &[(SIGSTORE_BUNDLE_V03, br#"{"mediaType":"bundle"}"#, json!({}))],
        json!({"artifactType": SIGSTORE_BUNDLE_V03, "subject": {"mediaType": OCI_MANIFEST, "digest": image.to_string(), "size": image_size}}),
    );
    let index = LayoutIndex {
        entries: vec![
            entry(
                image,
                image_size,
                &[(COSIGN_KIND_ANNOTATION, COSIGN_KIND_IMAGE)],
            ),
            entry(
                sigs,
                sigs_size,
                &[(COSIGN_KIND_ANNOTATION, COSIGN_KIND_SIGNATURES)],
            ),
        ],
        ..LayoutIndex::default()
    };
    w.write_index(&index).unwrap();
    w.finish().unwrap();
    CosignShape {
        dir,
        image,
        bundle_referrer,
        layer: Sha256Digest::of(b"layer bytes"),
    }
}

#[test]
fn a_layout_in_cosign_shape_yields_its_image_signatures_and_referrers() {
    let s = cosign_shape("cosign");
    let layout = OciLayout::open(&s.dir.0).unwrap();
    assert_eq!(layout.subject_image().unwrap(), s.image);
    let sigs = layout.legacy_layers(&repo(), &s.image, "sig").unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(String::from_utf8_lossy(&sigs[0].content).contains(&s.image.to_string()));
    assert!(
        layout
            .legacy_layers(&repo(), &s.image, "att")
            .unwrap()
            .is_empty()
    );
    let bundles = layout.sigstore_bundles(&s.image).unwrap();
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0].manifest_digest, s.bundle_referrer);
    let fetched = layout
        .manifest(&repo(), &s.image.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(fetched.digest, s.image);
    assert_eq!(fetched.media_type, OCI_MANIFEST);
    assert!(!s.dir.0.join(PARTIAL_DIR).exists());
}

#[test]
fn refuses_a_directory_without_oci_layout() {
    let s = cosign_shape("nomarker");
    std::fs::remove_file(s.dir.0.join("oci-layout")).unwrap();
    assert!(matches!(
        OciLayout::open(&s.dir.0),
        Err(LayoutError::NotALayout { .. })
    ));
}

#[test]
fn refuses_another_layout_version() {
    let s = cosign_shape("version");
    std::fs::write(
        s.dir.0.join("oci-layout"),
        r#"{"imageLayoutVersion":"9.9.9"}"#,
    )
    .unwrap();
    assert!(matches!(
        OciLayout::open(&s.dir.0),
        Err(LayoutError::Refused {
            problem: LayoutProblem::Version { .. },
            ..
        })
    ));
}

#[test]
fn refuses_a_changed_blob_naming_it() {
    let s = cosign_shape("changed");
    let path = s.dir.0.join(blob_path(&s.layer.into()));
    std::fs::write(&path, b"layer bytez").unwrap();
    let layout = OciLayout::open(&s.dir.0).unwrap();
    let err = layout.check_blob(&s.layer.into(), 11).unwrap_err();
    assert!(
        matches!(&err, LayoutError::BlobDigestMismatch { expected, .. } if *expected == s.layer.into()),
        "{err}"
    );
    // A changed manifest is refused when read as one.
    let image_path = s.dir.0.join(blob_path(&s.image.into()));
    let mut bytes = std::fs::read(&image_path).unwrap();
    bytes.push(b' ');
    std::fs::write(&image_path, bytes).unwrap();
    assert!(matches!(
        layout.manifest(&repo(), &s.image.to_string()),
        Err(LayoutError::BlobDigestMismatch { .. })
    ));
}

#[test]
fn refuses_path_traversal_in_names_and_digests() {
    let s = cosign_shape("traversal");
    let index_path = s.dir.0.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]["annotations"] = json!({REF_NAME_ANNOTATION: "../../etc/passwd"});
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert!(matches!(
        OciLayout::open(&s.dir.0),
        Err(LayoutError::Refused {
            problem: LayoutProblem::RefName { .. },
            ..
        })
    ));
    index["manifests"][0]["annotations"] = json!({});
    index["manifests"][0]["digest"] = json!("sha256:../../../etc/passwd");
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert!(matches!(
        OciLayout::open(&s.dir.0),
        Err(LayoutError::Refused {
            problem: LayoutProblem::EntryDigest { .. },
            ..
        })
    ));
}

#[test]
fn refuses_an_oversized_blob_and_a_symlinked_one() {
    let s = cosign_shape("oversized");
    let layout = OciLayout::open(&s.dir.0).unwrap();
    assert!(matches!(
        layout.blob(&s.layer.into(), 4, "a test blob"),
        Err(LayoutError::BlobTooLarge {
            size: 11,
            limit: 4,
            ..
        })
    ));
    let path = s.dir.0.join(blob_path(&s.layer.into()));
    let outside = s.dir.0.join("outside");
    std::fs::rename(&path, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &path).unwrap();
    assert!(matches!(
        layout.blob(&s.layer.into(), 1024, "a test blob"),
        Err(LayoutError::NotARegularFile { .. })
    ));
}

#[test]
fn refuses_an_oversized_index_and_reports_missing_blobs() {
    let s = cosign_shape("bigindex");
    std::fs::remove_file(s.dir.0.join(blob_path(&s.layer.into()))).unwrap();
    let layout = OciLayout::open(&s.dir.0).unwrap();
    assert!(matches!(
        layout.check_blob(&s.layer.into(), 11),
        Err(LayoutError::MissingBlob { .. })
    ));
    let huge = vec![b' '; (vouch_oci_types::MAX_INDEX_SIZE + 1) as usize];
    std::fs::write(s.dir.0.join("index.json"), huge).unwrap();
    assert!(matches!(
        OciLayout::open(&s.dir.0),
        Err(LayoutError::Refused {
            problem: LayoutProblem::Index { .. },
            ..
        })
    ));
}

#[test]
fn an_interrupted_blob_is_never_stored_under_its_name_and_a_rerun_skips_stored_ones() {
    let d = dir("resume");
    let w = LayoutWriter::create(&d.0).unwrap();
    let digest = Sha256Digest::of(b"whole blob");
    let mut sink = w.blob_sink(&digest).unwrap();
    sink.write(b"whole").unwrap();
    drop(sink); // killed here
    assert!(!d.0.join(blob_path(&digest.into())).exists());
    assert!(!w.has_blob(&digest, 10).unwrap());
    let mut wrong = w.blob_sink(&digest).unwrap();
    wrong.write(b"other blob").unwrap();
    assert!(matches!(
        wrong.finish(),
        Err(LayoutError::BlobDigestMismatch { .. })
    ));
    assert!(!d.0.join(blob_path(&digest.into())).exists());
    assert_eq!(w.put_blob(b"whole blob").unwrap(), digest);
    assert!(w.has_blob(&digest, 10).unwrap());
    w.finish().unwrap();
    assert!(!d.0.join(PARTIAL_DIR).exists());
}

/// `skopeo copy docker://… oci:DIR:TAG` of an image and its `.sig` tag.
#[test]
fn reads_a_layout_written_by_skopeo() {
    if !vouch_testkit::tool_available("skopeo") {
        eprintln!("skipped: no skopeo");
        return;
    }
    let Some(registry) = vouch_testkit::LocalRegistry::start(None) else {
        return;
    };
    let publisher = vouch_testkit::Publisher::new(&registry.host(), None);
    let image = publisher.push_image("acme/app", "v1", "app v1");
    let sigstore = vouch_testkit::VirtualSigstore::new("prod", 1_750_000_000);
    let sig = sigstore.sign_image_legacy(
        &format!("{}/acme/app", registry.host()),
        &image.digest,
        vouch_testkit::Identity::github_actions(
            "acme/app",
            ".github/workflows/r.yml",
            "refs/tags/v1",
        ),
    );
    publisher.push_legacy_signatures("acme/app", &image, &[sig]);
    let d = dir("skopeo");
    let sig_tag = format!("sha256-{}.sig", image.hex());
    for tag in ["v1", sig_tag.as_str()] {
        vouch_testkit::skopeo_copy(
            &format!("docker://{}/acme/app:{tag}", registry.host()),
            &format!("oci:{}:{tag}", d.0.display()),
        );
    }
    let layout = OciLayout::open(&d.0).unwrap();
    let digest: Sha256Digest = image.digest.parse().unwrap();
    assert_eq!(layout.subject_image().unwrap(), digest);
    let by_tag = layout.manifest(&repo(), "v1").unwrap().unwrap();
    assert_eq!(by_tag.digest, digest);
    let sigs = layout.legacy_layers(&repo(), &digest, "sig").unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(
        sigs[0]
            .descriptor
            .annotations
            .contains_key(SIGNATURE_ANNOTATION)
    );
    let manifest: vouch_oci::oci::ImageManifest = serde_json::from_slice(&by_tag.bytes).unwrap();
    for layer in &manifest.layers {
        layout
            .check_blob(&Digest::parse(&layer.digest).unwrap(), layer.size)
            .unwrap();
    }
}

/// A tar whose one entry is `name` of `kind`, with `content` (or a link
/// to `target`).
fn tar_with(name: &str, kind: tar::EntryType, content: &[u8], target: Option<&str>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    if let Some(target) = target {
        header.set_link_name(target).unwrap();
    }
    // Raw path bytes: `append_data` itself refuses `..`, an attacker's tar
    // tool does not.
    let bytes = name.as_bytes();
    header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    header.set_cksum();
    builder.append(&header, content).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn a_layout_packed_into_a_tar_unpacks_to_the_same_layout() {
    let s = cosign_shape("tar-roundtrip");
    let out = dir("tar-roundtrip-out");
    std::fs::create_dir_all(&out.0).unwrap();
    let tar = out.0.join("layout.tar");
    pack_layout(&s.dir.0, &tar).unwrap();
    let again = out.0.join("again.tar");
    pack_layout(&s.dir.0, &again).unwrap();
    // The same layout gives the same archive.
    assert_eq!(std::fs::read(&tar).unwrap(), std::fs::read(&again).unwrap());
    let unpacked = out.0.join("unpacked");
    unpack_layout(&tar, &unpacked).unwrap();
    let layout = OciLayout::open(&unpacked).unwrap();
    assert_eq!(layout.subject_image().unwrap(), s.image);
    assert_eq!(
        layout.index_digest(),
        OciLayout::open(&s.dir.0).unwrap().index_digest()
    );
    layout.check_blob(&s.layer.into(), 11).unwrap();
    // Unpacking never writes into an existing directory.
    assert!(matches!(
        unpack_layout(&tar, &unpacked),
        Err(LayoutError::Io { .. })
    ));
}

#[test]
fn a_layout_tar_with_links_devices_or_foreign_paths_is_refused() {
    let out = dir("tar-refusals");
    std::fs::create_dir_all(&out.0).unwrap();
    let hex = Sha256Digest::of(b"x").hex().to_string();
    let blob = format!("blobs/sha256/{hex}");
    use tar::EntryType::{Directory, Fifo, Link, Regular, Symlink};
    let passwd = Some("/etc/passwd");
    let cases = [
        ("symlink", blob.as_str(), Symlink, passwd),
        ("hardlink", &blob, Link, passwd),
        ("fifo", &blob, Fifo, None),
        ("traversal", "../escaped", Regular, None),
        ("absolute", "/tmp/escaped", Regular, None),
        ("foreign", "etc/passwd", Regular, None),
        ("partial", ".partial/x", Regular, None),
        ("bad-digest", "blobs/sha256/ABC", Regular, None),
        ("directory", "blobs/evil", Directory, None),
    ];
    for (name, path, kind, link) in cases {
        let bytes = tar_with(path, kind, b"x", link);
        let target = out.0.join(name);
        let result = unpack_layout_from(&bytes[..], std::path::Path::new(name), &target);
        assert!(
            matches!(result, Err(LayoutError::UnsafeArchiveEntry { .. })),
            "{name}: {result:?}"
        );
    }
    // The same file twice is refused too.
    let mut twice = tar_with(&blob, tar::EntryType::Regular, b"x", None);
    twice.truncate(twice.len() - 1024);
    twice.extend(tar_with(&blob, tar::EntryType::Regular, b"x", None));
    let result = unpack_layout_from(
        &twice[..],
        std::path::Path::new("twice"),
        &out.0.join("twice"),
    );
    assert!(
        matches!(result, Err(LayoutError::UnsafeArchiveEntry { ref reason, .. }) if reason.contains("twice")),
        "{result:?}"
    );
    assert!(!out.0.join("escaped").exists());
}

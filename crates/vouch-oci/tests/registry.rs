//! vouch-oci against a real registry (Debian's docker-registry with bcrypt
//! basic auth), holding an image signed in both cosign layouts by the
//! virtual Sigstore. The registry answers 404 on referrers, so bundles are
//! found through the referrers tag schema. What is found is checked here
//! for what it is (digests, media types, annotations); verifying it is
//! vouch-image's business, and its tests do that end to end.

use serde_json::json;
use vouch_oci::*;
use vouch_testkit::{Identity, LocalRegistry, Publisher, VirtualSigstore};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "LICENSE-0001";
const NOW: u64 = 1_750_000_000;

struct Fixture {
    registry: LocalRegistry,
    home: std::path::PathBuf,
    image: vouch_testkit::Pushed,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

fn statement(image: &vouch_testkit::Pushed, predicate_type: &str) -> Vec<u8> {
    vouch_testkit::in_toto_statement("app", image.hex(), predicate_type, &json!({"x": 1}))
}

/// An image `acme/app:v1` with a legacy signature and attestation, and three
/// bundle attestations as referrers.
fn fixture(name: &str) -> Option<Fixture> {
    let registry = LocalRegistry::start(Some((USER, PASSWORD)))?;
    let sigstore = VirtualSigstore::new("prod", NOW);
    let mut publisher = Publisher::new(&registry.host(), Some((USER, PASSWORD)));
    let image = publisher.push_image("acme/app", "v1", "app v1");
    let reference = format!("{}/acme/app", registry.host());
    let sig = sigstore.sign_image_legacy(&reference, &image.digest, identity());
    publisher.push_legacy_signatures("acme/app", &image, &[sig]);
    let att =
        sigstore.attest_image_legacy(&statement(&image, "https://spdx.dev/Document"), identity());
    publisher.push_legacy_attestations("acme/app", &image, &[att]);
    for predicate in [
        "https://spdx.dev/Document",
        "https://slsa.dev/provenance/v1",
        "https://openvex.dev/ns/v0.2.0",
    ] {
        let bundle = sigstore.sign_statement(&statement(&image, predicate), identity());
        publisher.push_bundle_referrer("acme/app", &image, &bundle.json, predicate);
    }
    let home = std::env::temp_dir().join(format!("vouch-oci-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    Some(Fixture {
        registry,
        home,
        image,
    })
}

impl Fixture {
    fn client(&self) -> RegistryClient {
        RegistryClient::new(ClientOptions {
            credentials: self.store(),
            ..ClientOptions::default()
        })
        .unwrap()
    }
    fn store(&self) -> CredentialStore {
        CredentialStore::new(AuthLocations {
            home: Some(self.home.clone()),
            ..AuthLocations::default()
        })
    }
    fn login(&self) {
        self.store()
            .login(&self.registry_name(), USER, PASSWORD)
            .unwrap();
    }
    fn registry_name(&self) -> Registry {
        Registry::new(&self.registry.host()).unwrap()
    }
    fn repo(&self) -> Repository {
        Repository::new(self.registry_name(), "acme/app").unwrap()
    }
    fn digest(&self) -> Sha256Digest {
        self.image.digest.parse().unwrap()
    }
}

#[tokio::test]
async fn resolves_a_tag_to_the_pushed_digest_after_login() {
    let Some(f) = fixture("resolve") else { return };
    f.login();
    let fetched = f
        .client()
        .manifest(&f.repo(), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.digest, f.digest());
    assert_eq!(fetched.media_type, oci::OCI_MANIFEST);
    assert!(
        f.client()
            .manifest(&f.repo(), "nope", oci::MANIFEST_ACCEPT)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn finds_the_layers_of_legacy_signatures_and_attestations() {
    let Some(f) = fixture("legacy") else { return };
    f.login();
    let client = f.client();
    let sigs = client
        .legacy_layers(&f.repo(), &f.digest(), "sig")
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].descriptor.media_type, oci::SIMPLE_SIGNING);
    assert!(
        sigs[0]
            .descriptor
            .annotations
            .contains_key(SIGNATURE_ANNOTATION)
    );
    assert_eq!(
        Sha256Digest::of(&sigs[0].content),
        sigs[0].descriptor.sha256().unwrap()
    );
    let atts = client
        .legacy_layers(&f.repo(), &f.digest(), "att")
        .await
        .unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].descriptor.media_type, oci::DSSE_ENVELOPE);
    // Nothing is attached to another digest.
    let other = Sha256Digest::of(b"other");
    assert!(
        client
            .legacy_layers(&f.repo(), &other, "sig")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn finds_bundle_referrers_through_the_tag_schema_when_the_api_answers_404() {
    let Some(f) = fixture("bundles") else { return };
    f.login();
    let (bundles, source) = f
        .client()
        .sigstore_bundles(&f.repo(), &f.digest())
        .await
        .unwrap();
    assert!(
        matches!(&source, ReferrersSource::TagSchema { because } if because.contains("404")),
        "{source:?}"
    );
    // Each bundle is the one its referrer manifest names (digest-checked
    // on the way) and says which predicate it carries.
    let mut types: Vec<String> = bundles
        .iter()
        .map(|b| {
            let json: serde_json::Value = serde_json::from_slice(&b.bundle).unwrap();
            assert_eq!(json["mediaType"], vouch_testkit::BUNDLE_V03_MEDIA_TYPE);
            b.predicate_type_hint.clone().unwrap()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "https://openvex.dev/ns/v0.2.0",
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document"
        ]
    );
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let Some(f) = fixture("badpass") else { return };
    f.store().login(&f.registry_name(), USER, "WRONG").unwrap();
    let err = f
        .client()
        .manifest(&f.repo(), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err}");
    // The license hint is the CLI's (crates/vouch-cli/tests/cli/image.rs).
    assert!(!err.to_string().contains("license ID"), "{err}");
}

#[tokio::test]
async fn no_credentials_is_unauthorized() {
    let Some(f) = fixture("anon") else { return };
    let err = f
        .client()
        .manifest(&f.repo(), "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err}");
}

/// `copy_blob` streams a blob into a layout, skips it on a second run, and
/// stores nothing when the registry sends more than the descriptor says or
/// does not have the blob.
#[tokio::test]
async fn copies_a_blob_into_a_layout_once_and_never_a_wrong_one() {
    let Some(f) = fixture("copy") else { return };
    f.login();
    let layer = b"layer for app v1";
    let digest = Sha256Digest::of(layer);
    let root = f.home.join("layout");
    let writer = LayoutWriter::create(&root).unwrap();
    let counted = std::sync::atomic::AtomicU64::new(0);
    let count = |n: u64| {
        counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    };
    let client = f.client();
    let size = layer.len() as u64;
    let first = client
        .copy_blob(&f.repo(), &digest, size, &writer, &count)
        .await;
    assert_eq!(first.unwrap(), Copied::Fetched(size));
    assert_eq!(counted.load(std::sync::atomic::Ordering::Relaxed), size);
    assert!(writer.has_blob(&digest, size).unwrap());
    let again = client
        .copy_blob(&f.repo(), &digest, size, &writer, &count)
        .await;
    assert_eq!(again.unwrap(), Copied::AlreadyThere(size));

    // A descriptor that says fewer bytes than the registry sends.
    let other = LayoutWriter::create(&f.home.join("short")).unwrap();
    let short = client
        .copy_blob(&f.repo(), &digest, size - 1, &other, &count)
        .await;
    assert!(matches!(short, Err(OciError::TooLarge { .. })), "{short:?}");
    assert!(!other.has_blob(&digest, size).unwrap());
    // A blob the registry does not have.
    let absent = Sha256Digest::of(b"not pushed");
    let missing = client
        .copy_blob(&f.repo(), &absent, 10, &other, &count)
        .await;
    assert!(
        matches!(missing, Err(OciError::NotFound { .. })),
        "{missing:?}"
    );
}

/// A client `remembering_fetched` asks once for what it read by content (a
/// manifest by tag or digest, the bundles of referrers) and answers again
/// from memory — also into a layout — while a tag is always asked again and
/// nothing is shared with another repository or a client that was not asked
/// to remember.
#[tokio::test]
async fn a_remembering_client_fetches_content_once_and_tags_every_time() {
    let Some(f) = fixture("memo") else { return };
    f.login();
    let client = f.client().remembering_fetched(1024 * 1024);
    let repo = f.repo();
    let by_tag = client
        .manifest(&repo, "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    let (bundles, _) = client.sigstore_bundles(&repo, &f.digest()).await.unwrap();
    let asked = client.request_count();
    let digest = f.digest().to_string();
    let by_digest = client
        .manifest(&repo, &digest, oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest.bytes, by_tag.bytes);
    assert_eq!(by_digest.digest, f.digest());
    for bundle in &bundles {
        let manifest = client
            .manifest(
                &repo,
                &bundle.manifest_digest.to_string(),
                oci::MANIFEST_ACCEPT,
            )
            .await
            .unwrap()
            .unwrap();
        let manifest: oci::ImageManifest = serde_json::from_slice(&manifest.bytes).unwrap();
        let layer = manifest.layers[0].clone();
        let layer_digest = layer.sha256().unwrap();
        let blob = client.blob(&repo, &layer_digest, layer.size).await.unwrap();
        assert_eq!(blob.bytes, bundle.bundle);
        // Into a layout, from memory: hashed on the way like a download.
        let writer = LayoutWriter::create(&f.home.join("layout")).unwrap();
        let copied = client
            .copy_blob(&repo, &layer_digest, layer.size, &writer, &|_| {})
            .await
            .unwrap();
        assert_eq!(copied, Copied::Fetched(layer.size));
        assert!(writer.has_blob(&layer_digest, layer.size).unwrap());
    }
    assert_eq!(client.request_count(), asked, "asked the registry again");

    // A tag is asked again; so is another repository, and another client.
    client
        .manifest(&repo, "v1", oci::MANIFEST_ACCEPT)
        .await
        .unwrap();
    assert_eq!(client.request_count(), asked + 1);
    let elsewhere = Repository::new(f.registry_name(), "acme/other").unwrap();
    let absent = client
        .manifest(&elsewhere, &digest, oci::MANIFEST_ACCEPT)
        .await
        .unwrap();
    assert!(absent.is_none());
    let forgetful = f.client();
    forgetful
        .manifest(&repo, &digest, oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert!(forgetful.request_count() > 0);
}

/// `push_blob` uploads in chunks (a blob over one chunk takes a `PATCH`
/// and the closing `PUT`; one chunk, a `POST` and a `PUT`), finds it there
/// the second time, mounts it into another repository, and refuses a file
/// that does not hash to the digest.
#[tokio::test]
async fn pushes_a_blob_in_chunks_once_mounts_it_and_refuses_a_wrong_one() {
    let Some(f) = fixture("push") else { return };
    f.login();
    std::fs::create_dir_all(&f.home).unwrap();
    let bytes: Vec<u8> = (0..UPLOAD_CHUNK + 1000).map(|i| (i % 251) as u8).collect();
    let digest = Sha256Digest::of(&bytes);
    let file = f.home.join("blob");
    std::fs::write(&file, &bytes).unwrap();
    let client = f.client();
    let size = bytes.len() as u64;
    let sent = std::sync::atomic::AtomicU64::new(0);
    let count = |n: u64| {
        sent.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    };
    let first = client
        .push_blob(&f.repo(), &digest, size, &file, None, &count)
        .await;
    assert_eq!(first.unwrap(), PushedBlob::Uploaded(size));
    assert_eq!(sent.load(std::sync::atomic::Ordering::Relaxed), size);
    let fetched = client.blob(&f.repo(), &digest, size).await.unwrap();
    assert_eq!(fetched.bytes, bytes);
    let again = client
        .push_blob(&f.repo(), &digest, size, &file, None, &count)
        .await;
    assert_eq!(again.unwrap(), PushedBlob::AlreadyThere);
    let other = Repository::new(f.registry_name(), "acme/other").unwrap();
    let mounted = client
        .push_blob(&other, &digest, size, &file, Some(&f.repo()), &count)
        .await;
    assert_eq!(mounted.unwrap(), PushedBlob::Mounted);

    // A file that is not the blob its digest names is never stored.
    let wrong = Sha256Digest::of(b"something else");
    let refused = client
        .push_blob(&f.repo(), &wrong, size, &file, None, &count)
        .await;
    assert!(
        matches!(refused, Err(OciError::DigestMismatch { .. })),
        "{refused:?}"
    );
    assert!(client.blob(&f.repo(), &wrong, size).await.is_err());
    // Nor a file longer than its descriptor says (the last chunk unsent).
    let short = Repository::new(f.registry_name(), "acme/short").unwrap();
    let longer = client
        .push_blob(&short, &digest, size - 1, &file, None, &count)
        .await;
    assert!(
        matches!(longer, Err(OciError::Malformed { .. })),
        "{longer:?}"
    );
    assert!(client.blob(&short, &digest, size).await.is_err());

    // A manifest pushed by tag reads back by digest.
    let config = br#"{"pushed":1}"#;
    let config_digest = Sha256Digest::of(config);
    let config_file = f.home.join("config");
    std::fs::write(&config_file, config).unwrap();
    let size_of_config = config.len() as u64;
    let before = client.request_count();
    let small = client
        .push_blob(
            &f.repo(),
            &config_digest,
            size_of_config,
            &config_file,
            None,
            &count,
        )
        .await;
    assert_eq!(small.unwrap(), PushedBlob::Uploaded(size_of_config));
    // One chunk: HEAD, then a monolithic upload (POST, PUT with the bytes).
    assert_eq!(client.request_count() - before, 3);
    assert_eq!(
        client
            .blob(&f.repo(), &config_digest, size_of_config)
            .await
            .unwrap()
            .bytes,
        config
    );
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": size_of_config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.to_string(), "size": size}],
    }))
    .unwrap();
    let pushed = client
        .push_manifest(&f.repo(), "pushed", oci::OCI_MANIFEST, &manifest)
        .await
        .unwrap();
    assert_eq!(pushed.digest, Sha256Digest::of(&manifest));
    assert!(
        client
            .has_manifest(&f.repo(), &pushed.digest.to_string())
            .await
            .unwrap()
    );
    let read = client
        .manifest(&f.repo(), "pushed", oci::MANIFEST_ACCEPT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.digest, pushed.digest);
}

//! OCI test content built by hand (real tar layers, image configs,
//! manifests, indexes, cosign-style signatures and referrers-tag-schema
//! indexes) and pushed to a registry with raw distribution API calls.

use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Content addressed by digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub bytes: Vec<u8>,
    pub media_type: String,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            digest: sha256(&bytes),
            bytes,
            media_type: media_type.to_string(),
        }
    }

    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }

    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap()
    }
}

/// An image: manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

/// `len` deterministic pseudo-random bytes derived from `seed`.
pub fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

/// A one-file ustar archive.
pub fn tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// An image with one tar layer holding `layer_bytes` bytes of noise.
pub fn image(seed: &str, arch: &str, layer_bytes: usize) -> Image {
    let layer = Blob::new(
        OCI_LAYER_TAR,
        tar(&format!("{seed}.bin"), &noise(seed, layer_bytes)),
    );
    image_over(layer, arch)
}

/// An image of `arch` whose one layer is `layer`, with its own config.
pub fn image_over(layer: Blob, arch: &str) -> Image {
    let config = Blob::new(
        OCI_CONFIG,
        serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        }))
        .unwrap(),
    );
    let manifest = Blob::new(
        OCI_MANIFEST,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
        }))
        .unwrap(),
    );
    Image {
        manifest,
        config,
        layers: vec![layer],
    }
}

/// An index over images (linux/<arch> each).
pub fn index(images: &[(&Image, &str)]) -> Blob {
    let manifests: Vec<_> = images
        .iter()
        .map(|(img, arch)| {
            let mut d = img.manifest.descriptor();
            d["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
            d
        })
        .collect();
    Blob::new(
        OCI_INDEX,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .unwrap(),
    )
}

/// A cosign-style signature image for `subject` (tag `sha256-<hex>.sig`):
/// a simple-signing payload layer with a signature annotation.
pub fn signature(subject: &str) -> Image {
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": "up.test/acme/api"},
            "image": {"docker-manifest-digest": subject},
            "type": "cosign container image signature"
        },
        "optional": null
    }))
    .unwrap();
    let layer = Blob::new(COSIGN_SIMPLESIGNING, payload);
    let config = Blob::new(
        OCI_CONFIG,
        serde_json::to_vec(&serde_json::json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        }))
        .unwrap(),
    );
    let mut layer_desc = layer.descriptor();
    layer_desc["annotations"] =
        serde_json::json!({"dev.cosignproject.cosign/signature": "MEUCIQDfakefakefake"});
    let manifest = Blob::new(
        OCI_MANIFEST,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [layer_desc],
        }))
        .unwrap(),
    );
    Image {
        manifest,
        config,
        layers: vec![layer],
    }
}

/// A referrers-tag-schema index (tag `sha256-<hex>`) listing artefacts.
pub fn referrers_index(artifacts: &[&Blob]) -> Blob {
    let manifests: Vec<_> = artifacts
        .iter()
        .map(|a| {
            let mut d = a.descriptor();
            d["artifactType"] = serde_json::Value::String(COSIGN_ARTIFACT.into());
            d
        })
        .collect();
    Blob::new(
        OCI_INDEX,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .unwrap(),
    )
}

/// Pushes with raw distribution API calls (monolithic blob upload, manifest PUT).
pub struct Pusher {
    client: reqwest::Client,
    base: String,
    auth: Option<String>,
}

impl Pusher {
    pub fn new(base: &str, auth: Option<String>) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            auth,
        }
    }

    fn with_auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    pub async fn blob(&self, repo: &str, blob: &Blob) {
        let start = self
            .with_auth(
                self.client
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            start.status(),
            202,
            "start upload: {}",
            start.text().await.unwrap()
        );
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = self
            .with_auth(self.client.put(format!("{url}{sep}digest={}", blob.digest)))
            .header("content-type", "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status(),
            201,
            "finish upload: {}",
            put.text().await.unwrap()
        );
    }

    pub async fn manifest(&self, repo: &str, reference: &str, manifest: &Blob) {
        let put = self
            .with_auth(
                self.client
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.base)),
            )
            .header("content-type", &manifest.media_type)
            .body(manifest.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status(),
            201,
            "put manifest: {}",
            put.text().await.unwrap()
        );
    }

    /// Blobs, then the manifest under `reference` (a tag or its digest).
    pub async fn image(&self, repo: &str, reference: &str, image: &Image) {
        self.blob(repo, &image.config).await;
        for layer in &image.layers {
            self.blob(repo, layer).await;
        }
        self.manifest(repo, reference, &image.manifest).await;
    }
}

/// What [`publish_release`] pushed.
pub struct Release {
    /// linux/amd64 and linux/arm64 images of `api:1.0`.
    pub amd64: Image,
    pub arm64: Image,
    /// The index tagged `1.0`.
    pub index: Blob,
    /// `sha256-<index hex>.sig` signature of the index.
    pub signature: Image,
    /// Referrers tag schema index `sha256-<index hex>`.
    pub referrers: Blob,
    /// `api:1.1` (beta only), a single image.
    pub beta: Image,
    /// `api:latest`, released on no channel.
    pub unreleased: Image,
}

/// Pushes the release layout the tests pull: `acme/api:1.0` (index of two
/// platforms, signed, with a referrers-tag index), `acme/api:1.1`,
/// `acme/api:latest`.
pub async fn publish_release(pusher: &Pusher, repo: &str, layer_bytes: usize) -> Release {
    let amd64 = image(&format!("{repo}-amd64"), "amd64", layer_bytes);
    let arm64 = image(&format!("{repo}-arm64"), "arm64", layer_bytes);
    pusher.image(repo, &amd64.manifest.digest, &amd64).await;
    pusher.image(repo, &arm64.manifest.digest, &arm64).await;
    let idx = index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
    pusher.manifest(repo, "1.0", &idx).await;
    let sig = signature(&idx.digest);
    pusher
        .image(repo, &format!("sha256-{}.sig", idx.hex()), &sig)
        .await;
    let referrers = referrers_index(&[&sig.manifest]);
    pusher
        .manifest(repo, &format!("sha256-{}", idx.hex()), &referrers)
        .await;
    let beta = image(&format!("{repo}-beta"), "amd64", 1000);
    pusher.image(repo, "1.1", &beta).await;
    let unreleased = image(&format!("{repo}-latest"), "amd64", 1000);
    pusher.image(repo, "latest", &unreleased).await;
    Release {
        amd64,
        arm64,
        index: idx,
        signature: sig,
        referrers,
        beta,
        unreleased,
    }
}

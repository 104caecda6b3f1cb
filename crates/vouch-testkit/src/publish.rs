//! Pushing test images and their signatures to a registry, in both layouts
//! cosign uses: legacy `sha256-<hex>.sig`/`.att` tags, and Sigstore bundle
//! v0.3 referrers with the referrers tag-schema index `sha256-<hex>`
//! (distribution-spec v1.1), which registries without a referrers API need.
//!
//! Plain HTTP/1.1 over a TCP socket, for registries on 127.0.0.1: the
//! publisher has no dependency on the client under test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::legacy::{LegacyAttestation, LegacySignature};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The artifact type and layer media type of a Sigstore bundle v0.3.
pub const BUNDLE_V03_ARTIFACT: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A pushed manifest: its digest, media type and size, as a descriptor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `sha256:<hex>`.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: usize,
}

impl Pushed {
    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// One layer of a legacy cosign manifest: content, media type, annotations.
struct LegacyLayer {
    content: Vec<u8>,
    media_type: &'static str,
    annotations: Vec<(String, String)>,
}

/// Pushes to one registry at `127.0.0.1:<port>`.
#[derive(Debug)]
pub struct Publisher {
    host: String,
    authorization: Option<String>,
    /// Referrer descriptors pushed per `repo@subject`, to rewrite the tag-schema index.
    referrers: BTreeMap<String, Vec<Value>>,
}

impl Publisher {
    /// A publisher for `host` (`127.0.0.1:5000`), with optional basic auth.
    pub fn new(host: &str, basic_auth: Option<(&str, &str)>) -> Self {
        Self {
            host: host.to_string(),
            authorization: basic_auth
                .map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))),
            referrers: BTreeMap::new(),
        }
    }

    /// Uploads a blob (monolithic POST + PUT); returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let (status, headers, _) =
            self.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(status, 202, "starting a blob upload to {repo}");
        let location = headers.get("location").expect("upload Location").clone();
        let path = location
            .trim_start_matches(&format!("http://{}", self.host))
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, body) = self.request(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(
            status,
            201,
            "finishing blob upload: {}",
            String::from_utf8_lossy(&body)
        );
        digest
    }

    /// PUTs a manifest under `reference` (a tag or its digest).
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Pushed {
        let (status, _, body) = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            bytes,
        );
        assert_eq!(
            status,
            201,
            "pushing manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&body)
        );
        Pushed {
            digest: sha256_digest(bytes),
            media_type: media_type.to_string(),
            size: bytes.len(),
        }
    }

    /// Pushes a small single-layer image whose content depends on `seed`,
    /// tagged `tag`.
    pub fn push_image(&self, repo: &str, tag: &str, seed: &str) -> Pushed {
        let config = json!({"architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed}}, "rootfs": {"type": "layers", "diff_ids": []}}).to_string();
        let layer = format!("layer for {seed}");
        let config_digest = self.push_blob(repo, config.as_bytes());
        let layer_digest = self.push_blob(repo, layer.as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        })
        .to_string();
        self.push_manifest(repo, tag, OCI_MANIFEST, manifest.as_bytes())
    }

    /// Pushes an image index over `entries` (each `(pushed manifest, os, arch)`), tagged `tag`.
    pub fn push_index(&self, repo: &str, tag: &str, entries: &[(&Pushed, &str, &str)]) -> Pushed {
        let manifests: Vec<Value> = entries
            .iter()
            .map(|(m, os, arch)| {
                let mut d = m.descriptor();
                d["platform"] = json!({"os": os, "architecture": arch});
                d
            })
            .collect();
        let index =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).to_string();
        self.push_manifest(repo, tag, OCI_INDEX, index.as_bytes())
    }

    /// Pushes legacy cosign signatures as the `sha256-<hex>.sig` manifest of
    /// `image` (one layer each).
    pub fn push_legacy_signatures(
        &self,
        repo: &str,
        image: &Pushed,
        signatures: &[LegacySignature],
    ) -> Pushed {
        let layers: Vec<LegacyLayer> = signatures
            .iter()
            .map(|s| LegacyLayer {
                content: s.payload.clone(),
                media_type: crate::legacy::SIMPLE_SIGNING_MEDIA_TYPE,
                annotations: s.annotations(),
            })
            .collect();
        self.push_legacy(repo, &format!("sha256-{}.sig", image.hex()), &layers)
    }

    /// Pushes legacy cosign attestations as the `sha256-<hex>.att` manifest.
    pub fn push_legacy_attestations(
        &self,
        repo: &str,
        image: &Pushed,
        attestations: &[LegacyAttestation],
    ) -> Pushed {
        let layers: Vec<LegacyLayer> = attestations
            .iter()
            .map(|a| LegacyLayer {
                content: a.payload.clone(),
                media_type: crate::legacy::DSSE_ENVELOPE_MEDIA_TYPE,
                annotations: a.annotations(),
            })
            .collect();
        self.push_legacy(repo, &format!("sha256-{}.att", image.hex()), &layers)
    }

    fn push_legacy(&self, repo: &str, tag: &str, layers: &[LegacyLayer]) -> Pushed {
        let config = b"{}";
        let config_digest = self.push_blob(repo, config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|LegacyLayer { content, media_type, annotations }| {
                let digest = self.push_blob(repo, content);
                let annotations: serde_json::Map<String, Value> =
                    annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                json!({"mediaType": media_type, "digest": digest, "size": content.len(), "annotations": annotations})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        })
        .to_string();
        self.push_manifest(repo, tag, OCI_MANIFEST, manifest.as_bytes())
    }

    /// Pushes a Sigstore bundle v0.3 as a referrer of `subject` (the layout
    /// `cosign sign`/`attest` v3 writes, SPEC.md §2.4) and rewrites the
    /// subject's referrers tag-schema index `sha256-<hex>`.
    pub fn push_bundle_referrer(
        &mut self,
        repo: &str,
        subject: &Pushed,
        bundle_json: &str,
        predicate_type: &str,
    ) -> Pushed {
        let empty = b"{}";
        let empty_digest = self.push_blob(repo, empty);
        let layer_digest = self.push_blob(repo, bundle_json.as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03_ARTIFACT,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "artifactType": BUNDLE_V03_ARTIFACT, "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": BUNDLE_V03_ARTIFACT, "digest": layer_digest, "size": bundle_json.len()}],
            "subject": subject.descriptor(),
            "annotations": {
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": predicate_type,
            },
        })
        .to_string();
        let digest = sha256_digest(manifest.as_bytes());
        let pushed = self.push_manifest(repo, &digest, OCI_MANIFEST, manifest.as_bytes());
        let mut descriptor = pushed.descriptor();
        descriptor["artifactType"] = BUNDLE_V03_ARTIFACT.into();
        descriptor["annotations"] = json!({"dev.sigstore.bundle.predicateType": predicate_type});
        let entries = self
            .referrers
            .entry(format!("{repo}@{}", subject.digest))
            .or_default();
        entries.push(descriptor);
        let index =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).to_string();
        self.push_manifest(
            repo,
            &format!("sha256-{}", subject.hex()),
            OCI_INDEX,
            index.as_bytes(),
        );
        pushed
    }

    /// One HTTP/1.1 request; returns status, lowercased headers and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, BTreeMap<String, String>, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.host).expect("connect to registry");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(auth) = &self.authorization {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write request");
        stream.write_all(body).expect("write body");
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).expect("status line");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let mut response_headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                response_headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let mut body = Vec::new();
        reader.read_to_end(&mut body).expect("body");
        (status, response_headers, body)
    }
}

/// Which signature layout to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Sigstore bundle v0.3 referrers (cosign v3).
    Bundle,
    /// `sha256-<hex>.sig` / `.att` tags (cosign v2).
    Legacy,
}

/// One attestation to attach: predicate type, predicate, and who signs it.
#[derive(Debug, Clone)]
pub struct AttestationSpec {
    /// The predicate type URI.
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
    /// The signer.
    pub identity: crate::Identity,
}

/// The SPDX, SLSA v1 and OpenVEX predicates a vendor attaches to an image,
/// signed by `identity`; the provenance names `builder`.
pub fn standard_attestations(
    repo: &str,
    tag: &str,
    builder: &str,
    identity: &crate::Identity,
) -> Vec<AttestationSpec> {
    let spec = |t: &str, p: Value| AttestationSpec {
        predicate_type: t.to_string(),
        predicate: p,
        identity: identity.clone(),
    };
    vec![
        spec(
            "https://spdx.dev/Document",
            json!({"spdxVersion": "SPDX-2.3", "name": repo, "packages": [{"name": "libc"}, {"name": "openssl"}]}),
        ),
        spec(
            "https://slsa.dev/provenance/v1",
            json!({
                "buildDefinition": {"buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1", "externalParameters": {}},
                "runDetails": {"builder": {"id": builder}},
            }),
        ),
        spec(
            "https://openvex.dev/ns/v0.2.0",
            json!({
                "@context": "https://openvex.dev/ns/v0.2.0", "@id": format!("https://vendor.example/vex/{repo}/{tag}"), "author": "vendor",
                "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                "statements": [{"vulnerability": {"name": "CVE-2026-0001"}, "products": [{"@id": format!("pkg:oci/{repo}")}], "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}],
            }),
        ),
    ]
}

impl Publisher {
    /// Pushes `repo:tag` and attaches, in `layout`, a signature by `signer`
    /// (unless `None`) and the given attestations.
    pub fn push_signed_image(
        &mut self,
        sigstore: &crate::VirtualSigstore,
        repo: &str,
        tag: &str,
        layout: Layout,
        signer: Option<&crate::Identity>,
        attestations: &[AttestationSpec],
    ) -> Pushed {
        let image = self.push_image(repo, tag, &format!("{repo}:{tag}"));
        let statement = |a: &AttestationSpec| {
            crate::in_toto_statement(repo, image.hex(), &a.predicate_type, &a.predicate)
        };
        match layout {
            Layout::Bundle => {
                if let Some(signer) = signer {
                    let sign = crate::in_toto_statement(
                        repo,
                        image.hex(),
                        "https://sigstore.dev/cosign/sign/v1",
                        &json!({}),
                    );
                    let bundle = sigstore.sign_statement(&sign, signer);
                    self.push_bundle_referrer(
                        repo,
                        &image,
                        &bundle.json,
                        "https://sigstore.dev/cosign/sign/v1",
                    );
                }
                for a in attestations {
                    let bundle = sigstore.sign_statement(&statement(a), &a.identity);
                    self.push_bundle_referrer(repo, &image, &bundle.json, &a.predicate_type);
                }
            }
            Layout::Legacy => {
                if let Some(signer) = signer {
                    let sig = sigstore.sign_image_legacy(
                        &format!("{}/{repo}", self.host),
                        &image.digest,
                        signer,
                    );
                    self.push_legacy_signatures(repo, &image, &[sig]);
                }
                if !attestations.is_empty() {
                    let atts: Vec<_> = attestations
                        .iter()
                        .map(|a| sigstore.attest_image_legacy(&statement(a), &a.identity))
                        .collect();
                    self.push_legacy_attestations(repo, &image, &atts);
                }
            }
        }
        image
    }
}

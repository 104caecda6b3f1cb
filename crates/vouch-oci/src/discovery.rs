//! Finding what is attached to an image: OCI referrers (with the spec's
//! fallback to the referrers tag schema), Sigstore bundle referrers, and
//! the layers of cosign's legacy `sha256-<hex>.sig` / `.att` tags. What
//! the layers mean (signatures, attestations) is the caller's to decide.
//!
//! The referrers fallback happens **only** where distribution-spec v1.1 says
//! so — 404, 400, 406, or a 200 whose body is not an image index (SPEC.md
//! §1.3). Any other failure (401, 403, 429, 5xx, a timeout) is an error that
//! says what happened, never a silent "no signatures" (ATTACKS.md G.72) —
//! unless the caller opted in to falling back after a 5xx
//! ([`ReferrersFallback::OnServerError`]), and then the fallback is reported.

use reqwest::{Method, StatusCode};
use vouch_oci_types::{
    DOCKER_MANIFEST, Descriptor, ImageIndex, ImageManifest, MAX_MANIFEST_SIZE, OCI_INDEX,
    OCI_MANIFEST, Repository, SIGSTORE_BUNDLE_PREFIX, Sha256Digest, Tag,
};

use crate::client::{
    MAX_ATTACHMENT_SIZE, ReferrersFallback, RegistryClient, media_type, next_link_of, parse_json,
    read_limited,
};
use crate::error::OciError;

/// The most referrers we accept for one subject (cosign caps signature
/// layers at 1000, GHSA-95pr-fxf5-86gv; CVE-2023-46737 was an unbounded list).
pub const MAX_REFERRERS: usize = 1000;
/// The most `Link` pages we follow (each page is one request).
pub const MAX_REFERRER_PAGES: usize = 32;
/// The most layers in a `.sig`/`.att` manifest (cosign's cap, GHSA-95pr-fxf5-86gv).
pub const MAX_SIGNATURE_LAYERS: usize = 1000;

/// cosign's signature annotation (SPEC.md §2.1).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// cosign's certificate annotation.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// cosign's chain annotation.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// cosign's Rekor bundle annotation.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The predicate type annotation cosign puts on bundle referrer manifests.
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// How the referrers list was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The referrers tag schema (`sha256-<hex>` index), because the API
    /// answered as the spec says an unsupporting registry does.
    TagSchema {
        /// What the API answered (e.g. `404`).
        because: String,
    },
    /// The referrers tag schema after the API failed with a server error,
    /// because the caller asked for that ([`ReferrersFallback::OnServerError`]).
    /// Referrers only the API lists (cosign v3 bundles) may be missed: say so.
    TagSchemaAfterError {
        /// The API's failure.
        error: String,
    },
    /// An OCI image layout on disk: referrer manifests whose subject is the
    /// image, listed in `index.json` or stored under `blobs/`.
    Layout,
}

/// What the referrers API answered.
enum ApiAnswer {
    /// The referrers.
    Listed(Vec<Descriptor>),
    /// What distribution-spec says an unsupporting registry answers.
    Unsupported(String),
    /// A server error the caller allowed a fallback after.
    ServerError(String),
}

/// The referrers of a subject.
#[derive(Debug, Clone)]
pub struct Referrers {
    /// The referrer descriptors, in the registry's order.
    pub manifests: Vec<Descriptor>,
    /// How they were found.
    pub source: ReferrersSource,
}

/// One Sigstore bundle attached to an image as a referrer.
#[derive(Debug, Clone)]
pub struct BundleReferrer {
    /// The referrer manifest's digest.
    pub manifest_digest: Sha256Digest,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// The `dev.sigstore.bundle.predicateType` annotation (unverified; for display).
    pub predicate_type_hint: Option<String>,
    /// The bundle JSON (digest-checked against the layer descriptor).
    pub bundle: Vec<u8>,
}

/// One layer of a legacy `.sig`/`.att` manifest, fetched and digest-checked.
#[derive(Debug, Clone)]
pub struct LegacyLayer {
    /// The layer descriptor (media type, annotations).
    pub descriptor: Descriptor,
    /// Its content.
    pub content: Vec<u8>,
}

impl RegistryClient {
    /// The referrers of `subject` in `repo`, optionally only those whose
    /// `artifactType` equals `artifact_type` (filtered here, whatever the
    /// registry did with the query).
    pub async fn referrers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, OciError> {
        let (mut manifests, source) = match self.referrers_api(repo, subject).await? {
            ApiAnswer::Listed(list) => (list, ReferrersSource::Api),
            ApiAnswer::Unsupported(because) => (
                self.referrers_tag_schema(repo, subject).await?,
                ReferrersSource::TagSchema { because },
            ),
            ApiAnswer::ServerError(error) => (
                self.referrers_tag_schema(repo, subject).await?,
                ReferrersSource::TagSchemaAfterError { error },
            ),
        };
        if let Some(wanted) = artifact_type {
            manifests.retain(|d| d.artifact_type.as_deref() == Some(wanted));
        }
        Ok(Referrers { manifests, source })
    }

    /// The API's list, or why to fall back to the tag schema; `Err` for
    /// every failure that is not a reason to.
    async fn referrers_api(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
    ) -> Result<ApiAnswer, OciError> {
        let mut path = format!("/v2/{}/referrers/{subject}", repo.path());
        let mut all = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let response = self.send(repo, Method::GET, &path, &[OCI_INDEX]).await?;
            let status = response.status();
            let content_type = media_type(response.headers());
            if page == 0 {
                match status {
                    StatusCode::NOT_FOUND
                    | StatusCode::BAD_REQUEST
                    | StatusCode::NOT_ACCEPTABLE => {
                        return Ok(ApiAnswer::Unsupported(format!(
                            "the referrers API answered {status}"
                        )));
                    }
                    StatusCode::OK if content_type != OCI_INDEX => {
                        return Ok(ApiAnswer::Unsupported(format!(
                            "the referrers API answered 200 with Content-Type `{content_type}`, not an image index"
                        )));
                    }
                    s if s.is_server_error()
                        && self.referrers_fallback() == ReferrersFallback::OnServerError =>
                    {
                        let error = self.status_error(repo, &path, response).await;
                        return Ok(ApiAnswer::ServerError(error.to_string()));
                    }
                    _ => {}
                }
            }
            if status != StatusCode::OK {
                let error = self.status_error(repo, &path, response).await;
                return Err(OciError::Referrers {
                    subject: format!("{repo}@{subject}"),
                    reason: error.to_string(),
                });
            }
            let next =
                next_link_of(response.headers()).map_err(|e| OciError::ReferrersRefused {
                    subject: format!("{repo}@{subject}"),
                    reason: e.to_string(),
                })?;
            let bytes = read_limited(response, MAX_MANIFEST_SIZE, "referrers index").await?;
            let index: ImageIndex =
                parse_json(&bytes, "referrers index").map_err(|e| OciError::ReferrersRefused {
                    subject: format!("{repo}@{subject}"),
                    reason: format!(
                        "GET {}{path} answered 200 with Content-Type `{OCI_INDEX}` but the \
                         body is not a valid image index ({e})",
                        self.base_url(repo.registry())
                    ),
                })?;
            all.extend(index.manifests);
            if all.len() > MAX_REFERRERS {
                return Err(OciError::ReferrersRefused {
                    subject: format!("{repo}@{subject}"),
                    reason: format!("more than {MAX_REFERRERS} referrers"),
                });
            }
            match next {
                Some(next) if next.starts_with("/v2/") => path = next,
                Some(next) => {
                    return Err(OciError::ReferrersRefused {
                        subject: format!("{repo}@{subject}"),
                        reason: format!("refusing to follow a Link to another host: {next}"),
                    });
                }
                None => return Ok(ApiAnswer::Listed(all)),
            }
        }
        Err(OciError::ReferrersRefused {
            subject: format!("{repo}@{subject}"),
            reason: format!("more than {MAX_REFERRER_PAGES} pages of referrers"),
        })
    }

    /// The referrers tag schema: the image index tagged `sha256-<hex>`
    /// (distribution-spec v1.1); none is an empty list.
    async fn referrers_tag_schema(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
    ) -> Result<Vec<Descriptor>, OciError> {
        let tag = Tag::for_digest(subject, "");
        let Some(fetched) = self.manifest(repo, tag.as_str(), &[OCI_INDEX]).await? else {
            return Ok(Vec::new());
        };
        let index: ImageIndex = parse_json(&fetched.bytes, &format!("referrers tag {repo}:{tag}"))?;
        if index.manifests.len() > MAX_REFERRERS {
            return Err(OciError::ReferrersRefused {
                subject: format!("{repo}@{subject}"),
                reason: format!("more than {MAX_REFERRERS} referrers in the tag-schema index"),
            });
        }
        Ok(index.manifests)
    }

    /// The Sigstore bundles attached to `subject` as referrers. Referrers
    /// that are not Sigstore bundles are skipped (they are expected: SBOMs
    /// pushed by other tools, …), as cosign does.
    pub async fn sigstore_bundles(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
    ) -> Result<(Vec<BundleReferrer>, ReferrersSource), OciError> {
        let referrers = self.referrers(repo, subject, None).await?;
        let mut bundles = Vec::new();
        for descriptor in &referrers.manifests {
            let is_bundle = descriptor
                .artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX));
            if !is_bundle {
                continue;
            }
            let digest = descriptor_digest(descriptor)?;
            let Some(fetched) = self
                .manifest(repo, &digest.to_string(), &[OCI_MANIFEST])
                .await?
            else {
                continue;
            };
            let manifest: ImageManifest =
                parse_json(&fetched.bytes, &format!("bundle referrer {digest}"))?;
            let [layer] = manifest.layers.as_slice() else {
                continue;
            };
            if !layer.media_type.starts_with(SIGSTORE_BUNDLE_PREFIX) {
                continue;
            }
            let blob = self
                .blob(
                    repo,
                    &descriptor_digest(layer)?,
                    MAX_ATTACHMENT_SIZE.min(layer.size.max(1)),
                )
                .await?;
            bundles.push(BundleReferrer {
                manifest_digest: digest,
                artifact_type: manifest
                    .artifact_type
                    .clone()
                    .or_else(|| descriptor.artifact_type.clone()),
                predicate_type_hint: manifest
                    .annotations
                    .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                    .cloned(),
                bundle: blob.bytes,
            });
        }
        Ok((bundles, referrers.source))
    }

    /// The layers of the legacy cosign manifest tagged `sha256-<hex>.<suffix>`
    /// in `repo`; empty when there is no such tag.
    pub async fn legacy_layers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        suffix: &str,
    ) -> Result<Vec<LegacyLayer>, OciError> {
        let tag = Tag::for_digest(subject, suffix);
        let accept = [OCI_MANIFEST, DOCKER_MANIFEST];
        let Some(fetched) = self.manifest(repo, tag.as_str(), &accept).await? else {
            return Ok(Vec::new());
        };
        let manifest: ImageManifest = parse_json(&fetched.bytes, &format!("{repo}:{tag}"))?;
        if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(OciError::Malformed {
                what: format!("{repo}:{tag}"),
                reason: format!(
                    "{} layers, more than the {MAX_SIGNATURE_LAYERS} cosign allows",
                    manifest.layers.len()
                ),
            });
        }
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for descriptor in manifest.layers {
            if descriptor.size > MAX_ATTACHMENT_SIZE {
                return Err(OciError::TooLarge {
                    what: format!("layer {} of {repo}:{tag}", descriptor.digest),
                    limit: MAX_ATTACHMENT_SIZE,
                });
            }
            let blob = self
                .blob(
                    repo,
                    &descriptor_digest(&descriptor)?,
                    descriptor.size.max(1),
                )
                .await?;
            layers.push(LegacyLayer {
                descriptor,
                content: blob.bytes,
            });
        }
        Ok(layers)
    }
}

/// A descriptor's digest, which vouch fetches only as SHA-256.
fn descriptor_digest(descriptor: &Descriptor) -> Result<Sha256Digest, OciError> {
    descriptor.sha256().map_err(|e| OciError::Malformed {
        what: "descriptor".into(),
        reason: e.to_string(),
    })
}

//! What the image commands share: a registry client with the user's
//! credentials, resolving a reference to a digest once, and where signatures
//! live.

use std::path::PathBuf;

use vouch_oci::{
    AuthLocations, ClientOptions, CredentialStore, PlainHttp, Reference, ReferrersFallback,
    RegistryClient, Repository, TlsVerification, Transport, oci,
};
use vouch_verify::{ClaimCheck, LogCheck, Sha256Digest, TimestampCheck, TrustedMaterial};

use crate::args::RegistryArgs;
use crate::failure::{Failure, FailureKind};

/// An image resolved to the digest everything else is checked against.
pub struct ResolvedImage {
    /// The reference as the user typed it (parsed); for `--local-image`, a
    /// placeholder in [`LOCAL_REGISTRY`] (a layout has no registry name).
    pub reference: Reference,
    /// What to call the image in output: the reference, or the layout's path.
    pub shown: String,
    /// Read from an OCI image layout on disk (`--local-image`).
    pub local: bool,
    /// The digest: pinned by the user, or what the tag pointed to once.
    pub digest: Sha256Digest,
    /// Where its signatures and attestations are looked up.
    pub signatures: Repository,
}

/// Credential file locations from the environment (docker, podman).
pub fn auth_locations() -> AuthLocations {
    let path = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    AuthLocations {
        registry_auth_file: path("REGISTRY_AUTH_FILE"),
        xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
        docker_config_dir: path("DOCKER_CONFIG"),
        home: path("HOME"),
    }
}

/// A client configured from the flags and the user's credential files. The
/// two registry flags are independent, as in cosign: `--allow-http-registry`
/// lets any registry fall back to plain HTTP when HTTPS fails,
/// `--allow-insecure-registry` skips HTTPS certificate verification.
pub fn client(
    args: &RegistryArgs,
    credentials: CredentialStore,
) -> Result<RegistryClient, Failure> {
    let transport = Transport {
        plain_http: if args.allow_http_registry {
            PlainHttp::Allowed
        } else {
            PlainHttp::LoopbackOnly
        },
        tls: if args.allow_insecure_registry {
            TlsVerification::InsecureSkipVerify
        } else {
            TlsVerification::Verify
        },
    };
    // Options that weaken the transport say so (STYLE.md): what is verified
    // does not change, but who can see and replace the traffic does.
    if args.allow_insecure_registry {
        eprintln!(
            "WARNING: --allow-insecure-registry: registry TLS certificates are not verified; \
             anyone on the network path can impersonate the registry (signatures are still \
             verified)"
        );
    }
    if args.allow_http_registry {
        eprintln!(
            "WARNING: --allow-http-registry: a registry that fails over HTTPS is reached over \
             plain HTTP; credentials and content cross the network unencrypted (signatures \
             are still verified)"
        );
    }
    let referrers_fallback = if args.referrers_fallback_on_error {
        ReferrersFallback::OnServerError
    } else {
        ReferrersFallback::AsSpecified
    };
    Ok(RegistryClient::new(ClientOptions {
        credentials,
        transport,
        referrers_fallback,
        max_concurrency: args
            .max_workers
            .unwrap_or(vouch_oci::DEFAULT_MAX_CONCURRENCY),
        ..ClientOptions::default()
    })?)
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                FailureKind::Verification,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// Runs `work` until it completes or the user presses Ctrl-C; then it is
/// dropped (its requests cancelled) and the failure is
/// [`FailureKind::Interrupted`] (exit 130), before any output was written.
pub async fn until_interrupted<T>(
    work: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    let interrupted = async {
        // Without a SIGINT handler, Ctrl-C keeps its default action (the
        // process ends at once): never mistake that for an interruption.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        done = work => Ok(done),
        () = interrupted => Err(Failure::new(FailureKind::Interrupted, "interrupted")),
    }
}

/// Parses `image`, resolves a tag to its digest (once: everything after uses
/// `repo@digest`, ATTACKS.md G.71) and warns that tags can move.
pub async fn resolve(
    client: &RegistryClient,
    args: &RegistryArgs,
    image: &str,
) -> Result<ResolvedImage, Failure> {
    let reference: Reference = image.parse()?;
    let digest = match reference.digest() {
        Some(digest) => digest,
        None => {
            let tag = reference.manifest_reference();
            let fetched = client
                .manifest(reference.repository(), &tag, oci::MANIFEST_ACCEPT)
                .await?
                .ok_or_else(|| {
                    Failure::new(
                        FailureKind::TagNotFound,
                        format!("image tag not found: {reference} (the registry answered 404 for tag `{tag}`)"),
                    )
                })?;
            eprintln!(
                "WARNING: {reference} is a tag; it resolved to {}. A tag can be repointed: \
                 verify by digest (IMAGE@{}) to check exactly what you run.",
                fetched.digest, fetched.digest
            );
            fetched.digest
        }
    };
    let signatures = match &args.signatures_repository {
        Some(repo) => {
            let parsed: Reference = repo.parse()?;
            parsed.repository().clone()
        }
        None => reference.repository().clone(),
    };
    Ok(ResolvedImage {
        shown: reference.to_string(),
        local: false,
        reference,
        digest,
        signatures,
    })
}

/// The registry name of the placeholder reference an image read from a
/// layout gets ([`ResolvedImage::reference`]); nothing is ever sent to it.
pub const LOCAL_REGISTRY: &str = "localhost";
/// The repository of that placeholder reference.
const LOCAL_REPOSITORY: &str = "local-image";

/// Where `verify` and `verify-attestation` read images from.
pub enum Origin {
    /// A registry (the default).
    Registry(RegistryClient),
    /// OCI image layouts on disk, one per IMAGE (`--local-image`): no
    /// network at all.
    LocalImage,
}

impl Origin {
    /// The origin the flags ask for; with `--local-image` no registry
    /// client is made (and none of the registry flags' warnings printed).
    pub fn from_args(
        source: &crate::args::ImageSourceArgs,
        registry: &RegistryArgs,
    ) -> Result<Self, Failure> {
        if source.local_image {
            return Ok(Self::LocalImage);
        }
        let credentials = CredentialStore::new(auth_locations());
        Ok(Self::Registry(client(registry, credentials)?))
    }
}

/// Resolves IMAGE (a reference, or with `--local-image` the path of a
/// layout) and verifies everything attached to it ([`attached`]).
pub async fn resolve_attached(
    origin: &Origin,
    args: &RegistryArgs,
    image: &str,
    material: &TrustedMaterial,
    policy: &vouch_verify::SignerPolicy,
    lookup: vouch_image::Lookup,
) -> Result<(ResolvedImage, vouch_image::Attached), Failure> {
    match origin {
        Origin::Registry(client) => {
            let resolved = resolve(client, args, image).await?;
            let found = attached(client, material, policy, &resolved, lookup).await?;
            Ok((resolved, found))
        }
        Origin::LocalImage => {
            let layout = vouch_oci::OciLayout::open(std::path::Path::new(image))
                .map_err(vouch_oci::OciError::from)?;
            let digest = layout.subject_image().map_err(vouch_oci::OciError::from)?;
            let repository =
                Repository::new(vouch_oci::Registry::new(LOCAL_REGISTRY)?, LOCAL_REPOSITORY)?;
            let resolved = ResolvedImage {
                reference: Reference::with_digest(repository.clone(), digest),
                shown: image.to_string(),
                local: true,
                digest,
                signatures: repository,
            };
            let found = attached(&layout, material, policy, &resolved, lookup).await?;
            Ok((resolved, found))
        }
    }
}

/// cosign's verification header (SPEC.md §4.3), on stderr.
pub fn print_header(image: &str, lines: &[&str]) {
    eprintln!("\nVerification for {image} --");
    eprintln!("The following checks were performed on each of these signatures:");
    for line in lines {
        eprintln!("  - {line}");
    }
}

/// cosign's list of the checks made on each signature, without those the
/// infrastructure flags switched off.
pub fn checks_performed(material: &TrustedMaterial) -> Vec<&'static str> {
    let checks = material.checks();
    let mut lines = Vec::new();
    if checks.claims == ClaimCheck::Required {
        lines.push("The cosign claims were validated");
    }
    if checks.log == LogCheck::Required {
        lines.push("Existence of the claims in the transparency log was verified offline");
    }
    if checks.timestamp == TimestampCheck::Required {
        lines.push("The signatures carried RFC 3161 timestamps from a trusted timestamp authority");
    }
    lines.push(
        "The code-signing certificate was verified using trusted certificate authority certificates",
    );
    lines
}

/// The manifest digest for `platform` (`os/arch[/variant]`) in the image
/// index `image` names; an error when `image` is not an index or has no such
/// platform.
pub async fn platform_manifest(
    client: &RegistryClient,
    image: &ResolvedImage,
    platform: &str,
) -> Result<Sha256Digest, Failure> {
    let mut parts = platform.splitn(3, '/');
    let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
        return Err(Failure::usage(format!(
            "--platform `{platform}`: expected os/arch or os/arch/variant"
        )));
    };
    let variant = parts.next();
    let repo = image.reference.repository();
    let fetched = client
        .manifest(repo, &image.digest.to_string(), oci::MANIFEST_ACCEPT)
        .await?
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Verification,
                format!("manifest {repo}@{} not found", image.digest),
            )
        })?;
    let not_index = || {
        Failure::usage(format!(
            "--platform {platform}: {repo}@{} is a single-platform image ({}), not an index",
            image.digest, fetched.media_type
        ))
    };
    if fetched.media_type != oci::OCI_INDEX && fetched.media_type != oci::DOCKER_MANIFEST_LIST {
        return Err(not_index());
    }
    let index: oci::ImageIndex = serde_json::from_slice(&fetched.bytes).map_err(|e| {
        Failure::new(
            FailureKind::Verification,
            format!("malformed image index {repo}@{}: {e}", image.digest),
        )
    })?;
    let available: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| {
            format!(
                "{}/{}{}",
                p.os,
                p.architecture,
                p.variant
                    .as_ref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let entry = index.manifests.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == os
                && p.architecture == arch
                && (variant.is_none() || p.variant.as_deref() == variant)
        })
    });
    let entry = entry.ok_or_else(|| {
        Failure::usage(format!(
            "--platform {platform}: not in the index {repo}@{}; it has {}",
            image.digest,
            available.join(", ")
        ))
    })?;
    entry.sha256().map_err(|e| {
        vouch_oci::OciError::Malformed {
            what: format!("index {repo}@{}", image.digest),
            reason: e.to_string(),
        }
        .into()
    })
}

/// Everything attached to the image, verified; "no signatures found" (exit
/// 10) when there is nothing of the kind `lookup` asks for.
pub async fn attached(
    client: &impl vouch_oci::ImageSource,
    material: &vouch_verify::TrustedMaterial,
    policy: &vouch_verify::SignerPolicy,
    image: &ResolvedImage,
    lookup: vouch_image::Lookup,
) -> Result<vouch_image::Attached, Failure> {
    let found = vouch_image::verify_attached(
        client,
        material,
        &image.signatures,
        image.digest,
        policy,
        lookup,
    )
    .await?;
    if let Some(warning) = found.fallback_warning() {
        eprintln!("WARNING: {}@{}: {warning}", image.signatures, image.digest);
    }
    let (candidates, what, suffix) = match lookup {
        vouch_image::Lookup::Attestations => (found.attestation_candidates, "attestations", "att"),
        _ => (found.signature_candidates, "signatures", "sig"),
    };
    if candidates == 0 {
        return Err(Failure::new(
            FailureKind::NoSignatures,
            format!(
                "no {what} found for {}@{} (looked for Sigstore bundle referrers and the legacy tag \
                 sha256-{}.{suffix} in {})",
                if image.local {
                    image.shown.clone()
                } else {
                    image.reference.repository().to_string()
                },
                image.digest,
                image.digest.hex(),
                if image.local {
                    "the layout".to_string()
                } else {
                    image.signatures.to_string()
                }
            ),
        ));
    }
    Ok(found)
}

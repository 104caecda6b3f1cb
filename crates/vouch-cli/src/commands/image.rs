//! What the image commands share: a registry client with the user's
//! credentials, resolving a reference to a digest once, and where signatures
//! live.

use std::path::PathBuf;

use vouch_oci::{
    AuthLocations, ClientOptions, CredentialStore, Reference, RegistryClient, Repository,
    Transport, oci,
};
use vouch_verify::Sha256Digest;

use crate::args::RegistryArgs;
use crate::failure::{Failure, FailureKind};

/// An image resolved to the digest everything else is checked against.
pub struct ResolvedImage {
    /// The reference as the user typed it (parsed).
    pub reference: Reference,
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

/// A client configured from the flags and the user's credential files.
pub fn client(
    args: &RegistryArgs,
    credentials: CredentialStore,
) -> Result<RegistryClient, Failure> {
    let transport = match (args.allow_insecure_registry, args.allow_http_registry) {
        (true, _) => Transport::InsecureSkipTlsVerify,
        (false, true) => Transport::AllowHttp,
        (false, false) => Transport::Https,
    };
    Ok(RegistryClient::new(ClientOptions {
        credentials,
        transport,
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
        reference,
        digest,
        signatures,
    })
}

/// cosign's verification header (SPEC.md §4.3), on stderr.
pub fn print_header(reference: &Reference, lines: &[&str]) {
    eprintln!("\nVerification for {reference} --");
    eprintln!("The following checks were performed on each of these signatures:");
    for line in lines {
        eprintln!("  - {line}");
    }
}

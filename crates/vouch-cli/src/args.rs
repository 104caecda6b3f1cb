//! Command-line arguments ("low-level args", STYLE.md): clap types only;
//! nothing here does work. Flag names follow cosign's where cosign has one.
//!
//! The doc comments below are the `--help` text, written for a terminal:
//! bare URLs and `<image>` placeholders are meant literally.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// vouch — verify software distributed as container images and blobs,
/// signed keylessly with Sigstore (cosign-compatible).
#[derive(Debug, Parser)]
#[command(name = "vouch", version, long_version = vouch_clikit::LONG_VERSION, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 verified, 1 verification failed, 2 usage error, \
3 unreadable or malformed input, 4 registry or network access failed. \
See docs/exit-codes.md."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify the signatures on container images (like `cosign verify`).
    ///
    /// Finds both Sigstore bundle referrers (cosign v3) and legacy
    /// `sha256-<hex>.sig` signatures, verifies each offline against the trusted
    /// root, and prints cosign's output: the checks on stderr, the verified
    /// payloads as a JSON array on stdout.
    ///
    /// Example (a license-gated proxy; log in first with `vouch login`):
    ///   vouch verify \
    ///     --certificate-identity-regexp 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*' \
    ///     --certificate-oidc-issuer https://token.actions.githubusercontent.com \
    ///     registry.example.com/acme/app@sha256:...
    ///
    /// Exit codes: 0 verified, 10 no signatures found, 11 tag not found,
    /// 12 no matching signatures, 1 other verification failure, 4 registry
    /// access failed (nothing was verified).
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),
    /// Verify in-toto attestations on container images (like `cosign
    /// verify-attestation`), filtered by predicate type.
    ///
    /// stdout gets one DSSE envelope per matching attestation, in cosign's
    /// shape, so `jq -r .payload | base64 -d | jq .predicate` works unchanged.
    /// `--summary` prints what they say instead (SBOM packages, SLSA builder,
    /// VEX statements); `--predicate-out` writes the predicate to a file (e.g.
    /// `vex.json` for `trivy --vex`).
    #[command(verbatim_doc_comment)]
    VerifyAttestation(VerifyAttestationArgs),
    /// Verify a whole release in one pass: every image's signature and
    /// required attestations, as a release policy file says (see
    /// docs/release-policy.md).
    ///
    ///   vouch verify-release --policy release.toml --version 1.2.0
    ///
    /// Prints a table (or --output json), optionally a JUnit file for CI and
    /// each image's OpenVEX document for `trivy --vex`. An image missing at
    /// that version fails the release, unless the policy marks it optional
    /// (or --allow-missing). Exit code 0 only when every required check
    /// passed; 1 when any image failed; 4 when a registry could not be read.
    #[command(verbatim_doc_comment)]
    VerifyRelease(VerifyReleaseArgs),
    /// Carry a whole release across an air gap: save it as one OCI image
    /// layout, verify it there with no network, load it into a private
    /// registry.
    ///
    ///   vouch release save --policy release.toml --version v1.2.0 --output r.tar
    ///   vouch release verify --layout r.tar
    ///   vouch release load --layout r.tar --to registry.internal/vendor --policy-out m.toml
    ///
    /// See docs/air-gap.md.
    #[command(verbatim_doc_comment, subcommand)]
    Release(ReleaseCommand),
    /// Verify what a Kubernetes cluster is actually running, against a release
    /// policy: every container's image digest (`status.containerStatuses[].imageID`)
    /// must be a release image signed by the policy's identity, or a pinned
    /// third-party image.
    ///
    ///   vouch audit --policy release.toml -n production
    ///
    /// Reads pods through the Kubernetes API with your kubeconfig (KUBECONFIG,
    /// ~/.kube/config, --context) or in-cluster credentials. Exit code 0 only when
    /// every running image passed.
    #[command(verbatim_doc_comment)]
    Audit(AuditArgs),
    /// List what is attached to an image: referrers and cosign tags (like
    /// `oras discover` / `cosign tree`).
    Discover(DiscoverArgs),
    /// Print the digest a tag points to (like `crane digest`).
    Digest(DigestArgs),
    /// Store registry credentials the way `docker login` does (docker's
    /// config.json, 0600), so docker, podman and vouch share them.
    ///
    ///   echo "$LICENSE_ID" | vouch login registry.example.com -u you@example.com --password-stdin
    #[command(verbatim_doc_comment)]
    Login(LoginArgs),
    /// Verify a blob against a Sigstore bundle (like `cosign verify-blob --bundle`).
    ///
    /// Example:
    ///   vouch verify-blob --bundle app.tgz.sigstore.json \
    ///     --certificate-identity-regexp 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*' \
    ///     --certificate-oidc-issuer https://token.actions.githubusercontent.com app.tgz
    ///
    /// Regular expressions match the WHOLE value (cosign matches any substring).
    #[command(verbatim_doc_comment)]
    VerifyBlob(VerifyBlobArgs),
    /// Verify an in-toto attestation bundle about a blob (like
    /// `cosign verify-blob-attestation --bundle`), optionally filtered by
    /// predicate type.
    #[command(verbatim_doc_comment)]
    VerifyBlobAttestation(VerifyBlobAttestationArgs),
    /// Verify a bundle, speaking the sigstore-conformance CLI protocol.
    ///
    /// vouch verify-bundle [--staging] --bundle F
    ///   (--certificate-identity I --certificate-oidc-issuer U | --key K)
    ///   [--trusted-root F] FILE|sha256:DIGEST
    #[command(verbatim_doc_comment)]
    VerifyBundle(VerifyBundleArgs),
    /// Not supported: vouch only verifies (part of the conformance protocol).
    #[command(hide = true)]
    SignBundle(SignBundleArgs),
    /// Trust material: show it, refresh it, or carry it across an air gap.
    ///
    ///   vouch trust show [--output json]   instances, keys, validity, age
    ///   vouch trust refresh                fetch from TUF now (cosign initialize)
    ///   vouch trust export DIR             on a connected machine
    ///   vouch trust import DIR             on the air-gapped one (verified first)
    ///
    /// See docs/air-gap.md.
    #[command(verbatim_doc_comment, subcommand)]
    Trust(TrustCommand),
    /// Print vouch's version, the commit it was built from, the build date
    /// and the date of the trusted root embedded in it (like `cosign version`).
    Version(VersionArgs),
    /// Print what is attached to an image, as found and NOT verified (like
    /// `cosign download`): `signature` (bundle referrers of cosign's signature
    /// type, one JSON line each, then legacy `.sig` layers in cosign's
    /// shape), `attestation` (DSSE envelopes, one JSON line each; `--predicate-type`
    /// filters), `sbom` (legacy `.sbom` attachments). Verify with `vouch verify`
    /// or `verify-attestation`; use this to inspect or archive.
    ///
    ///   vouch download attestation --predicate-type openvex IMAGE | jq -r .payload | base64 -d
    ///
    /// Exit codes: 0 something printed, 10 nothing of that kind attached,
    /// 11 tag not found, 4 registry access failed.
    #[command(verbatim_doc_comment, subcommand)]
    Download(DownloadCommand),
    /// Print a shell completion script (like `cosign completion`).
    ///
    ///   vouch completion bash > /etc/bash_completion.d/vouch
    ///   vouch completion zsh  > "${fpath[1]}/_vouch"
    ///   vouch completion fish > ~/.config/fish/completions/vouch.fish
    ///   vouch completion powershell >> $PROFILE
    #[command(verbatim_doc_comment)]
    Completion(CompletionArgs),
    /// Write man pages for vouch and each of its commands (vouch.1,
    /// vouch-verify.1, …) into a directory.
    ///
    ///   sudo vouch man --dir /usr/local/share/man/man1 && man vouch-verify
    #[command(verbatim_doc_comment)]
    Man(ManArgs),
}

impl Command {
    /// Whether the command was asked for JSON on stdout: then a failure is
    /// a JSON error document there too (docs/exit-codes.md, "JSON errors").
    pub fn wants_json(&self) -> bool {
        let json = |format: &OutputFormat| *format == OutputFormat::Json;
        match self {
            Self::Verify(a) => json(&a.output),
            Self::VerifyAttestation(a) => json(&a.output),
            Self::VerifyRelease(a) => json(&a.report.output),
            Self::Release(ReleaseCommand::Verify(a)) => json(&a.report.output),
            Self::Release(ReleaseCommand::Load(a)) => json(&a.report.output),
            Self::Audit(a) => json(&a.output),
            Self::Discover(a) => json(&a.output),
            Self::VerifyBlob(a) => json(&a.output),
            Self::VerifyBlobAttestation(a) => json(&a.output),
            Self::Trust(TrustCommand::Show(a)) => json(&a.output),
            Self::Trust(TrustCommand::Refresh(a)) => json(&a.output),
            Self::Version(a) => a.json || json(&a.output),
            Self::Trust(TrustCommand::Export(_) | TrustCommand::Import(_))
            | Self::Release(ReleaseCommand::Save(_))
            | Self::Digest(_)
            | Self::Download(_)
            | Self::Login(_)
            | Self::VerifyBundle(_)
            | Self::SignBundle(_)
            | Self::Completion(_)
            | Self::Man(_) => false,
        }
    }
}

/// `vouch download`: what to print.
#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// Signatures: cosign v3 bundle referrers, then legacy `.sig` layers.
    Signature(DownloadArgs),
    /// Attestations: DSSE envelopes from bundle referrers and `.att` layers.
    Attestation(DownloadAttestationArgs),
    /// Legacy `.sbom` attachments (cosign attach sbom), as stored.
    Sbom(DownloadArgs),
}

/// `vouch download signature|sbom`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// `vouch download attestation`.
#[derive(Debug, Args)]
pub struct DownloadAttestationArgs {
    /// Only attestations whose (unverified) statement has this predicate
    /// type: a `--type` name (spdxjson, slsaprovenance1, openvex, …) or a URI.
    #[arg(long, value_name = "TYPE")]
    pub predicate_type: Option<String>,
    /// The image and registry access.
    #[command(flatten)]
    pub target: DownloadArgs,
}

/// `vouch version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// `text` (default) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The same as `--output json` (cosign's flag).
    #[arg(long)]
    pub json: bool,
}

/// `vouch completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: vouch_clikit::Shell,
}

/// `vouch man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages to (created if missing), e.g.
    /// /usr/local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Where the trusted root comes from (docs/air-gap.md).
///
/// Default: Sigstore public-good's `trusted_root.json` through TUF, from the
/// cache when its timestamp is still valid, else refreshed from the mirror.
#[derive(Debug, Args, Clone, Default)]
pub struct TrustArgs {
    /// A `trusted_root.json` to trust as is, bypassing TUF (offline use,
    /// private Sigstore instances). Wins over the TUF flags and the
    /// `SIGSTORE_*` / `TUF_*` variables, as in cosign.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// TUF: cache, network, mirror.
    #[command(flatten)]
    pub tuf: TufArgs,
}

/// How the TUF repository is reached and cached (docs/air-gap.md).
#[derive(Debug, Args, Clone, Default)]
pub struct TufArgs {
    /// Never use the network for trust material: the TUF cache (even
    /// expired; its age is printed) or, with no cache, the trusted root
    /// embedded in vouch. Registry access is not affected.
    #[arg(long, env = "VOUCH_OFFLINE", value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
    /// TUF cache directory (default $TUF_ROOT as in cosign, else
    /// $XDG_CACHE_HOME/vouch/tuf, else ~/.cache/vouch/tuf). Each mirror gets
    /// a subdirectory.
    #[arg(long, value_name = "DIR")]
    pub tuf_cache: Option<PathBuf>,
    /// TUF repository of a private Sigstore instance (default $TUF_MIRROR as
    /// in cosign). Without --tuf-root, the root.json cached for it by an
    /// earlier run or import is used.
    #[arg(long, value_name = "URL")]
    pub tuf_mirror: Option<String>,
    /// The initial `root.json` of the --tuf-mirror repository, trusted to
    /// bootstrap it (default $TUF_ROOT_JSON when a mirror is given).
    #[arg(long, value_name = "FILE")]
    pub tuf_root: Option<PathBuf>,
}

/// Who must have signed (cosign's identity flags).
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// The exact certificate identity (SAN): an email or a workflow URI.
    #[arg(long, value_name = "IDENTITY")]
    pub certificate_identity: Option<String>,
    /// A pattern the whole certificate identity must match (RE2 syntax).
    /// Unlike cosign, vouch anchors it: write `.*` where the value may continue.
    #[arg(long, value_name = "REGEXP")]
    pub certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer, e.g. https://token.actions.githubusercontent.com.
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// A pattern the whole OIDC issuer must match.
    #[arg(long, value_name = "REGEXP")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Require this GitHub workflow trigger (e.g. `push`), OID .1.2.
    #[arg(long, value_name = "EVENT")]
    pub certificate_github_workflow_trigger: Option<String>,
    /// Require this GitHub workflow commit SHA, OID .1.3.
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,
    /// Require this GitHub workflow name, OID .1.4.
    #[arg(long, value_name = "NAME")]
    pub certificate_github_workflow_name: Option<String>,
    /// Require this GitHub repository (`owner/name`), OID .1.5.
    #[arg(long, value_name = "OWNER/NAME")]
    pub certificate_github_workflow_repository: Option<String>,
    /// Require this git ref (e.g. `refs/tags/v1.2.3`), OID .1.6.
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
    /// Verify a managed-key signature with this PEM public key instead of a
    /// Fulcio certificate identity.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Trust domains other than Sigstore public-good: private deployments and
/// GitHub's instance for private repositories (cosign's flags, same
/// meaning). Each check switched off prints one WARNING line naming it.
#[derive(Debug, Args, Clone, Default)]
pub struct InfrastructureArgs {
    /// Do not check transparency log inclusion (cosign's flag), for
    /// signatures never uploaded to a log. Each signature then needs an
    /// RFC 3161 timestamp from a timestamp authority of the trusted root
    /// (or a verified Signed Entry Timestamp): vouch never falls back to
    /// the clock, as cosign does.
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// The same as --insecure-ignore-tlog, for a privately deployed
    /// infrastructure that has no transparency log (cosign's flag).
    #[arg(long)]
    pub private_infrastructure: bool,
    /// Do not check that the certificate carries an SCT from a CT log of
    /// the trusted root (cosign's flag). The certificate chain, validity
    /// and code-signing usage are still checked.
    #[arg(long)]
    pub insecure_ignore_sct: bool,
    /// Require an RFC 3161 timestamp from a timestamp authority of the
    /// trusted root on every signature (cosign's flag).
    #[arg(long)]
    pub use_signed_timestamps: bool,
    /// PEM root certificates to check signing certificates against,
    /// instead of the trusted root's Fulcio CAs (cosign's flag).
    #[arg(long, value_name = "FILE", conflicts_with = "certificate_chain")]
    pub ca_roots: Option<PathBuf>,
    /// PEM intermediate CA certificates, each chaining to --ca-roots
    /// (cosign's flag; only with --ca-roots).
    #[arg(
        long,
        value_name = "FILE",
        requires = "ca_roots",
        conflicts_with = "certificate_chain"
    )]
    pub ca_intermediates: Option<PathBuf>,
    /// A PEM chain from the signing certificate's issuer to its root,
    /// instead of the trusted root's Fulcio CAs (cosign's flag).
    #[arg(long, value_name = "FILE")]
    pub certificate_chain: Option<PathBuf>,
}

/// What the signed payload must say and where the image is read from
/// (cosign's `--check-claims` and `--local-image`, same meaning).
#[derive(Debug, Args, Clone)]
pub struct ImageSourceArgs {
    /// Check that the signed payload names the image verified: the
    /// `docker-manifest-digest` of a `.sig` payload, a subject of an
    /// in-toto statement (cosign's flag, default true).
    /// `--check-claims=false` verifies only the signature, certificate,
    /// log and identity, so a signature made for another image is
    /// accepted; it prints a WARNING.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub check_claims: bool,
    /// IMAGE is the path of an OCI image layout on disk, as `cosign save`
    /// or `skopeo copy … oci:DIR` write it (cosign's flag). Nothing is
    /// read from a registry.
    #[arg(long)]
    pub local_image: bool,
}

/// How registries are reached.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP to any registry (cosign's flag): HTTPS is tried
    /// first, plain HTTP when it fails. Loopback registries always may.
    /// Testing only.
    #[arg(long)]
    pub allow_http_registry: bool,
    /// Skip TLS certificate verification (cosign's flag): accept self-signed
    /// or expired certificates. Does not allow plain HTTP. Testing only.
    #[arg(long)]
    pub allow_insecure_registry: bool,
    /// When the registry's referrers API fails with a server error (5xx),
    /// search the referrers tag schema and the legacy `.sig`/`.att` tags
    /// anyway, with a WARNING, instead of failing. For a broken registry or
    /// proxy: signatures attached only through the referrers API (cosign v3
    /// bundles) are then not seen.
    #[arg(long)]
    pub referrers_fallback_on_error: bool,
    /// Look for signatures and attestations in this repository instead of
    /// the image's own (cosign's COSIGN_REPOSITORY).
    #[arg(long, value_name = "REPOSITORY", env = "COSIGN_REPOSITORY")]
    pub signatures_repository: Option<String>,
    /// Registry requests in flight at once, from 1 to 256 (cosign's
    /// `--max-workers`; default 16).
    #[arg(long, value_name = "N", value_parser = max_workers)]
    pub max_workers: Option<usize>,
}

/// The most `--max-workers` allows: as `--concurrency`, more buys nothing.
pub const MAX_WORKERS: usize = 256;

/// Parses `--max-workers`: a whole number from 1 to [`MAX_WORKERS`].
fn max_workers(text: &str) -> Result<usize, BadCount> {
    count_in(text, MAX_WORKERS)
}

/// `vouch verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Who must have signed.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
    /// --check-claims, --local-image.
    #[command(flatten)]
    pub source: ImageSourceArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// `json` (default, cosign's array of payloads) or `text` (raw payloads).
    #[arg(long, short = 'o', value_enum, default_value = "json")]
    pub output: OutputFormat,
    /// For a multi-arch image, also resolve and report the manifest for this
    /// platform (`os/arch[/variant]`). The signature checked is still the one
    /// on the digest the reference names, as cosign does.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// An annotation the signature must carry, `key=value` (repeatable, as
    /// cosign's): in the signed payload's `optional` map (`.sig`) or the
    /// signed statement's subject annotations (bundles). A verified
    /// signature without it does not count.
    #[arg(long = "annotations", short = 'a', value_name = "KEY=VALUE", value_parser = annotation)]
    pub annotations: Vec<(String, String)>,
    /// Images to verify: `registry/repo:tag` or `registry/repo@sha256:…`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `vouch verify-attestation`.
#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// Predicate type: spdxjson, spdx, cyclonedx, slsaprovenance1,
    /// slsaprovenance (v0.2), openvex (any https://openvex.dev/ns/v*), vuln,
    /// custom (the default, as in cosign), link, or a predicate URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// Print a summary of each matching attestation instead of the envelopes.
    #[arg(long, conflicts_with = "output")]
    pub summary: bool,
    /// `text` (default: cosign's DSSE envelopes, one per line) or `json`: one
    /// document with each image and its verified attestations (signer,
    /// predicate type, summary, predicate).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Write the predicate of the (single) matching attestation to FILE; only
    /// with exactly one IMAGE.
    #[arg(long, value_name = "FILE")]
    pub predicate_out: Option<PathBuf>,
    /// For SLSA provenance: the builder ID (`runDetails.builder.id`) must
    /// match this pattern as a whole.
    #[arg(long, value_name = "REGEXP")]
    pub slsa_builder_id_regexp: Option<String>,
    /// Who must have signed.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
    /// --check-claims, --local-image.
    #[command(flatten)]
    pub source: ImageSourceArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Images to verify.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `vouch verify-release`.
#[derive(Debug, Args)]
pub struct VerifyReleaseArgs {
    /// The release: policy, version, trust, registry.
    #[command(flatten)]
    pub release: ReleaseSourceArgs,
    /// Skip, instead of failing, images the policy requires that are missing
    /// at this version (prints a WARNING). A run in which no signed image
    /// verified still fails. By default a missing image fails the release,
    /// unless the policy marks it `optional = true` or `since` a later version.
    #[arg(long)]
    pub allow_missing: bool,
    /// Accepted for old scripts; failing on a missing image is the default now.
    #[arg(long, hide = true, conflicts_with = "allow_missing")]
    pub require_all: bool,
    /// The report: format, JUnit, VEX files, concurrency.
    #[command(flatten)]
    pub report: ReleaseReportArgs,
}

/// A release in a registry (`verify-release`, `release save`): its policy,
/// version, and how trust material and the registry are reached.
#[derive(Debug, Args)]
pub struct ReleaseSourceArgs {
    /// The release policy (TOML).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The release version: every image is `<registry>/<name>:<version>`.
    #[arg(long, value_name = "VERSION")]
    pub version: String,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How a release verification runs and reports (`verify-release`,
/// `release verify`).
#[derive(Debug, Args)]
pub struct ReleaseReportArgs {
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write each image's verified OpenVEX document to DIR/<image>.vex.json.
    #[arg(long, value_name = "DIR")]
    pub vex_dir: Option<PathBuf>,
    /// Images verified at once (1 to 256).
    #[arg(
        long,
        value_name = "N",
        default_value_t = vouch_release::DEFAULT_CONCURRENCY,
        value_parser = concurrency
    )]
    pub concurrency: usize,
    /// `text` (a table) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch release`: carry a whole release across an air gap.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Verify a release and save it, with everything attached to its
    /// images, the trusted root and the policy, as one OCI image layout
    /// (a directory, or a .tar with --output FILE.tar). See docs/air-gap.md.
    ///
    ///   vouch release save --policy release.toml --version v1.2.0 --output release-v1.2.0.tar
    ///
    /// A release that does not verify is not saved (unless --no-verify).
    /// An interrupted save resumes: blobs already saved are not fetched again.
    #[command(verbatim_doc_comment)]
    Save(ReleaseSaveArgs),
    /// Verify a saved release from its layout alone, with no network: the
    /// same report and exit codes as verify-release. A layout that was
    /// changed (a blob, a missing attachment or image, an extra image, a
    /// swapped trusted root or policy) is refused.
    ///
    ///   vouch release verify --layout release-v1.2.0.tar --layout-digest sha256:...
    #[command(verbatim_doc_comment)]
    Verify(ReleaseVerifyArgs),
    /// Push a saved release into a private registry under one prefix, then
    /// verify it there and write the policy rewritten to the mirror's names.
    /// The layout is verified first: nothing is pushed from a layout that
    /// does not verify. Idempotent.
    ///
    ///   vouch release load --layout release-v1.2.0.tar --to registry.internal/vendor \
    ///     --policy-out mirror.toml
    #[command(verbatim_doc_comment)]
    Load(ReleaseLoadArgs),
}

/// `vouch release save`.
#[derive(Debug, Args)]
pub struct ReleaseSaveArgs {
    /// The release (its policy is saved in the layout).
    #[command(flatten)]
    pub release: ReleaseSourceArgs,
    /// Where to write the layout: a directory, or FILE.tar for a tar of it.
    /// An existing directory from an interrupted save is resumed.
    #[arg(long, value_name = "DIR|FILE.tar")]
    pub output: PathBuf,
    /// Save the release even if it does not verify (prints a WARNING and
    /// records `dev.vouch.release.verified=false` in the layout). Images
    /// absent at the version are not saved.
    #[arg(long)]
    pub no_verify: bool,
    /// Images verified and saved at once (1 to 256).
    #[arg(
        long,
        value_name = "N",
        default_value_t = vouch_release::DEFAULT_CONCURRENCY,
        value_parser = concurrency
    )]
    pub concurrency: usize,
}

/// `vouch release verify`.
#[derive(Debug, Args)]
pub struct ReleaseVerifyArgs {
    /// The saved release and what to verify it with.
    #[command(flatten)]
    pub saved: SavedLayoutArgs,
    /// The report: format, JUnit, VEX files, concurrency.
    #[command(flatten)]
    pub report: ReleaseReportArgs,
}

/// A saved release and what to verify it with (`release verify`, `release
/// load`).
#[derive(Debug, Args)]
pub struct SavedLayoutArgs {
    /// The saved release: a layout directory or a .tar of one.
    #[arg(long, value_name = "DIR|FILE.tar")]
    pub layout: PathBuf,
    /// The layout digest `release save` printed (the SHA-256 of its
    /// index.json, which pins every blob), carried apart from the media:
    /// any change to the layout is then refused.
    #[arg(long, value_name = "sha256:HEX")]
    pub layout_digest: Option<String>,
    /// The release policy to verify against, instead of the one in the
    /// layout.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The `trusted_root.json` to verify with, instead of the one in the
    /// layout.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// The initial `root.json` of the private Sigstore deployment whose TUF
    /// metadata the layout carries: the layout's trusted root is then
    /// proven through it (public-good's is proven from the root embedded
    /// in vouch without this).
    #[arg(long, value_name = "FILE", conflicts_with = "trusted_root")]
    pub tuf_root: Option<PathBuf>,
    /// The version to verify (default: the one the layout was saved for).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
}

/// `vouch release load`.
#[derive(Debug, Args)]
pub struct ReleaseLoadArgs {
    /// The saved release and what to verify it with (before loading, and in
    /// the mirror after).
    #[command(flatten)]
    pub saved: SavedLayoutArgs,
    /// The mirror: registry and repository prefix, e.g.
    /// `registry.internal/vendor`. A signed image `<registry>/<name>` of
    /// the policy goes to `<to>/<name>`, a third-party image
    /// `<host>/<path>` to `<to>/<path>`.
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    pub to: String,
    /// An exception for third-party images: the repository SOURCE (or any
    /// under it) goes to TARGET instead (repeatable), e.g.
    /// `docker.io/library/envoy=registry.internal/base/envoy`.
    #[arg(long, value_name = "SOURCE=TARGET")]
    pub map: Vec<String>,
    /// Where to write the policy rewritten to the mirror's names, for the
    /// cluster's `verify-release` and `audit`.
    #[arg(long, value_name = "FILE")]
    pub policy_out: PathBuf,
    /// The report of the verification in the mirror: format, JUnit, VEX
    /// files, concurrency.
    #[command(flatten)]
    pub report: ReleaseReportArgs,
    /// Registry access (the mirror's credentials come from `vouch login`).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `vouch audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The release policy (TOML).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Only pods in this namespace (default: the context's namespace).
    #[arg(
        long,
        short = 'n',
        value_name = "NAMESPACE",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// Pods in every namespace.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Only pods matching this label selector, e.g. `app=operator`.
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// `text` (a table) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `vouch discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// `text` (a tree) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// `vouch digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The image, usually `registry/repo:tag`.
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// `vouch login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry host, e.g. `registry.example.com` or `localhost:5000`.
    #[arg(value_name = "HOST")]
    pub host: String,
    /// User name (for a license-gated proxy: your email).
    #[arg(long, short = 'u')]
    pub username: String,
    /// Read the password (for a license-gated proxy: the license ID) from
    /// stdin. Without it, on a terminal, vouch asks for it without echo.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password on the command line (cosign's and docker's flag): it is
    /// then visible in the process list and shell history, so vouch warns.
    /// Prefer --password-stdin or the prompt.
    #[arg(long, short = 'p', value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Allow plain HTTP to this registry (cosign's flag): HTTPS is tried
    /// first, plain HTTP when it fails. Loopback registries always may.
    /// Testing only.
    #[arg(long)]
    pub allow_http_registry: bool,
    /// Skip TLS certificate verification (cosign's flag). Testing only.
    #[arg(long)]
    pub allow_insecure_registry: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines on stderr.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `vouch verify-blob`.
#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    /// The Sigstore bundle (`.sigstore.json`).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// Who must have signed.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The signed file, or its digest as `sha256:<hex>`.
    #[arg(value_name = "FILE|sha256:HEX")]
    pub artifact: String,
}

/// `vouch verify-blob-attestation`.
#[derive(Debug, Args)]
pub struct VerifyBlobAttestationArgs {
    /// The Sigstore bundle holding the DSSE attestation.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The predicate type to require: spdxjson, spdx, cyclonedx,
    /// slsaprovenance1, slsaprovenance (v0.2), openvex, vuln, custom, link,
    /// or a predicate URI. `openvex` accepts every https://openvex.dev/ns/v* version.
    #[arg(long = "type", value_name = "TYPE")]
    pub predicate_type: Option<String>,
    /// Who must have signed.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Private infrastructure: checks to skip, other CAs.
    #[command(flatten)]
    pub infrastructure: InfrastructureArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The attested file (the statement's subject), or its digest as `sha256:<hex>`.
    #[arg(value_name = "FILE|sha256:HEX")]
    pub artifact: String,
}

/// `vouch verify-bundle` (sigstore-conformance protocol).
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// Use the embedded Sigstore staging root instead of production.
    /// (A flag is a bool to clap; [`VerifyBundleArgs::default_trust`] is
    /// what the command reads.)
    #[arg(long)]
    staging: bool,
    /// The Sigstore bundle.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The exact certificate identity.
    #[arg(long, value_name = "IDENTITY")]
    pub certificate_identity: Option<String>,
    /// The exact OIDC issuer.
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// A PEM public key (managed-key bundles).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["certificate_identity", "certificate_oidc_issuer"])]
    pub key: Option<PathBuf>,
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The signed file, or `sha256:<hex>`.
    #[arg(value_name = "FILE|sha256:DIGEST")]
    pub artifact: String,
}

/// `vouch sign-bundle`: accepted only to answer "unsupported".
#[derive(Debug, Args)]
pub struct SignBundleArgs {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// `vouch trust …`.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Show the trusted root in use: where it comes from, how old it is,
    /// each instance (Fulcio, Rekor, CT log, TSA) with its validity window.
    /// Never uses the network.
    Show(TrustShowArgs),
    /// Refresh the TUF cache from the mirror now, even if it is still
    /// current (as `cosign initialize`), then show what TUF delivered as
    /// `show` does (`SIGSTORE_*` overrides are not applied here; they apply
    /// when the trust material is used). Use it
    /// after a Sigstore key rotation, or before `vouch trust export`. The
    /// cache is the trusted starting point: a mirror serving older metadata
    /// is refused and the cache left as it was.
    Refresh(TrustRefreshArgs),
    /// Write the verified trust material to DIR: `trusted_root.json` (usable
    /// with --trusted-root) and `tuf/`, the TUF metadata that proves it
    /// (for `vouch trust import`). Refreshes first when due, unless --offline.
    Export(TrustDirArgs),
    /// Verify DIR (made by `vouch trust export`) from the root embedded in
    /// vouch (or --tuf-root) and the current cache, then install it into the
    /// cache. Nothing is installed unless all of it verifies. No network.
    Import(TrustDirArgs),
}

/// `vouch trust show`.
#[derive(Debug, Args)]
pub struct TrustShowArgs {
    /// Trust material.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// `text` (default) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch trust refresh`: TUF only, so no `--trusted-root`.
#[derive(Debug, Args)]
pub struct TrustRefreshArgs {
    /// The TUF repository and cache.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// `text` (default) or `json`.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch trust export` / `import`: TUF metadata only, so no
/// `--trusted-root`.
#[derive(Debug, Args)]
pub struct TrustDirArgs {
    /// The TUF repository and cache.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// The export directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Parses `-a key=value`.
fn annotation(text: &str) -> Result<(String, String), BadAnnotation> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(BadAnnotation(text.to_string())),
    }
}

/// An `-a` value that is not `key=value`.
#[derive(Debug, thiserror::Error)]
#[error("expected key=value, got `{0}`")]
pub struct BadAnnotation(String);

/// The most images `--concurrency` lets run at once: each holds at most a few
/// registry requests (the client allows 16 at a time), so more buys nothing
/// but memory.
pub const MAX_CONCURRENCY: usize = 256;

/// A count flag (`--concurrency`, `--max-workers`) out of range or not a
/// number (clap prints it after the flag's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a whole number from 1 to {max}, got `{given}`")]
pub struct BadCount {
    /// What was given.
    pub given: String,
    /// The largest allowed.
    pub max: usize,
}

/// Parses `--concurrency`: a whole number from 1 to [`MAX_CONCURRENCY`]; 0
/// would verify nothing.
fn concurrency(text: &str) -> Result<usize, BadCount> {
    count_in(text, MAX_CONCURRENCY)
}

/// A whole number from 1 to `max`.
fn count_in(text: &str, max: usize) -> Result<usize, BadCount> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(BadCount {
            given: text.into(),
            max,
        }),
    }
}

impl VerifyBundleArgs {
    /// Where trust comes from without `--trusted-root`: `--staging` selects
    /// the embedded staging root, otherwise TUF.
    pub fn default_trust(&self) -> crate::inputs::DefaultTrust {
        if self.staging {
            crate::inputs::DefaultTrust::EmbeddedStaging
        } else {
            crate::inputs::DefaultTrust::Tuf
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_a_whole_number_from_one_to_the_maximum() {
        assert_eq!(concurrency("1"), Ok(1));
        assert_eq!(
            concurrency(&MAX_CONCURRENCY.to_string()),
            Ok(MAX_CONCURRENCY)
        );
        for given in ["0", "257", "-1", "four", ""] {
            let refused = Err(BadCount {
                given: given.into(),
                max: MAX_CONCURRENCY,
            });
            assert_eq!(concurrency(given), refused);
            assert_eq!(max_workers(given).map_err(|e| e.given), Err(given.into()));
        }
        assert_eq!(max_workers("1"), Ok(1));
    }
}

//! Reading the user's inputs: bounded, with errors that name the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use std::time::SystemTime;

use vouch_trust::overrides::{MAX_OVERRIDE_FILE_SIZE, Override, OverrideKind};
use vouch_trust::{
    LoadedTrust, Network, Provenance, TrustSource, TufInstance, TufOptions, TufStatus,
};
use vouch_verify::{
    ArtifactDigest, Checks, ClaimCheck, DigestAlgorithm, GitHubWorkflowPolicy, IdentityPolicy,
    LogCheck, MAX_BUNDLE_SIZE, SctCheck, SignerPolicy, SigstoreBundle, TimestampCheck,
    TrustedMaterial, ValueMatcher,
};

use crate::args::{IdentityArgs, InfrastructureArgs, TrustArgs, TufArgs};
use crate::failure::Failure;

/// Upper bound on a `--key` PEM file: a public key is under 1 KiB; 64 KiB
/// refuses anything that is clearly not one.
const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

/// Upper bound on an artifact read into memory for verification. Blobs
/// bigger than this should be verified by digest (`sha256:<hex>`, or
/// `sha384:` / `sha512:`).
const MAX_ARTIFACT_SIZE: u64 = 4 * 1024 * 1024 * 1024;

/// The artifact given on the command line.
pub enum Artifact {
    /// File contents.
    Bytes(Vec<u8>),
    /// `sha256:<hex>`, `sha384:<hex>` or `sha512:<hex>`.
    Digest(ArtifactDigest),
}

impl Artifact {
    /// Parses `sha256:<hex>` (or `sha384:`, `sha512:`; npm provenance names
    /// packages by SHA-512) or reads the named file.
    pub fn from_arg(arg: &str) -> Result<Self, Failure> {
        let is_digest = DigestAlgorithm::ALL.iter().any(|a| {
            arg.strip_prefix(a.name())
                .is_some_and(|r| r.starts_with(':'))
        });
        let bad = |e: vouch_verify::DigestError| Failure::input(e.to_string());
        if arg.starts_with("sha256:") {
            let digest: vouch_verify::Sha256Digest = arg.parse().map_err(bad)?;
            return Ok(Self::Digest(digest.into()));
        }
        if is_digest {
            return Ok(Self::Digest(
                ArtifactDigest::parse_artifact(arg).map_err(bad)?,
            ));
        }
        read_bounded(Path::new(arg), MAX_ARTIFACT_SIZE, "artifact").map(Self::Bytes)
    }

    /// The form the verifier takes.
    pub fn input(&self) -> vouch_verify::ArtifactInput<'_> {
        match self {
            Self::Bytes(b) => vouch_verify::ArtifactInput::Bytes(b),
            Self::Digest(d) => match d.as_sha256() {
                Some(sha256) => vouch_verify::ArtifactInput::Sha256(sha256),
                None => vouch_verify::ArtifactInput::Digest(d),
            },
        }
    }
}

/// Reads and parses a bundle file.
pub fn bundle(path: &Path) -> Result<SigstoreBundle, Failure> {
    let bytes = read_bounded(path, MAX_BUNDLE_SIZE as u64, "bundle")?;
    SigstoreBundle::from_json(&bytes)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// The trust source the flags select (before cosign's `SIGSTORE_*`
/// overrides, which [`load_trust`] applies: the one place that decides trust
/// for every `verify*` command, `audit` and `trust show`).
///
/// `--trusted-root` wins; else `--staging` (verify-bundle) takes the embedded
/// staging root; else TUF: public-good (root embedded in vouch) or
/// `--tuf-mirror`/`--tuf-root`, cached under `--tuf-cache`/`$TUF_ROOT`, else
/// `$XDG_CACHE_HOME/vouch/tuf`, else `$HOME/.cache/vouch/tuf`.
pub fn trust_source(trust: &TrustArgs, fallback: DefaultTrust) -> Result<TrustSource, Failure> {
    if let Some(path) = &trust.trusted_root {
        if trust.tuf.tuf_mirror.is_some() || trust.tuf.tuf_root.is_some() {
            eprintln!("Note: --trusted-root bypasses TUF, so --tuf-mirror/--tuf-root are ignored");
        }
        return Ok(TrustSource::File(path.clone()));
    }
    match fallback {
        DefaultTrust::EmbeddedStaging => Ok(TrustSource::EmbeddedStaging),
        DefaultTrust::Tuf => Ok(TrustSource::Tuf(tuf_options(&trust.tuf)?)),
    }
}

/// Where trust comes from when no `--trusted-root` (and no complete set of
/// `SIGSTORE_*` overrides) is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultTrust {
    /// TUF: the public-good instance, or the `--tuf-mirror` given.
    Tuf,
    /// The Sigstore staging root embedded in vouch (`verify-bundle --staging`).
    EmbeddedStaging,
}

/// Whether loading trust may use the network (`--offline`, `VOUCH_OFFLINE`).
fn network(tuf: &TufArgs) -> Network {
    if tuf.offline {
        Network::Offline
    } else {
        Network::RefreshWhenDue
    }
}

/// An environment variable's value; set but empty counts as unset, as in
/// cosign.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The TUF options the flags and environment select. The flags win over
/// cosign's variables: `--tuf-mirror` over `TUF_MIRROR`, `--tuf-root` over
/// `TUF_ROOT_JSON` (read only when a mirror is given, as cosign does),
/// `--tuf-cache` over `TUF_ROOT`. The public-good mirror's URL means the
/// public-good instance, bootstrapped from the root embedded in vouch.
pub fn tuf_options(trust: &TufArgs) -> Result<TufOptions, Failure> {
    if trust.tuf_mirror.as_deref() == Some("") {
        return Err(Failure::usage(
            "--tuf-mirror is empty; give the repository's URL",
        ));
    }
    let mirror = trust.tuf_mirror.clone().or_else(|| env_value("TUF_MIRROR"));
    let root = match (&mirror, &trust.tuf_root) {
        (_, Some(root)) => Some(root.clone()),
        (Some(_), None) => env_value("TUF_ROOT_JSON").map(PathBuf::from),
        (None, None) => None,
    };
    let instance = match (mirror, root) {
        (Some(mirror), _) if mirror.trim_end_matches('/') == vouch_trust::PUBLIC_GOOD_MIRROR => {
            TufInstance::PublicGood
        }
        (Some(mirror), root_file) => TufInstance::Custom { mirror, root_file },
        (None, None) => TufInstance::PublicGood,
        (None, Some(_)) => {
            return Err(Failure::usage(
                "--tuf-root bootstraps a private repository; give its --tuf-mirror URL \
                 (or TUF_MIRROR) too",
            ));
        }
    };
    let cache_root = match trust
        .tuf_cache
        .clone()
        .or_else(|| env_value("TUF_ROOT").map(PathBuf::from))
    {
        Some(dir) => dir,
        None => {
            let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
            let home = std::env::var_os("HOME").map(PathBuf::from);
            vouch_trust::default_cache_root(xdg.as_deref(), home.as_deref()).ok_or_else(|| {
                Failure::usage(
                    "no TUF cache directory: neither XDG_CACHE_HOME nor HOME is set; \
                     give --tuf-cache DIR",
                )
            })?
        }
    };
    let mut options = TufOptions::new(instance, cache_root);
    options.network = network(trust);
    Ok(options)
}

/// cosign's single-key overrides set in the environment
/// (`SIGSTORE_ROOT_FILE`, `SIGSTORE_REKOR_PUBLIC_KEY`,
/// `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`, `SIGSTORE_TSA_CERTIFICATE_FILE`). A
/// variable set to the empty string counts as unset, as in cosign.
pub fn env_overrides() -> Vec<(OverrideKind, PathBuf)> {
    OverrideKind::ALL
        .iter()
        .filter_map(|kind| {
            let value = std::env::var_os(kind.variable())?;
            (!value.is_empty()).then(|| (*kind, PathBuf::from(value)))
        })
        .collect()
}

/// Loads the trusted root the flags and environment select: the
/// [`trust_source`], then, as cosign does when no `--trusted-root` is given,
/// each `SIGSTORE_*` override replacing its part (`vouch_trust::overrides`).
/// When the overrides name the Fulcio roots, the Rekor key and the CT log key
/// there is nothing left to take from TUF, and it is not used (no network).
/// With `--trusted-root`, overrides are ignored, with a note.
pub fn load_trust(trust: &TrustArgs, fallback: DefaultTrust) -> Result<LoadedTrust, Failure> {
    let overrides = env_overrides();
    let kinds: Vec<OverrideKind> = overrides.iter().map(|(k, _)| *k).collect();
    let source = if trust.trusted_root.is_none() && vouch_trust::overrides::covers_keyless(&kinds) {
        TrustSource::OverridesOnly
    } else {
        trust_source(trust, fallback)?
    };
    let loaded = source.load(SystemTime::now())?;
    if trust.trusted_root.is_some() {
        if !overrides.is_empty() {
            let names: Vec<&str> = overrides.iter().map(|(k, _)| k.variable()).collect();
            eprintln!(
                "Note: --trusted-root is given, so {} {} ignored (as in cosign)",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" }
            );
        }
        return Ok(loaded);
    }
    Ok(loaded.with_overrides(&overrides)?)
}

/// Loads the trust material the flags select, and tells the user on stderr
/// where it came from when that is not the usual fresh TUF data, and which
/// parts the environment replaced.
pub fn trust_material(
    trust: &TrustArgs,
    fallback: DefaultTrust,
) -> Result<TrustedMaterial, Failure> {
    Ok(announced_trust(trust, fallback)?.material)
}

/// [`load_trust`], then the notices [`trust_material`] prints.
fn announced_trust(trust: &TrustArgs, fallback: DefaultTrust) -> Result<LoadedTrust, Failure> {
    let loaded = load_trust(trust, fallback)?;
    if let Some(notice) = provenance_notice(&loaded.provenance, network(&trust.tuf)) {
        eprintln!("{notice}");
    }
    for line in override_notices(&loaded.overridden) {
        eprintln!("{line}");
    }
    Ok(loaded)
}

/// The trust material for a `verify*` command: [`trust_material`], then
/// the CA flags (`--ca-roots`/`--ca-intermediates` or `--certificate-chain`)
/// in place of the Fulcio CAs and the checks the infrastructure flags skip.
/// Prints one line per flag given: a WARNING naming what is not checked
/// (a Note for `--use-signed-timestamps`, which checks more).
pub fn verification_material(
    trust: &TrustArgs,
    infra: &InfrastructureArgs,
    fallback: DefaultTrust,
) -> Result<TrustedMaterial, Failure> {
    Ok(verification_trust(trust, infra, fallback)?.0)
}

/// [`verification_material`], with the `trusted_root.json` it was made
/// from (amended by the CA flags), for `release save` to carry.
pub fn verification_trust(
    trust: &TrustArgs,
    infra: &InfrastructureArgs,
    fallback: DefaultTrust,
) -> Result<(TrustedMaterial, Vec<u8>), Failure> {
    let loaded = announced_trust(trust, fallback)?;
    with_infrastructure(loaded.material, loaded.trusted_root_json, infra)
}

/// The trust material of a `trusted_root.json` read from `origin` (a saved
/// release), with the CA and infrastructure flags applied as
/// [`verification_material`] applies them.
pub fn material_from_json(
    json: Vec<u8>,
    origin: &str,
    infra: &InfrastructureArgs,
) -> Result<TrustedMaterial, Failure> {
    let material =
        TrustedMaterial::from_json(&json).map_err(|e| Failure::input(format!("{origin}: {e}")))?;
    Ok(with_infrastructure(material, json, infra)?.0)
}

/// `material` (made from `json`) with the CA flags' certificates in place
/// of the Fulcio CAs, and the checks the infrastructure flags skip.
fn with_infrastructure(
    material: TrustedMaterial,
    json: Vec<u8>,
    infra: &InfrastructureArgs,
) -> Result<(TrustedMaterial, Vec<u8>), Failure> {
    let ca_files: Vec<(&str, &PathBuf)> = [
        ("--ca-roots", &infra.ca_roots),
        ("--ca-intermediates", &infra.ca_intermediates),
        ("--certificate-chain", &infra.certificate_chain),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path.as_ref()?)))
    .collect();
    if ca_files.is_empty() {
        return Ok((material.with_checks(infrastructure_checks(infra)), json));
    }
    let mut pem = Vec::new();
    for (flag, path) in &ca_files {
        pem.extend(read_bounded(path, MAX_OVERRIDE_FILE_SIZE, flag)?);
        pem.push(b'\n');
    }
    let origin = ca_files
        .iter()
        .map(|(flag, path)| format!("{flag} {}", path.display()))
        .collect::<Vec<_>>()
        .join(", ");
    let amended = vouch_trust::overrides::apply(
        &json,
        &[Override {
            kind: OverrideKind::FulcioRoots,
            origin: &origin,
            pem: &pem,
        }],
    )
    .map_err(|e| Failure::input(format!("{origin}: {}", e.problem)))?;
    let material = TrustedMaterial::from_json(&amended)
        .map_err(|e| Failure::input(format!("{origin}: {e}")))?;
    for (flag, path) in &ca_files {
        eprintln!(
            "WARNING: {flag}: the trusted root's Fulcio certificate authorities are not \
             used; signing certificates are checked against {} instead",
            path.display()
        );
    }
    Ok((material.with_checks(infrastructure_checks(infra)), amended))
}

/// `material` with the claim check `--check-claims` asks for; switching it
/// off is announced on stderr, once.
pub fn with_claim_check(material: TrustedMaterial, check_claims: bool) -> TrustedMaterial {
    if check_claims {
        return material;
    }
    eprintln!(
        "WARNING: --check-claims=false: the signed payloads are not checked to name the image \
         verified (docker-manifest-digest, statement subject), so a signature made for another \
         image is accepted; the signature, certificate, transparency log and identity are still \
         checked"
    );
    let checks = material.checks().with_claims(ClaimCheck::InsecureSkipped);
    material.with_checks(checks)
}

/// The checks the infrastructure flags leave, each announced on stderr.
fn infrastructure_checks(infra: &InfrastructureArgs) -> Checks {
    let mut checks = Checks::all();
    let no_log = "transparency log inclusion is not checked; each signature needs an RFC \
                  3161 timestamp from a timestamp authority of the trusted root (or a verified \
                  Signed Entry Timestamp) instead";
    for (given, flag) in [
        (infra.insecure_ignore_tlog, "--insecure-ignore-tlog"),
        (infra.private_infrastructure, "--private-infrastructure"),
    ] {
        if given {
            eprintln!("WARNING: {flag}: {no_log}");
            checks = checks.with_log(LogCheck::InsecureSkipped);
        }
    }
    if infra.insecure_ignore_sct {
        eprintln!(
            "WARNING: --insecure-ignore-sct: the signing certificate's SCT (proof of its \
             inclusion in a certificate transparency log) is not checked"
        );
        checks = checks.with_sct(SctCheck::InsecureSkipped);
    }
    if infra.use_signed_timestamps {
        eprintln!(
            "Note: --use-signed-timestamps: each signature must carry an RFC 3161 timestamp \
             from a timestamp authority of the trusted root"
        );
        checks = checks.with_timestamp(TimestampCheck::Required);
    }
    checks
}

/// One line per applied override: which variable replaced what, from where.
pub fn override_notices(overridden: &[(OverrideKind, PathBuf)]) -> Vec<String> {
    overridden
        .iter()
        .map(|(kind, path)| {
            format!(
                "Note: {}={} replaces the {} of the trusted root",
                kind.variable(),
                path.display(),
                kind.replaces()
            )
        })
        .collect()
}

/// A line about where trust came from: always with `--offline`, and
/// whenever the data is stale.
pub fn provenance_notice(provenance: &Provenance, network: Network) -> Option<String> {
    let now = SystemTime::now();
    match provenance {
        Provenance::Embedded {
            instance,
            as_of,
            no_cache_at: Some(dir),
        } => Some(format!(
            "Note: --offline and no TUF cache at {}: using the Sigstore {instance} trusted root \
             embedded in vouch, as of {} ({} days old)",
            dir.display(),
            as_of.strftime("%Y-%m-%d"),
            vouch_trust::age_in_days(*as_of, now)
        )),
        Provenance::Tuf(
            s @ TufStatus {
                expired: Some(expired),
                ..
            },
        ) => Some(format!(
            "WARNING: --offline: the TUF {} metadata of {} expired at {}; using it as last \
             verified at {}. Refresh online or `vouch trust import` a newer export",
            expired.role,
            s.mirror,
            expired.expires,
            verified_at(s, now)
        )),
        Provenance::Tuf(s) if network == Network::Offline => Some(format!(
            "Note: --offline: TUF metadata of {} from {}, verified at {}, valid until {}",
            s.mirror,
            s.cache_dir.display(),
            verified_at(s, now),
            s.timestamp_expires
        )),
        _ => None,
    }
}

/// When TUF data last verified, and how many days ago (a cache vouch did
/// not write, e.g. cosign's, has no record: "never recorded").
pub fn verified_at(status: &TufStatus, now: SystemTime) -> String {
    match status.verified_at {
        Some(t) => format!("{t} ({} days ago)", vouch_trust::age_in_days(t, now)),
        None => "never recorded".into(),
    }
}

/// Builds the signer policy from cosign's identity flags.
pub fn signer_policy(id: &IdentityArgs) -> Result<SignerPolicy, Failure> {
    let any_identity_flag = id.certificate_identity.is_some()
        || id.certificate_identity_regexp.is_some()
        || id.certificate_oidc_issuer.is_some()
        || id.certificate_oidc_issuer_regexp.is_some();
    if let Some(key) = &id.key {
        if any_identity_flag {
            return Err(Failure::usage(
                "--key verifies a managed-key signature; it cannot be combined with \
                 --certificate-identity or --certificate-oidc-issuer flags",
            ));
        }
        let pem = read_bounded(key, MAX_KEY_FILE_SIZE, "public key")?;
        let pem = String::from_utf8(pem)
            .map_err(|_| Failure::input(format!("{}: not a PEM text file", key.display())))?;
        return SignerPolicy::public_key_pem(&pem)
            .map_err(|e| Failure::input(format!("{}: {e}", key.display())));
    }
    let identity = matcher(
        &id.certificate_identity,
        &id.certificate_identity_regexp,
        "--certificate-identity or --certificate-identity-regexp is required for verification in keyless mode",
        "--certificate-identity",
    )?;
    let issuer = matcher(
        &id.certificate_oidc_issuer,
        &id.certificate_oidc_issuer_regexp,
        "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for verification in keyless mode",
        "--certificate-oidc-issuer",
    )?;
    let mut github = GitHubWorkflowPolicy::default();
    github.trigger = id.certificate_github_workflow_trigger.clone();
    github.sha = id.certificate_github_workflow_sha.clone();
    github.name = id.certificate_github_workflow_name.clone();
    github.repository = id.certificate_github_workflow_repository.clone();
    github.git_ref = id.certificate_github_workflow_ref.clone();
    Ok(SignerPolicy::keyless(
        IdentityPolicy::new(identity, issuer).with_github(github),
    ))
}

fn matcher(
    exact: &Option<String>,
    regexp: &Option<String>,
    missing: &str,
    flag: &str,
) -> Result<ValueMatcher, Failure> {
    match (exact, regexp) {
        (Some(value), None) => Ok(ValueMatcher::Exact(value.clone())),
        (None, Some(pattern)) => Ok(ValueMatcher::regex(pattern)?),
        (Some(_), Some(_)) => Err(Failure::usage(format!(
            "give either {flag} or {flag}-regexp, not both"
        ))),
        (None, None) => Err(Failure::usage(missing)),
    }
}

/// Reads a file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let cannot =
        |e: std::io::Error| Failure::input(format!("cannot read {what} {}: {e}", display(path)));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(Failure::input(format!(
            "{what} {} is larger than the {limit}-byte limit",
            display(path)
        )));
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file
/// beside it, synced, then renamed over it. An interrupted run, a full disk
/// or a crash never leaves a truncated JUnit report, VEX document or
/// predicate under the name a later step reads.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let cannot = |e: std::io::Error| Failure::input(format!("writing {}: {e}", display(path)));
    let name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{}: not a file name", display(path))))?;
    let mut temporary = name.to_os_string();
    temporary.push(format!(".vouch-tmp-{}", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(cannot(e));
    }
    Ok(())
}

fn display(path: &Path) -> String {
    PathBuf::from(path).display().to_string()
}

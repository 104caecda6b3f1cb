//! `vouch release save`, `vouch release verify --layout` and `vouch release
//! load`: a whole release carried across an air gap as one OCI image layout
//! and pushed into a private registry there (docs/air-gap.md). The release is verified by the same code path as
//! `verify-release` (`vouch_release::verify_release`), reading a registry
//! when saving and the layout when verifying.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vouch_oci::{LayoutWriter, OciLayout, Sha256Digest};
use vouch_release::layout::{
    ExportFiles, SavedLayoutError, SavedRelease, check_saved_release, tuf_export,
};
use vouch_release::load::{
    LoadError, LoadProgress, Mapping, ReferrersMode, load_release, rewrite_policy,
};
use vouch_release::save::{SaveError, SaveInputs, SaveProgress, Verification, save_release};
use vouch_release::{MissingImages, Outcome, ReleaseOptions, ReleasePolicy, ReleaseReport};
use vouch_verify::TrustedMaterial;

use crate::args::{
    ReleaseCommand, ReleaseLoadArgs, ReleaseSaveArgs, ReleaseVerifyArgs, SavedLayoutArgs, TrustArgs,
};
use crate::commands::{image, verify_release};
use crate::failure::{Failure, FailureKind};
use crate::inputs::{self, DefaultTrust};

/// How often byte progress is printed while saving (stderr), in bytes.
const PROGRESS_STEP: u64 = 64 * 1024 * 1024;

/// What a save keeps of the manifests, signatures and attestations its
/// verification read, so the copy does not ask for them again (31 requests
/// per image became 19 in the 100-image benchmark: docs/benchmarks.md). The
/// benchmark's images read at most 40 KiB each (its whole layout is 4.1 MB
/// for 104 images), so this covers a release of about 400 images; past it
/// the rest is fetched again. Well under issue 22's 64 MiB peak RSS goal.
const SAVE_MEMO_BYTES: u64 = 16 * 1024 * 1024;

/// Runs `vouch release …`.
pub fn run(command: &ReleaseCommand) -> Result<(), Failure> {
    match command {
        ReleaseCommand::Save(args) => save(args),
        ReleaseCommand::Verify(args) => verify(args),
        ReleaseCommand::Load(args) => load(args),
    }
}

/// Where a save writes: a layout directory, or a tar of one (built in a
/// staging directory beside it, which a rerun resumes).
enum Destination {
    Directory(PathBuf),
    Tar { tar: PathBuf, staging: PathBuf },
}

impl Destination {
    fn of(path: &Path) -> Self {
        if path.extension().is_some_and(|e| e == "tar") {
            let mut staging = path.as_os_str().to_owned();
            staging.push(".partial.d");
            Self::Tar {
                tar: path.to_path_buf(),
                staging: PathBuf::from(staging),
            }
        } else {
            Self::Directory(path.to_path_buf())
        }
    }

    /// Refuses to write over a file, or into a directory that holds
    /// something else than a layout (an interrupted save is resumed).
    fn check(&self) -> Result<(), Failure> {
        let refuse = |path: &Path, what: &str| {
            Err(Failure::usage(format!(
                "--output {}: {what}; remove it or name another",
                path.display()
            )))
        };
        match self {
            Self::Tar { tar, .. } if tar.exists() => refuse(tar, "the file exists"),
            Self::Tar { .. } => Ok(()),
            Self::Directory(dir) if dir.is_file() => refuse(dir, "a file, not a directory"),
            Self::Directory(dir) => {
                let foreign = std::fs::read_dir(dir)
                    .map(|mut entries| entries.next().is_some())
                    .unwrap_or(false)
                    && !dir.join("oci-layout").is_file();
                if foreign {
                    return refuse(
                        dir,
                        "a directory that is neither empty nor an OCI image layout",
                    );
                }
                Ok(())
            }
        }
    }

    /// The directory the layout is written in.
    fn directory(&self) -> &Path {
        match self {
            Self::Directory(dir) => dir,
            Self::Tar { staging, .. } => staging,
        }
    }
}

fn save(args: &ReleaseSaveArgs) -> Result<(), Failure> {
    let release = &args.release;
    let (policy, policy_toml) = verify_release::read_policy(&release.policy)?;
    let destination = Destination::of(&args.output);
    destination.check()?;
    let (material, trusted_root_json) =
        inputs::verification_trust(&release.trust, &release.infrastructure, DefaultTrust::Tuf)?;
    let material = Arc::new(material);
    let tuf_files = tuf_export_files(&release.trust, &trusted_root_json);
    let client = verify_release::registry_client(release)?.remembering_fetched(SAVE_MEMO_BYTES);
    let options = ReleaseOptions {
        version: release.version.clone(),
        missing: MissingImages::Fail,
        concurrency: args.concurrency,
    };
    let report = verify_release::verify(&client, material.clone(), &policy, &options)?;
    let verification = verification_of(&report, args.no_verify)?;
    let dir = destination.directory();
    let writer = LayoutWriter::create(dir).map_err(vouch_oci::OciError::from)?;
    let inputs = SaveInputs {
        report: &report,
        policy_toml: &policy_toml,
        trusted_root_json: &trusted_root_json,
        verification,
        concurrency: args.concurrency,
        tuf_export: tuf_files.as_deref(),
    };
    let printed = AtomicU64::new(0);
    let progress = move |event: SaveProgress| match event {
        SaveProgress::ImageSaved { name, done, total } => {
            eprintln!("[{done}/{total}] saved {name}");
        }
        SaveProgress::Bytes { fetched } => {
            let step = fetched / PROGRESS_STEP;
            if printed.fetch_max(step, Ordering::Relaxed) < step {
                eprintln!("downloaded {}", human_bytes(fetched));
            }
        }
    };
    let run = save_release(&client, &writer, inputs, progress);
    let summary = image::runtime()?
        .block_on(image::until_interrupted(run))?
        .map_err(save_failure)?;
    if verification == Verification::Verified {
        self_check(dir, &policy, material, &options, &summary.index_digest)?;
    }
    writer.finish().map_err(vouch_oci::OciError::from)?;
    if let Destination::Tar { tar, staging } = &destination {
        vouch_oci::pack_layout(staging, tar).map_err(vouch_oci::OciError::from)?;
        std::fs::remove_dir_all(staging)
            .map_err(|e| Failure::input(format!("removing {}: {e}", staging.display())))?;
    }
    outln!(
        "Saved release {}: {} images, {} attachments; {} blobs downloaded ({}), {} already there",
        release.version,
        summary.images,
        summary.attachments,
        summary.blobs_fetched,
        human_bytes(summary.bytes_fetched),
        summary.blobs_present
    );
    outln!("Layout: {}", args.output.display());
    outln!("Layout digest: {}", summary.index_digest);
    outln!(
        "Carry the layout digest apart from the media and verify with: vouch release verify \
         --layout {} --layout-digest {}",
        args.output.display(),
        summary.index_digest
    );
    Ok(())
}

/// The files of a `vouch trust export` of the TUF metadata that proves
/// `trusted_root_json`, for the layout; `None` (with a Note) when the
/// trusted root did not come through TUF as is (`--trusted-root`, the
/// embedded root, overrides or CA flags) or the export failed.
fn tuf_export_files(trust: &TrustArgs, trusted_root_json: &[u8]) -> Option<ExportFiles> {
    if trust.trusted_root.is_some() {
        return None;
    }
    let options = inputs::tuf_options(&trust.tuf).ok()?;
    let dir = std::env::temp_dir().join(format!("vouch-save-tuf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = vouch_trust::tuf::export(&options, &dir, std::time::SystemTime::now())
        .map_err(|e| e.to_string())
        .and_then(|_| read_export(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    match files {
        Ok((files, exported_root)) if exported_root == trusted_root_json => Some(files),
        Ok(_) => {
            eprintln!(
                "Note: the trusted root used is not TUF's as is (overrides or CA flags); no TUF \
                 metadata is saved with it"
            );
            None
        }
        Err(reason) => {
            eprintln!("Note: no TUF metadata is saved with the trusted root: {reason}");
            None
        }
    }
}

/// The files of the export at `dir` (`vouch-export.json`, everything under
/// `tuf/`, targets included) and its `trusted_root.json`.
fn read_export(dir: &Path) -> Result<(ExportFiles, Vec<u8>), String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut files = vec![(
        "vouch-export.json".to_string(),
        read(&dir.join("vouch-export.json"))?,
    )];
    let mut pending = vec!["tuf".to_string()];
    while let Some(sub) = pending.pop() {
        let path = dir.join(&sub);
        let mut names: Vec<(String, bool)> = std::fs::read_dir(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| {
                let e = e.ok()?;
                Some((
                    e.file_name().into_string().ok()?,
                    e.file_type().ok()?.is_dir(),
                ))
            })
            .collect();
        names.sort();
        for (name, is_dir) in names {
            let relative = format!("{sub}/{name}");
            if is_dir {
                pending.push(relative);
            } else {
                files.push((relative.clone(), read(&dir.join(&relative))?));
            }
        }
    }
    Ok((files, read(&dir.join("trusted_root.json"))?))
}

/// Proves the layout's trusted root through the TUF metadata saved with
/// it, from the root embedded in vouch (public-good) or `tuf_root`; returns
/// what to tell the user, or `None` when there is nothing to prove it with.
fn prove_trusted_root(
    layout: &OciLayout,
    saved: &SavedRelease,
    tuf_root: Option<&Path>,
) -> Result<Option<String>, Failure> {
    let Some(files) = tuf_export(layout).map_err(layout_failure)? else {
        return Ok(None);
    };
    let dir = std::env::temp_dir().join(format!("vouch-verify-tuf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let proven = write_export(&dir, &files).and_then(|()| prove_from(&dir, tuf_root));
    let _ = std::fs::remove_dir_all(&dir);
    let Some((json, mirror, at)) = proven? else {
        return Ok(None);
    };
    saved
        .check_proven_trusted_root(&json)
        .map_err(layout_failure)?;
    Ok(Some(format!(
        "Note: the layout's trusted root is proven by the TUF metadata of {mirror} saved with \
         it, from {}, as of {at}",
        if tuf_root.is_some() {
            "--tuf-root"
        } else {
            "the root embedded in vouch"
        }
    )))
}

/// Writes the export's files (names checked by `tuf_export`) under `dir`.
fn write_export(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    let io = |path: &Path, e: std::io::Error| Failure::input(format!("{}: {e}", path.display()));
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Verifies the export at `dir`: public-good's from the embedded root, a
/// private deployment's from `tuf_root` (else `None`, with a Note).
fn prove_from(
    dir: &Path,
    tuf_root: Option<&Path>,
) -> Result<Option<(Vec<u8>, String, String)>, Failure> {
    let mirror = vouch_trust::tuf::export_mirror(dir)?.unwrap_or_default();
    let instance = if mirror.trim_end_matches('/') == vouch_trust::PUBLIC_GOOD_MIRROR {
        vouch_trust::TufInstance::PublicGood
    } else if let Some(root) = tuf_root {
        vouch_trust::TufInstance::Custom {
            mirror: mirror.clone(),
            root_file: Some(root.to_path_buf()),
        }
    } else {
        eprintln!(
            "Note: the layout carries TUF metadata of {mirror}; give --tuf-root (that \
             deployment's initial root.json) to prove its trusted root through it"
        );
        return Ok(None);
    };
    let options = vouch_trust::TufOptions::new(instance, dir.join("no-cache"));
    let (json, at) = vouch_trust::tuf::verify_export(&options, dir)?;
    Ok(Some((json, mirror, at.to_string())))
}

/// Whether the release may be saved: it verified, or `--no-verify` (with a
/// WARNING). A release that could not be read at all is never saved.
fn verification_of(report: &ReleaseReport, no_verify: bool) -> Result<Verification, Failure> {
    match report.outcome() {
        Outcome::Passed { .. } => Ok(Verification::Verified),
        Outcome::AccessFailed(_) => Err(not_saved(report)),
        _ if no_verify => {
            eprintln!(
                "WARNING: --no-verify: release {} did not verify; it is saved anyway and the \
                 layout records it as not verified (dev.vouch.release.verified=false)",
                report.version
            );
            Ok(Verification::NotVerified)
        }
        _ => Err(not_saved(report)),
    }
}

/// The failure of a release that is not saved, as `verify-release` says it.
fn not_saved(report: &ReleaseReport) -> Failure {
    match verify_release::outcome(report) {
        Err(failure) => Failure::new(
            failure.kind,
            format!("nothing was saved: {}", failure.message),
        ),
        Ok(()) => Failure::new(FailureKind::Verification, "nothing was saved"),
    }
}

/// Verifies the layout just written, from disk, as the far side will: a
/// referrer deleted from the registry between the verification and the
/// copy, or a bug, must not leave a layout that does not verify.
fn self_check(
    dir: &Path,
    policy: &ReleasePolicy,
    material: Arc<TrustedMaterial>,
    options: &ReleaseOptions,
    digest: &Sha256Digest,
) -> Result<(), Failure> {
    let layout = OciLayout::open(dir).map_err(vouch_oci::OciError::from)?;
    let saved = SavedRelease::open(&layout, Some(digest)).map_err(layout_failure)?;
    saved.check_trusted_root().map_err(layout_failure)?;
    saved.check_policy().map_err(layout_failure)?;
    check_saved_release(&layout, policy, &options.version).map_err(layout_failure)?;
    let report = verify_release::verify(&layout, material, policy, options)?;
    if report.passed() {
        return Ok(());
    }
    Err(Failure::new(
        FailureKind::Verification,
        format!(
            "the layout written to {} does not verify from disk (the registry changed while \
             it was saved?); run the save again",
            dir.display()
        ),
    ))
}

fn save_failure(error: SaveError) -> Failure {
    match error {
        SaveError::Registry { image, source } => {
            let failure = Failure::from(source);
            Failure::new(failure.kind, format!("saving {image}: {}", failure.message))
        }
        SaveError::Layout(e) => vouch_oci::OciError::from(e).into(),
        e => Failure::new(FailureKind::Verification, e.to_string()),
    }
}

/// A refused layout: unreadable (3) or changed (1).
fn layout_failure(error: SavedLayoutError) -> Failure {
    let kind = if error.is_unreadable() {
        FailureKind::Input
    } else {
        FailureKind::Verification
    };
    Failure::new(kind, error.to_string())
}

fn verify(args: &ReleaseVerifyArgs) -> Result<(), Failure> {
    verify_release::check_vex_dir(&args.report)?;
    let saved = OpenedRelease::open(&args.saved, args.report.concurrency)?;
    let report = saved.verify()?;
    drop(saved);
    verify_release::finish(&report, &args.report)
}

/// A saved release opened for verifying or loading: the layout checked
/// (`check_saved_release`), with the policy, trust material and options to
/// verify it with.
struct OpenedRelease {
    layout: OciLayout,
    policy: ReleasePolicy,
    /// The policy as its file reads (the layout's, or `--policy`'s).
    policy_toml: Vec<u8>,
    material: Arc<TrustedMaterial>,
    options: ReleaseOptions,
    /// Last: a tar's temporary directory outlives the layout read from it.
    _opened: OpenedLayout,
}

impl OpenedRelease {
    fn open(args: &SavedLayoutArgs, concurrency: usize) -> Result<Self, Failure> {
        let expected = args
            .layout_digest
            .as_deref()
            .map(|d| {
                d.parse::<Sha256Digest>()
                    .map_err(|e| Failure::usage(format!("--layout-digest {d}: {e}")))
            })
            .transpose()?;
        let opened = OpenedLayout::open(&args.layout)?;
        let layout = OciLayout::open(opened.dir()).map_err(vouch_oci::OciError::from)?;
        let saved = SavedRelease::open(&layout, expected.as_ref()).map_err(layout_failure)?;
        let where_ = args.layout.display().to_string();
        // What the verifier gives on the command line is the anchor; what
        // the layout carries must at least be what its index records.
        if args.policy.is_none() {
            saved.check_policy().map_err(layout_failure)?;
        }
        let mut proven = None;
        if args.trusted_root.is_none() {
            saved.check_trusted_root().map_err(layout_failure)?;
            proven = prove_trusted_root(&layout, &saved, args.tuf_root.as_deref())?;
        }
        let (policy, policy_toml) = match &args.policy {
            Some(path) => verify_release::read_policy(path)?,
            None => (
                verify_release::parse_policy(
                    &saved.policy_toml,
                    &format!("{where_}: the saved policy"),
                )?,
                saved.policy_toml.clone(),
            ),
        };
        let json = match &args.trusted_root {
            Some(path) => {
                let json = inputs::read_bounded(
                    path,
                    vouch_verify::MAX_TRUSTED_ROOT_SIZE as u64,
                    "trusted root",
                )?;
                if Sha256Digest::of(&json) != saved.trusted_root_digest {
                    eprintln!(
                        "Note: --trusted-root {} is used; the layout's trusted root ({}) differs",
                        path.display(),
                        saved.trusted_root_digest
                    );
                }
                json
            }
            None => {
                match (&proven, expected.is_some() || args.policy.is_some()) {
                    (Some(note), true) => eprintln!("{note}"),
                    (Some(note), false) => eprintln!(
                        "{note}\nNote: the policy is the layout's ({}); whoever could write the \
                         media could have replaced it. Give --layout-digest (as `release save` \
                         printed it) or --policy to anchor it",
                        saved.policy_digest
                    ),
                    (None, true) => {}
                    (None, false) => eprintln!(
                        "Note: the trusted root and policy are the layout's ({} and {}); \
                         whoever could write the media could have replaced both. Give \
                         --layout-digest (as `release save` printed it), or --trusted-root and \
                         --policy, to anchor them",
                        saved.trusted_root_digest, saved.policy_digest
                    ),
                }
                saved.trusted_root_json.clone()
            }
        };
        let material = inputs::material_from_json(
            json,
            &format!("{where_}: the trusted root"),
            &args.infrastructure,
        )?;
        let version = args.version.clone().unwrap_or(saved.version.clone());
        check_saved_release(&layout, &policy, &version).map_err(layout_failure)?;
        Ok(Self {
            layout,
            policy,
            policy_toml,
            material: Arc::new(material),
            options: ReleaseOptions {
                version,
                missing: MissingImages::Fail,
                concurrency,
            },
            _opened: opened,
        })
    }

    /// Verifies the release from the layout, as `verify-release` does.
    fn verify(&self) -> Result<ReleaseReport, Failure> {
        verify_release::verify(
            &self.layout,
            self.material.clone(),
            &self.policy,
            &self.options,
        )
    }
}

fn load(args: &ReleaseLoadArgs) -> Result<(), Failure> {
    verify_release::check_vex_dir(&args.report)?;
    let exceptions = args
        .map
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .ok_or_else(|| Failure::usage(format!("--map {m}: expected SOURCE=TARGET")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mapping = Mapping::new(&args.to, exceptions).map_err(|e| Failure::usage(e.to_string()))?;
    let saved = OpenedRelease::open(&args.saved, args.report.concurrency)?;
    // Only what verifies is loaded.
    let report = saved.verify()?;
    if !report.passed() {
        return Err(match verify_release::outcome(&report) {
            Err(failure) => Failure::new(
                failure.kind,
                format!("nothing was loaded: {}", failure.message),
            ),
            Ok(()) => Failure::new(FailureKind::Verification, "nothing was loaded"),
        });
    }
    let policy_text = std::str::from_utf8(&saved.policy_toml)
        .map_err(|_| Failure::input("the policy is not UTF-8"))?;
    let rewritten =
        rewrite_policy(policy_text, &mapping).map_err(|e| Failure::input(e.to_string()))?;
    let mirror_policy = verify_release::parse_policy(rewritten.as_bytes(), "the rewritten policy")?;
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    let run = load_release(
        &client,
        &saved.layout,
        &saved.policy,
        &saved.options.version,
        &mapping,
        args.report.concurrency,
        |LoadProgress::ImageLoaded {
             name,
             repository,
             done,
             total,
         }| eprintln!("[{done}/{total}] loaded {name} into {repository}"),
    );
    let summary = image::runtime()?
        .block_on(image::until_interrupted(run))?
        .map_err(load_failure)?;
    eprintln!(
        "Loaded {} images into {}: {} blobs uploaded ({}), {} mounted, {} already there; {} \
         manifests",
        summary.images,
        mapping.to(),
        summary.blobs_uploaded,
        human_bytes(summary.bytes_uploaded),
        summary.blobs_mounted,
        summary.blobs_present,
        summary.manifests
    );
    match summary.referrers {
        ReferrersMode::Api => eprintln!("Referrers: the registry indexed them (referrers API)"),
        ReferrersMode::TagSchema => eprintln!(
            "Referrers: the registry has no referrers API; they are listed in the referrers \
             tag schema (sha256-<hex> tags)"
        ),
        ReferrersMode::None => {}
    }
    inputs::write_file(&args.policy_out, rewritten.as_bytes())?;
    eprintln!(
        "Wrote the policy for the mirror to {}; verifying the release there",
        args.policy_out.display()
    );
    let report = verify_release::verify(
        &client,
        saved.material.clone(),
        &mirror_policy,
        &saved.options,
    )?;
    drop(saved);
    verify_release::finish(&report, &args.report)
}

fn load_failure(error: LoadError) -> Failure {
    match error {
        LoadError::Registry {
            image,
            repository,
            source,
        } => {
            let failure = Failure::from(*source);
            Failure::new(
                failure.kind,
                format!("loading {image} into {repository}: {}", failure.message),
            )
        }
        LoadError::BadTarget { .. } => Failure::usage(error.to_string()),
        e => Failure::new(FailureKind::Verification, e.to_string()),
    }
}

/// A layout to read: the directory given, or a tar unpacked into a
/// temporary directory that is removed on drop.
struct OpenedLayout {
    dir: PathBuf,
    temporary: bool,
}

impl OpenedLayout {
    fn open(path: &Path) -> Result<Self, Failure> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            return Ok(Self {
                dir: path.to_path_buf(),
                temporary: false,
            });
        }
        let dir = std::env::temp_dir().join(format!(
            "vouch-layout-{}-{}",
            std::process::id(),
            Sha256Digest::of(path.as_os_str().as_encoded_bytes()).hex()
        ));
        let opened = Self {
            dir,
            temporary: true,
        };
        vouch_oci::unpack_layout(path, &opened.dir).map_err(vouch_oci::OciError::from)?;
        Ok(opened)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for OpenedLayout {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `n` bytes for people: B, KiB, MiB or GiB.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

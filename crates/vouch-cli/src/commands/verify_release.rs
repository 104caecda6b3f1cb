//! `vouch verify-release`: a whole release, one concurrent pass.

use std::path::Path;
use std::sync::Arc;

use vouch_oci::ImageSource;
use vouch_release::{
    MissingImages, Outcome, ReleaseOptions, ReleasePolicy, ReleaseReport, to_json, to_junit,
    to_table, verify_release,
};

use crate::args::{OutputFormat, ReleaseReportArgs, ReleaseSourceArgs, VerifyReleaseArgs};
use crate::commands::image;
use crate::failure::{Failure, FailureKind};
use crate::inputs;
use crate::inputs::DefaultTrust;
use crate::progress::ReleaseProgress;
use vouch_verify::TrustedMaterial;

/// Runs the command.
pub fn run(args: &VerifyReleaseArgs) -> Result<(), Failure> {
    check_vex_dir(&args.report)?;
    let release = &args.release;
    let (policy, _) = read_policy(&release.policy)?;
    let material = Arc::new(inputs::verification_material(
        &release.trust,
        &release.infrastructure,
        DefaultTrust::Tuf,
    )?);
    let client = registry_client(release)?;
    let missing = if args.allow_missing {
        eprintln!(
            "WARNING: --allow-missing: images missing at {} are skipped instead of failing \
             the release; whoever can delete a tag can hide an image from this check",
            release.version
        );
        MissingImages::Skip
    } else {
        MissingImages::Fail
    };
    let options = ReleaseOptions {
        version: release.version.clone(),
        missing,
        concurrency: args.report.concurrency,
    };
    let report = verify(&client, material, &policy, &options)?;
    finish(&report, &args.report)
}

/// The client for the release's registry, with the stored credentials.
pub fn registry_client(release: &ReleaseSourceArgs) -> Result<vouch_oci::RegistryClient, Failure> {
    image::client(
        &release.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )
}

/// Refuses a `--vex-dir` that is not a directory, before any work rather
/// than after a whole release was verified.
pub fn check_vex_dir(args: &ReleaseReportArgs) -> Result<(), Failure> {
    match args
        .vex_dir
        .as_deref()
        .filter(|d| d.exists() && !d.is_dir())
    {
        Some(dir) => Err(Failure::usage(format!(
            "--vex-dir {}: not a directory (it is created if missing; give a directory for \
             one <image>.vex.json per image)",
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// Reads and parses a release policy file; returns it and its bytes.
pub fn read_policy(path: &Path) -> Result<(ReleasePolicy, Vec<u8>), Failure> {
    let bytes = inputs::read_bounded(
        path,
        vouch_release::MAX_POLICY_SIZE as u64,
        "release policy",
    )?;
    let policy = parse_policy(&bytes, &path.display().to_string())?;
    Ok((policy, bytes))
}

/// Parses a release policy read from `origin`.
pub fn parse_policy(bytes: &[u8], origin: &str) -> Result<ReleasePolicy, Failure> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Failure::input(format!("{origin}: not UTF-8")))?;
    ReleasePolicy::from_toml(text).map_err(|e| Failure::input(format!("{origin}: {e}")))
}

/// Verifies the release from `source` (a registry or a saved layout) with
/// the progress display; Ctrl-C stops it.
pub fn verify<S: ImageSource>(
    source: &S,
    material: Arc<TrustedMaterial>,
    policy: &ReleasePolicy,
    options: &ReleaseOptions,
) -> Result<ReleaseReport, Failure> {
    let progress = ReleaseProgress::start(&options.version);
    let run = verify_release(source, material, policy, options, |p| progress.update(&p));
    let report = image::runtime()?.block_on(image::until_interrupted(run));
    progress.finish();
    report
}

/// Prints the report, writes the JUnit and VEX files asked for, and turns
/// the outcome into the exit code.
pub fn finish(report: &ReleaseReport, args: &ReleaseReportArgs) -> Result<(), Failure> {
    match args.output {
        OutputFormat::Json => outln!("{}", to_json(report)),
        OutputFormat::Text => out!("{}", to_table(report)),
    }
    if let Some(path) = &args.junit {
        inputs::write_file(path, to_junit(report).as_bytes())?;
    }
    if let Some(dir) = &args.vex_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::input(format!("creating {}: {e}", dir.display())))?;
        for row in report.rows.iter().filter(|r| r.vex_document.is_some()) {
            let path = dir.join(format!("{}.vex.json", row.name.replace('/', "_")));
            inputs::write_file(
                &path,
                row.vex_document.as_deref().unwrap_or_default().as_bytes(),
            )?;
        }
    }
    outcome(report)
}

/// The exit code and the one message that explains the run (docs/exit-codes.md).
pub fn outcome(report: &ReleaseReport) -> Result<(), Failure> {
    let version = &report.version;
    match report.outcome() {
        Outcome::Passed { .. } => Ok(()),
        Outcome::Failed {
            images,
            all_missing: true,
        } => Err(Failure::new(
            FailureKind::Verification,
            format!(
                "release {version} failed verification: no signed image of the release exists \
                 at {version} ({})\nhint: is the version right? Images are looked up as \
                 <registry>/<name>:<version>, so --version must be the tag exactly as the \
                 vendor wrote it{}",
                images.join(", "),
                version_hint(version)
            ),
        )),
        Outcome::Failed { images, .. } => Err(Failure::new(
            FailureKind::Verification,
            format!(
                "release {version} failed verification: {}\nhint: --output json gives every \
                 reason for each image",
                images.join(", ")
            ),
        )),
        Outcome::AccessFailed(access) => {
            let unchecked = report
                .rows
                .iter()
                .filter(|r| r.verdict == vouch_release::Verdict::Error)
                .count();
            Err(Failure::new(
                FailureKind::Access,
                format!(
                    "release {version} could not be verified: {unchecked} of {} images not \
                     checked, nothing failed verification.\nchecking {}: {}",
                    report.rows.len(),
                    access.image,
                    access.message
                ),
            ))
        }
        Outcome::NothingVerified { skipped } => Err(Failure::new(
            FailureKind::Verification,
            format!(
                "release {version}: no signed image verified ({skipped} skipped, see the SKIP \
                 lines); a release passes only when at least one signed image verified"
            ),
        )),
    }
}

/// A likely fix for a version no image has: most vendors tag `v1.2.3`.
fn version_hint(version: &str) -> String {
    if version.starts_with('v') {
        String::new()
    } else {
        format!(" (most vendors tag `v{version}`, not `{version}`)")
    }
}

//! Verifying a whole release in one concurrent pass: every image's signature
//! and required attestations from one listing of what is attached, one
//! shared trust root, one client (connection pool and token cache).

use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;
use vouch_attest::{Predicate, PredicateFilter};
use vouch_oci::{ImageSource, OciError, Reference};
use vouch_verify::{TrustedMaterial, VerifiedAttestation, VerifiedSignature};

use vouch_image::{Attached, Candidate, Lookup, Rejection, distinct_signers, verify_attached};

use crate::policy::{Expected, ReleaseImage, ReleasePolicy, ThirdPartyImage};

/// Default bound on images verified at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How to run a release verification.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The version (tag) to verify.
    pub version: String,
    /// What a required image missing at that version does to the release.
    pub missing: MissingImages,
    /// Images verified at once (at least 1).
    pub concurrency: usize,
}

/// What a required image that does not exist at the version means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingImages {
    /// It fails the release (the default): whoever can delete a tag must not
    /// be able to hide an image from the check.
    #[default]
    Fail,
    /// It is skipped (`--allow-missing`, the old behaviour). A release in which
    /// no signed image verified still fails.
    Skip,
}

/// The outcome for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every required check passed.
    Ok,
    /// At least one required check failed, or a required image is missing.
    Fail,
    /// Not checked, by the policy's leave: an optional image that is absent,
    /// an image not yet part of this version, or (with `--allow-missing`) a
    /// missing image. The row's problem says which.
    Skip,
    /// Not checked: the registry could not be reached or refused access
    /// ([`ReleaseReport::access_failure`] says why). Nothing is known about
    /// the image, good or bad.
    Error,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    /// The image's name in the policy.
    pub name: String,
    /// One of the vendor's signed images, or a third-party image pinned by
    /// digest.
    pub kind: ImageKind,
    /// A third-party image's category, as the policy words it (free text).
    pub category: Option<String>,
    /// The reference checked.
    pub reference: String,
    /// The digest verified, when resolved.
    pub digest: Option<String>,
    /// Who signed, when a signature verified.
    pub signer: Option<String>,
    /// SBOM package count, from the verified SBOM attestation.
    pub sbom_packages: Option<usize>,
    /// SLSA builder ID, from the verified provenance.
    pub slsa_builder: Option<String>,
    /// Number of OpenVEX statements, from the verified VEX attestation.
    pub vex_statements: Option<usize>,
    /// The verdict.
    pub verdict: Verdict,
    /// The image does not exist at this version.
    pub missing: bool,
    /// Every failed check, naming the check (or why the image was skipped).
    pub problems: Vec<String>,
    /// Every candidate that did not verify and why, in full (the problem
    /// lines stay short and point here: `--output json`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedCandidate>,
    /// What the verdict does not show but a person should know (e.g. that
    /// the referrers API failed and only the tag schema was searched).
    pub warnings: Vec<String>,
    /// The verified OpenVEX document, for `--vex-dir`.
    #[serde(skip)]
    pub vex_document: Option<String>,
    /// Each attached candidate that verified and the predicate type it was
    /// verified as: what `vouch release save` records as covering the image.
    #[serde(skip)]
    pub verified: Vec<(Candidate, String)>,
}

/// A signature or attestation attached to an image that did not verify.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedCandidate {
    /// What it is, e.g. `referrer sha256:…` or `sha256-….sig layer 0`.
    pub candidate: String,
    /// Why it was rejected, in full (with the certificate's claims for an
    /// identity mismatch).
    pub reason: String,
}

impl ImageRow {
    /// Records every rejection of `found` in [`ImageRow::rejected`] (once).
    fn record_rejections(&mut self, found: &Attached) {
        for r in &found.rejected {
            let candidate = r.candidate.to_string();
            if !self.rejected.iter().any(|c| c.candidate == candidate) {
                self.rejected.push(RejectedCandidate {
                    candidate,
                    reason: r.error.to_string(),
                });
            }
        }
    }

    fn new(name: &str, kind: ImageKind, reference: String) -> Self {
        Self {
            name: name.to_string(),
            kind,
            category: None,
            reference,
            digest: None,
            signer: None,
            sbom_packages: None,
            slsa_builder: None,
            vex_statements: None,
            verdict: Verdict::Ok,
            missing: false,
            problems: Vec::new(),
            rejected: Vec::new(),
            warnings: Vec::new(),
            vex_document: None,
            verified: Vec::new(),
        }
    }

    /// Whether this is one of the vendor's signed images (not third-party).
    pub fn is_signed_image(&self) -> bool {
        self.kind == ImageKind::Signed
    }

    fn fail(mut self, problem: impl Into<String>) -> Self {
        self.problems.push(problem.into());
        self.verdict = Verdict::Fail;
        self
    }

    fn skip(mut self, reason: impl Into<String>) -> Self {
        self.problems.push(reason.into());
        self.verdict = Verdict::Skip;
        self
    }

    /// A registry error while `doing` something: an access failure makes the
    /// row ERROR (not checked), anything else a failed check.
    fn registry_error(mut self, doing: &str, error: &OciError) -> Self {
        if error.is_access_failure() {
            self.problems.push(format!("{doing}: {error}"));
            self.verdict = Verdict::Error;
            self
        } else {
            self.fail(format!("{doing}: {error}"))
        }
    }

    fn finish(mut self) -> Self {
        if self.verdict == Verdict::Ok && !self.problems.is_empty() {
            self.verdict = Verdict::Fail;
        }
        self
    }
}

/// What an image of a release is: a closed set, for machines reading the
/// JSON report (`kind`); the policy's free-text category is a field of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// One of the vendor's images, verified by signature and attestations.
    Signed,
    /// A third-party image, verified by its pinned digest.
    ThirdParty,
}

/// The registry access failure that stopped a release verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessFailure {
    /// The image being checked when it happened.
    pub image: String,
    /// What the registry said (or why it could not be reached).
    pub message: String,
}

/// Everything a release verification found.
#[derive(Debug, Clone)]
pub struct ReleaseReport {
    /// The version verified.
    pub version: String,
    /// One row per image of the policy, in the policy's order (signed images
    /// first, then third-party ones).
    pub rows: Vec<ImageRow>,
    /// The first registry access failure: the run stopped there, and every
    /// image not checked by then is an ERROR row.
    pub access_failure: Option<AccessFailure>,
}

/// What a release verification amounts to, most serious first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// At least one image failed a check or is missing: the release is not
    /// what the vendor released (exit 1).
    Failed {
        /// The images that failed.
        images: Vec<String>,
        /// Every signed image is missing at this version: the version is
        /// probably mistyped.
        all_missing: bool,
    },
    /// Nothing failed, but the registry could not be reached or refused
    /// access, so some images were not checked (exit 4).
    AccessFailed(AccessFailure),
    /// Nothing failed and nothing was refused, yet no signed image verified
    /// (all skipped): never a pass.
    NothingVerified {
        /// Signed images skipped.
        skipped: usize,
    },
    /// Every image the policy requires at this version verified.
    Passed {
        /// Signed images verified.
        verified: usize,
        /// Images skipped (optional, not yet released, or `--allow-missing`).
        skipped: usize,
    },
}

impl ReleaseReport {
    /// Signed images whose signature and attestations verified.
    pub fn verified(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.is_signed_image() && r.verdict == Verdict::Ok)
            .count()
    }

    /// What the run amounts to. Only [`Outcome::Passed`] is a success, and it
    /// needs at least one verified signed image.
    pub fn outcome(&self) -> Outcome {
        let failed: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.name.clone())
            .collect();
        let skipped = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Skip)
            .count();
        let signed: Vec<&ImageRow> = self.rows.iter().filter(|r| r.is_signed_image()).collect();
        if !failed.is_empty() {
            Outcome::Failed {
                images: failed,
                all_missing: !signed.is_empty() && signed.iter().all(|r| r.missing),
            }
        } else if let Some(access) = &self.access_failure {
            Outcome::AccessFailed(access.clone())
        } else if self.verified() == 0 {
            Outcome::NothingVerified { skipped }
        } else {
            Outcome::Passed {
                verified: self.verified(),
                skipped,
            }
        }
    }

    /// Whether the release verified (see [`Self::outcome`]).
    pub fn passed(&self) -> bool {
        matches!(self.outcome(), Outcome::Passed { .. })
    }
}

/// A progress event, for a progress display: each image is `Started` when
/// its check begins (so a display can show what is in flight from the first
/// request on) and `Finished` once, when its row is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The check of an image began.
    Started {
        /// The image's name in the policy.
        name: String,
        /// Images in the release.
        total: usize,
    },
    /// The check of an image ended (with any verdict).
    Finished {
        /// The image's name in the policy.
        name: String,
        /// Images done so far, this one included.
        done: usize,
        /// Images in the release.
        total: usize,
    },
}

/// Verifies every image of the release. Never fails as a whole: each
/// image's problems are in its row, and [`ReleaseReport::outcome`] says what
/// they amount to.
///
/// At most `options.concurrency` images are in flight: a task is spawned only
/// when a slot frees up, so memory does not grow with the release's size
/// beyond one small row per image (`docs/benchmarks.md`, "A whole release").
///
/// The first registry access failure (401, 403, unreachable, a broken
/// transfer) stops the run: the images in flight are cancelled and every
/// image not checked by then is an ERROR row. Asking a registry that refused
/// the license fifteen more times tells nobody anything new.
pub async fn verify_release<S: ImageSource>(
    client: &S,
    material: Arc<TrustedMaterial>,
    policy: &ReleasePolicy,
    options: &ReleaseOptions,
    progress: impl Fn(Progress),
) -> ReleaseReport {
    let limit = options.concurrency.max(1);
    let total = policy.images.len() + policy.third_party.len();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    let mut rows: Vec<Option<ImageRow>> = vec![None; total];
    let mut access_failure = None;
    let mut done = 0;
    // Which row each task is for, so a task that panicked still names its row.
    let mut row_of = std::collections::HashMap::new();
    loop {
        while access_failure.is_none() && tasks.len() < limit && next < total {
            let task = spawn_image(&mut tasks, next, client, &material, policy, options);
            row_of.insert(task.id(), next);
            progress(Progress::Started {
                name: planned_row(policy, options, next).name,
                total,
            });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        // A task cancelled after an access failure leaves its row empty (it
        // is filled in below as not checked); one that panicked is a FAIL,
        // whatever else happened: never dropped, never "not checked".
        let (i, row) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => {
                let i = row_of[&e.id()];
                let row = planned_row(policy, options, i)
                    .fail("internal error: the check of this image did not complete");
                (i, row)
            }
            Err(_) => continue,
        };
        done += 1;
        progress(Progress::Finished {
            name: row.name.clone(),
            done,
            total,
        });
        if row.verdict == Verdict::Error && access_failure.is_none() {
            access_failure = Some(AccessFailure {
                image: row.name.clone(),
                message: row.problems.join("; "),
            });
            tasks.abort_all();
        }
        rows[i] = Some(row);
    }
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.unwrap_or_else(|| {
                let planned = planned_row(policy, options, i);
                match &access_failure {
                    Some(first) => {
                        let mut row = planned;
                        row.verdict = Verdict::Error;
                        row.problems.push(format!(
                            "not checked: the run stopped when checking {} failed to reach \
                             the registry",
                            first.image
                        ));
                        row
                    }
                    // Unreachable: without an access failure every task ran.
                    None => {
                        planned.fail("internal error: the check of this image did not complete")
                    }
                }
            })
        })
        .collect();
    ReleaseReport {
        version: options.version.clone(),
        rows,
        access_failure,
    }
}

/// Row `i` of the report before anything is checked: the signed images
/// first, then the third-party ones.
fn planned_row(policy: &ReleasePolicy, options: &ReleaseOptions, i: usize) -> ImageRow {
    match i.checked_sub(policy.images.len()) {
        None => {
            let image = &policy.images[i];
            let reference = format!("{}/{}:{}", policy.registry, image.name, options.version);
            ImageRow::new(&image.name, ImageKind::Signed, reference)
        }
        Some(j) => {
            let image = &policy.third_party[j];
            let mut row =
                ImageRow::new(&image.name, ImageKind::ThirdParty, image.reference.clone());
            row.category = Some(image.category.clone());
            row
        }
    }
}

/// Spawns the verification of image `i` of the report; the task owns copies
/// of what it needs.
fn spawn_image<S: ImageSource>(
    tasks: &mut JoinSet<(usize, ImageRow)>,
    i: usize,
    client: &S,
    material: &Arc<TrustedMaterial>,
    policy: &ReleasePolicy,
    options: &ReleaseOptions,
) -> tokio::task::AbortHandle {
    let (client, material) = (client.clone(), material.clone());
    let row = planned_row(policy, options, i);
    match i.checked_sub(policy.images.len()) {
        None => {
            let image = policy.images[i].clone();
            let (version, missing) = (options.version.clone(), options.missing);
            tasks.spawn(async move {
                let row =
                    verify_signed_image(&client, &material, &image, row, &version, missing).await;
                (i, row)
            })
        }
        Some(j) => {
            let image = policy.third_party[j].clone();
            tasks.spawn(
                async move { (i, verify_third_party(&client, &material, &image, row).await) },
            )
        }
    }
}

async fn verify_signed_image(
    client: &impl ImageSource,
    material: &TrustedMaterial,
    image: &ReleaseImage,
    row: ImageRow,
    version: &str,
    missing: MissingImages,
) -> ImageRow {
    let expected = image.expected_at(version);
    let parsed: Reference = match row.reference.parse() {
        Ok(r) => r,
        Err(e) => return row.fail(format!("reference: {e}")),
    };
    let repo = parsed.repository();
    let digest = match client
        .manifest(
            repo,
            &parsed.manifest_reference(),
            vouch_oci::oci::MANIFEST_ACCEPT,
        )
        .await
    {
        Ok(Some(fetched)) => fetched.digest,
        Ok(None) => return missing_image(row, version, &expected, missing),
        Err(e) => return row.registry_error("resolving the tag", &e),
    };
    let mut row = row;
    row.digest = Some(digest.to_string());
    match verify_attached(
        client,
        material,
        repo,
        digest,
        &image.signer,
        Lookup::Everything,
    )
    .await
    {
        Ok(found) => {
            row.warnings.extend(found.fallback_warning());
            check_signed(row, image, found).finish()
        }
        Err(e) => row.registry_error("listing signatures and attestations", &e),
    }
}

/// The row of a signed image with no tag `version` in its repository.
fn missing_image(
    mut row: ImageRow,
    version: &str,
    expected: &Expected,
    missing: MissingImages,
) -> ImageRow {
    row.missing = true;
    let absent = format!("no image at {version} (the registry has no tag `{version}`)");
    match (expected, missing) {
        (Expected::IfPresent(why), _) => row.skip(format!("{absent}; {why}")),
        (_, MissingImages::Skip) => {
            row.skip(format!("{absent}; missing images are allowed in this run"))
        }
        _ => row.fail(absent),
    }
}

fn signer_of(v: &VerifiedSignature) -> String {
    v.certificate()
        .map_or_else(|| "public key".to_string(), |c| c.identity.clone())
}

/// Fills the row from what verified and checks the policy's requirements.
fn check_signed(mut row: ImageRow, image: &ReleaseImage, found: Attached) -> ImageRow {
    row.signer = found.signatures.first().map(|s| signer_of(s.signature()));
    if found.signatures.is_empty() {
        row.problems.push(no_signature(&found));
    }
    row.record_rejections(&found);
    row.verified.clone_from(&found.verified);
    for filter in &image.required {
        // Every verified attestation of a required type must pass its checks
        // (e.g. the SLSA builder); the first one fills the summary columns.
        let matching: Vec<_> = found
            .attestations
            .iter()
            .filter(|a| filter.matches(a.predicate_type()))
            .collect();
        if matching.is_empty() {
            row.problems.push(missing(filter, &found));
        }
        for att in matching {
            row = summarise(row, att, image);
        }
    }
    row
}

/// Why no signature verified, in one line: who signed instead, or the
/// first rejection's first line. The full reasons are in
/// [`ImageRow::rejected`] (`--output json`).
fn no_signature(found: &Attached) -> String {
    let rejected: Vec<&Rejection> = found.signature_rejections().collect();
    if rejected.is_empty() {
        return "signature: no signatures found".to_string();
    }
    format!("signature: {}", rejection_summary(&rejected))
}

/// One line about `rejected` (not empty): who signed instead when the first
/// is an identity mismatch, else the first reason's first line; the full
/// reasons are in [`ImageRow::rejected`].
fn rejection_summary(rejected: &[&Rejection]) -> String {
    let signers = distinct_signers(rejected.iter().copied());
    let summary = match (rejected.first(), signers.as_slice()) {
        (Some(first), [signer, others @ ..]) if first.policy_mismatch().is_some() => format!(
            "signed by {} ({}){}, not the policy's signer",
            signer.identity,
            signer.issuer,
            match others.len() {
                0 => String::new(),
                n => format!(" and {n} other signer(s)"),
            }
        ),
        (first, _) => format!(
            "{} rejected; first: {}",
            rejected.len(),
            first
                .map(|r| r.to_string())
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
        ),
    };
    format!("{summary} (details in the JSON report)")
}

fn missing(filter: &PredicateFilter, found: &Attached) -> String {
    let mut types: Vec<&str> = found
        .attestations
        .iter()
        .map(|a| a.predicate_type())
        .collect();
    types.sort();
    types.dedup();
    let mut text = format!(
        "attestation {}: none verified (found: {})",
        filter.given(),
        if types.is_empty() {
            "none".to_string()
        } else {
            types.join(", ")
        }
    );
    // The rejected candidates that say they are of this type (unverified).
    let rejected: Vec<&Rejection> = found
        .rejected
        .iter()
        .filter(|r| {
            r.claimed_predicate_type
                .as_deref()
                .is_none_or(|t| filter.matches(t))
        })
        .collect();
    if !rejected.is_empty() {
        text.push_str(&format!("; {}", rejection_summary(&rejected)));
    }
    text
}

fn summarise(mut row: ImageRow, att: &VerifiedAttestation, image: &ReleaseImage) -> ImageRow {
    match att.statement().parse_predicate() {
        Ok(Predicate::Spdx(doc)) => {
            row.sbom_packages.get_or_insert(doc.summary().packages);
        }
        Ok(Predicate::CycloneDx(bom)) => {
            row.sbom_packages.get_or_insert(bom.summary().packages);
        }
        Ok(Predicate::SlsaProvenanceV1(p)) => row = builder(row, p.builder_id.clone(), image),
        Ok(Predicate::SlsaProvenanceV02(p)) => row = builder(row, p.builder_id.clone(), image),
        Ok(Predicate::OpenVex(vex)) => {
            if row.vex_statements.is_none() {
                row.vex_statements = Some(vex.statements.len());
                row.vex_document = att.statement().predicate_json().map(str::to_string);
            }
        }
        Ok(_) => {}
        Err(e) => row
            .problems
            .push(format!("attestation {}: {e}", att.predicate_type())),
    }
    row
}

fn builder(mut row: ImageRow, id: String, image: &ReleaseImage) -> ImageRow {
    if let Some(pattern) = &image.slsa_builder
        && !pattern.matches(&id)
    {
        row.problems.push(format!(
            "SLSA builder: expected {pattern}, the provenance names `{id}`"
        ));
    }
    row.slsa_builder.get_or_insert(id);
    row
}

async fn verify_third_party(
    client: &impl ImageSource,
    material: &TrustedMaterial,
    image: &ThirdPartyImage,
    row: ImageRow,
) -> ImageRow {
    let parsed: Reference = match image.reference.parse() {
        Ok(r) => r,
        Err(e) => return row.fail(format!("reference: {e}")),
    };
    let Some(pinned) = parsed.digest() else {
        return row.fail("not pinned by digest");
    };
    let mut row = row;
    row.digest = Some(pinned.to_string());
    let repo = parsed.repository();
    match client
        .manifest(repo, &pinned.to_string(), vouch_oci::oci::MANIFEST_ACCEPT)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return row.fail(format!("pinned digest {pinned} not found in {repo}")),
        Err(e) => return row.registry_error("fetching the pinned manifest", &e),
    }
    if let Some(tag) = parsed.tag() {
        match client
            .manifest(repo, tag.as_str(), vouch_oci::oci::MANIFEST_ACCEPT)
            .await
        {
            Ok(Some(now)) if now.digest != pinned => {
                row.problems.push(format!(
                    "digest drifted: tag {tag} now points to {}, the policy pins {pinned}",
                    now.digest
                ));
            }
            Ok(_) => {}
            Err(e) => return row.registry_error(&format!("resolving tag {tag}"), &e),
        }
    }
    if let Some(signer) = &image.signer {
        match verify_attached(client, material, repo, pinned, signer, Lookup::Signatures).await {
            Ok(found) => {
                row.warnings.extend(found.fallback_warning());
                row.signer = found.signatures.first().map(|s| signer_of(s.signature()));
                if found.signatures.is_empty() {
                    row.problems.push(no_signature(&found));
                }
                row.record_rejections(&found);
                row.verified.clone_from(&found.verified);
            }
            Err(e) => return row.registry_error("listing signatures", &e),
        }
    }
    row.finish()
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    fn row(name: &str, kind: ImageKind, verdict: Verdict, missing: bool) -> ImageRow {
        let mut row = ImageRow::new(name, kind, format!("r.example/{name}:v1"));
        row.verdict = verdict;
        row.missing = missing;
        row
    }

    fn report(rows: Vec<ImageRow>, access: bool) -> ReleaseReport {
        ReleaseReport {
            version: "v1".into(),
            rows,
            access_failure: access.then(|| AccessFailure {
                image: "b".into(),
                message: "401".into(),
            }),
        }
    }

    #[test]
    fn a_failure_outranks_an_access_failure_which_outranks_nothing_verified() {
        use Verdict::{Error, Fail, Ok, Skip};
        let failed = report(
            vec![
                row("a", ImageKind::Signed, Fail, false),
                row("b", ImageKind::Signed, Error, false),
            ],
            true,
        );
        assert_eq!(
            failed.outcome(),
            Outcome::Failed {
                images: vec!["a".into()],
                all_missing: false
            }
        );
        let unreachable = report(
            vec![
                row("a", ImageKind::Signed, Ok, false),
                row("b", ImageKind::Signed, Error, false),
            ],
            true,
        );
        assert!(matches!(unreachable.outcome(), Outcome::AccessFailed(_)));
        assert!(!unreachable.passed());
        let skipped = report(
            vec![
                row("a", ImageKind::Signed, Skip, true),
                row("envoy", ImageKind::ThirdParty, Ok, false),
            ],
            false,
        );
        assert_eq!(skipped.outcome(), Outcome::NothingVerified { skipped: 1 });
        let passed = report(
            vec![
                row("a", ImageKind::Signed, Ok, false),
                row("b", ImageKind::Signed, Skip, true),
            ],
            false,
        );
        assert_eq!(
            passed.outcome(),
            Outcome::Passed {
                verified: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn every_signed_image_missing_is_named_as_a_probable_version_typo() {
        use Verdict::{Fail, Ok, Skip};
        let typo = report(
            vec![
                row("a", ImageKind::Signed, Fail, true),
                row("b", ImageKind::Signed, Skip, true),
                row("envoy", ImageKind::ThirdParty, Ok, false),
            ],
            false,
        );
        assert!(matches!(
            typo.outcome(),
            Outcome::Failed {
                all_missing: true,
                ..
            }
        ));
        let one_missing = report(
            vec![
                row("a", ImageKind::Signed, Fail, true),
                row("b", ImageKind::Signed, Ok, false),
            ],
            false,
        );
        assert!(matches!(
            one_missing.outcome(),
            Outcome::Failed {
                all_missing: false,
                ..
            }
        ));
    }
}

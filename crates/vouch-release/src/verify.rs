//! Verifying a whole release in one concurrent pass: every image's signature
//! and required attestations from one listing of what is attached, one
//! shared trust root, one client (connection pool and token cache).

use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;
use vouch_attest::{Predicate, PredicateFilter};
use vouch_oci::{Reference, RegistryClient};
use vouch_verify::{TrustedMaterial, VerifiedAttestation, VerifiedSignature};

use crate::attached::{Attached, Lookup, verify_attached};

use crate::policy::{ReleaseImage, ReleasePolicy, ThirdPartyImage};

/// Default bound on images verified at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How to run a release verification.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The version (tag) to verify.
    pub version: String,
    /// An image missing at that version fails instead of being skipped.
    pub require_all: bool,
    /// Images verified at once.
    pub concurrency: usize,
}

/// The outcome for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every required check passed.
    Ok,
    /// At least one required check failed.
    Fail,
    /// The image does not exist at this version (and `--require-all` is off).
    Skip,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    /// The image's name in the policy.
    pub name: String,
    /// `signed` or the third-party category.
    pub kind: String,
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
    /// Every failed check, naming the check.
    pub problems: Vec<String>,
    /// The verified OpenVEX document, for `--vex-dir`.
    #[serde(skip)]
    pub vex_document: Option<String>,
}

impl ImageRow {
    fn new(name: &str, kind: &str, reference: String) -> Self {
        Self {
            name: name.to_string(),
            kind: kind.to_string(),
            reference,
            digest: None,
            signer: None,
            sbom_packages: None,
            slsa_builder: None,
            vex_statements: None,
            verdict: Verdict::Ok,
            problems: Vec::new(),
            vex_document: None,
        }
    }

    fn fail(mut self, problem: impl Into<String>) -> Self {
        self.problems.push(problem.into());
        self.verdict = Verdict::Fail;
        self
    }

    fn finish(mut self) -> Self {
        if !self.problems.is_empty() {
            self.verdict = Verdict::Fail;
        }
        self
    }
}

/// A progress event, for a progress bar.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Images done so far.
    pub done: usize,
    /// Images in the release.
    pub total: usize,
    /// The image just finished.
    pub name: String,
}

/// Verifies every image of the release. Never fails as a whole: each
/// image's problems are in its row.
///
/// At most `options.concurrency` images are in flight: a task is spawned only
/// when a slot frees up, so memory does not grow with the release's size
/// beyond one small row per image (`docs/benchmarks.md`, "A whole release").
pub async fn verify_release(
    client: &RegistryClient,
    material: Arc<TrustedMaterial>,
    policy: &ReleasePolicy,
    options: &ReleaseOptions,
    progress: impl Fn(Progress),
) -> Vec<ImageRow> {
    let limit = options.concurrency.max(1);
    let total = policy.images.len() + policy.third_party.len();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    let mut rows: Vec<Option<ImageRow>> = vec![None; total];
    let mut done = 0;
    loop {
        while tasks.len() < limit && next < total {
            spawn_image(&mut tasks, next, client, &material, policy, options);
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((i, row)) = joined else { continue };
        done += 1;
        progress(Progress {
            done,
            total,
            name: row.name.clone(),
        });
        rows[i] = Some(row);
    }
    rows.into_iter().flatten().collect()
}

/// Spawns the verification of image `i` of the report (the signed images
/// first, then the third-party ones); the task owns copies of what it needs.
fn spawn_image(
    tasks: &mut JoinSet<(usize, ImageRow)>,
    i: usize,
    client: &RegistryClient,
    material: &Arc<TrustedMaterial>,
    policy: &ReleasePolicy,
    options: &ReleaseOptions,
) {
    let (client, material) = (client.clone(), material.clone());
    match i.checked_sub(policy.images.len()) {
        None => {
            let image = policy.images[i].clone();
            let reference = format!("{}/{}:{}", policy.registry, image.name, options.version);
            let require_all = options.require_all;
            tasks.spawn(async move {
                let row =
                    verify_signed_image(&client, &material, &image, reference, require_all).await;
                (i, row)
            });
        }
        Some(j) => {
            let image = policy.third_party[j].clone();
            tasks.spawn(async move { (i, verify_third_party(&client, &material, &image).await) });
        }
    }
}

async fn verify_signed_image(
    client: &RegistryClient,
    material: &TrustedMaterial,
    image: &ReleaseImage,
    reference: String,
    require_all: bool,
) -> ImageRow {
    let row = ImageRow::new(&image.name, "signed", reference.clone());
    let parsed: Reference = match reference.parse() {
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
        Ok(None) if require_all => return row.fail("image not found at this version"),
        Ok(None) => {
            let mut row = row;
            row.verdict = Verdict::Skip;
            row.problems.push("no image at this version".into());
            return row;
        }
        Err(e) => return row.fail(format!("resolving: {e}")),
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
        Ok(found) => check_signed(row, image, found).finish(),
        Err(e) => row.fail(e.to_string()),
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
        let detail = if found.rejected.is_empty() {
            "no signatures found".to_string()
        } else {
            found.rejected.join("; ")
        };
        row.problems.push(format!("signature: {detail}"));
    }
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
    if !found.rejected.is_empty() {
        text.push_str(&format!("; rejected: {}", found.rejected.join("; ")));
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
    client: &RegistryClient,
    material: &TrustedMaterial,
    image: &ThirdPartyImage,
) -> ImageRow {
    let row = ImageRow::new(&image.name, &image.category, image.reference.clone());
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
        Err(e) => return row.fail(format!("fetching the pinned manifest: {e}")),
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
            Err(e) => row.problems.push(format!("resolving tag {tag}: {e}")),
        }
    }
    if let Some(signer) = &image.signer {
        match verify_attached(client, material, repo, pinned, signer, Lookup::Signatures).await {
            Ok(found) => {
                row.signer = found.signatures.first().map(|s| signer_of(s.signature()));
                if found.signatures.is_empty() {
                    row.problems
                        .push(format!("signature: {}", found.rejected.join("; ")));
                }
            }
            Err(e) => row.problems.push(e.to_string()),
        }
    }
    row.finish()
}

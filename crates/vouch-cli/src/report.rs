//! Printing verified results: text for people (stderr, like cosign), JSON for
//! machines (stdout).

use serde_json::{Value, json};
use vouch_verify::{
    ClaimCheck, LogCheck, SctCheck, Signer, VerifiedAttestation, VerifiedSignature,
};

/// The JSON description of a verified signature.
pub fn signature_json(v: &VerifiedSignature) -> Value {
    let signer = match v.signer() {
        Signer::PublicKey => json!({"kind": "public-key"}),
        Signer::Certificate(c) | Signer::UncheckedCertificate(c) => {
            let gh = &c.github;
            json!({
                "kind": "certificate",
                "identityChecked": matches!(v.signer(), Signer::Certificate(_)),
                "sctChecked": v.checks().sct == SctCheck::Required,
                "identity": c.identity,
                "issuer": c.issuer,
                "githubWorkflowRepository": gh.workflow_repository,
                "githubWorkflowRef": gh.workflow_ref,
                "githubWorkflowSha": gh.workflow_sha,
                "githubWorkflowName": gh.workflow_name,
                "githubWorkflowTrigger": gh.workflow_trigger,
                "buildSignerUri": gh.build_signer_uri,
                "runInvocationUri": gh.run_invocation_uri,
            })
        }
        _ => json!({"kind": "unknown"}),
    };
    json!({
        "verified": true,
        "artifactDigest": v.artifact_digest(),
        "signer": signer,
        "transparencyLogChecked": v.checks().log == LogCheck::Required,
        "claimsChecked": v.checks().claims == ClaimCheck::Required,
        "logIndex": v.log_index(),
        "integratedTime": v.integrated_time().map(|t| t.to_string()),
        "verifiedTimes": v.verified_times().iter().map(|t| t.to_string()).collect::<Vec<_>>(),
    })
}

/// The lines printed under "Verified OK".
pub fn signature_text(v: &VerifiedSignature) -> String {
    let mut out = format!("  artifact:   {}\n", v.artifact_digest());
    match v.certificate() {
        Some(c) => {
            for line in c.describe().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        None => out.push_str("  signer:     the supplied public key\n"),
    }
    let skipped: Vec<&str> = [
        (
            v.checks().claims == ClaimCheck::InsecureSkipped,
            "claims (the image digest the payload names)",
        ),
        (
            v.checks().log == LogCheck::InsecureSkipped,
            "transparency log",
        ),
        (
            v.checks().sct == SctCheck::InsecureSkipped && v.certificate().is_some(),
            "SCT",
        ),
    ]
    .into_iter()
    .filter_map(|(skipped, what)| skipped.then_some(what))
    .collect();
    if !skipped.is_empty() {
        out.push_str(&format!("  not checked: {}\n", skipped.join(", ")));
    }
    if let Some(index) = v.log_index() {
        out.push_str(&format!("  log index:  {index}\n"));
    }
    if let Some(time) = v.integrated_time() {
        out.push_str(&format!("  logged at:  {time}\n"));
    }
    out
}

/// The JSON description of a verified attestation.
pub fn attestation_json(v: &VerifiedAttestation) -> Value {
    let mut out = signature_json(v.signature());
    let statement = v.statement();
    out["predicateType"] = json!(statement.predicate_type());
    out["summary"] = json!(predicate_summary(v));
    out["predicate"] = statement.predicate().clone();
    out
}

/// The lines printed under "Verified OK" for an attestation.
pub fn attestation_text(v: &VerifiedAttestation) -> String {
    let mut out = signature_text(v.signature());
    out.push_str(&format!("  predicate:  {}\n", v.predicate_type()));
    if let Some(summary) = predicate_summary(v) {
        for line in summary.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// A short summary of a typed predicate (SBOM, provenance, VEX), if known.
fn predicate_summary(v: &VerifiedAttestation) -> Option<String> {
    let predicate = v.statement().parse_predicate().ok()?;
    predicate.summary().map(|s| s.to_string())
}

//! Printing verified results: text for people (stderr, like cosign), JSON for
//! machines (stdout).

use serde_json::{Value, json};
use vouch_verify::{Signer, VerifiedSignature};

/// The JSON description of a verified signature.
pub fn signature_json(v: &VerifiedSignature) -> Value {
    let signer = match v.signer() {
        Signer::PublicKey => json!({"kind": "public-key"}),
        Signer::Certificate(c) | Signer::UncheckedCertificate(c) => {
            let gh = &c.github;
            json!({
                "kind": "certificate",
                "identityChecked": matches!(v.signer(), Signer::Certificate(_)),
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
    if let Some(index) = v.log_index() {
        out.push_str(&format!("  log index:  {index}\n"));
    }
    if let Some(time) = v.integrated_time() {
        out.push_str(&format!("  logged at:  {time}\n"));
    }
    out
}

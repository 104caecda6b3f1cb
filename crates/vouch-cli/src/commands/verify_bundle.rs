//! `vouch verify-bundle`: the sigstore-conformance CLI protocol
//! (sigstore-conformance `docs/cli_protocol.md`), so the `vouch` binary can
//! be the suite's entrypoint.

use vouch_verify::verify_bundle;

use crate::args::{IdentityArgs, VerifyBundleArgs};
use crate::failure::Failure;
use crate::inputs::{self, Artifact};

/// Runs the command.
pub fn run(args: &VerifyBundleArgs) -> Result<(), Failure> {
    let identity = IdentityArgs {
        certificate_identity: args.certificate_identity.clone(),
        certificate_identity_regexp: None,
        certificate_oidc_issuer: args.certificate_oidc_issuer.clone(),
        certificate_oidc_issuer_regexp: None,
        certificate_github_workflow_trigger: None,
        certificate_github_workflow_sha: None,
        certificate_github_workflow_name: None,
        certificate_github_workflow_repository: None,
        certificate_github_workflow_ref: None,
        key: args.key.clone(),
    };
    let policy = inputs::signer_policy(&identity)?;
    let bundle = inputs::bundle(&args.bundle)?;
    let artifact = Artifact::from_arg(&args.artifact)?;
    // Trust last: a malformed input should not cost a TUF refresh.
    let material = inputs::trust_material(&args.trust, args.default_trust())?;
    verify_bundle(&material, &bundle, artifact.input(), &policy)?;
    eprintln!("Verified OK");
    Ok(())
}

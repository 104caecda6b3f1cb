//! `vouch verify-blob`: a blob and its Sigstore bundle.

use vouch_verify::verify_bundle;

use crate::args::{OutputFormat, VerifyBlobArgs};
use crate::failure::Failure;
use crate::inputs::DefaultTrust;
use crate::inputs::{self, Artifact};
use crate::report;

/// Runs the command.
pub fn run(args: &VerifyBlobArgs) -> Result<(), Failure> {
    let policy = inputs::signer_policy(&args.identity)?;
    let bundle = inputs::bundle(&args.bundle)?;
    let artifact = Artifact::from_arg(&args.artifact)?;
    // Trust last: a malformed input should not cost a TUF refresh.
    let material =
        inputs::verification_material(&args.trust, &args.infrastructure, DefaultTrust::Tuf)?;
    let verified = verify_bundle(&material, &bundle, artifact.input(), &policy)?;
    match args.output {
        OutputFormat::Json => outln!("{}", report::signature_json(&verified)),
        OutputFormat::Text => eprint!("Verified OK\n{}", report::signature_text(&verified)),
    }
    Ok(())
}

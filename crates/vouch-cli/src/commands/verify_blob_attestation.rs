//! `vouch verify-blob-attestation`: a DSSE in-toto attestation bundle about a blob.

use vouch_attest::PredicateFilter;
use vouch_verify::{VerifyError, verify_attestation};

use crate::args::{OutputFormat, VerifyBlobAttestationArgs};
use crate::failure::Failure;
use crate::inputs::DefaultTrust;
use crate::inputs::{self, Artifact};
use crate::report;

/// Runs the command.
pub fn run(args: &VerifyBlobAttestationArgs) -> Result<(), Failure> {
    // Like cosign, --type defaults to `custom` only when given; without it any
    // predicate type is accepted and reported.
    let filter = args
        .predicate_type
        .as_deref()
        .map(PredicateFilter::parse)
        .transpose()
        .map_err(|e| Failure::usage(format!("--type: {e}")))?;
    let policy = inputs::signer_policy(&args.identity)?;
    let bundle = inputs::bundle(&args.bundle)?;
    let artifact = Artifact::from_arg(&args.artifact)?;
    // Trust last: a malformed input should not cost a TUF refresh.
    let material =
        inputs::verification_material(&args.trust, &args.infrastructure, DefaultTrust::Tuf)?;
    // Verification first, filtering second (SPEC.md §4.2, ATTACKS.md F.66).
    let verified = verify_attestation(&material, &bundle, artifact.input(), &policy)?;
    if let Some(filter) = filter.filter(|f| !f.matches(verified.predicate_type())) {
        return Err(VerifyError::PredicateTypeMismatch {
            expected: format!("`{}` ({})", filter.given(), filter.uri()),
            found: verified.predicate_type().to_string(),
        }
        .into());
    }
    match args.output {
        OutputFormat::Json => outln!("{}", report::attestation_json(&verified)),
        OutputFormat::Text => eprint!("Verified OK\n{}", report::attestation_text(&verified)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_type_names_are_refused_before_any_io() {
        assert!(vouch_attest::PredicateFilter::parse("spdx-json").is_err());
        assert!(vouch_attest::PredicateFilter::parse("openvex").is_ok());
    }
}

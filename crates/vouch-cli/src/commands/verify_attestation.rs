//! `vouch verify-attestation`: in-toto attestations on container images,
//! cosign-compatible, with the summaries and files people used jq for.

use vouch_attest::{Predicate, PredicateFilter, PredicateSummary, PredicateTypeName};
use vouch_image::Lookup;
use vouch_verify::{SignedContent, ValueMatcher, VerifiedAttestation};

use crate::args::{OutputFormat, VerifyAttestationArgs};
use crate::commands::image;
use crate::failure::{Failure, FailureKind};
use crate::inputs;
use crate::inputs::DefaultTrust;
use crate::report;

/// Runs the command.
pub fn run(args: &VerifyAttestationArgs) -> Result<(), Failure> {
    // One file holds one predicate: with several images each would overwrite
    // the one before, and only the last would be kept.
    if args.predicate_out.is_some() && args.images.len() != 1 {
        return Err(Failure::usage(format!(
            "--predicate-out writes one file, so it takes exactly one IMAGE; {} were given \
             (run vouch once per image, or use verify-release --vex-dir for a release's VEX \
             documents)",
            args.images.len()
        )));
    }
    let filter = PredicateFilter::parse(&args.predicate_type)
        .map_err(|e| Failure::usage(format!("--type: {e}")))?;
    let builder = args
        .slsa_builder_id_regexp
        .as_deref()
        .map(ValueMatcher::regex)
        .transpose()?;
    let policy = inputs::signer_policy(&args.identity)?;
    let material = inputs::with_claim_check(
        inputs::verification_material(&args.trust, &args.infrastructure, DefaultTrust::Tuf)?,
        args.source.check_claims,
    );
    let origin = image::Origin::from_args(&args.source, &args.registry)?;
    let json = args.output == OutputFormat::Json;
    let mut documents = Vec::new();
    image::runtime()?.block_on(async {
        for arg in &args.images {
            let (resolved, found) = image::resolve_attached(
                &origin,
                &args.registry,
                arg,
                &material,
                &policy,
                Lookup::Attestations,
            )
            .await?;
            let verified = verified_attestations(found)?;
            let matching = select(&verified, &filter, &args.predicate_type)?;
            if let Some(pattern) = &builder {
                check_builder(&matching, pattern)?;
            }
            image::print_header(&resolved.shown, &image::checks_performed(&material));
            if json {
                documents.push(serde_json::json!({
                    "image": resolved.shown,
                    "digest": resolved.digest.to_string(),
                    "attestations": matching.iter().map(|a| report::attestation_json(a)).collect::<Vec<_>>(),
                }));
            }
            for att in matching.iter().filter(|_| !json) {
                if args.summary {
                    outln!("{}", summary_line(att));
                } else if let SignedContent::Dsse { envelope_json, .. } = att.signature().content() {
                    outln!("{envelope_json}");
                }
            }
            if let Some(path) = &args.predicate_out {
                write_predicate(path, &matching)?;
            }
        }
        Ok::<_, Failure>(())
    })?;
    if json {
        outln!(
            "{:#}",
            serde_json::json!({
                "schemaVersion": ATTESTATIONS_SCHEMA_VERSION,
                "images": documents,
            })
        );
    }
    Ok(())
}

/// The version of `verify-attestation --output json`'s shape.
const ATTESTATIONS_SCHEMA_VERSION: u32 = 1;

/// Every attestation on the image that verifies (bundle referrers and the
/// legacy `.att` tag), whatever its predicate type.
fn verified_attestations(
    found: vouch_image::Attached,
) -> Result<Vec<VerifiedAttestation>, Failure> {
    if found.attestations.is_empty() {
        // The attestation candidates only, not the signatures beside them.
        let candidates: Vec<_> = found
            .rejected
            .iter()
            .filter(|r| !r.is_signature_candidate())
            .collect();
        let report = crate::failure::no_match_report(
            "attestations",
            &candidates,
            "no attestation is attached",
        );
        return Err(Failure::new(FailureKind::NoMatching, report));
    }
    Ok(found.attestations)
}

/// The verified attestations of the requested type (filtering after
/// verification: SPEC.md §4.2, ATTACKS.md F.66).
fn select<'a>(
    verified: &'a [VerifiedAttestation],
    filter: &PredicateFilter,
    given: &str,
) -> Result<Vec<&'a VerifiedAttestation>, Failure> {
    let matching: Vec<_> = verified
        .iter()
        .filter(|a| filter.matches(a.predicate_type()))
        .collect();
    if matching.is_empty() {
        let mut found: Vec<&str> = verified.iter().map(|a| a.predicate_type()).collect();
        found.sort();
        found.dedup();
        return Err(Failure::new(
            FailureKind::NoMatching,
            format!(
                "none of the attestations matched the predicate type: {given}, found: {}\n\
                 hint: {}",
                found.join(","),
                type_suggestions(&found)
            ),
        ));
    }
    Ok(matching)
}

/// The `--type` values that would select the predicate types found, one
/// per type: `--type spdxjson (https://spdx.dev/Document)`.
fn type_suggestions(found: &[&str]) -> String {
    let each: Vec<String> = found
        .iter()
        .map(|uri| {
            let names = PredicateTypeName::selecting(uri);
            match names.last() {
                // `spdxjson` rather than `spdx`: the later name is the
                // specific one where two select the same type.
                Some(name) => format!("--type {name} ({uri})"),
                None => format!("--type {uri}"),
            }
        })
        .collect();
    format!("these would match: {}", each.join(", "))
}

/// Every matching SLSA provenance must come from a builder matching `pattern`.
fn check_builder(matching: &[&VerifiedAttestation], pattern: &ValueMatcher) -> Result<(), Failure> {
    for att in matching {
        let builder = match att.statement().parse_predicate() {
            Ok(Predicate::SlsaProvenanceV1(p)) => p.builder_id.clone(),
            Ok(Predicate::SlsaProvenanceV02(p)) => p.builder_id.clone(),
            _ => continue,
        };
        if !pattern.matches(&builder) {
            return Err(Failure::new(
                FailureKind::NoMatching,
                format!(
                    "SLSA provenance builder mismatch: expected {pattern}, the provenance names `{builder}`"
                ),
            ));
        }
    }
    Ok(())
}

/// One line (or one per VEX statement) saying what the attestation says.
fn summary_line(att: &VerifiedAttestation) -> String {
    let summary = att
        .statement()
        .parse_predicate()
        .ok()
        .and_then(|p| p.summary());
    match summary {
        Some(PredicateSummary::Vex(vex)) => format!("{}:\n{vex}", att.predicate_type()),
        Some(other) => other.to_string(),
        None => format!(
            "{} (no summary for this predicate type)",
            att.predicate_type()
        ),
    }
}

/// Writes the predicate of the single matching attestation.
fn write_predicate(
    path: &std::path::Path,
    matching: &[&VerifiedAttestation],
) -> Result<(), Failure> {
    let [att] = matching else {
        return Err(Failure::usage(format!(
            "--predicate-out needs exactly one matching attestation; {} match",
            matching.len()
        )));
    };
    let text = match att.statement().predicate_json() {
        Some(raw) => raw.to_string(),
        None => serde_json::to_string_pretty(att.statement().predicate()).unwrap_or_default(),
    };
    crate::inputs::write_file(path, text.as_bytes())
}

//! `vouch verify`: signatures on container images, cosign-compatible.
//!
//! Both layouts are searched for every image: Sigstore bundle referrers
//! (cosign v3) and legacy `sha256-<hex>.sig` tags (cosign v2) — per image,
//! not decided once per run from the first image as cosign does (SPEC.md §0.3).
//! A bundle referrer counts as a signature only when its statement's
//! predicate type is cosign's signature type: an SBOM attestation is not a
//! signature (ATTACKS.md F.67; cosign v3 accepts any verified bundle).

use serde_json::{Map, Value, json};
use vouch_image::{Attached, COSIGN_SIGN_PREDICATE, ImageSignature, Lookup, Rejection};
use vouch_verify::{ClaimCheck, VerifiedSignature};

use crate::args::{OutputFormat, VerifyArgs};
use crate::commands::image::{self, ResolvedImage};
use crate::failure::{Failure, FailureKind};
use crate::inputs;
use crate::inputs::DefaultTrust;

/// Runs the command.
pub fn run(args: &VerifyArgs) -> Result<(), Failure> {
    let policy = inputs::signer_policy(&args.identity)?;
    let material = inputs::with_claim_check(
        inputs::verification_material(&args.trust, &args.infrastructure, DefaultTrust::Tuf)?,
        args.source.check_claims,
    );
    let origin = image::Origin::from_args(&args.source, &args.registry)?;
    if args.source.local_image && args.platform.is_some() {
        return Err(Failure::usage(
            "--platform needs a registry; with --local-image the layout's image is verified",
        ));
    }
    image::runtime()?.block_on(async {
        for arg in &args.images {
            let (resolved, found) = image::resolve_attached(
                &origin,
                &args.registry,
                arg,
                &material,
                &policy,
                Lookup::Signatures,
            )
            .await?;
            let platform = match (&args.platform, &origin) {
                (Some(platform), image::Origin::Registry(client)) => Some((
                    platform,
                    image::platform_manifest(client, &resolved, platform).await?,
                )),
                _ => None,
            };
            let payloads = verify_image(found, &resolved, &args.annotations)?;
            image::print_header(&resolved.shown, &image::checks_performed(&material));
            if let Some((platform, digest)) = platform {
                eprintln!(
                    "Platform {platform} of {}@{}: {digest}",
                    resolved.reference.repository(),
                    resolved.digest
                );
            }
            match args.output {
                OutputFormat::Json => outln!("\n{}", Value::Array(payloads)),
                OutputFormat::Text => {
                    for payload in payloads {
                        outln!("{payload}");
                    }
                }
            }
        }
        Ok(())
    })
}

/// Every verified signature on the image, as cosign prints them.
fn verify_image(
    found: Attached,
    image: &ResolvedImage,
    annotations: &[(String, String)],
) -> Result<Vec<Value>, Failure> {
    if found.signatures.is_empty() {
        return Err(Failure::new(FailureKind::NoMatching, no_matching(&found)));
    }
    let annotated: Vec<&ImageSignature> = found
        .signatures
        .iter()
        .filter(|s| annotations.is_empty() || carries(&signed_annotations(s), annotations))
        .collect();
    if annotated.is_empty() {
        let wanted: Vec<String> = annotations
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let seen: Vec<String> = found
            .signatures
            .iter()
            .map(|s| Value::Object(signed_annotations(s)).to_string())
            .collect();
        return Err(Failure::new(
            FailureKind::NoMatching,
            format!(
                "{} signature(s) verified, but none carries the annotations {} (they carry: {})",
                found.signatures.len(),
                wanted.join(", "),
                seen.join(", ")
            ),
        ));
    }
    Ok(annotated
        .into_iter()
        .map(|s| match s {
            ImageSignature::Bundle(att) => bundle_payload(image, att),
            ImageSignature::Legacy(v, sig) => legacy_payload(v, sig),
        })
        .collect())
}

/// Why no signature verified: each signature candidate (not the
/// attestations beside them) with its reason, each distinct signing
/// certificate's claims once, then the guide's advice.
fn no_matching(found: &Attached) -> String {
    let candidates: Vec<&Rejection> = found.signature_rejections().collect();
    let none = format!(
        "no signature is attached; {} verified attestation(s), and an attestation is not a \
         signature (its predicate type is not {COSIGN_SIGN_PREDICATE})",
        found.attestations.len()
    );
    crate::failure::no_match_report("signatures", &candidates, &none)
}

/// The annotations a signature's signed content carries: the
/// simple-signing payload's `optional` map (`.sig`), or the statement's
/// first subject's annotations (bundles).
fn signed_annotations(signature: &ImageSignature) -> Map<String, Value> {
    let map = match signature {
        ImageSignature::Bundle(att) => att
            .statement()
            .subjects()
            .first()
            .and_then(|s| s.annotations().cloned()),
        ImageSignature::Legacy(_, sig) => serde_json::from_slice::<Value>(&sig.payload)
            .ok()
            .and_then(|p| p.get("optional")?.as_object().cloned()),
    };
    map.unwrap_or_default()
}

/// Whether `signed` has every wanted `key=value` (a string value compares
/// as itself; any other JSON value with the value parsed as JSON, so
/// `-a build=42` matches a number 42).
fn carries(signed: &Map<String, Value>, wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(key, value)| match signed.get(key) {
        Some(Value::String(s)) => s == value,
        Some(other) => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
        None => false,
    })
}

/// cosign's output object for a legacy signature: the simple-signing payload,
/// with the certificate's claims and the Rekor bundle in `optional` (SPEC.md §5.1).
fn legacy_payload(v: &VerifiedSignature, sig: &vouch_verify::LegacySignature) -> Value {
    let mut payload: Value = serde_json::from_slice(&sig.payload).unwrap_or(Value::Null);
    let mut optional: Map<String, Value> =
        payload["optional"].as_object().cloned().unwrap_or_default();
    if let Some(c) = v.certificate() {
        optional.insert("Subject".into(), c.identity.clone().into());
        optional.insert("Issuer".into(), c.issuer.clone().into());
        optional.insert("1.3.6.1.4.1.57264.1.1".into(), c.issuer.clone().into());
        let gh = &c.github;
        for (name, oid, value) in [
            (
                "githubWorkflowTrigger",
                "1.3.6.1.4.1.57264.1.2",
                &gh.workflow_trigger,
            ),
            (
                "githubWorkflowSha",
                "1.3.6.1.4.1.57264.1.3",
                &gh.workflow_sha,
            ),
            (
                "githubWorkflowName",
                "1.3.6.1.4.1.57264.1.4",
                &gh.workflow_name,
            ),
            (
                "githubWorkflowRepository",
                "1.3.6.1.4.1.57264.1.5",
                &gh.workflow_repository,
            ),
            (
                "githubWorkflowRef",
                "1.3.6.1.4.1.57264.1.6",
                &gh.workflow_ref,
            ),
        ] {
            if let Some(value) = value {
                optional.insert(name.into(), value.clone().into());
                optional.insert(oid.into(), value.clone().into());
            }
        }
    }
    if v.checks().claims == ClaimCheck::InsecureSkipped {
        optional.insert(CLAIMS_CHECKED.into(), false.into());
    }
    if let Some(bundle) = sig
        .rekor_bundle
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
    {
        optional.insert("Bundle".into(), bundle);
    }
    payload["optional"] = if optional.is_empty() {
        Value::Null
    } else {
        Value::Object(optional)
    };
    payload
}

/// cosign's output object for a bundle signature (SPEC.md §5.1, bundle
/// mode). The digest is the one the signature verified for: the image's,
/// or with `--check-claims=false` the one its statement names.
fn bundle_payload(image: &ResolvedImage, att: &vouch_verify::VerifiedAttestation) -> Value {
    let mut annotations = att
        .statement()
        .subjects()
        .first()
        .and_then(|s| s.annotations().cloned());
    if att.signature().checks().claims == ClaimCheck::InsecureSkipped {
        annotations
            .get_or_insert_default()
            .insert(CLAIMS_CHECKED.into(), false.into());
    }
    json!({
        "critical": {
            "identity": {"docker-reference": image.shown},
            "image": {"docker-manifest-digest": att.signature().artifact_digest()},
            "type": att.predicate_type(),
        },
        "optional": annotations.map_or(Value::Null, Value::Object),
    })
}

/// The key, in a payload's `optional` map, that records
/// `--check-claims=false` (absent when the claims were checked, so the
/// default output is cosign's).
const CLAIMS_CHECKED: &str = "vouch.claimsChecked";

//! `vouch download`: what is attached to an image, printed as found (like
//! `cosign download`). Nothing here is verified; the output is for
//! inspection and archiving, and `vouch verify`/`verify-attestation` are
//! what decide trust.
//!
//! Differences from cosign, on purpose: `signature` prints every signature
//! in both layouts (cosign prints legacy `.sig` ones only when there are no
//! bundles), legacy signatures carry their certificate and chain as PEM
//! (cosign serialises Go's parsed certificate structure), and finding
//! nothing is exit 10 (cosign exits 0 with no output).

use base64::Engine as _;
use serde_json::{Value, json};
use vouch_attest::PredicateFilter;
use vouch_image::COSIGN_SIGN_PREDICATE;
use vouch_oci::{
    BUNDLE_ANNOTATION, BundleReferrer, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, LegacyLayer,
    RegistryClient, SIGNATURE_ANNOTATION,
};

use crate::args::DownloadCommand;
use crate::commands::image::{self, ResolvedImage};
use crate::failure::{Failure, FailureKind};

/// Runs the command.
pub fn run(command: &DownloadCommand) -> Result<(), Failure> {
    let (args, what) = match command {
        DownloadCommand::Signature(args) => (args, What::Signatures),
        DownloadCommand::Attestation(a) => {
            let filter = a
                .predicate_type
                .as_deref()
                .map(PredicateFilter::parse)
                .transpose()
                .map_err(|e| Failure::usage(format!("--predicate-type: {e}")))?;
            (&a.target, What::Attestations(filter))
        }
        DownloadCommand::Sbom(args) => (args, What::Sboms),
    };
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    let lines = image::runtime()?.block_on(async {
        let image = image::resolve(&client, &args.registry, &args.image).await?;
        found(&client, &image, &what).await
    })?;
    if lines.is_empty() {
        return Err(Failure::new(
            FailureKind::NoSignatures,
            format!("no {} attached to {}", what.noun(), args.image),
        ));
    }
    for line in lines {
        outln!("{line}");
    }
    Ok(())
}

/// What `download` prints.
enum What {
    Signatures,
    Attestations(Option<PredicateFilter>),
    Sboms,
}

impl What {
    fn noun(&self) -> &'static str {
        match self {
            Self::Signatures => "signatures are",
            Self::Attestations(Some(_)) => "attestations of that predicate type are",
            Self::Attestations(None) => "attestations are",
            Self::Sboms => "SBOMs (.sbom) are",
        }
    }
}

/// The lines to print, in the order found: bundle referrers, then legacy layers.
async fn found(
    client: &RegistryClient,
    image: &ResolvedImage,
    what: &What,
) -> Result<Vec<String>, Failure> {
    let (repo, digest) = (&image.signatures, &image.digest);
    let legacy = |suffix| client.legacy_layers(repo, digest, suffix);
    Ok(match what {
        What::Signatures => {
            let (bundles, _) = client.sigstore_bundles(repo, digest).await?;
            let mut lines: Vec<String> = bundles
                .iter()
                .filter(|b| is_signature(b))
                .map(|b| compact(&b.bundle))
                .collect();
            lines.extend(legacy("sig").await?.iter().map(legacy_signature));
            lines
        }
        What::Attestations(filter) => {
            let (bundles, _) = client.sigstore_bundles(repo, digest).await?;
            let mut envelopes: Vec<Value> = bundles
                .iter()
                .filter(|b| !is_signature(b))
                .filter_map(|b| serde_json::from_slice::<Value>(&b.bundle).ok())
                .filter_map(|bundle| bundle.get("dsseEnvelope").cloned())
                .collect();
            envelopes.extend(
                legacy("att")
                    .await?
                    .iter()
                    .filter_map(|layer| serde_json::from_slice::<Value>(&layer.content).ok()),
            );
            envelopes
                .into_iter()
                .filter(|envelope| {
                    filter
                        .as_ref()
                        .is_none_or(|f| predicate_type(envelope).is_some_and(|t| f.matches(&t)))
                })
                .map(|envelope| envelope.to_string())
                .collect()
        }
        What::Sboms => legacy("sbom")
            .await?
            .iter()
            .map(|layer| {
                String::from_utf8_lossy(&layer.content)
                    .trim_end()
                    .to_string()
            })
            .collect(),
    })
}

/// A bundle referrer cosign made with `cosign sign` (by its annotation; the
/// bundle itself is not verified here).
fn is_signature(referrer: &BundleReferrer) -> bool {
    referrer.predicate_type_hint.as_deref() == Some(COSIGN_SIGN_PREDICATE)
}

/// The bundle JSON on one line (as stored when it does not parse).
fn compact(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes).map_or_else(
        |_| String::from_utf8_lossy(bytes).trim().to_string(),
        |v| v.to_string(),
    )
}

/// A legacy `.sig` layer in cosign's `download signature` shape.
fn legacy_signature(layer: &LegacyLayer) -> String {
    let annotation = |key| layer.descriptor.annotations.get(key).cloned();
    json!({
        "Base64Signature": annotation(SIGNATURE_ANNOTATION).unwrap_or_default(),
        "Payload": base64::engine::general_purpose::STANDARD.encode(&layer.content),
        "Cert": annotation(CERTIFICATE_ANNOTATION),
        "Chain": annotation(CHAIN_ANNOTATION),
        "Bundle": annotation(BUNDLE_ANNOTATION)
            .and_then(|b| serde_json::from_str::<Value>(&b).ok()),
    })
    .to_string()
}

/// The `predicateType` of the statement in a DSSE envelope (unverified).
fn predicate_type(envelope: &Value) -> Option<String> {
    let payload = envelope.get("payload")?.as_str()?;
    let statement = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let statement: Value = serde_json::from_slice(&statement).ok()?;
    statement.get("predicateType")?.as_str().map(str::to_string)
}

//! Bundle fields that `sigstore-verify` leaves unchecked, checked here.
//!
//! `sigstore-verify` proves what matters cryptographically, but a few bundle
//! fields duplicate signed data without being compared to it, or name trust
//! material without being looked up (issue 13; docs/threat-model.md, "Bundle
//! fields: checked or harmless"). Each is a malleability a verifier must not
//! have. These checks are pure: bundle and trusted material in, a precise
//! error naming the field, the bundle's value and the expected value out.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode as _, Encode as _};
use sha2::Digest as _;
use sigstore_types::bundle::{InclusionProof, VerificationMaterialContent};
use sigstore_types::{Bundle, Checkpoint, KindVersion, Sha256Hash, TransparencyLogEntry};

use crate::error::VerifyError;
use crate::trust::TrustedMaterial;

/// Checks every transparency-log entry and RFC 3161 timestamp of `bundle`.
pub(crate) fn check_unchecked_fields(
    material: &TrustedMaterial,
    bundle: &Bundle,
) -> Result<(), VerifyError> {
    let vm = &bundle.verification_material;
    check_chain_intermediates(material, &vm.content)?;
    for (i, entry) in vm.tlog_entries.iter().enumerate() {
        check_log_entry(material, i, entry)?;
    }
    for (i, ts) in vm
        .timestamp_verification_data
        .rfc3161_timestamps
        .iter()
        .enumerate()
    {
        check_timestamp(material, i, ts.signed_timestamp.as_bytes())?;
    }
    Ok(())
}

/// Certificates after the leaf (v0.1/v0.2 chains) must be the trusted
/// root's own: `sigstore-verify` makes every certificate of the root's CA
/// chains a trust anchor, so the leaf chains without the bundle's copy and
/// an altered intermediate would pass unnoticed. (A self-signed root in the
/// chain is refused earlier, by `bundle::refuse_root_in_chain`.)
fn check_chain_intermediates(
    material: &TrustedMaterial,
    content: &VerificationMaterialContent,
) -> Result<(), VerifyError> {
    let VerificationMaterialContent::X509CertificateChain { certificates } = content else {
        return Ok(());
    };
    for (i, cert) in certificates.iter().enumerate().skip(1) {
        if !material.is_ca_certificate(cert.raw_bytes.as_bytes()) {
            return Err(VerifyError::InconsistentCertificateChain {
                certificate: i,
                bundle: format!(
                    "a certificate (SHA-256 {}) that is not in the trusted root",
                    hex::encode(sha2::Sha256::digest(cert.raw_bytes.as_bytes()))
                ),
                expected: "only certificates of the trusted root's Fulcio CA chains".into(),
            });
        }
    }
    Ok(())
}

/// Rekor v2 defines only `hashedrekord` 0.0.2 (as `sigstore-verify` decides).
fn is_rekor_v2(entry: &TransparencyLogEntry) -> bool {
    entry.kind_version == KindVersion::HashedRekordV002
}

fn check_log_entry(
    material: &TrustedMaterial,
    i: usize,
    entry: &TransparencyLogEntry,
) -> Result<(), VerifyError> {
    let mismatch = |field, bundle: String, expected: String| VerifyError::InconsistentLogEntry {
        entry: i,
        field,
        bundle,
        expected,
    };
    // The entry names its log; the log must be one the trusted root lists
    // (sigstore-python `SignedNote.verify`, sigstore-go `VerifyTlogEntry`).
    // `sigstore-verify` looks the log up by ID only for a SET.
    let log_id = Sha256Hash::try_from(entry.log_id.key_id.as_bytes()).map_err(|_| {
        mismatch(
            "logId.keyId",
            format!("{} bytes", entry.log_id.key_id.as_bytes().len()),
            "a 32-byte log ID".into(),
        )
    })?;
    if !material.knows_log(&log_id) {
        let known: Vec<String> = material.log_ids().iter().map(|id| id.to_base64()).collect();
        return Err(mismatch(
            "logId.keyId",
            log_id.to_base64(),
            format!("a log of the trusted root ({})", known.join(", ")),
        ));
    }
    // Only a SET signs integratedTime, and Rekor v2 has no SET: a v2 entry
    // with an integrated time carries a value nothing can authenticate.
    if let (true, Some(time)) = (is_rekor_v2(entry), entry.integrated_time) {
        return Err(mismatch(
            "integratedTime",
            time.as_second().to_string(),
            "absent (a Rekor v2 entry has no SET to sign it)".into(),
        ));
    }
    let Some(proof) = &entry.inclusion_proof else {
        return Ok(());
    };
    let checkpoint = proof.checkpoint.checkpoint().ok_or_else(|| {
        mismatch(
            "inclusionProof.checkpoint",
            "absent".into(),
            "a signed checkpoint".into(),
        )
    })?;
    check_proof_against_checkpoint(entry, proof, checkpoint)
        .map_err(|(field, bundle, expected)| mismatch(field, bundle, expected))?;
    check_checkpoint_signer(material, &log_id, checkpoint)
        .map_err(|(field, bundle, expected)| mismatch(field, bundle, expected))
}

/// A field name, the bundle's value and the expected value.
type Mismatch = (&'static str, String, String);

/// The proof duplicates the checkpoint's tree size and root hash, and in
/// Rekor v2 the entry's index: all must agree. `sigstore-verify` compares
/// the root only for Rekor v1 and otherwise uses one copy and ignores the
/// other (the Rekor v1 entry index is the log-wide index, signed by the SET,
/// and differs from the shard-local index in the proof).
fn check_proof_against_checkpoint(
    entry: &TransparencyLogEntry,
    proof: &InclusionProof,
    checkpoint: &Checkpoint,
) -> Result<(), Mismatch> {
    if is_rekor_v2(entry) && proof.log_index != entry.log_index {
        return Err((
            "inclusionProof.logIndex",
            proof.log_index.get().to_string(),
            format!("the entry's logIndex {}", entry.log_index.get()),
        ));
    }
    if proof.tree_size != checkpoint.tree_size() {
        return Err((
            "inclusionProof.treeSize",
            proof.tree_size.to_string(),
            format!(
                "the signed checkpoint's tree size {}",
                checkpoint.tree_size()
            ),
        ));
    }
    if proof.root_hash != *checkpoint.root_hash() {
        return Err((
            "inclusionProof.rootHash",
            proof.root_hash.to_hex(),
            format!(
                "the signed checkpoint's root hash {}",
                checkpoint.root_hash().to_hex()
            ),
        ));
    }
    Ok(())
}

/// The checkpoint must be signed by the log the entry names (key hint = the
/// first four bytes of its log ID, C2SP signed-note), under the name its
/// origin gives (`<name>` in Rekor v2, `<name> - <tree ID>` in Rekor v1).
/// `sigstore-verify` accepts a signature by any log key of the root, matched
/// by key hint alone, whatever the signer name. Other signature lines are
/// witness cosignatures, which signed-note verifiers ignore.
fn check_checkpoint_signer(
    material: &TrustedMaterial,
    log_id: &Sha256Hash,
    checkpoint: &Checkpoint,
) -> Result<(), Mismatch> {
    let hint = &log_id.as_bytes()[..4];
    let key = material.log_keys().key(log_id);
    let by_log: Vec<&str> = checkpoint
        .signatures()
        .iter()
        .filter(|sig| sig.key_id.as_bytes() == hint)
        .filter(|sig| {
            key.is_some_and(|k| k.verify(checkpoint.signed_data(), &sig.signature).is_ok())
        })
        .map(|sig| sig.name.as_str())
        .collect();
    if by_log.is_empty() {
        return Err((
            "inclusionProof.checkpoint.envelope",
            "a checkpoint with no valid signature by the log named by logId".into(),
            format!(
                "a signature with key hint {} by log {}",
                hex::encode(hint),
                log_id.to_base64()
            ),
        ));
    }
    let origin = checkpoint.origin();
    let name = origin.split_once(" - ").map_or(origin, |(name, _)| name);
    if !by_log.contains(&name) {
        return Err((
            "inclusionProof.checkpoint.envelope (signer name)",
            format!("`{}`", by_log.join("`, `")),
            format!("`{name}`, as the signed origin `{origin}` says"),
        ));
    }
    Ok(())
}

/// The parts of an RFC 3161 token outside the signed attributes: embedded
/// certificates (`sigstore-tsa` never reads them: the signer comes from the
/// trusted root), the digest-algorithm list and further signer infos
/// (`sigstore-tsa` verifies only the first).
fn check_timestamp(material: &TrustedMaterial, i: usize, token: &[u8]) -> Result<(), VerifyError> {
    let mismatch = |field, bundle: String, expected: String| VerifyError::InconsistentTimestamp {
        timestamp: i,
        field,
        bundle,
        expected,
    };
    let signed_data = signed_data(token).ok_or_else(|| {
        mismatch(
            "signedTimestamp",
            "not a CMS SignedData".into(),
            "an RFC 3161 TimeStampToken".into(),
        )
    })?;
    if signed_data.signer_infos.0.len() != 1 {
        return Err(mismatch(
            "SignedData.signerInfos",
            format!("{} signer infos", signed_data.signer_infos.0.len()),
            "exactly one (only one is verified)".into(),
        ));
    }
    let signer_alg = &signed_data.signer_infos.0.get(0).expect("one").digest_alg;
    if !signed_data
        .digest_algorithms
        .iter()
        .any(|a| a == signer_alg)
    {
        let listed: Vec<String> = signed_data
            .digest_algorithms
            .iter()
            .map(|a| a.oid.to_string())
            .collect();
        return Err(mismatch(
            "SignedData.digestAlgorithms",
            format!("[{}]", listed.join(", ")),
            format!(
                "a list naming the signer's digest algorithm {}",
                signer_alg.oid
            ),
        ));
    }
    if signed_data.crls.is_some() {
        return Err(mismatch(
            "SignedData.crls",
            "present".into(),
            "absent (nothing would check them)".into(),
        ));
    }
    for choice in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
        let CertificateChoices::Certificate(cert) = choice else {
            return Err(mismatch(
                "SignedData.certificates",
                "a certificate that is not X.509".into(),
                "X.509 certificates of the trusted root's timestamp authorities".into(),
            ));
        };
        let der = cert.to_der().map_err(|_| {
            mismatch(
                "SignedData.certificates",
                "an unencodable certificate".into(),
                "DER".into(),
            )
        })?;
        if !material.is_tsa_certificate(&der) {
            return Err(mismatch(
                "SignedData.certificates",
                format!("a certificate for `{}`", cert.tbs_certificate.subject),
                "only certificates of the trusted root's timestamp authorities".into(),
            ));
        }
    }
    Ok(())
}

/// The SignedData of a TimeStampToken (a CMS ContentInfo), or of the token
/// inside a TimeStampResp, as `sigstore-tsa` accepts both.
fn signed_data(token: &[u8]) -> Option<SignedData> {
    let info = ContentInfo::from_der(token)
        .ok()
        .or_else(|| TimeStampResp::from_der(token).ok()?.time_stamp_token)?;
    if info.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return None;
    }
    info.content.decode_as::<SignedData>().ok()
}

/// RFC 3161 §2.4.2 `TimeStampResp`; the status is checked by `sigstore-tsa`.
#[derive(der::Sequence)]
struct TimeStampResp {
    status: der::Any,
    time_stamp_token: Option<ContentInfo>,
}

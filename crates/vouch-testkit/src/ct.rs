//! A virtual Certificate Transparency log that issues Signed Certificate
//! Timestamps for precertificates (RFC 6962 §3.2), as Fulcio's CT log does.

use crate::keys::{Curve, SigningKey};
use der::Encode;
use der::asn1::{ObjectIdentifier, OctetString};
use sha2::{Digest, Sha256};
use x509_cert::ext::Extension;

/// OID of the embedded SCT list extension (RFC 6962 §3.3).
pub(crate) const SCT_LIST_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// `Version v1(0)` (RFC 6962 §3.2).
const SCT_VERSION_V1: u8 = 0;
/// `SignatureType certificate_timestamp(0)` (RFC 6962 §3.2).
const CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType precert_entry(1)` (RFC 6962 §3.1).
const PRECERT_ENTRY: u16 = 1;
/// `HashAlgorithm sha256(4)` (RFC 5246 §7.4.1.4.1).
const HASH_SHA256: u8 = 4;
/// `SignatureAlgorithm ecdsa(3)` (RFC 5246 §7.4.1.4.1).
const SIG_ECDSA: u8 = 3;

/// A CT log with an ECDSA P-256 key.
#[derive(Debug)]
pub(crate) struct CtLog {
    key: SigningKey,
}

impl CtLog {
    /// A log whose key is derived from `seed` and `label`.
    pub(crate) fn new(seed: &[u8], label: &str) -> Self {
        Self {
            key: SigningKey::derive(seed, label, Curve::P256),
        }
    }

    /// Log ID: SHA-256 of the log's SubjectPublicKeyInfo (RFC 6962 §3.2).
    pub(crate) fn log_id(&self) -> [u8; 32] {
        self.key.key_id()
    }

    /// DER SubjectPublicKeyInfo of the log key.
    pub(crate) fn spki_der(&self) -> &[u8] {
        self.key.spki_der()
    }

    /// A serialized `SignedCertificateTimestamp` over the precertificate entry
    /// made of `precert_tbs_der` (the final TBSCertificate without the SCT
    /// list extension) and the issuer's SubjectPublicKeyInfo.
    pub(crate) fn sign_precert(
        &self,
        precert_tbs_der: &[u8],
        issuer_spki_der: &[u8],
        timestamp_ms: u64,
    ) -> Vec<u8> {
        let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki_der).into();
        let extensions: &[u8] = &[];

        // digitally-signed struct (RFC 6962 §3.2).
        let mut signed = vec![SCT_VERSION_V1, CERTIFICATE_TIMESTAMP];
        signed.extend_from_slice(&timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
        signed.extend_from_slice(&issuer_key_hash);
        push_u24_prefixed(&mut signed, precert_tbs_der);
        push_u16_prefixed(&mut signed, extensions);
        let signature = self.key.sign(&signed);

        // SignedCertificateTimestamp (RFC 6962 §3.2).
        let mut sct = vec![SCT_VERSION_V1];
        sct.extend_from_slice(&self.log_id());
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        push_u16_prefixed(&mut sct, extensions);
        sct.extend_from_slice(&[HASH_SHA256, SIG_ECDSA]);
        push_u16_prefixed(&mut sct, &signature);
        sct
    }
}

/// The X.509 extension carrying `scts` as a `SignedCertificateTimestampList`
/// (RFC 6962 §3.3): an OCTET STRING holding the TLS-encoded list.
pub(crate) fn sct_list_extension(scts: &[Vec<u8>]) -> Extension {
    let mut items = Vec::new();
    for sct in scts {
        push_u16_prefixed(&mut items, sct);
    }
    let mut list = Vec::new();
    push_u16_prefixed(&mut list, &items);
    let inner = OctetString::new(list)
        .and_then(|o| o.to_der())
        .expect("SCT list encodes");
    Extension {
        extn_id: SCT_LIST_OID,
        critical: false,
        extn_value: OctetString::new(inner).expect("SCT list encodes"),
    }
}

/// Appends `data` with a 2-byte big-endian length prefix.
fn push_u16_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    let len = u16::try_from(data.len()).expect("TLS opaque<0..2^16-1> overflow");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
}

/// Appends `data` with a 3-byte big-endian length prefix.
fn push_u24_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|len| *len < 1 << 24)
        .expect("TLS opaque<1..2^24-1> overflow");
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(data);
}

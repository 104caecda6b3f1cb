//! A virtual Fulcio: a self-signed root and an intermediate CA (ECDSA P-384)
//! that issue short-lived code-signing leaf certificates with Fulcio's X.509
//! profile (Fulcio `docs/oid-info.md`, `docs/certificate-specification.md`)
//! and an embedded SCT over the precertificate (RFC 6962 §3.2).

use crate::ct::{CtLog, sct_list_extension};
use crate::identity::{GitHubClaims, Identity, San};
use crate::keys::{Curve, SigningKey};
use crate::options::{CertOptions, IssuerClaim, LeafEku};
use crate::time::x509_time;
use der::Encode;
use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, Utf8StringRef};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// `id-kp-timeStamping` (RFC 5280 §4.2.1.12).
pub(crate) const ID_KP_TIME_STAMPING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// `id-kp-codeSigning` (RFC 5280 §4.2.1.12).
const ID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// `id-kp-serverAuth` (RFC 5280 §4.2.1.12).
const ID_KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// `id-ce-keyUsage`.
pub(crate) const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// `id-ce-extKeyUsage`.
pub(crate) const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// `id-ce-subjectKeyIdentifier`.
const ID_CE_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// `id-ce-authorityKeyIdentifier`.
const ID_CE_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// `id-ce-subjectAltName`.
const ID_CE_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// `id-ce-basicConstraints`.
pub(crate) const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");

/// Fulcio extension arc 1.3.6.1.4.1.57264.1 (Fulcio `docs/oid-info.md`).
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1";

/// How a Fulcio extension value is encoded.
#[derive(Clone, Copy)]
enum FulcioEncoding {
    /// Raw UTF-8 bytes in the extension's OCTET STRING (deprecated .1.1-.1.6).
    Raw,
    /// A DER UTF8String in the OCTET STRING (.1.8 and later).
    Utf8String,
}

/// Parameters of one leaf certificate.
pub(crate) struct LeafRequest<'a> {
    /// The ephemeral key the certificate binds, as a SubjectPublicKeyInfo.
    pub(crate) subject_spki: SubjectPublicKeyInfoOwned,
    /// Positive serial number bytes.
    pub(crate) serial: [u8; 16],
    /// Start of validity, Unix seconds.
    pub(crate) not_before: u64,
    /// End of validity, Unix seconds.
    pub(crate) not_after: u64,
    /// Who the certificate is for.
    pub(crate) identity: &'a Identity,
    /// Profile knobs.
    pub(crate) options: &'a CertOptions,
}

/// A two-level CA: self-signed root and an intermediate that issues leaves.
#[derive(Debug)]
pub(crate) struct CertificateAuthority {
    root_der: Vec<u8>,
    intermediate_key: SigningKey,
    intermediate_der: Vec<u8>,
    intermediate_name: Name,
    intermediate_ski: Vec<u8>,
}

impl CertificateAuthority {
    /// A CA whose keys derive from `seed` and `label`, with subjects
    /// `O=<organization>, CN=sigstore` (root) and
    /// `O=<organization>, CN=sigstore-intermediate`, valid over
    /// `[not_before, not_after]`.
    pub(crate) fn new(
        seed: &[u8],
        label: &str,
        organization: &str,
        not_before: u64,
        not_after: u64,
    ) -> Self {
        let root_key = SigningKey::derive(seed, &format!("{label}/root"), Curve::P384);
        let intermediate_key =
            SigningKey::derive(seed, &format!("{label}/intermediate"), Curve::P384);
        let root_name = name(organization, "sigstore");
        let intermediate_name = name(organization, "sigstore-intermediate");
        let root_ski = key_identifier(&root_key.spki());
        let intermediate_ski = key_identifier(&intermediate_key.spki());
        let validity = Validity {
            not_before: x509_time(not_before),
            not_after: x509_time(not_after),
        };

        let root_der = issue_certificate(
            &root_key,
            &root_name,
            root_name.clone(),
            root_key.spki(),
            serial(seed, &format!("{label}/root")),
            validity,
            vec![
                ca_key_usage(),
                basic_constraints(None),
                ski_extension(&root_ski),
                aki_extension(&root_ski),
            ],
        );
        let intermediate_der = issue_certificate(
            &root_key,
            &root_name,
            intermediate_name.clone(),
            intermediate_key.spki(),
            serial(seed, &format!("{label}/intermediate")),
            validity,
            vec![
                ca_key_usage(),
                eku_extension(&[ID_KP_CODE_SIGNING]),
                basic_constraints(Some(0)),
                ski_extension(&intermediate_ski),
                aki_extension(&root_ski),
            ],
        );

        Self {
            root_der,
            intermediate_key,
            intermediate_der,
            intermediate_name,
            intermediate_ski,
        }
    }

    /// DER of the self-signed root.
    pub(crate) fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// DER of the intermediate that issues leaves.
    pub(crate) fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// Issues a leaf certificate (DER). With `ct_log`, the SCT list extension
    /// goes last and carries an SCT over the precertificate: this very
    /// TBSCertificate without that extension, as RFC 6962 §3.2 defines it and
    /// as verifiers reconstruct it.
    pub(crate) fn issue_leaf(&self, request: &LeafRequest<'_>, ct_log: Option<&CtLog>) -> Vec<u8> {
        let mut tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&request.serial).expect("16-byte serial"),
            signature: self.intermediate_key.signature_algorithm(),
            issuer: self.intermediate_name.clone(),
            validity: Validity {
                not_before: x509_time(request.not_before),
                not_after: x509_time(request.not_after),
            },
            // Fulcio leaves have an empty subject; the identity is in the SAN.
            subject: RdnSequence(Vec::new()),
            subject_public_key_info: request.subject_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(leaf_extensions(request, &self.intermediate_ski)),
        };
        if let Some(log) = ct_log {
            let precert_tbs = tbs.to_der().expect("TBSCertificate encodes");
            let timestamp_ms = request.not_before * 1000;
            let sct =
                log.sign_precert(&precert_tbs, self.intermediate_key.spki_der(), timestamp_ms);
            tbs.extensions
                .get_or_insert_with(Vec::new)
                .push(sct_list_extension(&[sct]));
        }
        sign_certificate(tbs, &self.intermediate_key)
    }
}

/// Leaf extensions in the order Fulcio writes them (without the SCT list).
fn leaf_extensions(request: &LeafRequest<'_>, issuer_ski: &[u8]) -> Vec<Extension> {
    let options = request.options;
    let identity = request.identity;
    let mut exts = vec![extension(
        ID_CE_KEY_USAGE,
        true,
        KeyUsage(KeyUsages::DigitalSignature.into()),
    )];
    match options.eku {
        LeafEku::CodeSigning => exts.push(eku_extension(&[ID_KP_CODE_SIGNING])),
        LeafEku::ServerAuthOnly => exts.push(eku_extension(&[ID_KP_SERVER_AUTH])),
        LeafEku::Omitted => {}
    }
    exts.push(ski_extension(&key_identifier(&request.subject_spki)));
    exts.push(aki_extension(issuer_ski));

    let sans: Vec<GeneralName> = std::iter::once(&identity.san)
        .chain(&options.extra_sans)
        .map(general_name)
        .collect();
    // Critical because the subject is empty (RFC 5280 §4.2.1.6).
    exts.push(extension(ID_CE_SAN, true, SubjectAltName(sans)));

    let claims = identity.github.clone().unwrap_or_default();
    let issuer_v1 = issuer_value(&options.legacy_issuer, &identity.issuer);
    let issuer_v2 = issuer_value(&options.issuer_v2, &identity.issuer);
    for (arc, encoding, value) in fulcio_claims(&claims, issuer_v1, issuer_v2) {
        if let Some(value) = value {
            exts.push(fulcio_extension(arc, encoding, value));
        }
    }
    exts
}

/// Fulcio extensions by sub-arc, in OID order.
fn fulcio_claims<'a>(
    claims: &'a GitHubClaims,
    issuer_v1: Option<&'a str>,
    issuer_v2: Option<&'a str>,
) -> Vec<(u32, FulcioEncoding, Option<&'a str>)> {
    use FulcioEncoding::{Raw, Utf8String};
    vec![
        (1, Raw, issuer_v1),
        (2, Raw, claims.workflow_trigger.as_deref()),
        (3, Raw, claims.workflow_sha.as_deref()),
        (4, Raw, claims.workflow_name.as_deref()),
        (5, Raw, claims.workflow_repository.as_deref()),
        (6, Raw, claims.workflow_ref.as_deref()),
        (8, Utf8String, issuer_v2),
        (9, Utf8String, claims.build_signer_uri.as_deref()),
        (10, Utf8String, claims.build_signer_digest.as_deref()),
        (11, Utf8String, claims.runner_environment.as_deref()),
        (12, Utf8String, claims.source_repository_uri.as_deref()),
        (13, Utf8String, claims.source_repository_digest.as_deref()),
        (14, Utf8String, claims.source_repository_ref.as_deref()),
        (
            15,
            Utf8String,
            claims.source_repository_identifier.as_deref(),
        ),
        (
            16,
            Utf8String,
            claims.source_repository_owner_uri.as_deref(),
        ),
        (
            17,
            Utf8String,
            claims.source_repository_owner_identifier.as_deref(),
        ),
        (18, Utf8String, claims.build_config_uri.as_deref()),
        (19, Utf8String, claims.build_config_digest.as_deref()),
        (20, Utf8String, claims.build_trigger.as_deref()),
        (21, Utf8String, claims.run_invocation_uri.as_deref()),
        (
            22,
            Utf8String,
            claims.source_repository_visibility.as_deref(),
        ),
    ]
}

/// The issuer string an [`IssuerClaim`] resolves to.
fn issuer_value<'a>(claim: &'a IssuerClaim, identity_issuer: &'a str) -> Option<&'a str> {
    match claim {
        IssuerClaim::FromIdentity => Some(identity_issuer),
        IssuerClaim::Value(v) => Some(v),
        IssuerClaim::Omitted => None,
    }
}

/// One Fulcio extension 1.3.6.1.4.1.57264.1.`arc`.
fn fulcio_extension(arc: u32, encoding: FulcioEncoding, value: &str) -> Extension {
    let oid = ObjectIdentifier::new(&format!("{FULCIO_ARC}.{arc}")).expect("valid Fulcio OID");
    let bytes = match encoding {
        FulcioEncoding::Raw => value.as_bytes().to_vec(),
        FulcioEncoding::Utf8String => Utf8StringRef::new(value)
            .and_then(|s| s.to_der())
            .expect("UTF8String encodes"),
    };
    Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(bytes).expect("extension value encodes"),
    }
}

/// `GeneralName` for a SAN entry.
fn general_name(san: &San) -> GeneralName {
    match san {
        San::Uri(uri) => {
            GeneralName::UniformResourceIdentifier(Ia5String::new(uri).expect("SAN URI is ASCII"))
        }
        San::Email(email) => {
            GeneralName::Rfc822Name(Ia5String::new(email).expect("SAN email is ASCII"))
        }
    }
}

/// An extension whose value is the DER of `value`.
pub(crate) fn extension(oid: ObjectIdentifier, critical: bool, value: impl Encode) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().expect("extension value encodes"))
            .expect("extension value encodes"),
    }
}

/// Critical key usage of a CA: keyCertSign and cRLSign.
pub(crate) fn ca_key_usage() -> Extension {
    extension(
        ID_CE_KEY_USAGE,
        true,
        KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
    )
}

/// Critical basic constraints of a CA.
pub(crate) fn basic_constraints(path_len: Option<u8>) -> Extension {
    extension(
        ID_CE_BASIC_CONSTRAINTS,
        true,
        BasicConstraints {
            ca: true,
            path_len_constraint: path_len,
        },
    )
}

/// Non-critical extended key usage.
fn eku_extension(purposes: &[ObjectIdentifier]) -> Extension {
    extension(
        ID_CE_EXT_KEY_USAGE,
        false,
        ExtendedKeyUsage(purposes.to_vec()),
    )
}

/// Subject key identifier extension.
fn ski_extension(ski: &[u8]) -> Extension {
    extension(
        ID_CE_SKI,
        false,
        SubjectKeyIdentifier(OctetString::new(ski).expect("key identifier encodes")),
    )
}

/// Authority key identifier extension naming the issuer's key identifier.
fn aki_extension(issuer_ski: &[u8]) -> Extension {
    extension(
        ID_CE_AKI,
        false,
        AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_ski).expect("key identifier encodes")),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )
}

/// Key identifier: the first 160 bits of SHA-256 of the subjectPublicKey
/// (RFC 7093 §2 method 1).
fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

/// `O=<organization>, CN=<common_name>`.
fn name(organization: &str, common_name: &str) -> Name {
    // RFC 4514 order: most specific first, so CN comes first in the string.
    Name::from_str(&format!("CN={common_name},O={organization}")).expect("valid distinguished name")
}

/// A positive serial number derived from `seed` and `label`.
fn serial(seed: &[u8], label: &str) -> SerialNumber {
    let digest = Sha256::new()
        .chain_update(seed)
        .chain_update([0])
        .chain_update(label.as_bytes())
        .finalize();
    SerialNumber::new(&positive_serial(&digest)).expect("16-byte serial")
}

/// 16 serial-number bytes from `entropy` that DER-encode as a positive
/// integer without a leading zero byte.
pub(crate) fn positive_serial(entropy: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&entropy[..16]);
    out[0] = (out[0] & 0x7f) | 0x01;
    out
}

/// A v3 certificate for `subject` (`subject_key`), issued by `issuer`
/// with `issuer_key` (the same for a self-signed root), as DER.
#[allow(clippy::too_many_arguments)]
pub(crate) fn issue_certificate(
    issuer_key: &SigningKey,
    issuer: &Name,
    subject: Name,
    subject_key: SubjectPublicKeyInfoOwned,
    serial_number: SerialNumber,
    validity: Validity,
    extensions: Vec<Extension>,
) -> Vec<u8> {
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number,
        signature: issuer_key.signature_algorithm(),
        issuer: issuer.clone(),
        validity,
        subject,
        subject_public_key_info: subject_key,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    sign_certificate(tbs, issuer_key)
}

/// Signs `tbs` with `key` and returns the certificate DER.
pub(crate) fn sign_certificate(tbs: TbsCertificate, key: &SigningKey) -> Vec<u8> {
    let tbs_der = tbs.to_der().expect("TBSCertificate encodes");
    let signature = key.sign(&tbs_der);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: key.signature_algorithm(),
        signature: BitString::from_bytes(&signature).expect("signature bit string"),
    }
    .to_der()
    .expect("certificate encodes")
}

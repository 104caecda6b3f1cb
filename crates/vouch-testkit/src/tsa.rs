//! A virtual RFC 3161 timestamp authority: a self-signed root and a
//! timestamping leaf (ECDSA P-256, critical `id-kp-timeStamping` EKU) that
//! sign TimeStampTokens (RFC 3161 §2.4.2: a CMS SignedData, RFC 5652 §5,
//! over a TSTInfo) whose message imprint is the SHA-256 of a signature, as
//! Sigstore's timestamp authorities do. Like GitHub's, the tokens carry no
//! certificates: verifiers find the signer among the trusted root's.

use crate::ca::{
    ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_KP_TIME_STAMPING, basic_constraints, ca_key_usage,
    extension, issue_certificate,
};
use crate::keys::{Curve, SigningKey};
use crate::time::x509_time;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec};
use der::{Encode, Sequence, Tag};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Validity;

/// `id-signedData` (RFC 5652 §5.1).
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-ct-TSTInfo` (RFC 3161 §2.4.2).
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-contentType` signed attribute (RFC 5652 §11.1).
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (RFC 5652 §11.2).
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-sha256` (RFC 5754 §2.2).
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// A made-up TSA policy under the documentation arc.
const TSA_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.99.1");

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TSTInfo` (RFC 3161 §2.4.2), the fields Sigstore's TSAs fill.
#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: u64,
    gen_time: GeneralizedTime,
}

/// A timestamp authority: root and timestamping leaf.
#[derive(Debug)]
pub(crate) struct TimestampAuthority {
    root_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: SigningKey,
    root_name: Name,
    leaf_serial: SerialNumber,
}

impl TimestampAuthority {
    /// A TSA whose keys derive from `seed` and `label`, valid over
    /// `[not_before, not_after]`.
    pub(crate) fn new(
        seed: &[u8],
        label: &str,
        organization: &str,
        not_before: u64,
        not_after: u64,
    ) -> Self {
        let root_key = SigningKey::derive(seed, &format!("{label}/root"), Curve::P384);
        let leaf_key = SigningKey::derive(seed, &format!("{label}/leaf"), Curve::P256);
        let root_name = Name::from_str(&format!("CN=tsa-root,O={organization}")).expect("name");
        let leaf_name = Name::from_str(&format!("CN=tsa,O={organization}")).expect("name");
        let validity = Validity {
            not_before: x509_time(not_before),
            not_after: x509_time(not_after),
        };
        let root_der = issue_certificate(
            &root_key,
            &root_name,
            root_name.clone(),
            root_key.spki(),
            SerialNumber::new(&[1]).expect("serial"),
            validity,
            vec![ca_key_usage(), basic_constraints(Some(0))],
        );
        let leaf_serial = SerialNumber::new(&[2]).expect("serial");
        let leaf_der = issue_certificate(
            &root_key,
            &root_name,
            leaf_name,
            leaf_key.spki(),
            leaf_serial.clone(),
            validity,
            vec![
                extension(
                    ID_CE_KEY_USAGE,
                    true,
                    KeyUsage(KeyUsages::DigitalSignature.into()),
                ),
                // RFC 3161 §2.3: the timestamping EKU, critical.
                extension(
                    ID_CE_EXT_KEY_USAGE,
                    true,
                    ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]),
                ),
            ],
        );
        Self {
            root_der,
            leaf_der,
            leaf_key,
            root_name,
            leaf_serial,
        }
    }

    /// DER of the root.
    pub(crate) fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// DER of the timestamping leaf.
    pub(crate) fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// A DER TimeStampToken over `signature` (its SHA-256 is the message
    /// imprint) with `genTime` = `gen_time` (Unix seconds).
    pub(crate) fn timestamp(&self, signature: &[u8], gen_time: u64, serial: u64) -> Vec<u8> {
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        };
        let tst_info = TstInfo {
            version: 1,
            policy: TSA_POLICY,
            message_imprint: MessageImprint {
                hash_algorithm: sha256.clone(),
                hashed_message: OctetString::new(Sha256::digest(signature).to_vec())
                    .expect("digest"),
            },
            serial_number: serial,
            gen_time: GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(gen_time))
                .expect("time in range"),
        }
        .to_der()
        .expect("TSTInfo encodes");
        let attribute = |oid, value: Any| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).expect("one value"),
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(
                ID_CONTENT_TYPE,
                Any::encode_from(&ID_CT_TST_INFO).expect("OID"),
            ),
            attribute(
                ID_MESSAGE_DIGEST,
                Any::new(Tag::OctetString, Sha256::digest(&tst_info).to_vec()).expect("digest"),
            ),
        ])
        .expect("distinct attributes");
        // RFC 5652 §5.4: the signature covers the attributes as a SET OF.
        let signature_value = self
            .leaf_key
            .sign(&signed_attrs.to_der().expect("attributes encode"));
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.root_name.clone(),
                serial_number: self.leaf_serial.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: self.leaf_key.signature_algorithm(),
            signature: OctetString::new(signature_value).expect("signature"),
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).expect("one algorithm"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(Any::new(Tag::OctetString, tst_info).expect("TSTInfo")),
            },
            certificates: None,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).expect("one signer")),
        };
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).expect("SignedData encodes"),
        }
        .to_der()
        .expect("ContentInfo encodes")
    }
}

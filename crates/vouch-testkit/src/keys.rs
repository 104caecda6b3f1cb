//! ECDSA signing keys for the virtual services (CA, CT log, transparency log,
//! ephemeral signing keys), derived deterministically from the instance seed.
//!
//! Keys are deterministic so that one seed always yields the same trusted root;
//! signatures are not (ECDSA with a random nonce, as aws-lc-rs does it).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
};
use der::Decode;
use der::asn1::ObjectIdentifier;
use sha2::{Digest, Sha256, Sha512};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// OID of `ecdsa-with-SHA256` (RFC 5758 §3.2).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// OID of `ecdsa-with-SHA384` (RFC 5758 §3.2).
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Elliptic curve of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-256, signing with SHA-256.
    P256,
    /// NIST P-384, signing with SHA-384.
    P384,
}

impl Curve {
    /// Length in bytes of a private scalar.
    fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// DER of the `[0] ECParameters` named-curve field of an RFC 5915 key.
    fn named_curve_field(self) -> &'static [u8] {
        match self {
            // [0] { OID 1.2.840.10045.3.1.7 }
            Curve::P256 => &[
                0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ],
            // [0] { OID 1.3.132.0.34 }
            Curve::P384 => &[0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        }
    }
}

/// An ECDSA key pair with its SubjectPublicKeyInfo.
pub(crate) struct SigningKey {
    pair: EcdsaKeyPair,
    curve: Curve,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("curve", &self.curve)
            .field("key_id", &hex::encode(self.key_id()))
            .finish()
    }
}

impl SigningKey {
    /// Derives a key from `seed` and a `label` naming its role.
    ///
    /// The private scalar is SHA-512(seed || 0 || label || 0 || counter),
    /// truncated to the curve's scalar length; the counter moves on in the
    /// (vanishingly rare) case that the scalar is out of range.
    pub(crate) fn derive(seed: &[u8], label: &str, curve: Curve) -> Self {
        for counter in 0u32.. {
            let mut hasher = Sha512::new();
            hasher.update(seed);
            hasher.update([0]);
            hasher.update(label.as_bytes());
            hasher.update([0]);
            hasher.update(counter.to_be_bytes());
            let digest = hasher.finalize();
            let scalar = &digest[..curve.scalar_len()];
            if let Some(key) = Self::from_scalar(scalar, curve) {
                return key;
            }
        }
        unreachable!("a u32 counter always finds a valid scalar")
    }

    /// Builds a key from a big-endian private scalar, or `None` if the scalar
    /// is not in `[1, n-1]`.
    fn from_scalar(scalar: &[u8], curve: Curve) -> Option<Self> {
        // RFC 5915 ECPrivateKey ::= SEQUENCE { version INTEGER 1,
        //   privateKey OCTET STRING, parameters [0] ECParameters }
        // The public key is optional; aws-lc computes it.
        let params = curve.named_curve_field();
        let body_len = 3 + 2 + scalar.len() + params.len();
        let mut der = vec![0x30, u8::try_from(body_len).ok()?, 0x02, 0x01, 0x01, 0x04];
        der.push(u8::try_from(scalar.len()).ok()?);
        der.extend_from_slice(scalar);
        der.extend_from_slice(params);
        let alg = match curve {
            Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        let pair = EcdsaKeyPair::from_private_key_der(alg, &der).ok()?;
        let spki_der = spki_der_of(&pair);
        Some(Self {
            pair,
            curve,
            spki_der,
        })
    }

    /// DER of the SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The SubjectPublicKeyInfo as an x509-cert value.
    pub(crate) fn spki(&self) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_der(&self.spki_der)
            .expect("aws-lc-rs produces a valid SubjectPublicKeyInfo")
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER: the log ID of a CT log or
    /// Rekor key (RFC 6962 §3.2) and the key ID in a trusted root.
    pub(crate) fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// X.509 signature algorithm this key signs with.
    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        let oid = match self.curve {
            Curve::P256 => ECDSA_WITH_SHA256,
            Curve::P384 => ECDSA_WITH_SHA384,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    /// Signs `message` (hashed with SHA-256 for P-256, SHA-384 for P-384) and
    /// returns the DER `ECDSA-Sig-Value`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .expect("ECDSA signing with a valid key does not fail")
            .as_ref()
            .to_vec()
    }
}

/// SubjectPublicKeyInfo DER of an aws-lc-rs key pair.
fn spki_der_of(pair: &EcdsaKeyPair) -> Vec<u8> {
    use aws_lc_rs::encoding::AsDer;
    pair.public_key()
        .as_der()
        .expect("an EC public key always encodes")
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};

    #[test]
    fn derived_keys_are_deterministic_and_distinct() {
        let a = SigningKey::derive(b"seed", "rekor", Curve::P256);
        let b = SigningKey::derive(b"seed", "rekor", Curve::P256);
        let c = SigningKey::derive(b"seed", "ctlog", Curve::P256);
        assert_eq!(a.spki_der(), b.spki_der());
        assert_ne!(a.spki_der(), c.spki_der());
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        for (curve, alg) in [
            (Curve::P256, &ECDSA_P256_SHA256_ASN1),
            (Curve::P384, &ECDSA_P384_SHA384_ASN1),
        ] {
            let key = SigningKey::derive(b"seed", "k", curve);
            let sig = key.sign(b"message");
            let spki = key.spki();
            let point = spki.subject_public_key.raw_bytes();
            UnparsedPublicKey::new(alg, point)
                .verify(b"message", &sig)
                .expect("signature verifies");
        }
    }
}

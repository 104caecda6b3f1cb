//! ECDSA signing keys for the virtual services (CA, CT log, transparency log,
//! ephemeral signing keys), derived deterministically from the instance seed.
//!
//! Keys are deterministic so that one seed always yields the same trusted root;
//! signatures are not (ECDSA with a random nonce, as aws-lc-rs does it).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RsaKeyPair,
};
use der::Decode;
use der::asn1::ObjectIdentifier;
use sha2::{Digest, Sha256, Sha512};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// OID of `ecdsa-with-SHA256` (RFC 5758 §3.2).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// OID of `ecdsa-with-SHA384` (RFC 5758 §3.2).
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// OID of `ecdsa-with-SHA512` (RFC 5758 §3.2).
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");

use crate::options::{HashAlg, KeyType};

/// Elliptic curve of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-256, signing with SHA-256.
    P256,
    /// NIST P-384, signing with SHA-384.
    P384,
    /// NIST P-521, signing with SHA-512.
    P521,
}

impl Curve {
    /// Length in bytes of a private scalar.
    fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The hash aws-lc-rs signs with on this curve.
    fn hash(self) -> HashAlg {
        match self {
            Curve::P256 => HashAlg::Sha256,
            Curve::P384 => HashAlg::Sha384,
            Curve::P521 => HashAlg::Sha512,
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
            // [0] { OID 1.3.132.0.35 }
            Curve::P521 => &[0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
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
    /// truncated to the curve's scalar length (for P-521, followed by
    /// SHA-512 of the same input and 1, with the top byte masked to one bit); the counter moves on in the
    /// (vanishingly rare) case that the scalar is out of range.
    pub(crate) fn derive(seed: &[u8], label: &str, curve: Curve) -> Self {
        for counter in 0u32.. {
            let mut hasher = Sha512::new();
            hasher.update(seed);
            hasher.update([0]);
            hasher.update(label.as_bytes());
            hasher.update([0]);
            hasher.update(counter.to_be_bytes());
            let mut bytes = hasher.clone().finalize().to_vec();
            if curve == Curve::P521 {
                // A second block for the 66-byte scalar, whose top byte holds one bit.
                bytes.extend(hasher.chain_update([1]).finalize());
                bytes[0] &= 0x01;
            }
            let scalar = &bytes[..curve.scalar_len()];
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
            Curve::P521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
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
            Curve::P521 => ECDSA_WITH_SHA512,
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

    /// Signs `message` hashed with `hash`, whatever the curve's own hash.
    /// ECDSA turns a digest into the integer `e` from its leftmost bits, up
    /// to the order's length (SEC 1 §4.1.3 step 5), so a shorter digest is
    /// the same integer left-padded with zeros and a longer one is cut: the
    /// result is exactly what ECDSA with `hash` produces.
    pub(crate) fn sign_with(&self, message: &[u8], hash: HashAlg) -> Vec<u8> {
        let own = self.curve.hash();
        if hash == own {
            return self.sign(message);
        }
        let digest = hash.digest(message);
        let len = own.digest(b"").len();
        let mut e = vec![0u8; len];
        if digest.len() >= len {
            e.copy_from_slice(&digest[..len]);
        } else {
            e[len - digest.len()..].copy_from_slice(&digest);
        }
        let algorithm = match own {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        };
        let e = digest::Digest::import_less_safe(&e, algorithm).expect("digest length fits");
        self.pair
            .sign_digest(&e)
            .expect("ECDSA signing of a digest does not fail")
            .as_ref()
            .to_vec()
    }
}

/// The ephemeral key a leaf certificate binds: an ECDSA key derived from the
/// instance seed, or a fresh RSA key (RSA key generation cannot be seeded in
/// aws-lc-rs; leaf keys need not be reproducible).
pub(crate) enum LeafKey {
    /// ECDSA on a NIST curve.
    Ecdsa(SigningKey),
    /// RSA, signing PKCS#1 v1.5.
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ecdsa(key) => key.fmt(f),
            Self::Rsa(pair) => write!(f, "LeafKey::Rsa({} bits)", pair.public_modulus_len() * 8),
        }
    }
}

impl LeafKey {
    /// A key of `key_type` for the leaf named `label`.
    pub(crate) fn new(seed: &[u8], label: &str, key_type: KeyType) -> Self {
        let ecdsa = |curve| Self::Ecdsa(SigningKey::derive(seed, label, curve));
        let rsa =
            |size| Self::Rsa(RsaKeyPair::generate(size).expect("aws-lc-rs generates RSA keys"));
        match key_type {
            KeyType::EcdsaP256 => ecdsa(Curve::P256),
            KeyType::EcdsaP384 => ecdsa(Curve::P384),
            KeyType::EcdsaP521 => ecdsa(Curve::P521),
            KeyType::Rsa2048 => rsa(KeySize::Rsa2048),
            KeyType::Rsa3072 => rsa(KeySize::Rsa3072),
            KeyType::Rsa4096 => rsa(KeySize::Rsa4096),
        }
    }

    /// DER of the SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        match self {
            Self::Ecdsa(key) => key.spki_der().to_vec(),
            Self::Rsa(pair) => pair
                .public_key()
                .as_der()
                .expect("an RSA public key always encodes")
                .as_ref()
                .to_vec(),
        }
    }

    /// The SubjectPublicKeyInfo as an x509-cert value.
    pub(crate) fn spki(&self) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_der(&self.spki_der())
            .expect("aws-lc-rs produces a valid SubjectPublicKeyInfo")
    }

    /// Signs `message` hashed with `hash` (DER `ECDSA-Sig-Value`, or an RSA
    /// PKCS#1 v1.5 signature).
    pub(crate) fn sign(&self, message: &[u8], hash: HashAlg) -> Vec<u8> {
        match self {
            Self::Ecdsa(key) => key.sign_with(message, hash),
            Self::Rsa(pair) => {
                let padding = match hash {
                    HashAlg::Sha256 => &RSA_PKCS1_SHA256,
                    HashAlg::Sha384 => &RSA_PKCS1_SHA384,
                    HashAlg::Sha512 => &RSA_PKCS1_SHA512,
                };
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), message, &mut signature)
                    .expect("RSA signing with a valid key does not fail");
                signature
            }
        }
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
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1, ECDSA_P384_SHA256_ASN1,
        ECDSA_P384_SHA384_ASN1, ECDSA_P521_SHA256_ASN1, ECDSA_P521_SHA512_ASN1,
        RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA512, UnparsedPublicKey,
        VerificationAlgorithm,
    };

    fn verifies(key: &LeafKey, alg: &'static dyn VerificationAlgorithm, sig: &[u8]) -> bool {
        let spki = key.spki();
        UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes())
            .verify(b"message", sig)
            .is_ok()
    }

    #[test]
    fn signs_with_any_hash_on_every_curve() {
        let cases: [(KeyType, HashAlg, &'static dyn VerificationAlgorithm); 6] = [
            (KeyType::EcdsaP256, HashAlg::Sha256, &ECDSA_P256_SHA256_ASN1),
            (KeyType::EcdsaP256, HashAlg::Sha384, &ECDSA_P256_SHA384_ASN1),
            (KeyType::EcdsaP384, HashAlg::Sha384, &ECDSA_P384_SHA384_ASN1),
            (KeyType::EcdsaP384, HashAlg::Sha256, &ECDSA_P384_SHA256_ASN1),
            (KeyType::EcdsaP521, HashAlg::Sha512, &ECDSA_P521_SHA512_ASN1),
            (KeyType::EcdsaP521, HashAlg::Sha256, &ECDSA_P521_SHA256_ASN1),
        ];
        for (key_type, hash, alg) in cases {
            let key = LeafKey::new(b"seed", "leaf", key_type);
            let sig = key.sign(b"message", hash);
            assert!(verifies(&key, alg, &sig), "{key_type:?} with {hash:?}");
            // and not under the curve's other hash
            let other = key.sign(b"message", key_type.default_hash());
            if hash != key_type.default_hash() {
                assert!(
                    !verifies(&key, alg, &other),
                    "{key_type:?} {hash:?} is distinct"
                );
            }
        }
    }

    #[test]
    fn rsa_leaf_keys_sign_pkcs1_v15() {
        let key = LeafKey::new(b"seed", "leaf", KeyType::Rsa2048);
        let spki = key.spki();
        let raw = spki.subject_public_key.raw_bytes();
        let sig = key.sign(b"message", HashAlg::Sha256);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, raw)
            .verify(b"message", &sig)
            .expect("SHA-256 signature verifies");
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA512, raw)
                .verify(b"message", &sig)
                .is_err()
        );
    }

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
            (Curve::P521, &ECDSA_P521_SHA512_ASN1),
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

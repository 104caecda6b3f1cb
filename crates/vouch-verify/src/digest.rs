//! Content digests, valid by construction.
//!
//! Every digest vouch handles is parsed once into [`Sha256Digest`] (image
//! and OCI digests) or [`ArtifactDigest`] (a blob's digest, which npm
//! provenance gives as SHA-512 and a P-384 or P-521 signature as SHA-384 or
//! SHA-512); nothing downstream compares digest strings.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::error::VerifyError;

/// A SHA-256 digest, written `sha256:<64 lowercase hex>` (the OCI form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Wraps 32 raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 lowercase hex characters (no `sha256:` prefix).
    pub fn from_hex(hex_digits: &str) -> Result<Self, VerifyError> {
        let malformed = || VerifyError::MalformedDigest {
            found: hex_digits.chars().take(80).collect(),
        };
        if hex_digits.len() != 64
            || !hex_digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out).map_err(|_| malformed())?;
        Ok(Self(out))
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Sha256Digest {
    type Err = VerifyError;

    /// Parses `sha256:<64 lowercase hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || VerifyError::MalformedDigest {
            found: s.chars().take(80).collect(),
        };
        s.strip_prefix("sha256:")
            .ok_or_else(malformed)
            .and_then(|hex_digits| Self::from_hex(hex_digits).map_err(|_| malformed()))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A hash algorithm a blob's digest can be given in (in-toto `DigestSet`
/// names; cosign and sigstore-go accept these three for artifacts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-384 (48 bytes): what a P-384 signature hashes with.
    Sha384,
    /// SHA-512 (64 bytes): npm provenance subjects, P-521 signatures.
    Sha512,
}

impl DigestAlgorithm {
    /// Every algorithm, weakest first.
    pub const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The prefix name: `sha256`, `sha384` or `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The algorithm named `name` (`sha256`, `sha384`, `sha512`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub(crate) fn to_sigstore(self) -> sigstore_types::HashAlgorithm {
        match self {
            Self::Sha256 => sigstore_types::HashAlgorithm::Sha2256,
            Self::Sha384 => sigstore_types::HashAlgorithm::Sha2384,
            Self::Sha512 => sigstore_types::HashAlgorithm::Sha2512,
        }
    }
}

/// The longest digest an [`ArtifactDigest`] holds (SHA-512).
const MAX_DIGEST_LEN: usize = 64;

/// A blob's digest in one of the [`DigestAlgorithm`]s, written
/// `<algorithm>:<lowercase hex>` (`sha512:…`, as users pass npm's).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArtifactDigest {
    algorithm: DigestAlgorithm,
    bytes: [u8; MAX_DIGEST_LEN],
}

impl ArtifactDigest {
    /// The `algorithm` digest of `bytes`.
    pub fn of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Self {
        let mut out = [0u8; MAX_DIGEST_LEN];
        match algorithm {
            DigestAlgorithm::Sha256 => out[..32].copy_from_slice(&Sha256::digest(bytes)),
            DigestAlgorithm::Sha384 => out[..48].copy_from_slice(&Sha384::digest(bytes)),
            DigestAlgorithm::Sha512 => out.copy_from_slice(&Sha512::digest(bytes)),
        }
        Self {
            algorithm,
            bytes: out,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.digest_len()]
    }

    /// The lowercase hex digits, without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The SHA-256 digest, when this is one.
    pub fn as_sha256(&self) -> Option<Sha256Digest> {
        let bytes: [u8; 32] = self.as_bytes().try_into().ok()?;
        (self.algorithm == DigestAlgorithm::Sha256).then_some(Sha256Digest(bytes))
    }
}

impl From<Sha256Digest> for ArtifactDigest {
    fn from(digest: Sha256Digest) -> Self {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        bytes[..32].copy_from_slice(&digest.0);
        Self {
            algorithm: DigestAlgorithm::Sha256,
            bytes,
        }
    }
}

impl FromStr for ArtifactDigest {
    type Err = VerifyError;

    /// Parses `sha256:`, `sha384:` or `sha512:` followed by the digest's
    /// length in lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || VerifyError::MalformedArtifactDigest {
            found: s.chars().take(140).collect(),
        };
        let (name, hex_digits) = s.split_once(':').ok_or_else(malformed)?;
        let algorithm = DigestAlgorithm::from_name(name).ok_or_else(malformed)?;
        if hex_digits.len() != 2 * algorithm.digest_len()
            || !hex_digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed());
        }
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        hex::decode_to_slice(hex_digits, &mut bytes[..algorithm.digest_len()])
            .map_err(|_| malformed())?;
        Ok(Self { algorithm, bytes })
    }
}

impl fmt::Display for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_digests_round_trip_in_every_algorithm() {
        for algorithm in DigestAlgorithm::ALL {
            let d = ArtifactDigest::of(algorithm, b"hello");
            assert_eq!(d.as_bytes().len(), algorithm.digest_len());
            let s = d.to_string();
            assert!(s.starts_with(&format!("{}:", algorithm.name())));
            assert_eq!(s.parse::<ArtifactDigest>().unwrap(), d);
        }
        let sha256 = Sha256Digest::of(b"hello");
        assert_eq!(
            ArtifactDigest::from(sha256),
            ArtifactDigest::of(DigestAlgorithm::Sha256, b"hello")
        );
        assert_eq!(ArtifactDigest::from(sha256).as_sha256(), Some(sha256));
        assert_eq!(
            ArtifactDigest::of(DigestAlgorithm::Sha512, b"x").as_sha256(),
            None
        );
    }

    #[test]
    fn artifact_digests_refuse_wrong_length_case_and_algorithm() {
        let hex512 = ArtifactDigest::of(DigestAlgorithm::Sha512, b"x").hex();
        let hex256 = Sha256Digest::of(b"x").hex();
        for bad in [
            hex512.clone(),
            format!("sha512:{}", hex512.to_uppercase()),
            format!("sha512:{}", &hex512[..127]),
            format!("sha512:{hex256}"),
            format!("sha384:{hex512}"),
            format!("sha256:{hex512}"),
            format!("md5:{hex256}"),
            format!("SHA512:{hex512}"),
            format!("sha512:{hex512}0"),
            format!("sha512: {}", &hex512[1..]),
        ] {
            assert!(
                matches!(
                    bad.parse::<ArtifactDigest>(),
                    Err(VerifyError::MalformedArtifactDigest { .. })
                ),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn round_trips_the_oci_form() {
        let d = Sha256Digest::of(b"hello");
        let s = d.to_string();
        assert!(s.starts_with("sha256:2cf24dba"));
        assert_eq!(s.parse::<Sha256Digest>().unwrap(), d);
    }

    #[test]
    fn rejects_missing_prefix_uppercase_and_wrong_length() {
        let hex = Sha256Digest::of(b"x").hex();
        assert!(hex.parse::<Sha256Digest>().is_err());
        assert!(
            format!("sha256:{}", hex.to_uppercase())
                .parse::<Sha256Digest>()
                .is_err()
        );
        assert!(
            format!("sha256:{}", &hex[..63])
                .parse::<Sha256Digest>()
                .is_err()
        );
        assert!(format!("sha512:{hex}").parse::<Sha256Digest>().is_err());
        assert!(format!("sha256:{hex}0").parse::<Sha256Digest>().is_err());
    }
}

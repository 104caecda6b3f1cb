//! Content digests, valid by construction.
//!
//! Every digest vouch handles is parsed once into [`Sha256Digest`] (image
//! and OCI digests the client fetches by) or [`Digest`] (a digest in any
//! [`DigestAlgorithm`]: the proxy's content digests, a blob's digest that npm
//! provenance gives as SHA-512 or a P-384/P-521 signature as SHA-384/512);
//! nothing downstream compares digest strings.
//!
//! Two grammars, both strict (lowercase hex, exactly the algorithm's
//! length): OCI content digests, `sha256` or `sha512` (image-spec
//! `descriptor.md`, "Registered algorithms": the only two a registry may be
//! asked for), and artifact digests, which add `sha384` (in-toto
//! `DigestSet`; cosign and sigstore-go accept the three).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// How much of a refused digest an error quotes: the longest valid one
/// (`sha512:` + 128 hex digits) and a few characters more.
const MAX_QUOTED: usize = 140;

/// Why a digest was refused; each variant names the grammar it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Not `sha256:<64 lowercase hex>`.
    #[error("malformed digest `{found}`: expected `sha256:` followed by 64 lowercase hex digits")]
    Sha256 {
        /// The first characters of what was given.
        found: String,
    },
    /// Not an OCI content digest: `sha256:<64 lowercase hex>` or
    /// `sha512:<128 lowercase hex>`.
    #[error(
        "invalid digest `{found}`: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    Content {
        /// The first characters of what was given.
        found: String,
    },
    /// Not an artifact digest: `sha256:`, `sha384:` or `sha512:` followed by
    /// the digest's length in lowercase hex digits.
    #[error(
        "malformed artifact digest `{found}`: expected `sha256:`, `sha384:` or `sha512:` followed \
         by 64, 96 or 128 lowercase hex digits"
    )]
    Artifact {
        /// The first characters of what was given.
        found: String,
    },
}

fn quoted(s: &str) -> String {
    s.chars().take(MAX_QUOTED).collect()
}

/// Decodes exactly `out.len()` bytes from lowercase hex; `None` for any
/// other length, upper-case digits or non-hex characters.
fn decode_lower_hex(hex_digits: &str, out: &mut [u8]) -> Option<()> {
    let lower_hex = hex_digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex_digits.len() != 2 * out.len() || !lower_hex {
        return None;
    }
    hex::decode_to_slice(hex_digits, out).ok()
}

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
    pub fn from_hex(hex_digits: &str) -> Result<Self, DigestError> {
        let mut out = [0u8; 32];
        decode_lower_hex(hex_digits, &mut out).ok_or_else(|| DigestError::Sha256 {
            found: quoted(hex_digits),
        })?;
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
    type Err = DigestError;

    /// Parses `sha256:<64 lowercase hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("sha256:")
            .and_then(|hex_digits| Self::from_hex(hex_digits).ok())
            .ok_or_else(|| DigestError::Sha256 { found: quoted(s) })
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

/// A hash algorithm a digest can be given in (in-toto `DigestSet` names;
/// cosign and sigstore-go accept these three for artifacts, OCI registers
/// `sha256` and `sha512`).
///
/// Exhaustive on purpose: code that maps an algorithm (to a hasher, to
/// Sigstore's enum) must be revisited when one is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// The algorithms OCI content may be addressed by (image-spec
    /// `descriptor.md`, "Registered algorithms").
    pub const OCI: [Self; 2] = [Self::Sha256, Self::Sha512];

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
}

/// The longest digest a [`Digest`] holds (SHA-512).
const MAX_DIGEST_LEN: usize = 64;

/// A digest in one of the [`DigestAlgorithm`]s, written
/// `<algorithm>:<lowercase hex>`. The bytes are boxed, exactly the
/// algorithm's length, so the value stays small inside error types.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    bytes: Box<[u8]>,
}

impl Digest {
    /// The `algorithm` digest of `bytes`.
    pub fn of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Self {
        let digest: Box<[u8]> = match algorithm {
            DigestAlgorithm::Sha256 => Sha256::digest(bytes).as_slice().into(),
            DigestAlgorithm::Sha384 => Sha384::digest(bytes).as_slice().into(),
            DigestAlgorithm::Sha512 => Sha512::digest(bytes).as_slice().into(),
        };
        Self {
            algorithm,
            bytes: digest,
        }
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self::of(DigestAlgorithm::Sha256, bytes)
    }

    /// Parses an OCI content digest: `sha256:<64 lowercase hex>` or
    /// `sha512:<128 lowercase hex>`. Other algorithms are refused: a
    /// registry cannot be asked for them.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        Self::parse_in(value, &DigestAlgorithm::OCI).ok_or_else(|| DigestError::Content {
            found: quoted(value),
        })
    }

    /// Parses an artifact digest: `sha256:`, `sha384:` or `sha512:` followed
    /// by the digest's length in lowercase hex digits.
    pub fn parse_artifact(value: &str) -> Result<Self, DigestError> {
        Self::parse_in(value, &DigestAlgorithm::ALL).ok_or_else(|| DigestError::Artifact {
            found: quoted(value),
        })
    }

    fn parse_in(value: &str, allowed: &[DigestAlgorithm]) -> Option<Self> {
        let (name, hex_digits) = value.split_once(':')?;
        let algorithm = DigestAlgorithm::from_name(name).filter(|a| allowed.contains(a))?;
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let bytes = &mut bytes[..algorithm.digest_len()];
        decode_lower_hex(hex_digits, bytes)?;
        Some(Self {
            algorithm,
            bytes: (*bytes).into(),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The lowercase hex digits, without the algorithm prefix (safe as a
    /// file name).
    pub fn hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The SHA-256 digest, when this is one.
    pub fn as_sha256(&self) -> Option<Sha256Digest> {
        let bytes: [u8; 32] = self.as_bytes().try_into().ok()?;
        (self.algorithm == DigestAlgorithm::Sha256).then_some(Sha256Digest(bytes))
    }

    /// The referrers tag schema's form, `sha256-<hex>` (distribution-spec,
    /// "Referrers Tag Schema").
    pub fn referrers_tag(&self) -> String {
        format!("{}-{}", self.algorithm.name(), self.hex())
    }

    /// A hasher that checks content against this digest.
    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier {
            expected: self.clone(),
            state: match self.algorithm {
                DigestAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
                DigestAlgorithm::Sha384 => Hasher::Sha384(Sha384::new()),
                DigestAlgorithm::Sha512 => Hasher::Sha512(Sha512::new()),
            },
        }
    }
}

impl From<Sha256Digest> for Digest {
    fn from(digest: Sha256Digest) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            bytes: digest.0.into(),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

/// Hashes content as it streams past and says at the end whether it
/// matches the digest it was created for.
pub struct DigestVerifier {
    expected: Digest,
    state: Hasher,
}

impl fmt::Debug for DigestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl DigestVerifier {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// `Ok(())` when the content hashes to the expected digest, otherwise
    /// the digest it does hash to.
    pub fn finish(self) -> Result<(), Digest> {
        let bytes: Box<[u8]> = match self.state {
            Hasher::Sha256(h) => h.finalize().as_slice().into(),
            Hasher::Sha384(h) => h.finalize().as_slice().into(),
            Hasher::Sha512(h) => h.finalize().as_slice().into(),
        };
        let found = Digest {
            algorithm: self.expected.algorithm,
            bytes,
        };
        if found == self.expected {
            Ok(())
        } else {
            Err(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn artifact_digests_round_trip_in_every_algorithm() {
        for algorithm in DigestAlgorithm::ALL {
            let d = Digest::of(algorithm, b"hello");
            assert_eq!(d.as_bytes().len(), algorithm.digest_len());
            let s = d.to_string();
            assert!(s.starts_with(&format!("{}:", algorithm.name())));
            assert_eq!(Digest::parse_artifact(&s).unwrap(), d);
        }
        let sha256 = Sha256Digest::of(b"hello");
        assert_eq!(Digest::from(sha256), Digest::sha256_of(b"hello"));
        assert_eq!(Digest::from(sha256).as_sha256(), Some(sha256));
        assert_eq!(Digest::of(DigestAlgorithm::Sha512, b"x").as_sha256(), None);
    }

    #[test]
    fn artifact_digests_refuse_wrong_length_case_and_algorithm() {
        let hex512 = Digest::of(DigestAlgorithm::Sha512, b"x").hex();
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
                    Digest::parse_artifact(&bad),
                    Err(DigestError::Artifact { .. })
                ),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn content_digests_are_sha256_or_sha512_only() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        let sha512 = Digest::of(DigestAlgorithm::Sha512, b"x");
        assert_eq!(Digest::parse(&sha512.to_string()).unwrap(), sha512);
        let sha384 = Digest::of(DigestAlgorithm::Sha384, b"x").to_string();
        assert!(Digest::parse_artifact(&sha384).is_ok());
        for bad in [
            sha384,
            format!("sha256:{}", HEX.to_uppercase()),
            format!("sha256:{}", &HEX[1..]),
            format!("sha256:{HEX}0"),
            format!("sha256+b64:{HEX}"),
            "sha256:".to_string(),
            HEX.to_string(),
        ] {
            assert!(
                matches!(Digest::parse(&bad), Err(DigestError::Content { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn round_trips_the_oci_form() {
        let d = Sha256Digest::of(b"hello");
        let s = d.to_string();
        assert!(s.starts_with("sha256:2cf24dba"));
        assert_eq!(s.parse::<Sha256Digest>().unwrap(), d);
        assert_eq!(Sha256Digest::from_hex(&d.hex()).unwrap(), d);
        assert_eq!(
            Digest::from(d).referrers_tag(),
            format!("sha256-{}", d.hex())
        );
    }

    #[test]
    fn rejects_missing_prefix_uppercase_and_wrong_length() {
        let hex = Sha256Digest::of(b"x").hex();
        for bad in [
            hex.clone(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[..63]),
            format!("sha512:{hex}"),
            format!("sha256:{hex}0"),
            format!("sha256:{}g", &hex[..63]),
        ] {
            assert!(
                matches!(bad.parse::<Sha256Digest>(), Err(DigestError::Sha256 { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Sha256Digest::from_hex(&hex.to_uppercase()),
            Err(DigestError::Sha256 { .. })
        ));
    }

    #[test]
    fn errors_quote_a_bounded_prefix() {
        let long = format!("sha256:{}", "a".repeat(10_000));
        let Err(DigestError::Content { found }) = Digest::parse(&long) else {
            panic!("accepted an overlong digest");
        };
        assert_eq!(found.len(), MAX_QUOTED);
    }

    #[test]
    fn verifier_accepts_only_matching_content() {
        for algorithm in DigestAlgorithm::ALL {
            let d = Digest::of(algorithm, b"hello");
            let mut v = d.verifier();
            v.update(b"hel");
            v.update(b"lo");
            assert!(v.finish().is_ok());
            let mut v = d.verifier();
            v.update(b"hellO");
            assert_eq!(v.finish().unwrap_err(), Digest::of(algorithm, b"hellO"));
        }
    }
}

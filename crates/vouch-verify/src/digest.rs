//! Content digests, valid by construction.
//!
//! Every digest vouch handles is parsed once into [`Sha256Digest`]; nothing
//! downstream compares digest strings.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

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

#[cfg(test)]
mod tests {
    use super::*;

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

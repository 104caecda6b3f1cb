//! `sigstore-verify` failures in vouch's own words.
//!
//! Every failure of `Verifier::verify` becomes a [`VerifyError`] variant, so
//! callers match on vouch's types and people read what went wrong rather than
//! an upstream Debug name. The certificate chain is the one place where
//! upstream keeps only text: sigstore-verify 0.15.1 wraps rustls-webpki's
//! typed error into `CertificateError::ChainInvalid(String)` with webpki's
//! `Display`, which is its `Debug` (`CertExpired { time: UnixTime(…), … }`).
//! [`chain_failure`] reads that text back into a [`CertificateError`]; the
//! negative tests in `tests/attacks_testkit.rs` produce each case from minted
//! certificates, so an upstream change of wording fails them instead of
//! passing silently.

use sigstore_verify::{
    CertificateError as UpCert, Error as Up, TimestampError as UpTime,
    TransparencyLogError as UpLog,
};

use crate::error::{CertificateError, LogError, TimestampError, VerifyError};

/// Translates one `sigstore-verify` failure.
pub(crate) fn translate(error: Up) -> VerifyError {
    match error {
        Up::SignatureInvalid(detail) => VerifyError::SignatureInvalid {
            detail: signature_detail(detail),
        },
        Up::ArtifactMismatch(detail) => VerifyError::ArtifactMismatch { detail },
        Up::UnsupportedArtifact(detail) => VerifyError::UnsupportedArtifactInput { detail },
        Up::Certificate(e) => certificate(e).into(),
        Up::TransparencyLog(e) => log(e).into(),
        Up::Timestamp(e) => timestamp(e).into(),
        Up::Crypto(sigstore_crypto::Error::UnsupportedAlgorithm(detail)) => {
            VerifyError::UnsupportedAlgorithm { detail }
        }
        Up::InvalidTrustRoot(detail) => VerifyError::RootCannotVerify { detail },
        e @ (Up::TrustRoot(_) | Up::TrustedCertificate(_)) => VerifyError::RootCannotVerify {
            detail: e.to_string(),
        },
        Up::InvalidBundle(detail) | Up::UnsupportedBundle(detail) => {
            VerifyError::UnverifiableBundle { detail }
        }
        Up::Bundle(e) => VerifyError::UnverifiableBundle {
            detail: e.to_string(),
        },
        // The identity and issuer mismatches cannot happen (vouch asks
        // sigstore-verify for any identity and checks the policy itself);
        // the rest are parse failures of bundle parts and variants a newer
        // sigstore-verify may add.
        e => VerifyError::UnverifiableBundle {
            detail: e.to_string(),
        },
    }
}

/// The signature failure's detail without the words [`VerifyError`]'s
/// message already starts with (upstream repeats them: "signature
/// verification failed: signature verification failed: …").
fn signature_detail(detail: String) -> String {
    if let Some(rest) = detail.strip_prefix("signature verification failed: ") {
        rest.to_string()
    } else if let Some(rest) = detail.strip_prefix("DSSE signature verification failed: ") {
        format!("DSSE signature: {rest}")
    } else {
        detail
    }
}

fn certificate(error: UpCert) -> CertificateError {
    match error {
        UpCert::ChainInvalid(detail) => chain_failure(&detail),
        UpCert::Expired { time, not_after } => CertificateError::ExpiredAtSigningTime {
            signed_at: time,
            not_after,
        },
        UpCert::NotYetValid { time, not_before } => CertificateError::NotYetValidAtSigningTime {
            signed_at: time,
            not_before,
        },
        UpCert::NoValidAuthority { time } => CertificateError::NoAuthorityAt { signed_at: time },
        UpCert::Sct(detail) => CertificateError::Sct { detail },
        // webpki's parse of the leaf, again as its Debug name.
        UpCert::Malformed(detail) if detail.starts_with(LEAF_UNPARSABLE) => {
            let name = detail[LEAF_UNPARSABLE.len()..]
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default();
            CertificateError::Malformed {
                detail: chain_reason(name).replace("a certificate of the chain", "the certificate"),
            }
        }
        UpCert::Malformed(detail) => CertificateError::Malformed { detail },
        e => CertificateError::Malformed {
            detail: e.to_string(),
        },
    }
}

fn log(error: UpLog) -> LogError {
    match error {
        UpLog::UnknownLog { log_id } => LogError::UnknownLog { log_id },
        UpLog::InclusionProof(detail) => LogError::InclusionProof { detail },
        UpLog::Checkpoint(detail) => LogError::Checkpoint { detail },
        UpLog::InclusionPromise(detail) => LogError::InclusionPromise { detail },
        UpLog::EntryMismatch(detail) => LogError::EntryMismatch { detail },
        UpLog::IntegratedTime(detail) => LogError::IntegratedTime { detail },
        UpLog::MalformedEntry(detail) => LogError::MalformedEntry { detail },
        e => LogError::MalformedEntry {
            detail: e.to_string(),
        },
    }
}

fn timestamp(error: UpTime) -> TimestampError {
    match error {
        // The authority's certificate chain is checked by webpki too, and
        // sigstore-tsa reports its failure the same way (as text).
        UpTime::Invalid(detail) if detail.contains(CHAIN_FAILED) => {
            TimestampError::AuthorityCertificate(chain_failure(&detail))
        }
        UpTime::Invalid(detail) => TimestampError::Invalid { detail },
        UpTime::OutsideAuthorityValidity { time } => {
            TimestampError::OutsideAuthorityValidity { time }
        }
        UpTime::NoVerifiedTimestamp(detail) => TimestampError::NoVerifiedTime { detail },
        e => TimestampError::Invalid {
            detail: e.to_string(),
        },
    }
}

/// What sigstore-verify puts before webpki's error when webpki cannot parse
/// the leaf (`verify_impl/helpers.rs::verify_certificate_chain`).
const LEAF_UNPARSABLE: &str = "failed to parse end-entity certificate: ";

/// What sigstore-verify (`verify_impl/helpers.rs::verify_certificate_chain`)
/// and sigstore-tsa (`verify.rs`, "TSA certificate chain validation failed")
/// put right before webpki's error.
const CHAIN_FAILED: &str = "chain validation failed: ";

/// Reads a webpki chain failure (its `Debug` text) back into a variant.
fn chain_failure(detail: &str) -> CertificateError {
    let Some(at) = detail.find(CHAIN_FAILED) else {
        return CertificateError::InvalidChain {
            reason: "the chain's issuer key cannot be read",
        };
    };
    let webpki = &detail[at + CHAIN_FAILED.len()..];
    let name_end = webpki
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(webpki.len());
    match &webpki[..name_end] {
        "CertExpired" => match (unix_time(webpki, "time"), unix_time(webpki, "not_after")) {
            (Some(signed_at), Some(not_after)) => CertificateError::ExpiredAtSigningTime {
                signed_at,
                not_after,
            },
            _ => CertificateError::InvalidChain {
                reason: "a certificate had expired at the signing time",
            },
        },
        "CertNotValidYet" => match (unix_time(webpki, "time"), unix_time(webpki, "not_before")) {
            (Some(signed_at), Some(not_before)) => CertificateError::NotYetValidAtSigningTime {
                signed_at,
                not_before,
            },
            _ => CertificateError::InvalidChain {
                reason: "a certificate was not yet valid at the signing time",
            },
        },
        "RequiredEkuNotFound" | "RequiredEkuNotFoundContext" | "EmptyEkuExtension" => {
            CertificateError::NotForCodeSigning
        }
        "UnknownIssuer" => CertificateError::UntrustedIssuer,
        "InvalidSignatureForPublicKey"
        | "SignatureAlgorithmMismatch"
        | "UnsupportedSignatureAlgorithm"
        | "UnsupportedSignatureAlgorithmContext"
        | "UnsupportedSignatureAlgorithmForPublicKey"
        | "UnsupportedSignatureAlgorithmForPublicKeyContext" => {
            CertificateError::ChainSignatureInvalid
        }
        name => CertificateError::InvalidChain {
            reason: chain_reason(name),
        },
    }
}

/// webpki's other path-building refusals, in words.
fn chain_reason(webpki_name: &str) -> &'static str {
    match webpki_name {
        "BadDer" | "BadDerTime" | "TrailingData" | "MalformedExtensions" => {
            "a certificate of the chain is not valid DER"
        }
        "CaUsedAsEndEntity" => "the signing certificate is a CA certificate",
        "EndEntityUsedAsCa" => "an end-entity certificate is used as an issuer",
        "ExtensionValueInvalid" | "InvalidCertValidity" | "InvalidSerialNumber" => {
            "a certificate of the chain has an invalid field"
        }
        "UnsupportedCriticalExtension" => {
            "a certificate of the chain has a critical extension no verifier understands"
        }
        "UnsupportedCertVersion" => "a certificate of the chain is not an X.509 v3 certificate",
        "PathLenConstraintViolated" => "the chain is longer than a CA's path length allows",
        "NameConstraintViolation" | "MaximumNameConstraintComparisonsExceeded" => {
            "the chain violates a CA's name constraints"
        }
        "MaximumPathDepthExceeded"
        | "MaximumPathBuildCallsExceeded"
        | "MaximumSignatureChecksExceeded" => "the chain is too long or too branched to build",
        "CertDistrusted" => "a certificate of the chain is distrusted",
        _ => "the chain verifier refused it",
    }
}

/// The `UnixTime(<seconds>)` of field `field` in webpki's Debug text
/// (`{ field: UnixTime(…)` or `, field: UnixTime(…)`).
fn unix_time(text: &str, field: &str) -> Option<jiff::Timestamp> {
    let start = ["{ ", ", "].iter().find_map(|before| {
        let marker = format!("{before}{field}: UnixTime(");
        text.find(&marker).map(|at| at + marker.len())
    })?;
    let digits = &text[start..];
    let end = digits.find(')')?;
    let seconds: i64 = digits[..end].parse().ok()?;
    jiff::Timestamp::from_second(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_failure_is_not_said_twice() {
        let said = |detail: &str| {
            translate(Up::SignatureInvalid(detail.to_string()))
                .to_string()
                .replace("signature verification failed: ", "|")
        };
        assert_eq!(said("signature verification failed: bad r"), "|bad r");
        assert_eq!(
            said("DSSE signature verification failed: bad r"),
            "|DSSE signature: bad r"
        );
        assert_eq!(said("something else"), "|something else");
    }

    #[test]
    fn reads_both_times_of_an_expired_certificate() {
        let err = chain_failure(
            "certificate chain validation failed: CertExpired { time: UnixTime(1750003600), \
             not_after: UnixTime(1750000600) }",
        );
        let CertificateError::ExpiredAtSigningTime {
            signed_at,
            not_after,
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(signed_at.as_second(), 1_750_003_600);
        assert_eq!(not_after.as_second(), 1_750_000_600);
    }

    #[test]
    fn reads_each_time_by_its_field_name_in_any_order() {
        let text = "CertNotValidYet { not_before: UnixTime(5), time: UnixTime(7) }";
        assert_eq!(unix_time(text, "time").map(|t| t.as_second()), Some(7));
        assert_eq!(
            unix_time(text, "not_before").map(|t| t.as_second()),
            Some(5)
        );
        assert_eq!(
            unix_time("CertExpired { signed_time: UnixTime(1) }", "time"),
            None
        );
    }

    #[test]
    fn an_unparsable_leaf_is_worded_without_webpki_names() {
        let err = certificate(UpCert::Malformed(format!("{LEAF_UNPARSABLE}BadDer")));
        assert_eq!(
            err,
            CertificateError::Malformed {
                detail: "the certificate is not valid DER".into()
            }
        );
    }

    #[test]
    fn an_unknown_webpki_name_is_worded_without_it() {
        let err = chain_failure("certificate chain validation failed: SomethingNew(42)");
        assert!(
            matches!(err, CertificateError::InvalidChain { .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("SomethingNew"), "{err}");
    }
}

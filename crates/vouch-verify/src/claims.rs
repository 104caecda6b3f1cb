//! What a Fulcio certificate says about its signer.
//!
//! [`CertificateClaims`] is read from the leaf certificate's DER. It is only a
//! set of *claims*: it means something once the certificate has been verified
//! (see [`crate::VerifiedSignature`]). Ambiguous certificates are rejected
//! here rather than interpreted: more than one subject alternative name
//! (ATTACKS.md F.64), or two OIDC issuer extensions that disagree (F.63).

use sigstore_crypto::parse_certificate_info;
use sigstore_types::DerCertificate;
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::VerifyError;

/// Fulcio's legacy OIDC issuer extension: raw UTF-8 bytes (fulcio docs/oid-info.md).
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's current OIDC issuer extension: a DER UTF8String (fulcio docs/oid-info.md).
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName SAN type for usernames (`foo!oidc.local`).
const OID_OTHERNAME_USERNAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// The signer's claimed identity, read from a Fulcio leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateClaims {
    /// The single subject alternative name: a URI (CI workflows), an email
    /// (people) or a Fulcio username otherName.
    pub identity: String,
    /// The OIDC issuer (`.1.8`, or `.1.1` on older certificates).
    pub issuer: String,
    /// GitHub Actions claims, when the certificate was issued to a workflow.
    pub github: GitHubClaims,
}

/// The GitHub Actions claims cosign's `--certificate-github-workflow-*` flags
/// match, plus the provider-neutral claims that supersede them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitHubClaims {
    /// `.1.2` event that triggered the run (`push`, `release`, …).
    pub workflow_trigger: Option<String>,
    /// `.1.3` commit SHA the run was based on.
    pub workflow_sha: Option<String>,
    /// `.1.4` workflow display name.
    pub workflow_name: Option<String>,
    /// `.1.5` repository as `owner/name`.
    pub workflow_repository: Option<String>,
    /// `.1.6` git ref (`refs/tags/v1.2.3`).
    pub workflow_ref: Option<String>,
    /// `.1.9` the workflow file that signed, with its ref.
    pub build_signer_uri: Option<String>,
    /// `.1.12` source repository URL.
    pub source_repository_uri: Option<String>,
    /// `.1.21` the run's URL (build logs).
    pub run_invocation_uri: Option<String>,
    /// `.1.11` `github-hosted` or `self-hosted`.
    pub runner_environment: Option<String>,
}

impl CertificateClaims {
    /// Reads the claims of a DER leaf certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, VerifyError> {
        let malformed = |detail: String| VerifyError::MalformedCertificate { detail };
        let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let identity = single_identity(&cert)?;
        let issuer = consistent_issuer(&cert)?;
        let info = parse_certificate_info(&DerCertificate::from(der.to_vec()))
            .map_err(|e| malformed(e.to_string()))?;
        let ci = info.ci_claims;
        let gh = ci.deprecated_github;
        Ok(Self {
            identity,
            issuer,
            github: GitHubClaims {
                workflow_trigger: gh.workflow_trigger,
                workflow_sha: gh.workflow_sha,
                workflow_name: gh.workflow_name,
                workflow_repository: gh.workflow_repository,
                workflow_ref: gh.workflow_ref,
                build_signer_uri: ci.build_signer_uri,
                source_repository_uri: ci.source_repository_uri,
                run_invocation_uri: ci.run_invocation_uri,
                runner_environment: ci.runner_environment,
            },
        })
    }

    /// One line per claim that is present, for error messages and `--output text`.
    pub fn describe(&self) -> String {
        let gh = &self.github;
        let rows = [
            ("identity", Some(&self.identity)),
            ("issuer", Some(&self.issuer)),
            ("repository", gh.workflow_repository.as_ref()),
            ("ref", gh.workflow_ref.as_ref()),
            ("workflow", gh.workflow_name.as_ref()),
            ("trigger", gh.workflow_trigger.as_ref()),
            ("sha", gh.workflow_sha.as_ref()),
        ];
        rows.iter()
            .filter_map(|(name, value)| Some(format!("{:<12}{}", format!("{name}:"), (*value)?)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A SAN's kind in words (RFC 5280 §4.2.1.6 `GeneralName`).
fn san_kind(name: &GeneralName) -> &'static str {
    match name {
        GeneralName::OtherName(_) => "an otherName of another type than username",
        GeneralName::Rfc822Name(_) => "an email address",
        GeneralName::DnsName(_) => "a DNS name",
        GeneralName::DirectoryName(_) => "a directory name",
        GeneralName::EdiPartyName(_) => "an EDI party name",
        GeneralName::UniformResourceIdentifier(_) => "a URI",
        GeneralName::IpAddress(_) => "an IP address",
        GeneralName::RegisteredId(_) => "a registered ID",
    }
}

/// The one SAN Fulcio puts in a certificate. A certificate with several is
/// refused: cosign's legacy engine would accept it if *any* SAN matched, the
/// bundle engine only looks at the first one.
fn single_identity(cert: &Certificate) -> Result<String, VerifyError> {
    let ambiguous = |detail: String| VerifyError::AmbiguousCertificate { detail };
    let san = cert
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| VerifyError::MalformedCertificate {
            detail: format!("subject alternative name extension: {e}"),
        })?
        .ok_or_else(|| ambiguous("certificate has no subject alternative name".into()))?
        .1;
    let mut names = Vec::new();
    for name in &san.0 {
        names.push(match name {
            GeneralName::Rfc822Name(email) => email.to_string(),
            GeneralName::UniformResourceIdentifier(uri) => uri.to_string(),
            GeneralName::OtherName(other) if other.type_id == OID_OTHERNAME_USERNAME => {
                let bytes = other.value.to_der().map_err(|e| ambiguous(e.to_string()))?;
                Utf8StringRef::from_der(&bytes)
                    .map_err(|e| ambiguous(format!("otherName SAN is not a UTF8String: {e}")))?
                    .to_string()
            }
            other => {
                return Err(ambiguous(format!(
                    "a subject alternative name of a kind Fulcio never issues ({})",
                    san_kind(other)
                )));
            }
        });
    }
    match names.len() {
        1 => Ok(names.remove(0)),
        0 => Err(ambiguous("certificate has an empty SAN extension".into())),
        n => Err(ambiguous(format!(
            "certificate has {n} subject alternative names ({}); Fulcio issues exactly one",
            names.join(", ")
        ))),
    }
}

/// The OIDC issuer, from `.1.8` (DER UTF8String) and/or `.1.1` (raw bytes).
/// When both are present they must agree.
fn consistent_issuer(cert: &Certificate) -> Result<String, VerifyError> {
    let mut v1 = None;
    let mut v2 = None;
    let malformed = |detail: String| VerifyError::MalformedCertificate { detail };
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let bytes = ext.extn_value.as_bytes();
        if ext.extn_id == OID_ISSUER_V1 {
            let value = std::str::from_utf8(bytes)
                .map_err(|_| malformed("issuer extension .1.1 is not UTF-8".into()))?;
            if v1.replace(value.to_string()).is_some() {
                return Err(malformed("issuer extension .1.1 appears twice".into()));
            }
        } else if ext.extn_id == OID_ISSUER_V2 {
            let value = Utf8StringRef::from_der(bytes)
                .map_err(|e| malformed(format!("issuer extension .1.8: {e}")))?;
            if v2.replace(value.to_string()).is_some() {
                return Err(malformed("issuer extension .1.8 appears twice".into()));
            }
        }
    }
    match (v1, v2) {
        (Some(a), Some(b)) if a != b => Err(VerifyError::AmbiguousCertificate {
            detail: format!("OIDC issuer extensions disagree: .1.1 says `{a}`, .1.8 says `{b}`"),
        }),
        (_, Some(issuer)) | (Some(issuer), None) => Ok(issuer),
        (None, None) => Err(VerifyError::AmbiguousCertificate {
            detail: "certificate has no OIDC issuer extension (.1.1 or .1.8)".into(),
        }),
    }
}

//! Failures and the exit codes they map to (docs/exit-codes.md).

use std::fmt;
use std::process::ExitCode;

/// The class of a failure; each has a stable exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A signature, certificate, log proof or identity check failed (1).
    Verification,
    /// The command line is inconsistent (2, as clap's own usage errors).
    Usage,
    /// An input could not be read or parsed (3).
    Input,
    /// A registry or TUF mirror could not be reached or refused access (4):
    /// nothing was verified, and nothing was found untrustworthy either.
    Access,
    /// No signatures or attestations are attached to the image (10, cosign's).
    NoSignatures,
    /// The image tag does not exist (11, cosign's).
    TagNotFound,
    /// Signatures exist but none verified (12, cosign's).
    NoMatching,
    /// The user pressed Ctrl-C (130, what a shell reports for SIGINT):
    /// nothing was decided and no output file was written.
    Interrupted,
}

impl FailureKind {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The exit code as a number.
    fn code(self) -> u8 {
        match self {
            Self::Verification => 1,
            Self::Usage => 2,
            Self::Input => 3,
            Self::Access => 4,
            Self::NoSignatures => 10,
            Self::TagNotFound => 11,
            Self::NoMatching => 12,
            Self::Interrupted => 130,
        }
    }

    /// The name of the class in JSON error documents: a closed set, one per
    /// exit code.
    fn name(self) -> &'static str {
        match self {
            Self::Verification => "verification-failed",
            Self::Usage => "usage",
            Self::Input => "input",
            Self::Access => "access",
            Self::NoSignatures => "no-signatures",
            Self::TagNotFound => "tag-not-found",
            Self::NoMatching => "no-matching",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The version of the JSON error document's shape ([`Failure::to_json`]).
pub const ERROR_SCHEMA_VERSION: u32 = 1;

/// A failure with a message for people.
#[derive(Debug)]
pub struct Failure {
    /// Its class.
    pub kind: FailureKind,
    /// What happened, what was expected and what was found.
    pub message: String,
}

impl Failure {
    /// The JSON error document printed on stdout when the command was asked
    /// for JSON and failed before printing its report: `schemaVersion`, and
    /// `error` with the exit code, its class and the message (also on stderr).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": ERROR_SCHEMA_VERSION,
            "error": {
                "exitCode": self.kind.code(),
                "kind": self.kind.name(),
                "message": self.message,
            },
        })
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Usage,
            message: message.into(),
        }
    }

    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An unreadable or malformed input.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Input,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<vouch_verify::VerifyError> for Failure {
    fn from(error: vouch_verify::VerifyError) -> Self {
        use vouch_verify::VerifyError as E;
        let kind = match &error {
            E::MalformedDigest { .. }
            | E::MalformedBundle { .. }
            | E::BundleField(_)
            | E::BundleTooLarge { .. }
            | E::TrustedRoot { .. }
            | E::MalformedKey { .. } => FailureKind::Input,
            E::BadPattern { .. } => FailureKind::Usage,
            _ => FailureKind::Verification,
        };
        Self {
            kind,
            message: with_verify_advice(&error),
        }
    }
}

/// The error's text, with the flag that fixes it where there is one.
pub fn with_verify_advice(error: &vouch_verify::VerifyError) -> String {
    match error {
        vouch_verify::VerifyError::SignerKindMismatch {
            found: vouch_verify::SignerKind::PublicKey,
            ..
        } => format!("{error} (pass the key with --key)"),
        _ => error.to_string(),
    }
}

/// What to do when nothing attached to an image verified (the vendor
/// guide's advice: check the identity flags, then do not use the image and
/// contact the vendor).
const NO_MATCH_ADVICE: &str = "Do not use this image: nothing attached to it verified for the \
signer you asked for. If your --certificate-identity and --certificate-oidc-issuer values are \
the ones the vendor publishes, contact the vendor.";

/// `no matching <what>:`, then each rejected candidate with its reason
/// (`none` when there is none), each distinct signing certificate's claims
/// once, then [`NO_MATCH_ADVICE`].
pub fn no_match_report(what: &str, candidates: &[&vouch_image::Rejection], none: &str) -> String {
    let mut lines = vec![format!("no matching {what}:")];
    for rejection in candidates {
        let reason = match &rejection.error {
            vouch_verify::VerifyError::Policy { problem, .. } => problem.to_string(),
            error => with_verify_advice(error),
        };
        let reason = reason.lines().collect::<Vec<_>>().join("\n    ");
        lines.push(format!("  {}: {reason}", rejection.candidate));
    }
    if candidates.is_empty() {
        lines.push(format!("  {none}"));
    }
    let signers = vouch_image::distinct_signers(candidates.iter().copied());
    for (i, claims) in signers.iter().enumerate() {
        lines.push(match signers.len() {
            1 => "the signing certificate has:".to_string(),
            n => format!("signing certificate {} of {n} has:", i + 1),
        });
        lines.extend(claims.describe().lines().map(|l| format!("  {l}")));
    }
    lines.push(NO_MATCH_ADVICE.to_string());
    lines.join("\n")
}

/// Why each candidate attached to an image was rejected, one a line (or
/// joined by `separator`), with the same advice.
pub fn rejections(found: &vouch_image::Attached, separator: &str) -> String {
    found
        .rejected
        .iter()
        .map(|r| format!("{}: {}", r.candidate, with_verify_advice(&r.error)))
        .collect::<Vec<_>>()
        .join(separator)
}

impl From<vouch_trust::TrustError> for Failure {
    fn from(error: vouch_trust::TrustError) -> Self {
        // A TUF refusal (rollback, freeze, bad signature or hash) means the
        // trust material is not trustworthy: 1, like any failed check. An
        // unreachable mirror is 4, as an unreachable registry is. Unreadable
        // or malformed local files are 3.
        let kind = if error.is_refusal() {
            FailureKind::Verification
        } else if error.is_network() {
            FailureKind::Access
        } else {
            FailureKind::Input
        };
        Self::new(kind, with_trust_advice(&error))
    }
}

/// The error's text, with what to do about it in terms of vouch's flags and
/// commands (the library says what happened; the CLI knows its flags).
fn with_trust_advice(error: &vouch_trust::TrustError) -> String {
    use vouch_trust::TrustError as E;
    match error {
        E::Network { .. } => format!(
            "{error}\nTo verify without network: add --offline (uses the TUF cache, or the \
             trusted root embedded in vouch, and says how old it is), give --trusted-root FILE, \
             or run `vouch trust import DIR` with a directory made by `vouch trust export DIR` \
             on a connected machine"
        ),
        E::NoOfflineData { .. } => format!(
            "--offline: {error}; run once online, `vouch trust import DIR`, or give \
             --trusted-root FILE"
        ),
        E::NoCachedRoot { .. } => format!(
            "{error}; give --tuf-root FILE (or TUF_ROOT_JSON), the initial root.json of that \
             repository"
        ),
        E::StaleExport { .. } => format!("{error} (run without --offline)"),
        E::MirrorMismatch { found, .. } => format!("{error}; give --tuf-mirror {found}"),
        _ => error.to_string(),
    }
}

impl From<vouch_oci::ReferenceError> for Failure {
    fn from(error: vouch_oci::ReferenceError) -> Self {
        vouch_oci::OciError::from(error).into()
    }
}

impl From<vouch_oci::OciError> for Failure {
    fn from(error: vouch_oci::OciError) -> Self {
        use vouch_oci::OciError as E;
        let kind = match &error {
            E::BadReference { .. } => FailureKind::Usage,
            E::Credentials { .. } | E::CredentialHelper { .. } => FailureKind::Input,
            // A directory that is no layout, or one that cannot be read, is
            // unreadable input; a layout whose content fails a check (a
            // changed or missing blob) failed verification.
            E::Layout(
                vouch_oci::LayoutError::NotALayout { .. }
                | vouch_oci::LayoutError::Refused { .. }
                | vouch_oci::LayoutError::UnsafeArchiveEntry { .. }
                | vouch_oci::LayoutError::Io { .. },
            ) => FailureKind::Input,
            e if e.is_access_failure() => FailureKind::Access,
            _ => FailureKind::Verification,
        };
        let hint = match &error {
            E::Unauthorized { registry, .. } => Some(format!(
                "log in with `vouch login {registry} -u <user>` (or docker/podman login). For a \
                 license-gated proxy the user is your email and the password is your license \
                 ID; a 401 with correct credentials means the license is expired or revoked."
            )),
            E::Denied { .. } => Some(
                "the credentials are valid but not entitled to this image or version (for a \
                 license-gated proxy: the license must be assigned to the channel that serves \
                 this version)"
                    .to_string(),
            ),
            E::UntrustedCertificate { .. } => Some(
                "if this is a test registry with a self-signed or expired certificate, \
                 --allow-insecure-registry skips certificate verification (never for \
                 production: anyone on the path can then impersonate the registry)"
                    .to_string(),
            ),
            E::Referrers { .. } => Some(
                "ask the registry (or proxy) operator to fix its referrers API; until then \
                 --referrers-fallback-on-error searches the tag schema and legacy tags instead"
                    .to_string(),
            ),
            e if e.may_need_plain_http() => Some(
                "a registry that serves only plain HTTP needs --allow-http-registry (for test \
                 registries only)"
                    .to_string(),
            ),
            _ => None,
        };
        let message = match hint {
            Some(hint) => format!("{error}\nhint: {hint}"),
            None => error.to_string(),
        };
        Self { kind, message }
    }
}

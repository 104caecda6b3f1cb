//! Registry errors that say what happened and what to do.

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// An image reference, repository or tag is malformed.
    #[error(transparent)]
    BadReference(#[from] vouch_oci_types::ReferenceError),
    /// A credentials file cannot be read or parsed.
    #[error("credentials file {}: {reason}", path.display())]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A docker credential helper failed.
    #[error("credential helper {helper}: {reason}")]
    CredentialHelper {
        /// The helper program.
        helper: String,
        /// What it said.
        reason: String,
    },
    /// The registry refused the credentials (HTTP 401).
    #[error("{registry} refused the credentials (401 Unauthorized): {detail}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What it said.
        detail: String,
    },
    /// The registry denied access (HTTP 403).
    #[error("access to {what} denied (403 Forbidden): {detail}")]
    Denied {
        /// What was asked for.
        what: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry answered with an unexpected status.
    #[error("GET {url}: HTTP {status}: {detail}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error message.
        detail: String,
    },
    /// The registry could not be reached.
    #[error(
        "cannot reach registry {registry}: {}\nhint: {}",
        attempts_text(attempts),
        unreachable_hint(*tried, attempts)
    )]
    Unreachable {
        /// The registry.
        registry: String,
        /// The last URL tried.
        url: String,
        /// Each URL tried and how it failed, in order.
        attempts: Vec<(String, NetworkFailure)>,
        /// Which schemes it could be reached on; with the failures, decides
        /// the hint, which never suggests a flag that would change nothing.
        tried: SchemesAllowed,
    },
    /// The registry's TLS certificate was rejected. Only happens while
    /// certificates are verified, so the hint's flag is never already set.
    #[error("{registry} ({url}) presented a TLS certificate that is not trusted: {reason}")]
    UntrustedCertificate {
        /// The registry.
        registry: String,
        /// The URL tried.
        url: String,
        /// What is wrong with the certificate.
        reason: String,
    },
    /// Authentication could not be completed.
    #[error("authenticating to {registry}: {reason}")]
    Auth {
        /// The registry.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// Content does not hash to the digest it was asked for.
    #[error(
        "{what}: content digest mismatch: expected {expected}, received content hashes to {found}"
    )]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        found: String,
    },
    /// A body is larger than its limit.
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A transfer broke off.
    #[error("reading {what}: {reason}")]
    Transfer {
        /// What was being read.
        what: String,
        /// Why it stopped.
        reason: String,
    },
    /// Something that must exist does not (404).
    #[error("{what} not found")]
    NotFound {
        /// What was asked for.
        what: String,
    },
    /// A document from the registry is malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The referrers API failed in a way that is not "unsupported".
    #[error(
        "listing referrers of {subject}: {reason} (a registry fault, not a missing signature: the referrers API must answer 200 with an image index, or 404 when it is unsupported)"
    )]
    Referrers {
        /// The subject.
        subject: String,
        /// What went wrong.
        reason: String,
    },
    /// The referrers the registry answered cannot be used: a body that is not
    /// an image index, more referrers or pages than vouch's limits, a `Link`
    /// to another host. Content that arrived and failed a check, so not an
    /// access failure: whoever can push to the repository can cause it.
    #[error(
        "listing referrers of {subject}: {reason}\nhint: the registry's referrers answer is malformed or beyond vouch's limits; the referrers API must answer 200 with a valid image index, or 404 when it is unsupported. Ask the registry operator."
    )]
    ReferrersRefused {
        /// The subject.
        subject: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// An OCI image layout on disk was refused, or a blob in it.
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
}

impl OciError {
    /// Whether the registry could not be reached over HTTPS in a way a
    /// plain-HTTP server causes (it answered the TLS handshake with HTTP, or
    /// broke it off), and plain HTTP was not allowed for it: then allowing
    /// plain HTTP may be what the user needs (for a test registry).
    pub fn may_need_plain_http(&self) -> bool {
        matches!(self, Self::Unreachable { tried: SchemesAllowed::HttpsOnly, attempts, .. }
        if attempts.iter().any(|(_, f)| matches!(
            f,
            NetworkFailure::PlainHttpServer | NetworkFailure::TlsHandshake { .. }
        )))
    }

    /// Whether the registry could not be reached or refused access (401,
    /// 403, an unexpected status, a broken transfer or referrers API, a
    /// failed token flow): the content was never seen, so nothing about its
    /// trustworthiness is known. Content that arrived and failed a check (a
    /// digest mismatch, an oversized or malformed document) is not an access
    /// failure, nor is a missing object, a bad reference or unreadable local
    /// credentials.
    pub fn is_access_failure(&self) -> bool {
        match self {
            Self::Unauthorized { .. }
            | Self::Denied { .. }
            | Self::Status { .. }
            | Self::Unreachable { .. }
            | Self::Auth { .. }
            | Self::Transfer { .. }
            | Self::Client(_)
            | Self::UntrustedCertificate { .. }
            | Self::Referrers { .. } => true,
            Self::BadReference(_)
            | Self::Credentials { .. }
            | Self::CredentialHelper { .. }
            | Self::DigestMismatch { .. }
            | Self::TooLarge { .. }
            | Self::NotFound { .. }
            | Self::ReferrersRefused { .. }
            | Self::Layout(_)
            | Self::Malformed { .. } => false,
        }
    }
}

/// Which schemes a registry that could not be reached was tried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemesAllowed {
    /// HTTPS only: plain HTTP is not allowed for this registry.
    HttpsOnly,
    /// HTTPS, then plain HTTP (a loopback registry, or `--allow-http-registry`).
    HttpsThenHttp,
    /// A URL the registry named (a token realm), used as it is.
    NamedUrl,
}

/// How one attempt to reach a registry failed, as far as the network
/// stack says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkFailure {
    /// The host name could not be resolved.
    Dns {
        /// What the resolver said.
        detail: String,
    },
    /// Nothing accepted the connection on that address and port.
    Refused,
    /// The connection was reset or closed before an answer.
    Reset,
    /// No answer within the time allowed.
    TimedOut,
    /// The server answered the TLS handshake with plain HTTP: it speaks
    /// HTTP, not HTTPS, on that port.
    PlainHttpServer,
    /// The TLS handshake failed otherwise.
    TlsHandshake {
        /// What failed.
        detail: String,
    },
    /// Anything else (the innermost error's text).
    Other {
        /// What failed.
        detail: String,
    },
}

impl std::fmt::Display for NetworkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns { detail } => write!(f, "the host name cannot be resolved ({detail})"),
            Self::Refused => f.write_str("connection refused (nothing listens on that port)"),
            Self::Reset => f.write_str("the connection was closed before an answer"),
            Self::TimedOut => f.write_str("timed out"),
            Self::PlainHttpServer => {
                f.write_str("the TLS handshake failed: the server speaks plain HTTP on that port")
            }
            Self::TlsHandshake { detail } => write!(f, "the TLS handshake failed: {detail}"),
            Self::Other { detail } => f.write_str(detail),
        }
    }
}

/// `url: failure; url: failure`.
fn attempts_text(attempts: &[(String, NetworkFailure)]) -> String {
    attempts
        .iter()
        .map(|(url, failure)| format!("{url}: {failure}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The hint for an unreachable registry: what the failures point at, and
/// that plain HTTP might be the answer only where it was not already allowed
/// (allowed, or the registry is on loopback) and the failure could be a
/// plain-HTTP server's ([`OciError::may_need_plain_http`]).
fn unreachable_hint(tried: SchemesAllowed, attempts: &[(String, NetworkFailure)]) -> String {
    let has = |wanted: fn(&NetworkFailure) -> bool| attempts.iter().any(|(_, f)| wanted(f));
    let mut hints = Vec::new();
    if has(|f| matches!(f, NetworkFailure::Dns { .. })) {
        hints.push("check the registry's host name (and your DNS)");
    }
    if has(|f| matches!(f, NetworkFailure::Refused)) {
        hints.push("check the port, and that the registry is running");
    }
    if has(|f| matches!(f, NetworkFailure::TimedOut | NetworkFailure::Reset)) {
        hints.push("check your network, firewall or proxy");
    }
    let tls = has(|f| {
        matches!(
            f,
            NetworkFailure::PlainHttpServer | NetworkFailure::TlsHandshake { .. }
        )
    });
    match tried {
        SchemesAllowed::HttpsOnly if tls => {
            hints.push("the registry may serve only plain HTTP, which was not allowed for it")
        }
        SchemesAllowed::HttpsThenHttp => hints.push("HTTPS was tried, then plain HTTP"),
        SchemesAllowed::NamedUrl => {
            hints.push("the registry sent the client to this URL (its token service)")
        }
        SchemesAllowed::HttpsOnly => {}
    }
    if hints.is_empty() {
        hints.push("check the address and your network");
    }
    hints.join("; ")
}

//! Checks a trust domain may not support, switched off only by name.
//!
//! GitHub signs private-repository attestations with its own Fulcio and a
//! timestamp authority, and logs nothing: no transparency log entry, no
//! SCT. cosign verifies them with `--insecure-ignore-tlog` (or
//! `--private-infrastructure`), `--insecure-ignore-sct` and
//! `--use-signed-timestamps` (cosign `pkg/cosign/verify.go`, `CheckOpts`
//! `IgnoreTlog`, `IgnoreSCT`, `UseSignedTimestamps`). [`Checks`] carries
//! those choices; the default checks everything (STYLE.md, "danger is
//! spelled out"). Unlike cosign, skipping the log never falls back to the
//! clock: a signature then needs a verified RFC 3161 timestamp (or a
//! verified Signed Entry Timestamp) to establish when it was made
//! (ATTACKS.md D.47).

/// Whether the transparency log evidence (inclusion proof and checkpoint)
/// is required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogCheck {
    /// Every signature must be in a transparency log of the trusted root
    /// (the default).
    #[default]
    Required,
    /// Not checked. Log entries a bundle carries must still describe it,
    /// and a Signed Entry Timestamp, if present, must still verify before
    /// its time is used.
    InsecureSkipped,
}

/// Whether the signing certificate's embedded SCT is required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SctCheck {
    /// The certificate must carry an SCT from a CT log of the trusted root
    /// (the default).
    #[default]
    Required,
    /// Not checked. The certificate chain, validity and EKU still are.
    InsecureSkipped,
}

/// Whether an RFC 3161 timestamp is required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampCheck {
    /// Timestamps present are verified; none is required as long as the
    /// transparency log proves the signing time (the default).
    #[default]
    WhenPresent,
    /// The bundle must carry an RFC 3161 timestamp, and every one must
    /// verify against a timestamp authority of the trusted root.
    Required,
}

/// Whether the signed claims must name the image being verified: the
/// simple-signing payload's `docker-manifest-digest` (`.sig`), or a subject
/// of the in-toto statement (bundles, `.att`). cosign's `--check-claims`
/// (`CheckOpts.ClaimVerifier`: `SimpleClaimVerifier`,
/// `IntotoSubjectClaimVerifier`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimCheck {
    /// The signed payload must name the image's digest (the default).
    #[default]
    Required,
    /// Not checked (`--check-claims=false`): only the signature, the
    /// certificate, the log evidence and the identity are. A signature made
    /// for another image then verifies; the verified value records the
    /// digest the payload actually names.
    InsecureSkipped,
}

/// Which checks run. The default runs all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checks {
    /// The transparency log.
    pub log: LogCheck,
    /// The certificate's SCT.
    pub sct: SctCheck,
    /// RFC 3161 timestamps.
    pub timestamp: TimestampCheck,
    /// The payload's binding to the image digest.
    pub claims: ClaimCheck,
}

impl Checks {
    /// Every check (the default).
    pub fn all() -> Self {
        Self::default()
    }

    /// With the transparency log check set to `log`.
    pub fn with_log(mut self, log: LogCheck) -> Self {
        self.log = log;
        self
    }

    /// With the SCT check set to `sct`.
    pub fn with_sct(mut self, sct: SctCheck) -> Self {
        self.sct = sct;
        self
    }

    /// With the claim check set to `claims`.
    pub fn with_claims(mut self, claims: ClaimCheck) -> Self {
        self.claims = claims;
        self
    }

    /// With the timestamp requirement set to `timestamp`.
    pub fn with_timestamp(mut self, timestamp: TimestampCheck) -> Self {
        self.timestamp = timestamp;
        self
    }
}

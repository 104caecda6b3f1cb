//! Knobs for one signing event: the identity, how the leaf certificate is
//! minted ([`CertOptions`]) and how the transparency log records it
//! ([`LogOptions`]). The defaults produce material a correct verifier accepts;
//! every other setting produces a specific defect on purpose.

use crate::identity::{Identity, San};

/// Lifetime of a Fulcio leaf certificate, in seconds (Fulcio issues 10-minute
/// certificates).
pub const LEAF_LIFETIME_SECS: u64 = 600;

/// What one of the two Fulcio issuer extensions holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IssuerClaim {
    /// The identity's issuer (the default).
    #[default]
    FromIdentity,
    /// This value instead, e.g. to make .1.1 and .1.8 disagree.
    Value(String),
    /// No such extension.
    Omitted,
}

/// Extended key usage of the leaf certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeafEku {
    /// `id-kp-codeSigning`, as Fulcio issues (the default).
    #[default]
    CodeSigning,
    /// `id-kp-serverAuth` only: an EKU extension without code signing.
    ServerAuthOnly,
    /// No extended key usage extension at all.
    Omitted,
}

/// The embedded Signed Certificate Timestamp of the leaf certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SctChoice {
    /// An SCT from the instance's CT log (the default).
    #[default]
    Embedded,
    /// An SCT from a CT log that is not in the trusted root.
    FromUntrustedLog,
    /// No SCT list extension.
    Omitted,
}

/// Which certificate authority issues the leaf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IssuingCa {
    /// The instance's Fulcio CA, listed in its trusted root (the default).
    #[default]
    Trusted,
    /// An attacker's CA with the same subject names but its own keys, not in
    /// any trusted root. The certificate chain handed out is the attacker's.
    Untrusted,
}

/// Whether a part of the transparency log entry is included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presence {
    /// Included (the default).
    #[default]
    Present,
    /// Left out.
    Absent,
}

/// Rekor entry type that records a DSSE envelope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DsseEntryKind {
    /// `dsse` 0.0.1: what `cosign attest` uploads by default since cosign
    /// 2.3 and what Sigstore bundle signers use with Rekor v1 (the default).
    #[default]
    Dsse,
    /// `intoto` 0.0.1: what `cosign attest --rekor-entry-type=intoto` and
    /// cosign 2.0 to 2.2 upload (the envelope is stored only as a hash).
    IntotoV001,
    /// `intoto` 0.0.2: what sigstore-js 1.x and 2.x uploaded (npm provenance).
    IntotoV002,
}

/// How the leaf certificate is minted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertOptions {
    /// Content of the deprecated raw-bytes issuer extension 1.3.6.1.4.1.57264.1.1.
    pub legacy_issuer: IssuerClaim,
    /// Content of the DER UTF8String issuer extension 1.3.6.1.4.1.57264.1.8.
    pub issuer_v2: IssuerClaim,
    /// More SAN entries after the identity's.
    pub extra_sans: Vec<San>,
    /// Extended key usage.
    pub eku: LeafEku,
    /// Embedded SCT.
    pub sct: SctChoice,
    /// Explicit `(not_before, not_after)` in Unix seconds. `None` means
    /// `(t, t + LEAF_LIFETIME_SECS)` for the signing time `t`.
    pub validity: Option<(u64, u64)>,
    /// The issuing CA.
    pub issuing_ca: IssuingCa,
}

/// How the transparency log records the entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Integrated time to record (and sign in the SET). `None` means the
    /// signing time.
    pub integrated_time: Option<u64>,
    /// Inclusion proof with signed checkpoint.
    pub inclusion_proof: Presence,
    /// Inclusion promise (Signed Entry Timestamp).
    pub inclusion_promise: Presence,
    /// Entry type used for DSSE envelopes.
    pub dsse_entry_kind: DsseEntryKind,
}

/// Everything about one signing event. Build with [`SignOptions::new`] (or
/// from an [`Identity`]) and the builder methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOptions {
    /// Who signs.
    pub identity: Identity,
    /// Signing time in Unix seconds; `None` means the instance's time.
    pub time: Option<u64>,
    /// Leaf certificate knobs.
    pub cert: CertOptions,
    /// Transparency log knobs.
    pub log: LogOptions,
}

impl SignOptions {
    /// Defaults for `identity`: a correct signature at the instance's time.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            time: None,
            cert: CertOptions::default(),
            log: LogOptions::default(),
        }
    }

    /// Signs at Unix time `t` (certificate issuance, SCT and integration).
    pub fn at(mut self, t: u64) -> Self {
        self.time = Some(t);
        self
    }

    /// Sets the deprecated issuer extension 1.3.6.1.4.1.57264.1.1.
    pub fn legacy_issuer(mut self, claim: IssuerClaim) -> Self {
        self.cert.legacy_issuer = claim;
        self
    }

    /// Sets the issuer extension 1.3.6.1.4.1.57264.1.8.
    pub fn issuer_v2(mut self, claim: IssuerClaim) -> Self {
        self.cert.issuer_v2 = claim;
        self
    }

    /// Adds a SAN entry after the identity's.
    pub fn extra_san(mut self, san: San) -> Self {
        self.cert.extra_sans.push(san);
        self
    }

    /// Sets the leaf's extended key usage.
    pub fn eku(mut self, eku: LeafEku) -> Self {
        self.cert.eku = eku;
        self
    }

    /// Sets the leaf's embedded SCT.
    pub fn sct(mut self, sct: SctChoice) -> Self {
        self.cert.sct = sct;
        self
    }

    /// Sets the leaf's validity window explicitly (Unix seconds).
    pub fn cert_validity(mut self, not_before: u64, not_after: u64) -> Self {
        self.cert.validity = Some((not_before, not_after));
        self
    }

    /// Chooses the CA that issues the leaf.
    pub fn issuing_ca(mut self, ca: IssuingCa) -> Self {
        self.cert.issuing_ca = ca;
        self
    }

    /// Records (and signs in the SET) this integrated time.
    pub fn integrated_time(mut self, t: u64) -> Self {
        self.log.integrated_time = Some(t);
        self
    }

    /// Includes or leaves out the inclusion proof and checkpoint.
    pub fn inclusion_proof(mut self, presence: Presence) -> Self {
        self.log.inclusion_proof = presence;
        self
    }

    /// Includes or leaves out the inclusion promise (SET).
    pub fn inclusion_promise(mut self, presence: Presence) -> Self {
        self.log.inclusion_promise = presence;
        self
    }

    /// Chooses the Rekor entry type for DSSE envelopes.
    pub fn dsse_entry_kind(mut self, kind: DsseEntryKind) -> Self {
        self.log.dsse_entry_kind = kind;
        self
    }
}

impl From<Identity> for SignOptions {
    fn from(identity: Identity) -> Self {
        Self::new(identity)
    }
}

impl From<&Identity> for SignOptions {
    fn from(identity: &Identity) -> Self {
        Self::new(identity.clone())
    }
}

impl From<&SignOptions> for SignOptions {
    fn from(options: &SignOptions) -> Self {
        options.clone()
    }
}

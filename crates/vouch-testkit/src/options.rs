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

/// A hash function, as a signature or a logged digest uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Self::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(bytes).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        }
    }

    /// The name Rekor and in-toto use (`sha256`, `sha384`, `sha512`).
    pub fn rekor_name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The protobuf-specs `HashAlgorithm` name a bundle uses (`SHA2_256`, …).
    pub fn bundle_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA2_256",
            Self::Sha384 => "SHA2_384",
            Self::Sha512 => "SHA2_512",
        }
    }
}

/// The type of the ephemeral key the leaf certificate binds. Fulcio issues
/// certificates for each; cosign 3 / sigstore-go sign with the hash the key
/// type implies ([`KeyType::default_hash`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on NIST P-256 (what cosign generates; the default).
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// RSA, 2048-bit modulus, PKCS#1 v1.5 signatures.
    Rsa2048,
    /// RSA, 3072-bit modulus, PKCS#1 v1.5 signatures.
    Rsa3072,
    /// RSA, 4096-bit modulus, PKCS#1 v1.5 signatures.
    Rsa4096,
}

impl KeyType {
    /// The hash sigstore-go's `LoadDefaultSignerVerifier` pairs with the key
    /// (Sigstore `PublicKeyDetails`: P-256 → SHA-256, P-384 → SHA-384,
    /// P-521 → SHA-512, RSA PKCS#1 v1.5 → SHA-256).
    pub fn default_hash(self) -> HashAlg {
        match self {
            Self::EcdsaP256 | Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => HashAlg::Sha256,
            Self::EcdsaP384 => HashAlg::Sha384,
            Self::EcdsaP521 => HashAlg::Sha512,
        }
    }
}

/// The signing key and hashes of one signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureOptions {
    /// The leaf key's type.
    pub key_type: KeyType,
    /// The digest algorithm a message signature declares
    /// (`messageDigest.algorithm`) and its `hashedrekord` entry (or a legacy
    /// signature's entry) logs. `None` means the key type's default hash.
    pub digest: Option<HashAlg>,
    /// The hash the signature is actually computed with. `None` means the
    /// declared digest algorithm (message signatures) or the key type's
    /// default hash (DSSE). Set it apart from `digest` to forge a
    /// curve/hash mismatch.
    pub hash: Option<HashAlg>,
    /// The algorithm the `hashedrekord` entry logs the digest in. `None`
    /// means the declared digest algorithm; set it apart to make the log
    /// entry disagree with the bundle's `messageDigest`.
    pub logged: Option<HashAlg>,
}

impl SignatureOptions {
    /// The digest algorithm declared and logged.
    pub fn digest_algorithm(&self) -> HashAlg {
        self.digest.unwrap_or(self.key_type.default_hash())
    }

    /// The algorithm the `hashedrekord` entry logs.
    pub fn logged_algorithm(&self) -> HashAlg {
        self.logged.unwrap_or(self.digest_algorithm())
    }

    /// The hash a message signature is computed with.
    pub fn message_hash(&self) -> HashAlg {
        self.hash.unwrap_or(self.digest_algorithm())
    }

    /// The hash a DSSE signature over the PAE is computed with.
    pub fn dsse_hash(&self) -> HashAlg {
        self.hash.unwrap_or(self.key_type.default_hash())
    }
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
    /// The entry itself: absent, the bundle has no `tlogEntries` (what
    /// GitHub's instance makes for private repositories).
    pub entry: Presence,
    /// `genTime` of an RFC 3161 timestamp from the instance's timestamp
    /// authority over the signature, in Unix seconds; `None` for none.
    pub rfc3161_timestamp: Option<u64>,
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
    /// Signing key type and hashes.
    pub signature: SignatureOptions,
}

impl SignOptions {
    /// Defaults for `identity`: a correct signature at the instance's time.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            time: None,
            cert: CertOptions::default(),
            log: LogOptions::default(),
            signature: SignatureOptions::default(),
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

    /// Signs with an ephemeral key of this type.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.signature.key_type = key_type;
        self
    }

    /// Declares and logs the message digest with this algorithm (default:
    /// the key type's hash).
    pub fn digest_algorithm(mut self, hash: HashAlg) -> Self {
        self.signature.digest = Some(hash);
        self
    }

    /// Computes the signature with this hash, whatever is declared.
    pub fn signature_hash(mut self, hash: HashAlg) -> Self {
        self.signature.hash = Some(hash);
        self
    }

    /// Logs the `hashedrekord` digest with this algorithm, whatever the
    /// bundle declares.
    pub fn logged_digest_algorithm(mut self, hash: HashAlg) -> Self {
        self.signature.logged = Some(hash);
        self
    }

    /// Leaves the transparency log entry out of the bundle.
    pub fn log_entry(mut self, presence: Presence) -> Self {
        self.log.entry = presence;
        self
    }

    /// Adds an RFC 3161 timestamp from the instance's timestamp authority,
    /// signed at `gen_time` (Unix seconds).
    pub fn rfc3161_timestamp(mut self, gen_time: u64) -> Self {
        self.log.rfc3161_timestamp = Some(gen_time);
        self
    }

    /// What GitHub's instance signs for a private repository: no log entry,
    /// no SCT, an RFC 3161 timestamp at the signing time `t`.
    pub fn private_infrastructure(self, t: u64) -> Self {
        self.at(t)
            .sct(SctChoice::Omitted)
            .log_entry(Presence::Absent)
            .rfc3161_timestamp(t)
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

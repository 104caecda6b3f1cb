//! # vouch-verify: cosign-compatible verification, with no I/O
//!
//! Bytes, trusted material and a policy in; a [`VerifiedSignature`] /
//! [`VerifiedAttestation`] or a precise [`VerifyError`] out. This crate never
//! touches the network or the filesystem, so it runs offline, in tests and
//! under a fuzzer alike.
//!
//! Cryptography (certificate chains, SCTs, SETs, inclusion proofs and
//! checkpoints, RFC 3161 timestamps, Rekor v1 and v2) is done by the audited,
//! conformance-tested `sigstore-verify` crate. vouch adds what cosign users
//! need on top: legacy `.sig` signatures ([`verify_legacy_signature`]),
//! attestations bound to image digests ([`verify_attestation`]), cosign's
//! identity flags with whole-value regexps ([`IdentityPolicy`]), strict
//! parsing and errors that show what the certificate actually says.
//!
//! ```no_run
//! use vouch_verify::*;
//! # fn f(root: &[u8], bundle: &[u8], file: &[u8]) -> Result<(), VerifyError> {
//! let material = TrustedMaterial::from_json(root)?;
//! let bundle = SigstoreBundle::from_json(bundle)?;
//! let policy = SignerPolicy::keyless(IdentityPolicy::new(
//!     ValueMatcher::regex(r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*")?,
//!     ValueMatcher::Exact("https://token.actions.githubusercontent.com".into()),
//! ));
//! let verified = verify_bundle(&material, &bundle, ArtifactInput::Bytes(file), &policy)?;
//! println!("signed by {}", verified.certificate().unwrap().identity);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod bundle;
mod checks;
mod claims;
mod consistency;
mod error;
mod legacy;
mod policy;
mod schema;
mod simple_signing;
mod trust;
mod upstream;
mod verified;

pub use bundle::{
    ArtifactInput, IN_TOTO_PAYLOAD_TYPE, MAX_BUNDLE_SIZE, SigstoreBundle, verify_attestation,
    verify_bundle,
};
pub use checks::{Checks, ClaimCheck, LogCheck, SctCheck, TimestampCheck};
pub use claims::{CertificateClaims, GitHubClaims};
pub use error::{
    CertificateError, LogError, PolicyError, SignerKind, TimestampError, TimestampNeed, VerifyError,
};
pub use legacy::{
    LegacyAttestation, LegacySignature, MAX_REKOR_BUNDLE_SIZE, verify_legacy_attestation,
    verify_legacy_signature,
};
pub use policy::{
    GitHubWorkflowPolicy, IdentityPolicy, MAX_PATTERN_LEN, SignerPolicy, ValueMatcher, WholeMatch,
};
pub use schema::BundleFieldError;
pub use simple_signing::{MAX_SIMPLE_SIGNING_SIZE, SIMPLE_SIGNING_TYPE, SimpleSigningPayload};
pub use trust::{MAX_TRUSTED_ROOT_SIZE, TRUSTED_ROOT_MEDIA_TYPES, TrustedMaterial};
pub use verified::{SignedContent, Signer, VerifiedAttestation, VerifiedSignature};
/// A blob's digest in any [`DigestAlgorithm`] (the one digest type of
/// `vouch-oci-types`, named here for what the verifier uses it for).
pub use vouch_oci_types::Digest as ArtifactDigest;
pub use vouch_oci_types::{DigestAlgorithm, DigestError, Sha256Digest};

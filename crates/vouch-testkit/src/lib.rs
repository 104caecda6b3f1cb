//! Test-only virtual Sigstore.
//!
//! An in-process stand-in for the Sigstore public-good services, in the
//! spirit of sigstore-go's `pkg/testing/ca.VirtualSigstore`: a Fulcio-like
//! CA, a CT log and a Rekor-v1-like transparency log that mint **real**
//! cryptographic material, so verifiers can be tested end to end and on every
//! rejection path without the network.
//!
//! It produces:
//! - Sigstore bundles v0.3 with a message signature ([`VirtualSigstore::sign_blob`])
//!   or a DSSE envelope over an in-toto statement ([`VirtualSigstore::sign_statement`]);
//! - legacy cosign image signatures and attestations
//!   ([`VirtualSigstore::sign_image_legacy`], [`VirtualSigstore::attest_image_legacy`]);
//! - the matching `trusted_root.json`, signing config and client trust config.
//!
//! [`SignOptions`] turns each default into a specific defect (wrong issuer
//! extension, missing EKU or SCT, shifted validity, untrusted CA, missing
//! inclusion proof or promise, …) so that negative tests use genuinely
//! signed, otherwise valid material.
//!
//! This crate mints keys and is never a dependency of shipped code.
//!
//! ```
//! use vouch_testkit::{Identity, SignOptions, VirtualSigstore};
//!
//! let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
//! let identity = Identity::github_actions("acme/app", ".github/workflows/release.yml", "refs/tags/v1.0.0");
//! let good = sigstore.sign_blob(b"hello", &identity);
//! let expired = sigstore.sign_blob(
//!     b"hello",
//!     SignOptions::new(identity).integrated_time(1_750_000_000 + 3_600),
//! );
//! assert!(good.json.contains("application/vnd.dev.sigstore.bundle.v0.3+json"));
//! assert_ne!(good.integrated_time, expired.integrated_time);
//! let _trusted_root = sigstore.trusted_root_json();
//! ```
#![forbid(unsafe_code)]

mod bundle;
mod ca;
mod ct;
mod dsse;
mod fixtures;
mod identity;
mod keys;
mod legacy;
mod merkle;
mod options;
mod pem;
mod process;
mod publish;
mod registry;
mod rekor;
mod sigstore;
mod time;
mod tls_ca;
mod tsa;
pub mod tuf;

pub use bundle::BUNDLE_V03_MEDIA_TYPE;
pub use dsse::{IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, in_toto_statement};
pub use fixtures::{
    GITHUB_ATTESTATION_BUNDLE, GITHUB_ATTESTATION_IDENTITY, GITHUB_ATTESTATION_SUBJECT,
    GITHUB_TRUSTED_ROOT, fixtures,
};
pub use identity::{GITHUB_ACTIONS_ISSUER, GitHubClaims, Identity, San};
pub use legacy::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, DSSE_ENVELOPE_MEDIA_TYPE,
    LegacyAttestation, LegacySignature, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
};
pub use options::{
    CertOptions, DsseEntryKind, HashAlg, IssuerClaim, IssuingCa, KeyType, LEAF_LIFETIME_SECS,
    LeafEku, LogOptions, Presence, SctChoice, SignOptions, SignatureOptions,
};
pub use process::{
    TerminalSession, TerminalStep, check_self_description, git_head, on_a_terminal,
    run_into_closed_pipe, run_with_stdin,
};
pub use publish::{
    AttestationSpec, BUNDLE_V03_ARTIFACT, Layout, OCI_INDEX, OCI_MANIFEST, Publisher, Pushed,
    sha256_digest, standard_attestations,
};
pub use registry::{LocalRegistry, REGISTRY_START_TIMEOUT, skopeo_copy, tool_available};
pub use rekor::INACTIVE_SHARDS_SIZE;
pub use sigstore::{
    CA_LIFETIME_AFTER_NOW_SECS, SignedBundle, TRUST_EPOCH_BEFORE_NOW_SECS, VirtualSigstore,
};
pub use tls_ca::{IssuedCert, TestCa, TlsKey, Usage, Validity};

//! The subcommands ("high-level args" turned into work).

#[cfg(feature = "audit")]
pub mod audit;
#[cfg(not(feature = "audit"))]
#[path = "audit_unavailable.rs"]
pub mod audit;
pub mod digest;
pub mod discover;
pub mod download;
pub mod generated;
pub mod image;
pub mod login;
pub mod release;
pub mod trust;
pub mod verify;
pub mod verify_attestation;
pub mod verify_blob;
pub mod verify_blob_attestation;
pub mod verify_bundle;
pub mod verify_release;
pub mod version;

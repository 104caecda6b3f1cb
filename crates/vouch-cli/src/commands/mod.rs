//! The subcommands ("high-level args" turned into work).

pub mod verify_blob;
pub mod verify_blob_attestation;
pub mod verify_bundle;

//! The `vouch` binary's integration tests, linked into one test binary (one
//! link and one copy on disk instead of seven). Each module is what used to
//! be its own `tests/<name>.rs`; run one with
//! `cargo test -p vouch-cli --test cli <module>::`.

mod common;

mod about;
mod airgap;
mod airgap_proxy;

mod attestation;
#[cfg(feature = "audit")]
mod audit;
#[cfg(not(feature = "audit"))]
mod audit_unavailable;
mod bad_input;
mod broken_pipe;
mod claims;
mod conformance;
mod digests;
mod image;
mod local_image;
mod mismatch;
mod private_infrastructure;
mod registry_flags;
mod release;
mod trust;

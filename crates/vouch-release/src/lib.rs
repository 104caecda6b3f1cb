//! # vouch-release: verify a whole release in one pass
//!
//! A [`ReleasePolicy`] (TOML) names the release's images, who must have signed
//! them and which attestations each must carry, plus third-party images
//! pinned by digest. [`verify_release`] checks them all concurrently with one
//! client and one trust root, and returns one [`ImageRow`] per image for the
//! report ([`to_table`], [`to_json`], [`to_junit`]); [`ReleaseReport::outcome`]
//! says what it amounts to, and only a run in which at least one signed image
//! verified and nothing failed or went unchecked passes.
//!
//! [`save::save_release`] writes a verified release into an OCI image
//! layout for carrying across an air gap; [`layout::check_saved_release`]
//! refuses a saved layout changed on the way, before [`verify_release`]
//! verifies it from disk exactly as from a registry; [`load::load_release`]
//! pushes it into a private registry.
#![forbid(unsafe_code)]

pub mod layout;
pub mod load;
mod policy;
mod report;
pub mod save;
mod verify;
mod version;

pub use policy::{
    AttestationSpec, Classification, Expected, IdentitySpec, MAX_IMAGES, MAX_POLICY_SIZE,
    PolicyError, PolicyProblem, Presence, ReleaseImage, ReleasePolicy, ThirdPartyImage,
};
pub use report::{REPORT_SCHEMA_VERSION, to_json, to_junit, to_table};
pub use verify::{
    AccessFailure, DEFAULT_CONCURRENCY, ImageKind, ImageRow, MissingImages, Outcome, Progress,
    RejectedCandidate, ReleaseOptions, ReleaseReport, Verdict, verify_release,
};
pub use version::Version;

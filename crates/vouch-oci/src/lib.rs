//! # vouch-oci: an OCI registry client for verification
#![forbid(unsafe_code)]

mod credentials;
mod error;
mod reference;

pub use credentials::{AuthLocations, Credential, CredentialStore, MAX_AUTH_FILE_SIZE};
pub use error::OciError;
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_API, MAX_NAME_LEN, MAX_TAG_LEN, Reference, Registry, Repository, Tag,
};

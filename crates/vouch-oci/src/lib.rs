//! # vouch-oci: an OCI registry client for verification
#![forbid(unsafe_code)]

mod client;
mod credentials;
mod discovery;
mod error;
pub mod oci;
mod reference;

pub use client::{
    CONNECT_TIMEOUT, ClientOptions, DEFAULT_MAX_CONCURRENCY, Fetched, MAX_ATTACHMENT_SIZE,
    MAX_MANIFEST_SIZE, MAX_RETRIES, MAX_RETRY_AFTER, PlainHttp, REQUEST_TIMEOUT, RETRY_BASE_DELAY,
    ReferrersFallback, RegistryClient, TlsVerification, Transport,
};
pub use credentials::{AuthLocations, Credential, CredentialStore, MAX_AUTH_FILE_SIZE};
pub use discovery::{
    BUNDLE_ANNOTATION, BUNDLE_PREDICATE_TYPE_ANNOTATION, BundleReferrer, CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION, LegacyLayer, MAX_REFERRER_PAGES, MAX_REFERRERS, MAX_SIGNATURE_LAYERS,
    Referrers, ReferrersSource, SIGNATURE_ANNOTATION,
};
pub use error::{OciError, SchemesAllowed};
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_API, MAX_NAME_LEN, MAX_TAG_LEN, Reference, Registry, Repository, Tag,
};

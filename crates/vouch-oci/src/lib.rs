//! # vouch-oci: an OCI registry client for verification
//!
//! The I/O half of vouch's OCI wire layer, shared by `vouch` and
//! `vouch-proxy`: the token flow with its realm policy and TTL cache,
//! retries, bounded body reads, `Link` pagination, credentials and referrer
//! discovery. What it parses is in `vouch-oci-types`, re-exported here so
//! callers keep one import path. It depends on no Sigstore crate: what is
//! attached to an image comes back as layers and bundle bytes for the
//! caller to verify.
#![forbid(unsafe_code)]

mod body;
mod client;
mod credentials;
mod discovery;
mod error;
mod layout;
mod layout_tar;
mod memo;
mod mirror;
mod push;
mod source;
mod token;

/// The OCI image-spec documents (descriptors, manifests, indexes) and media
/// types, from `vouch-oci-types`.
pub mod oci {
    pub use vouch_oci_types::manifest::*;
}

pub use body::{ReadError, error_chain, read_limited};
pub use client::{
    CONNECT_TIMEOUT, ClientOptions, DEFAULT_MAX_CONCURRENCY, Fetched, MAX_ATTACHMENT_SIZE,
    MAX_RETRIES, MAX_RETRY_AFTER, PlainHttp, REQUEST_TIMEOUT, RETRY_BASE_DELAY, ReferrersFallback,
    RegistryClient, TlsVerification, Transport, next_link_of,
};
pub use credentials::{AuthLocations, Credential, CredentialStore, MAX_AUTH_FILE_SIZE};
pub use discovery::{
    BUNDLE_ANNOTATION, BUNDLE_PREDICATE_TYPE_ANNOTATION, BundleReferrer, CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION, LegacyLayer, MAX_REFERRER_PAGES, MAX_REFERRERS, MAX_SIGNATURE_LAYERS,
    Referrers, ReferrersSource, SIGNATURE_ANNOTATION,
};
pub use error::{NetworkFailure, OciError, SchemesAllowed};
pub use layout::{BlobSink, LayoutError, LayoutWriter, OciLayout, PARTIAL_DIR};
pub use layout_tar::{MAX_ARCHIVE_ENTRIES, pack_layout, unpack_layout, unpack_layout_from};
pub use mirror::Copied;
pub use push::{PushedBlob, PushedManifest, UPLOAD_CHUNK};
pub use source::ImageSource;
pub use token::{
    DEFAULT_TOKEN_TTL, MAX_CACHED_TOKENS, MAX_TOKEN_RESPONSE, PlainHttpRealms, RealmAccess,
    RealmError, RealmHost, RealmHostError, RealmHostProblem, RealmHosts, RealmPolicy,
    TOKEN_REFRESH_MARGIN, Token, TokenCache, TokenCredential, TokenError, TokenRequest,
    check_realm, fetch_token,
};
pub use vouch_oci_types::{
    AuthScheme, Challenge, ChallengeError, DOCKER_HUB, DOCKER_HUB_API, Digest, DigestAlgorithm,
    DigestError, LinkError, MAX_CHALLENGE_LEN, MAX_LINK_LEN, MAX_MANIFEST_SIZE, MAX_NAME_LEN,
    MAX_TAG_LEN, Reference, ReferenceError, ReferenceProblem, Registry, Repository, Sha256Digest,
    Tag, next_link, parse_challenge,
};
pub use vouch_oci_types::{INDEX_FILE, LayoutEntry, LayoutIndex, REF_NAME_ANNOTATION};

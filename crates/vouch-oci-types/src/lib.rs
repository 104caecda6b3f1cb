//! # vouch-oci-types: the pure half of vouch's OCI wire layer
//!
//! Everything both binaries parse from a registry or a client, once, with
//! no I/O: content digests, the repository/tag/reference grammar and its
//! limits, `WWW-Authenticate` challenges, `Link: <…>; rel="next"` headers,
//! the image-spec manifest, index and descriptor types, and the image
//! layout's `oci-layout` and `index.json`. `vouch-verify`
//! builds on the digests; `vouch-oci` (the registry client) and
//! `vouch-proxy` build on all of it.
#![forbid(unsafe_code)]

pub mod challenge;
pub mod digest;
pub mod layout;
pub mod link;
pub mod manifest;
pub mod reference;

pub use challenge::{AuthScheme, Challenge, ChallengeError, MAX_CHALLENGE_LEN, parse_challenge};
pub use digest::{Digest, DigestAlgorithm, DigestError, DigestVerifier, Sha256Digest};
pub use layout::{
    COSIGN_KIND_ANNOTATION, COSIGN_KIND_ATTESTATIONS, COSIGN_KIND_IMAGE, COSIGN_KIND_IMAGE_INDEX,
    COSIGN_KIND_SIGNATURES, IMAGE_LAYOUT_VERSION, INDEX_FILE, LayoutEntry, LayoutIndex,
    LayoutProblem, MAX_INDEX_ENTRIES, MAX_INDEX_SIZE, MAX_OCI_LAYOUT_SIZE, MAX_REF_NAME_LEN,
    OCI_LAYOUT_FILE, REF_NAME_ANNOTATION, blob_path, check_oci_layout, is_ref_name,
    oci_layout_marker,
};
pub use link::{LinkError, MAX_LINK_LEN, next_link};
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DSSE_ENVELOPE, Descriptor, ImageIndex, ImageManifest,
    MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES, MAX_MANIFEST_SIZE, NotAManifest, OCI_EMPTY, OCI_INDEX,
    OCI_MANIFEST, Platform, SIGSTORE_BUNDLE_PREFIX, SIGSTORE_BUNDLE_V03, SIMPLE_SIGNING,
    check_manifest,
};
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_API, MAX_NAME_LEN, MAX_REFERENCE_LEN, MAX_TAG_LEN, Reference,
    ReferenceError, ReferenceProblem, Registry, Repository, Tag, check_repository_path,
    is_path_component,
};

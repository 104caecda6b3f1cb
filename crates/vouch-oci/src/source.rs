//! Where an image and what is attached to it are read from: a registry
//! ([`RegistryClient`]) or an OCI image layout on disk ([`OciLayout`], no
//! network). Verification (`vouch-image`, `vouch-release`) is written once
//! against [`ImageSource`] and runs the same checks on both.

use std::future::Future;

use vouch_oci_types::{Repository, Sha256Digest};

use crate::client::{Fetched, RegistryClient};
use crate::discovery::{BundleReferrer, LegacyLayer, ReferrersSource};
use crate::error::OciError;
use crate::layout::OciLayout;

/// A source of manifests and of what is attached to images. Every
/// manifest and blob it returns was checked against its digest.
pub trait ImageSource: Clone + Send + Sync + 'static {
    /// The manifest `reference` (a tag or a digest) names in `repo`;
    /// `Ok(None)` when there is none.
    fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        accept: &[&str],
    ) -> impl Future<Output = Result<Option<Fetched>, OciError>> + Send;

    /// The Sigstore bundles attached to `subject` as referrers, and how
    /// they were listed.
    fn sigstore_bundles(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
    ) -> impl Future<Output = Result<(Vec<BundleReferrer>, ReferrersSource), OciError>> + Send;

    /// The layers of the legacy cosign manifest `sha256-<hex>.<suffix>` of
    /// `subject`; empty when there is none.
    fn legacy_layers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        suffix: &str,
    ) -> impl Future<Output = Result<Vec<LegacyLayer>, OciError>> + Send;
}

impl ImageSource for RegistryClient {
    fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        accept: &[&str],
    ) -> impl Future<Output = Result<Option<Fetched>, OciError>> + Send {
        RegistryClient::manifest(self, repo, reference, accept)
    }

    fn sigstore_bundles(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
    ) -> impl Future<Output = Result<(Vec<BundleReferrer>, ReferrersSource), OciError>> + Send {
        RegistryClient::sigstore_bundles(self, repo, subject)
    }

    fn legacy_layers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        suffix: &str,
    ) -> impl Future<Output = Result<Vec<LegacyLayer>, OciError>> + Send {
        RegistryClient::legacy_layers(self, repo, subject, suffix)
    }
}

/// A layout answers from disk: the repository only qualifies tag names
/// (`<repository>:<tag>`), and the accepted media types are not asked for.
impl ImageSource for OciLayout {
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        _accept: &[&str],
    ) -> Result<Option<Fetched>, OciError> {
        Ok(OciLayout::manifest(self, repo, reference)?)
    }

    async fn sigstore_bundles(
        &self,
        _repo: &Repository,
        subject: &Sha256Digest,
    ) -> Result<(Vec<BundleReferrer>, ReferrersSource), OciError> {
        Ok((
            OciLayout::sigstore_bundles(self, subject)?,
            ReferrersSource::Layout,
        ))
    }

    async fn legacy_layers(
        &self,
        repo: &Repository,
        subject: &Sha256Digest,
        suffix: &str,
    ) -> Result<Vec<LegacyLayer>, OciError> {
        Ok(OciLayout::legacy_layers(self, repo, subject, suffix)?)
    }
}

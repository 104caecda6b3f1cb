//! Copying content from a registry into an OCI image layout on disk
//! (`vouch release save`): blobs are streamed chunk by chunk into a
//! [`LayoutWriter`]'s [`crate::BlobSink`], so a layer of any size never sits
//! in memory, and a blob the layout already holds whole is not fetched again.

use vouch_oci_types::{Repository, Sha256Digest};

use crate::body::error_chain;
use crate::client::RegistryClient;
use crate::error::OciError;
use crate::layout::{BlobSink, LayoutWriter};

/// What [`RegistryClient::copy_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// The blob was downloaded in this run: this many bytes (now, or read
    /// whole earlier by a client [`RegistryClient::remembering_fetched`]).
    Fetched(u64),
    /// The layout already held it whole (a resumed run): nothing was fetched.
    AlreadyThere(u64),
}

impl Copied {
    /// The blob's size, fetched or not.
    pub fn size(self) -> u64 {
        match self {
            Self::Fetched(n) | Self::AlreadyThere(n) => n,
        }
    }
}

impl RegistryClient {
    /// Copies blob `digest` of `repo`, `size` bytes as its descriptor says,
    /// into the layout `writer` writes. The bytes go to a file in the
    /// layout's `.partial/` while they are hashed, and are renamed to their
    /// digest only once they hash to it; more bytes than `size` stop the
    /// transfer. `on_bytes` is told each chunk's length, for a progress
    /// display.
    pub async fn copy_blob(
        &self,
        repo: &Repository,
        digest: &Sha256Digest,
        size: u64,
        writer: &LayoutWriter,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Copied, OciError> {
        if writer.has_blob(digest, size)? {
            return Ok(Copied::AlreadyThere(size));
        }
        // Read whole earlier in this run (a signature, an attestation):
        // written from memory, hashed again on the way like any download.
        if let Some(kept) = self.remembered(repo, digest)
            && kept.bytes.len() as u64 == size
        {
            let mut sink = writer.blob_sink(digest)?;
            sink.write(&kept.bytes)?;
            on_bytes(size);
            return finish(sink, digest, format!("blob {repo}@{digest}"));
        }
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        let what = format!("blob {repo}@{digest}");
        let mut response = self
            .get(repo, &path, &[])
            .await?
            .ok_or_else(|| OciError::NotFound { what: what.clone() })?;
        if response.content_length().is_some_and(|n| n > size) {
            return Err(OciError::TooLarge { what, limit: size });
        }
        let mut sink = writer.blob_sink(digest)?;
        while let Some(chunk) = response.chunk().await.map_err(|e| OciError::Transfer {
            what: what.clone(),
            reason: error_chain(&e),
        })? {
            if sink.written() + chunk.len() as u64 > size {
                return Err(OciError::TooLarge { what, limit: size });
            }
            sink.write(&chunk)?;
            on_bytes(chunk.len() as u64);
        }
        finish(sink, digest, what)
    }
}

/// Renames the blob `sink` wrote to its digest, once its bytes hash to it.
fn finish(sink: BlobSink, digest: &Sha256Digest, what: String) -> Result<Copied, OciError> {
    let written = sink.written();
    match sink.finish() {
        Ok(()) => Ok(Copied::Fetched(written)),
        Err(crate::LayoutError::BlobDigestMismatch { found, .. }) => {
            Err(OciError::DigestMismatch {
                what,
                expected: digest.to_string(),
                found: found.to_string(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

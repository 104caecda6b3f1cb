//! Pushing to a registry (`vouch release load`): blobs by `HEAD` then an
//! upload (distribution-spec: `POST`, a `PATCH` per chunk but the last,
//! `PUT ?digest=` with the last chunk; a blob of one chunk is a monolithic
//! `POST` + `PUT`), a cross-repository mount where the blob was already
//! pushed to another repository of the same registry, and manifests by
//! digest or tag. A blob is read from disk one chunk at a
//! time, so memory stays bounded whatever a layer's size.

use std::io::Read as _;
use std::path::Path;

use reqwest::{Method, Response, StatusCode};
use vouch_oci_types::{Repository, Sha256Digest};

use crate::client::{RegistryClient, RequestBody};
use crate::error::OciError;

/// The media type of blob upload chunks.
const OCTET_STREAM: &str = "application/octet-stream";

/// The most bytes sent in one `PATCH` of a blob upload (and held in memory).
pub const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

/// What [`RegistryClient::push_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedBlob {
    /// The repository had it already (`HEAD` answered 200).
    AlreadyThere,
    /// The registry mounted it from another repository.
    Mounted,
    /// It was uploaded: this many bytes.
    Uploaded(u64),
}

/// What [`RegistryClient::push_manifest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Sha256Digest,
    /// The registry answered with `OCI-Subject`: it indexed the manifest's
    /// `subject` in its referrers API (distribution-spec v1.1). A registry
    /// that does not needs the referrers tag schema.
    pub subject_indexed: bool,
}

fn push_scope(repo: &Repository) -> String {
    format!("repository:{}:pull,push", repo.path())
}

impl RegistryClient {
    async fn push_request(
        &self,
        repo: &Repository,
        method: Method,
        path: &str,
        body: Option<&RequestBody>,
    ) -> Result<Response, OciError> {
        // A manifest is found only for the media types asked for
        // (distribution 2.x answers 404 to an OCI manifest otherwise).
        let accept = if path.contains("/manifests/") {
            vouch_oci_types::manifest::MANIFEST_ACCEPT
        } else {
            &[]
        };
        self.send_to(
            repo.registry(),
            &push_scope(repo),
            method,
            path,
            accept,
            body,
        )
        .await
    }

    /// `response` if its status is one of `expected`, else the error it
    /// stands for.
    async fn expect(
        &self,
        repo: &Repository,
        path: &str,
        response: Response,
        expected: &[StatusCode],
    ) -> Result<Response, OciError> {
        if expected.contains(&response.status()) {
            Ok(response)
        } else {
            Err(self.status_error(repo, path, response).await)
        }
    }

    /// Whether `repo` has `reference` (`blobs/<digest>` or
    /// `manifests/<reference>`), asked with `HEAD` and push rights.
    async fn exists(
        &self,
        repo: &Repository,
        kind: &str,
        reference: &str,
    ) -> Result<bool, OciError> {
        let path = format!("/v2/{}/{kind}/{reference}", repo.path());
        let response = self.push_request(repo, Method::HEAD, &path, None).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(repo, &path, response).await),
        }
    }

    /// Whether `repo` has the manifest `reference` (a digest or a tag).
    pub async fn has_manifest(&self, repo: &Repository, reference: &str) -> Result<bool, OciError> {
        self.exists(repo, "manifests", reference).await
    }

    /// Pushes blob `digest` (`size` bytes, read from `file`) to `repo`,
    /// unless it is there already; mounted from `mount_from` (a repository
    /// of the same registry that has it) when the registry allows. The
    /// bytes are hashed as they are sent and must hash to `digest`.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        digest: &Sha256Digest,
        size: u64,
        file: &Path,
        mount_from: Option<&Repository>,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<PushedBlob, OciError> {
        if self.exists(repo, "blobs", &digest.to_string()).await? {
            return Ok(PushedBlob::AlreadyThere);
        }
        let uploads = format!("/v2/{}/blobs/uploads/", repo.path());
        let start = match mount_from.filter(|from| from.registry() == repo.registry()) {
            Some(from) => format!("{uploads}?mount={digest}&from={}", from.path()),
            None => uploads.clone(),
        };
        let response = self.push_request(repo, Method::POST, &start, None).await?;
        let response = self
            .expect(
                repo,
                &start,
                response,
                &[StatusCode::CREATED, StatusCode::ACCEPTED],
            )
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(PushedBlob::Mounted);
        }
        let mut location = self.location(repo, &response)?;
        let what = format!("{}", file.display());
        let io = |e: std::io::Error| {
            OciError::Layout(crate::LayoutError::Io {
                path: file.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let mut reader = std::fs::File::open(file).map_err(io)?;
        let mut verifier = vouch_oci_types::Digest::from(*digest).verifier();
        let mut sent: u64 = 0;
        // Every chunk but the last is a `PATCH`; the last goes with the
        // closing `PUT`, so a blob of one chunk takes a `POST` and a `PUT`
        // (distribution-spec's monolithic upload), not three requests.
        let last = loop {
            let mut chunk = Vec::with_capacity(UPLOAD_CHUNK);
            (&mut reader)
                .take(UPLOAD_CHUNK as u64)
                .read_to_end(&mut chunk)
                .map_err(io)?;
            verifier.update(&chunk);
            let n = chunk.len() as u64;
            if chunk.is_empty() || sent + n >= size {
                sent += n;
                break chunk;
            }
            let range = format!("{sent}-{}", sent + n - 1);
            let body = RequestBody::new(OCTET_STREAM, chunk, Some(range));
            let response = self
                .push_request(repo, Method::PATCH, &location, Some(&body))
                .await?;
            let response = self
                .expect(
                    repo,
                    &location,
                    response,
                    &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT],
                )
                .await?;
            location = self.location(repo, &response)?;
            sent += n;
            on_bytes(n);
        };
        // Bytes past the descriptor's size: counted, never sent.
        sent += std::io::copy(&mut reader, &mut std::io::sink()).map_err(io)?;
        if sent != size {
            return Err(OciError::Malformed {
                what,
                reason: format!("{sent} bytes, its descriptor says {size}"),
            });
        }
        if let Err(found) = verifier.finish() {
            return Err(OciError::DigestMismatch {
                what,
                expected: digest.to_string(),
                found: found.to_string(),
            });
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let finish = format!("{location}{separator}digest={digest}");
        let n = last.len() as u64;
        let body = RequestBody::new(OCTET_STREAM, last, None);
        let response = self
            .push_request(repo, Method::PUT, &finish, Some(&body))
            .await?;
        self.expect(
            repo,
            &finish,
            response,
            &[StatusCode::CREATED, StatusCode::NO_CONTENT],
        )
        .await?;
        on_bytes(n);
        Ok(PushedBlob::Uploaded(sent))
    }

    /// Pushes manifest `bytes` of `media_type` to `repo` as `reference` (its
    /// digest, or a tag).
    pub async fn push_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PushedManifest, OciError> {
        let path = format!("/v2/{}/manifests/{reference}", repo.path());
        let body = RequestBody::new(media_type, bytes.to_vec(), None);
        let response = self
            .push_request(repo, Method::PUT, &path, Some(&body))
            .await?;
        let response = self
            .expect(
                repo,
                &path,
                response,
                &[StatusCode::CREATED, StatusCode::OK],
            )
            .await?;
        let digest = Sha256Digest::of(bytes);
        if let Some(answered) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("sha256:"))
            && answered != digest.to_string()
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest pushed to {repo}:{reference}"),
                expected: digest.to_string(),
                found: answered.to_string(),
            });
        }
        Ok(PushedManifest {
            digest,
            subject_indexed: response.headers().contains_key("oci-subject"),
        })
    }

    /// The upload location a response names, as a path on the registry
    /// (an absolute URL must name the registry itself).
    fn location(&self, repo: &Repository, response: &Response) -> Result<String, OciError> {
        let malformed = |reason: String| OciError::Malformed {
            what: format!("blob upload to {repo}"),
            reason,
        };
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| malformed("no Location header".into()))?;
        location_path(location, repo.registry().api_host()).map_err(malformed)
    }
}

/// `location` as a path (with its query) on `host`: a path is kept, an
/// absolute `http(s)://` URL must be on `host`.
fn location_path(location: &str, host: &str) -> Result<String, String> {
    if location.starts_with('/') {
        return Ok(location.to_string());
    }
    let rest = location
        .strip_prefix("https://")
        .or_else(|| location.strip_prefix("http://"))
        .ok_or_else(|| format!("Location `{location}` is neither a path nor an http(s) URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority != host {
        return Err(format!(
            "Location `{location}` is on another host than the registry ({host})"
        ));
    }
    Ok(if path.is_empty() {
        "/".into()
    } else {
        path.into()
    })
}

#[cfg(test)]
mod tests {
    use super::location_path;

    #[test]
    fn upload_locations_stay_on_the_registry() {
        let host = "127.0.0.1:5000";
        assert_eq!(
            location_path("/v2/a/blobs/uploads/u?s=1", host).unwrap(),
            "/v2/a/blobs/uploads/u?s=1"
        );
        assert_eq!(
            location_path("http://127.0.0.1:5000/v2/a/blobs/uploads/u", host).unwrap(),
            "/v2/a/blobs/uploads/u"
        );
        for bad in [
            "https://evil.example/v2/a/blobs/uploads/u",
            "http://127.0.0.1:5001/v2/x",
            "ftp://127.0.0.1:5000/v2/x",
            "v2/relative",
        ] {
            assert!(location_path(bad, host).is_err(), "{bad}");
        }
    }
}

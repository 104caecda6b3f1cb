//! Locating the shared real-world fixtures (`../shared/fixtures`, read in
//! place), and one sigstore-conformance `bundle-verify` case as the tests
//! read it.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;

pub use vouch_testkit::fixtures;
use vouch_verify::{
    ArtifactInput, SignerPolicy, SigstoreBundle, TrustedMaterial, VerifiedSignature, VerifyError,
    verify_bundle,
};

/// One sigstore-conformance `bundle-verify` case.
pub struct ConformanceCase {
    /// The case's directory.
    pub dir: PathBuf,
    /// The directory of all cases (holds the default artifact `a.txt`).
    pub cases: PathBuf,
}

impl ConformanceCase {
    /// The case `name`; `None` (after a SKIP line) without the fixtures.
    pub fn named(name: &str) -> Option<Self> {
        let cases = fixtures()?.join("sigstore-conformance/test/assets/bundle-verify");
        Some(Self {
            dir: cases.join(name),
            cases,
        })
    }

    /// The case's bundle as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.dir.join("bundle.sigstore.json")).unwrap()).unwrap()
    }

    /// The signed artifact: the case's own, or the suite's `a.txt`.
    pub fn artifact(&self) -> Vec<u8> {
        fs::read(self.dir.join("artifact"))
            .unwrap_or_else(|_| fs::read(self.cases.join("a.txt")).unwrap())
    }

    /// The case's trusted root, or the production one.
    pub fn root(&self) -> Vec<u8> {
        fs::read(self.dir.join("trusted_root.json")).unwrap_or_else(|_| {
            fs::read(
                self.cases
                    .join("../../../../trust/production-trusted_root.json"),
            )
            .unwrap()
        })
    }

    /// Verifies `bundle` (the case's own, or an edit of it) over the artifact.
    pub fn verify_with(
        &self,
        bundle: &serde_json::Value,
        policy: &SignerPolicy,
    ) -> Result<VerifiedSignature, VerifyError> {
        let material = TrustedMaterial::from_json(&self.root())?;
        let bundle = SigstoreBundle::from_json(bundle.to_string().as_bytes())?;
        verify_bundle(
            &material,
            &bundle,
            ArtifactInput::Bytes(&self.artifact()),
            policy,
        )
    }
}

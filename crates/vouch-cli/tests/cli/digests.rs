//! Artifact digests in any algorithm a bundle can be bound by (issue 16):
//! `sha512:HEX` for npm provenance (whose subject is SHA-512 only),
//! `sha384:HEX` / `sha512:HEX` for P-384 / P-521 message signatures, and
//! every key type Fulcio certifies, through the binary.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use vouch_testkit::{Identity, KeyType, SignOptions, VirtualSigstore, in_toto_statement};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const NPM_IDENTITY: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const BLOB: &[u8] = b"release notes";

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

/// `vouch <command> --bundle B --certificate-identity … <artifact>`.
fn verify(command: &str, bundle: &str, identity: &str, extra: &[&str], artifact: &str) -> Output {
    let mut args = vec![
        command,
        "--bundle",
        bundle,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    args.extend(extra);
    args.push(artifact);
    common::vouch(args)
}

fn npm() -> Option<(String, Vec<u8>)> {
    let f = common::fixtures()?;
    let tarball = std::fs::read(f.join("gh-cli/sigstore-js-2.1.0.tgz")).unwrap();
    Some((
        f.join("gh-cli/sigstore-js-2.1.0-bundle.json")
            .display()
            .to_string(),
        tarball,
    ))
}

#[test]
fn npm_provenance_verifies_by_its_sha512_subject_digest() {
    let Some((bundle, tarball)) = npm() else {
        return;
    };
    let digest = format!("sha512:{}", hex::encode(Sha512::digest(&tarball)));
    let out = verify(
        "verify-blob-attestation",
        &bundle,
        NPM_IDENTITY,
        &[],
        &digest,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = verify("verify-bundle", &bundle, NPM_IDENTITY, &[], &digest);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn npm_provenance_refuses_another_sha512_and_a_sha256_it_does_not_name() {
    let Some((bundle, tarball)) = npm() else {
        return;
    };
    let other = format!("sha512:{}", hex::encode(Sha512::digest(b"another tarball")));
    let out = verify(
        "verify-blob-attestation",
        &bundle,
        NPM_IDENTITY,
        &[],
        &other,
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    // The right tarball, but by SHA-256: the statement has no SHA-256 subject.
    let sha256 = format!("sha256:{}", hex::encode(Sha256::digest(&tarball)));
    let out = verify(
        "verify-blob-attestation",
        &bundle,
        NPM_IDENTITY,
        &[],
        &sha256,
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
}

#[test]
fn malformed_sha512_and_sha384_arguments_are_input_errors() {
    let Some((bundle, _)) = npm() else {
        return;
    };
    for bad in ["sha512:abc", "sha384:ABCD", "sha512:"] {
        let out = verify("verify-blob", &bundle, NPM_IDENTITY, &[], bad);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{bad}: {err}");
        assert!(err.contains("malformed artifact digest"), "{bad}: {err}");
    }
}

/// A virtual Sigstore's trusted root and bundles written to a directory.
struct Signed {
    dir: PathBuf,
}

impl Signed {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-digests-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn write(&self, file: &str, text: &str) -> String {
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn run(&self, command: &str, bundle: &str, artifact: &str) -> Output {
        let root = self.dir.join("trusted_root.json").display().to_string();
        verify(
            command,
            bundle,
            identity().san.value(),
            &["--trusted-root", &root],
            artifact,
        )
    }
}

#[test]
fn every_key_type_verifies_by_file_and_by_the_digest_its_hash_implies() {
    let sigstore = VirtualSigstore::new("digests", 1_750_000_000);
    let dir = Signed::new("keys");
    dir.write("trusted_root.json", &sigstore.trusted_root_json());
    let blob = dir.write("blob", std::str::from_utf8(BLOB).unwrap());
    for (key_type, digest) in [
        (
            KeyType::EcdsaP256,
            format!("sha256:{}", hex::encode(Sha256::digest(BLOB))),
        ),
        (
            KeyType::EcdsaP384,
            format!("sha384:{}", hex::encode(Sha384::digest(BLOB))),
        ),
        (
            KeyType::EcdsaP521,
            format!("sha512:{}", hex::encode(Sha512::digest(BLOB))),
        ),
        (
            KeyType::Rsa2048,
            format!("sha256:{}", hex::encode(Sha256::digest(BLOB))),
        ),
    ] {
        let signed = sigstore.sign_blob(BLOB, SignOptions::new(identity()).key_type(key_type));
        let bundle = dir.write(&format!("{key_type:?}.sigstore.json"), &signed.json);
        for artifact in [&blob, &digest] {
            let out = dir.run("verify-blob", &bundle, artifact);
            assert!(
                out.status.success(),
                "{key_type:?} {artifact}: {}",
                common::stderr(&out)
            );
        }
    }
}

#[test]
fn a_p384_signature_is_refused_for_a_sha256_digest_argument() {
    let sigstore = VirtualSigstore::new("digests", 1_750_000_000);
    let dir = Signed::new("p384-sha256");
    dir.write("trusted_root.json", &sigstore.trusted_root_json());
    let signed = sigstore.sign_blob(
        BLOB,
        SignOptions::new(identity()).key_type(KeyType::EcdsaP384),
    );
    let bundle = dir.write("p384.sigstore.json", &signed.json);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(BLOB)));
    let out = dir.run("verify-blob", &bundle, &digest);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("SHA2_384"), "{err}");
}

#[test]
fn a_sha512_subject_statement_verifies_by_file_and_by_sha512() {
    let sigstore = VirtualSigstore::new("digests", 1_750_000_000);
    let dir = Signed::new("sha512-subject");
    dir.write("trusted_root.json", &sigstore.trusted_root_json());
    let blob = dir.write("package.tgz", std::str::from_utf8(BLOB).unwrap());
    let sha512 = hex::encode(Sha512::digest(BLOB));
    let mut statement: serde_json::Value = serde_json::from_slice(&in_toto_statement(
        "pkg:npm/app@1.0.0",
        &hex::encode(Sha256::digest(b"unused")),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({}),
    ))
    .unwrap();
    statement["subject"][0]["digest"] = serde_json::json!({ "sha512": sha512 });
    let signed = sigstore.sign_statement(
        &serde_json::to_vec(&statement).unwrap(),
        SignOptions::new(identity()).key_type(KeyType::EcdsaP384),
    );
    let bundle = dir.write("provenance.sigstore.json", &signed.json);
    for artifact in [blob, format!("sha512:{sha512}")] {
        let out = dir.run("verify-blob-attestation", &bundle, &artifact);
        assert!(out.status.success(), "{artifact}: {}", common::stderr(&out));
    }
    let wrong = format!("sha512:{}", hex::encode(Sha512::digest(b"other")));
    let out = dir.run("verify-blob-attestation", &bundle, &wrong);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
}

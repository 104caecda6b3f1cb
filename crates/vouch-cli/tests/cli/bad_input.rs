//! Every bad input gets a one-line error and a documented exit code — never a
//! panic or a backtrace.

use crate::common;

use std::fs;
use std::path::PathBuf;

const ID: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vouch-bad-input-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs verify-blob and checks exit code and a fragment of the one-line error.
fn expect(args: &[&str], code: i32, fragment: &str) {
    let out = common::vouch(args);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(code), "args {args:?}: {err}");
    assert!(
        err.contains(fragment),
        "args {args:?}: expected `{fragment}` in: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    if code == 3 {
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    }
}

fn verify_blob<'a>(bundle: &'a str, artifact: &'a str) -> Vec<&'a str> {
    vec![
        "verify-blob",
        "--bundle",
        bundle,
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISSUER,
        artifact,
    ]
}

fn real_bundle() -> Option<(String, String, serde_json::Value)> {
    let f = common::fixtures()?;
    let path = f.join("gh-cli/sigstore-js-2.1.0-bundle.json");
    let json = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    Some((
        path.display().to_string(),
        f.join("gh-cli/sigstore-js-2.1.0.tgz").display().to_string(),
        json,
    ))
}

#[test]
fn missing_bundle_file() {
    expect(
        &verify_blob("/nonexistent/b.json", "sha256:00"),
        3,
        "cannot read bundle /nonexistent/b.json",
    );
}

#[test]
fn missing_artifact_file() {
    let Some((bundle, _, _)) = real_bundle() else {
        return;
    };
    expect(
        &verify_blob(&bundle, "/nonexistent/artifact"),
        3,
        "cannot read artifact /nonexistent/artifact",
    );
}

#[test]
fn malformed_digest_argument() {
    let Some((bundle, _, _)) = real_bundle() else {
        return;
    };
    expect(
        &verify_blob(&bundle, "sha256:abc"),
        3,
        "malformed digest `sha256:abc`",
    );
}

#[test]
fn bundle_that_is_not_json() {
    let s = Scratch::new("notjson");
    let b = s.file("b.json", b"{not json");
    expect(&verify_blob(&b, "sha256:00"), 3, "not JSON");
}

#[test]
fn bundle_with_wrong_media_type() {
    let Some((_, artifact, mut json)) = real_bundle() else {
        return;
    };
    json["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=9".into();
    let s = Scratch::new("mediatype");
    let b = s.file("b.json", json.to_string().as_bytes());
    expect(&verify_blob(&b, &artifact), 3, "Invalid media type");
}

#[test]
fn bundle_with_bad_base64() {
    let Some((_, artifact, mut json)) = real_bundle() else {
        return;
    };
    json["dsseEnvelope"]["signatures"][0]["sig"] = "!!!not base64!!!".into();
    let s = Scratch::new("b64");
    let b = s.file("b.json", json.to_string().as_bytes());
    expect(&verify_blob(&b, &artifact), 3, "base64");
}

#[test]
fn bundle_with_unknown_field() {
    let Some((_, artifact, mut json)) = real_bundle() else {
        return;
    };
    json["verificationMaterial"]["surprise"] = 1.into();
    let s = Scratch::new("unknown");
    let b = s.file("b.json", json.to_string().as_bytes());
    expect(
        &verify_blob(&b, &artifact),
        3,
        "unknown field `$.verificationMaterial.surprise`",
    );
}

#[test]
fn unusable_trusted_root() {
    let Some((bundle, artifact, _)) = real_bundle() else {
        return;
    };
    let s = Scratch::new("root");
    let root = s.file("root.json", br#"{"mediaType":"text/plain"}"#);
    let mut args = verify_blob(&bundle, &artifact);
    args.splice(1..1, ["--trusted-root", root.as_str()]);
    expect(&args, 3, "media type `text/plain`");
}

#[test]
fn missing_identity_flags_are_a_usage_error() {
    expect(
        &[
            "verify-blob",
            "--bundle",
            "b",
            "--certificate-oidc-issuer",
            ISSUER,
            "f",
        ],
        2,
        "--certificate-identity or --certificate-identity-regexp is required",
    );
    expect(
        &[
            "verify-blob",
            "--bundle",
            "b",
            "--certificate-identity",
            ID,
            "f",
        ],
        2,
        "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required",
    );
}

#[test]
fn invalid_regexp_is_a_usage_error() {
    expect(
        &[
            "verify-blob",
            "--bundle",
            "b",
            "--certificate-identity-regexp",
            "(unclosed",
            "--certificate-oidc-issuer",
            ISSUER,
            "f",
        ],
        2,
        "bad pattern `(unclosed`",
    );
}

#[test]
fn key_with_identity_flags_is_a_usage_error() {
    let mut args = verify_blob("b", "f");
    args.splice(1..1, ["--key", "k.pub"]);
    expect(&args, 2, "--key verifies a managed-key signature");
}

#[test]
fn malformed_public_key_file() {
    let Some((bundle, artifact, _)) = real_bundle() else {
        return;
    };
    let s = Scratch::new("key");
    let key = s.file(
        "k.pub",
        b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
    );
    expect(
        &["verify-blob", "--bundle", &bundle, "--key", &key, &artifact],
        3,
        "k.pub",
    );
}

#[test]
fn verified_blob_json_output_names_the_signer() {
    let Some((bundle, artifact, _)) = real_bundle() else {
        return;
    };
    let mut args = verify_blob(&bundle, &artifact);
    args.splice(1..1, ["--output", "json"]);
    let out = common::vouch(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["signer"]["identity"], ID);
    assert_eq!(
        json["signer"]["githubWorkflowRepository"],
        "sigstore/sigstore-js"
    );
    assert_eq!(json["logIndex"], 33351527);
}

#[test]
fn wrong_identity_exits_1_and_shows_the_actual_signer() {
    let Some((bundle, artifact, _)) = real_bundle() else {
        return;
    };
    let args = [
        "verify-blob",
        "--bundle",
        &bundle,
        "--certificate-identity-regexp",
        r"https://github\.com/acme/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        &artifact,
    ];
    let out = common::vouch(args);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    for fragment in [
        ID,
        "repository: sigstore/sigstore-js",
        "ref:        refs/heads/main",
    ] {
        assert!(err.contains(fragment), "missing {fragment}: {err}");
    }
}

/// `--predicate-out` with several images would keep only the last image's
/// predicate: refused before anything is fetched.
#[test]
fn predicate_out_with_several_images_is_refused() {
    let s = Scratch::new("predicate-out");
    let out = s.file("predicate.json", b"untouched");
    expect(
        &[
            "verify-attestation",
            "--type",
            "spdxjson",
            "--certificate-identity",
            ID,
            "--certificate-oidc-issuer",
            ISSUER,
            "--predicate-out",
            &out,
            "127.0.0.1:1/acme/a:v1",
            "127.0.0.1:1/acme/b:v1",
        ],
        2,
        "--predicate-out writes one file, so it takes exactly one IMAGE; 2 were given",
    );
    assert_eq!(fs::read(&out).unwrap(), b"untouched");
}

/// A kubelet `imageID` or a URL where an image reference belongs, and a
/// repository path where `login` wants a host: exit 2, saying exactly what
/// to give instead (issue 16, item 6).
#[test]
fn a_scheme_or_a_path_where_a_host_belongs_says_what_to_give() {
    let digest = format!("sha256:{}", "a".repeat(64));
    for scheme in ["docker-pullable", "docker"] {
        let image = format!("{scheme}://ghcr.io/acme/app@{digest}");
        expect(
            &["digest", &image],
            2,
            &format!("drop the `{scheme}://` prefix and give `ghcr.io/acme/app@{digest}`"),
        );
    }
    let out = common::run_with_stdin(
        {
            let mut c = common::isolated(std::process::Command::new(env!("CARGO_BIN_EXE_vouch")));
            c.args([
                "login",
                "proxy.example.com/proxy/acme",
                "-u",
                "a@example.com",
                "--password-stdin",
            ]);
            c
        },
        b"LICENSE",
    );
    common::assert_fails(&out, 2, "not a repository path: give `proxy.example.com`");
}

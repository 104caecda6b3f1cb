//! cosign's private-infrastructure flags through the binary:
//! `--insecure-ignore-tlog`, `--private-infrastructure`,
//! `--insecure-ignore-sct`, `--use-signed-timestamps`, `--ca-roots`,
//! `--ca-intermediates`, `--certificate-chain`. A virtual GitHub-like
//! instance (Fulcio and a timestamp authority, no transparency log, no CT
//! log) signs; GitHub's real trusted root and a real bundle of its
//! instance check the same path on real data.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::json;
use vouch_testkit::{
    GITHUB_ACTIONS_ISSUER, GITHUB_ATTESTATION_BUNDLE, GITHUB_ATTESTATION_IDENTITY,
    GITHUB_ATTESTATION_SUBJECT, GITHUB_TRUSTED_ROOT, Identity, IssuingCa, LocalRegistry, Presence,
    Publisher, SctChoice, SignOptions, VirtualSigstore,
};

const NOW: u64 = 1_750_000_000;
const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";
const TLOG_WARNING: &str =
    "WARNING: --insecure-ignore-tlog: transparency log inclusion is not checked";
const SCT_WARNING: &str = "WARNING: --insecure-ignore-sct: the signing certificate's SCT";

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

/// A directory of files for one test, removed afterwards.
struct Files(PathBuf);

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vouch-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `name` and returns its path.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The private instance, and its trusted root written to `files`.
fn private(files: &Files) -> (VirtualSigstore, String) {
    let s = VirtualSigstore::new("private", NOW);
    let root = files.write("trusted_root.json", s.private_trusted_root_json());
    (s, root)
}

/// Runs `vouch <command> --bundle <bundle> --trusted-root <root>`, the
/// identity flags `identity`, `extra` and the artifact argument `artifact`.
fn blob_command(
    command: &str,
    [bundle, root, artifact]: [&str; 3],
    identity: [&str; 4],
    extra: &[&str],
) -> Output {
    let mut args = vec![command, "--bundle", bundle, "--trusted-root", root];
    args.extend_from_slice(&identity);
    args.extend_from_slice(extra);
    args.push(artifact);
    common::vouch(args)
}

/// The identity flags of the virtual instances' signatures.
const ACME: [&str; 4] = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    GITHUB_ACTIONS_ISSUER,
];

/// `vouch verify-blob` of the artifact with `bundle_json`, the trusted root
/// `root` and `extra` flags.
fn verify_blob(files: &Files, root: &str, bundle_json: &str, extra: &[&str]) -> Output {
    let bundle = files.write("artifact.sigstore.json", bundle_json);
    let artifact = files.write("artifact", b"artifact");
    blob_command("verify-blob", [&bundle, root, &artifact], ACME, extra)
}

/// How many lines of `out`'s stderr start with `prefix`.
fn lines_starting(out: &Output, prefix: &str) -> usize {
    common::stderr(out)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

/// Asserts that exactly `n` lines of `out`'s stderr start with `prefix`.
fn assert_lines(out: &Output, prefix: &str, n: usize) {
    assert_eq!(lines_starting(out, prefix), n, "{}", common::stderr(out));
}

fn assert_verified(out: &Output) {
    assert!(out.status.success(), "{}", common::stderr(out));
    assert!(
        common::stderr(out).contains("Verified OK"),
        "{}",
        common::stderr(out)
    );
}

#[test]
fn a_private_signature_verifies_with_tlog_and_sct_ignored_and_says_what_was_not_checked() {
    let files = Files::new("ok");
    let (s, root) = private(&files);
    let signed = s.sign_blob(
        b"artifact",
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &["--insecure-ignore-tlog", "--insecure-ignore-sct"],
    );
    assert_verified(&out);
    assert_lines(&out, TLOG_WARNING, 1);
    assert_lines(&out, SCT_WARNING, 1);
    assert_lines(&out, "WARNING:", 2);
    assert_lines(&out, "  not checked: transparency log, SCT", 1);
    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &[
            "--insecure-ignore-tlog",
            "--insecure-ignore-sct",
            "-o",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["transparencyLogChecked"], false, "{report}");
    assert_eq!(report["signer"]["sctChecked"], false, "{report}");
    assert_eq!(report["logIndex"], serde_json::Value::Null, "{report}");
    assert_eq!(report["verifiedTimes"].as_array().unwrap().len(), 1);

    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &[
            "--private-infrastructure",
            "--insecure-ignore-sct",
            "--use-signed-timestamps",
        ],
    );
    assert_verified(&out);
    assert_lines(
        &out,
        "WARNING: --private-infrastructure: transparency log inclusion is not checked",
        1,
    );
    assert_lines(&out, "WARNING:", 2);
}

#[test]
fn without_the_flags_a_private_signature_is_refused() {
    let files = Files::new("strict");
    let (s, root) = private(&files);
    let signed = s.sign_blob(
        b"artifact",
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let out = verify_blob(&files, &root, &signed.json, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert_lines(&out, "WARNING:", 0);
    // The log alone ignored: the missing SCT is still refused.
    let out = verify_blob(&files, &root, &signed.json, &["--insecure-ignore-tlog"]);
    common::assert_fails(&out, 1, "signed certificate timestamp (SCT)");
}

#[test]
fn tlog_ignored_without_a_timestamp_is_refused() {
    let files = Files::new("no-timestamp");
    let (s, root) = private(&files);
    let options = SignOptions::new(identity())
        .at(NOW)
        .sct(SctChoice::Omitted)
        .log_entry(Presence::Absent);
    let signed = s.sign_blob(b"artifact", options);
    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &["--insecure-ignore-tlog", "--insecure-ignore-sct"],
    );
    common::assert_fails(&out, 1, "the bundle has no RFC 3161 timestamp");
}

#[test]
fn signed_timestamps_required_refuse_a_log_only_signature() {
    let files = Files::new("use-signed");
    let s = VirtualSigstore::new("prod", NOW);
    let root = files.write("trusted_root.json", s.trusted_root_json());
    let signed = s.sign_blob(b"artifact", identity());
    assert_verified(&verify_blob(&files, &root, &signed.json, &[]));
    let out = verify_blob(&files, &root, &signed.json, &["--use-signed-timestamps"]);
    common::assert_fails(
        &out,
        1,
        "the bundle has no RFC 3161 timestamp, and signed timestamps are required",
    );
}

#[test]
fn sct_ignored_still_refuses_a_certificate_from_another_ca() {
    let files = Files::new("sct-chain");
    let (s, root) = private(&files);
    let options = SignOptions::new(identity())
        .private_infrastructure(NOW)
        .issuing_ca(IssuingCa::Untrusted);
    let signed = s.sign_blob(b"artifact", options);
    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &["--insecure-ignore-tlog", "--insecure-ignore-sct"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("certificate verification failed"),
        "{}",
        common::stderr(&out)
    );
}

/// Splits a PEM chain (intermediate, root) into its two blocks.
fn intermediate_and_root(chain: &str) -> (String, String) {
    let end = "-----END CERTIFICATE-----";
    let at = chain.find(end).unwrap() + end.len();
    (
        chain[..at].to_string() + "\n",
        chain[at..].trim_start().to_string(),
    )
}

#[test]
fn ca_roots_and_certificate_chain_replace_the_trusted_roots_fulcio() {
    let files = Files::new("ca");
    let (s, root) = private(&files);
    let signed = s.sign_blob(
        b"artifact",
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let relaxed = |flags: &[&str]| {
        let relax = ["--insecure-ignore-tlog", "--insecure-ignore-sct"];
        verify_blob(&files, &root, &signed.json, &[&relax[..], flags].concat())
    };
    let (intermediate, own_root) = intermediate_and_root(&s.fulcio_chain_pem());
    let ca_root = files.write("root.pem", &own_root);
    let ca_intermediate = files.write("intermediate.pem", &intermediate);
    let chain = files.write("chain.pem", s.fulcio_chain_pem());

    let out = relaxed(&[
        "--ca-roots",
        &ca_root,
        "--ca-intermediates",
        &ca_intermediate,
    ]);
    assert_verified(&out);
    assert_lines(&out, "WARNING: --ca-roots:", 1);
    assert_lines(&out, "WARNING: --ca-intermediates:", 1);

    let out = relaxed(&["--certificate-chain", &chain]);
    assert_verified(&out);
    assert_lines(&out, "WARNING: --certificate-chain:", 1);

    // Roots that did not issue the certificate: refused, although the
    // trusted root's own Fulcio would have accepted it.
    let other = VirtualSigstore::new("other", NOW);
    let (_, other_root) = intermediate_and_root(&other.fulcio_chain_pem());
    let other_root = files.write("other-root.pem", other_root);
    let out = relaxed(&["--ca-roots", &other_root]);
    common::assert_fails(
        &out,
        1,
        "the certificate was not issued by a certificate authority of the trusted root",
    );

    // An intermediate that does not chain to --ca-roots is refused up front.
    let out = relaxed(&[
        "--ca-roots",
        &other_root,
        "--ca-intermediates",
        &ca_intermediate,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
}

#[test]
fn ca_flags_that_conflict_are_usage_errors() {
    let files = Files::new("ca-usage");
    let (s, root) = private(&files);
    let signed = s.sign_blob(
        b"artifact",
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let chain = files.write("chain.pem", s.fulcio_chain_pem());
    let out = verify_blob(&files, &root, &signed.json, &["--ca-intermediates", &chain]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let out = verify_blob(
        &files,
        &root,
        &signed.json,
        &["--ca-roots", &chain, "--certificate-chain", &chain],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}

#[test]
fn a_private_attestation_about_a_blob_verifies() {
    let files = Files::new("blob-attestation");
    let (s, root) = private(&files);
    let statement = vouch_testkit::in_toto_statement(
        "artifact",
        &vouch_testkit::sha256_digest(b"artifact")["sha256:".len()..],
        "https://slsa.dev/provenance/v1",
        &json!({"buildDefinition": {"buildType": "x", "externalParameters": {}}, "runDetails": {"builder": {"id": "b"}}}),
    );
    let signed = s.sign_statement(
        &statement,
        SignOptions::new(identity()).private_infrastructure(NOW),
    );
    let bundle = files.write("att.sigstore.json", &signed.json);
    let artifact = files.write("artifact", b"artifact");
    let run = |extra: &[&str]| {
        blob_command(
            "verify-blob-attestation",
            [&bundle, &root, &artifact],
            ACME,
            extra,
        )
    };
    assert_eq!(run(&[]).status.code(), Some(1));
    let out = run(&["--private-infrastructure", "--insecure-ignore-sct"]);
    assert_verified(&out);
}

#[test]
fn a_real_github_bundle_passes_the_cryptography_and_is_refused_for_its_missing_issuer() {
    let files = Files::new("github");
    let root = files.write("github_trusted_root.json", GITHUB_TRUSTED_ROOT);
    let bundle = files.write("github.sigstore.json", GITHUB_ATTESTATION_BUNDLE);
    let identity = [
        "--certificate-identity",
        GITHUB_ATTESTATION_IDENTITY,
        "--certificate-oidc-issuer-regexp",
        ".*",
    ];
    let run = |extra: &[&str]| {
        blob_command(
            "verify-blob-attestation",
            [&bundle, &root, GITHUB_ATTESTATION_SUBJECT],
            identity,
            extra,
        )
    };
    common::assert_fails(&run(&[]), 1, "bundle verification failed");
    // With GitHub's flags the chain, the timestamp and the signature
    // verify; the certificate (a GitHub release attestation) has no OIDC
    // issuer extension, which vouch refuses.
    let out = run(&["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    common::assert_fails(&out, 1, "no OIDC issuer extension");
}

/// A local registry with `acme/<name>:<tag>` pushed for each of `images`,
/// each with one bundle referrer per `(predicate type, predicate)` signed
/// by the private instance `s` as GitHub's instance signs (no log, no SCT,
/// a timestamp).
fn registry_signed_privately(
    s: &VirtualSigstore,
    images: &[(&str, &str)],
    predicates: &[(&str, serde_json::Value)],
) -> Option<LocalRegistry> {
    let registry = LocalRegistry::start(None)?;
    let mut p = Publisher::new(&registry.host(), None);
    let options = SignOptions::new(identity()).private_infrastructure(NOW);
    for (name, tag) in images {
        let repo = format!("acme/{name}");
        let image = p.push_image(&repo, tag, name);
        for (predicate_type, predicate) in predicates {
            let statement =
                vouch_testkit::in_toto_statement(name, image.hex(), predicate_type, predicate);
            let bundle = s.sign_statement(&statement, options.clone());
            p.push_bundle_referrer(&repo, &image, &bundle.json, predicate_type);
        }
    }
    Some(registry)
}

/// A registry holding `acme/app:v1` with a signature and an SPDX
/// attestation made by the private instance (bundle referrers).
#[test]
fn verify_and_verify_attestation_accept_private_signatures_on_images() {
    let files = Files::new("image");
    let (s, root) = private(&files);
    let spdx = json!({"spdxVersion": "SPDX-2.3", "name": "app", "packages": [{"name": "a"}]});
    let predicates = [
        (vouch_image::COSIGN_SIGN_PREDICATE, json!({})),
        ("https://spdx.dev/Document", spdx),
    ];
    let Some(registry) = registry_signed_privately(&s, &[("app", "v1")], &predicates) else {
        return;
    };
    let reference = format!("{}/acme/app:v1", registry.host());
    let run = |command: &str, extra: &[&str]| {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.args([
            command,
            "--trusted-root",
            &root,
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            GITHUB_ACTIONS_ISSUER,
        ])
        .args(extra)
        .arg(&reference)
        .env("HOME", &files.0);
        c.output().unwrap()
    };
    let relax = ["--insecure-ignore-tlog", "--insecure-ignore-sct"];
    let out = run("verify", &[]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let out = run("verify", &relax);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_lines(&out, "WARNING: --", 2);
    let out = run(
        "verify-attestation",
        &[&relax[..], &["--type", "spdxjson"]].concat(),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("payloadType"));
}

#[test]
fn verify_release_takes_the_flags_and_warns_once_per_run() {
    let files = Files::new("release");
    let (s, root) = private(&files);
    let Some(registry) = registry_signed_privately(
        &s,
        &[("operator", "v1.0.0"), ("ui", "v1.0.0")],
        &[(vouch_image::COSIGN_SIGN_PREDICATE, json!({}))],
    ) else {
        return;
    };
    let policy = files.write(
        "release.toml",
        format!(
            "registry = \"{}/acme\"\n[identity]\nsubject = \"{IDENTITY}\"\nissuer = \"{GITHUB_ACTIONS_ISSUER}\"\n[[image]]\nname = \"operator\"\n[[image]]\nname = \"ui\"\n",
            registry.host()
        ),
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "verify-release",
            "--policy",
            &policy,
            "--version",
            "v1.0.0",
            "--trusted-root",
            &root,
        ];
        args.extend_from_slice(extra);
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .env("HOME", &files.0)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let out = run(&["--private-infrastructure", "--insecure-ignore-sct"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_lines(&out, "WARNING: --private-infrastructure:", 1);
    assert_lines(&out, "WARNING: --insecure-ignore-sct:", 1);
}

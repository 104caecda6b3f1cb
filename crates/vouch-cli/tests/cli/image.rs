//! The image commands end to end: a real registry (docker-registry with
//! bcrypt basic auth) holding images signed by the virtual Sigstore in both
//! cosign layouts, and the `vouch` binary run as a user would.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use vouch_testkit::{Identity, LocalRegistry, Publisher, Pushed, TerminalStep, VirtualSigstore};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "LICENSE-0001";
const NOW: u64 = 1_750_000_000;
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const ID_REGEXP: &str =
    r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*";
use vouch_image::COSIGN_SIGN_PREDICATE as COSIGN_SIGN;

struct World {
    registry: LocalRegistry,
    sigstore: VirtualSigstore,
    dir: PathBuf,
    signed: Pushed,
    unsigned: Pushed,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn identity() -> Identity {
    Identity::github_actions(
        "acme/app",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    )
}

fn statement(image: &Pushed, predicate_type: &str, predicate: Value) -> Vec<u8> {
    vouch_testkit::in_toto_statement("app", image.hex(), predicate_type, &predicate)
}

/// `acme/app:v1` signed (bundle + legacy) with SPDX, SLSA v1 and OpenVEX
/// attestations (bundles) and a legacy SPDX attestation; `acme/app:unsigned`.
fn world(name: &str) -> Option<World> {
    let registry = LocalRegistry::start(Some((USER, PASSWORD)))?;
    let sigstore = VirtualSigstore::new("prod", NOW);
    let mut p = Publisher::new(&registry.host(), Some((USER, PASSWORD)));
    let signed = p.push_image("acme/app", "v1", "app v1");
    let unsigned = p.push_image("acme/app", "unsigned", "app unsigned");
    let sig = sigstore.sign_image_legacy(
        &format!("{}/acme/app", registry.host()),
        &signed.digest,
        identity(),
    );
    p.push_legacy_signatures("acme/app", &signed, &[sig]);
    let spdx = json!({"spdxVersion": "SPDX-2.3", "name": "app", "packages": [{"name": "a"}, {"name": "b"}]});
    let att = sigstore.attest_image_legacy(
        &statement(&signed, "https://spdx.dev/Document", spdx.clone()),
        identity(),
    );
    p.push_legacy_attestations("acme/app", &signed, &[att]);
    let slsa = json!({
        "buildDefinition": {"buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1", "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
    });
    let vex = json!({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "acme",
        "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2026-0001"}, "products": [{"@id": "pkg:oci/app"}], "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}],
    });
    for (predicate_type, predicate) in [
        (COSIGN_SIGN, json!({})),
        ("https://spdx.dev/Document", spdx),
        ("https://slsa.dev/provenance/v1", slsa),
        ("https://openvex.dev/ns/v0.2.0", vex),
    ] {
        let bundle =
            sigstore.sign_statement(&statement(&signed, predicate_type, predicate), identity());
        p.push_bundle_referrer("acme/app", &signed, &bundle.json, predicate_type);
    }
    let dir = std::env::temp_dir().join(format!("vouch-cli-image-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    let w = World {
        registry,
        sigstore,
        dir,
        signed,
        unsigned,
    };
    let out = w.run_with_stdin(
        &["login", &w.registry.host(), "-u", USER, "--password-stdin"],
        PASSWORD,
    );
    assert!(out.status.success(), "login: {}", common::stderr(&out));
    Some(w)
}

impl World {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.args(args)
            .env("HOME", &self.dir)
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("COSIGN_REPOSITORY");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        common::run_with_stdin(self.command(args), stdin.as_bytes())
    }
    fn root(&self) -> String {
        self.dir.join("trusted_root.json").display().to_string()
    }
    fn image(&self, reference: &str) -> String {
        format!("{}/acme/app{reference}", self.registry.host())
    }
    /// `vouch <cmd> <identity> --trusted-root … <extra…> IMAGE`.
    fn verify(&self, cmd: &str, extra: &[&str], image: &str) -> Output {
        let root = self.root();
        let mut args = vec![
            cmd,
            "--certificate-identity-regexp",
            ID_REGEXP,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
        ];
        args.extend_from_slice(extra);
        args.push(image);
        self.run(&args)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn verify_by_tag_finds_bundle_and_legacy_signatures_and_prints_cosign_json() {
    let Some(w) = world("verify") else { return };
    let out = w.verify("verify", &[], &w.image(":v1"));
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("WARNING") && err.contains("is a tag"), "{err}");
    assert!(
        err.contains("Verification for") && err.contains("verified offline"),
        "{err}"
    );
    let payloads: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let payloads = payloads.as_array().unwrap();
    assert_eq!(
        payloads.len(),
        2,
        "one bundle signature and one legacy signature: {payloads:?}"
    );
    for p in payloads {
        assert_eq!(
            p["critical"]["image"]["docker-manifest-digest"],
            w.signed.digest
        );
    }
    let legacy = payloads
        .iter()
        .find(|p| p["critical"]["type"] == "cosign container image signature")
        .unwrap();
    assert_eq!(legacy["optional"]["Issuer"], ISSUER);
    assert_eq!(legacy["optional"]["githubWorkflowRepository"], "acme/app");
    assert!(legacy["optional"]["Bundle"]["Payload"]["logIndex"].is_number());
    let bundle = payloads
        .iter()
        .find(|p| p["critical"]["type"] == COSIGN_SIGN)
        .unwrap();
    assert!(
        bundle["critical"]["identity"]["docker-reference"]
            .as_str()
            .unwrap()
            .ends_with("acme/app:v1")
    );
}

#[test]
fn verify_with_wrong_identity_exits_12_showing_the_signer() {
    let Some(w) = world("wrongid") else { return };
    let root = w.root();
    let out = w.run(&[
        "verify",
        "--certificate-identity-regexp",
        r"https://github\.com/evil/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        &root,
        &w.image(":v1"),
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains("no matching signatures") && err.contains("repository: acme/app"),
        "{err}"
    );
}

#[test]
fn verify_with_wrong_issuer_exits_12() {
    let Some(w) = world("wrongissuer") else {
        return;
    };
    let root = w.root();
    let out = w.run(&[
        "verify",
        "--certificate-identity-regexp",
        ID_REGEXP,
        "--certificate-oidc-issuer",
        "https://accounts.google.com",
        "--trusted-root",
        &root,
        &w.image(":v1"),
    ]);
    assert_eq!(out.status.code(), Some(12));
    assert!(common::stderr(&out).contains("OIDC issuer mismatch"));
}

#[test]
fn unsigned_image_exits_10_and_missing_tag_exits_11() {
    let Some(w) = world("unsigned") else { return };
    let out = w.verify("verify", &[], &w.image(":unsigned"));
    assert_eq!(out.status.code(), Some(10), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("no signatures found"));
    let out = w.verify("verify", &[], &w.image(":nope"));
    assert_eq!(out.status.code(), Some(11), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("image tag not found"));
}

#[test]
fn an_attestation_alone_is_not_a_signature() {
    // A copy of the SPDX bundle on the unsigned image must not satisfy `verify`.
    let Some(w) = world("attonly") else { return };
    let sigstore = VirtualSigstore::new("prod", NOW);
    let mut p = Publisher::new(&w.registry.host(), Some((USER, PASSWORD)));
    let st = statement(
        &w.unsigned,
        "https://spdx.dev/Document",
        json!({"spdxVersion": "SPDX-2.3"}),
    );
    p.push_bundle_referrer(
        "acme/app",
        &w.unsigned,
        &sigstore.sign_statement(&st, identity()).json,
        "https://spdx.dev/Document",
    );
    let out = w.verify("verify", &[], &w.image(&format!("@{}", w.unsigned.digest)));
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("not a signature"));
}

#[test]
fn verify_attestation_prints_cosign_envelopes_that_the_seed_jq_pipeline_reads() {
    let Some(w) = world("jq") else { return };
    if !vouch_testkit::tool_available("jq") {
        return;
    }
    let out = w.verify(
        "verify-attestation",
        &["--type", "slsaprovenance1"],
        &w.image(&format!("@{}", w.signed.digest)),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 1);
    let envelope: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    // The seed guide's pipeline, as written: jq -r '.payload' | base64 -d | jq …
    let pipeline = "jq -r '.payload' | base64 -d | jq -r '.predicate.runDetails.builder.id'";
    let mut child = Command::new("sh")
        .args(["-c", pipeline])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let result = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&result.stdout).trim(),
        "https://github.com/actions/runner/github-hosted"
    );
}

#[test]
fn verify_attestation_summaries_and_vex_file() {
    let Some(w) = world("summary") else { return };
    let image = w.image(&format!("@{}", w.signed.digest));
    let out = w.verify(
        "verify-attestation",
        &["--type", "spdxjson", "--summary"],
        &image,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    // The bundle SPDX and the legacy .att SPDX both verify and both match.
    assert_eq!(
        stdout(&out).matches("2 packages").count(),
        2,
        "{}",
        stdout(&out)
    );
    let vex_path = w.dir.join("vex.json");
    let vex = vex_path.display().to_string();
    let out = w.verify(
        "verify-attestation",
        &["--type", "openvex", "--summary", "--predicate-out", &vex],
        &image,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        stdout(&out).contains("[not_affected] CVE-2026-0001 vulnerable_code_not_in_execute_path"),
        "{}",
        stdout(&out)
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&vex_path).unwrap()).unwrap();
    assert_eq!(
        written["statements"][0]["vulnerability"]["name"],
        "CVE-2026-0001"
    );
}

#[test]
fn verify_attestation_refuses_an_untrusted_builder_and_a_missing_type() {
    let Some(w) = world("builder") else { return };
    let image = w.image(&format!("@{}", w.signed.digest));
    let out = w.verify(
        "verify-attestation",
        &[
            "--type",
            "slsaprovenance1",
            "--slsa-builder-id-regexp",
            r"https://github\.com/evil/.*",
        ],
        &image,
    );
    common::assert_fails(&out, 12, "builder mismatch");
    let out = w.verify("verify-attestation", &["--type", "cyclonedx"], &image);
    assert_eq!(out.status.code(), Some(12));
    let err = common::stderr(&out);
    assert!(
        err.contains("none of the attestations matched the predicate type: cyclonedx, found:")
            && err.contains("https://slsa.dev/provenance/v1"),
        "{err}"
    );
    // The default `--type custom` matches none of the vendor's attestations:
    // the hint names the `--type` values that would (issue 16, item 10).
    let out = w.verify("verify-attestation", &[], &image);
    assert_eq!(out.status.code(), Some(12));
    let err = common::stderr(&out);
    for would_match in [
        "--type spdxjson (https://spdx.dev/Document)",
        "--type slsaprovenance1 (https://slsa.dev/provenance/v1)",
        "--type openvex (https://openvex.dev/ns/v0.2.0)",
    ] {
        assert!(err.contains(would_match), "no `{would_match}` in: {err}");
    }
}

#[test]
fn discover_lists_referrers_and_legacy_tags() {
    let Some(w) = world("discover") else { return };
    let out = w.run(&["discover", "-o", "json", &w.image(":v1")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tree["referrers"]["manifests"].as_array().unwrap().len(), 4);
    assert!(
        tree["referrers"]["source"]
            .as_str()
            .unwrap()
            .contains("tag schema")
    );
    let tags: Vec<&str> = tree["legacy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(tags[0].ends_with(".sig") && tags[1].ends_with(".att"));
    let text = w.run(&["discover", &w.image(":v1")]);
    assert!(stdout(&text).contains("├── referrers"), "{}", stdout(&text));
}

#[test]
fn digest_prints_what_the_tag_points_to() {
    let Some(w) = world("digest") else { return };
    let out = w.run(&["digest", &w.image(":v1")]);
    assert_eq!(stdout(&out).trim(), w.signed.digest);
}

#[test]
fn login_with_a_wrong_password_fails_and_stores_nothing() {
    let Some(w) = world("badlogin") else { return };
    let before = std::fs::read_to_string(w.dir.join(".docker/config.json")).unwrap();
    let out = w.run_with_stdin(
        &["login", &w.registry.host(), "-u", USER, "--password-stdin"],
        "WRONG",
    );
    // The registry's 401 is an access failure (4), as for every command.
    assert_eq!(out.status.code(), Some(4));
    assert!(common::stderr(&out).contains("license ID"));
    assert_eq!(
        std::fs::read_to_string(w.dir.join(".docker/config.json")).unwrap(),
        before
    );
}

/// On a terminal, `login` without `--password-stdin` asks for the password
/// and does not echo it (issue 16, item 5); without a terminal it says how
/// to give it; `--password` works and warns.
#[test]
fn login_asks_for_the_password_on_a_terminal_without_echo() {
    let Some(w) = world("prompt") else { return };
    let login = ["login", &w.registry.host(), "-u", USER];
    let type_password = |password: &str| {
        let typed = format!("{password}\n");
        let step = TerminalStep {
            wait_for: "Password: ",
            send: typed.as_bytes(),
        };
        vouch_testkit::on_a_terminal(&w.command(&login), &[step], 60)
    };
    match type_password(PASSWORD) {
        Some(session) => {
            let screen = &session.screen;
            assert_eq!(session.code, Some(0), "{screen}");
            assert!(screen.contains("Password: "), "{screen}");
            assert!(screen.contains("Login Succeeded"), "{screen}");
            assert!(
                !screen.contains(PASSWORD),
                "the password was echoed: {screen}"
            );
            // A wrong password typed at the prompt is refused like any other.
            let session = type_password("WRONG").unwrap();
            assert_eq!(session.code, Some(4), "{}", session.screen);
        }
        None => eprintln!("SKIP: python3 not found; the terminal prompt is not tested"),
    }
    // No terminal (stdin is a pipe) and no --password-stdin: a usage error
    // that says what to do, and nothing is read or stored.
    let out = w.run_with_stdin(&login, PASSWORD);
    common::assert_fails(&out, 2, "--password-stdin");
    let mut with_flag = login.to_vec();
    with_flag.extend(["-p", PASSWORD]);
    let out = w.run(&with_flag);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("WARNING: --password"));
}

#[test]
fn real_legacy_github_actions_signature_verifies_from_the_registry() {
    // The real .sig layer from ../shared/fixtures, pushed as the `.sig` tag of
    // its (absent) image digest: cosign needs only the digest.
    let Some(w) = world("real") else { return };
    let Some(f) = common::fixtures() else { return };
    let dir = f.join("legacy-cosign/salrashid123-server_image-gha");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    let digest = read("image-digest.txt").trim().to_string();
    let pieces = vouch_testkit::LegacySignature {
        payload: std::fs::read(dir.join("payload.json")).unwrap(),
        signature_b64: read("signature.b64").trim().to_string(),
        certificate_pem: read("certificate.pem"),
        chain_pem: read("chain.pem"),
        rekor_bundle_json: Some(
            serde_json::to_string(
                &serde_json::from_str::<Value>(&read("rekor-bundle.json")).unwrap(),
            )
            .unwrap(),
        ),
        log_index: 0,
        integrated_time: 0,
    };
    let image = Pushed {
        digest: digest.clone(),
        media_type: vouch_testkit::OCI_INDEX.into(),
        size: 0,
    };
    Publisher::new(&w.registry.host(), Some((USER, PASSWORD))).push_legacy_signatures(
        "salrashid123/server_image",
        &image,
        &[pieces],
    );
    let reference = format!("{}/salrashid123/server_image@{digest}", w.registry.host());
    // The embedded public-good root: no network for trust material.
    let ok = w.run(&[
        "verify",
        "--offline",
        "--certificate-identity-regexp",
        r"https://github\.com/salrashid123/go-bazel-github-workflow/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        &reference,
    ]);
    assert!(ok.status.success(), "{}", common::stderr(&ok));
    let bad = w.run(&[
        "verify",
        "--offline",
        "--certificate-identity-regexp",
        r"https://github\.com/acme/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        &reference,
    ]);
    assert_eq!(bad.status.code(), Some(12));
    assert!(common::stderr(&bad).contains("https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30"));
}

#[test]
fn a_tag_repointed_to_an_unsigned_image_is_no_longer_verified() {
    let Some(w) = world("repoint") else { return };
    assert!(w.verify("verify", &[], &w.image(":v1")).status.success());
    // Repoint v1 to the unsigned image's manifest.
    let p = Publisher::new(&w.registry.host(), Some((USER, PASSWORD)));
    // Re-push the unsigned image's content under the v1 tag (same bytes, same digest).
    let repointed = p.push_image("acme/app", "v1", "app unsigned");
    assert_eq!(repointed.digest, w.unsigned.digest);
    let out = w.verify("verify", &[], &w.image(":v1"));
    assert_eq!(out.status.code(), Some(10), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains(&w.unsigned.digest),
        "the message must name the digest the tag now points to: {err}"
    );
}

#[test]
fn a_tampered_signature_layer_is_refused() {
    let Some(w) = world("tampered") else { return };
    let sigstore = VirtualSigstore::new("prod", NOW);
    let mut pieces = sigstore.sign_image_legacy(
        &format!("{}/acme/app", w.registry.host()),
        &w.unsigned.digest,
        identity(),
    );
    // Change the signed payload after signing (the layer, not the annotations).
    pieces.payload = String::from_utf8(pieces.payload)
        .unwrap()
        .replace("acme/app", "acme/apq")
        .into_bytes();
    Publisher::new(&w.registry.host(), Some((USER, PASSWORD))).push_legacy_signatures(
        "acme/app",
        &w.unsigned,
        &[pieces],
    );
    let out = w.verify("verify", &[], &w.image(&format!("@{}", w.unsigned.digest)));
    common::assert_fails(&out, 12, "signature");
}

/// A registry that cannot be reached or refuses the credentials is exit 4 for
/// every image command, never 1 (a signature that failed) nor 10–12: a CI job
/// must be able to tell "our license lapsed" from "the release is forged".
#[test]
fn access_failures_exit_4_and_corrupt_credentials_exit_3() {
    let Some(w) = world("faults") else { return };
    let port = common::closed_port();
    let unreachable = format!("127.0.0.1:{port}/acme/app:v1");
    // verify and verify-attestation with identity and trust flags (World::verify).
    let run = |image: &str| -> Vec<Output> {
        vec![
            w.verify("verify", &[], image),
            w.verify("verify-attestation", &["--type", "spdxjson"], image),
            w.run(&["discover", image]),
            w.run(&["digest", image]),
        ]
    };
    for out in run(&unreachable) {
        common::assert_access_failure(&out, "cannot reach registry");
    }
    // Valid-looking but wrong credentials: the registry's 401, said once.
    let auth = base64_basic(USER, "not-the-license");
    std::fs::write(
        w.dir.join(".docker/config.json"),
        json!({"auths": {w.registry.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let image = w.image(":v1");
    for out in run(&image) {
        common::assert_access_failure(&out, "refused the credentials (401 Unauthorized)");
    }
    std::fs::write(w.dir.join(".docker/config.json"), "{broken").unwrap();
    let out = w.verify("verify", &[], &image);
    common::assert_fails(&out, 3, ".docker/config.json");
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn multi_arch_index_is_verified_and_platform_manifest_reported() {
    let Some(w) = world("platform") else { return };
    let sigstore = VirtualSigstore::new("prod", NOW);
    let p = Publisher::new(&w.registry.host(), Some((USER, PASSWORD)));
    let amd = p.push_image("acme/multi", "amd-only", "multi amd64");
    let arm = p.push_image("acme/multi", "arm-only", "multi arm64");
    let index = p.push_index(
        "acme/multi",
        "v1",
        &[(&amd, "linux", "amd64"), (&arm, "linux", "arm64")],
    );
    // cosign signs (and verifies) the index digest the tag resolves to.
    let sig = sigstore.sign_image_legacy(
        &format!("{}/acme/multi", w.registry.host()),
        &index.digest,
        identity(),
    );
    p.push_legacy_signatures("acme/multi", &index, &[sig]);
    let multi = format!("{}/acme/multi:v1", w.registry.host());
    let out = w.verify("verify", &["--platform", "linux/arm64"], &multi);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("Platform linux/arm64 of"),
        "{}",
        common::stderr(&out)
    );
    assert!(
        common::stderr(&out).contains(&arm.digest),
        "{}",
        common::stderr(&out)
    );
    let out = w.verify("verify", &["--platform", "linux/s390x"], &multi);
    common::assert_fails(&out, 2, "linux/amd64, linux/arm64");
}

#[test]
fn credentials_from_a_docker_credential_helper_are_used() {
    let Some(w) = world("helper") else { return };
    // A credential helper that knows the registry (docker's helper protocol).
    let bin = w.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-vouchtest");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        w.dir.join(".docker/config.json"),
        r#"{"credsStore":"vouchtest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = w
        .command(&["digest", &w.image(":v1")])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(stdout(&out).trim(), w.signed.digest);
    // Without the helper on PATH the failure names it.
    let out = w.run(&["digest", &w.image(":v1")]);
    assert!(
        common::stderr(&out).contains("docker-credential-vouchtest"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn a_self_signed_tls_registry_needs_allow_insecure_registry() {
    let Some(tls) = LocalRegistry::start_tls() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("vouch-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
            .args(args)
            .env("HOME", &dir)
            .env_remove("DOCKER_CONFIG")
            .output()
            .unwrap()
    };
    // The registry speaks TLS; plain HTTP (vouch's default for loopback) cannot talk to it.
    let image = format!("{}/acme/app:v1", tls.host());
    let out = run(&["digest", &image]);
    assert!(!out.status.success());
    // With the flag, the self-signed certificate is accepted and the tag resolves (to 404 here).
    let out = run(&["digest", "--allow-insecure-registry", &image]);
    common::assert_fails(&out, 11, "image not found");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signatures_in_another_repository_are_found_with_cosign_repository() {
    let Some(w) = world("sigrepo") else { return };
    let sigstore = VirtualSigstore::new("prod", NOW);
    let p = Publisher::new(&w.registry.host(), Some((USER, PASSWORD)));
    // The unsigned image gets a signature stored in acme/signatures instead.
    let sig = sigstore.sign_image_legacy(
        &format!("{}/acme/app", w.registry.host()),
        &w.unsigned.digest,
        identity(),
    );
    p.push_legacy_signatures("acme/signatures", &w.unsigned, &[sig]);
    let image = w.image(&format!("@{}", w.unsigned.digest));
    assert_eq!(w.verify("verify", &[], &image).status.code(), Some(10));
    let elsewhere = format!("{}/acme/signatures", w.registry.host());
    let out = w.verify("verify", &["--signatures-repository", &elsewhere], &image);
    assert!(out.status.success(), "{}", common::stderr(&out));
    // cosign's environment variable works too.
    let root = w.root();
    let out = w
        .command(&[
            "verify",
            "--certificate-identity-regexp",
            ID_REGEXP,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            &root,
            &image,
        ])
        .env("COSIGN_REPOSITORY", &elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
}

/// `verify-attestation --output json` is one document with each image and
/// its verified attestations; in JSON mode a failure before any output is a
/// JSON error document on stdout, with the message on stderr too (issue 16,
/// item 9).
#[test]
fn verify_attestation_speaks_json_including_its_failures() {
    let Some(w) = world("attjson") else { return };
    let image = w.image(":v1");
    let out = w.verify(
        "verify-attestation",
        &["--type", "spdxjson", "-o", "json"],
        &image,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["schemaVersion"], 1);
    let first = &doc["images"][0];
    assert_eq!(first["image"], image);
    assert_eq!(first["digest"], w.signed.digest);
    let attestations = first["attestations"].as_array().unwrap();
    // Both layouts carry an SPDX SBOM: the bundle referrer and the `.att` tag.
    assert_eq!(attestations.len(), 2, "{doc:#}");
    for att in attestations {
        assert_eq!(att["predicateType"], "https://spdx.dev/Document");
        assert_eq!(att["signer"]["issuer"], ISSUER);
        assert_eq!(att["predicate"]["spdxVersion"], "SPDX-2.3");
    }

    // Failures: a tag that does not exist (11) and an unmatched type (12).
    for (extra, image, code, kind) in [
        (vec!["-o", "json"], w.image(":nope"), 11, "tag-not-found"),
        (
            vec!["--type", "cyclonedx", "-o", "json"],
            w.image(":v1"),
            12,
            "no-matching",
        ),
    ] {
        let out = w.verify("verify-attestation", &extra, &image);
        assert_eq!(out.status.code(), Some(code), "{}", common::stderr(&out));
        let doc: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
        assert_eq!(doc["schemaVersion"], 1);
        assert_eq!(doc["error"]["exitCode"], code);
        assert_eq!(doc["error"]["kind"], kind);
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(common::stderr(&out).contains(message), "{message}");
    }
    // Text mode keeps stdout free of it.
    let out = w.verify("verify-attestation", &[], &w.image(":nope"));
    assert_eq!(out.status.code(), Some(11));
    assert!(out.stdout.is_empty());
}

/// `vouch download` prints what is attached as found (issue 16, item 4):
/// both signature layouts, DSSE envelopes filtered by predicate type, and
/// exit 10 when nothing of the kind is attached.
#[test]
fn download_prints_signatures_and_attestations_as_found() {
    let Some(w) = world("download") else { return };
    let lines = |out: &Output| -> Vec<Value> {
        assert!(out.status.success(), "{}", common::stderr(out));
        stdout(out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let signatures = lines(&w.run(&["download", "signature", &w.image(":v1")]));
    // One bundle referrer of cosign's signature type, one legacy `.sig` layer.
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    assert_eq!(
        signatures[0]["mediaType"],
        vouch_testkit::BUNDLE_V03_MEDIA_TYPE
    );
    assert!(
        signatures[1]["Base64Signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        signatures[1]["Cert"]
            .as_str()
            .is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
    );
    assert!(
        signatures[1]["Bundle"]["Payload"].is_object(),
        "{}",
        signatures[1]
    );

    // Three bundle attestations and the legacy SPDX one; SPDX alone: two.
    let all = lines(&w.run(&["download", "attestation", &w.image(":v1")]));
    assert_eq!(all.len(), 4, "{all:?}");
    let spdx = lines(&w.run(&[
        "download",
        "attestation",
        "--predicate-type",
        "spdxjson",
        &w.image(":v1"),
    ]));
    assert_eq!(spdx.len(), 2, "{spdx:?}");
    for envelope in &spdx {
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        assert!(envelope["signatures"][0]["sig"].is_string(), "{envelope}");
    }

    // Nothing attached: 10, and nothing on stdout.
    let out = w.run(&["download", "signature", &w.image(":unsigned")]);
    assert_eq!(out.status.code(), Some(10), "{}", common::stderr(&out));
    assert!(out.stdout.is_empty());
    let out = w.run(&["download", "sbom", &w.image(":v1")]);
    assert_eq!(out.status.code(), Some(10), "{}", common::stderr(&out));
    let out = w.run(&[
        "download",
        "attestation",
        "--predicate-type",
        "nope",
        &w.image(":v1"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}

/// `-a key=value` (cosign's `--annotations`): only a verified signature
/// whose signed content carries every annotation counts (issue 16, item 4).
#[test]
fn annotations_must_be_carried_by_the_signed_content() {
    let Some(w) = world("annotations") else {
        return;
    };
    // A bundle signature on `:unsigned` whose statement's subject carries
    // annotations, as `cosign sign -a env=prod -a build=42` makes.
    let statement = json!({
        "_type": vouch_testkit::IN_TOTO_STATEMENT_V1,
        "subject": [{
            "name": "app",
            "digest": {"sha256": w.unsigned.hex()},
            "annotations": {"env": "prod", "build": "42"},
        }],
        "predicateType": COSIGN_SIGN,
        "predicate": {},
    });
    let bundle = w
        .sigstore
        .sign_statement(&serde_json::to_vec(&statement).unwrap(), identity());
    Publisher::new(&w.registry.host(), Some((USER, PASSWORD))).push_bundle_referrer(
        "acme/app",
        &w.unsigned,
        &bundle.json,
        COSIGN_SIGN,
    );
    let image = w.image(":unsigned");
    let out = w.verify("verify", &["-a", "env=prod", "-a", "build=42"], &image);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let payloads: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payloads[0]["optional"]["env"], "prod");
    // A value it does not carry: verified, yet no match (12), saying what it has.
    let out = w.verify("verify", &["-a", "env=dev"], &image);
    common::assert_fails(&out, 12, "none carries the annotations env=dev");
    common::assert_fails(&out, 12, "\"env\":\"prod\"");
    // The `:v1` signatures carry none.
    let out = w.verify("verify", &["--annotations", "env=prod"], &w.image(":v1"));
    assert_eq!(out.status.code(), Some(12), "{}", common::stderr(&out));
    let out = w.verify("verify", &["-a", "no-equals-sign"], &image);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}

/// `--max-workers N` (cosign's) bounds the registry requests in flight; one
/// at a time still verifies, and 0 is refused (issue 16, item 4).
#[test]
fn max_workers_bounds_requests_and_refuses_zero() {
    let Some(w) = world("workers") else { return };
    let out = w.verify("verify", &["--max-workers", "1"], &w.image(":v1"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = w.verify(
        "verify-attestation",
        &["--max-workers", "0"],
        &w.image(":v1"),
    );
    common::assert_fails(&out, 2, "expected a whole number from 1 to 256, got `0`");
}

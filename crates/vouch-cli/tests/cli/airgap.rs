//! `vouch release save` and `vouch release verify --layout` through the
//! binary, on the release `verify-release`'s tests publish (a bundle-signed
//! image, a legacy-signed one) plus a signed two-platform index: the round
//! trip with no registry or TUF mirror reachable, through a tar and skopeo,
//! each refusal on a layout changed in that one way, `--no-verify`, and a
//! save killed mid-transfer then resumed.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use vouch_testkit::{Publisher, VirtualSigstore, in_toto_statement, standard_attestations};

use super::release::{self, BUILDER, PASSWORD, USER, World};
use crate::common;

pub(super) const VERSION: &str = "v2.0.0";
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The release world with `acme/agent:v2.0.0` added: an index of two
/// platform images, signed (a bundle) with the three attestations.
pub(super) fn world(name: &str) -> Option<World> {
    let w = release::world(&format!("airgap-{name}"))?;
    let mut p = Publisher::new(&w.registry.host(), Some((USER, PASSWORD)));
    let amd64 = p.push_image("acme/agent", "amd64", "agent amd64");
    let arm64 = p.push_image("acme/agent", "arm64", "agent arm64");
    let index = p.push_index(
        "acme/agent",
        VERSION,
        &[(&amd64, "linux", "amd64"), (&arm64, "linux", "arm64")],
    );
    let sign = in_toto_statement(
        "acme/agent",
        index.hex(),
        SIGN_PREDICATE,
        &serde_json::json!({}),
    );
    let bundle = w.sigstore.sign_statement(&sign, &w.vendor);
    p.push_bundle_referrer("acme/agent", &index, &bundle.json, SIGN_PREDICATE);
    for a in standard_attestations("acme/agent", VERSION, BUILDER, &w.vendor) {
        let statement =
            in_toto_statement("acme/agent", index.hex(), &a.predicate_type, &a.predicate);
        let bundle = w.sigstore.sign_statement(&statement, &a.identity);
        p.push_bundle_referrer("acme/agent", &index, &bundle.json, &a.predicate_type);
    }
    Some(w)
}

/// The policy of the three images, naming `registry`.
fn policy(w: &World, registry: &str) -> PathBuf {
    w.policy(
        &format!("release-{}.toml", registry.replace([':', '.'], "-")),
        registry,
        "[[image]]\nname = \"agent\"\n",
    )
}

/// A directory of the test's own, outside the world's (which is removed
/// with the world, registry and all).
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vouch-airgap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `vouch release save … --output OUTPUT` with the world's trusted root.
fn save_command(w: &World, policy: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut c = w.command();
    c.args(["release", "save", "--version", VERSION, "--trusted-root"])
        .arg(w.dir.join("trusted_root.json"))
        .arg("--policy")
        .arg(policy)
        .arg("--output")
        .arg(output)
        .args(extra);
    c
}

fn save(w: &World, policy: &Path, output: &Path, extra: &[&str]) -> Output {
    save_command(w, policy, output, extra).output().unwrap()
}

/// The layout digest `release save` printed.
pub(super) fn layout_digest(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Layout digest: "))
        .unwrap_or_else(|| panic!("no layout digest in: {text}"))
        .to_string()
}

/// `vouch release verify --layout LAYOUT …` with no registry credentials,
/// every proxy and the TUF mirror pointing at a closed port: nothing on
/// the network can answer.
pub(super) fn verify(layout: &Path, extra: &[&str]) -> Output {
    let nowhere = format!("http://127.0.0.1:{}", common::closed_port());
    let home = layout.with_extension("home");
    std::fs::create_dir_all(&home).unwrap();
    common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")))
        .env("HOME", &home)
        .env("HTTP_PROXY", &nowhere)
        .env("HTTPS_PROXY", &nowhere)
        .env("TUF_MIRROR", &nowhere)
        .args(["release", "verify", "--layout"])
        .arg(layout)
        .args(extra)
        .output()
        .unwrap()
}

pub(super) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(super) fn read_index(layout: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap()
}

fn write_index(layout: &Path, index: &Value) {
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(index).unwrap(),
    )
    .unwrap();
}

fn blob_file(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    std::fs::write(blob_file(layout, &digest), bytes).unwrap();
    digest
}

/// The `index.json` entry with these role and image annotations.
pub(super) fn entry<'a>(index: &'a Value, role: &str, image: Option<&str>) -> &'a Value {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["annotations"]["dev.vouch.release.role"] == role
                && image.is_none_or(|i| e["annotations"]["dev.vouch.release.image"] == i)
        })
        .unwrap_or_else(|| panic!("no {role} entry for {image:?}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blobs/sha256")).unwrap();
    for name in ["oci-layout", "index.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    for file in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), to.join("blobs/sha256").join(file.file_name())).unwrap();
    }
}

/// Replaces the one layer of the `role` artifact (trusted root, policy)
/// with `bytes`, and its `index.json` entry with the new manifest — but not
/// the digest the index records, as a careless swap would.
fn swap_artifact(layout: &Path, role: &str, bytes: &[u8]) {
    let mut index = read_index(layout);
    let old = entry(&index, role, None)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(blob_file(layout, &old)).unwrap()).unwrap();
    manifest["layers"][0]["digest"] = put_blob(layout, bytes).into();
    manifest["layers"][0]["size"] = bytes.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = put_blob(layout, &manifest);
    for e in index["manifests"].as_array_mut().unwrap() {
        if e["digest"] == old.as_str() {
            e["digest"] = digest.clone().into();
            e["size"] = manifest.len().into();
        }
    }
    write_index(layout, &index);
}

#[test]
fn a_saved_release_verifies_from_its_layout_with_no_registry_or_mirror_reachable() {
    let Some(w) = world("roundtrip") else { return };
    let scratch = Scratch::new("roundtrip");
    let layout = scratch.0.join("layout");
    let policy = policy(&w, &w.registry.host());
    let out = save(&w, &policy, &layout, &[]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{}{err}", stdout(&out));
    assert!(
        stdout(&out).contains("Saved release v2.0.0: 3 images"),
        "{}",
        stdout(&out)
    );
    assert!(err.contains("[3/3] saved"), "{err}");
    let digest = layout_digest(&out);
    let trusted_root = scratch.0.join("trusted_root.json");
    std::fs::copy(w.dir.join("trusted_root.json"), &trusted_root).unwrap();

    // What the layout records: which image each manifest is, which
    // verified statements cover it, the version and the verdict.
    let index = read_index(&layout);
    assert_eq!(index["annotations"]["dev.vouch.release.version"], VERSION);
    assert_eq!(index["annotations"]["dev.vouch.release.verified"], "true");
    let operator = entry(&index, "image", Some("operator"));
    let host = w.registry.host();
    assert_eq!(
        operator["annotations"]["org.opencontainers.image.ref.name"],
        format!("{host}/acme/operator:{VERSION}")
    );
    let attachments = operator["annotations"]["dev.vouch.release.attachments"]
        .as_str()
        .unwrap();
    assert_eq!(attachments.split(',').count(), 4, "{attachments}");
    let signature = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["annotations"]["dev.vouch.release.image"] == "operator")
        .filter(|e| e["annotations"]["dev.vouch.release.role"] == "referrer")
        .filter(|e| e["annotations"]["dev.vouch.release.verified"] == SIGN_PREDICATE)
        .count();
    assert_eq!(signature, 1, "{index:#}");
    let ui_sig = entry(&index, "signatures", Some("ui"));
    assert_eq!(
        ui_sig["annotations"]["dev.vouch.release.verified"],
        SIGN_PREDICATE
    );
    assert!(
        ui_sig["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .ends_with(".sig")
    );

    // Registry and world gone: the layout alone verifies.
    drop(w);
    let out = verify(&layout, &["--layout-digest", &digest]);
    let table = stdout(&out);
    assert!(out.status.success(), "{table}{}", common::stderr(&out));
    for image in ["operator", "ui", "agent"] {
        assert!(
            table.lines().any(|l| l.contains(image) && l.contains("OK")),
            "{table}"
        );
    }
    let out = verify(
        &layout,
        &[
            "-o",
            "json",
            "--trusted-root",
            trusted_root.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true, "{}", common::stderr(&out));
    assert_eq!(report["verified"], 3);
    // Without an anchor, the verifier is told what it is trusting.
    assert!(common::stderr(&verify(&layout, &[])).contains("whoever could write the media"),);
}

#[test]
fn a_saved_release_round_trips_through_a_tar_and_skopeo_reads_its_images() {
    let Some(w) = world("tar") else { return };
    let scratch = Scratch::new("tar");
    let tar = scratch.0.join("release.tar");
    let policy = policy(&w, &w.registry.host());
    let out = save(&w, &policy, &tar, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(tar.is_file());
    assert!(!scratch.0.join("release.tar.partial.d").exists());
    let digest = layout_digest(&out);
    // A tar is refused as output when it exists already, and so is a
    // directory holding something else than a layout.
    common::assert_fails(&save(&w, &policy, &tar, &[]), 2, "the file exists");
    let foreign = scratch.0.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    common::assert_fails(
        &save(&w, &policy, &foreign, &[]),
        2,
        "neither empty nor an OCI image layout",
    );
    let host = w.registry.host();
    drop(w);
    let out = verify(&tar, &["--layout-digest", &digest]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );

    if !vouch_testkit::tool_available("skopeo") {
        return;
    }
    // skopeo reads the multi-platform index and a platform image from it.
    let agent = format!("oci-archive:{}:{host}/acme/agent:{VERSION}", tar.display());
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", &agent])
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let raw: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let copied = scratch.0.join("copied");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--override-arch", "arm64", &agent])
        .arg(format!("dir:{}", copied.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(copied.join("manifest.json").is_file());
}

#[test]
fn a_layout_changed_in_one_way_is_refused_naming_what_and_where() {
    let Some(w) = world("tamper") else { return };
    let scratch = Scratch::new("tamper");
    let base = scratch.0.join("base");
    let policy_path = policy(&w, &w.registry.host());
    let out = save(&w, &policy_path, &base, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let digest = layout_digest(&out);
    let trusted_root = scratch.0.join("trusted_root.json");
    std::fs::copy(w.dir.join("trusted_root.json"), &trusted_root).unwrap();
    let policy = scratch.0.join("release.toml");
    std::fs::copy(&policy_path, &policy).unwrap();
    drop(w);
    let case = |name: &str, edit: &dyn Fn(&Path)| {
        let dir = scratch.0.join(name);
        copy_dir(&base, &dir);
        edit(&dir);
        dir
    };

    // A changed blob: the operator's layer.
    let changed = case("changed", &|dir| {
        let index = read_index(dir);
        let image = entry(&index, "image", Some("operator"))["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(blob_file(dir, &image)).unwrap()).unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let path = blob_file(dir, layer);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(path, bytes).unwrap();
    });
    let out = verify(&changed, &[]);
    common::assert_fails(&out, 1, "was changed: its content hashes to");
    assert!(common::stderr(&out).contains(&changed.display().to_string()));

    // A missing referrer: the operator's first attachment.
    let missing_referrer = case("referrer", &|dir| {
        let index = read_index(dir);
        let list = entry(&index, "image", Some("operator"))["annotations"]
            ["dev.vouch.release.attachments"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::remove_file(blob_file(dir, list.split(',').next().unwrap())).unwrap();
    });
    common::assert_fails(
        &verify(&missing_referrer, &[]),
        1,
        "of image operator is missing (saved with it, expected at blobs/sha256/",
    );

    // An image the policy names that the layout lacks.
    let no_ui = case("no-ui", &|dir| {
        let mut index = read_index(dir);
        index["manifests"].as_array_mut().unwrap().retain(|e| {
            !(e["annotations"]["dev.vouch.release.role"] == "image"
                && e["annotations"]["dev.vouch.release.image"] == "ui")
        });
        write_index(dir, &index);
    });
    common::assert_fails(&verify(&no_ui, &[]), 1, "image ui (");

    // An extra image the policy does not name.
    let extra = case("extra", &|dir| {
        let mut index = read_index(dir);
        let mut intruder = entry(&index, "image", Some("agent")).clone();
        intruder["annotations"]["dev.vouch.release.image"] = "intruder".into();
        intruder["annotations"]["org.opencontainers.image.ref.name"] =
            "evil/intruder:v2.0.0".into();
        index["manifests"].as_array_mut().unwrap().push(intruder);
        write_index(dir, &index);
    });
    common::assert_fails(
        &verify(&extra, &[]),
        1,
        "is an image the policy does not name: intruder",
    );
    // The layout digest given: any change to index.json is refused first.
    common::assert_fails(
        &verify(&extra, &["--layout-digest", &digest]),
        1,
        "not the layout digest",
    );

    // A swapped trusted root: refused, unless the verifier gives its own.
    let evil = VirtualSigstore::new("evil", 1_750_000_000);
    let swapped_root = case("root", &|dir| {
        swap_artifact(dir, "trusted-root", evil.trusted_root_json().as_bytes())
    });
    common::assert_fails(
        &verify(&swapped_root, &[]),
        1,
        "the trusted root was swapped",
    );
    let out = verify(
        &swapped_root,
        &["--trusted-root", trusted_root.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("the layout's trusted root"));

    // A swapped policy: refused, unless the verifier gives its own.
    let swapped_policy = case("policy", &|dir| {
        let text = std::fs::read_to_string(&policy).unwrap();
        swap_artifact(
            dir,
            "policy",
            text.replace("[[image]]\nname = \"agent\"\n", "").as_bytes(),
        )
    });
    common::assert_fails(
        &verify(&swapped_policy, &[]),
        1,
        "the release policy was swapped",
    );
    let out = verify(&swapped_policy, &["--policy", policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));

    // The untouched layout still verifies: each refusal was that one edit.
    let out = verify(&base, &["--layout-digest", &digest]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn a_release_that_does_not_verify_is_not_saved_unless_no_verify_which_the_layout_records() {
    let Some(w) = world("noverify") else { return };
    let scratch = Scratch::new("noverify");
    let layout = scratch.0.join("layout");
    let policy = w.policy(
        "api.toml",
        &w.registry.host(),
        "[[image]]\nname = \"api\"\n",
    );
    let out = save(&w, &policy, &layout, &[]);
    common::assert_fails(
        &out,
        1,
        "nothing was saved: release v2.0.0 failed verification: api",
    );
    assert!(!layout.exists());

    let out = save(&w, &policy, &layout, &["--no-verify"]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("WARNING: --no-verify"), "{err}");
    let index = read_index(&layout);
    assert_eq!(index["annotations"]["dev.vouch.release.verified"], "false");
    // The far side verifies anyway, and the image never saved is missing.
    common::assert_fails(&verify(&layout, &[]), 1, "image api (");
}

#[test]
fn a_save_killed_mid_transfer_resumes_and_ends_in_a_layout_that_verifies() {
    let Some(w) = world("resume") else { return };
    let scratch = Scratch::new("resume");
    let layout = scratch.0.join("layout");
    // The ui image's layer never arrives through the forwarder; everything
    // else does, so the save stalls mid-transfer after saving the rest.
    let ui_layer = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("layer for acme/ui:{VERSION}")))
    );
    let stalled = common::FaultyForwarder::start(
        &w.registry.host(),
        common::Fault::StallOn(Box::leak(ui_layer.into_boxed_str())),
    );
    w.login(&stalled.host);
    let through = policy(&w, &stalled.host);
    let mut child = save_command(&w, &through, &layout, &["--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let operator_saved = line.contains("saved operator");
        seen.push(line);
        if operator_saved {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("saved operator")),
        "{seen:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Killed: no index.json, and every blob under its final name is whole.
    assert!(!layout.join("index.json").exists());
    let mut blobs = 0;
    for file in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let file = file.unwrap();
        let hash = hex::encode(Sha256::digest(std::fs::read(file.path()).unwrap()));
        assert_eq!(file.file_name().to_str().unwrap(), hash);
        blobs += 1;
    }
    assert!(blobs > 0);

    // Resumed straight from the registry: what is there is not fetched again.
    let direct = policy(&w, &w.registry.host());
    let out = save(&w, &direct, &layout, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    let present: usize = text
        .lines()
        .next()
        .unwrap_or_default()
        .split(", ")
        .find_map(|part| part.strip_suffix(" already there"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(present > 0, "{text}");
    assert!(!layout.join(".partial").exists());
    let digest = layout_digest(&out);
    drop(w);
    let out = verify(&layout, &["--layout-digest", &digest]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
}

#[test]
fn a_saved_release_loads_into_a_private_registry_and_verifies_there_with_the_written_policy() {
    let Some(w) = world("load") else { return };
    let scratch = Scratch::new("load");
    let layout = scratch.0.join("layout");
    let out = save(&w, &policy(&w, &w.registry.host()), &layout, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let digest = layout_digest(&out);
    let trusted_root = scratch.0.join("trusted_root.json");
    std::fs::copy(w.dir.join("trusted_root.json"), &trusted_root).unwrap();
    // The vendor's registry and its credentials are gone; the mirror is new.
    drop(w);
    let Some(mirror) = vouch_testkit::LocalRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let home = scratch.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let vouch = || {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.env("HOME", &home).env_remove("DOCKER_CONFIG");
        c
    };
    let mut login = vouch();
    login.args(["login", &mirror.host(), "-u", USER, "--password-stdin"]);
    assert!(
        common::run_with_stdin(login, PASSWORD.as_bytes())
            .status
            .success()
    );
    let prefix = format!("{}/mirror/acme", mirror.host());
    let written = scratch.0.join("mirror.toml");
    let load = |layout: &Path| {
        vouch()
            .args(["release", "load", "--layout"])
            .arg(layout)
            .args(["--to", &prefix, "--policy-out"])
            .arg(&written)
            .output()
            .unwrap()
    };

    // A layout that does not verify is not loaded: nothing reaches the mirror.
    let changed = scratch.0.join("changed");
    copy_dir(&layout, &changed);
    let index = read_index(&changed);
    let image = entry(&index, "image", Some("ui"))["digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(blob_file(&changed, &image), b"{}").unwrap();
    common::assert_fails(&load(&changed), 1, "is 2 bytes, its descriptor says");
    let mut digest_of = vouch();
    digest_of.args(["digest", &format!("{prefix}/ui:{VERSION}")]);
    assert_eq!(digest_of.output().unwrap().status.code(), Some(11));

    let out = load(&layout);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{}{err}", stdout(&out));
    assert!(err.contains("[3/3] loaded"), "{err}");
    assert!(
        err.contains("Referrers: the registry indexed them")
            || err.contains("Referrers: the registry has no referrers API"),
        "{err}"
    );
    for image in ["operator", "ui", "agent"] {
        assert!(
            stdout(&out)
                .lines()
                .any(|l| l.contains(image) && l.contains("OK")),
            "{}",
            stdout(&out)
        );
    }
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains(&format!("registry = \"{prefix}\"")), "{text}");

    // The cluster's day-to-day check against the mirror, with that policy.
    let out = vouch()
        .args(["verify-release", "--version", VERSION, "--policy"])
        .arg(&written)
        .arg("--trusted-root")
        .arg(&trusted_root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );

    // Idempotent: a second load uploads nothing and still verifies.
    let out = vouch()
        .args(["release", "load", "--layout"])
        .arg(&layout)
        .args(["--layout-digest", &digest, "--to", &prefix, "--policy-out"])
        .arg(&written)
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(": 0 blobs uploaded (0 B), 0 mounted,"),
        "{err}"
    );
}

/// A release verified with trust material from a (private) TUF repository
/// carries that repository's metadata; on the far side it proves the
/// layout's trusted root from the deployment's initial `root.json` — and
/// refuses a trusted root swapped consistently (index annotation and all),
/// which no check of the layout alone can see.
#[test]
fn a_trusted_root_from_tuf_is_saved_with_the_metadata_that_proves_it() {
    let Some(w) = world("tuf") else { return };
    let scratch = Scratch::new("tuf");
    let Some(repos) = vouch_testkit::tuf::TufRepos::generate(
        &scratch.0.join("repos"),
        w.sigstore.trusted_root_json().as_bytes(),
    ) else {
        return;
    };
    let mirror = vouch_testkit::tuf::StaticMirror::serve(&repos.repo("v1"));
    let layout = scratch.0.join("layout");
    let mut c = w.command();
    c.args([
        "release",
        "save",
        "--version",
        VERSION,
        "--tuf-mirror",
        &mirror.url(),
    ])
    .arg("--tuf-root")
    .arg(repos.bootstrap_root())
    .arg("--tuf-cache")
    .arg(scratch.0.join("cache"))
    .arg("--policy")
    .arg(policy(&w, &w.registry.host()))
    .arg("--output")
    .arg(&layout);
    let out = c.output().unwrap();
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("no TUF metadata is saved"), "{err}");
    let index = read_index(&layout);
    let tuf = entry(&index, "tuf", None);
    assert_eq!(
        tuf["artifactType"],
        "application/vnd.dev.vouch.tuf-export.v1"
    );
    let root = scratch.0.join("root.json");
    std::fs::copy(repos.bootstrap_root(), &root).unwrap();
    drop(mirror);
    drop(w);

    // Without the deployment's root.json the metadata is only carried.
    let out = verify(&layout, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("give --tuf-root"));
    let tuf_root = ["--tuf-root", root.to_str().unwrap()];
    let out = verify(&layout, &tuf_root);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("trusted root is proven by the TUF metadata of"),
        "{err}"
    );
    assert!(err.contains("the policy is the layout's"), "{err}");

    // A consistent swap: another Sigstore's trusted root, recorded in the
    // index too. The layout's own checks pass; TUF does not.
    let swapped = scratch.0.join("swapped");
    copy_dir(&layout, &swapped);
    let evil = VirtualSigstore::new("evil", 1_750_000_000).trusted_root_json();
    swap_artifact(&swapped, "trusted-root", evil.as_bytes());
    let mut index = read_index(&swapped);
    index["annotations"]["dev.vouch.release.trusted-root"] =
        format!("sha256:{}", hex::encode(Sha256::digest(evil.as_bytes()))).into();
    write_index(&swapped, &index);
    // Unanchored, the swap itself goes unseen; the images then fail against
    // the other Sigstore's root (an attacker would also have re-signed them).
    common::assert_fails(&verify(&swapped, &[]), 1, "failed verification");
    common::assert_fails(
        &verify(&swapped, &tuf_root),
        1,
        "not the one its TUF metadata proves",
    );
}

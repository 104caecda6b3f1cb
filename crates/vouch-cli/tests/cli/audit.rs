//! `vouch audit` against a Kubernetes API stub: no API server can run on
//! these machines, so a local HTTP server answers the pods list exactly as
//! the API returns it (a real-shaped PodList), through a real kubeconfig.
//! The images themselves are in a real registry, signed by the virtual Sigstore.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vouch_testkit::{
    Identity, Layout, LocalRegistry, Publisher, VirtualSigstore, standard_attestations,
};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "LICENSE-0001";

/// Serves `body` for GETs of `/api/v1/namespaces/default/pods` and records
/// the request lines; everything else is 404.
fn kube_stub(body: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            log.lock().unwrap().push(request_line.trim().to_string());
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let (status, payload) = if path.starts_with("/api/v1/namespaces/default/pods") {
                ("200 OK", body.clone())
            } else {
                (
                    "404 Not Found",
                    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}"#
                        .to_string(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    (port, seen)
}

fn pod(name: &str, container: &str, image: &str, image_id: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": container}},
        "spec": {"containers": [{"name": container, "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": container, "image": image, "imageID": image_id, "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        }]}
    })
}

#[test]
fn audit_reports_unsigned_wrongly_signed_drifted_and_unknown_images() {
    let Some(registry) = LocalRegistry::start(Some((USER, PASSWORD))) else {
        return;
    };
    let host = registry.host();
    let sigstore = VirtualSigstore::new("prod", 1_750_000_000);
    let vendor = Identity::github_actions(
        "acme/platform",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    );
    let evil = Identity::github_actions(
        "evil/fork",
        ".github/workflows/release.yml",
        "refs/tags/v1.0.0",
    );
    let mut p = Publisher::new(&host, Some((USER, PASSWORD)));
    let atts = standard_attestations("x", "v1", "https://b", &vendor);
    let operator = p.push_signed_image(
        &sigstore,
        "acme/operator",
        "v1",
        Layout::Bundle,
        Some(&vendor),
        &atts,
    );
    let ui = p.push_image("acme/ui", "v1", "unsigned ui");
    let api = p.push_signed_image(
        &sigstore,
        "acme/api",
        "v1",
        Layout::Legacy,
        Some(&evil),
        &[],
    );
    let envoy = p.push_image("upstream/envoy", "v1", "envoy");
    let drifted = p.push_image("upstream/envoy", "v2", "envoy rebuilt");

    let dir = std::env::temp_dir().join(format!("vouch-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json()).unwrap();
    std::fs::write(
        dir.join("release.toml"),
        format!(
            "registry = \"{host}/acme\"\n[identity]\nsubject_regexp = 'https://github\\.com/acme/platform/.*'\nissuer = \"https://token.actions.githubusercontent.com\"\n\
             [[image]]\nname = \"operator\"\n[[image]]\nname = \"ui\"\n[[image]]\nname = \"api\"\n\
             [[third_party]]\nname = \"envoy\"\nreference = \"{host}/upstream/envoy@{}\"\n",
            envoy.digest
        ),
    )
    .unwrap();
    let id = |repo: &str, d: &str| format!("{host}/{repo}@{d}");
    let pods = json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
        "items": [
            pod("operator-1", "operator", &format!("{host}/acme/operator:v1"), &format!("docker-pullable://{}", id("acme/operator", &operator.digest))),
            pod("operator-2", "operator", &format!("{host}/acme/operator:v1"), &id("acme/operator", &operator.digest)),
            pod("ui-1", "ui", &format!("{host}/acme/ui:v1"), &id("acme/ui", &ui.digest)),
            pod("api-1", "api", &format!("{host}/acme/api:v1"), &id("acme/api", &api.digest)),
            pod("envoy-1", "envoy", &format!("{host}/upstream/envoy:v1"), &id("upstream/envoy", &envoy.digest)),
            pod("envoy-2", "envoy", &format!("{host}/upstream/envoy:v2"), &id("upstream/envoy", &drifted.digest)),
            pod("nginx-1", "nginx", "nginx:1.27", "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
        ]
    });
    let (port, seen) = kube_stub(pods.to_string());
    std::fs::write(
        dir.join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             users:\n- name: u\n  user:\n    token: t0k3n\ncontexts:\n- name: stub\n  context:\n    cluster: stub\n    user: u\n    namespace: default\n\
             current-context: stub\n"
        ),
    )
    .unwrap();
    let vouch = |args: &[&str]| {
        let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
        c.env("HOME", &dir)
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env_remove("DOCKER_CONFIG")
            .args(args);
        c
    };
    let login = common::run_with_stdin(
        vouch(&["login", &host, "-u", USER, "--password-stdin"]),
        PASSWORD.as_bytes(),
    );
    assert!(login.status.success(), "{}", common::stderr(&login));

    let root = dir.join("trusted_root.json").display().to_string();
    let policy = dir.join("release.toml").display().to_string();
    let out = vouch(&[
        "audit",
        "--policy",
        &policy,
        "--trusted-root",
        &root,
        "-l",
        "tier=web",
        "-o",
        "json",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status: Vec<(String, String)> = report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["pod"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("operator-1", "OK"),
        ("operator-2", "OK"),
        ("ui-1", "UNSIGNED"),
        ("api-1", "WRONG SIGNER"),
        ("envoy-1", "OK"),
        ("envoy-2", "DRIFTED"),
        ("nginx-1", "NOT IN POLICY"),
    ];
    assert_eq!(status, expect.map(|(p, s)| (p.to_string(), s.to_string())));
    let wrong = report["containers"][3]["detail"].as_str().unwrap();
    assert!(wrong.contains("evil/fork"), "{wrong}");
    assert!(
        common::stderr(&out).contains("4 of 7 running containers did not pass"),
        "{}",
        common::stderr(&out)
    );
    // The label selector reached the API.
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("labelSelector=tier%3Dweb")),
        "{:?}",
        seen.lock().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `vouch audit` with a policy and `args`, in an empty HOME, with
/// `KUBECONFIG` set to `kubeconfig` (or unset) and no in-cluster variables.
fn audit_without_a_cluster(
    dir: &std::path::Path,
    kubeconfig: Option<&std::path::Path>,
    args: &[&str],
) -> std::process::Output {
    let policy = dir.join("release.toml");
    std::fs::write(&policy, "registry = \"127.0.0.1:9/acme\"\n[identity]\nsubject = \"x\"\nissuer = \"y\"\n[[image]]\nname = \"app\"\n").unwrap();
    let mut c = common::isolated(Command::new(env!("CARGO_BIN_EXE_vouch")));
    c.env("HOME", dir)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .args(["audit", "--policy"])
        .arg(&policy)
        .args(args);
    match kubeconfig {
        Some(path) => c.env("KUBECONFIG", path),
        None => c.env_remove("KUBECONFIG"),
    };
    c.output().unwrap()
}

/// No cluster to audit is said first, before any trust material is fetched
/// (here the TUF mirror is unreachable: that error must not come first), as
/// an unreadable input (3); a cluster that cannot be reached is an access
/// failure (4), never "verification failed" (issue 16, item 10).
#[test]
fn audit_says_there_is_no_cluster_before_any_trust_work() {
    let dir =
        std::env::temp_dir().join(format!("vouch-cli-audit-nocluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mirror = format!("http://127.0.0.1:{}", common::closed_port());
    let unreachable_tuf = [
        "--tuf-mirror",
        &mirror,
        "--tuf-root",
        "/nonexistent/root.json",
    ];
    let out = audit_without_a_cluster(&dir, None, &unreachable_tuf);
    common::assert_fails(&out, 3, "no cluster to audit");
    assert!(
        !common::stderr(&out).contains("TUF"),
        "{}",
        common::stderr(&out)
    );
    let out = audit_without_a_cluster(
        &dir,
        Some(&dir.join("missing-kubeconfig")),
        &unreachable_tuf,
    );
    common::assert_fails(&out, 3, "cannot use the kubeconfig KUBECONFIG names");

    // A kubeconfig naming an API server nobody listens on: 4.
    let port = common::closed_port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\n\
             current-context: gone\n"
        ),
    )
    .unwrap();
    let root = dir.join("trusted_root.json");
    std::fs::write(
        &root,
        VirtualSigstore::new("prod", 1_750_000_000).trusted_root_json(),
    )
    .unwrap();
    let out = audit_without_a_cluster(
        &dir,
        Some(&kubeconfig),
        &["--trusted-root", root.to_str().unwrap()],
    );
    common::assert_fails(&out, 4, "Kubernetes API");
    let _ = std::fs::remove_dir_all(&dir);
}

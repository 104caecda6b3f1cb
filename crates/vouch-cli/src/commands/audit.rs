//! `vouch audit`: verify what a Kubernetes cluster actually runs.
//!
//! The digests come from `status.containerStatuses[].imageID`, the best
//! source the seed guide names: what the kubelet pulled, not what a tag says
//! today. Each distinct digest is verified once.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;
use vouch_image::{Lookup, verify_attached};
use vouch_release::{Classification, ReleasePolicy};
use vouch_verify::TrustedMaterial;

use crate::args::{AuditArgs, OutputFormat};
use crate::commands::image;
use crate::failure::{Failure, FailureKind};
use crate::inputs;
use crate::inputs::DefaultTrust;

/// One running container and what vouch found about its image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    namespace: String,
    pod: String,
    container: String,
    image: String,
    status: &'static str,
    detail: String,
}

/// Runs the command.
pub fn run(args: &AuditArgs) -> Result<(), Failure> {
    let text = inputs::read_bounded(
        &args.policy,
        vouch_release::MAX_POLICY_SIZE as u64,
        "release policy",
    )?;
    let policy = ReleasePolicy::from_toml(&String::from_utf8_lossy(&text))
        .map_err(|e| Failure::input(format!("{}: {e}", args.policy.display())))?;
    let runtime = image::runtime()?;
    // Which cluster, before any trust or registry work: without one there
    // is nothing to audit, and that is what the user must hear first.
    let cluster = runtime.block_on(cluster_config(args))?;
    let material = inputs::trust_material(&args.trust, DefaultTrust::Tuf)?;
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    let findings = runtime.block_on(async {
        let containers = running_containers(args, cluster).await?;
        let mut verdicts: BTreeMap<String, (&'static str, String)> = BTreeMap::new();
        for c in &containers {
            if !verdicts.contains_key(&c.image) {
                let verdict = judge(&client, &material, &policy, &c.image).await;
                verdicts.insert(c.image.clone(), verdict);
            }
        }
        Ok::<_, Failure>(
            containers
                .into_iter()
                .map(|mut c| {
                    let (status, detail) = verdicts[&c.image].clone();
                    c.status = status;
                    c.detail = detail;
                    c
                })
                .collect::<Vec<_>>(),
        )
    })?;
    match args.output {
        OutputFormat::Json => outln!("{}", serde_json::json!({"containers": findings})),
        OutputFormat::Text => print_table(&findings),
    }
    let bad = findings.iter().filter(|f| f.status != "OK").count();
    if bad == 0 {
        Ok(())
    } else {
        Err(Failure::new(
            FailureKind::Verification,
            format!(
                "{bad} of {} running containers did not pass",
                findings.len()
            ),
        ))
    }
}

/// The cluster to audit: the kubeconfig (`KUBECONFIG`, else
/// `~/.kube/config`; `--context`), else in-cluster credentials. Neither is
/// an unreadable input (3), said before anything else is done.
async fn cluster_config(args: &AuditArgs) -> Result<kube::Config, Failure> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    match Kubeconfig::read() {
        Ok(kubeconfig) => kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Failure::input(format!("kubeconfig: {e}"))),
        Err(e) if std::env::var_os("KUBECONFIG").is_some() => Err(Failure::input(format!(
            "cannot use the kubeconfig KUBECONFIG names: {e}"
        ))),
        Err(_) => kube::Config::incluster().map_err(|e| {
            Failure::input(format!(
                "no cluster to audit: no kubeconfig (KUBECONFIG or ~/.kube/config) and not \
                 running in a cluster ({e})\nhint: set KUBECONFIG, or run where `kubectl get \
                 pods` works"
            ))
        }),
    }
}

/// Every container status in the selected pods, with its image ID. A
/// cluster that cannot be reached or refuses the listing is an access
/// failure (4): nothing was checked.
async fn running_containers(
    args: &AuditArgs,
    config: kube::Config,
) -> Result<Vec<Finding>, Failure> {
    let cluster = |e: String| Failure::new(FailureKind::Access, format!("Kubernetes API: {e}"));
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config).map_err(|e| cluster(e.to_string()))?;
    let pods: Api<Pod> = if args.all_namespaces {
        Api::all(client)
    } else {
        Api::namespaced(
            client,
            args.namespace.as_deref().unwrap_or(&default_namespace),
        )
    };
    let mut params = ListParams::default();
    if let Some(selector) = &args.selector {
        params = params.labels(selector);
    }
    let list = pods
        .list(&params)
        .await
        .map_err(|e| cluster(format!("listing pods: {e}")))?;
    let mut out = Vec::new();
    for pod in list.items {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod.status.iter().flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        });
        for status in statuses {
            out.push(Finding {
                namespace: namespace.clone(),
                pod: name.clone(),
                container: status.name.clone(),
                image: image_of(&status.image_id, &status.image),
                status: "",
                detail: String::new(),
            });
        }
    }
    Ok(out)
}

/// `docker-pullable://reg/repo@sha256:…` (older kubelets) → `reg/repo@sha256:…`;
/// a container not started yet has no image ID: fall back to its image.
fn image_of(image_id: &str, image: &str) -> String {
    let id = image_id
        .trim_start_matches("docker-pullable://")
        .trim_start_matches("docker://");
    if id.contains("@sha256:") {
        id.to_string()
    } else {
        image.to_string()
    }
}

/// The verdict for one running image.
async fn judge(
    client: &vouch_oci::RegistryClient,
    material: &TrustedMaterial,
    policy: &ReleasePolicy,
    image: &str,
) -> (&'static str, String) {
    let reference: vouch_oci::Reference = match image.parse() {
        Ok(r) => r,
        Err(e) => return ("ERROR", e.to_string()),
    };
    let Some(digest) = reference.digest() else {
        return (
            "NO DIGEST",
            "the container has no image ID yet (not started); nothing to verify".into(),
        );
    };
    let repo = reference.repository();
    match policy.classify(&repo.to_string()) {
        Classification::Unknown => (
            "NOT IN POLICY",
            format!("{repo} is not part of the release"),
        ),
        Classification::ThirdParty(t) => {
            if t.reference.ends_with(&digest.to_string()) {
                ("OK", format!("third-party ({}), pinned digest", t.category))
            } else {
                (
                    "DRIFTED",
                    format!("runs {digest}, the policy pins {}", t.reference),
                )
            }
        }
        Classification::Signed(rule) => {
            match verify_attached(
                client,
                material,
                repo,
                digest,
                &rule.signer,
                Lookup::Signatures,
            )
            .await
            {
                Ok(found) if !found.signatures.is_empty() => {
                    let who = found.signatures[0]
                        .signature()
                        .certificate()
                        .map(|c| c.identity.clone());
                    (
                        "OK",
                        format!(
                            "signed by {}",
                            who.unwrap_or_else(|| "the policy's key".into())
                        ),
                    )
                }
                Ok(found) if found.signature_candidates == 0 => {
                    ("UNSIGNED", "no signatures found".into())
                }
                Ok(found) => ("WRONG SIGNER", crate::failure::rejections(&found, "; ")),
                Err(e) => ("ERROR", e.to_string()),
            }
        }
    }
}

fn print_table(findings: &[Finding]) {
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            [
                format!("{}/{}", f.namespace, f.pod),
                f.container.clone(),
                f.image.clone(),
                f.status.to_string(),
            ]
        })
        .collect();
    let header = ["POD", "CONTAINER", "IMAGE", "STATUS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
    for f in findings.iter().filter(|f| f.status != "OK") {
        outln!(
            "{} {}/{} {}: {}",
            f.status,
            f.namespace,
            f.pod,
            f.container,
            f.detail
        );
    }
}

#!/usr/bin/env python3
"""Static checks of deploy/ for scripts/deploy-check: the Kubernetes manifests and
the Dockerfile. Needs PyYAML (Debian's python3-yaml) and Python 3.11+ (tomllib).

  check_deploy.py manifests DEPLOY_DIR OUT_DIR   checks deploy/kubernetes/*.yaml; writes
                                                 the ConfigMap's config.toml and the
                                                 Deployment's environment variable names
                                                 (env.txt) to OUT_DIR, for
                                                 `vouch-proxy check-config`
  check_deploy.py dockerfile DOCKERFILE SOURCE   checks the Dockerfile; SOURCE is
                                                 vouch-proxy's src/ (for the ENV names)

Each failed expectation is printed; the exit status is 1 when any failed.
"""

import pathlib
import re
import sys
import tomllib

import yaml

problems = []


def expect(ok, message):
    if not ok:
        problems.append(message)
    return ok


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_manifests(deploy, out):
    kube = deploy / "kubernetes"
    docs = []
    for path in sorted(kube.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            expect(isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc,
                   f"{path.name}: a document without kind and apiVersion")
            docs.append((path.name, doc))
    by_kind = {}
    for name, doc in docs:
        by_kind.setdefault(doc["kind"], []).append((name, doc))
    kinds = sorted((k, len(v)) for k, v in by_kind.items())
    expect(kinds == [("ConfigMap", 1), ("Deployment", 1), ("Kustomization", 1),
                     ("PodDisruptionBudget", 1), ("Service", 2)],
           f"kinds: expected a ConfigMap, a Deployment, a Kustomization, a "
           f"PodDisruptionBudget and two Services, found {kinds}")
    expected_api = {"ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1",
                    "PodDisruptionBudget": "policy/v1",
                    "Kustomization": "kustomize.config.k8s.io/v1beta1"}
    for name, doc in docs:
        expect(doc["apiVersion"] == expected_api.get(doc["kind"]),
               f"{name}: {doc['kind']} has apiVersion {doc['apiVersion']}")
        if doc["kind"] != "Kustomization":
            expect(doc.get("metadata", {}).get("name"), f"{name}: {doc['kind']} without a name")
    if problems:
        return
    [(_, kustomization)] = by_kind["Kustomization"]
    files = sorted(p.name for p in kube.glob("*.yaml") if p.name != "kustomization.yaml")
    expect(sorted(kustomization.get("resources", [])) == files,
           f"kustomization.yaml lists {kustomization.get('resources')}, the directory holds {files}")

    [(_, configmap)] = by_kind["ConfigMap"]
    toml_text = configmap["data"]["config.toml"]
    config = tomllib.loads(toml_text)
    (out / "config.toml").write_text(toml_text)
    server = config["server"]
    https_port, ops_port = port_of(server["listen"]), port_of(server["ops_listen"])

    [(_, deployment)] = by_kind["Deployment"]
    spec = deployment["spec"]
    expect(spec.get("replicas", 1) >= 2, "the Deployment should run several replicas")
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    expect(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
           "the Deployment's selector does not match its pods' labels")
    pod_spec = pod["spec"]
    expect(pod_spec.get("securityContext", {}).get("runAsNonRoot") is True,
           "pods must run as non-root (securityContext.runAsNonRoot)")
    [container] = pod_spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expect(ports.get("https") == https_port,
           f"container port https is {ports.get('https')}, the config listens on {https_port}")
    expect(ports.get("ops") == ops_port,
           f"container port ops is {ports.get('ops')}, the config's ops_listen is on {ops_port}")
    for probe in ("livenessProbe", "readinessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        expect(get.get("path") == "/healthz" and get.get("port") in ("ops", ops_port)
               and get.get("scheme", "HTTP") == "HTTP",
               f"{probe} must GET /healthz on the ops port over HTTP, found {get}")
    annotations = pod["metadata"].get("annotations", {})
    expect(annotations.get("prometheus.io/port") == str(ops_port)
           and annotations.get("prometheus.io/path") == "/metrics",
           f"the Prometheus annotations must name the ops port and /metrics: {annotations}")
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    expect(grace > server.get("shutdown_grace_secs", 30),
           f"terminationGracePeriodSeconds {grace} must exceed shutdown_grace_secs")
    security = container.get("securityContext", {})
    expect(security.get("allowPrivilegeEscalation") is False
           and security.get("readOnlyRootFilesystem") is True
           and security.get("capabilities", {}).get("drop") == ["ALL"],
           f"the container must drop every capability, escalation and a writable root: {security}")

    # Every file the config names is on a mounted volume, and each volume exists.
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for m in container["volumeMounts"]:
        expect(m["name"] in volumes, f"volumeMount {m['name']} has no volume")
    expect(volumes.get(mounts.get("/etc/vouch-proxy/config.toml"), {})
           .get("configMap", {}).get("name") == configmap["metadata"]["name"],
           "the ConfigMap is not mounted at /etc/vouch-proxy/config.toml")
    named_files = [server["tls"]["cert_file"], server["tls"]["key_file"],
                   config["state"]["secret_file"]]
    for file in named_files:
        directory = str(pathlib.PurePosixPath(file).parent)
        expect(directory in mounts and "secret" in volumes.get(mounts[directory], {}),
               f"{file} (named in the config) is not on a mounted Secret")
    expect(config["state"]["dir"] in mounts, "state.dir is not a mounted volume")

    # Every `{ env = … }` of the config is set by the Deployment.
    env = [e["name"] for e in container.get("env", [])]
    (out / "env.txt").write_text("\n".join(env) + "\n")

    def env_refs(value):
        if isinstance(value, dict):
            if set(value) == {"env"}:
                yield value["env"]
            for v in value.values():
                yield from env_refs(v)
        elif isinstance(value, list):
            for v in value:
                yield from env_refs(v)
    for var in env_refs(config):
        expect(var in env, f"the config reads ${var}; the Deployment does not set it")

    for name, service in by_kind["Service"]:
        selector = service["spec"]["selector"]
        expect(all(labels.get(k) == v for k, v in selector.items()),
               f"Service {service['metadata']['name']} selects no pod of the Deployment")
        for p in service["spec"]["ports"]:
            expect(p["targetPort"] in ports or p["targetPort"] in ports.values(),
                   f"Service {service['metadata']['name']} targets port {p['targetPort']}, "
                   f"which the container does not have")
    [(_, pdb)] = by_kind["PodDisruptionBudget"]
    expect(all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()),
           "the PodDisruptionBudget selects no pod of the Deployment")
    expect(pdb["spec"].get("maxUnavailable", 0) < spec.get("replicas", 1)
           or pdb["spec"].get("minAvailable", 0) >= 1,
           "the PodDisruptionBudget lets every replica go at once")


# Dockerfile instructions (https://docs.docker.com/reference/dockerfile/).
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL", "MAINTAINER"}


def dockerfile_instructions(text):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    expect(not current, "the Dockerfile ends in a continuation line")
    return [tuple((line.split(None, 1) + [""])[:2]) for line in joined]


def check_dockerfile(path, source):
    instructions = dockerfile_instructions(path.read_text())
    for word, _ in instructions:
        expect(word.upper() in INSTRUCTIONS, f"unknown Dockerfile instruction {word}")
    stages, stage = {}, None
    for word, args in instructions:
        if word == "FROM":
            m = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", args, re.IGNORECASE)
            if expect(m, f"FROM {args}: every stage must be named (FROM image AS name)"):
                stage = m.group(2)
                stages[stage] = []
        elif stage is not None:
            stages[stage].append((word, args))
        else:
            # Only ARG may come before the first FROM (it parameterises FROM).
            expect(word == "ARG", f"{word} before the first FROM")
    expect(list(stages) == ["build", "runtime"],
           f"stages: expected build then runtime, found {list(stages)}")
    if problems:
        return
    runtime = stages["runtime"]
    words = [w for w, _ in runtime]
    users = [a for w, a in runtime if w == "USER"]
    expect(users and users[-1].split(":")[0] not in ("root", "0"),
           f"the runtime stage must end as a non-root USER, found {users}")
    expect(any(w == "COPY" and "--from=build" in a and "vouch-proxy" in a for w, a in runtime),
           "the runtime stage must COPY vouch-proxy from the build stage")
    expect(any(w == "RUN" and "cargo build --release --locked -p vouch-proxy" in a
               for w, a in stages["build"]),
           "the build stage must run cargo build --release --locked -p vouch-proxy")
    health = [a for w, a in runtime if w == "HEALTHCHECK"]
    expect(len(health) == 1 and "CMD" in health[0] and "/healthz" in health[0],
           f"the runtime stage needs one HEALTHCHECK of /healthz, found {health}")
    env = {}
    for w, a in runtime:
        if w == "ENV":
            for k, v in re.findall(r"(\w+)=(\S+)", a):
                env[k] = v
    known = "".join(p.read_text() for p in source.rglob("*.rs"))
    for k in env:
        expect(k.startswith("VOUCH_PROXY_") and f'"{k}"' in known,
               f"ENV {k} is not a variable vouch-proxy reads")
    exposed = {int(p.split("/")[0]) for w, a in runtime if w == "EXPOSE" for p in a.split()}
    for k in ("VOUCH_PROXY_LISTEN", "VOUCH_PROXY_OPS_LISTEN"):
        expect(k in env and port_of(env[k]) in exposed,
               f"{k} must be set and its port EXPOSEd (EXPOSE {sorted(exposed)})")
    expect("${VOUCH_PROXY_OPS_LISTEN##*:}" in health[0] if health else False,
           "the HEALTHCHECK must follow VOUCH_PROXY_OPS_LISTEN's port")
    expect(words[-1] == "CMD" and "ENTRYPOINT" in words,
           "the runtime stage must end with ENTRYPOINT vouch-proxy and CMD serve")


def main():
    what, *args = sys.argv[1:]
    if what == "manifests":
        check_manifests(pathlib.Path(args[0]), pathlib.Path(args[1]))
    elif what == "dockerfile":
        check_dockerfile(pathlib.Path(args[0]), pathlib.Path(args[1]))
    else:
        sys.exit(f"usage: {sys.argv[0]} manifests DEPLOY OUT | dockerfile FILE SOURCE")
    for p in problems:
        print(f"deploy-check: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

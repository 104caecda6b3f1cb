#!/usr/bin/env bash
# Issue 18, item 4: CUSTOMERS customers (one license each) pull the same uncached
# 11-image release at once through 2 vouch-proxy replicas sharing PostgreSQL and
# S3-compatible storage (moto). Each customer, on replica (i mod 2), resolves every
# image of the release policy, takes the linux/amd64 manifest (or the only one)
# and GETs its config and layers, checking every blob against its digest.
#
# Prints: pulls completed without error, blobs received with wrong bytes, wall
# time, and how often the vendor registry was asked for each blob (from its
# access log): the goal is at most once per replica (2), and no client error.
#
# Usage: bench/concurrency.sh        (CUSTOMERS=50 LAYER_KB=1024)
# Needs: docker-registry, curl, python3; PostgreSQL (scripts/install-test-deps)
# and moto (PyPI). Everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-50}
./scripts/install-test-deps >/dev/null
cargo build --release --locked -q -p vouch-proxy
cargo build --release --locked -q -p vouch-testkit --example publish_demo_release
TARGET_DIR=$(realpath "${CARGO_TARGET_DIR:-target}")
PROXY_BIN=$TARGET_DIR/release/vouch-proxy
PUBLISH=$TARGET_DIR/release/examples/publish_demo_release
# shellcheck source=../scripts/lib/registry.sh
source scripts/lib/registry.sh
# shellcheck source=../scripts/lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=../scripts/lib/s3.sh
source scripts/lib/s3.sh
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_registry || true
  stop_s3 || true
  stop_postgres || true
  rm -rf "$WORK"
}
trap cleanup EXIT

VENDOR_USER=vendor-bot VENDOR_PASS=vendor-secret
VERSION=v1.2.0 PREFIX=acme/platform UPSTREAM=registry.vendor.test
# ACCESS_LOG=false: the access log is on (it is the setting "disabled")
ACCESS_LOG=false start_registry "$WORK/registry" "$VENDOR_USER" "$VENDOR_PASS"
echo "== publishing the 11-image demo release" >&2
$PUBLISH "$REGISTRY_HOST" "$PREFIX" "$VERSION" "$WORK/release" --auth "$VENDOR_USER" "$VENDOR_PASS" >/dev/null

echo "== PostgreSQL and moto" >&2
start_postgres >&2
ensure_moto >&2
start_s3 "$WORK/moto" >&2
"$(postgres_bin)/createdb" --maintenance-db="$VOUCH_TEST_DATABASE_URL" vouch_concurrency
DATABASE_URL=${VOUCH_TEST_DATABASE_URL%/*}/vouch_concurrency

config() { # name port
  cat >"$WORK/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
public_scheme = "http"
[state]
dir = "$WORK/$1"
secret_file = "$WORK/shared-secret.key"
database_url = "$DATABASE_URL"
[cache]
store = "s3://$VOUCH_TEST_S3_BUCKET/concurrency"
[cache.s3]
endpoint = "$VOUCH_TEST_S3_ENDPOINT"
insecure_allow_http = true
access_key_id = "$VOUCH_TEST_S3_ACCESS_KEY_ID"
secret_access_key = "$VOUCH_TEST_S3_SECRET_ACCESS_KEY"
serve = "stream"
$(proxy_upstream_toml "$UPSTREAM" "$VENDOR_USER" "$VENDOR_PASS")
TOML
  echo "$WORK/$1.toml"
}

ADMIN=("$PROXY_BIN" --config "$(config admin 1)")
"${ADMIN[@]}" app add acme --allow "$UPSTREAM/acme" >/dev/null
"${ADMIN[@]}" channel add-version --app acme --channel stable --version "$VERSION" >/dev/null
echo "== $CUSTOMERS licenses" >&2
for ((i = 0; i < CUSTOMERS; i++)); do
  printf 'customer%s@example.com %s\n' "$i" \
    "$("${ADMIN[@]}" license create --app acme --email "customer$i@example.com" --channel stable --expires never 2>/dev/null)"
done >"$WORK/licenses"

PORTS=()
for r in 1 2; do
  port=$(free_port)
  VOUCH_PROXY_LOG=warn "$PROXY_BIN" --config "$(config "replica-$r" "$port")" serve 2>"$WORK/replica-$r.log" &
  PIDS+=($!)
  PORTS+=("$port")
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
done
LOG_START=$(stat -c %s "$WORK/registry/registry.log") # count only what the pulls ask the vendor registry

NAMES=$(grep -A1 '^\[\[image\]\]' "$WORK/release/release.toml" | sed -n 's/^name = "\(.*\)"/\1/p')
echo "== $CUSTOMERS customers pull $(echo "$NAMES" | wc -w) images at once through 2 replicas" >&2
python3 - "$WORK/licenses" "${PORTS[0]},${PORTS[1]}" "proxy/acme/$UPSTREAM/$PREFIX" "$VERSION" $NAMES <<'PY'
import base64, hashlib, json, sys, threading, time, urllib.request

licenses_file, ports, base, version, *names = sys.argv[1:]
ports = ports.split(",")
licenses = [line.split() for line in open(licenses_file)]
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
barrier = threading.Barrier(len(licenses))
results = []
lock = threading.Lock()

def get(url, auth, accept=None):
    request = urllib.request.Request(url, headers={"Authorization": auth, **({"Accept": accept} if accept else {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()

def customer(i, email, license_id):
    auth = "Basic " + base64.b64encode(f"{email}:{license_id}".encode()).decode()
    root = f"http://127.0.0.1:{ports[i % len(ports)]}/v2/{base}"
    pulled, wrong, errors = 0, 0, []
    barrier.wait()
    for name in names:
        try:
            manifest = json.loads(get(f"{root}/{name}/manifests/{version}", auth, ACCEPT))
            if "manifests" in manifest:
                chosen = next((m for m in manifest["manifests"]
                               if m.get("platform", {}).get("architecture") == "amd64"), manifest["manifests"][0])
                manifest = json.loads(get(f"{root}/{name}/manifests/{chosen['digest']}", auth, ACCEPT))
            for blob in [manifest["config"], *manifest["layers"]]:
                data = get(f"{root}/{name}/blobs/{blob['digest']}", auth)
                if "sha256:" + hashlib.sha256(data).hexdigest() != blob["digest"]:
                    wrong += 1
            pulled += 1
        except Exception as e:  # every failure is counted and shown
            errors.append(f"{name}: {e}")
    with lock:
        results.append((pulled, wrong, errors))

start = time.perf_counter()
threads = [threading.Thread(target=customer, args=(i, *lic)) for i, lic in enumerate(licenses)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - start
pulled = sum(r[0] for r in results)
wrong = sum(r[1] for r in results)
errors = [e for r in results for e in r[2]]
print(f"{len(licenses)} customers x {len(names)} images: {pulled} image pulls completed, "
      f"{len(errors)} failed, {wrong} blobs with wrong bytes, {elapsed:.2f} s")
for e in errors[:10]:
    print("  error:", e)
PY
# The vendor registry's access log: GETs of each blob (HEADs are not transfers).
python3 - "$WORK/registry/registry.log" "$LOG_START" <<'PY'
import collections, re, sys
log = open(sys.argv[1], errors="replace")
log.seek(int(sys.argv[2]))
gets = collections.Counter(m.group(1) for line in log
                           for m in [re.search(r'"GET /v2/\S+/blobs/(sha256:[0-9a-f]{64}) HTTP', line)] if m)
worst = max(gets.values(), default=0)
print(f"vendor registry: {sum(gets.values())} blob GETs for {len(gets)} distinct blobs; "
      f"most for one blob: {worst} (goal: at most 2, once per replica)")
PY

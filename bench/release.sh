#!/usr/bin/env bash
# Whole-release verification through vouch-proxy on loopback: `vouch
# verify-release` (one process, one pass) against the shape of the seed guide's
# loop (per image: one `vouch verify` and three `vouch verify-attestation`), on
# the same release in the same run. Prints wall times, the ratio, the HTTP
# requests the proxy answered, and, for synthetic releases of 50 and 200 images,
# verify-release's wall time and peak RSS.
#
# Usage: bench/release.sh [IMAGES_FOR_SCALE_RUN]     (default 200; issue 18's goal: 1000
#        images under 10 s with peak RSS under 32 MiB; VOUCH_BIN / VOUCH_PROXY_BIN=path run
#        other builds of vouch / vouch-proxy)
# Each scale run is timed twice: cold (the proxy fetches every manifest and blob from
# the vendor registry) and warm (from its cache), with the HTTP requests per image.
# The vendor registry is Debian's docker-registry on 127.0.0.1 with basic auth;
# vouch-proxy sits in front of it with one customer license, as in scripts/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-200}
./scripts/install-test-deps
cargo build --release --locked -q -p vouch-cli -p vouch-proxy
cargo build --release --locked -q -p vouch-testkit --example publish_demo_release
TARGET_DIR=$(realpath "${CARGO_TARGET_DIR:-target}")
V=${VOUCH_BIN:-$TARGET_DIR/release/vouch} # VOUCH_BIN: another build of the client
PROXY_BIN=${VOUCH_PROXY_BIN:-$TARGET_DIR/release/vouch-proxy} # VOUCH_PROXY_BIN: another build of the proxy
PUBLISH=$TARGET_DIR/release/examples/publish_demo_release
source scripts/lib/registry.sh
WORK=$(mktemp -d)
PROXY_PID=
trap 'stop_registry; [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
VENDOR_USER=vendor-bot VENDOR_PASS=vendor-secret
EMAIL=customer@example.com VERSION=v1.2.0 PREFIX=acme/platform UPSTREAM=registry.vendor.test
ACCESS_LOG=false start_registry "$WORK/registry" "$VENDOR_USER" "$VENDOR_PASS"

PROXY=127.0.0.1:$(free_port)
export VOUCH_PROXY_CONFIG=$WORK/proxy.toml
cat >"$VOUCH_PROXY_CONFIG" <<TOML
[server]
listen = "$PROXY"
public_scheme = "http"
[state]
dir = "$WORK/proxy"
$(proxy_upstream_toml "$UPSTREAM" "$VENDOR_USER" "$VENDOR_PASS")
TOML
$PROXY_BIN app add acme --allow "$UPSTREAM/acme" --allow "$UPSTREAM/scale50" --allow "$UPSTREAM/scale$SCALE" >/dev/null
# The release's images are tagged $VERSION; its third-party images `stable`.
$PROXY_BIN channel add-version --app acme --channel stable --version "$VERSION" >/dev/null
$PROXY_BIN channel add-version --app acme --channel stable --version stable >/dev/null
LICENSE=$($PROXY_BIN license create --app acme --email "$EMAIL" --channel stable --expires never 2>/dev/null)
VOUCH_PROXY_LOG=${VOUCH_PROXY_LOG:-error} $PROXY_BIN serve 2>"$WORK/proxy.log" &
PROXY_PID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://$PROXY/healthz" && break; sleep 0.05; done
SERVED=$PROXY/proxy/acme/$UPSTREAM

export HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker
mkdir -p "$HOME"
echo "$LICENSE" | $V login "$PROXY" -u "$EMAIL" --password-stdin 2>/dev/null
# Requests the proxy answered (every route, every status), from its metrics.
requests() {
  curl -s "http://$PROXY/metrics" | awk '/^vouch_proxy_requests_total/ { n += $NF } END { printf "%d", n }'
}
# The same by route and status ("manifest/200 1234"), to explain the count.
requests_by_route() {
  curl -s "http://$PROXY/metrics" |
    sed -n 's/^vouch_proxy_requests_total{route="\([a-z]*\)",code="\([0-9]*\)"} \([0-9]*\)$/\1\/\2 \3/p' | sort
}
now() { date +%s.%N; }

publish() { # prefix dir [args…]
  $PUBLISH "$REGISTRY_HOST" "$1" "$VERSION" "$2" --auth "$VENDOR_USER" "$VENDOR_PASS" --serve-as "$SERVED" "${@:3}" >/dev/null
}
publish "$PREFIX" "$WORK/r11"
ROOT=$WORK/r11/trusted_root.json
ID='https://github\.com/acme/platform/\.github/workflows/release\.yml@refs/tags/v.*'
ISSUER=https://token.actions.githubusercontent.com
NAMES=$(grep -A1 '^\[\[image\]\]' "$WORK/r11/release.toml" | sed -n 's/^name = "\(.*\)"/\1/p')
BASE=$(sed -n 's/^registry = "\(.*\)"/\1/p' "$WORK/r11/release.toml" | head -1)

# Warm-up (page cache, binary, the proxy's cache), not timed.
$V verify-release --policy "$WORK/r11/release.toml" --version "$VERSION" --trusted-root "$ROOT" >/dev/null

r0=$(requests); t0=$(now)
$V verify-release --policy "$WORK/r11/release.toml" --version "$VERSION" --trusted-root "$ROOT" >/dev/null
t1=$(now); r1=$(requests)
for name in $NAMES; do
  IMAGE="$BASE/$name:$VERSION"
  $V verify --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" --trusted-root "$ROOT" "$IMAGE" >/dev/null 2>&1
  for t in spdxjson slsaprovenance1 openvex; do
    $V verify-attestation --type "$t" --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" --trusted-root "$ROOT" "$IMAGE" >/dev/null 2>&1
  done
done
t2=$(now); r2=$(requests)

awk -v a="$t0" -v b="$t1" -v c="$t2" -v ra=$((r1 - r0)) -v rb=$((r2 - r1)) 'BEGIN {
  release = b - a; loop = c - b
  printf "11 images through vouch-proxy, signature + 3 attestations each\n"
  printf "  verify-release:  %.3f s, %d requests\n", release, ra
  printf "  per-image loop:  %.3f s, %d requests (44 vouch processes)\n", loop, rb
  printf "ratio: loop / verify-release = %.1fx (wall time)\n", loop / release
}'

# Scale: one pass over synthetic releases of growing size; wall time and peak RSS.
measure() {
  python3 - "$V" "$1/release.toml" "$VERSION" "$1/trusted_root.json" "$2" <<'PY'
import os, subprocess, sys, time
v, policy, version, root, n = sys.argv[1:]
start = time.perf_counter()
p = subprocess.Popen([v, "verify-release", "--policy", policy, "--version", version, "--trusted-root", root],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
elapsed = time.perf_counter() - start
print(f"{int(n):5d} images: verify-release {elapsed:6.2f} s, peak RSS {usage.ru_maxrss / 1024:5.1f} MiB, exit {os.waitstatus_to_exitcode(status)}")
PY
}
per_image() { awk -v r="$1" -v n="$2" 'BEGIN { printf "%.1f", r / n }'; }
measure "$WORK/r11" 11
for n in 50 "$SCALE"; do
  echo "== publishing $n synthetic images" >&2
  publish "scale$n/platform" "$WORK/r$n" --images "$n"
  for pass in cold warm; do
    r0=$(requests)
    requests_by_route >"$WORK/routes-before"
    printf '%s ' "$pass"
    measure "$WORK/r$n" "$n"
    r1=$(requests)
    echo "      $((r1 - r0)) requests through the proxy, $(per_image $((r1 - r0)) "$n") per image:"
    join -a 1 -e 0 -o 0,1.2,2.2 <(requests_by_route) "$WORK/routes-before" |
      awk -v n="$n" '$2 - $3 > 0 { printf "        %-16s %6d  %5.2f per image\n", $1, $2 - $3, ($2 - $3) / n }'
  done
done

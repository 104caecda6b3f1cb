#!/usr/bin/env bash
# Whole-release verification: `vouch verify-release` (one process, one pass)
# against the shape of the seed guide's loop (per image: one `vouch verify` and
# three `vouch verify-attestation`), on the same release in the same run.
# Prints wall times, the ratio, HTTP requests seen by the registry, and, for a
# 200-image synthetic release, verify-release's wall time and peak RSS.
#
# Usage: bench/release.sh [IMAGES_FOR_SCALE_RUN]     (default 200)
# The registry is Debian's docker-registry on 127.0.0.1 with basic auth (the
# license-gated proxy will replace it here once it lands).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-200}
./scripts/install-test-deps
cargo build --release --locked -q -p vouch-cli
cargo build --release --locked -q -p vouch-testkit --example publish_demo_release
V=$PWD/target/release/vouch
PUBLISH=$PWD/target/release/examples/publish_demo_release
source scripts/lib/registry.sh
WORK=$(mktemp -d)
trap 'stop_registry; rm -rf "$WORK"' EXIT
EMAIL=customer@example.com LICENSE=BENCH-0001 VERSION=v1.2.0 PREFIX=acme/platform
ACCESS_LOG=false start_registry "$WORK/registry" "$EMAIL" "$LICENSE"
export HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker
mkdir -p "$HOME"
echo "$LICENSE" | $V login "$REGISTRY_HOST" -u "$EMAIL" --password-stdin 2>/dev/null
requests() { grep -cE '"(GET|HEAD) /v2/' "$WORK/registry/registry.log" || true; }
now() { date +%s.%N; }

$PUBLISH "$REGISTRY_HOST" "$PREFIX" "$VERSION" "$WORK/r11" --auth "$EMAIL" "$LICENSE" >/dev/null
ROOT=$WORK/r11/trusted_root.json
ID='https://github\.com/acme/platform/\.github/workflows/release\.yml@refs/tags/v.*'
ISSUER=https://token.actions.githubusercontent.com
NAMES=$(grep -A1 '^\[\[image\]\]' "$WORK/r11/release.toml" | sed -n 's/^name = "\(.*\)"/\1/p')

# Warm-up (page cache, binary), not timed.
$V verify-release --policy "$WORK/r11/release.toml" --version "$VERSION" --trusted-root "$ROOT" >/dev/null

r0=$(requests); t0=$(now)
$V verify-release --policy "$WORK/r11/release.toml" --version "$VERSION" --trusted-root "$ROOT" >/dev/null
t1=$(now); r1=$(requests)
for name in $NAMES; do
  IMAGE="$REGISTRY_HOST/$PREFIX/$name:$VERSION"
  $V verify --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" --trusted-root "$ROOT" "$IMAGE" >/dev/null 2>&1
  for t in spdxjson slsaprovenance1 openvex; do
    $V verify-attestation --type "$t" --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" --trusted-root "$ROOT" "$IMAGE" >/dev/null 2>&1
  done
done
t2=$(now); r2=$(requests)

awk -v a="$t0" -v b="$t1" -v c="$t2" -v ra=$((r1 - r0)) -v rb=$((r2 - r1)) 'BEGIN {
  release = b - a; loop = c - b
  printf "11 images, signature + 3 attestations each\n"
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
measure "$WORK/r11" 11
for n in 50 "$SCALE"; do
  $PUBLISH "$REGISTRY_HOST" "scale$n/platform" "$VERSION" "$WORK/r$n" --images "$n" --auth "$EMAIL" "$LICENSE" >/dev/null
  measure "$WORK/r$n" "$n"
done

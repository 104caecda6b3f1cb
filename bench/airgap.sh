#!/usr/bin/env bash
# Carrying a release across an air gap, on loopback: `vouch release save` of the
# 11-image demo release (and its 4 third-party images) from one registry, `release
# verify --layout`, and `release load` into a second registry; then the same for a
# synthetic release of N images. Wall time and peak RSS of each, against the
# per-image loop a user runs with the tools installed here, in the same run (see
# loop() below): skopeo copies each image and the tags that carry its signatures and
# attestations into an OCI layout, and from it into the second registry. It carries
# the same images and artefacts as vouch but verifies nothing. Prints the ratio of the
# loop's save + load to vouch's (`release save` + `release load`, each of which also
# verifies the release), the layout's size against the sum of its unique blobs, and
# how many requests each step sent to each registry (from their access logs).
#
# Usage: bench/airgap.sh [IMAGES_FOR_SCALE_RUN]     (default 100)
# VOUCH_BIN and PUBLISH_BIN use those binaries instead of building release ones
# (timings of a debug build are not comparable).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-100}
./scripts/install-test-deps
TARGET_DIR=$(realpath "${CARGO_TARGET_DIR:-target}")
if [ -z "${VOUCH_BIN:-}" ] || [ -z "${PUBLISH_BIN:-}" ]; then
  cargo build --release --locked -q -p vouch-cli
  cargo build --release --locked -q -p vouch-testkit --example publish_demo_release
fi
V=${VOUCH_BIN:-$TARGET_DIR/release/vouch}
PUBLISH=${PUBLISH_BIN:-$TARGET_DIR/release/examples/publish_demo_release}
source scripts/lib/registry.sh
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT
USER_A=vendor PASS_A=vendor-secret USER_B=loader PASS_B=loader-secret VERSION=v1.2.0
ACCESS_LOG=false start_registry "$WORK/a" "$USER_A" "$PASS_A"
A=$REGISTRY_HOST
PIDS+=("$REGISTRY_PID")
ACCESS_LOG=false start_registry "$WORK/b" "$USER_B" "$PASS_B"
B=$REGISTRY_HOST
PIDS+=("$REGISTRY_PID")
export HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker
mkdir -p "$HOME"
echo "$PASS_A" | $V login "$A" -u "$USER_A" --password-stdin >/dev/null 2>&1
echo "$PASS_B" | $V login "$B" -u "$USER_B" --password-stdin >/dev/null 2>&1

# Requests registry a or b has logged so far (its access log is on).
requests() { # a|b
  grep -c '"[A-Z]* /v2/' "$WORK/$1/registry.log" || true
}
# The requests registry $1 logged while the rest of the command line ran.
counting() { # a|b command…
  local registry=$1 before
  shift
  before=$(requests "$registry")
  "$@"
  echo "  $(printf '%-34s' '') $(($(requests "$registry") - before)) requests to registry $registry"
}
# One command: wall time, peak RSS, exit code.
measure() { # label command…
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
label, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
elapsed = time.perf_counter() - start
print(f"  {label:34s} {elapsed:7.2f} s   peak RSS {usage.ru_maxrss / 1024:6.1f} MiB   exit {os.waitstatus_to_exitcode(status)}")
PY
}
# The per-image loop a user runs today with the tools installed here (skopeo; neither
# oras nor cosign is packaged): for every image of the policy, resolve its digest
# (skopeo inspect --raw | sha256sum), copy it with skopeo copy --all into one OCI layout,
# and copy what carries its signatures and attestations — the referrers tag schema's
# index `sha256-<hex>` (skopeo copy --all brings every referrer it lists) or cosign's
# legacy `sha256-<hex>.sig` and `.att` tags, whichever exist (a failed copy of a tag
# the image does not have costs one request); then copy every copied reference from
# the layout into the second registry. It verifies nothing.
loop() { # dir name
  local dir=$1 out=$WORK/loop-$2 refs ref repo hex tag copied=()
  refs=$(
    base=$(sed -n 's/^registry = "\(.*\)"/\1/p' "$dir/release.toml" | head -1)
    grep -A1 '^\[\[image\]\]' "$dir/release.toml" | sed -n "s|^name = \"\(.*\)\"|$base/\1:$VERSION|p"
    sed -n 's/^reference = "\(.*\):stable@.*"/\1:stable/p' "$dir/release.toml"
  )
  local src=(--src-tls-verify=false --src-creds "$USER_A:$PASS_A")
  local t0 t1 t2
  t0=$(date +%s.%N)
  for ref in $refs; do
    repo=${ref%:*}
    hex=$(skopeo inspect --raw --tls-verify=false --creds "$USER_A:$PASS_A" "docker://$ref" |
      sha256sum | cut -d' ' -f1)
    skopeo copy --quiet --all "${src[@]}" "docker://$ref" "oci:$out:${ref#*/}"
    copied+=("${ref#*/}")
    for tag in "sha256-$hex" "sha256-$hex.sig" "sha256-$hex.att"; do
      if skopeo copy --quiet --all "${src[@]}" "docker://$repo:$tag" "oci:$out:${repo#*/}:$tag" \
        2>/dev/null; then
        copied+=("${repo#*/}:$tag")
      fi
    done
  done
  t1=$(date +%s.%N)
  for ref in "${copied[@]}"; do
    skopeo copy --quiet --all --dest-tls-verify=false --dest-creds "$USER_B:$PASS_B" \
      "oci:$out:$ref" "docker://$B/loop-$2/$ref"
  done
  t2=$(date +%s.%N)
  LOOP_SECS=$(awk -v a="$t0" -v c="$t2" 'BEGIN { print c - a }')
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$(echo "$refs" | wc -l)" -v m="${#copied[@]}" 'BEGIN {
    printf "  %-34s %7.2f s   (%d images: skopeo inspect + copy --all of %d references)\n", "per-image loop: save", b - a, n, m
    printf "  %-34s %7.2f s\n", "per-image loop: load", c - b
    printf "  %-34s %7.2f s\n", "per-image loop: save + load", c - a
  }'
}

run() { # dir name
  local dir=$1 name=$2
  local layout=$WORK/$name.layout
  echo "$name:"
  local s0 s1 l0 l1
  s0=$(date +%s.%N)
  counting a measure "release save" "$V" release save --policy "$dir/release.toml" \
    --version "$VERSION" --trusted-root "$dir/trusted_root.json" --output "$layout"
  s1=$(date +%s.%N)
  counting a measure "release save (again: resumed)" "$V" release save \
    --policy "$dir/release.toml" --version "$VERSION" --trusted-root "$dir/trusted_root.json" \
    --output "$layout"
  measure "release verify --layout" "$V" release verify --layout "$layout" \
    --trusted-root "$dir/trusted_root.json" --policy "$dir/release.toml"
  l0=$(date +%s.%N)
  counting b measure "release load" "$V" release load --layout "$layout" --to "$B/mirror-$name" \
    --policy-out "$WORK/$name.mirror.toml" --trusted-root "$dir/trusted_root.json"
  l1=$(date +%s.%N)
  local a_before b_before
  a_before=$(requests a) b_before=$(requests b)
  loop "$dir" "$name"
  echo "  $(printf '%-34s' '') $(($(requests a) - a_before)) requests to registry a, $(($(requests b) - b_before)) to b"
  awk -v s="$(awk -v a="$s0" -v b="$s1" -v c="$l0" -v d="$l1" 'BEGIN { print (b - a) + (d - c) }')" \
    -v l="$LOOP_SECS" -v n="$name" 'BEGIN {
    printf "  ratio %s: per-image loop / vouch (save + load) = %.2fx   (%.2f s / %.2f s; goal >= 3x)\n", n, l / s, l, s
  }' 
  python3 - "$layout" <<'PY'
import os, sys
root = sys.argv[1]
blobs = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(root, "blobs")) for f in fs)
total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
print(f"  layout: {total} bytes, unique blobs {blobs} bytes, overhead {100 * (total - blobs) / blobs:.2f} %")
PY
}

"$PUBLISH" "$A" acme/platform "$VERSION" "$WORK/r11" --auth "$USER_A" "$PASS_A" >/dev/null
run "$WORK/r11" demo11
"$PUBLISH" "$A" scale/platform "$VERSION" "$WORK/rN" --images "$SCALE" --auth "$USER_A" "$PASS_A" >/dev/null
run "$WORK/rN" "scale$SCALE"

#!/usr/bin/env bash
# Counts the HTTP requests vouch sends to verify one image's signature and its
# three attestations (SPDX, SLSA v1, OpenVEX), as the registry's own access log
# sees them, and prints the ratio to the minimum chain of requests.
#
# Usage: bench/requests.sh [bundle|legacy]     (default: bundle, cosign v3's layout)
#
# The registry is Debian's docker-registry on 127.0.0.1 with bcrypt basic auth
# (scripts/install-test-deps installs it). Its referrers API answers 404, so
# bundles are found through the referrers tag schema, as through a
# license-gated proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYOUT=${1:-bundle}
USER=alice@example.com PASS=LICENSE-0001 REPO=acme/platform/app TAG=v1.0.0

./scripts/install-test-deps
cargo build --release --locked -q -p vouch-cli
cargo build --release --locked -q -p vouch-testkit --example publish_signed_image
V=target/release/vouch
PUBLISH=target/release/examples/publish_signed_image

source scripts/lib/registry.sh
WORK=$(mktemp -d)
trap 'stop_registry; rm -rf "$WORK"' EXIT
ACCESS_LOG=false start_registry "$WORK" "$USER" "$PASS"
PORT=${REGISTRY_HOST#127.0.0.1:}

DIGEST=$($PUBLISH "127.0.0.1:$PORT" "$REPO" "$TAG" "$WORK" "$LAYOUT" "$USER" "$PASS")
export HOME=$WORK
echo "$PASS" | $V login "127.0.0.1:$PORT" -u "$USER" --password-stdin
IMAGE="127.0.0.1:$PORT/$REPO@$DIGEST"
ID='https://github\.com/acme/platform/\.github/workflows/release\.yml@refs/tags/v.*'
ISSUER=https://token.actions.githubusercontent.com
count() { grep -cE '"(GET|HEAD|POST) /v2/' "$WORK/registry.log" || true; }

before=$(count)
$V verify --trusted-root "$WORK/trusted_root.json" --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" "$IMAGE" >/dev/null 2>&1
for t in spdxjson slsaprovenance1 openvex; do
  $V verify-attestation --type "$t" --trusted-root "$WORK/trusted_root.json" --certificate-identity-regexp "$ID" --certificate-oidc-issuer "$ISSUER" "$IMAGE" >/dev/null 2>&1
done
sleep 0.2
total=$(( $(count) - before ))

# The minimum chain for one image by digest with 4 signed objects:
#   bundle: referrers API (1, answers 404) + tag-schema index (1) + 4 x (manifest + blob)
#   legacy: .sig manifest + 1 layer + .att manifest + 3 layers
case $LAYOUT in
  bundle) minimum=$(( 1 + 1 + 4 * 2 ));;
  legacy) minimum=$(( 2 + 1 + 3 ));;
esac
echo "layout:                $LAYOUT"
echo "requests seen by the registry (1 verify + 3 verify-attestation, incl. 401 challenges): $total"
echo "minimum chain:         $minimum"
awk -v t="$total" -v m="$minimum" 'BEGIN {
  printf "per command:           %.1f requests (minimum %d for one pass over all four)\n", t / 4, m
  printf "ratio: vouch / minimum = %.2fx (4 commands, each a new process that re-lists referrers and legacy tags and answers one basic-auth challenge)\n", t / m
}'

#!/usr/bin/env bash
# vouch-proxy under faults, on loopback (issue 21). For each fault: pulls that
# completed with the right bytes / pulls attempted, the time to recover once the
# fault is removed, and what the proxy logged about it.
#
#   disk-full  the cache on a 40 MiB tmpfs filled to 1 MiB free; ROUNDS rounds of
#              BLOBS concurrent pulls of 4 MiB layers; recovery: the filler is
#              deleted, time until a pull is cached again
#   database   PostgreSQL stopped (license_cache_secs and tag_ttl_secs are 1 s, so
#              answers come from fail static): pulls with a license seen before
#              and one never seen (503 expected); recovery: PostgreSQL started
#              again on the same data, time until the unseen license pulls
#
# Usage: bench/faults.sh          (BLOBS=8 ROUNDS=3 PROFILE=debug|release)
# Needs root (mount), docker-registry, curl, jq, sha256sum and PostgreSQL
# (scripts/install-test-deps). Everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BLOBS=${BLOBS:-8}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

for tool in docker-registry curl jq sha256sum mount; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-test-deps)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/faults.sh mounts a tmpfs: run it as root" >&2; exit 1; }

# shellcheck source=../scripts/lib/registry.sh
. scripts/lib/registry.sh
# shellcheck source=../scripts/lib/postgres.sh
. scripts/lib/postgres.sh

echo "== building vouch-proxy ($PROFILE)" >&2
if [ "$PROFILE" = release ]; then
  cargo build --release --locked -q -p vouch-proxy
else
  cargo build --locked -q -p vouch-proxy
fi
BIN="$TARGET_DIR/$PROFILE/vouch-proxy"

WORK=$(mktemp -d)
VOUCH_PID=
cleanup() {
  [ -n "$VOUCH_PID" ] && { kill "$VOUCH_PID" 2>/dev/null || true; wait "$VOUCH_PID" 2>/dev/null || true; }
  stop_registry || true
  stop_postgres || true
  umount "$WORK/cache" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

push_blob() { # repo file
  local digest location sep
  digest="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
  location=$(curl -sf -X POST -D - -o /dev/null "http://$REGISTRY_HOST/v2/$1/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case "$location" in http*) ;; *) location="http://$REGISTRY_HOST$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$location${sep}digest=$digest" -o /dev/null
  echo "$digest"
}

echo "== upstream: acme/api:1.0 with $BLOBS layers of 4 MiB" >&2
start_registry "$WORK/registry"
DIGESTS=()
LAYERS='[]'
for i in $(seq 1 "$BLOBS"); do
  head -c $((4 << 20)) /dev/urandom >"$WORK/layer$i"
  d=$(push_blob acme/api "$WORK/layer$i")
  DIGESTS+=("$d")
  LAYERS=$(jq -c --arg d "$d" '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$d,size:4194304}]' <<<"$LAYERS")
done
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config"
CONFIG=$(push_blob acme/api "$WORK/config")
MT=application/vnd.oci.image.manifest.v1+json
jq -cn --arg c "$CONFIG" --argjson cs "$(stat -c %s "$WORK/config")" --argjson layers "$LAYERS" --arg mt "$MT" \
  '{schemaVersion:2, mediaType:$mt, config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs}, layers:$layers}' \
  | tr -d '\n' >"$WORK/manifest"
curl -sf -X PUT -H "Content-Type: $MT" --data-binary "@$WORK/manifest" "http://$REGISTRY_HOST/v2/acme/api/manifests/1.0" -o /dev/null

echo "== PostgreSQL, and the cache on a 40 MiB tmpfs" >&2
start_postgres
PORT=${VOUCH_TEST_DATABASE_URL##*:}
PORT=${PORT%%/*}
"$(postgres_bin)/psql" -q "$VOUCH_TEST_DATABASE_URL" -c 'CREATE DATABASE bench_faults' >/dev/null
DATABASE_URL=${VOUCH_TEST_DATABASE_URL%/postgres}/bench_faults
mkdir -p "$WORK/cache"
mount -t tmpfs -o size=40m tmpfs "$WORK/cache"

VOUCH_PORT=$(free_port)
cat >"$WORK/vouch.toml" <<EOF
[server]
listen = "127.0.0.1:$VOUCH_PORT"
public_scheme = "http"
license_cache_secs = 1
[state]
dir = "$WORK/vouch"
database_url = "$DATABASE_URL"
[cache]
dir = "$WORK/cache"
max_bytes = 1073741824
tag_ttl_secs = 1
[rate_limit]
requests_per_second = 0
[[upstreams]]
name = "up.test"
url = "http://$REGISTRY_HOST"
insecure_allow_http = true
EOF
V=("$BIN" --config "$WORK/vouch.toml")
"${V[@]}" app add acme --allow up.test/acme >/dev/null
"${V[@]}" channel add-version --app acme --channel stable --version 1.0 >/dev/null
SEEN=$("${V[@]}" license create --app acme --email seen@example.com --channel stable --expires never 2>/dev/null)
UNSEEN=$("${V[@]}" license create --app acme --email unseen@example.com --channel stable --expires never 2>/dev/null)
VOUCH_PROXY_LOG=info VOUCH_PROXY_LOG_FORMAT=json "${V[@]}" serve 2>"$WORK/vouch.log" &
VOUCH_PID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$VOUCH_PORT/healthz" && break; sleep 0.05; done
REPO="http://127.0.0.1:$VOUCH_PORT/v2/proxy/acme/up.test/acme/api"

# pull LICENSE DIGEST: "ok" when the body hashes to the digest, else the status.
pull() {
  local out status
  out=$(mktemp -p "$WORK")
  status=$(curl -s -u "$1:$1" -o "$out" -w '%{http_code}' "$REPO/blobs/$2" || true)
  if [ "$status" = 200 ] && [ "sha256:$(sha256sum "$out" | cut -d' ' -f1)" = "$2" ]; then echo ok; else echo "$status"; fi
  rm -f "$out"
}

logged() { # component: the fault lines about it since the start
  jq -r --arg c "$1" 'select(.fields.component == $c) | "    \(.level) \(.fields.message) \(.fields.state // "") \(.fields.detail // "") \(.fields.lasted_secs // "")"' "$WORK/vouch.log" 2>/dev/null | awk '!seen[$0]++' | head -4
}

report() { # fault right attempted recovery component
  printf '%-10s %3s/%-3s pulls with the right bytes   recovered in %s s\n' "$1" "$2" "$3" "$4"
  logged "$5"
}

echo "== fault: cache disk full" >&2
avail=$(df --output=avail -B1M "$WORK/cache" | tail -1 | tr -d ' ')
dd if=/dev/zero of="$WORK/cache/filler" bs=1M count=$((avail - 1)) status=none || true
attempted=0
for _ in $(seq 1 "$ROUNDS"); do
  pulls=()
  for d in "${DIGESTS[@]}"; do
    pull "$SEEN" "$d" >"$WORK/r.$attempted" &
    pulls+=($!)
    attempted=$((attempted + 1))
  done
  wait "${pulls[@]}"
done
right=$(cat "$WORK"/r.* | grep -c '^ok$' || true)
rm -f "$WORK"/r.*
rm -f "$WORK/cache/filler"
t0=$(now)
until [ -n "$(ls -A "$WORK/cache/blobs/sha256" 2>/dev/null)" ]; do
  pull "$SEEN" "${DIGESTS[0]}" >/dev/null
done
report disk-full "$right" "$attempted" "$(since "$t0")" store

echo "== fault: database stopped" >&2
pause_postgres "$POSTGRES_DIR"
# Past license_cache_secs and tag_ttl_secs (1 s here): the answers now come
# from fail static, not from the fresh caches.
sleep 2
right=0
attempted=0
for d in "${DIGESTS[@]}"; do
  [ "$(pull "$SEEN" "$d")" = ok ] && right=$((right + 1))
  attempted=$((attempted + 1))
done
unseen=$(pull "$UNSEEN" "${DIGESTS[0]}")
resume_postgres "$POSTGRES_DIR" "$PORT"
t0=$(now)
until [ "$(pull "$UNSEEN" "${DIGESTS[0]}")" = ok ]; do sleep 0.1; done
report database "$right" "$attempted" "$(since "$t0")" database
echo "           a license never seen got: $unseen (503 expected)"

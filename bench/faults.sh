#!/usr/bin/env bash
# vouch-proxy under faults, on loopback (issue 21). For each fault: pulls that
# completed with the right bytes / pulls attempted, the time to recover once the
# fault is removed, and what the proxy logged about it. No pull may ever end as a
# complete 200 with wrong bytes; each row counts those too.
#
#   disk-full    the cache on a 40 MiB tmpfs filled to 1 MiB free; ROUNDS rounds of
#                BLOBS concurrent pulls of 4 MiB layers; recovery: the filler is
#                deleted, time until a pull is cached again
#   database     PostgreSQL stopped (license_cache_secs and tag_ttl_secs are 1 s, so
#                answers come from fail static): pulls with a license seen before,
#                each timed, and one never seen (503 expected); recovery: PostgreSQL
#                started again on the same data, time until the unseen license pulls
#   reset, flip  an upstream (bench/lib/faulty_upstream.py in front of the registry)
#                that resets mid-blob / flips one byte: EDGE concurrent pulls of
#                uncached 2 MiB layers (none may complete); recovery: the fault
#                cleared, time until the first of them is served
#   stall        the same upstream stops mid-blob: EDGE-1 pulls of cached layers
#                meanwhile, and how long the stalled pull took to end (the upstream
#                read timeout, 60 s); recovery as above
#   bucket-down  a second proxy on S3 (moto): the layers cached in the bucket, moto
#                stopped, BLOBS concurrent pulls; recovery: moto started again
#                (empty), time until the store is reported ok
#   bucket-empty moto back with an empty bucket: BLOBS concurrent pulls, and how many
#                blobs were stored again
#
# Usage: bench/faults.sh          (BLOBS=8 ROUNDS=3 EDGE=4 PROFILE=debug|release)
# Needs root (mount), docker-registry, curl, jq, sha256sum, python3, PostgreSQL
# (scripts/install-test-deps) and moto (scripts/lib/s3.sh installs it from PyPI).
# Everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BLOBS=${BLOBS:-8}
ROUNDS=${ROUNDS:-3}
EDGE=${EDGE:-4}
PROFILE=${PROFILE:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

for tool in docker-registry curl jq sha256sum mount python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-test-deps)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/faults.sh mounts a tmpfs: run it as root" >&2; exit 1; }

# shellcheck source=../scripts/lib/registry.sh
. scripts/lib/registry.sh
# shellcheck source=../scripts/lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=../scripts/lib/s3.sh
. scripts/lib/s3.sh
ensure_moto >/dev/null || { echo "moto cannot be installed (scripts/lib/s3.sh)" >&2; exit 1; }

echo "== building vouch-proxy ($PROFILE)" >&2
if [ "$PROFILE" = release ]; then
  cargo build --release --locked -q -p vouch-proxy
else
  cargo build --locked -q -p vouch-proxy
fi
BIN="$TARGET_DIR/$PROFILE/vouch-proxy"

WORK=$(mktemp -d)
VOUCH_PID=
S3_VOUCH_PID=
FAULTY_PID=
stop_pid() { if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() {
  stop_pid "$VOUCH_PID"
  stop_pid "$S3_VOUCH_PID"
  stop_pid "$FAULTY_PID"
  stop_registry || true
  stop_postgres || true
  stop_s3 || true
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

# push_image REPO COUNT BYTES: an image of COUNT random layers of BYTES each,
# tagged 1.0; the layer digests are left in LAYER_DIGESTS.
push_image() {
  local repo=$1 count=$2 bytes=$3 layers='[]' d config mt
  LAYER_DIGESTS=()
  for _ in $(seq 1 "$count"); do
    head -c "$bytes" /dev/urandom >"$WORK/layer"
    d=$(push_blob "$repo" "$WORK/layer")
    LAYER_DIGESTS+=("$d")
    layers=$(jq -c --arg d "$d" --argjson s "$bytes" '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$d,size:$s}]' <<<"$layers")
  done
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config"
  config=$(push_blob "$repo" "$WORK/config")
  mt=application/vnd.oci.image.manifest.v1+json
  jq -cn --arg c "$config" --argjson cs "$(stat -c %s "$WORK/config")" --argjson layers "$layers" --arg mt "$mt" \
    '{schemaVersion:2, mediaType:$mt, config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs}, layers:$layers}' \
    | tr -d '\n' >"$WORK/manifest"
  curl -sf -X PUT -H "Content-Type: $mt" --data-binary "@$WORK/manifest" "http://$REGISTRY_HOST/v2/$repo/manifests/1.0" -o /dev/null
}

echo "== upstream: acme/api:1.0 with $BLOBS layers of 4 MiB, acme/edge:1.0 with $((3 * EDGE)) of 2 MiB" >&2
start_registry "$WORK/registry"
push_image acme/api "$BLOBS" $((4 << 20))
DIGESTS=("${LAYER_DIGESTS[@]}")
push_image acme/edge $((3 * EDGE)) $((2 << 20))
EDGE_DIGESTS=("${LAYER_DIGESTS[@]}")
FAULTY_PORT=$(free_port)
echo pass >"$WORK/upstream-mode"
python3 bench/lib/faulty_upstream.py "$FAULTY_PORT" "$REGISTRY_HOST" "$WORK/upstream-mode" &
FAULTY_PID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$FAULTY_PORT/v2/" && break; sleep 0.05; done

echo "== PostgreSQL, and the cache on a 40 MiB tmpfs" >&2
start_postgres
PORT=${VOUCH_TEST_DATABASE_URL##*:}
PORT=${PORT%%/*}
"$(postgres_bin)/psql" -q "$VOUCH_TEST_DATABASE_URL" -c 'CREATE DATABASE bench_faults' >/dev/null
DATABASE_URL=${VOUCH_TEST_DATABASE_URL%/postgres}/bench_faults
mkdir -p "$WORK/cache"
mount -t tmpfs -o size=40m tmpfs "$WORK/cache"

# upstream_toml NAME URL: an [[upstreams]] entry on plain http.
upstream_toml() {
  printf '[[upstreams]]\nname = "%s"\nurl = "%s"\ninsecure_allow_http = true\n' "$1" "$2"
}
# shared_toml: what both proxies' configurations end with: no rate limit, and
# the registry as upstream up.test.
shared_toml() {
  printf '[rate_limit]\nrequests_per_second = 0\n'
  upstream_toml up.test "http://$REGISTRY_HOST"
}

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
EOF
shared_toml >>"$WORK/vouch.toml"
upstream_toml faulty.test "http://127.0.0.1:$FAULTY_PORT" >>"$WORK/vouch.toml"
V=("$BIN" --config "$WORK/vouch.toml")
"${V[@]}" app add acme --allow up.test/acme --allow faulty.test/acme >/dev/null
"${V[@]}" channel add-version --app acme --channel stable --version 1.0 >/dev/null
SEEN=$("${V[@]}" license create --app acme --email seen@example.com --channel stable --expires never 2>/dev/null)
UNSEEN=$("${V[@]}" license create --app acme --email unseen@example.com --channel stable --expires never 2>/dev/null)
VOUCH_PROXY_LOG=info VOUCH_PROXY_LOG_FORMAT=json "${V[@]}" serve 2>"$WORK/vouch.log" &
VOUCH_PID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$VOUCH_PORT/healthz" && break; sleep 0.05; done
REPO="http://127.0.0.1:$VOUCH_PORT/v2/proxy/acme/up.test/acme/api"
EDGE_REPO="http://127.0.0.1:$VOUCH_PORT/v2/proxy/acme/faulty.test/acme/edge"

# pull LICENSE DIGEST [REPO_URL]: "ok" when a complete 200 hashes to the digest,
# "WRONG" for a complete 200 that does not (must never happen), "cut(…)" when the
# body ended short, else the status.
pull() {
  local out status rc=0
  out=$(mktemp -p "$WORK")
  status=$(curl -s -u "$1:$1" -o "$out" -w '%{http_code}' "${3:-$REPO}/blobs/$2") || rc=$?
  if [ "$rc" != 0 ]; then echo "cut($status,curl:$rc)"
  elif [ "$status" != 200 ]; then echo "$status"
  elif [ "sha256:$(sha256sum "$out" | cut -d' ' -f1)" = "$2" ]; then echo ok
  else echo WRONG; fi
  rm -f "$out"
}

# pulls_at_once LICENSE REPO_URL DIGEST...: pulls them concurrently; sets RIGHT,
# ATTEMPTED, WRONG (complete 200s with wrong bytes) and OUTCOMES (each pull's).
pulls_at_once() {
  local license=$1 repo=$2 d i=0 pids=()
  shift 2
  for d in "$@"; do
    pull "$license" "$d" "$repo" >"$WORK/r.$i" &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  RIGHT=$(cat "$WORK"/r.* | grep -c '^ok$' || true)
  WRONG=$(cat "$WORK"/r.* | grep -c '^WRONG$' || true)
  OUTCOMES=$(cat "$WORK"/r.* | sort | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2 }')
  ATTEMPTED=$i
  rm -f "$WORK"/r.*
}

# mark LOG: the fault about to be made is logged after LOG's current end.
LOG_FROM=0
mark() { LOG_FROM=$(wc -l <"$1"); }

# logged LOG COMPONENT [MESSAGE]: the lines about COMPONENT, and those whose
# message contains MESSAGE, since the last mark, each once.
logged() {
  local lines
  lines=$(tail -n +$((LOG_FROM + 1)) "$1" | jq -r --arg c "$2" --arg m "${3:-}" \
    'select(.fields.component == $c or ($m != "" and (.fields.message | contains($m)))) | "    \(.level) \(.fields.message) \(.fields.state // "") \(.fields.detail // .fields.digest // "") \(.fields.lasted_secs // "")"' \
    2>/dev/null | awk '!seen[$0]++' | head -6)
  echo "${lines:-    (nothing about it at info or above)}"
}

report() { # fault right attempted wrong recovery log component [message]
  printf '%-12s %3s/%-3s pulls with the right bytes (%s complete with wrong bytes)   recovered in %s s\n' "$1" "$2" "$3" "$4" "$5"
  logged "$6" "$7" "${8:-}"
}

echo "== fault: cache disk full" >&2
mark "$WORK/vouch.log"
avail=$(df --output=avail -B1M "$WORK/cache" | tail -1 | tr -d ' ')
dd if=/dev/zero of="$WORK/cache/filler" bs=1M count=$((avail - 1)) status=none || true
right=0 attempted=0 wrong=0
for _ in $(seq 1 "$ROUNDS"); do
  pulls_at_once "$SEEN" "$REPO" "${DIGESTS[@]}"
  right=$((right + RIGHT)) attempted=$((attempted + ATTEMPTED)) wrong=$((wrong + WRONG))
done
rm -f "$WORK/cache/filler"
t0=$(now)
until [ -n "$(ls -A "$WORK/cache/blobs/sha256" 2>/dev/null)" ]; do
  pull "$SEEN" "${DIGESTS[0]}" >/dev/null
done
report disk-full "$right" "$attempted" "$wrong" "$(since "$t0")" "$WORK/vouch.log" store

echo "== fault: database stopped" >&2
mark "$WORK/vouch.log"
pause_postgres "$POSTGRES_DIR"
# Past license_cache_secs and tag_ttl_secs (1 s here): the answers now come
# from fail static, not from the fresh caches.
sleep 2
right=0 attempted=0 wrong=0 times=()
for d in "${DIGESTS[@]}"; do
  t1=$(now)
  got=$(pull "$SEEN" "$d")
  times+=("$(since "$t1")")
  [ "$got" = ok ] && right=$((right + 1))
  [ "$got" = WRONG ] && wrong=$((wrong + 1))
  attempted=$((attempted + 1))
done
unseen=$(pull "$UNSEEN" "${DIGESTS[0]}")
resume_postgres "$POSTGRES_DIR" "$PORT"
t0=$(now)
until [ "$(pull "$UNSEEN" "${DIGESTS[0]}")" = ok ]; do sleep 0.1; done
report database "$right" "$attempted" "$wrong" "$(since "$t0")" "$WORK/vouch.log" database
echo "             pull times during the outage (s): ${times[*]}"
echo "             a license never seen got: $unseen (503 expected)"

# upstream_fault MODE DIGEST...: the fault set, the digests pulled at once, the
# fault cleared; recovery is the time until the first digest is served.
upstream_fault() {
  local fault=$1
  shift
  mark "$WORK/vouch.log"
  echo "$fault" >"$WORK/upstream-mode"
  pulls_at_once "$SEEN" "$EDGE_REPO" "$@"
  echo pass >"$WORK/upstream-mode"
  t0=$(now)
  until [ "$(pull "$SEEN" "$1" "$EDGE_REPO")" = ok ]; do sleep 0.1; done
  report "$fault" "$RIGHT" "$ATTEMPTED" "$WRONG" "$(since "$t0")" "$WORK/vouch.log" upstream:faulty.test digest
  echo "             outcomes: $OUTCOMES"
}

echo "== fault: upstream resets mid-blob" >&2
upstream_fault reset "${EDGE_DIGESTS[@]:0:EDGE}"
echo "== fault: upstream flips a byte" >&2
upstream_fault flip "${EDGE_DIGESTS[@]:EDGE:EDGE}"

echo "== fault: upstream stalls mid-blob" >&2
mark "$WORK/vouch.log"
STALL=("${EDGE_DIGESTS[@]:$((2 * EDGE)):EDGE}")
for d in "${STALL[@]:1}"; do pull "$SEEN" "$d" "$EDGE_REPO" >/dev/null; done
echo stall >"$WORK/upstream-mode"
t_stall=$(now)
pull "$SEEN" "${STALL[0]}" "$EDGE_REPO" >"$WORK/stalled" &
stalled_pid=$!
sleep 1
t1=$(now)
pulls_at_once "$SEEN" "$EDGE_REPO" "${STALL[@]:1}"
cached_secs=$(since "$t1")
wait "$stalled_pid"
stalled_secs=$(since "$t_stall")
echo pass >"$WORK/upstream-mode"
t0=$(now)
until [ "$(pull "$SEEN" "${STALL[0]}" "$EDGE_REPO")" = ok ]; do sleep 0.1; done
report stall "$RIGHT" "$ATTEMPTED" "$WRONG" "$(since "$t0")" "$WORK/vouch.log" upstream:faulty.test
echo "             the cached pulls took $cached_secs s together; the stalled pull ended after $stalled_secs s: $(cat "$WORK/stalled")"

echo "== a second proxy, its cache in an S3 bucket (moto)" >&2
start_s3 "$WORK/moto" >/dev/null
S3_PORT=${VOUCH_TEST_S3_ENDPOINT##*:}
S3_VOUCH_PORT=$(free_port)
cat >"$WORK/vouch-s3.toml" <<EOF
[server]
listen = "127.0.0.1:$S3_VOUCH_PORT"
public_scheme = "http"
[state]
dir = "$WORK/vouch-s3"
[cache]
dir = "$WORK/vouch-s3/cache"
store = "s3://$VOUCH_TEST_S3_BUCKET/bench"
[cache.s3]
endpoint = "$VOUCH_TEST_S3_ENDPOINT"
region = "$VOUCH_TEST_S3_REGION"
access_key_id = "$VOUCH_TEST_S3_ACCESS_KEY_ID"
secret_access_key = "$VOUCH_TEST_S3_SECRET_ACCESS_KEY"
insecure_allow_http = true
EOF
shared_toml >>"$WORK/vouch-s3.toml"
S=("$BIN" --config "$WORK/vouch-s3.toml")
"${S[@]}" app add acme --allow up.test/acme >/dev/null
"${S[@]}" channel add-version --app acme --channel stable --version 1.0 >/dev/null
S3_LICENSE=$("${S[@]}" license create --app acme --email s3@example.com --channel stable --expires never 2>/dev/null)
VOUCH_PROXY_LOG=info VOUCH_PROXY_LOG_FORMAT=json "${S[@]}" serve 2>"$WORK/vouch-s3.log" &
S3_VOUCH_PID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$S3_VOUCH_PORT/healthz" && break; sleep 0.05; done
S3_REPO="http://127.0.0.1:$S3_VOUCH_PORT/v2/proxy/acme/up.test/acme/api"
stored() { # objects under the store's blob prefix
  curl -s "$VOUCH_TEST_S3_ENDPOINT/$VOUCH_TEST_S3_BUCKET?list-type=2&prefix=bench/blobs/" | grep -o '<Key>' | wc -l
}
store_state() {
  curl -s "http://127.0.0.1:$S3_VOUCH_PORT/healthz" | jq -r '.components.store.state'
}
pulls_at_once "$S3_LICENSE" "$S3_REPO" "${DIGESTS[@]}"
echo "             before the bucket faults: $RIGHT/$ATTEMPTED pulled, $(stored) blobs in the bucket"

echo "== fault: bucket unreachable" >&2
mark "$WORK/vouch-s3.log"
stop_s3
pulls_at_once "$S3_LICENSE" "$S3_REPO" "${DIGESTS[@]}"
down=("$RIGHT" "$ATTEMPTED" "$WRONG")
start_s3_on "$WORK/moto" "$S3_PORT" >/dev/null
t0=$(now)
until [ "$(store_state)" = ok ]; do pull "$S3_LICENSE" "${DIGESTS[0]}" "$S3_REPO" >/dev/null; sleep 0.1; done
report bucket-down "${down[@]}" "$(since "$t0")" "$WORK/vouch-s3.log" store

echo "== fault: bucket back, empty" >&2
mark "$WORK/vouch-s3.log"
pulls_at_once "$S3_LICENSE" "$S3_REPO" "${DIGESTS[@]}"
report bucket-empty "$RIGHT" "$ATTEMPTED" "$WRONG" "0 (no restart)" "$WORK/vouch-s3.log" store
echo "             blobs stored again in the bucket: $(stored)/$BLOBS"

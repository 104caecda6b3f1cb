#!/usr/bin/env bash
# Cached manifest and blob GETs on loopback, measured with wrk in one run:
#   vouch-proxy (release build, bearer token)  vs
#   docker-registry serving the same content directly (no auth)  vs
#   docker-registry in its own pull-through proxy mode (no auth)  vs
#   nginx serving the same blob as a static file (sendfile on; issue 18).
# Prints requests/s, p99 latency, vouch-proxy's CPU time per request, the
# ratios, and vouch-proxy's peak RSS. Then a large blob (BIG_MB) in bytes/s
# with fewer connections against nginx, and cold pulls: the first pull of an
# uncached BIG_MB blob through vouch-proxy against the same pull from the
# upstream directly (COLD_ROUNDS fresh blobs).
#
# Then, unless SCALE_OUT=0 (issue 8): 1, 2 and 3 replicas sharing PostgreSQL
# and S3-compatible storage (moto), and the cost of Postgres-backed auth vs SQLite.
#
# Usage: bench/proxy.sh            (DURATION=10s CONNECTIONS=64 THREADS=2 BLOB_KB=64 SCALE_OUT=1
#                                   BIG_MB=64 BIG_CONNECTIONS=4 COLD_ROUNDS=3)
#        VOUCH_PROXY_BIN=path       measures that binary instead of building this tree's
# Needs: docker-registry, curl, jq, sha256sum; installs Debian's wrk and nginx-light if missing (root);
# for the scale-out part PostgreSQL (scripts/install-test-deps) and moto (PyPI).
# Everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BLOB_KB=${BLOB_KB:-64}
BIG_MB=${BIG_MB:-64}
BIG_CONNECTIONS=${BIG_CONNECTIONS:-4}
COLD_ROUNDS=${COLD_ROUNDS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

PATH=$PATH:/usr/sbin
for pkg in wrk:wrk nginx:nginx-light; do
  command -v "${pkg%%:*}" >/dev/null && continue
  if [ "$(id -u)" = 0 ]; then
    echo "== installing ${pkg#*:}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkg#*:}" >/dev/null
  else
    echo "${pkg%%:*} is missing: apt-get install ${pkg#*:} (as root)" >&2
    exit 1
  fi
done
for tool in docker-registry curl jq sha256sum; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-test-deps)" >&2; exit 1; }
done

if [ -n "${VOUCH_PROXY_BIN:-}" ]; then
  BIN=$VOUCH_PROXY_BIN # e.g. an older build, to compare two commits with the same script
else
  echo "== building vouch-proxy (release)" >&2
  cargo build --release --locked -q -p vouch-proxy
  BIN="$TARGET_DIR/release/vouch-proxy"
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if declare -F stop_s3 >/dev/null; then stop_s3 || true; fi
  if declare -F stop_postgres >/dev/null; then stop_postgres || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "no answer from $1" >&2
  exit 1
}

start_registry() { # name port [proxy-remote-url]
  local dir="$WORK/$1"
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
EOF
  if [ -n "${3:-}" ]; then
    printf 'proxy:\n  remoteurl: %s\n' "$3" >>"$dir/config.yml"
  fi
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$2/v2/"
}

push_blob() { # base repo file
  local digest location sep
  digest="sha256:$(sha256sum "$3" | cut -d' ' -f1)"
  location=$(curl -sf -X POST -D - -o /dev/null "$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case "$location" in http*) ;; *) location="$1$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$3" "$location${sep}digest=$digest" -o /dev/null
  echo "$digest"
}

UPSTREAM_PORT=$(free_port)
PEER_PROXY_PORT=$(free_port)
VOUCH_PORT=$(free_port)
UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
start_registry upstream "$UPSTREAM_PORT"
start_registry peer-proxy "$PEER_PROXY_PORT" "$UPSTREAM"

printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config"
MT=application/vnd.oci.image.manifest.v1+json
publish() { # repo manifest-file layer-file... -> pushes an image tagged 1.0; prints the layer digests
  local repo=$1 out=$2 config layers='[]' file digest
  shift 2
  config=$(push_blob "$UPSTREAM" "$repo" "$WORK/config")
  for file in "$@"; do
    digest=$(push_blob "$UPSTREAM" "$repo" "$file")
    layers=$(jq -c --arg d "$digest" --argjson s "$(stat -c %s "$file")" \
      '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$d,size:$s}]' <<<"$layers")
    echo "$digest"
  done
  jq -cn --arg c "$config" --argjson cs "$(stat -c %s "$WORK/config")" --argjson l "$layers" --arg mt "$MT" \
    '{schemaVersion:2, mediaType:$mt, config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs}, layers:$l}' \
    | tr -d '\n' >"$out"
  curl -sf -X PUT -H "Content-Type: $MT" --data-binary "@$out" "$UPSTREAM/v2/$repo/manifests/1.0" -o /dev/null
}

echo "== publishing acme/api:1.0 (a ${BLOB_KB} KiB and a ${BIG_MB} MiB layer) and $COLD_ROUNDS images of one fresh ${BIG_MB} MiB layer" >&2
head -c "$((BLOB_KB * 1024))" /dev/urandom >"$WORK/layer"
head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$WORK/big"
mapfile -t API_LAYERS < <(publish acme/api "$WORK/manifest" "$WORK/layer" "$WORK/big")
LAYER=${API_LAYERS[0]}
BIG=${API_LAYERS[1]}
COLD=()
for ((i = 1; i <= COLD_ROUNDS; i++)); do
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$WORK/cold"
  COLD+=("$(publish "acme/cold$i" "$WORK/cold-manifest" "$WORK/cold")")
done
rm -f "$WORK/cold"

echo "== starting nginx (static files, sendfile on)" >&2
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
chmod 755 "$WORK" # nginx started by root serves as an unprivileged user
ln "$WORK/layer" "$WORK/nginx/www/layer"
ln "$WORK/big" "$WORK/nginx/www/big"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes $(nproc);
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/www; }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
wait_http "http://127.0.0.1:$NGINX_PORT/layer"

echo "== starting vouch-proxy" >&2
cat >"$WORK/vouch.toml" <<EOF
[server]
listen = "127.0.0.1:$VOUCH_PORT"
public_scheme = "http"
[state]
dir = "$WORK/vouch"
[rate_limit]
requests_per_second = 0
[[upstreams]]
name = "up.test"
url = "$UPSTREAM"
insecure_allow_http = true
EOF
V=("$BIN" --config "$WORK/vouch.toml")
"${V[@]}" app add acme --allow up.test/acme >/dev/null
"${V[@]}" channel add-version --app acme --channel stable --version 1.0 >/dev/null
LICENSE=$("${V[@]}" license create --app acme --email bench@example.com --channel stable --expires never 2>/dev/null)
VOUCH_PROXY_LOG=error "${V[@]}" serve 2>"$WORK/vouch.log" &
VOUCH_PID=$!
PIDS+=("$VOUCH_PID")
wait_http "http://127.0.0.1:$VOUCH_PORT/healthz"
NAME=proxy/acme/up.test/acme/api
TOKEN=$(curl -sf -u "bench@example.com:$LICENSE" \
  "http://127.0.0.1:$VOUCH_PORT/v2/token?service=x&scope=repository:$NAME:pull" | jq -r .token)

ACCEPT="Accept: $MT"
declare -A URLS=(
  [direct_manifest]="http://127.0.0.1:$UPSTREAM_PORT/v2/acme/api/manifests/1.0"
  [direct_blob]="http://127.0.0.1:$UPSTREAM_PORT/v2/acme/api/blobs/$LAYER"
  [peer_manifest]="http://127.0.0.1:$PEER_PROXY_PORT/v2/acme/api/manifests/1.0"
  [peer_blob]="http://127.0.0.1:$PEER_PROXY_PORT/v2/acme/api/blobs/$LAYER"
  [vouch_manifest]="http://127.0.0.1:$VOUCH_PORT/v2/$NAME/manifests/1.0"
  [vouch_blob]="http://127.0.0.1:$VOUCH_PORT/v2/$NAME/blobs/$LAYER"
  [nginx_blob]="http://127.0.0.1:$NGINX_PORT/layer"
  [vouch_big]="http://127.0.0.1:$VOUCH_PORT/v2/$NAME/blobs/$BIG"
  [nginx_big]="http://127.0.0.1:$NGINX_PORT/big"
)
# Warm both caches and check every URL answers 200 with the right bytes.
for key in "${!URLS[@]}"; do
  auth=()
  case $key in vouch_*) auth=(-H "Authorization: Bearer $TOKEN") ;; esac
  for _ in 1 2; do
    got=$(curl -s -o "$WORK/check" -w '%{http_code}' -H "$ACCEPT" "${auth[@]}" "${URLS[$key]}")
    [ "$got" = 200 ] || { echo "$key answered $got: $(head -c 300 "$WORK/check")" >&2; exit 1; }
  done
  case $key in
    *_blob) cmp -s "$WORK/check" "$WORK/layer" || { echo "$key served wrong bytes" >&2; exit 1; } ;;
    *_big) cmp -s "$WORK/check" "$WORK/big" || { echo "$key served wrong bytes" >&2; exit 1; } ;;
    *_manifest) cmp -s "$WORK/check" "$WORK/manifest" || { echo "$key served wrong bytes" >&2; exit 1; } ;;
  esac
done

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A RPS P99 CPU_US
run() { # key [header]  (CONNECTIONS may be set for one run)
  local out before=0 requests
  case $1 in vouch_*) before=$(cpu_ticks "$VOUCH_PID") ;; esac
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$ACCEPT" ${2:+-H "$2"} "${URLS[$1]}")
  if echo "$out" | grep -q 'Non-2xx'; then
    echo "$1: non-2xx answers during the run:" >&2
    echo "$out" >&2
    exit 1
  fi
  RPS[$1]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  P99[$1]=$(echo "$out" | awk '$1=="99%" {print $2}')
  CPU_US[$1]=-
  case $1 in vouch_*)
    # CPU per request is steadier than requests/s on a shared machine.
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    CPU_US[$1]=$(awk -v t="$(($(cpu_ticks "$VOUCH_PID") - before))" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
      'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
    ;;
  esac
  printf '%-16s %10s req/s   p99 %s   CPU %s us/request\n' "$1" "${RPS[$1]}" "${P99[$1]}" "${CPU_US[$1]}" >&2
}

echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
for kind in manifest blob; do
  run "direct_$kind"
  run "peer_$kind"
  run "vouch_$kind" "Authorization: Bearer $TOKEN"
done
# Basic auth on every request (HMAC + cache per request) for comparison.
URLS[vouch_basic_blob]=${URLS[vouch_blob]}
run vouch_basic_blob "Authorization: Basic $(printf 'bench@example.com:%s' "$LICENSE" | base64 -w0)"
# nginx and vouch-proxy alternate, twice, so that neither gets the quieter moment.
declare -A BEST
for _ in 1 2; do
  for key in nginx_blob vouch_blob nginx_big vouch_big; do
    auth=
    case $key in vouch_*) auth="Authorization: Bearer $TOKEN" ;; esac
    case $key in *_big) CONNECTIONS=$BIG_CONNECTIONS run "$key" "$auth" ;; *) run "$key" "$auth" ;; esac
    BEST[$key]=$(awk -v a="${BEST[$key]:-0}" -v b="${RPS[$key]}" 'BEGIN { print (b > a ? b : a) }')
  done
done

# Cold pulls: the manifest first (as a client does, and so the proxy knows the
# blob is entitled), then the blob, timed, through the proxy and directly.
BASIC="Authorization: Basic $(printf 'bench@example.com:%s' "$LICENSE" | base64 -w0)"
seconds() { curl -sf -o "$WORK/check" -w '%{time_total}' "$@"; }
COLD_DIRECT=0
COLD_VOUCH=0
COLD_TICKS=0
for ((i = 1; i <= COLD_ROUNDS; i++)); do
  blob=${COLD[$((i - 1))]}
  direct=$(seconds "$UPSTREAM/v2/acme/cold$i/blobs/$blob")
  [ "sha256:$(sha256sum "$WORK/check" | cut -d' ' -f1)" = "$blob" ] || { echo "cold pull $i: wrong bytes from the upstream" >&2; exit 1; }
  curl -sf -o /dev/null -H "$ACCEPT" -H "$BASIC" "http://127.0.0.1:$VOUCH_PORT/v2/proxy/acme/up.test/acme/cold$i/manifests/1.0"
  before=$(cpu_ticks "$VOUCH_PID")
  through=$(seconds -H "$BASIC" "http://127.0.0.1:$VOUCH_PORT/v2/proxy/acme/up.test/acme/cold$i/blobs/$blob")
  COLD_TICKS=$((COLD_TICKS + $(cpu_ticks "$VOUCH_PID") - before))
  [ "sha256:$(sha256sum "$WORK/check" | cut -d' ' -f1)" = "$blob" ] || { echo "cold pull $i: wrong bytes from vouch-proxy" >&2; exit 1; }
  printf 'cold pull %s: upstream directly %ss, through vouch-proxy %ss\n' "$i" "$direct" "$through" >&2
  COLD_DIRECT=$(awk -v a="$COLD_DIRECT" -v b="$direct" 'BEGIN { print a + b }')
  COLD_VOUCH=$(awk -v a="$COLD_VOUCH" -v b="$through" 'BEGIN { print a + b }')
done

RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$VOUCH_PID/status")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "cached GETs, ${BLOB_KB} KiB blob, $CONNECTIONS connections, $DURATION each, $(nproc) cores (shared with wrk)"
printf '%-10s %-26s %12s %10s\n' kind target req/s p99
for kind in manifest blob; do
  printf '%-10s %-26s %12s %10s\n' "$kind" "docker-registry direct" "${RPS[direct_$kind]}" "${P99[direct_$kind]}"
  printf '%-10s %-26s %12s %10s\n' "$kind" "docker-registry proxy" "${RPS[peer_$kind]}" "${P99[peer_$kind]}"
  printf '%-10s %-26s %12s %10s\n' "$kind" "vouch-proxy (bearer)" "${RPS[vouch_$kind]}" "${P99[vouch_$kind]}"
done
printf '%-10s %-26s %12s %10s\n' blob "vouch-proxy (basic)" "${RPS[vouch_basic_blob]}" "${P99[vouch_basic_blob]}"
echo "vouch-proxy CPU per request: manifest ${CPU_US[vouch_manifest]} us, ${BLOB_KB} KiB blob ${CPU_US[vouch_blob]} us"
echo
for kind in manifest blob; do
  echo "$kind: vouch-proxy / docker-registry direct = $(ratio "${RPS[vouch_$kind]}" "${RPS[direct_$kind]}")x (goal >= 1.0x);" \
    "vouch-proxy / docker-registry proxy = $(ratio "${RPS[vouch_$kind]}" "${RPS[peer_$kind]}")x (goal >= 2x)"
done
mib_s() { awk -v r="$1" -v mb="$BIG_MB" 'BEGIN { printf "%.0f", r * mb }'; }
echo "blob ${BLOB_KB} KiB, $CONNECTIONS connections, best of two: vouch-proxy ${BEST[vouch_blob]} req/s, nginx ${BEST[nginx_blob]} req/s:" \
  "vouch-proxy / nginx = $(ratio "${BEST[vouch_blob]}" "${BEST[nginx_blob]}")x (goal >= 0.5x)"
echo "blob ${BIG_MB} MiB, $BIG_CONNECTIONS connections, best of two: vouch-proxy $(mib_s "${BEST[vouch_big]}") MiB/s, nginx $(mib_s "${BEST[nginx_big]}") MiB/s:" \
  "vouch-proxy / nginx = $(ratio "${BEST[vouch_big]}" "${BEST[nginx_big]}")x (goal >= 0.5x)"
echo "cold pull of a ${BIG_MB} MiB blob, $COLD_ROUNDS rounds: through vouch-proxy ${COLD_VOUCH}s, from the upstream directly ${COLD_DIRECT}s:" \
  "vouch-proxy / direct = $(ratio "$COLD_VOUCH" "$COLD_DIRECT")x (goal <= 1.2x);" \
  "vouch-proxy CPU $(awk -v t="$COLD_TICKS" -v hz="$(getconf CLK_TCK)" -v n="$COLD_ROUNDS" 'BEGIN { printf "%.0f", t / hz * 1e3 / n }') ms per cold pull"
echo "vouch-proxy peak RSS: $((RSS_KB / 1024)) MiB (goal < 64 MiB)"

[ "${SCALE_OUT:-1}" = 1 ] || exit 0

# ---- scale-out: replicas on PostgreSQL + S3 (moto) --------------------------------
echo
echo "== scale-out: starting PostgreSQL and moto" >&2
# shellcheck source=../scripts/lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=../scripts/lib/s3.sh
. scripts/lib/s3.sh
start_postgres >&2
ensure_moto >&2
start_s3 "$WORK/moto" >&2
# A database of its own (the test role may create databases, not tables in `postgres`).
"$(postgres_bin)/createdb" --maintenance-db="$VOUCH_TEST_DATABASE_URL" vouch_bench
BENCH_DATABASE_URL=${VOUCH_TEST_DATABASE_URL%/*}/vouch_bench

replica_config() { # name port license_cache_secs backend(pg|sqlite)
  local file="$WORK/$1.toml"
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\npublic_scheme = "http"\nlicense_cache_secs = %s\n' "$2" "$3"
    printf '[state]\ndir = "%s"\nsecret_file = "%s"\n' "$WORK/$1" "$WORK/shared-secret.key"
    if [ "$4" = pg ]; then
      printf 'database_url = "%s"\n' "$BENCH_DATABASE_URL"
      # Manifests come from S3Store's memory after the first read; blobs are
      # answered with a presigned 307 (moto, a Python server, would otherwise
      # be what is measured).
      printf '[cache]\nstore = "s3://%s/bench"\n' "$VOUCH_TEST_S3_BUCKET"
      printf '[cache.s3]\nendpoint = "%s"\ninsecure_allow_http = true\n' "$VOUCH_TEST_S3_ENDPOINT"
      printf 'access_key_id = "%s"\nsecret_access_key = "%s"\nserve = "redirect"\n' \
        "$VOUCH_TEST_S3_ACCESS_KEY_ID" "$VOUCH_TEST_S3_SECRET_ACCESS_KEY"
    fi
    printf '[rate_limit]\nrequests_per_second = 0\n'
    printf '[[upstreams]]\nname = "up.test"\nurl = "%s"\ninsecure_allow_http = true\n' "$UPSTREAM"
  } >"$file"
  echo "$file"
}

start_replica() { # name license_cache_secs backend -> sets REPLICA_PORT
  REPLICA_PORT=$(free_port)
  local cfg
  cfg=$(replica_config "$1" "$REPLICA_PORT" "$2" "$3")
  VOUCH_PROXY_LOG=error "$BIN" --config "$cfg" serve 2>"$WORK/$1.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$REPLICA_PORT/healthz"
}

license_for() { # config -> prints the license ID of a fresh app + channel + license
  local admin=("$BIN" --config "$1")
  "${admin[@]}" app add acme --allow up.test/acme >/dev/null
  "${admin[@]}" channel add-version --app acme --channel stable --version 1.0 >/dev/null
  "${admin[@]}" license create --app acme --email bench@example.com --channel stable --expires never 2>/dev/null
}

PG_LICENSE=$(license_for "$(replica_config admin 1 5 pg)")
PG_BASIC="Authorization: Basic $(printf 'bench@example.com:%s' "$PG_LICENSE" | base64 -w0)"

PORTS=()
for n in 1 2 3; do
  start_replica "replica-$n" 5 pg
  PORTS+=("$REPLICA_PORT")
  # Warm: the first replica fills S3, the others read what it stored.
  for path in manifests/1.0 "blobs/$LAYER"; do
    got=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" -H "$PG_BASIC" "http://127.0.0.1:$REPLICA_PORT/v2/$NAME/$path")
    case "$got" in 200 | 307) ;; *) echo "replica-$n $path answered $got" >&2; exit 1 ;; esac
  done
done
# One token, from replica 1, used on every replica (they share the secret).
PG_TOKEN=$(curl -sf -u "bench@example.com:$PG_LICENSE" \
  "http://127.0.0.1:${PORTS[0]}/v2/token?service=x&scope=repository:$NAME:pull" | jq -r .token)

# R replicas, each driven by its own wrk (one thread, CONNECTIONS/R connections):
# the sum of their requests/s. Non-2xx is expected only for the 307s.
replicas_rps() { # replicas path
  local r=$1 total=0 i rps wrk_pids=()
  for ((i = 0; i < r; i++)); do
    wrk -t1 -c$((CONNECTIONS / r)) -d"$DURATION" -H "$ACCEPT" -H "Authorization: Bearer $PG_TOKEN" \
      "http://127.0.0.1:${PORTS[$i]}/v2/$NAME/$2" >"$WORK/wrk-$i.out" &
    wrk_pids+=($!)
  done
  wait "${wrk_pids[@]}"
  for ((i = 0; i < r; i++)); do
    if [ "$2" = manifests/1.0 ] && grep -q 'Non-2xx' "$WORK/wrk-$i.out"; then
      echo "replica $((i + 1)): non-2xx answers" >&2
      cat "$WORK/wrk-$i.out" >&2
      exit 1
    fi
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-$i.out")
    total=$(awk -v a="$total" -v b="$rps" 'BEGIN { printf "%.0f", a + b }')
  done
  echo "$total"
}

echo "== scale-out: wrk on 1, 2, 3 replicas (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
declare -A SCALE
for r in 1 2 3; do
  SCALE[manifest_$r]=$(replicas_rps "$r" manifests/1.0)
  SCALE[redirect_$r]=$(replicas_rps "$r" "blobs/$LAYER")
  echo "replicas=$r: manifest ${SCALE[manifest_$r]} req/s, blob 307 ${SCALE[redirect_$r]} req/s" >&2
done

# The license checked in the state database on every request (cache off):
# Postgres vs SQLite, one server each, Basic auth.
start_replica auth-pg 0 pg
AUTH_PG_PORT=$REPLICA_PORT
SQ_LICENSE=$(license_for "$(replica_config auth-sqlite 1 0 sqlite)")
start_replica auth-sqlite 0 sqlite
AUTH_SQLITE_PORT=$REPLICA_PORT
SQ_BASIC="Authorization: Basic $(printf 'bench@example.com:%s' "$SQ_LICENSE" | base64 -w0)"
auth_rps() { # port header
  curl -sf -o /dev/null -H "$ACCEPT" -H "$2" "http://127.0.0.1:$1/v2/$NAME/manifests/1.0"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "$ACCEPT" -H "$2" \
    "http://127.0.0.1:$1/v2/$NAME/manifests/1.0" | awk '/Requests\/sec/ {print $2}'
}
AUTH_SQLITE=$(auth_rps "$AUTH_SQLITE_PORT" "$SQ_BASIC")
AUTH_PG=$(auth_rps "$AUTH_PG_PORT" "$PG_BASIC")

echo
echo "scale-out on $(nproc) cores (wrk, PostgreSQL and moto share them): cached GETs, bearer token"
printf '%-9s %16s %14s %18s\n' replicas "manifest req/s" "vs 1 replica" "blob 307 req/s"
for r in 1 2 3; do
  printf '%-9s %16s %13sx %18s\n' "$r" "${SCALE[manifest_$r]}" \
    "$(ratio "${SCALE[manifest_$r]}" "${SCALE[manifest_1]}")" "${SCALE[redirect_$r]}"
done
echo
echo "license looked up on every request (license_cache_secs = 0, Basic auth, manifest GET):"
echo "  SQLite    $AUTH_SQLITE req/s"
echo "  Postgres  $AUTH_PG req/s ($(ratio "$AUTH_PG" "$AUTH_SQLITE")x of SQLite:" \
  "$(awk -v p="$AUTH_PG" -v s="$AUTH_SQLITE" 'BEGIN { printf "%.0f", 1e6 / p - 1e6 / s }') us more per request at saturation)"
echo "  with the default 5 s license cache neither database is on the request path."

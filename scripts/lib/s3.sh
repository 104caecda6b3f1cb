# Shell helpers for an S3-compatible server in tests: moto (PyPI `moto[server]`,
# https://github.com/getmoto/moto) in server mode on 127.0.0.1. Source it; needs bash,
# python3 (with venv) and curl.
#
#   ensure_moto           installs moto[server] 5.x into a venv when missing (PyPI through
#                         pip, nothing else); sets MOTO_SERVER. Venv: $VOUCH_MOTO_VENV, else
#                         $CARGO_TARGET_DIR/../moto-venv, else target/moto-venv.
#   start_s3 DIR          starts moto_server on a free port (log under DIR), creates the test
#                         bucket and exports what the tests read:
#                           VOUCH_TEST_S3_ENDPOINT   http://127.0.0.1:<port>
#                           VOUCH_TEST_S3_BUCKET     vouch-test
#                           VOUCH_TEST_S3_REGION     us-east-1
#                           VOUCH_TEST_S3_ACCESS_KEY_ID / VOUCH_TEST_S3_SECRET_ACCESS_KEY
#                         (moto accepts any credentials); sets S3_PID
#   start_s3_on DIR PORT  the same on a given port (a fault test restarting its own
#                         server, empty, where the proxy expects it)
#   create_bucket NAME    creates a bucket on the running server
#   stop_s3               stops it

# moto's major version the tests were written against.
MOTO_REQUIREMENT='moto[server]>=5,<6'

if ! declare -F free_port >/dev/null; then
  free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  }
fi

# shellcheck source=venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

moto_ready() {
  [ -x "$1/bin/moto_server" ] && "$1/bin/python" -c 'import moto' 2>/dev/null
}

ensure_moto() {
  local venv=${VOUCH_MOTO_VENV:-}
  if [ -z "$venv" ]; then
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then venv=$CARGO_TARGET_DIR/../moto-venv; else venv=target/moto-venv; fi
  fi
  ensure_venv ensure_moto "$venv" moto_ready "$MOTO_REQUIREMENT" || return 1
  export MOTO_SERVER=$VENV_DIR/bin/moto_server
}

create_bucket() {
  curl -fsS -o /dev/null -X PUT "$VOUCH_TEST_S3_ENDPOINT/$1"
}

start_s3() {
  start_s3_on "$1" "$(free_port)"
}

start_s3_on() {
  local dir=$1 port=$2
  [ -n "${MOTO_SERVER:-}" ] || ensure_moto || return 1
  mkdir -p "$dir"
  "$MOTO_SERVER" -H 127.0.0.1 -p "$port" > "$dir/moto.log" 2>&1 &
  S3_PID=$!
  export VOUCH_TEST_S3_ENDPOINT=http://127.0.0.1:$port
  export VOUCH_TEST_S3_BUCKET=vouch-test
  export VOUCH_TEST_S3_REGION=us-east-1
  export VOUCH_TEST_S3_ACCESS_KEY_ID=vouch-test-key
  export VOUCH_TEST_S3_SECRET_ACCESS_KEY=vouch-test-secret
  for _ in $(seq 200); do
    if curl -s -o /dev/null "$VOUCH_TEST_S3_ENDPOINT/"; then
      create_bucket "$VOUCH_TEST_S3_BUCKET" && return 0
      break
    fi
    sleep 0.05
  done
  echo "moto_server did not start; its log:" >&2
  cat "$dir/moto.log" >&2
  stop_s3
  return 1
}

stop_s3() {
  if [ -n "${S3_PID:-}" ]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
  fi
  S3_PID=
}

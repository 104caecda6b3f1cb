# Shell helpers shared by scripts/demo and bench/*.sh. Source it; needs bash.
#
#   start_registry DIR [USER PASSWORD]   starts Debian's docker-registry on 127.0.0.1 on a
#                                        free port, storage and log under DIR; sets
#                                        REGISTRY_HOST and REGISTRY_PID. With
#                                        REGISTRY_TLS_CERT, REGISTRY_TLS_KEY and REGISTRY_CA
#                                        (PEM files) set, it serves HTTPS with that
#                                        certificate, and the CA is what the readiness
#                                        check trusts
#   stop_registry                        stops it
#   proxy_upstream_toml NAME USER PASS   prints vouch-proxy's settings (no rate limit, one
#                                        [[upstreams]]) for the registry started above
#                                        under upstream NAME, with basic-auth credentials

proxy_upstream_toml() {
  cat <<TOML
[rate_limit]
requests_per_second = 0
[[upstreams]]
name = "$1"
url = "http://$REGISTRY_HOST"
insecure_allow_http = true
username = "$2"
password = "$3"
TOML
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_registry() {
  local dir=$1 user=${2:-} pass=${3:-} port
  port=$(free_port)
  mkdir -p "$dir/storage"
  {
    echo "version: 0.1"
    echo "log: {level: error, accesslog: {disabled: ${ACCESS_LOG:-true}}}"
    echo "storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}"
    if [ -n "${REGISTRY_TLS_CERT:-}" ]; then
      echo "http: {addr: 127.0.0.1:$port, tls: {certificate: $REGISTRY_TLS_CERT, key: $REGISTRY_TLS_KEY}}"
    else
      echo "http: {addr: 127.0.0.1:$port}"
    fi
    if [ -n "$user" ]; then
      htpasswd -Bbn "$user" "$pass" > "$dir/htpasswd"
      echo "auth: {htpasswd: {realm: vouch, path: $dir/htpasswd}}"
    fi
  } > "$dir/config.yml"
  docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  REGISTRY_HOST=127.0.0.1:$port
  for _ in $(seq 200); do
    if [ -n "${REGISTRY_TLS_CERT:-}" ]; then
      curl -s -o /dev/null --cacert "$REGISTRY_CA" "https://$REGISTRY_HOST/v2/" && return 0
    else
      curl -s -o /dev/null "http://$REGISTRY_HOST/v2/" && return 0
    fi
    sleep 0.05
  done
  echo "docker-registry did not start; its log:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

stop_registry() {
  [ -n "${REGISTRY_PID:-}" ] && kill "$REGISTRY_PID" 2>/dev/null
  REGISTRY_PID=
}

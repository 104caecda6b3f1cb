# A throwaway PostgreSQL cluster for tests, from Debian's `postgresql`
# package. Source it; needs bash.
#
#   start_postgres   initdb into a fresh temp dir, listen on 127.0.0.1 only on
#                    a free port (no Unix socket in /var/run), a password-auth
#                    test role that may create databases (each test makes its
#                    own); exports VOUCH_TEST_DATABASE_URL and sets
#                    POSTGRES_DIR
#   stop_postgres    stops it and deletes the directory (idempotent; call it
#                    from an EXIT trap)
#   pause_postgres DIR         stops the server of the cluster in DIR (a
#                              POSTGRES_DIR), keeping its data (fault tests)
#   resume_postgres DIR PORT   starts it again on the same data and port
#
# Run as root (CI), the cluster belongs to the `postgres` OS user (the
# package creates it; initdb refuses root) and its commands run through
# `runuser -u postgres --`. Run as anyone else, it belongs to that user.

# How long to wait for the server to accept connections (pg_ctl -t, seconds):
# it starts in ~1 s here; a loaded CI machine may need much longer.
POSTGRES_START_TIMEOUT=60

postgres_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run scripts/install-test-deps as root" >&2
    return 1
  fi
  echo "$dir"
}

postgres_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts the server of the cluster in $2 (initdb done) on port $3.
postgres_server_start() {
  local bin=$1 dir=$2 port=$3
  postgres_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -t "$POSTGRES_START_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
    start > /dev/null || {
    echo "PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2
    return 1
  }
}

pause_postgres() {
  local bin
  bin=$(postgres_bin) || return 1
  postgres_as_owner "$bin/pg_ctl" -D "$1/data" -m fast -w stop > /dev/null
}

resume_postgres() {
  local bin
  bin=$(postgres_bin) || return 1
  postgres_server_start "$bin" "$1" "$2"
}

start_postgres() {
  local bin port password
  bin=$(postgres_bin) || return 1
  command -v free_port >/dev/null || free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  }
  port=$(free_port)
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  POSTGRES_DIR=$(mktemp -d /tmp/vouch-postgres.XXXXXX)
  chmod 755 "$POSTGRES_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$POSTGRES_DIR"
  (umask 077; printf '%s\n' "$password" > "$POSTGRES_DIR/pwfile")
  [ "$(id -u)" = 0 ] && chown postgres: "$POSTGRES_DIR/pwfile"
  # The superuser is `postgres`, with the same random password; scram on
  # loopback TCP only (there is no socket directory anyone else can reach).
  postgres_as_owner "$bin/initdb" -D "$POSTGRES_DIR/data" -U postgres --pwfile="$POSTGRES_DIR/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 > "$POSTGRES_DIR/initdb.log" 2>&1 || {
    echo "initdb failed; its log:" >&2
    cat "$POSTGRES_DIR/initdb.log" >&2
    return 1
  }
  postgres_server_start "$bin" "$POSTGRES_DIR" "$port" || return 1
  PGPASSWORD=$password postgres_as_owner "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -c "CREATE ROLE vouch_test LOGIN CREATEDB PASSWORD '$password'" > /dev/null || return 1
  export VOUCH_TEST_DATABASE_URL="postgres://vouch_test:$password@127.0.0.1:$port/postgres"
}

stop_postgres() {
  local bin
  if [ -n "${POSTGRES_DIR:-}" ] && [ -d "$POSTGRES_DIR" ]; then
    bin=$(postgres_bin) && postgres_as_owner "$bin/pg_ctl" -D "$POSTGRES_DIR/data" -m immediate stop > /dev/null 2>&1
    rm -rf "$POSTGRES_DIR"
  fi
  POSTGRES_DIR=
}

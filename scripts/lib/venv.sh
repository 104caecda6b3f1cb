# A Python virtual environment with the packages a test or benchmark needs.
# Source it; needs bash and python3 (with its venv module).
#
#   ensure_venv LABEL VENV READY REQUIREMENT...
#       Unless `READY <venv>` succeeds, creates VENV and pip-installs the
#       requirements (PyPI, nothing else), then checks READY again. One caller
#       at a time (a lock file beside VENV: several test binaries may start at
#       once). Messages go to stderr, prefixed with LABEL. Sets VENV_DIR to the
#       absolute path of VENV. Returns 1, saying why, when python3, its venv
#       module or pip fails, or VENV exists and is not a venv (left alone); the
#       caller decides whether that skips (locally) or fails (CI=true).

ensure_venv() {
  local label=$1 venv=$2 ready=$3
  shift 3
  mkdir -p "$(dirname "$venv")" || return 1
  VENV_DIR="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"
  (
    exec 9>"$VENV_DIR.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if "$ready" "$VENV_DIR"; then exit 0; fi
    echo "$label: installing $* into $VENV_DIR" >&2
    if ! command -v python3 >/dev/null 2>&1; then
      echo "$label: python3 not found" >&2
      exit 1
    fi
    if [[ -e "$VENV_DIR" && ! -f "$VENV_DIR/pyvenv.cfg" ]]; then
      echo "$label: $VENV_DIR exists and is not a Python venv; not touching it" >&2
      exit 1
    fi
    if ! python3 -m venv "$VENV_DIR" >&2; then
      echo "$label: python3 -m venv failed" >&2
      exit 1
    fi
    if ! "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check "$@" >&2; then
      echo "$label: pip install $* failed" >&2
      exit 1
    fi
    if ! "$ready" "$VENV_DIR"; then
      echo "$label: still not usable after installing $*" >&2
      exit 1
    fi
  )
}

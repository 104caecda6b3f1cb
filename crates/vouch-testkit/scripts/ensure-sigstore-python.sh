#!/usr/bin/env bash
# Ensure a Python virtual environment with sigstore-python 4.x exists, for the
# vouch-testkit honesty test (tests/sigstore_python.rs), and print the path of
# its `sigstore` executable on the last line of stdout.
#
# Venv location, first that applies:
#   1. the first argument,
#   2. $VOUCH_SIGSTORE_VENV,
#   3. $CARGO_TARGET_DIR/../sigstore-venv when CARGO_TARGET_DIR is set,
#   4. <workspace root>/target/sigstore-venv.
#
# Exit status: 0 when `sigstore` is ready; 1 when it could not be installed
# (no python3, no venv module, or pip failed, e.g. without network). The
# caller decides whether that is a skip or a failure.
#
# Network: only PyPI, through pip, and only when the venv is missing or broken.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace_root="$(cd "$script_dir/../../.." && pwd)"

if [[ $# -ge 1 && -n "$1" ]]; then
    venv="$1"
elif [[ -n "${VOUCH_SIGSTORE_VENV:-}" ]]; then
    venv="$VOUCH_SIGSTORE_VENV"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    venv="$CARGO_TARGET_DIR/../sigstore-venv"
else
    venv="$workspace_root/target/sigstore-venv"
fi

# sigstore-python major version the test was written against.
readonly requirement='sigstore>=4,<5'

is_ready() {
    [[ -x "$venv/bin/sigstore" ]] &&
        "$venv/bin/python" -c 'import sys, sigstore; sys.exit(0 if sigstore.__version__.startswith("4.") else 1)' \
            >/dev/null 2>&1
}

mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

# Serialise concurrent callers (several test binaries may start at once).
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

if ! is_ready; then
    echo "ensure-sigstore-python: installing '$requirement' into $venv" >&2
    if ! command -v python3 >/dev/null 2>&1; then
        echo "ensure-sigstore-python: python3 not found" >&2
        exit 1
    fi
    if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" ]]; then
        echo "ensure-sigstore-python: $venv exists and is not a Python venv; not touching it" >&2
        exit 1
    fi
    if ! python3 -m venv "$venv" >&2; then
        echo "ensure-sigstore-python: python3 -m venv failed" >&2
        exit 1
    fi
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$requirement" >&2; then
        echo "ensure-sigstore-python: pip install '$requirement' failed" >&2
        exit 1
    fi
    if ! is_ready; then
        echo "ensure-sigstore-python: sigstore still not importable after install" >&2
        exit 1
    fi
fi

echo "$venv/bin/sigstore"

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
# shellcheck source=../../../scripts/lib/venv.sh
. "$workspace_root/scripts/lib/venv.sh"

if [[ $# -ge 1 && -n "$1" ]]; then
    venv="$1"
elif [[ -n "${VOUCH_SIGSTORE_VENV:-}" ]]; then
    venv="$VOUCH_SIGSTORE_VENV"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    venv="$CARGO_TARGET_DIR/../sigstore-venv"
else
    venv="$workspace_root/target/sigstore-venv"
fi

is_ready() {
    [[ -x "$1/bin/sigstore" ]] &&
        "$1/bin/python" -c 'import sys, sigstore; sys.exit(0 if sigstore.__version__.startswith("4.") else 1)' \
            >/dev/null 2>&1
}

# sigstore-python major version the test was written against.
ensure_venv ensure-sigstore-python "$venv" is_ready 'sigstore>=4,<5' || exit 1
echo "$VENV_DIR/bin/sigstore"

#!/usr/bin/env bash
# Makes sure a Python virtual environment with python-tuf exists, for the TUF
# repository tests (vouch-trust and vouch-cli), and prints the path of its
# python executable on the last line of stdout.
#
# Where the venv goes, first that applies:
#   1. $VOUCH_TUF_VENV,
#   2. $CARGO_TARGET_DIR/../python-tuf-venv when CARGO_TARGET_DIR is set,
#   3. <workspace root>/target/python-tuf-venv.
#
# Exit status 0: ready. 1: python3, its venv module or pip (PyPI) failed; the
# caller decides whether that skips (locally) or fails (CI=true).
# Network: PyPI through pip, only while the venv is missing or broken.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if [[ -n "${VOUCH_TUF_VENV:-}" ]]; then
    venv="$VOUCH_TUF_VENV"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    venv="$CARGO_TARGET_DIR/../python-tuf-venv"
else
    venv="$root/target/python-tuf-venv"
fi

# python-tuf 6 and 7 both have the Metadata API the generator uses;
# securesystemslib[crypto] brings the ed25519 signer.
readonly requirements=('tuf>=6,<8' 'securesystemslib[crypto]')

ready() {
    [[ -x "$venv/bin/python" ]] &&
        "$venv/bin/python" -c 'import tuf.api.metadata, securesystemslib.signer, cryptography' \
            >/dev/null 2>&1
}

mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

# Several test binaries may start at once: one installer at a time.
exec 9>"$venv.lock"
command -v flock >/dev/null 2>&1 && flock 9

if ! ready; then
    echo "ensure-python-tuf: installing ${requirements[*]} into $venv" >&2
    command -v python3 >/dev/null 2>&1 || { echo "ensure-python-tuf: python3 not found" >&2; exit 1; }
    if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" ]]; then
        echo "ensure-python-tuf: $venv exists and is not a venv; leaving it alone" >&2
        exit 1
    fi
    python3 -m venv "$venv" >&2 || { echo "ensure-python-tuf: python3 -m venv failed" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" >&2 ||
        { echo "ensure-python-tuf: pip install failed" >&2; exit 1; }
    ready || { echo "ensure-python-tuf: python-tuf still not importable" >&2; exit 1; }
fi
echo "$venv/bin/python"

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
# shellcheck source=../../../scripts/lib/venv.sh
. "$root/scripts/lib/venv.sh"
if [[ -n "${VOUCH_TUF_VENV:-}" ]]; then
    venv="$VOUCH_TUF_VENV"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    venv="$CARGO_TARGET_DIR/../python-tuf-venv"
else
    venv="$root/target/python-tuf-venv"
fi

ready() {
    [[ -x "$1/bin/python" ]] &&
        "$1/bin/python" -c 'import tuf.api.metadata, securesystemslib.signer, cryptography' \
            >/dev/null 2>&1
}

# python-tuf 6 and 7 both have the Metadata API the generator uses;
# securesystemslib[crypto] brings the ed25519 signer.
ensure_venv ensure-python-tuf "$venv" ready 'tuf>=6,<8' 'securesystemslib[crypto]' || exit 1
echo "$VENV_DIR/bin/python"

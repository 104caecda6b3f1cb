#!/usr/bin/env bash
# bench/verify-blob.sh — offline verify-blob benchmark: vouch vs sigstore-python 4.x and
# sigstore-js.
#
# Usage:
#   bench/verify-blob.sh [--runs N] [--warmup N] [--no-build] [--no-unshare] [--no-hyperfine]
#                        [--no-js]
#
#   --runs N        timed runs per tool (default 20, minimum 10)
#   --warmup N      untimed warm-up runs per tool (default 2)
#   --no-build      skip `cargo build --release --locked -p vouch-cli` (use the existing binary)
#   --no-unshare    do not run the checks and timings inside `unshare -n` (a network namespace
#                   with no interfaces); by default it is used when available, to prove "offline"
#   --no-hyperfine  skip the optional hyperfine cross-check even if hyperfine is installed
#   --no-js         leave sigstore-js out (it is also left out, with a message, without node)
#
# Environment:
#   VOUCH_BENCH_FIXTURES  fixture directory (default: <repo>/../shared/fixtures, read in place)
#   VOUCH_BENCH_VENV      sigstore-python venv (default: <repo>/bench/.venv, gitignored)
#   VOUCH_BENCH_NODE      sigstore-js install directory (default: <repo>/bench/.node, gitignored)
#   CARGO_TARGET_DIR      honoured if set; otherwise <repo>/target (the shared target dir)
#
# What it does:
#   1. builds vouch in release mode;
#   2. installs sigstore-python ('sigstore>=4,<5') into the venv if it is missing, and the
#      sigstore-js libraries pinned in bench/lib/package-lock.json (`npm ci`) into VOUCH_BENCH_NODE
#      if they are missing or the lock file changed;
#   3. writes a sigstore-python ClientTrustConfig (production trusted_root + signing_config) to a
#      temp dir, so all tools trust the very same production trusted root, fully offline
#      (sigstore-js through bench/lib/sigstore-js-verify.mjs, which takes trusted_root.json);
#   4. checks that every tool ACCEPTS the conformance bundle happy-path-v0.3 (hashedrekord,
#      messageSignature, inclusion proof with checkpoint + SET) and REJECTS a tampered copy of
#      the artifact and the signature-mismatch_fail bundle — so the timings are of real
#      verification; a tool that accepts a bad one aborts the benchmark;
#   5. if `hyperfine` is installed, runs it as an independent cross-check (output on stderr);
#   6. runs sigstore-js with --time and prints the median of where its time goes (node start-up,
#      loading the libraries, parsing, the cold verify, a warm in-process verify);
#   7. times all tools, interleaved, with a small Python loop (subprocess + time.perf_counter, peak
#      RSS from os.wait4) and prints median/mean per tool and, last, the ratios sigstore-python /
#      vouch and sigstore-js / vouch.
#
# Needs: cargo, python3 (>= 3.9, with venv + pip), node >= 20.17 and npm (optional: sigstore-js),
# network access for the one-time pip and npm installs.
set -euo pipefail

RUNS=20
WARMUP=2
BUILD=1
USE_UNSHARE=1
USE_HYPERFINE=1
USE_JS=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-unshare) USE_UNSHARE=0; shift ;;
        --no-hyperfine) USE_HYPERFINE=0; shift ;;
        --no-js) USE_JS=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ "$RUNS" =~ ^[0-9]+$ ]] || (( RUNS < 10 )); then
    echo "--runs must be an integer >= 10" >&2; exit 2
fi
if ! [[ "$WARMUP" =~ ^[0-9]+$ ]]; then
    echo "--warmup must be a non-negative integer" >&2; exit 2
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIXTURES="${VOUCH_BENCH_FIXTURES:-$REPO_ROOT/../shared/fixtures}"
VENV="${VOUCH_BENCH_VENV:-$REPO_ROOT/bench/.venv}"
NODE_DIR="${VOUCH_BENCH_NODE:-$REPO_ROOT/bench/.node}"
JS_VERIFY="$REPO_ROOT/bench/lib/sigstore-js-verify.mjs"
VOUCH="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/vouch"

CASE_DIR="$FIXTURES/sigstore-conformance/test/assets/bundle-verify/happy-path-v0.3"
BUNDLE="$CASE_DIR/bundle.sigstore.json"
ARTIFACT="$CASE_DIR/../a.txt"
TRUSTED_ROOT="$FIXTURES/trust/production-trusted_root.json"
SIGNING_CONFIG="$FIXTURES/trust/production-signing_config.v0.2.json"
IDENTITY="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
ISSUER="https://token.actions.githubusercontent.com"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for f in "$BUNDLE" "$ARTIFACT" "$TRUSTED_ROOT" "$SIGNING_CONFIG"; do
    [[ -f "$f" ]] || die "missing fixture: $f"
done

# ---------------------------------------------------------------------------------------------
# 1. Build vouch (release). The tree is edited concurrently: retry a few times on failure.
if (( BUILD )); then
    log "cargo build --release --locked -p vouch-cli"
    attempt=1
    until (cd "$REPO_ROOT" && cargo build --release --locked -p vouch-cli); do
        (( attempt >= 5 )) && die "cargo build failed $attempt times"
        log "build failed (attempt $attempt); retrying in 60 s"
        attempt=$((attempt + 1))
        sleep 60
    done
fi
[[ -x "$VOUCH" ]] || die "vouch binary not found at $VOUCH (build it, or drop --no-build)"

# ---------------------------------------------------------------------------------------------
# 2. sigstore-python 4.x in a venv.
SIGSTORE="$VENV/bin/sigstore"
if ! { [[ -x "$SIGSTORE" ]] && "$SIGSTORE" --version 2>/dev/null | grep -Eq ' 4\.'; }; then
    log "installing sigstore-python 4.x into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'sigstore>=4,<5'
fi
"$SIGSTORE" --version 2>/dev/null | grep -Eq ' 4\.' || die "sigstore-python 4.x not usable at $SIGSTORE"

# sigstore-js: the exact versions in bench/lib/package-lock.json, installed with `npm ci` (which
# installs what the lock file says and nothing else) into NODE_DIR; reinstalled when the lock
# file changes. Lifecycle scripts are not run (none of these packages has one).
if (( USE_JS )); then
    if ! command -v node >/dev/null; then
        log "node not found: leaving sigstore-js out (install Node.js >= 20.17 and npm, or pass --no-js)"
        USE_JS=0
    elif ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
            process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)'; then
        log "node $(node --version) is older than 20.17 (what the pinned @sigstore packages need): leaving sigstore-js out"
        USE_JS=0
    fi
fi
if (( USE_JS )); then
    # installed-lock.json: a copy of the lock file, written only after `npm ci` succeeded.
    if ! cmp -s "$REPO_ROOT/bench/lib/package-lock.json" "$NODE_DIR/installed-lock.json"; then
        command -v npm >/dev/null || die "npm not found: needed once to install sigstore-js (or pass --no-js)"
        log "installing sigstore-js (bench/lib/package-lock.json) into $NODE_DIR"
        mkdir -p "$NODE_DIR"
        rm -f "$NODE_DIR/installed-lock.json"
        cp "$REPO_ROOT/bench/lib/package.json" "$REPO_ROOT/bench/lib/package-lock.json" "$NODE_DIR/"
        (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
        cp "$NODE_DIR/package-lock.json" "$NODE_DIR/installed-lock.json"
    fi
    export VOUCH_BENCH_NODE="$NODE_DIR"  # where sigstore-js-verify.mjs loads the libraries from
fi

# ---------------------------------------------------------------------------------------------
# 3. Temp dir: ClientTrustConfig for sigstore-python, tampered artifact.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/vouch-bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
TRUST_CONFIG="$TMP/trust_config.json"
python3 - "$TRUSTED_ROOT" "$SIGNING_CONFIG" "$TRUST_CONFIG" <<'PY'
import json, sys
root, signing, out = sys.argv[1:4]
with open(root) as r, open(signing) as s:
    cfg = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.load(r),
        "signingConfig": json.load(s),
    }
with open(out, "w") as o:
    json.dump(cfg, o)
PY
TAMPERED="$TMP/a.txt"
cp "$ARTIFACT" "$TAMPERED"
printf 'x' >>"$TAMPERED"

VOUCH_CMD=("$VOUCH" verify-blob --trusted-root "$TRUSTED_ROOT" --bundle "$BUNDLE"
    --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$ISSUER")
PY_CMD=("$SIGSTORE" --trust-config "$TRUST_CONFIG" verify identity --offline --bundle "$BUNDLE"
    --cert-identity "$IDENTITY" --cert-oidc-issuer "$ISSUER")
# The same identity policy as the two above (exact SAN and issuer); no flag means no network.
JS_CMD=(node "$JS_VERIFY" --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$ISSUER"
    "$TRUSTED_ROOT" "$BUNDLE")

NETNS=()
if (( USE_UNSHARE )); then
    if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
        NETNS=(unshare -n)
        log "checks and timings run inside 'unshare -n' (no network interfaces at all)"
    else
        log "unshare -n unavailable (not root?); relying on --offline / --trusted-root alone"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 4. Sanity checks: every tool accepts the real artifact and rejects a tampered one.
check() { # check NAME EXPECT(accept|reject) CMD...
    local name="$1" expect="$2" rc=0 out
    shift 2
    # COLUMNS: keep sigstore-python's rich logging from wrapping the message we print.
    out="$(COLUMNS=300 "${NETNS[@]}" "$@" 2>&1 </dev/null)" || rc=$?
    local last  # the most telling line: "OK" on accept; a digest mismatch, else an error, on reject
    if [[ "$expect" == accept ]]; then
        last="$(printf '%s\n' "$out" | grep -m1 'OK' || true)"
    else
        last="$(printf '%s\n' "$out" | grep -i -m1 'mismatch' ||
            printf '%s\n' "$out" | grep -iE -m1 'error|fail' || true)"
    fi
    [[ -n "$last" ]] || last="$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 || true)"
    last="$(printf '%s' "$last" | tr -s ' ' | sed 's/^ //')"
    if [[ "$expect" == accept && $rc -ne 0 ]] || [[ "$expect" == reject && $rc -eq 0 ]]; then
        printf '%s\n' "$out" >&2
        die "$name: expected $expect, got exit code $rc"
    fi
    printf '  %-16s %-6s rc=%d  %s\n' "$name" "$expect" "$rc" "${last:0:110}"
}
log "sanity checks"
check vouch accept "${VOUCH_CMD[@]}" "$ARTIFACT"
check sigstore-python accept "${PY_CMD[@]}" "$ARTIFACT"
(( USE_JS )) && check sigstore-js accept "${JS_CMD[@]}" "$ARTIFACT"
check vouch reject "${VOUCH_CMD[@]}" "$TAMPERED"
check sigstore-python reject "${PY_CMD[@]}" "$TAMPERED"
(( USE_JS )) && check sigstore-js reject "${JS_CMD[@]}" "$TAMPERED"
# A bundle whose signature is wrong (right digest): rejecting it needs real ECDSA verification.
BAD_SIG_BUNDLE="$CASE_DIR/../signature-mismatch_fail/bundle.sigstore.json"
if [[ -f "$BAD_SIG_BUNDLE" ]]; then
    check vouch reject "${VOUCH_CMD[@]/#"$BUNDLE"/$BAD_SIG_BUNDLE}" "$ARTIFACT"
    check sigstore-python reject "${PY_CMD[@]/#"$BUNDLE"/$BAD_SIG_BUNDLE}" "$ARTIFACT"
    (( USE_JS )) && check sigstore-js reject "${JS_CMD[@]/#"$BUNDLE"/$BAD_SIG_BUNDLE}" "$ARTIFACT"
fi

# ---------------------------------------------------------------------------------------------
# 5. Environment report.
log "environment"
printf '  date:            %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
printf '  machine:         %s CPU(s), %s, kernel %s\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || echo unknown)" "$(uname -r)"
printf '  load average:    %s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
printf '  vouch:           %s (%s, git %s)\n' "$("$VOUCH" --version)" "$(rustc --version 2>/dev/null || echo 'rustc ?')" \
    "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
printf '  sigstore-python: %s (%s)\n' "$("$SIGSTORE" --version 2>&1)" "$("$VENV/bin/python" --version 2>&1)"
if (( USE_JS )); then
    printf '  sigstore-js:     %s (node %s)\n' "$(node -e '
        const { readFileSync } = require("node:fs");
        const names = ["verify", "bundle", "core", "protobuf-specs"];
        const version = (n) => JSON.parse(readFileSync(`${process.argv[1]}/node_modules/@sigstore/${n}/package.json`)).version;
        console.log(names.map((n) => `@sigstore/${n} ${version(n)}`).join(", "));' "$NODE_DIR")" \
        "$(node --version)"
fi
printf '  bundle:          %s\n' "${BUNDLE#"$FIXTURES/"}"

# ---------------------------------------------------------------------------------------------
# The timed tools: NAME COUNT ARGV... groups, as the timing loop reads them.
TOOLS=(vouch "$((${#VOUCH_CMD[@]} + 1))" "${VOUCH_CMD[@]}" "$ARTIFACT"
    sigstore-python "$((${#PY_CMD[@]} + 1))" "${PY_CMD[@]}" "$ARTIFACT")
HYPERFINE_CMDS=(-n vouch "$(printf '%q ' "${VOUCH_CMD[@]}" "$ARTIFACT")"
    -n sigstore-python "$(printf '%q ' "${PY_CMD[@]}" "$ARTIFACT")")
if (( USE_JS )); then
    TOOLS+=(sigstore-js "$((${#JS_CMD[@]} + 1))" "${JS_CMD[@]}" "$ARTIFACT")
    HYPERFINE_CMDS+=(-n sigstore-js "$(printf '%q ' "${JS_CMD[@]}" "$ARTIFACT")")
fi

# ---------------------------------------------------------------------------------------------
# 6. Optional independent cross-check with hyperfine (no shell, same commands). It runs first so
#    that the last line of output is the ratio from our own loop.
if (( USE_HYPERFINE )) && command -v hyperfine >/dev/null; then
    log "cross-check: $(hyperfine --version)"
    "${NETNS[@]}" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
        "${HYPERFINE_CMDS[@]}" >&2
fi

# ---------------------------------------------------------------------------------------------
# 7. Where sigstore-js spends its time: the script's own --time line, median of RUNS processes.
#    Separate from the timing loop, which sees every tool the same way (output discarded).
if (( USE_JS )); then
    log "sigstore-js breakdown: $RUNS runs with --time"
    "${NETNS[@]}" python3 - "$RUNS" "${JS_CMD[@]}" "$ARTIFACT" <<'PY'
import statistics, subprocess, sys

runs, cmd = int(sys.argv[1]), sys.argv[2:]
cmd = cmd[:2] + ["--time"] + cmd[2:]  # node SCRIPT --time ...
phases = {}
for _ in range(runs):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    line = next((l for l in p.stderr.splitlines() if l.startswith("sigstore-js-time:")), None)
    if p.returncode != 0 or line is None:
        sys.exit(f"sigstore-js --time run failed (exit {p.returncode}): {p.stderr.strip()}")
    for field in line.split()[1:]:
        key, value = field.split("=")
        phases.setdefault(key.removesuffix("_ms"), []).append(float(value))
print()
print(f"sigstore-js in-process breakdown (median of {runs} runs, ms):")
print("  " + "  ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items()))
PY
fi

# ---------------------------------------------------------------------------------------------
# 8. Timing loop: interleaved runs, process wall time, peak RSS per process via wait4().
log "timing: $WARMUP warm-up + $RUNS timed runs per tool (interleaved)"
"${NETNS[@]}" python3 - "$RUNS" "$WARMUP" "${TOOLS[@]}" <<'PY'
import os, statistics, subprocess, sys, time

args = sys.argv[1:]
runs, warmup = int(args[0]), int(args[1])
rest = args[2:]
tools = []  # (name, argv) from NAME COUNT ARGV... groups
while rest:
    name, count = rest[0], int(rest[1])
    tools.append((name, rest[2:2 + count]))
    rest = rest[2 + count:]

def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} exited with {p.returncode} during timing")
    return dt, ru.ru_maxrss, ru.ru_utime + ru.ru_stime  # maxrss in KiB on Linux

for _ in range(warmup):
    for _, cmd in tools:
        run(cmd)
res = {name: [] for name, _ in tools}
for i in range(runs):
    k = i % len(tools)
    order = tools[k:] + tools[:k]  # rotate who goes first (with two tools: alternate)
    for name, cmd in order:
        res[name].append(run(cmd))

def ms(s):
    return f"{s * 1000:9.1f}"

print()
print(f"{'tool':<16} {'runs':>4} {'median ms':>9} {'mean ms':>9} {'stdev':>9} {'min':>9} {'max':>9}"
      f" {'cpu ms':>9} {'peak RSS':>10}")
stats = {}
for name, _ in tools:
    wall = [r[0] for r in res[name]]
    rss = max(r[1] for r in res[name])
    cpu = statistics.median(r[2] for r in res[name])
    med, mean = statistics.median(wall), statistics.mean(wall)
    stats[name] = (med, mean)
    print(f"{name:<16} {len(wall):>4} {ms(med)} {ms(mean)} {ms(statistics.stdev(wall))}"
          f" {ms(min(wall))} {ms(max(wall))} {ms(cpu)} {rss / 1024:>7.1f} MiB")
print()
vm, va = stats["vouch"]
for name, _ in tools[1:]:
    pm, pa = stats[name]
    print(f"ratio: {name} / vouch = {pa / va:.1f}x (mean)")
    print(f"ratio: {name} / vouch = {pm / vm:.1f}x (median)")
PY

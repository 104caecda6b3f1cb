// bench/lib/sigstore-js-verify.mjs — verify one Sigstore bundle offline with sigstore-js, for
// bench/verify-blob.sh (a benchmark-only peer; never part of vouch's build).
//
// Usage:
//   node sigstore-js-verify.mjs [--certificate-identity I --certificate-oidc-issuer U] [--time]
//        TRUSTED_ROOT BUNDLE ARTIFACT
//
//   --certificate-identity I      the certificate's SAN must equal I exactly (sigstore-js treats
//                                 the policy's SAN as a regular expression: we anchor and escape I)
//   --certificate-oidc-issuer U   the Fulcio issuer extension must equal U exactly
//   --time                        print, on stderr, where the time went (see below)
//
// With neither identity flag no identity policy is applied; give both or neither.
// Exit codes: 0 verified, 1 verification failed (message on stderr), 2 usage or I/O error.
//
// It uses the sigstore-js libraries directly (@sigstore/bundle, @sigstore/protobuf-specs,
// @sigstore/verify), the same path the `sigstore` package's `verify()` takes once it has trust
// material, but with the given trusted_root.json instead of a TUF fetch, so it never touches
// the network. The packages are installed by bench/verify-blob.sh from bench/lib/package-lock.json
// into VOUCH_BENCH_NODE (default: bench/.node, gitignored).
//
// --time prints one line:
//   sigstore-js-time: startup_ms=… load_ms=… parse_ms=… verify_ms=… warm_verify_ms=…
// startup: node's own start-up until this script runs; load: require() of the libraries;
// parse: reading and parsing the trusted root, bundle and artifact into trust material and a
// signed entity; verify: the first (cold) Verifier.verify; warm_verify: the median of
// WARM_VERIFY_RUNS further verifications of the same entity in the same process.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

/** Extra in-process verifications behind `warm_verify_ms`: enough for a stable median. */
const WARM_VERIFY_RUNS = 25;

const startupMs = performance.now(); // milliseconds since the process started

function usage(message) {
  process.stderr.write(`sigstore-js-verify: ${message}\n`);
  process.stderr.write(
    'usage: node sigstore-js-verify.mjs [--certificate-identity I --certificate-oidc-issuer U]' +
      ' [--time] TRUSTED_ROOT BUNDLE ARTIFACT\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { identity: undefined, issuer: undefined, time: false, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--time') {
      opts.time = true;
    } else if (arg === '--certificate-identity' || arg === '--certificate-oidc-issuer') {
      const value = argv[++i];
      if (value === undefined || value === '') usage(`${arg} needs a value`);
      if (arg === '--certificate-identity') opts.identity = value;
      else opts.issuer = value;
    } else if (arg.startsWith('--')) {
      usage(`unknown option ${arg}`);
    } else {
      opts.paths.push(arg);
    }
  }
  if (opts.paths.length !== 3) usage('expected TRUSTED_ROOT BUNDLE ARTIFACT');
  if ((opts.identity === undefined) !== (opts.issuer === undefined)) {
    usage('give both --certificate-identity and --certificate-oidc-issuer, or neither');
  }
  return opts;
}

/** A regular expression that matches exactly `text` (sigstore-js matches the SAN as a regex). */
function exactly(text) {
  return `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

function readOrExit(path, what) {
  try {
    return readFileSync(path);
  } catch (err) {
    process.stderr.write(`sigstore-js-verify: cannot read ${what} ${path}: ${err.message}\n`);
    process.exit(2);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const opts = parseArgs(process.argv.slice(2));
const [trustedRootPath, bundlePath, artifactPath] = opts.paths;

const t0 = performance.now();
const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.VOUCH_BENCH_NODE || join(here, '..', '.node');
const require = createRequire(join(nodeDir, 'package.json'));
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const t1 = performance.now();

let verifier, entity;
try {
  const root = TrustedRoot.fromJSON(JSON.parse(readOrExit(trustedRootPath, 'trusted root')));
  const bundle = bundleFromJSON(JSON.parse(readOrExit(bundlePath, 'bundle')));
  entity = toSignedEntity(bundle, readOrExit(artifactPath, 'artifact'));
  verifier = new Verifier(toTrustMaterial(root));
} catch (err) {
  // A bundle or trusted root that does not parse is a verification failure, as for the others.
  process.stderr.write(`sigstore-js-verify: FAIL: cannot load: ${err.message}\n`);
  process.exit(1);
}
const policy =
  opts.identity === undefined
    ? undefined
    : { subjectAlternativeName: exactly(opts.identity), extensions: { issuer: opts.issuer } };
const t2 = performance.now();

try {
  verifier.verify(entity, policy);
} catch (err) {
  const code = err.code ? `${err.code}: ` : '';
  process.stderr.write(`sigstore-js-verify: FAIL: ${code}${err.message}\n`);
  process.exit(1);
}
const t3 = performance.now();
process.stdout.write('OK: bundle verified (sigstore-js)\n');

if (opts.time) {
  const warm = [];
  for (let i = 0; i < WARM_VERIFY_RUNS; i++) {
    const s = performance.now();
    verifier.verify(entity, policy);
    warm.push(performance.now() - s);
  }
  const f = (ms) => ms.toFixed(2);
  process.stderr.write(
    `sigstore-js-time: startup_ms=${f(startupMs)} load_ms=${f(t1 - t0)} parse_ms=${f(t2 - t1)}` +
      ` verify_ms=${f(t3 - t2)} warm_verify_ms=${f(median(warm))}\n`,
  );
}

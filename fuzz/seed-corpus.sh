#!/usr/bin/env bash
# Builds the seed corpora of vouch's fuzz targets from the real Sigstore and
# cosign fixtures in shared/fixtures (fixtures/MANIFEST.md says where each
# came from). Writes fuzz/corpus/<target>/, which is gitignored: fixture
# copies are never committed. Safe to re-run; it only adds files.
#
# Usage: fuzz/seed-corpus.sh [FIXTURES_DIR]
#   FIXTURES_DIR defaults to $VOUCH_FIXTURES, then ../shared/fixtures beside
#   the repository (where the conformance tests look too).
# Needs: bash, jq, base64, sha256sum.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${1:-${VOUCH_FIXTURES:-$here/../../shared/fixtures}}"
if [[ ! -d "$fixtures" ]]; then
  echo "seed-corpus.sh: no fixtures at $fixtures (pass the directory as \$1)" >&2
  exit 1
fi
fixtures="$(cd "$fixtures" && pwd)"
corpus="$here/corpus"
for tool in jq base64 sha256sum; do
  command -v "$tool" >/dev/null || { echo "seed-corpus.sh: needs $tool" >&2; exit 1; }
done

# Must equal vouch_fuzz::SECTION_SEPARATOR (fuzz/src/lib.rs).
SEP=$'\n--8<--\n'

# seed TARGET NAME: stores stdin as corpus/TARGET/NAME.
seed() {
  mkdir -p "$corpus/$1"
  cat >"$corpus/$1/$2"
}

# A corpus file name from a fixture path: a/b/c.json -> a_b_c.json.
name_of() {
  local rel="${1#"$fixtures"/}"
  echo "${rel//\//_}"
}

# The sha256 of a file, as `sha256:<hex>`.
sha256_of() {
  echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

# PEM blocks in a file, one base64 DER line each.
pem_to_b64_lines() {
  awk '/-----BEGIN/{b=""; next} /-----END/{print b; next} {gsub(/[ \r]/, ""); b=b $0}' "$1"
}

mapfile -t bundles < <(
  find "$fixtures/sigstore-conformance/test/assets/bundle-verify" -name bundle.sigstore.json
  find "$fixtures/gh-cli" "$fixtures/cosign" "$fixtures/sigstore-go" -name '*.json' \
    -exec grep -l '"mediaType": *"application/vnd.dev.sigstore.bundle' {} +
)
mapfile -t roots < <(
  find "$fixtures" -name '*.json' \
    -exec grep -l '"mediaType": *"application/vnd.dev.sigstore.trustedroot' {} +
)

# --- bundle_from_json, bundle_verify --------------------------------------
for bundle in "${bundles[@]}"; do
  name="$(name_of "$bundle")"
  seed bundle_from_json "$name" <"$bundle"
  dir="$(dirname "$bundle")"
  if [[ -f "$dir/artifact" ]]; then
    artifact="$(sha256_of "$dir/artifact")"
  elif [[ "$dir" == */bundle-verify/* ]]; then
    artifact="$(sha256_of "$fixtures/sigstore-conformance/test/assets/bundle-verify/a.txt")"
  elif [[ "$dir" == */gh-cli ]]; then
    artifact="$(sha256_of "$fixtures/gh-cli/sigstore-js-2.1.0.tgz")"
  else
    # A DSSE bundle without its artifact: its statement's first sha256 subject.
    artifact="$(jq -r '.dsseEnvelope.payload // empty' "$bundle" | base64 -d 2>/dev/null |
      jq -r '[.subject[]?.digest.sha256 // empty][0] // empty' 2>/dev/null || true)"
    [[ -n "$artifact" ]] && artifact="sha256:$artifact"
  fi
  { cat "$bundle"; printf '%s' "$SEP" "$artifact"; } | seed bundle_verify "$name"
done

# --- certificate_claims: every certificate in bundles, roots and PEM files --
n=0
for file in "${bundles[@]}" "${roots[@]}"; do
  jq -r '.. | objects | .rawBytes? // empty' "$file" 2>/dev/null || true
done | sort -u | while read -r b64; do
  n=$((n + 1))
  echo "$b64" | base64 -d 2>/dev/null | seed certificate_claims "der-$n.der" || true
done
for pem in "$fixtures"/legacy-cosign/*/certificate.pem "$fixtures"/legacy-cosign/*/chain.pem; do
  i=0
  pem_to_b64_lines "$pem" | while read -r b64; do
    i=$((i + 1))
    echo "$b64" | base64 -d | seed certificate_claims "$(name_of "$pem")-$i.der"
  done
done

# --- simple_signing, legacy_signature ---------------------------------------
for dir in "$fixtures"/legacy-cosign/*/; do
  dir="${dir%/}"
  name="$(name_of "$dir")"
  seed simple_signing "$name.json" <"$dir/payload.json"
  sig="$(tr -d ' \r\n' <"$dir/signature.b64")"
  digest="$(tr -d ' \r\n' <"$dir/image-digest.txt")"
  # payload / signature / certificate / chain / Rekor bundle / image digest
  {
    cat "$dir/payload.json"
    printf '%s%s%s' "$SEP" "$sig" "$SEP"
    cat "$dir/certificate.pem"
    printf '%s' "$SEP"
    cat "$dir/chain.pem"
    printf '%s' "$SEP"
    cat "$dir/rekor-bundle.json"
    printf '%s%s' "$SEP" "$digest"
  } | seed legacy_signature "$name-full"
  # The same without the chain and image digest (the target derives it).
  {
    cat "$dir/payload.json"
    printf '%s%s%s' "$SEP" "$sig" "$SEP"
    cat "$dir/certificate.pem"
    printf '%s' "$SEP" "$SEP"
    cat "$dir/rekor-bundle.json"
  } | seed legacy_signature "$name-no-chain"
done

# --- trusted_root ----------------------------------------------------------
for root in "${roots[@]}"; do
  seed trusted_root "$(name_of "$root")" <"$root"
done

# --- tuf_metadata ----------------------------------------------------------
# trusted_root.json targets, and the TUF metadata of a python-tuf repository
# when the vouch-trust tests have generated one ($VOUCH_TUF_REPOS or the
# newest under the target directory; optional).
for root in "${roots[@]}"; do
  seed tuf_metadata "$(name_of "$root")" <"$root"
done
tuf_repos="${VOUCH_TUF_REPOS:-$(ls -dt "$here"/../target*/tmp/tuf-repos-*/repos 2>/dev/null | head -n1 || true)}"
if [[ -n "$tuf_repos" && -d "$tuf_repos" ]]; then
  for meta in "$tuf_repos"/*/*.json; do
    rel="${meta#"$tuf_repos"/}"
    seed tuf_metadata "tuf_${rel//\//_}" <"$meta"
  done
fi

# --- trust_overrides -------------------------------------------------------
# PEM files as cosign's SIGSTORE_* variables name them: the fixtures' PEM
# certificates, chains and keys, and each trusted root's CA chains and log
# keys re-encoded as PEM.
while IFS= read -r -d '' pem_file; do
  seed trust_overrides "$(name_of "$pem_file")" <"$pem_file"
done < <(find "$fixtures" \( -name '*.pem' -o -name '*.pub' \) -print0)
for root in "${roots[@]}"; do
  jq -r '.certificateAuthorities[]?.certChain.certificates | map(.rawBytes) | join(" ")' "$root" 2>/dev/null |
    while read -r chain; do
      for der in $chain; do
        printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' "$(fold -w 64 <<<"$der")"
      done
    done | seed trust_overrides "$(name_of "$root")-chains"
  jq -r '.tlogs[]?.publicKey.rawBytes' "$root" 2>/dev/null | head -n1 | while read -r key; do
    printf -- '-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n' "$(fold -w 64 <<<"$key")"
  done | seed trust_overrides "$(name_of "$root")-tlog-key"
done

# --- attest_statement, attest_predicate ------------------------------------
statement_n=0
{
  for bundle in "${bundles[@]}"; do
    jq -r '.dsseEnvelope.payload // empty' "$bundle" 2>/dev/null || true
  done | sort -u | while read -r b64; do echo "$b64" | base64 -d 2>/dev/null | jq -c . 2>/dev/null || true; done
  for statement in "$fixtures/sigstore-conformance/test/assets/statement.json" \
    "$fixtures/sigstore-go/examples/statement-provenance-sigstorejs1.3.0.json"; do
    [[ -f "$statement" ]] && jq -c . "$statement"
  done
} | sort -u | while read -r statement; do
  statement_n=$((statement_n + 1))
  printf '%s' "$statement" | seed attest_statement "statement-$statement_n.json"
  printf '%s\n%s' "$(jq -r .predicateType <<<"$statement")" "$(jq -c '.predicate' <<<"$statement")" |
    seed attest_predicate "predicate-of-statement-$statement_n"
done
for vex in "$fixtures"/predicates/*.vex.json; do
  { echo "https://openvex.dev/ns/v0.2.0"; cat "$vex"; } | seed attest_predicate "$(name_of "$vex")"
done
for spdx in "$fixtures"/predicates/*.spdx.json; do
  { echo "https://spdx.dev/Document"; cat "$spdx"; } | seed attest_predicate "$(name_of "$spdx")"
done

# --- spdx_tag_value (and its string form as a predicate) -------------------
# No fixture is tag-value, so this seed is written here: the shape legacy
# `cosign attest --type spdx` signs (SPDX 2.3 spec, clause 6 and 7 tags).
tag_value='SPDXVersion: SPDX-2.3
DataLicense: CC0-1.0
SPDXID: SPDXRef-DOCUMENT
DocumentName: example
DocumentNamespace: https://example.com/spdx/example-1
Creator: Tool: syft-0.90.0
Created: 2024-01-01T00:00:00Z
# a comment
PackageName: example
SPDXID: SPDXRef-Package-example
PackageDownloadLocation: NOASSERTION
PackageComment: <text>two
lines</text>
PackageName: other
SPDXID: SPDXRef-Package-other
PackageDownloadLocation: NOASSERTION'
printf '%s\n' "$tag_value" | seed spdx_tag_value "example.spdx"
{ echo "https://spdx.dev/Document"; jq -Rs . <<<"$tag_value"; } | seed attest_predicate "spdx-tag-value"
# A minimal CycloneDX BOM (none among the fixtures).
printf '%s\n%s' "https://cyclonedx.org/bom" \
  '{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"app","version":"1.0"}},"components":[{"type":"library","name":"lib"}]}' |
  seed attest_predicate "cyclonedx-minimal"

# --- oci_digest, oci_reference, oci_manifest: from the fixtures -------------
# Every sha256 image digest and artifact digest the fixtures name, in each
# algorithm for the fixtures' artifacts; the legacy signature's manifest
# (first byte 1 selects the OCI manifest media type) and its payload's
# docker reference.
i=0
for file in "$fixtures"/legacy-cosign/*/image-digest.txt; do
  tr -d '\n' <"$file" | seed oci_digest "image-digest-$((i += 1))"
done
for artifact in "$fixtures/sigstore-conformance/test/assets/bundle-verify/a.txt" \
  "$fixtures/gh-cli/sigstore-js-2.1.0.tgz"; do
  [[ -f "$artifact" ]] || continue
  for alg in 256 384 512; do
    printf 'sha%s:%s' "$alg" "$("sha${alg}sum" "$artifact" | cut -d' ' -f1)" |
      seed oci_digest "$(name_of "$artifact")-sha$alg"
  done
done
for dir in "$fixtures"/legacy-cosign/*/; do
  name="$(basename "$dir")"
  { printf '\x01'; cat "$dir/sig-manifest.json"; } | seed oci_manifest "$name-sig-manifest"
  ref="$(jq -r '.critical.identity["docker-reference"] // empty' "$dir/payload.json")"
  if [[ -n "$ref" ]]; then
    printf '%s' "$ref" | seed oci_reference "$name-reference"
    printf '%s@%s' "$ref" "$(tr -d '\n' <"$dir/image-digest.txt")" |
      seed oci_reference "$name-reference-digest"
  fi
done
# Hand-written: the shapes no fixture has.
printf '\x00{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}' |
  seed oci_manifest "index"
for ref in nginx acme/app:1 localhost:5000/app:v1 \
  proxy.example.com/proxy/app/ghcr.io/org/repo/image:1.2.3 "127.0.0.1:15000/a/b@sha256:$(printf '0%.0s' {1..64})"; do
  printf '%s' "$ref" | seed oci_reference "$(printf '%s' "$ref" | tr '/:@' '___' | cut -c1-60)"
done

# --- oci_challenge, oci_link: hand-written (headers are not in fixtures) ---
printf 'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"' |
  seed oci_challenge bearer
printf 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"' |
  seed oci_challenge docker-hub
printf 'Basic realm="basic-realm"' | seed oci_challenge basic
printf 'Bearer realm="a\\"b", service=svc' | seed oci_challenge escaped
printf '</v2/a/referrers/sha256:x?n=1&last=y>; rel="next"' | seed oci_link referrers
printf '</v2/acme/api/tags/list?n=100&last=v9>; rel="next"' | seed oci_link tags
printf '</v2/a?p>; rel="prev", </v2/a?n>; rel=next' | seed oci_link two-links

# --- oci_layout_index: hand-written (index.json as cosign save and skopeo write it) ---
zeros="$(printf '0%.0s' {1..64})"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"annotations":{"org.opencontainers.image.ref.name":"v1.2.0"}}]}' "$zeros" |
  seed oci_layout_index skopeo
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"annotations":{"kind":"dev.cosignproject.cosign/image"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"annotations":{"kind":"dev.cosignproject.cosign/sigs"}}]}' "$zeros" "$zeros" |
  seed oci_layout_index cosign-save
printf '{"imageLayoutVersion":"1.0.0"}' | seed oci_layout_index oci-layout

# --- oci_layout_tar: a small layout packed by tar(1) ---
layout_dir="$(mktemp -d)"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout_dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[]}' >"$layout_dir/index.json"
mkdir -p "$layout_dir/blobs/sha256"
printf '{}' >"$layout_dir/blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
tar -cf - -C "$layout_dir" oci-layout index.json blobs | seed oci_layout_tar layout
rm -rf "$layout_dir"

for dir in "$corpus"/*/; do
  printf '%-20s %3d seeds\n' "$(basename "$dir")" "$(find "$dir" -type f | wc -l)"
done

# proxy_parsers: hand-written seeds (first byte selects the parser; the
# challenge parser is fuzzed by oci_challenge).
mkdir -p corpus/proxy_parsers
printf '\x00/v2/proxy/acme/ghcr.io/acme/app/manifests/1.0' > corpus/proxy_parsers/route
printf '\x00/v2/proxy/acme/ghcr.io/acme/../etc/blobs/sha256:00' > corpus/proxy_parsers/route-dotdot
printf '\x01Basic YWxpY2U6cGFzcw==' > corpus/proxy_parsers/basic
printf '\x01Bearer abc.def' > corpus/proxy_parsers/bearer
printf '\x02{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}' > corpus/proxy_parsers/index

#!/usr/bin/env bash
# Builds istiod (pilot-discovery) from istio.io/istio for the istiod benchmark and e2e test and
# caches it OUTSIDE the repository, beside the other peers:
#   ${DISCOFILTER_PEERS_CACHE:-$HOME/.cache/discofilter-peers}/istiod-<key>/{pilot-discovery,istio-crds.yaml}
# <key> hashes this script (it holds ISTIO_VERSION) + `go version`: a version bump rebuilds, an
# unchanged tree is a no-op that prints the directory.
#
# No go.mod here: istio.io/istio's go.mod has no replace directives and asks for go 1.26.0, so
# `go install pkg@version` builds it with istio's own pins on the installed Go 1.26.8 and nothing
# of istio enters this repository. The CRDs come from the same module's Helm chart files.
#
# Cost (docs/istiod-bench.md): ~130 MB binary; cold build measured there, 2 cores, -p=2.
# Usage: tests/peers/istiod/build.sh [--print-dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ISTIO_VERSION="v0.0.0-20260827124520-eed52ebb66ad"
export GOFLAGS="${GOFLAGS:-} -trimpath -p=2"
export CGO_ENABLED=0

key="$( { go version; cat "$here/build.sh"; } | sha256sum | cut -c1-16)"
cache_root="${DISCOFILTER_PEERS_CACHE:-$HOME/.cache/discofilter-peers}"
out="$cache_root/istiod-$key"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$out"
  exit 0
fi
if [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi

start=$(date +%s)
echo "building pilot-discovery $ISTIO_VERSION into $out" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
GOBIN="$out.tmp" go install -ldflags='-s -w' \
  "istio.io/istio/pilot/cmd/pilot-discovery@$ISTIO_VERSION"
moddir="$(go mod download -json "istio.io/istio@$ISTIO_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
cp "$moddir/manifests/charts/base/files/crd-all.gen.yaml" "$out.tmp/istio-crds.yaml"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
echo "  done in $(( $(date +%s) - start ))s" >&2
echo "$out"

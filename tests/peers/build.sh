#!/usr/bin/env bash
# Builds discofilter's real test peers and caches them OUTSIDE the repository:
#   ${DISCOFILTER_PEERS_CACHE:-$HOME/.cache/discofilter-peers}/<key>/{testcluster,informer,helm,
#                                                                    kwok,kwok-stages.yaml}
# <key> hashes this script (helm's version) + go.mod + go.sum + our Go sources + `go version`, so a
# version bump rebuilds and an unchanged tree is a no-op (prints the directory, exits 0).
# Go's module and build caches stay in their defaults (~/go/pkg/mod, ~/.cache/go-build).
#
# Cost: kube-apiserver is the big one. Built with -trimpath -ldflags='-s -w' (no DWARF: smaller
# binaries and a faster link) and -p=2 (the CI box has 2 cores). Measured numbers: docs/real-peers.md.
# Usage: tests/peers/build.sh [--print-dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

HELM_VERSION="v3.22.0"
KWOK_VERSION="v0.8.0"
# The Kubernetes version testcluster embeds, read from go.mod so the stamp cannot drift from it.
KUBE_VERSION="$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod | head -n1)"
export GOFLAGS="${GOFLAGS:-} -trimpath -p=2"
export CGO_ENABLED=0

key="$( { go version; cat build.sh go.mod go.sum; find cmd -name '*.go' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)"
cache_root="${DISCOFILTER_PEERS_CACHE:-$HOME/.cache/discofilter-peers}"
out="$cache_root/$key"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$out"
  exit 0
fi

# istiod has its own script (tests/peers/istiod/build.sh, owned by the istiod benchmark); .ci/run
# only calls this one, so call it here. Its failure must not fail the other peers.
build_istiod() {
  [ "${DISCOFILTER_PEERS_ISTIOD:-1}" = "1" ] || return 0
  [ -x "$here/istiod/build.sh" ] || return 0
  "$here/istiod/build.sh" >/dev/null || echo "!! istiod build failed; istiod tests will skip" >&2
}

if [ -f "$out/.complete" ]; then
  echo "peers cached in $out"
  build_istiod
  exit 0
fi

mkdir -p "$out.tmp"
start=$(date +%s)
echo "building testcluster + informer into $out"
# Version stamp, as Kubernetes' own build sets it (hack/lib/version.sh): without it the API server
# reports v0.0.0-master+$Format:%H$ and `helm install` fails a chart's kubeVersion constraint.
# buildDate stays fixed so the binaries are reproducible.
major="${KUBE_VERSION#v}"; major="${major%%.*}"
minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean"
done
go build -ldflags="-s -w$stamp" -o "$out.tmp/" ./cmd/testcluster ./cmd/informer
echo "  done in $(( $(date +%s) - start ))s"

kstart=$(date +%s)
echo "building kwok $KWOK_VERSION"
# kwok (fake nodes) from its own go.mod, like helm. It refuses to start without Stage documents;
# the ones it ships (kustomize/stage/{node,pod}/fast, what `kwokctl` uses) are copied from the
# module cache into the peers cache, never into this repository.
GOBIN="$out.tmp" go install \
  -ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
kwokdir="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
for f in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  echo "---"
  cat "$kwokdir/kustomize/stage/$f.yaml"
done > "$out.tmp/kwok-stages.yaml"
echo "  done in $(( $(date +%s) - kstart ))s"

hstart=$(date +%s)
echo "building helm $HELM_VERSION"
# helm's go.mod has no replace directives, so `go install pkg@version` builds it with its own
# pinned dependencies and nothing of helm enters this repository.
# -X sets what `helm version` prints, as helm's own Makefile does (else it says "v3.22").
GOBIN="$out.tmp" go install \
  -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "  done in $(( $(date +%s) - hstart ))s"

rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
# Older keys are dead weight (~215 MB each): keep only this one. istiod-* dirs are not ours.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
  -regex '.*/[0-9a-f]{16}' ! -path "$out" -exec rm -rf {} +
build_istiod
echo "peers built in $(( $(date +%s) - start ))s: $out"

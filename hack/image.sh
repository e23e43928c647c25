#!/usr/bin/env bash
# Builds the discofilter image from the Dockerfile without a Docker daemon (buildah), then runs
# it the way a pod would: as UID 65532, read-only root filesystem, and checks /healthz and a
# filtered LIST through it.
#
#   sudo hack/image.sh                 # discofilter:dev, from the Dockerfile's own base image
#   sudo hack/image.sh --debian-base   # base assembled from Debian bookworm packages instead
#
# Why two bases: the Dockerfile's base is python:3.12-slim-bookworm from Docker Hub. Where no
# container registry is reachable (the team's machines reach PyPI and Debian's archive only), a
# base of the same shape (Debian bookworm, python3, python3-venv, CA certificates) is assembled
# with debootstrap and imported into buildah as localhost/discofilter-base:bookworm; the
# Dockerfile then builds on it unchanged via --build-arg PYTHON_IMAGE. What that leaves
# unverified is written in docs/operations.md ("Container image").
#
# Needs root (buildah's chroot isolation, debootstrap) and the packages buildah, podman and
# debootstrap (Debian bookworm); installs them with apt-get when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

IMAGE="${IMAGE:-discofilter:dev}"
BASE_REF="localhost/discofilter-base:bookworm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
use_debian_base=0
[ "${1:-}" = "--debian-base" ] && use_debian_base=1

need() {
  command -v "$1" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2"
}
need buildah buildah
need podman podman
need debootstrap debootstrap

t0=$(date +%s)
if [ "$use_debian_base" = 1 ]; then
  if ! buildah inspect --type image "$BASE_REF" >/dev/null 2>&1; then
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    echo "== assembling $BASE_REF from Debian bookworm ($MIRROR) =="
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$root" "$MIRROR" >/dev/null
    # What python:*-slim also leaves out: apt lists and caches, docs, man pages.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
      "$root"/usr/share/man/*
    ctr="$(buildah from scratch)"
    mnt="$(buildah mount "$ctr")"
    cp -a "$root"/. "$mnt"/
    buildah umount "$ctr" >/dev/null
    buildah config --env LANG=C.UTF-8 --cmd python3 "$ctr"
    buildah commit --quiet --rm "$ctr" "$BASE_REF" >/dev/null
    echo "   base ready in $(( $(date +%s) - t0 ))s"
  fi
  base_arg=(--build-arg "PYTHON_IMAGE=$BASE_REF")
else
  base_arg=()
fi

# Build-time trust only: behind a TLS-inspecting proxy, pip in the build must trust the host's CA
# bundle. It is mounted for the RUN steps (never copied into a layer) together with a pip.conf
# that points pip at it; the image itself keeps Debian's own CA certificates.
trust_arg=()
host_ca="${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$host_ca" ]; then
  pipconf="$(mktemp)"
  printf '[global]\ncert = /run/build-ca.pem\n' > "$pipconf"
  trust_arg=(-v "$host_ca:/run/build-ca.pem:ro" -v "$pipconf:/etc/pip.conf:ro")
fi

t1=$(date +%s)
echo "== building $IMAGE from the Dockerfile (buildah, chroot isolation) =="
buildah bud --quiet --format docker --isolation chroot --layers "${base_arg[@]}" "${trust_arg[@]}" \
  -t "$IMAGE" -f Dockerfile . >/dev/null
echo "   built in $(( $(date +%s) - t1 ))s; size $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"

# run_in_image ARGS...: the image's ENTRYPOINT with ARGS, as its config says (USER, Env,
# WorkingDir), with a read-only root, a tmpfs /tmp and the host network. podman where it can run
# containers; where it cannot (in a Firecracker VM crun fails: "setrlimit RLIMIT_NOFILE: Operation
# not permitted"), the same by hand: the image's rootfs bind-mounted read-only in a private mount
# and PID namespace, entered with chroot --userspec. No capabilities are dropped on that path.
runner=chroot
if podman run --rm --read-only --cap-drop=ALL --network=host "$IMAGE" --version >/dev/null 2>&1; then
  runner=podman
fi
ctr="$(buildah from --quiet "$IMAGE")"
rootfs="$(buildah mount "$ctr")"
cleanup() { buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
mapfile -t cfg < <(buildah inspect --type image "$IMAGE" | python3 -c '
import json, sys
c = json.load(sys.stdin)["OCIv1"]["config"]
print(c.get("User") or "0:0"); print(c.get("WorkingDir") or "/")
print(" ".join(c.get("Entrypoint") or [])); print("\x1f".join(c.get("Env") or []))')
run_in_image() {
  if [ "$runner" = podman ]; then
    podman run --rm --read-only --cap-drop=ALL --network=host "$IMAGE" "$@"
    return
  fi
  local view
  view="$(mktemp -d)"
  IFS=$'\x1f' read -r -a env <<< "${cfg[3]}"
  unshare --mount --pid --fork --propagation private sh -c '
    set -e; root="$1"; view="$2"; shift 2
    mount --bind "$root" "$view"; mount -o remount,bind,ro "$view"
    mount -t proc proc "$view/proc"; mount -t tmpfs -o size=64m tmpfs "$view/tmp"
    mount --bind /dev "$view/dev"
    exec "$@"' sh "$rootfs" "$view" \
    chroot --userspec="${cfg[0]}" "$view" /usr/bin/env -i "${env[@]}" \
    sh -c 'cd "$0" && exec "$@"' "${cfg[1]}" ${cfg[2]} "$@"
  rmdir "$view" 2>/dev/null || true
}

echo "== running it as a pod would ($runner): read-only root, uid ${cfg[0]}, tmpfs /tmp =="
echo "   $(run_in_image --version)"
found="$(find "$rootfs/opt/discofilter" -maxdepth 5 \( -name matplotlib -o -name numpy -o -name pip \) -print)"
if [ -n "$found" ]; then
  echo "!! the runtime image carries what it must not: $found" >&2
  exit 1
fi
echo "   no matplotlib, numpy or pip in the image"

# The smoke: the image's own emulator as upstream, the image's proxy in front of it (its default
# command's admin listener), /healthz and a filtered LIST answered through it.
sim_port=18480 proxy_port=18401 admin_port=19490
scenario="$(cd "$rootfs" && find opt/discofilter -path '*/discofilter/demo/demo.yaml' -print -quit)"
run_in_image sim --listen "127.0.0.1:$sim_port" --scenario "/$scenario" --no-churn >/tmp/df-image-sim.log 2>&1 &
sim_pid=$!
run_in_image serve --listen "127.0.0.1:$proxy_port" --admin-listen "127.0.0.1:$admin_port" \
  --upstream "http://127.0.0.1:$sim_port" --selector istio-injection=enabled \
  >/tmp/df-image-serve.log 2>&1 &
serve_pid=$!
trap 'kill $sim_pid $serve_pid 2>/dev/null || true; cleanup' EXIT
python3 - "$proxy_port" "$admin_port" <<'PY'
import json, sys, time, urllib.request
proxy, admin = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the image's proxy did not become ready in 60 s")
    time.sleep(0.5)
with urllib.request.urlopen(f"http://127.0.0.1:{proxy}/api/v1/pods", timeout=10) as r:
    pods = json.load(r)
print(f"   /readyz 200; filtered LIST through the image: {len(pods['items'])} pods, "
      f"resourceVersion {pods['metadata']['resourceVersion']}")
PY
echo "image $IMAGE verified in $(( $(date +%s) - t0 ))s"

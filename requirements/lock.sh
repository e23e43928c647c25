#!/usr/bin/env bash
# Refreshes the lock files from pyproject.toml's compatible ranges. One line, from the repo root:
#
#   requirements/lock.sh             # re-resolve, keeping every existing pin that still fits
#   requirements/lock.sh --upgrade   # take the newest release in range of everything
#   requirements/lock.sh --upgrade-package aiohttp   # move one package (uv's flag)
#
# Why uv (docs/dependencies.md): `uv pip compile --universal` resolves ONE file that is right on
# every Python >= 3.11 and platform at once (markers where they differ, e.g. numpy by Python
# version), so CI (Python 3.11) and the image (python:3.12-slim) install the same pins from the
# same file; pip-compile resolves for the interpreter it runs on only. uv is needed to refresh,
# never to install: every consumer installs the hashed files with plain pip.
set -euo pipefail
UV_VERSION="0.13.9"
here="$(cd "$(dirname "$0")" && pwd)"
venv="${TMPDIR:-/tmp}/discofilter-uv-$UV_VERSION"
if [ ! -x "$venv/bin/uv" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "uv==$UV_VERSION"
fi
# The machine's CA bundle (a TLS-inspecting proxy's CA lives there, not in uv's built-in roots).
export SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
cd "$here"
compile() {
  "$venv/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "requirements/lock.sh" "$@"
}
compile ../pyproject.toml "$@" -o runtime.txt
compile build.in "$@" -o build.txt
compile ../pyproject.toml build.in --extra test "$@" -o dev.txt
echo "locked: $(cd "$here" && grep -c '^[a-z]' runtime.txt) runtime, $(grep -c '^[a-z]' dev.txt) dev pins"

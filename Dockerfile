# discofilter container image: build a wheel, install it with the locked dependencies into a
# clean slim runtime.
#
#   docker build -t discofilter:dev .          # or: hack/image.sh (buildah, no daemon)
#   docker run --rm --read-only -p 8001:8001 discofilter:dev serve --upstream https://...
#
# Runtime policy (see docs/operations.md):
# * every dependency at the version and sha256 of requirements/runtime.txt (the lock,
#   docs/dependencies.md); the runtime has no compiler, no pip and no plotting stack;
# * non-root, numeric UID/GID 65532 (runAsNonRoot can verify a number, not a name);
# * read-only root filesystem: bytecode is compiled at install time and never written at run
#   time (PYTHONDONTWRITEBYTECODE), nothing else writes;
# * glibc malloc thresholds fixed (DESIGN anchor figures: the default dynamic thresholds made
#   the proxy fault its 64-128 KiB buffers in again and again, 50-110k page faults per 325 MB;
#   fixing both removed ~2-3 us per event). Same values as `serve`'s own mallopt
#   (discofilter/server/tuning/malloc.py), set here so every process in the image gets them.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/build.txt requirements/runtime.txt ./requirements/
# The build backend at its locked version, then the project's wheel built with it (no isolated,
# unpinned build environment), then every runtime dependency as the locked, hash-checked wheels
# for this base image's Python, so the runtime stage needs no network and no compiler.
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY discofilter ./discofilter
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/build/bin/pip download --require-hashes --only-binary=:all: --dest /wheels \
       -r requirements/runtime.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PATH=/opt/discofilter/bin:${PATH} \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    MALLOC_TRIM_THRESHOLD_=67108864
COPY --from=build /wheels /wheels
COPY requirements/runtime.txt /wheels/runtime.txt
# A venv owned by root (read-only to 65532); pip leaves it once the install is done.
RUN python3 -m venv /opt/discofilter \
    && /opt/discofilter/bin/pip install --no-index --find-links=/wheels --require-hashes \
       -r /wheels/runtime.txt \
    && /opt/discofilter/bin/pip install --no-index --no-deps /wheels/discofilter-*.whl \
    && /opt/discofilter/bin/python -m pip uninstall --yes --quiet pip \
    && rm -rf /wheels
USER 65532:65532
WORKDIR /tmp
# 8001: the proxy (loopback by default; pass --listen 0.0.0.0:8443 with TLS in a pod).
# 9090: HTTP admin (/healthz, /readyz, /metrics). 9091: gRPC admin.
EXPOSE 8001 9090 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["discofilter"]
# The HEALTHCHECK needs the admin listener; keep --admin-listen when overriding the command.
CMD ["serve", "--admin-listen", "127.0.0.1:9090"]

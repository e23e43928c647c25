# discofilter container image: build a wheel, install it into a clean slim runtime.
#
#   docker build -t discofilter:dev .
#   docker run --rm --read-only -p 8001:8001 discofilter:dev serve --upstream https://...
#
# Runtime policy (see docs/operations.md):
# * non-root, numeric UID/GID 65532 (runAsNonRoot can verify a number, not a name);
# * read-only root filesystem: bytecode is compiled at install time and never written at run
#   time (PYTHONDONTWRITEBYTECODE), matplotlib's cache goes to /tmp, nothing else writes;
# * glibc malloc thresholds fixed (DESIGN anchor figures: the default dynamic thresholds made
#   the proxy fault its 64-128 KiB buffers in again and again, 50-110k page faults per 325 MB;
#   fixing both removed ~2-3 us per event). Same values as `serve`'s own mallopt
#   (discofilter/server/malloc.py), set here so every process in the image gets them.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY discofilter ./discofilter
# Wheels for discofilter and every dependency, so the runtime stage needs no network or compiler.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    MALLOC_TRIM_THRESHOLD_=67108864
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/discofilter-*.whl \
    && rm -rf /wheels
USER 65532:65532
WORKDIR /tmp
# 8001: the proxy (loopback by default; pass --listen 0.0.0.0:8443 with TLS in a pod).
# 9090: HTTP admin (/healthz, /readyz, /metrics). 9091: gRPC admin.
EXPOSE 8001 9090 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["discofilter"]
# The HEALTHCHECK needs the admin listener; keep --admin-listen when overriding the command.
CMD ["serve", "--admin-listen", "127.0.0.1:9090"]

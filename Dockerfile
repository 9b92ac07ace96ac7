# syntax=docker/dockerfile:1
#
# The image of `mlengine serve`: one stateless replica of the prediction server. Every replica
# reads the same registry database (PostgreSQL) and artifact store, both given by the
# environment at run time, never baked in:
#
#   MLENGINE_DATABASE_URL   postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE (a Secret)
#   MLENGINE_API_TOKEN      bearer token of management calls (a Secret; unset: no auth)
#   MLENGINE_ARTIFACT_ROOT  a shared volume's path or an fsspec URL (default: $MLENGINE_HOME/artifacts)
#   MLENGINE_ALLOWED_ORIGINS, MLENGINE_PROTECT_PREDICT: see the README's "Serving" section
#   MLENGINE_HOME           local state of this replica (cache of remote artifacts): set below
#
# Build (CPU, the default):   docker build -t mlengine:0.1.0 .
# GPU build of torch:         docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 -t mlengine:0.1.0-cuda .
# Object-store artifacts:     docker build --build-arg EXTRA_PACKAGES="gcsfs==2026.9.0" ...
#
# tests/deploy/ checks this file with hadolint and checks that its command, port, health check
# and variable names agree with the code.

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# ---------------------------------------------------------------- build: the project's wheel
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
# The torch build: the CPU one from PyTorch's own index (PyPI's plain `torch` is a CUDA build
# of several GB). The server predicts on the CPU; a CUDA build only helps training jobs.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# More pip requirements, e.g. an fsspec file system for MLENGINE_ARTIFACT_ROOT (gcsfs, s3fs).
ARG EXTRA_PACKAGES=""

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# LightGBM (boosted trees) links the system's OpenMP runtime, which slim images lack. Debian's
# security updates replace its version, so it is not pinned (the base image tag pins Debian).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# torch first, in a layer of its own, so that a change to the project does not fetch it again.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
# Then the project's wheel, with the versions CI tests (constraints.txt).
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /tmp/wheels
# EXTRA_PACKAGES is a list: word splitting is meant.
# hadolint ignore=SC2086
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt /tmp/wheels/*.whl ${EXTRA_PACKAGES} \
    && rm -rf /tmp/wheels /tmp/constraints.txt \
    && mlengine --version

# A non-root user with a fixed uid (Kubernetes' runAsNonRoot checks the number).
RUN groupadd --system --gid 10001 mlengine \
    && useradd --system --uid 10001 --gid mlengine --home-dir /var/lib/mlengine \
       --create-home --shell /usr/sbin/nologin mlengine
ENV MLENGINE_HOME=/var/lib/mlengine \
    HOME=/var/lib/mlengine
WORKDIR /var/lib/mlengine
USER 10001:10001

# HTTP (every REST protocol) and gRPC (OIP v2, TF Serving's services: mlengine serve's default).
EXPOSE 8080 8500
# Ready means: the registry answered and the default versions are loaded and warmed. No curl in
# a slim image: Python asks (an HTTP error such as 503 raises, which exits 1).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v2/health/ready', timeout=4)"]
CMD ["mlengine", "serve", "--host", "0.0.0.0", "--port", "8080"]

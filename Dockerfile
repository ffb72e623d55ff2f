# The neops worker daemon.
#
#   docker build -t neops-worker .
#   docker build --build-arg DEPENDENCY_GROUPS=engine -t neops-worker:engine .   # adds the local engine
#   docker build --build-arg EXTRAS=otel -t neops-worker:otel .                   # adds tracing
#
# Two stages: uv builds a self-contained virtual environment in the first; the second holds only the
# base image, that environment and the function blocks, and runs as an unprivileged user. See
# docs/operations.md for the settings, the health check and the log format.

ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build

ARG UV_VERSION=0.13.9
# Extra dependency groups from pyproject.toml, space-separated ("engine" for the local engine).
ARG DEPENDENCY_GROUPS=""
# Optional extras of the project, space-separated ("otel" for OpenTelemetry tracing).
ARG EXTRAS=""

# No cache in the layers; copy files into the environment rather than link them to a cache that
# is not shipped; compile bytecode now (the runtime user cannot write it); use the base image's
# Python, never a downloaded one.
ENV UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore "uv==${UV_VERSION}"

WORKDIR /app

# 1. Dependencies only, exactly as locked. pyproject.toml's default groups are dev and engine:
#    --no-default-groups drops both; DEPENDENCY_GROUPS adds groups back on request. This layer
#    is reused as long as pyproject.toml and uv.lock do not change.
COPY pyproject.toml uv.lock ./
RUN groups=""; for g in ${DEPENDENCY_GROUPS}; do groups="${groups} --group ${g}"; done; \
    for e in ${EXTRAS}; do groups="${groups} --extra ${e}"; done; \
    uv sync --frozen --no-default-groups ${groups} --no-editable --no-install-project

# 2. The project itself, installed as a regular (not editable) package, so that the environment
#    does not depend on the sources next to it.
COPY . .
RUN groups=""; for g in ${DEPENDENCY_GROUPS}; do groups="${groups} --group ${g}"; done; \
    for e in ${EXTRAS}; do groups="${groups} --extra ${e}"; done; \
    uv sync --frozen --no-default-groups ${groups} --no-editable \
    && python -m compileall -q function_blocks


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="neops-worker" \
      org.opencontainers.image.description="Worker daemon for the neops 2.0 workflow engine" \
      org.opencontainers.image.licenses="Apache-2.0"

# /var/lib/neops: the only directory the user may write, for the local engine's database in the
# engine variant (a volume mounted there inherits the owner). The worker itself writes nothing.
RUN groupadd --gid 10001 neops \
    && useradd --uid 10001 --gid neops --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin neops \
    && install -d -o neops -g neops -m 0750 /var/lib/neops

WORKDIR /app
# Owned by root and read-only for the worker: the process cannot change its own code.
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/function_blocks /app/function_blocks

# The health listener stays on the container's loopback (HEALTH_HOST=127.0.0.1) unless told
# otherwise; the HEALTHCHECK below probes it from inside. Set HEALTH_HOST=0.0.0.0 to scrape
# /metrics or probe over the network.
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json \
    HEALTH_PORT=8080

USER neops:neops

# The worker itself is PID 1 (no shell, no uv in between): SIGTERM from `docker stop` reaches its
# handler, which drains the job in hand before exiting. Give it more than SHUTDOWN_TIMEOUT
# (docker stop -t, stop_grace_period, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["neops_worker", "health"]
ENTRYPOINT ["neops_worker"]

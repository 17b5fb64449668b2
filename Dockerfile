# syntax=docker/dockerfile:1
# One recipe for every Flotilla image; pick a service with --target:
#   docker build --target planner -t flotilla/planner .
# scripts/images.sh builds all six here with buildah from a locally made base
# (BASE=localhost/flotilla-base:…, KUBECTL_IMAGE=localhost/kubectl:…,
# KUSTOMIZE_IMAGE=localhost/flotilla-kustomize:…); elsewhere the defaults
# below pull the official images. Production runs plain `node` on one bundle per service
# (scripts/build.ts; docs/conventions.md), as PID 2 under tini, as an unprivileged user, with a
# read-only root filesystem (only /tmp and the service's data volume are written).

# Debian bookworm with Node 24 LTS, npm for the build stage, useradd and apt.
ARG BASE=node:24-bookworm-slim
# Any image with a static kubectl at /bin/kubectl (the planner's fallback kustomize renderer).
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.34.3
# An image with a static flotilla-kustomize at /bin/flotilla-kustomize (what the planner renders
# kustomizations with; deploy/flotilla-kustomize). By default it is built here from source;
# scripts/images.sh passes a one-file image of the binary scripts/setup.sh built.
ARG KUSTOMIZE_IMAGE=kustomize-from-source
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS kustomize-from-source
WORKDIR /src
COPY deploy/flotilla-kustomize/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /bin/flotilla-kustomize .

FROM ${BASE} AS build
# Behind a TLS-intercepting proxy, a CA bundle file for npm (scripts/images.sh mounts the host's).
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY . .
# Dev dependencies for the build (esbuild), then only production ones are kept, with an SPDX
# bill of materials of them (/app/sbom.spdx.json). The workspace symlinks go: the bundles
# already contain every @flotilla package.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
 && node scripts/build.ts \
 && mkdir -p /out/services /out/cli \
 && npm sbom --omit=dev --sbom-format=spdx --sbom-type=application > /out/sbom.spdx.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && rm -rf node_modules/@flotilla node_modules/@flotilla-examples node_modules/.bin \
 && for s in services/*/; do mkdir -p "/out/$s" && cp -r "$s/dist" "$s/package.json" "/out/$s"; done \
 && cp -r cli/dist cli/package.json /out/cli/ \
 && if [ -d cli/node_modules ]; then cp -r cli/node_modules /out/cli/; fi \
 && cp -r node_modules package.json /out/

FROM ${KUBECTL_IMAGE} AS kubectl
FROM ${KUSTOMIZE_IMAGE} AS kustomize

FROM ${BASE} AS runtime
# tini reaps children (git, ssh, kubectl) and forwards SIGTERM; git and ssh for the Git services.
# Every image carries the CLI (/app/cli/dist/main.js): the nats-bootstrap Job runs it.
# A base made by scripts/images.sh has them already; npm is not needed at run time.
RUN if ! command -v tini >/dev/null || ! command -v git >/dev/null || ! command -v ssh >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates tini git openssh-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn* /usr/local/bin/yarn* \
 && useradd --uid 10001 --user-group --home-dir /home/flotilla --create-home --shell /usr/sbin/nologin flotilla \
 && mkdir -p /var/lib/flotilla /var/lib/flotilla-planner /var/cache/flotilla \
 && chown 10001:10001 /var/lib/flotilla /var/lib/flotilla-planner /var/cache/flotilla
# ^ The data directories exist, owned by the service user: a named volume mounted there (compose)
#   starts with that ownership, so the read-only-root service can write its clone and state.
WORKDIR /app
COPY --from=build /out /app
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=
ARG SOURCE=
LABEL org.opencontainers.image.title="Flotilla" \
      org.opencontainers.image.description="Pull-based GitOps delivery for Kubernetes" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
ENV NODE_ENV=production FLOTILLA_HTTP_HOST=0.0.0.0 HOME=/home/flotilla
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.FLOTILLA_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

FROM runtime AS planner
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
# On PATH, so the planner's `kustomize: auto` renders with it (kubectl stays as the fallback).
COPY --from=kustomize /bin/flotilla-kustomize /usr/local/bin/flotilla-kustomize
LABEL org.opencontainers.image.title="flotilla-planner"
ENV FLOTILLA_HTTP_PORT=8083
EXPOSE 8083
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "services/planner/dist/main.js"]

FROM runtime AS git-watcher
LABEL org.opencontainers.image.title="flotilla-git-watcher"
ENV FLOTILLA_HTTP_PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "services/git-watcher/dist/main.js"]

FROM runtime AS registry-watcher
LABEL org.opencontainers.image.title="flotilla-registry-watcher"
ENV FLOTILLA_HTTP_PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "services/registry-watcher/dist/main.js"]

FROM runtime AS audit-writer
LABEL org.opencontainers.image.title="flotilla-audit-writer"
ENV FLOTILLA_HTTP_PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "services/audit-writer/dist/main.js"]

FROM runtime AS console
LABEL org.opencontainers.image.title="flotilla-console"
ENV FLOTILLA_HTTP_PORT=8085
EXPOSE 8085
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "services/console/dist/main.js"]

FROM runtime AS cluster-applier
LABEL org.opencontainers.image.title="flotilla-cluster-applier"
ENV FLOTILLA_HTTP_PORT=8084
EXPOSE 8084
# V8 sized for memory, not speed: see NODE_FLAGS in libs/test-support/src/programs.ts (#17).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "--max-semi-space-size=2", "--optimize-for-size", "services/cluster-applier/dist/main.js"]

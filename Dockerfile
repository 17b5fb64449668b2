# syntax=docker/dockerfile:1
# One image recipe for every Flotilla service; pick one with --target:
#   docker build --target planner -t flotilla/planner .
# Multi-stage: production dependencies of the workspaces, then a slim non-root runtime per
# service. Services run from TypeScript source with tsx (docs/conventions.md).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs ./libs
COPY services ./services
# The whole CLI: the console uses its status rules (cli/src/status-view.ts) and the
# nats-bootstrap Job runs `flotilla nats bootstrap` from the planner image.
COPY cli ./cli
COPY examples ./examples
RUN npm ci --omit=dev --include-workspace-root --ignore-scripts \
 && npm install --no-save --ignore-scripts tsx@4 \
 && npm cache clean --force

# kubectl renders kustomizations in the planner; pinned.
FROM ${NODE_IMAGE} AS kubectl
ARG KUBECTL_VERSION=v1.34.3
ADD --chmod=755 https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl /usr/local/bin/kubectl

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini git openssh-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps --chown=root:root /app /app
ENV NODE_ENV=production FLOTILLA_HTTP_HOST=0.0.0.0
# The node image's unprivileged user; Kubernetes overrides it with runAsUser 10001.
USER 1000:1000
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.FLOTILLA_HTTP_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "sh", "-c", "exec node --import tsx services/$SERVICE/src/main.ts"]

FROM runtime AS planner
COPY --from=kubectl /usr/local/bin/kubectl /usr/local/bin/kubectl
ENV SERVICE=planner FLOTILLA_HTTP_PORT=8083
EXPOSE 8083

FROM runtime AS git-watcher
ENV SERVICE=git-watcher FLOTILLA_HTTP_PORT=8080
EXPOSE 8080

FROM runtime AS registry-watcher
ENV SERVICE=registry-watcher FLOTILLA_HTTP_PORT=8080
EXPOSE 8080

FROM runtime AS audit-writer
ENV SERVICE=audit-writer FLOTILLA_HTTP_PORT=8080
EXPOSE 8080

FROM runtime AS cluster-applier
ENV SERVICE=cluster-applier FLOTILLA_HTTP_PORT=8084
EXPOSE 8084

# The console's single-page app is built here (esbuild, Preact) and shipped built.
FROM deps AS console-web
RUN node --import tsx services/console/src/build-web.ts

FROM runtime AS console
COPY --from=console-web --chown=root:root /app/services/console/dist /app/services/console/dist
ENV SERVICE=console FLOTILLA_HTTP_PORT=8085
EXPOSE 8085

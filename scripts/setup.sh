#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently: Node 24 LTS (when the machine's node is
# older), Debian packages, the Go-built servers (nats-server, the Kubernetes test cluster, KWOK)
# and kustomize renderer (flotilla-kustomize), and npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/node.sh

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need=()
command -v git >/dev/null || need+=(git)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# Headless Chromium for the console's browser test (driven by playwright-core; no browser download).
command -v chromium >/dev/null || need+=(chromium)
# libfaketime: the fault suite runs a planner with its wall clock ±30 s off (test/faults).
command -v faketime >/dev/null || need+=(faketime)
# The container suites (test/containers): images built with buildah from a base made by
# mmdebstrap, run with podman (runc; see deploy/containers/containers.conf) and compose run by
# podman-compose. No Docker engine and no public image registry are needed.
for cmd in podman:podman buildah:buildah skopeo:skopeo podman-compose:podman-compose runc:runc \
  newuidmap:uidmap fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns mmdebstrap:mmdebstrap; do
  command -v "${cmd%%:*}" >/dev/null || need+=("${cmd#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

flotilla_use_node
log "node $(node --version) ($(command -v node))"

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v kubectl >/dev/null || { echo "kubectl is required (v1.32 with kustomize)"; exit 1; }

log "nats-server (pinned, from the Go module)"
bash deploy/nats/build.sh
log "Kubernetes test cluster + KWOK (from the Go modules; cached by source hash)"
bash deploy/testcluster/build.sh
log "flotilla-kustomize, the planner's kustomize renderer (from kustomize/api; cached by source hash)"
bash deploy/flotilla-kustomize/build.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The bases every image build starts from (Debian rootfs by mmdebstrap, about 3 min cold; Node 24;
# kubectl; the compose infrastructure), cached under ~/.cache/flotilla/images and in podman's
# storage: a second run finds them and takes seconds. Service images are built by the tests.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/containers/containers.conf}"
if podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null 2>&1; then
  log "container base images (cached)"
  bash scripts/images.sh --base-only --compose-infra
else
  log "WARNING: podman cannot run here; the container suites will be skipped: $(podman info 2>&1 | tail -1)"
fi

log "build (bundles of the services and the CLI: what production runs)"
node scripts/build.ts
log "ready"

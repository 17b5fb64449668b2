#!/usr/bin/env bash
# Builds the Flotilla images with buildah (no Docker, no image registry needed) and optionally
# pushes them to a registry:
#   bash scripts/images.sh                            # build localhost/flotilla/<service>:<tags>
#   bash scripts/images.sh --push 127.0.0.1:5000      # … and push (plain HTTP), writing digests
#   bash scripts/images.sh --push 127.0.0.1:5000 --pin  # … and pin those digests in the install
#                                                      # (deploy/kustomize/images, used by every overlay)
#                                                      # and NATS's in docker-compose.yml
#   bash scripts/images.sh --base-only --compose-infra  # only the cached bases (scripts/setup.sh)
# The base is made here: Debian bookworm minbase from mmdebstrap (cached as a tarball under
# ~/.cache/flotilla/images) plus the pinned Node 24 (scripts/lib/node.sh) and npm; the Dockerfile
# takes it as BASE, KUBECTL_IMAGE as a one-file image of this machine's kubectl and
# KUSTOMIZE_IMAGE as one of the flotilla-kustomize setup built. Elsewhere
# `docker build --target <service> .` uses the official node and kubectl images instead.
# Tags: <version> and <version>-<git short rev>[-dirty]. Writes .flotilla/images.json (refs by
# tag and, after --push, by digest) and .flotilla/images.md (sizes). Idempotent; layers cached.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/node.sh

PUSH=""
SMOKE=""
PIN=""
INFRA=""
BASE_ONLY=""
SERVICES=(planner git-watcher registry-watcher audit-writer cluster-applier console)
while [ $# -gt 0 ]; do
  case "$1" in
    --push) PUSH="$2"; shift 2 ;;
    --only) IFS=, read -r -a SERVICES <<<"$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --pin) PIN=1; shift ;;
    --compose-infra) INFRA=1; shift ;;
    --base-only) BASE_ONLY=1; shift ;;
    *) echo "usage: $0 [--push host:port [--pin]] [--only svc,svc] [--smoke] [--compose-infra] [--base-only]" >&2; exit 2 ;;
  esac
done
if [ -n "$PIN" ] && [ -z "$PUSH" ]; then echo "--pin needs --push (digests come from the registry)" >&2; exit 2; fi

log() { printf '\033[1m[images]\033[0m %s\n' "$*"; }
CACHE="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/containers/containers.conf}"
export TMPDIR="${TMPDIR:-$CACHE/tmp}"
mkdir -p "$CACHE/images" "$TMPDIR" .flotilla
# One build at a time per machine: two test files (or two engineers) building the same tags at
# once only race each other for the same cores and layers.
exec 8>"$CACHE/images/.build.lock"
flock 8

# Debian packages (the same list the compose test needs); installed once.
need=()
for cmd in podman:podman buildah:buildah skopeo:skopeo mmdebstrap:mmdebstrap runc:runc podman-compose:podman-compose newuidmap:uidmap fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns; do
  command -v "${cmd%%:*}" >/dev/null || need+=("${cmd#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

flotilla_node_install
NPM_DIR="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
NPM_VERSION="$(node -p "require('$NPM_DIR/package.json').version")"
SUITE=bookworm
PACKAGES=ca-certificates,tini,git,openssh-client
# No manuals, translations or docs in a container (copyright files stay): about 60 MiB less.
DPKG_OPTS=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright')

# 1. Debian rootfs (about 3 min cold; cached by suite and package list).
rootfs="$CACHE/images/$SUITE-minbase-$(echo "$PACKAGES ${DPKG_OPTS[*]}" | sha256sum | cut -c1-12).tar"
if [ ! -s "$rootfs" ]; then
  log "Debian $SUITE minbase + $PACKAGES with mmdebstrap → $rootfs"
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "${DPKG_OPTS[@]}" --format=tar "$SUITE" "$rootfs.tmp"
  mv "$rootfs.tmp" "$rootfs"
fi
debian="localhost/debian-minbase:$SUITE-$(basename "$rootfs" .tar | sed 's/.*-//')"
BASE="localhost/flotilla-base:${debian##*:}-node$FLOTILLA_NODE_VERSION-npm$NPM_VERSION"
if ! podman image exists "$debian"; then
  log "import $debian"
  podman import --quiet "$rootfs" "$debian" >/dev/null
fi

# 2. The base: Debian + Node + npm, laid out like the official node images (/usr/local).
if ! podman image exists "$BASE"; then
  log "base $BASE"
  ctr=$(buildah from --quiet "$debian")
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  buildah copy --quiet "$ctr" "$FLOTILLA_NODE_DIR/bin/node" /usr/local/bin/node >/dev/null
  buildah copy --quiet "$ctr" "$NPM_DIR" /usr/local/lib/node_modules/npm >/dev/null
  buildah run "$ctr" -- sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version' >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE" >/dev/null
  trap - EXIT
fi

# 3. kubectl for the planner: this machine's static kubectl as a one-file image.
kubectl_bin="${KUBECTL_BIN:-}"
if [ -z "$kubectl_bin" ]; then
  real="$(readlink -f "$(command -v kubectl)")"
  # The Cloud SDK's kubectl is a version dispatcher; the versioned binaries sit beside it.
  kubectl_bin="$(ls "$(dirname "$real")"/kubectl.1.* 2>/dev/null | sort -V | tail -1 || true)"
  kubectl_bin="${kubectl_bin:-$real}"
fi
kubectl_version="$("$kubectl_bin" version --client -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).clientVersion.gitVersion))')"
KUBECTL_IMAGE="localhost/kubectl:$kubectl_version"
if ! podman image exists "$KUBECTL_IMAGE"; then
  log "kubectl image $KUBECTL_IMAGE from $kubectl_bin"
  ctr=$(buildah from --quiet scratch)
  buildah copy --quiet --chmod 755 "$ctr" "$kubectl_bin" /bin/kubectl >/dev/null
  buildah config --entrypoint '["/bin/kubectl"]' "$ctr"
  buildah commit --quiet --rm "$ctr" "$KUBECTL_IMAGE" >/dev/null
fi

# 3b. flotilla-kustomize for the planner: the binary setup built (deploy/flotilla-kustomize),
# as a one-file image tagged by its source hash. Without it the Dockerfile builds it from source
# in a golang image.
bash deploy/flotilla-kustomize/build.sh
kustomize_bin="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin/flotilla-kustomize"
kustomize_hash="$(cut -c1-12 "${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin/.flotilla-kustomize.stamp")"
KUSTOMIZE_IMAGE="localhost/flotilla-kustomize:$kustomize_hash"
if ! podman image exists "$KUSTOMIZE_IMAGE"; then
  log "flotilla-kustomize image $KUSTOMIZE_IMAGE from $kustomize_bin"
  ctr=$(buildah from --quiet scratch)
  buildah copy --quiet --chmod 755 "$ctr" "$kustomize_bin" /bin/flotilla-kustomize >/dev/null
  buildah config --entrypoint '["/bin/flotilla-kustomize"]' "$ctr"
  buildah commit --quiet --rm "$ctr" "$KUSTOMIZE_IMAGE" >/dev/null
fi

# 4. NATS: the nats-server the tests run (pinned, built from its Go module by scripts/setup.sh)
# on Debian minbase with wget for the compose healthcheck. It ships with the services (pushed
# and pinned by digest beside them) because the install and compose reference every image by
# digest, and a digest is only known for an image built or pulled here.
nats_bin="$(ls "$CACHE"/bin/nats-*/nats-server 2>/dev/null | sort -V | tail -1 || true)"
nats_version="$(basename "$(dirname "${nats_bin:-/nats-none/x}")" | sed 's/^nats-//')"
if [ -n "$INFRA$PUSH" ]; then
  [ -n "$nats_bin" ] || { echo "no nats-server under $CACHE/bin: run scripts/setup.sh first" >&2; exit 1; }
  if ! podman image exists "localhost/flotilla/nats:$nats_version"; then
    log "nats: localhost/flotilla/nats:$nats_version"
    ctr=$(buildah from --quiet "$debian")
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    buildah run --network host "$ctr" -- sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends wget >/dev/null && rm -rf /var/lib/apt/lists/*'
    buildah copy --quiet --chmod 755 "$ctr" "$nats_bin" /usr/local/bin/nats-server >/dev/null
    buildah config --entrypoint '["/usr/local/bin/nats-server"]' --cmd '' --port 4222 --port 6222 --port 8222 \
      --label org.opencontainers.image.title=nats-server --label org.opencontainers.image.version="$nats_version" \
      --label org.opencontainers.image.source=https://github.com/nats-io/nats-server "$ctr"
    buildah commit --quiet --rm "$ctr" "localhost/flotilla/nats:$nats_version" >/dev/null
    trap - EXIT
  fi
fi

# 5. --compose-infra: the other images docker-compose.yml takes, the Git server and the registry,
# made here because no public registry is reachable (elsewhere compose pulls alpine/git and
# registry:2): git daemon on the base and Debian's CNCF Distribution registry. The compose test
# runs with FLOTILLA_{NATS,GIT,REGISTRY}_IMAGE pointing at these and the NATS image above.
if [ -n "$INFRA" ]; then
  if ! podman image exists localhost/flotilla/git-daemon:latest; then
    log "compose infra: localhost/flotilla/git-daemon"
    ctr=$(buildah from --quiet "$BASE")
    buildah config --entrypoint '["git"]' --cmd '' --port 9418 "$ctr"
    buildah commit --quiet --rm "$ctr" localhost/flotilla/git-daemon:latest >/dev/null
  fi
  if ! podman image exists localhost/flotilla/registry:2; then
    log "compose infra: localhost/flotilla/registry:2 (Debian docker-registry)"
    ctr=$(buildah from --quiet "$debian")
    buildah copy --quiet --chmod 755 "$ctr" /usr/bin/docker-registry /usr/local/bin/registry >/dev/null
    buildah run "$ctr" -- sh -c 'mkdir -p /etc/docker/registry /var/lib/registry && printf "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n" > /etc/docker/registry/config.yml'
    buildah config --entrypoint '["/usr/local/bin/registry"]' --cmd '["serve","/etc/docker/registry/config.yml"]' --port 5000 "$ctr"
    buildah commit --quiet --rm "$ctr" localhost/flotilla/registry:2 >/dev/null
  fi
fi

# --base-only: what does not change with the code (the Debian rootfs, the base, kubectl and the
# compose infrastructure) is made once per machine by scripts/setup.sh, so no test spends its
# hook timeout on mmdebstrap.
if [ -n "$BASE_ONLY" ]; then
  log "bases ready: $BASE, $KUBECTL_IMAGE"
  exit 0
fi

# 6. The service images.
VERSION="$(node -p "require('./package.json').version")"
REV="$(git rev-parse --short=12 HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || REV="$REV-dirty"
SOURCE="$(git config --get remote.origin.url || true)"
declare -A refs sizes digests
# Behind a TLS-intercepting proxy the build's npm needs the host's CA bundle.
ca_args=()
ca="${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}"
if [ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ]; then
  ca_args=(--volume "$ca:/host-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/host-ca.crt)
fi
for svc in "${SERVICES[@]}"; do
  image="localhost/flotilla/$svc"
  log "build $image:$VERSION-$REV"
  start=$(date +%s)
  buildah bud --quiet --layers --format docker --network host \
    --build-arg BASE="$BASE" --build-arg KUBECTL_IMAGE="$KUBECTL_IMAGE" --build-arg KUSTOMIZE_IMAGE="$KUSTOMIZE_IMAGE" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$(git rev-parse HEAD)" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --build-arg SOURCE="$SOURCE" "${ca_args[@]}" \
    --target "$svc" -t "$image:$VERSION" -t "$image:$VERSION-$REV" . >/dev/null
  sizes[$svc]=$(podman image inspect --format '{{.Size}}' "$image:$VERSION")
  log "  $(( sizes[$svc] / 1024 / 1024 )) MiB in $(( $(date +%s) - start )) s"
  refs[$svc]="$image:$VERSION-$REV"
  if [ -n "$PUSH" ]; then
    remote="$PUSH/flotilla/$svc"
    for tag in "$VERSION" "$VERSION-$REV"; do
      podman push --quiet --tls-verify=false --digestfile "$TMPDIR/$svc.digest" "$image:$tag" "docker://$remote:$tag"
    done
    digests[$svc]="$(cat "$TMPDIR/$svc.digest")"
    refs[$svc]="$remote:$VERSION-$REV@${digests[$svc]}"
    log "  pushed ${refs[$svc]}"
  fi
done

if [ -n "$PUSH" ]; then
  remote="$PUSH/flotilla/nats:$nats_version"
  podman push --quiet --tls-verify=false --digestfile "$TMPDIR/nats.digest" "localhost/flotilla/nats:$nats_version" "docker://$remote"
  digests[nats]="$(cat "$TMPDIR/nats.digest")"
  log "  pushed $remote@${digests[nats]}"
fi

# --smoke: each image runs as users run it (read-only root filesystem, its own non-root user,
# tini as PID 1). With a bad setting it must stop at once with the config error (exit 78); the
# git-watcher must then become ready against a real NATS. Times are `podman run` to that point.
declare -A smoke
if [ -n "$SMOKE" ]; then
  for svc in "${SERVICES[@]}"; do
    start=$(date +%s.%N)
    set +e
    out=$(podman run --rm --read-only --network none -e FLOTILLA_HTTP_PORT=eighty "localhost/flotilla/$svc:$VERSION" 2>&1)
    code=$?
    set -e
    took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    if [ $code -ne 78 ] || ! grep -q "invalid configuration" <<<"$out"; then
      echo "$svc: expected exit 78 with the config problems, got $code:" >&2
      echo "$out" >&2
      exit 1
    fi
    smoke[$svc]="$took"
    log "  $svc: config error reported, exit 78, in ${took} s"
  done
  if [[ " ${SERVICES[*]} " == *" git-watcher "* ]]; then
    nats_bin="$(ls "$CACHE"/bin/nats-*/nats-server | sort -V | tail -1)"
    natsdir="$(mktemp -d)"
    port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
    hport=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
    "$nats_bin" -a 127.0.0.1 -p "$port" -js -sd "$natsdir" >"$natsdir/log" 2>&1 &
    nats_pid=$!
    name="flotilla-smoke-$$"
    cleanup_smoke() { podman rm -f -t 2 "$name" >/dev/null 2>&1 || true; kill "$nats_pid" 2>/dev/null || true; wait "$nats_pid" 2>/dev/null || true; rm -rf "$natsdir"; }
    trap cleanup_smoke EXIT
    start=$(date +%s.%N)
    podman run -d --name "$name" --read-only --network host \
      -e FLOTILLA_NATS_SERVERS="nats://127.0.0.1:$port" -e FLOTILLA_HTTP_PORT="$hport" \
      -e FLOTILLA_REPOSITORIES='[{"name":"smoke","url":"git://127.0.0.1:1/smoke.git","branch":"main"}]' \
      -e FLOTILLA_CACHE_DIR=/tmp/git-watcher "localhost/flotilla/git-watcher:$VERSION" >/dev/null
    until curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1; do
      if [ "$(podman inspect -f '{{.State.Running}}' "$name")" != true ]; then podman logs "$name" >&2; exit 1; fi
      sleep 0.1
    done
    took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    smoke[git-watcher-ready]="$took"
    log "  git-watcher: ready against NATS in ${took} s (podman run → /readyz 200)"
    podman stop -t 10 "$name" >/dev/null
    [ "$(podman inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || { echo "git-watcher did not exit 0 on SIGTERM" >&2; exit 1; }
    log "  git-watcher: SIGTERM → drained, exit 0"
    cleanup_smoke
    trap - EXIT
  fi
fi

{
  echo "{"
  i=0
  for svc in "${SERVICES[@]}"; do
    i=$((i + 1)); sep=","; [ $i -eq ${#SERVICES[@]} ] && sep=""
    echo "  \"$svc\": { \"ref\": \"${refs[$svc]}\", \"size\": ${sizes[$svc]}, \"smokeSeconds\": ${smoke[$svc]:-null} }$sep"
  done
  echo "}"
} >.flotilla/images.json
log "wrote .flotilla/images.json"

# --pin: the install references exactly these builds, by digest (a tag can be moved; a digest
# cannot). One file, a kustomize Component every overlay includes; the manifests keep the public
# names (ghcr.io/flotilla/<service>): the digest is the same in any registry the image is copied to.
if [ -n "$PIN" ]; then
  pin=deploy/kustomize/images/kustomization.yaml
  {
    echo "# Written by \`scripts/images.sh --push <registry> --pin\` ($VERSION, revision $(git rev-parse --short=12 HEAD))."
    echo "# Every overlay includes this Component, so each Flotilla image is pulled by the digest of"
    echo "# that build; cli/test/deploy-manifests.test.ts checks every container is pinned."
    echo "apiVersion: kustomize.config.k8s.io/v1alpha1"
    echo "kind: Component"
    echo "images:"
    for svc in planner git-watcher registry-watcher audit-writer cluster-applier console nats; do
      # A service not built this time keeps the digest pinned before.
      d="${digests[$svc]:-$(grep -A1 "^  - name: ghcr.io/flotilla/$svc\$" "$pin" 2>/dev/null | sed -n 's/^    digest: //p')}"
      [ -n "$d" ] || { echo "no digest for $svc: build and push it too" >&2; exit 1; }
      printf '  - name: ghcr.io/flotilla/%s\n    digest: %s\n' "$svc" "$d"
    done
  } >"$pin.tmp"
  mv "$pin.tmp" "$pin"
  log "pinned digests in $pin"
  # docker-compose.yml's default NATS image: the same build, by digest (the services there are
  # built from this checkout by compose itself).
  sed -i -E "s#(image: \\\$\{FLOTILLA_NATS_IMAGE:-)[^}]*\}#\1ghcr.io/flotilla/nats:$nats_version@${digests[nats]}}#" docker-compose.yml
  grep -q "ghcr.io/flotilla/nats:$nats_version@${digests[nats]}" docker-compose.yml ||
    { echo "docker-compose.yml: NATS image line not found" >&2; exit 1; }
  log "pinned NATS in docker-compose.yml"
fi

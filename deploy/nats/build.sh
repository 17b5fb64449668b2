#!/usr/bin/env bash
# Builds the pinned nats-server from its Go module into the shared cache. Debian's 2.9 is too
# old to rely on (streams could be lost after a crash before 2.10.23). Idempotent.
set -euo pipefail
NATS_VERSION="${NATS_VERSION:-v2.15.2}"
CACHE="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}"
dest="$CACHE/bin/nats-${NATS_VERSION#v}"
if [ -x "$dest/nats-server" ]; then
  echo "nats-server $NATS_VERSION already built: $dest/nats-server"
  exit 0
fi
mkdir -p "$dest"
start=$(date +%s)
GOBIN="$dest" CGO_ENABLED=0 go install -ldflags "-s -w" "github.com/nats-io/nats-server/v2@${NATS_VERSION}"
echo "built nats-server $NATS_VERSION in $(( $(date +%s) - start ))s: $dest/nats-server"

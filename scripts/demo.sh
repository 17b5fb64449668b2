#!/usr/bin/env bash
# README command 1: installs what is missing, then brings up NATS, git, a registry, four clusters
# and every service, and shows an image rolling dev → test → uat → (approval) → prod.
#   bash scripts/demo.sh          # interactive: keeps running until Ctrl-C
#   bash scripts/demo.sh --ci     # unattended: exits 0 when the story completes
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/node.sh
flotilla_use_node
bash scripts/setup.sh
# The harness runs on Node's type stripping; the services and CLI it starts run from the bundles
# setup just built (the production path).
exec node scripts/demo.ts "$@"

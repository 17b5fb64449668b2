#!/usr/bin/env bash
# README command 2: everything a fresh machine needs, then every test (lint, types, schemas, unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 first on PATH for everything below (setup installs it when the machine's is older).
. scripts/lib/node.sh
flotilla_use_node
bash scripts/setup.sh
exec npm test

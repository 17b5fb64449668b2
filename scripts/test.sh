#!/usr/bin/env bash
# README command 2: everything a fresh machine needs, then every test (lint, types, schemas, unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm test

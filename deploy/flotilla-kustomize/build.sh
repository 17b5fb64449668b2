#!/usr/bin/env bash
# Builds flotilla-kustomize (the planner's kustomize renderer, see main.go) into
# ${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin/. Idempotent: skips the build when a hash of the
# Go sources, this script and the Go version matches the stamp. Safe to run concurrently (a
# lock serialises builders). Small: kustomize/api and kyaml only, about 18 MB.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}"
bin="$cache/bin"
mkdir -p "$bin"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=go; else GO=/usr/local/go/bin/go; fi
fi

hash="$(
  cd "$here"
  {
    "$GO" version
    for f in go.mod go.sum build.sh *.go; do
      echo "== $f"
      cat "$f"
    done
  } | sha256sum | cut -d' ' -f1
)"
stamp="$bin/.flotilla-kustomize.stamp"
up_to_date() { [[ -x "$bin/flotilla-kustomize" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; }

if up_to_date; then
  echo "flotilla-kustomize: up to date ($bin/flotilla-kustomize)" >&2
  exit 0
fi
exec 9>"$bin/.flotilla-kustomize.lock"
flock 9
if up_to_date; then
  echo "flotilla-kustomize: built by a concurrent run ($bin/flotilla-kustomize)" >&2
  exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$bin/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Built at low priority: this machine is shared, and the binary is a speed-up, not a blocker.
(cd "$here" && CGO_ENABLED=0 nice -n 5 "$GO" build -trimpath -ldflags "-s -w" -o "$tmp/flotilla-kustomize" .)
mv -f "$tmp/flotilla-kustomize" "$bin/flotilla-kustomize"
echo "$hash" >"$stamp"
echo "flotilla-kustomize: built in $(( $(date +%s) - start ))s ($bin/flotilla-kustomize)" >&2

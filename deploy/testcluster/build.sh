#!/usr/bin/env bash
# Builds the single-process test control plane (testcluster) and KWOK into
# ${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/bin/. Idempotent: skips the build when
# a hash of the Go sources, this script and the Go version matches the stamp.
# Safe to run concurrently (a lock serialises builders).
set -euo pipefail

KUBE_VERSION=v1.34.3
KWOK_VERSION=v0.7.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}"
bin="$cache/bin"
mkdir -p "$bin"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=go; else GO=/usr/local/go/bin/go; fi
fi

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

hash="$(
  cd "$here"
  {
    "$GO" version
    echo "kwok $KWOK_VERSION kube $KUBE_VERSION"
    for f in go.mod go.sum build.sh *.go; do
      echo "== $f"
      cat "$f"
    done
  } | sha256sum | cut -d' ' -f1
)"
stamp="$bin/.testcluster.stamp"

up_to_date() {
  [[ -x "$bin/testcluster" && -x "$bin/kwok" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]
}

if up_to_date; then
  echo "testcluster: warm, up to date in $(elapsed)s ($bin)" >&2
  exit 0
fi

exec 9>"$bin/.testcluster.lock"
flock 9
if up_to_date; then # another builder finished while we waited
  echo "testcluster: built by a concurrent run, ready in $(elapsed)s ($bin)" >&2
  exit 0
fi

echo "testcluster: building (Kubernetes $KUBE_VERSION, KWOK $KWOK_VERSION) into $bin ..." >&2
export CGO_ENABLED=0
ldflags="-s -w"
for kv in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=34" "gitTreeState=clean"; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done

tmp="$(mktemp -d "$bin/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

(cd "$here" && "$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/testcluster" .)
# kwok has no replace directives, so a plain module install works (outside our module).
(cd "$tmp" && GOBIN="$tmp" GOFLAGS=-mod=mod "$GO" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")

mv -f "$tmp/testcluster" "$bin/testcluster"
mv -f "$tmp/kwok" "$bin/kwok"
echo "$hash" >"$stamp"
echo "testcluster: cold build done in $(elapsed)s ($bin)" >&2

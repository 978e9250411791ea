#!/usr/bin/env bash
# Installs what `just bench-load` needs beyond the workspace's binaries and
# prints the flags that point bench-load at them: Node 23.5.0 and Bun from
# the npm registry (into the git-ignored .runtimes/), wrk from Debian's
# packages (as root, when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
node=$(scripts/runtime.sh node 23.5.0)
bun=$(scripts/runtime.sh bun 1.4.5)
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q >&2 && apt-get install -y -q wrk >&2
  else
    echo "scripts/bench-deps.sh: wrk is missing (apt-get install wrk)" >&2
    exit 1
  fi
fi
echo "--node $node --bun $bun --wrk $(command -v wrk)"

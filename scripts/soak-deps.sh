#!/usr/bin/env bash
# Installs what `just soak` needs beyond the workspace's binaries and prints
# the flags that point the soak harness at them: Node 23.5.0 from the npm
# registry (into the git-ignored .runtimes/), wrk from Debian's packages
# (as root, when it is missing). scripts/bench-deps.sh adds Bun to these.
set -euo pipefail
cd "$(dirname "$0")/.."
node=$(scripts/runtime.sh node 23.5.0)
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q >&2 && apt-get install -y -q wrk >&2
  else
    echo "scripts/soak-deps.sh: wrk is missing (apt-get install wrk)" >&2
    exit 1
  fi
fi
echo "--node $node --wrk $(command -v wrk)"

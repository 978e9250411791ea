#!/usr/bin/env bash
# Installs a JavaScript runtime from the npm registry into .runtimes/ (git-ignored)
# and prints the path of its binary. Idempotent: an installed runtime is reused.
#
#   scripts/runtime.sh node 23.5.0    -> .runtimes/node-23.5.0/node_modules/.bin/node
#   scripts/runtime.sh bun 1.4.5      -> .runtimes/bun-1.4.5/node_modules/.bin/bun
#   scripts/runtime.sh deno 2.9.6     -> .runtimes/deno-2.9.6/node_modules/.bin/deno
#
# The npm packages `node@X`, `bun@X` and `deno@X` carry the binaries (in their
# platform dependencies); see ../shared/RUNTIMES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/runtime.sh node VERSION}
version=${2:?usage: scripts/runtime.sh node VERSION}
case "$name" in
  node) want="v$version" ;;
  bun) want="$version" ;;
  deno) want="deno $version" ;;
  *) echo "scripts/runtime.sh: unknown runtime '$name' (known: node, bun, deno)" >&2; exit 2 ;;
esac
# What the binary says about its version: deno prints several lines
# ("deno 2.9.6 (stable, ...)", then v8's and typescript's), the others one.
reported() {
  case "$name" in
    deno) "$1" --version 2>/dev/null | head -n 1 | cut -d' ' -f1,2 ;;
    *) "$1" --version 2>/dev/null ;;
  esac
}
dir=".runtimes/$name-$version"
bin="$dir/node_modules/.bin/$name"
if [ -x "$bin" ] && [ "$(reported "$bin")" = "$want" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$name@$version" >&2
got=$(reported "$bin")
if [ "$got" != "$want" ]; then
  echo "scripts/runtime.sh: installed $bin reports $got, wanted $want" >&2
  exit 1
fi
echo "$bin"

#!/usr/bin/env bash
# The compatibility matrix (`just matrix`): installs the runtimes from the npm
# registry into .runtimes/ (scripts/runtime.sh), then runs the whole suite,
# strict scenarios included, against the embedded reference, the system Node
# (20), Node 22, 23.5.0 (the spec's version), 24 and 26, Bun and Deno, each
# through adapters/node/adapter.mjs, one target after the other.
#
# Writes reports/matrix.json and reports/matrix.html; exits 1 only for a
# failure that conformance/matrix-baseline.toml does not expect. Extra
# arguments go to `nodehttp-conformance matrix` (e.g. --only GLOB, -j N,
# --write-baseline FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

adapter=adapters/node/adapter.mjs
targets=(--target reference=embedded --target "node-20=node $adapter")
for v in 22.23.3 23.5.0 24.21.0 26.10.0; do
  bin=$(scripts/runtime.sh node "$v")
  name=node-${v%%.*}
  [ "$v" = 23.5.0 ] && name=node-23.5.0
  targets+=(--target "$name=$bin $adapter")
done
bun=$(scripts/runtime.sh bun 1.4.5)
deno=$(scripts/runtime.sh deno 2.9.6)
targets+=(--target "bun=$bun $adapter" --target "deno=$deno run -A $adapter")

cargo build --release -q -p nodehttp-conformance
exec target/release/nodehttp-conformance matrix --strict -j 6 "${targets[@]}" \
  --baseline conformance/matrix-baseline.toml \
  --json reports/matrix.json --html reports/matrix.html "$@"

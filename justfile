# nodehttp: recipes beyond the README's two commands. `cargo install just` to get `just`.

node23 := ".runtimes/node-23.5.0/node_modules/.bin/node"

# List the recipes
default:
    @just --list

# The whole suite against the default target, the embedded reference
run *ARGS:
    cargo run --release -q -p nodehttp-conformance -- run {{ARGS}}

# The reference's echo example (flags after Node's options), e.g. `just echo --port 8080`
echo *ARGS:
    cargo run --release -q -p nodehttp --example echo -- {{ARGS}}

# The tests (the README's test command)
test:
    cargo test --workspace

# Install Node 23.5.0 (the spec's version) into .runtimes/
node:
    scripts/runtime.sh node 23.5.0

# The suite against real Node 23.5.0, e.g. `just node-run --only 'server/messageheaders/*'`
node-run *ARGS: node
    cargo run --release -q -p nodehttp-conformance -- run --adapter "{{node23}} adapters/node/adapter.mjs" {{ARGS}}

# The suite against the system Node (`node` on the PATH)
node-system-run *ARGS:
    cargo run --release -q -p nodehttp-conformance -- run --adapter "node adapters/node/adapter.mjs" {{ARGS}}

# JUnit and JSON reports for the reference, Node 23.5.0 and the system Node, in reports/
report: node
    mkdir -p reports
    cargo run --release -q -p nodehttp-conformance -- run --strict --format junit --report reports/reference.xml
    cargo run --release -q -p nodehttp-conformance -- run --adapter "{{node23}} adapters/node/adapter.mjs" --format junit --report reports/node-23.5.0.xml
    cargo run --release -q -p nodehttp-conformance -- run --adapter "{{node23}} adapters/node/adapter.mjs" --format json --report reports/node-23.5.0.json > /dev/null
    cargo run --release -q -p nodehttp-conformance -- run --adapter "node adapters/node/adapter.mjs" --format junit --report reports/node-system.xml

# The compatibility matrix: installs Node 22, 23.5.0, 24, 26, Bun and Deno into .runtimes/,
# runs the suite against them, the system Node (20) and the reference; writes
# reports/matrix.html and reports/matrix.json; fails only on failures not in
# conformance/matrix-baseline.toml. E.g. `just matrix --only 'server/*'`
matrix *ARGS:
    scripts/matrix.sh {{ARGS}}

# Headless Chromium and chromedriver (Debian packages), for the HTML report's browser test
browser:
    scripts/browser.sh

# docs/matrix.png: reports/matrix.html in headless Chromium, failing rows, one diff open
matrix-screenshot: browser
    #!/usr/bin/env bash
    set -euo pipefail
    [ -f reports/matrix.html ] || just matrix || true
    profile=$(mktemp -d)
    trap 'rm -rf "$profile"' EXIT
    chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
      --window-size=1400,1100 --screenshot=docs/matrix.png \
      "file://$PWD/reports/matrix.html#outcome=failing&open=bun%7Cserver%2Fevent-checkcontinue%2Flistener-refuses-417" 2> /dev/null

# The spec site in reports/site/ (a page per section, each target's results from reports/matrix.json when there is one)
site *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    matrix=()
    [ -f reports/matrix.json ] && matrix=(--matrix reports/matrix.json)
    cargo run --release -q -p nodehttp-conformance -- site --out reports/site "${matrix[@]}" {{ARGS}}

# docs/site.png: a page of the spec site in headless Chromium, a Bun failure's diff open
site-screenshot: browser
    #!/usr/bin/env bash
    set -euo pipefail
    [ -f reports/matrix.json ] || just matrix || true
    just site
    profile=$(mktemp -d)
    trap 'rm -rf "$profile"' EXIT
    chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
      --window-size=1400,1900 --screenshot=docs/site.png \
      "file://$PWD/reports/site/responsestatusmessage.html?open=server%2Fresponsestatusmessage%2Fdefault-from-status-codes" 2> /dev/null

# Record what Node 23.5.0 does into scenarios' wire and events blocks, e.g. `just record 'client/agentdestroy/*'`
record +IDS: node
    cargo run --release -q -p nodehttp-conformance -- record {{IDS}} --adapter "{{node23}} adapters/node/adapter.mjs"

# Section coverage of the fixtures
coverage:
    cargo run --release -q -p nodehttp-conformance -- coverage

# Lints, as CI would want them
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Fuzz TARGET with libFuzzer for SECONDS (default 60), seeded with the fixtures' corpus
# and the kept finds; e.g. `just fuzz connection 600`. Targets: see fuzz/README.md.
fuzz TARGET SECONDS="60":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz
    cargo run --release -q -p nodehttp-fuzz-seeds -- --out target/fuzz-seeds > /dev/null
    case "{{TARGET}}" in
      parse_response) seeds=target/fuzz-seeds/responses ;;
      connection) seeds=target/fuzz-seeds/seeds/connection ;;
      client_connection) seeds=target/fuzz-seeds/seeds/client_connection ;;
      websocket_frames) seeds=target/fuzz-seeds/seeds/websocket_frames ;;
      *) seeds=target/fuzz-seeds/requests ;;
    esac
    mkdir -p fuzz/corpus/{{TARGET}} fuzz/regressions/{{TARGET}}
    cd fuzz
    # -s none: no sanitizer, so the stable toolchain builds it (see fuzz/README.md).
    cargo fuzz run -s none {{TARGET}} corpus/{{TARGET}} "../$seeds" regressions/{{TARGET}} -- \
      -max_total_time={{SECONDS}} -print_final_stats=1

# Microbenchmarks of the sans-IO core (criterion, byte throughput)
bench-micro *ARGS:
    cargo bench -p nodehttp --bench micro -- {{ARGS}}

# Client benchmark: the reference client against Node 23.5.0's, both against the hyper hello (BENCHMARKS.md)
bench-client *ARGS:
    cargo build --release -q -p nodehttp-bench
    target/release/bench-client --node $(scripts/runtime.sh node 23.5.0) {{ARGS}}

# Allocations per request of the hello over keep-alive, reference and hyper, counted in-process (BENCHMARKS.md)
bench-allocs *ARGS:
    cargo build --release -q -p nodehttp-bench
    target/release/bench-allocs {{ARGS}}

# Instructions per request of the hello over keep-alive (user space, server threads), under
# valgrind's callgrind: two runs of bench-allocs, the difference divided by the extra requests;
# three rounds, the median.
# SERVER: reference or hyper. E.g. `just bench-instructions hyper`
bench-instructions SERVER="reference" *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v valgrind > /dev/null || apt-get install -y valgrind
    cargo build --release -q -p nodehttp-bench
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    count() {
      rm -f "$dir"/callgrind.out.*
      valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/callgrind.out" \
        target/release/bench-allocs --only {{SERVER}} --workers 1 --warmup 200 --requests "$1" {{ARGS}} > /dev/null 2>&1
      # Thread 1 is the client (the main thread); the others are the runtime's.
      grep -h '^totals:' $(ls "$dir"/callgrind.out-* | grep -v -- '-01$') | awk '{ s += $2 } END { print s }'
    }
    # How many polls a request takes varies with the timing of the client
    # and the server under valgrind: three rounds, the median and the range.
    runs=()
    for round in 1 2 3; do
      a=$(count 2000)
      b=$(count 6000)
      runs+=($(( (b - a) / 4000 )))
    done
    sorted=($(printf '%s\n' "${runs[@]}" | sort -n))
    echo "{{SERVER}}: ${sorted[1]} instructions per request (median of 3; ${sorted[0]} to ${sorted[2]}; user space, server threads)"

# Load benchmark: the reference's hello against Node 23.5.0, Bun and hyper (BENCHMARKS.md), e.g. `just bench-load --rounds 5`
bench-load *ARGS:
    cargo build --release -q -p nodehttp --example hello
    cargo build --release -q -p nodehttp-bench
    target/release/bench-load $(scripts/bench-deps.sh) {{ARGS}}

# Reliability: the reference's echo example and Node 23.5.0 side by side under slowloris,
# idle connections, slow readers and uploads, a pipelining flood, resets under wrk load,
# malformed input and the descriptor limit (RELIABILITY.md; under 10 minutes). Installs
# Node 23.5.0 and wrk when missing. E.g. `just soak --only idle`
soak *ARGS:
    cargo build --release -q -p nodehttp --example echo
    cargo build --release -q -p nodehttp-bench --bin soak
    target/release/soak $(scripts/soak-deps.sh) {{ARGS}}

# The short soak (under a minute), as CI runs it
soak-short *ARGS:
    just soak --short {{ARGS}}

# Everyday recipes. Plain cargo works too: see README.md.

# Run every test (the live ones need the Docker engine).
test:
    cargo test --workspace

# Format check and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The demo report (out/demo/report.html).
demo:
    cargo run --release -- demo

# Benchmarks: scheduler kernel (PHOLD) and the 23k-host fleet.
bench:
    cargo bench -p shakedown-sim
    cargo run --release -- bench

# Live-mode benchmarks (issue 6): load generator vs wrk, router overhead,
# wall time of live test 1. Installs wrk if missing; see docs/BENCHMARKS.md.
bench-live *args:
    bash scripts/bench-live.sh {{args}}

# Run a scenario twice with one seed and compare every output byte.
det-check scenario="scenarios/rolling-basic.toml" seed="7":
    cargo run --release -- det-check {{scenario}} --seed {{seed}}

# Everything CI runs.
ci:
    bash .ci/run

# Peers of the simulator (issue 14): SimPy's hold model vs the PHOLD kernel
# at 10^3/10^5/10^6 pending, and the rolling update of rolling-basic and
# fleet-23k written in SimPy. Installs SimPy into target/peers-venv.
bench-peers *args:
    bash scripts/bench-peers.sh {{args}}

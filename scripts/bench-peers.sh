#!/usr/bin/env bash
# Peers of the simulator (issue 14), in one run, recorded in docs/BENCHMARKS.md:
#
#   1. kernel: SimPy's classic hold model vs shakedown's PHOLD bench (the
#      calendar queue, and the binary heap it replaced) at the same numbers
#      of pending events; events/s and the ratio to SimPy;
#   2. fleet: the rolling update of scenarios/rolling-basic.toml and
#      scenarios/fleet-23k.toml written in SimPy (scripts/peers/rolling.py,
#      one process per host) vs `shakedown compare` on the scenario's own
#      policy (summary only, one thread): wall time per seed, the speed-up,
#      and mean ± 95 % CI of rollout duration and failed requests.
#
# Usage: scripts/bench-peers.sh [--pending "1000 100000 1000000"]
#          [--simpy-events N] [--basic-seeds N] [--fleet-seeds N] [--no-kernel] [--no-fleet]
#
# Installs SimPy (and numpy, for the fleet model's Poisson draws) with pip
# into a venv under target/ if missing. Other work on a shared machine moves
# every figure: the load average is printed before and after each part.
set -euo pipefail

PENDING="1000 100000 1000000"
SIMPY_EVENTS=500000
BASIC_SEEDS=20
FLEET_SEEDS=3
KERNEL=1
FLEET=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pending) PENDING="$2"; shift 2 ;;
    --simpy-events) SIMPY_EVENTS="$2"; shift 2 ;;
    --basic-seeds) BASIC_SEEDS="$2"; shift 2 ;;
    --fleet-seeds) FLEET_SEEDS="$2"; shift 2 ;;
    --no-kernel) KERNEL=0; shift ;;
    --no-fleet) FLEET=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/target/peers-venv
PY=$VENV/bin/python
if ! "$PY" -c 'import simpy, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet simpy numpy
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load() { echo "# $(date -u +%H:%M:%SZ) $1: load average $(cut -d' ' -f1-3 /proc/loadavg), nproc $(nproc)"; }
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; SimPy $("$PY" -c 'import simpy; print(simpy.__version__)'), $("$PY" --version)"

if [[ $KERNEL == 1 ]]; then
  cargo bench -p shakedown-sim --bench sim --no-run -q 2>/dev/null
  for p in $PENDING; do
    load "kernel, $p pending"
    simpy=$("$PY" scripts/peers/hold.py "$p" "$SIMPY_EVENTS" 3 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["median_events_per_s"])')
    out=$(SHAKEDOWN_BENCH_PENDING=$p cargo bench -q -p shakedown-sim --bench sim -- kernel 2>/dev/null)
    echo "$out"
    cal=$(echo "$out" | sed -n 's/^kernel\/calendar.*= \([0-9.]*\) M events\/s.*/\1/p')
    heap=$(echo "$out" | sed -n 's/^kernel\/heap.*= \([0-9.]*\) M events\/s.*/\1/p')
    "$PY" - "$p" "$simpy" "$cal" "$heap" <<'PY'
import sys
p, simpy, cal, heap = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) * 1e6, float(sys.argv[4]) * 1e6
print(f"kernel/simpy-hold population={p:>7}: {simpy / 1e6:.3f} M events/s (median of 3)")
print(f"RATIO kernel pending={p:>7}: calendar/SimPy = {cal / simpy:.0f}x, heap/SimPy = {heap / simpy:.0f}x")
PY
  done
fi

if [[ $FLEET == 1 ]]; then
  cargo build --release -q -p shakedown
  for spec in "rolling-basic:$BASIC_SEEDS" "fleet-23k:$FLEET_SEEDS"; do
    name=${spec%%:*}; n=${spec##*:}
    sc=scenarios/$name.toml
    load "fleet $name, $n seeds"
    t0=$(date +%s.%N)
    "$PY" scripts/peers/rolling.py "$sc" $(seq 1 "$n") > "$TMP/$name.jsonl"
    simpy_wall=$(echo "($(date +%s.%N) - $t0) / $n" | bc -l)
    # Shakedown: more seeds than SimPy where that is cheap (a tighter CI),
    # timed over the whole `compare` process.
    m=$(( n < 20 ? 20 : n ))
    t0=$(date +%s.%N)
    RAYON_NUM_THREADS=1 target/release/shakedown compare "$sc" --seeds "1..$m" --out "$TMP/$name" >/dev/null 2>&1
    sd_wall=$(echo "($(date +%s.%N) - $t0) / $m" | bc -l)
    "$PY" scripts/peers/stats.py "$name" "$TMP/$name.jsonl" "$TMP/$name/compare.csv" "$simpy_wall" "$sd_wall"
  done
fi
load "end"

"""SimPy's classic hold model: the peer of `cargo bench -p shakedown-sim -- kernel`.

`population` processes each hold for an exponential time (mean 1 s, in ms
like shakedown's PHOLD) and loop, so `population` timeouts are always
pending. Only the hold loop is timed (creating the processes and their first
step are not), as in the Rust bench. Prints one JSON line per run.

    python hold.py POPULATION [EVENTS] [RUNS]
"""

import json
import random
import statistics
import sys
import time

import simpy

MEAN_MS = 1000.0


def run(population, events, seed):
    rnd = random.Random(seed)
    env = simpy.Environment()
    done = [0]

    def lp():
        while True:
            yield env.timeout(rnd.expovariate(1.0 / MEAN_MS))
            done[0] += 1

    for _ in range(population):
        env.process(lp())
    env.run(until=MEAN_MS)  # every process started and in steady state
    start = done[0]
    # Events arrive at population / MEAN_MS per ms: run long enough for
    # about `events` of them, and count the ones that happened.
    horizon = env.now + events * MEAN_MS / population
    t0 = time.perf_counter()
    env.run(until=horizon)
    secs = time.perf_counter() - t0
    return done[0] - start, secs


def main():
    population = int(sys.argv[1])
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rates = []
    for i in range(runs):
        n, secs = run(population, events, i)
        rates.append(n / secs)
    print(
        json.dumps(
            {
                "model": "simpy-hold",
                "simpy": simpy.__version__,
                "population": population,
                "events_per_run": events,
                "runs": runs,
                "median_events_per_s": statistics.median(rates),
                "events_per_s": rates,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Mean ± 95 % CI of rollout_duration_s and requests_failed: SimPy vs shakedown.

    python stats.py LABEL SIMPY.jsonl SHAKEDOWN_COMPARE.csv SIMPY_WALL_S SHAKEDOWN_WALL_S

Wall times are per seed (seconds). Prints one table row per metric and the
speed-up, and whether the two means agree within their combined 95 % CI.
"""

import csv
import json
import math
import statistics
import sys


def ci(xs):
    m = statistics.fmean(xs)
    h = 1.96 * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, h


def main():
    label, simpy_path, csv_path = sys.argv[1:4]
    simpy_wall, sd_wall = float(sys.argv[4]), float(sys.argv[5])
    peer = [json.loads(line) for line in open(simpy_path) if line.strip()]
    ours = list(csv.DictReader(open(csv_path)))
    print(f"fleet/{label}: {len(peer)} SimPy seeds, {len(ours)} shakedown seeds")
    for metric in ["rollout_duration_s", "requests_failed"]:
        a = ci([float(r[metric]) for r in peer])
        b = ci([float(r[metric]) for r in ours])
        agree = abs(a[0] - b[0]) <= math.hypot(a[1], b[1])
        print(
            f"  {metric:>20}: SimPy {a[0]:.1f} ± {a[1]:.1f}   shakedown {b[0]:.1f} ± {b[1]:.1f}"
            f"   {'agree' if agree else 'DIFFER'} within 95 % CI"
        )
    outcomes = sorted({r["outcome"] for r in peer}), sorted({r["outcome"] for r in ours})
    print(f"  outcomes: SimPy {outcomes[0]}, shakedown {outcomes[1]}")
    # `compare` runs two worlds per seed: the rollout, and the same seed
    # without the change (the baseline of the `*_due_to_change` columns).
    print(
        f"  wall per seed: SimPy {simpy_wall:.3f} s (one world), shakedown {sd_wall:.4f} s"
        f" (two: with and without the change)  => speed-up {simpy_wall / sd_wall:.0f}x"
        f" per seed, {2 * simpy_wall / sd_wall:.0f}x per world"
    )


if __name__ == "__main__":
    main()

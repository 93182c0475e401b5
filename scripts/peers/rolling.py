"""A Kubernetes rolling update of a fleet, in SimPy, the way a user would write it.

The fleet-level peer of `shakedown run` (issue 14): the model of
`scenarios/rolling-basic.toml` and `scenarios/fleet-23k.toml` (in-place
change, `kind = "rolling"`, no faults), read from the same TOML file:

- one SimPy process per host: told to upgrade, it goes down at once (still
  routed to until health checks notice, `detection_delay`), installs,
  restarts, serves again, and is *available* after `min_ready`;
- one controller process per tick: offered traffic from the diurnal curve
  (a Poisson count per role, at the middle of the tick); requests to hosts
  that are down but not yet detected fail, each such host taking the share
  of the tick's requests it was down-but-routed for (the time integral of
  the count since the last tick), and so does load above capacity;
  then each role reconciles as the Deployment controller does (maxUnavailable
  rounded down, at least 1; old hosts go while available > minAvailable),
  and the rollout finishes when every host is new and available, or halts
  after `progress_deadline` without progress.

Per seed it prints one JSON line: rollout_duration_s, requests_failed,
the wall time of the run. The random streams are numpy's, not shakedown's,
so the two agree in distribution (compare means over seeds), not per seed.

    python rolling.py SCENARIO.toml SEED [SEED...]
"""

import json
import math
import re
import sys
import time
import tomllib

import numpy as np
import simpy

UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def ms(text):
    """'1h30m' -> milliseconds."""
    if text == "0":
        return 0
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w)", text))


def sampler(spec, rng):
    """A duration distribution of the scenario, sampled in whole ms."""
    if isinstance(spec, str):
        v = ms(spec)
        return lambda: v
    if spec["dist"] == "uniform":
        lo, hi = ms(spec["min"]), ms(spec["max"])
        return lambda: int(rng.integers(lo, hi + 1))
    if spec["dist"] == "lognormal":
        med, p95 = ms(spec["median"]), ms(spec["p95"])
        mu, sigma = math.log(med), math.log(p95 / med) / 1.6448536269514722
        return lambda: int(round(math.exp(mu + sigma * rng.standard_normal())))
    raise ValueError(f"unsupported dist {spec}")


class Role:
    def __init__(self, spec, share, capacity_rps):
        self.name = spec["name"]
        self.desired = spec["hosts"]
        self.share = share
        self.capacity_rps = capacity_rps
        self.serving = self.desired  # routed to and up
        self.stale = 0  # down, still routed to
        self.stale_ms = 0  # host-ms of `stale` since the last tick
        self.stale_t = 0  # when `stale` last changed or was measured
        self.old_total = self.desired
        self.old_available = self.desired
        self.new_total = 0
        self.new_available = 0
        self.old_hosts = []
        self.last_progress = (0, 0)

    def add_stale(self, delta, now):
        self.stale_ms += self.stale * (now - self.stale_t)
        self.stale_t = now
        self.stale += delta

    def stale_hosts(self, now, tick):
        """Down-but-routed hosts over the last tick, time-weighted."""
        self.add_stale(0, now)
        w, self.stale_ms = self.stale_ms / tick, 0
        return w


class Host:
    def __init__(self, env, sim, role):
        self.env, self.sim, self.role = env, sim, role
        self.serving, self.available, self.new = True, True, False
        self.told = env.event()
        env.process(self.life())

    def life(self):
        yield self.told
        env, sim, r = self.env, self.sim, self.role
        # Leave the old cohort, join the new one unavailable; still routed to.
        r.old_total -= 1
        r.new_total += 1
        if self.available:
            r.old_available -= 1
        self.available, self.new = False, True
        if self.serving:
            self.serving = False
            r.serving -= 1
            r.add_stale(1, env.now)
            env.process(self.detection())
        yield env.timeout(sim.install())
        yield env.timeout(sim.restart())
        if self.stale_pending:
            self.stale_pending = False
            r.add_stale(-1, env.now)
        self.serving = True
        r.serving += 1
        yield env.timeout(sim.min_ready)
        self.available = True
        r.new_available += 1

    stale_pending = False

    def detection(self):
        self.stale_pending = True
        yield self.env.timeout(self.sim.detection_delay)
        if self.stale_pending:
            self.stale_pending = False
            self.role.add_stale(-1, self.env.now)


class Rollout:
    def __init__(self, sc, seed):
        self.rng = np.random.default_rng(seed)
        self.env = simpy.Environment()
        fleet, traffic, change, policy = sc["fleet"], sc["traffic"], sc["change"], sc["policy"]
        assert policy["kind"] == "rolling" and change.get("mode", "in-place") == "in-place"
        self.tick = ms(sc["tick"])
        self.duration = ms(sc["duration"])
        self.detection_delay = ms(fleet.get("detection_delay", "30s"))
        self.min_ready = ms(policy.get("min_ready", "0"))
        self.deadline = ms(policy.get("progress_deadline", "10m"))
        self.start_at = ms(change.get("start_at", "0"))
        self.install = sampler(change.get("install_time", "0"), self.rng)
        self.restart = sampler(change.get("restart_time", "0"), self.rng)
        self.max_unavailable = policy.get("max_unavailable", "25%")
        self.peak = traffic["peak_rps"]
        self.trough = traffic.get("trough_ratio", 0.3)
        self.peak_hour = traffic.get("peak_hour", 20)
        self.offset_h = traffic.get("start_hour_utc", 0) + traffic.get("utc_offset_h", 0)
        shares = [r.get("traffic_share", 1.0) for r in fleet["roles"]]
        util = fleet.get("target_utilization", 0.7)
        self.roles = []
        for spec, s in zip(fleet["roles"], shares):
            share = s / sum(shares)
            cap = spec.get("capacity_rps", max(self.peak * share / spec["hosts"] / util, 1.0))
            r = Role(spec, share, cap)
            r.old_hosts = [Host(self.env, self, r) for _ in range(r.desired)]
            r.old_hosts.reverse()
            self.roles.append(r)
        self.failed = self.requests = 0
        self.started = self.finished = None
        self.outcome = "running"
        self.env.process(self.controller())

    def rps(self, t_ms):
        local_h = (self.offset_h + t_ms / 3_600_000) % 24
        shape = 0.5 * (1 + math.cos((local_h - self.peak_hour) / 24 * 2 * math.pi))
        return self.peak * (self.trough + (1 - self.trough) * shape)

    def unavailable(self, r):
        v = self.max_unavailable
        u = r.desired * int(v[:-1]) // 100 if isinstance(v, str) else int(v)
        return max(min(u, r.desired), 1)

    def controller(self):
        env, tick_s = self.env, self.tick / 1000
        while env.now < self.duration:
            rps = self.rps(env.now + self.tick / 2)
            for r in self.roles:
                n = int(self.rng.poisson(rps * r.share * tick_s))
                self.requests += n
                stale = r.stale_hosts(env.now, self.tick)
                routed = r.serving + stale
                if routed == 0:
                    self.failed += n
                    continue
                to_stale = int(self.rng.binomial(n, stale / routed)) if stale > 0 else 0
                capacity = math.floor(r.serving * r.capacity_rps * tick_s)
                self.failed += to_stale + max(n - to_stale - capacity, 0)
            if self.finished is None and env.now >= self.start_at:
                self.reconcile()
            yield env.timeout(self.tick)

    def reconcile(self):
        now = self.env.now
        if self.started is None:
            self.started = now
            for r in self.roles:
                r.last_progress = (now, r.new_total, r.new_available)
        done = True
        for r in self.roles:
            t, total, avail = r.last_progress
            if r.new_total > total or r.new_available > avail:
                r.last_progress = (now, r.new_total, r.new_available)
            if r.old_total == 0 and r.new_available >= r.desired:
                continue
            done = False
            if now - r.last_progress[0] > self.deadline:
                self.finish(now, "halted")
                return
            min_available = r.desired - self.unavailable(r)
            new_unavailable = r.new_total - r.new_available
            if r.old_total + r.new_total - min_available - new_unavailable <= 0:
                continue
            available_all = r.old_available + r.new_available
            down = min(available_all - min_available, r.old_total, r.old_available)
            for _ in range(max(down, 0)):
                r.old_hosts.pop().told.succeed()
        if done:
            self.finish(now, "completed")

    def finish(self, now, outcome):
        self.finished, self.outcome = now, outcome

    def run(self):
        self.env.run(until=self.duration)
        end = self.finished if self.finished is not None else self.duration
        return {
            "outcome": self.outcome,
            "rollout_duration_s": (end - self.started) / 1000,
            "requests_total": self.requests,
            "requests_failed": self.failed,
        }


def main():
    with open(sys.argv[1], "rb") as f:
        sc = tomllib.load(f)
    for seed in map(int, sys.argv[2:]):
        t0 = time.perf_counter()
        out = Rollout(sc, seed).run()
        out.update(model="simpy-rolling", scenario=sc["name"], seed=seed, wall_s=time.perf_counter() - t0)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

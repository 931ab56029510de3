"""The server's counters, in Prometheus' text exposition format (version 0.0.4), written by hand:
a few counters, gauges and one histogram need no client library."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

from leanfd.lean.records import STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from a check's admission to its verdict: a toy check takes 0.1-0.5 s, a Mathlib one seconds,
# the default per-check timeout is 60 s.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))  # the last: over every bound
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.n += 1

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


@dataclass(frozen=True)
class Gauges:
    """What is true now, read when /metrics is asked."""

    queue_depth: int  # checks admitted and not answered yet (waiting for a lane or running)
    running: int
    lanes: int
    queue_capacity: int
    queue_held: int  # places taken in the queue (a stream holds its whole window)
    lean_processes: int
    ready: bool
    draining: bool


@dataclass
class Metrics:
    checks: Counter = field(default_factory=Counter)  # status -> verdicts given
    refused: Counter = field(default_factory=Counter)  # HTTP status -> requests turned down
    withdrawn: int = 0  # checks withdrawn because their client went away
    latency: Histogram = field(default_factory=Histogram)

    def answered(self, status: str, seconds: float) -> None:
        self.checks[status] += 1
        self.latency.observe(seconds)

    def render(self, g: Gauges) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

        family("leanfd_checks_total", "counter", "Checks answered, by verdict status.",
               [(f'{{status="{s}"}}', self.checks.get(s, 0)) for s in STATUSES])
        family("leanfd_checks_withdrawn_total", "counter", "Checks withdrawn because their client disconnected.",
               [("", self.withdrawn)])
        family("leanfd_requests_refused_total", "counter", "Requests turned down, by HTTP status.",
               [(f'{{code="{code}"}}', n) for code, n in sorted(self.refused.items())])
        family("leanfd_queue_depth", "gauge", "Checks admitted and not answered yet (waiting or running).",
               [("", g.queue_depth)])
        family("leanfd_queue_capacity", "gauge", "Most checks admitted at once (--queue).", [("", g.queue_capacity)])
        family("leanfd_queue_held", "gauge", "Places of the queue held by requests (a stream holds its window).",
               [("", g.queue_held)])
        family("leanfd_checks_running", "gauge", "Checks running on Lean now.", [("", g.running)])
        family("leanfd_lanes", "gauge", "Checks that may run at once (the verifier's Lean processes).",
               [("", g.lanes)])
        family("leanfd_lean_processes", "gauge", "Lean processes this server started that are alive (on this "
               "machine: a Ray cluster's are on its nodes).", [("", g.lean_processes)])
        family("leanfd_ready", "gauge", "1 once Lean has answered and until the server stops.",
               [("", int(g.ready))])
        family("leanfd_draining", "gauge", "1 while the server stops (SIGTERM): no new work.", [("", int(g.draining))])
        h = self.latency
        cumulative, samples = 0, []
        for bound, n in zip((*h.buckets, float("inf")), h.counts):
            cumulative += n
            samples.append((f'_bucket{{le="{_number(bound)}"}}', cumulative))
        family("leanfd_check_seconds", "histogram", "Seconds from a check's admission to its verdict.",
               [*samples, ("_sum", h.total), ("_count", h.n)])
        return "\n".join(out) + "\n"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))

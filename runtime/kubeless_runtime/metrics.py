"""Prometheus metrics under the names Kubeless used, so dashboards keep working.

Every series is labelled by the HTTP method alone: one function serves one
method, so the label has one value and the series count stays fixed.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The *_created series double the output and no Kubeless dashboard reads them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

# The client's default buckets, which Kubeless used, stretched to the default
# time limit of 180 s so that slow calls do not all land in +Inf.
_DURATION_BUCKETS = (*Histogram.DEFAULT_BUCKETS[:-1], 30.0, 60.0, 120.0, 180.0, float("inf"))


class FunctionMetrics:
    """The series of one served function, bound to its method at start-up."""

    def __init__(self, method: str, *, worker_threads: int) -> None:
        # A registry of our own, not the process-wide default, so that an app
        # built twice in one process (as tests do) does not collide with itself.
        self.registry = CollectorRegistry()
        prometheus_client.ProcessCollector(registry=self.registry)
        prometheus_client.PlatformCollector(registry=self.registry)
        prometheus_client.GCCollector(registry=self.registry)

        labels = ["method"]
        self.calls = Counter(
            "function_calls", "Number of calls to the function.", labels,
            registry=self.registry,
        ).labels(method)
        self.failures = Counter(
            "function_failures",
            "Number of calls answered with a server error (5xx), timeouts included.",
            labels, registry=self.registry,
        ).labels(method)
        self.timeouts = Counter(
            "function_timeouts", "Number of calls answered with 408 at the time limit.",
            labels, registry=self.registry,
        ).labels(method)
        self.duration = Histogram(
            "function_duration_seconds", "Time the function took to answer a call.",
            labels, registry=self.registry, buckets=_DURATION_BUCKETS,
        ).labels(method)
        self.in_flight = Gauge(
            "function_calls_in_flight", "Calls being handled right now.",
            labels, registry=self.registry,
        ).labels(method)
        self.stuck_threads = Gauge(
            "function_stuck_threads",
            "Worker threads still running a handler whose call already timed out.",
            registry=self.registry,
        )
        Gauge(
            "function_worker_threads", "Threads available to synchronous handlers.",
            registry=self.registry,
        ).set(worker_threads)

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)

"""Prometheus metrics of the operator, served on their own port.

Label values are bounded: outcomes are Ready reasons, a closed set.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "kubeless_operator_reconciles_total",
    "Reconciles of Functions, by the Ready reason they ended with.",
    ["result"],
)
FAILURES = Counter(
    "kubeless_operator_reconcile_failures_total",
    "Reconciles that failed with an error and will be retried.",
)
DURATION = Histogram(
    "kubeless_operator_reconcile_duration_seconds",
    "How long one reconcile took, API calls included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge(
    "kubeless_operator_queue_depth",
    "Functions waiting for a reconcile.",
)
FUNCTIONS = Gauge(
    "kubeless_operator_functions",
    "Functions the operator watches.",
)


def serve(*, host: str, port: int) -> None:
    start_http_server(port, addr=host)

"""Benchmark the runtime: ``make bench``.

1. The runtime serving a trivial GET function against a hand-written FastAPI app
   returning the same model, on the same server settings, under the same wrk
   load; the ratio of their requests per second is the runtime's overhead.
2. A synchronous handler sleeping 50 ms under 32 connections: 32 / 0.05 s makes
   640 requests per second the bound; meanwhile /healthz is probed as a kubelet
   would, and its latency must stay low while every call blocks a thread.

All load goes to 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SLEEP_BOUND = 32 / 0.05


@dataclasses.dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@contextmanager
def server(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a server process until the block ends; yield its base URL once it answers."""
    process = subprocess.Popen(argv, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv[0]} did not start on port {port}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, *, connections: int, duration: str = DURATION) -> WrkResult:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", url],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def runtime_argv(module: str, handler: str, port: int) -> list[str]:
    return [str(BIN / "kubeless-fastapi"), "serve", str(HERE / "functions" / module),
            "--handler", handler, "--port", str(port)]


def baseline_argv(port: int) -> list[str]:
    # The runtime's server settings: uvloop, httptools, no access log of uvicorn's.
    return [str(BIN / "uvicorn"), "bench.baseline_app:app", "--port", str(port),
            "--no-access-log", "--no-server-header", "--log-level", "warning"]


@dataclasses.dataclass
class Round:
    runtime: WrkResult
    logged: WrkResult
    baseline: WrkResult


def measure(argv: list[str], port: int, env: dict[str, str] | None = None) -> WrkResult:
    with server(argv, port, env=env) as url:
        wrk(url + "/", connections=16, duration="2s")  # warm-up
        return wrk(url + "/", connections=16)


def trivial_get() -> list[Round]:
    # The three servers run back to back in each round, and the ratios are taken
    # within a round, so a slow moment of the machine weighs on all of them alike.
    trivial = ("trivial.py", "get_trivial")
    return [
        Round(
            runtime=measure(runtime_argv(*trivial, 18101), 18101, {"LOG_LEVEL": "WARNING"}),
            logged=measure(runtime_argv(*trivial, 18102), 18102),
            baseline=measure(baseline_argv(18103), 18103),
        )
        for _ in range(ROUNDS)
    ]


def probe_health(url: str, stop: threading.Event) -> list[float]:
    """Probe /healthz as a kubelet would (a new connection each time), 20 times a second."""
    # http.client, not httpx: an httpx call builds an SSL context each time,
    # which would be measured as the server's latency.
    address = urllib.parse.urlsplit(url)
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"/healthz answered {status} under load")
        stop.wait(0.05)
    return latencies


def sleeping_handler() -> tuple[WrkResult, list[float]]:
    with server(runtime_argv("sleeper.py", "get_sleep", 18104), 18104,
                env={"LOG_LEVEL": "WARNING"}) as url:
        wrk(url + "/", connections=32, duration="2s")
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            probe = pool.submit(probe_health, url, stop)
            load = wrk(url + "/", connections=32)
            stop.set()
            latencies = probe.result()
    return load, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main() -> int:
    if shutil.which("wrk") is None:
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    rounds = trivial_get()
    sleeping, health = sleeping_handler()

    ratios = sorted(r.runtime.requests_per_second / r.baseline.requests_per_second
                    for r in rounds)
    logged_ratios = sorted(r.logged.requests_per_second / r.baseline.requests_per_second
                           for r in rounds)
    median = rounds[len(rounds) // 2]
    sleep_ratio = sleeping.requests_per_second / SLEEP_BOUND

    print(f"Machine: {machine()}.")
    print(f"wrk: 1 thread, 16 connections, {DURATION} per run after a 2 s warm-up; "
          f"{ROUNDS} rounds; ratios are medians of per-round ratios (range in brackets).\n")
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(f"| trivial GET, hand-written FastAPI app | "
          f"{_rates(r.baseline for r in rounds)} req/s | |")
    print(f"| trivial GET, runtime, access log off | "
          f"{_rates(r.runtime for r in rounds)} req/s | |")
    print(f"| ratio runtime / hand-written | **{_median(ratios):.2f}x** "
          f"[{ratios[0]:.2f}-{ratios[-1]:.2f}] | >= 0.9x |")
    print(f"| trivial GET, runtime with its access log | "
          f"{_rates(r.logged for r in rounds)} req/s, **{_median(logged_ratios):.2f}x** "
          f"[{logged_ratios[0]:.2f}-{logged_ratios[-1]:.2f}] | |")
    print(f"| p99 latency, runtime / hand-written (round {len(rounds) // 2 + 1}) | "
          f"{median.runtime.p99_ms:.1f} ms / {median.baseline.p99_ms:.1f} ms | |")
    print(f"| 50 ms sync handler, 32 connections | {sleeping.requests_per_second:,.0f} req/s"
          f" = **{sleep_ratio:.2f}x** of {SLEEP_BOUND:.0f}/s | >= 0.8x |")
    print(f"| /healthz probed 20/s during that load ({len(health)} probes) | "
          f"p50 {percentile(health, 0.5):.2f} ms, **p99 {percentile(health, 0.99):.2f} ms**, "
          f"max {max(health):.2f} ms | p99 < 50 ms |")
    errors = sum(r.runtime.errors + r.logged.errors + r.baseline.errors for r in rounds)
    if errors + sleeping.errors:
        print(f"\n{errors + sleeping.errors} requests failed during the runs; "
              "the numbers above are suspect.")
    return 0


def _rates(results: Iterable[WrkResult]) -> str:
    return " / ".join(f"{r.requests_per_second:,.0f}" for r in results)


def _median(values: list[float]) -> float:
    return values[len(values) // 2]


if __name__ == "__main__":
    sys.exit(main())

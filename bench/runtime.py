"""Benchmark the runtime: ``make bench``.

1. The runtime serving a trivial GET function against a hand-written FastAPI app
   returning the same model, on the same server settings, under the same wrk
   load; the ratio of their requests per second is the runtime's overhead.
2. A synchronous handler sleeping 50 ms under 32 connections: 32 / 0.05 s makes
   640 requests per second the bound; meanwhile a second wrk measures the
   latency of /healthz, which must stay low while every call blocks a thread.

All load goes to 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
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


def trivial_get() -> tuple[WrkResult, WrkResult]:
    runtime_runs, baseline_runs = [], []
    # Alternate the two, so that a slow moment of the machine hits both alike.
    for _ in range(ROUNDS):
        with server(runtime_argv("trivial.py", "get_trivial", 18101), 18101,
                    env={"LOG_LEVEL": "WARNING"}) as url:
            wrk(url + "/", connections=16, duration="2s")  # warm-up
            runtime_runs.append(wrk(url + "/", connections=16))
        with server(baseline_argv(18102), 18102) as url:
            wrk(url + "/", connections=16, duration="2s")
            baseline_runs.append(wrk(url + "/", connections=16))
    best = max(runtime_runs, key=lambda r: r.requests_per_second)
    return best, max(baseline_runs, key=lambda r: r.requests_per_second)


def trivial_get_with_access_log() -> WrkResult:
    with server(runtime_argv("trivial.py", "get_trivial", 18103), 18103) as url:
        wrk(url + "/", connections=16, duration="2s")
        return wrk(url + "/", connections=16)


def sleeping_handler() -> tuple[WrkResult, WrkResult]:
    with server(runtime_argv("sleeper.py", "get_sleep", 18104), 18104,
                env={"LOG_LEVEL": "WARNING"}) as url:
        wrk(url + "/", connections=32, duration="2s")
        health = subprocess.Popen(
            ["wrk", "-t1", "-c1", f"-d{DURATION}", "--latency", url + "/healthz"],
            stdout=subprocess.PIPE, text=True,
        )
        load = wrk(url + "/", connections=32)
        health_output, _ = health.communicate(timeout=120)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", health_output)
    health_result = WrkResult(
        requests_per_second=float(
            re.search(r"Requests/sec:\s+([\d.]+)", health_output).group(1)),
        p50_ms=_latency(health_output, "50%"),
        p99_ms=_latency(health_output, "99%"),
        errors=int(non_2xx.group(1)) if non_2xx else 0,
    )
    return load, health_result


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
    runtime, baseline = trivial_get()
    logged = trivial_get_with_access_log()
    sleeping, health = sleeping_handler()
    ratio = runtime.requests_per_second / baseline.requests_per_second
    sleep_ratio = sleeping.requests_per_second / SLEEP_BOUND

    print(f"Machine: {machine()}; wrk 1 thread, {DURATION} per run, best of {ROUNDS}.\n")
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(f"| trivial GET, runtime (access log off) | {runtime.requests_per_second:,.0f} req/s,"
          f" p99 {runtime.p99_ms:.1f} ms | |")
    print(f"| trivial GET, hand-written FastAPI app | {baseline.requests_per_second:,.0f} req/s,"
          f" p99 {baseline.p99_ms:.1f} ms | |")
    print(f"| ratio runtime / hand-written | **{ratio:.2f}x** | >= 0.9x |")
    print(f"| trivial GET, runtime with its access log | {logged.requests_per_second:,.0f} "
          f"req/s ({logged.requests_per_second / baseline.requests_per_second:.2f}x) | |")
    print(f"| 50 ms sync handler, 32 connections | {sleeping.requests_per_second:,.0f} req/s"
          f" = **{sleep_ratio:.2f}x** of {SLEEP_BOUND:.0f}/s | >= 0.8x |")
    print(f"| /healthz during that load | p50 {health.p50_ms:.2f} ms, "
          f"**p99 {health.p99_ms:.2f} ms**, {health.errors} errors | p99 < 50 ms |")
    errors = runtime.errors + baseline.errors + sleeping.errors + health.errors
    if errors:
        print(f"\n{errors} requests failed during the runs; the numbers above are suspect.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the operator: ``make bench-operator``.

On the local control plane (started by ``make cluster-up``):

1. Direct: a plain script applies the 600 children of 200 Functions (ConfigMap,
   Deployment, Service each, as the operator would build them) with the same
   Kubernetes client and as many threads as the operator has workers. This is
   the practical limit for the API server on this machine.
2. Operator: 200 Functions are created at once, with the same client and threads,
   and a watch records when each child first exists. The ratio of the two wall
   times is the operator's overhead.
3. Latency: the time from one Function's creation to its Deployment existing,
   during the burst and, one at a time, on an operator that holds 200 Functions.
4. Memory: the operator's resident memory once it holds 200 ready Functions.

Steps 1 and 2 repeat for a few rounds (BENCH_ROUNDS, default 3); steps 3 and 4
run in the last. Writes its numbers between the operator markers of bench/RESULTS.md.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from kubeless_operator import builders, clients, runtimes, specs

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
KUBECONFIG = Path(os.environ.get("KUBECONFIG", REPO / ".cluster" / "kubeconfig"))
GREETING = (REPO / "examples" / "01-greeting" / "greeting.py").read_text()
COUNT = int(os.environ.get("BENCH_FUNCTIONS", "200"))
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "20"))
# Other load on a small machine moves single runs by tens of percent; the median
# of a few rounds, each direct then operator back to back, is steadier.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKERS = 8
DIRECT_NS = "bench-direct"
OPERATOR_NS = "bench-operator"
CHILD_KINDS = ("ConfigMap", "Deployment", "Service")
BEGIN, END = "<!-- operator-bench:begin -->", "<!-- operator-bench:end -->"


def function_manifest(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": builders.API_VERSION,
        "kind": builders.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"function": GREETING, "handler": "greeting.get_greeting",
                 "runtime": runtimes.DEFAULT_RUNTIME},
    }


def direct_children(name: str) -> list[dict[str, Any]]:
    """What the operator would apply for one Function, without an owner to point at."""
    body = {**function_manifest(name, DIRECT_NS)}
    body["metadata"] = {**body["metadata"], "uid": "0"}
    function = specs.read(body)
    runtime = runtimes.default_table().resolve(runtimes.DEFAULT_RUNTIME)
    assert runtime is not None  # the default table has its default runtime
    children = [builders.config_map(function), builders.deployment(function, runtime),
                builders.service(function)]
    for child in children:
        del child["metadata"]["ownerReferences"]  # the collector would delete orphans
    return children


def fresh_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.delete_namespace(name)
    except client.ApiException as error:
        if error.status != 404:
            raise
    wait(lambda: not _namespace_exists(core, name), timeout=300, what=f"{name} to go")
    core.create_namespace({"metadata": {"name": name}})


def _namespace_exists(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name, _preload_content=False)
        return True
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise


def wait(probe: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


class Sightings:
    """When each child was first seen, from watches that start before the burst."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(api, namespace, kind), daemon=True)
            for kind in CHILD_KINDS
        ]
        self._ready = threading.Barrier(len(CHILD_KINDS) + 1)

    def __enter__(self) -> Sightings:
        for thread in self._threads:
            thread.start()
        self._ready.wait(timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _watch(self, api: client.ApiClient, namespace: str, kind: str) -> None:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        lister = {"ConfigMap": core.list_namespaced_config_map,
                  "Service": core.list_namespaced_service,
                  "Deployment": apps.list_namespaced_deployment}[kind]
        listing = json.loads(lister(namespace, _preload_content=False).data)
        version = listing["metadata"]["resourceVersion"]
        self._ready.wait(timeout=30)
        stream = watch.Watch()
        for event in stream.stream(lister, namespace, resource_version=version,
                                   label_selector="created-by=kubeless", timeout_seconds=600):
            if self._stop.is_set():
                stream.stop()
                return
            name = event["object"].metadata.name
            with self.changed:
                self.seen.setdefault((kind, name), time.monotonic())
                self.changed.notify_all()

    def wait_for(self, keys: set[tuple[str, str]], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not keys <= self.seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = len(keys - self.seen.keys())
                    raise RuntimeError(f"{missing} children never appeared")
                self.changed.wait(left)
            return max(self.seen[key] for key in keys)


def run_direct(api: client.ApiClient) -> float:
    wrapper = clients.Client(api)
    objects = [child for index in range(COUNT) for child in direct_children(f"fn-{index}")]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda raw: wrapper.apply(raw, force=True), objects))
    return time.monotonic() - started


@dataclasses.dataclass
class OperatorRun:
    seconds: float
    burst_latencies: list[float]
    cpu_seconds: float  # the operator's, during the burst
    sequential_latencies: list[float] = dataclasses.field(default_factory=list)
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0


@contextmanager
def running_operator(log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(Path(sys.executable).parent / "kubeless-fastapi"), "operator",
               "--namespace", OPERATOR_NS, "--workers", str(WORKERS),
               "--health-address", "127.0.0.1:18081", "--metrics-address", "127.0.0.1:19090"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "KUBECONFIG": str(KUBECONFIG)})
    try:
        wait(lambda: _answers("http://127.0.0.1:18081/healthz"), timeout=60,
             what="the operator to start")
        time.sleep(2)  # let kopf finish its initial listings before the burst
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_operator(api: client.ApiClient, log: Path, *, is_last: bool) -> OperatorRun:
    custom = client.CustomObjectsApi(api)

    def create(name: str) -> float:
        started = time.monotonic()
        custom.create_namespaced_custom_object(
            builders.GROUP, builders.VERSION, OPERATOR_NS, builders.PLURAL,
            function_manifest(name, OPERATOR_NS), _preload_content=False)
        return started

    names = [f"fn-{index}" for index in range(COUNT)]
    with running_operator(log) as process, Sightings(api, OPERATOR_NS) as sightings:
        started, cpu_before = time.monotonic(), _cpu_seconds(process.pid)
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            created = dict(zip(names, pool.map(create, names), strict=True))
        keys = {(kind, name) for kind in CHILD_KINDS for name in names}
        finished = sightings.wait_for(keys, timeout=600)
        cpu = _cpu_seconds(process.pid) - cpu_before
        print(f"operator: {_reconcile_summary()}", flush=True)
        burst = [sightings.seen[("Deployment", name)] - created[name] for name in names]
        print(f"operator: all children in {finished - started:.2f} s", flush=True)
        run = OperatorRun(finished - started, burst, cpu)
        if not is_last:
            return run

        _wait_all_ready(custom)
        run.rss_mib, run.peak_rss_mib = _memory_mib(process.pid)
        for index in range(SEQUENTIAL):
            name = f"single-{index}"
            began = create(name)
            sightings.wait_for({("Deployment", name)}, timeout=60)
            run.sequential_latencies.append(sightings.seen[("Deployment", name)] - began)
    return run


def _reconcile_summary() -> str:
    with urllib.request.urlopen("http://127.0.0.1:19090/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("kubeless_operator_reconcile_duration_seconds_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    count = values.get("kubeless_operator_reconcile_duration_seconds_count", 0)
    total = values.get("kubeless_operator_reconcile_duration_seconds_sum", 0)
    return f"{count:.0f} reconciles, {total / max(count, 1) * 1000:.0f} ms each on average"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_all_ready(custom: client.CustomObjectsApi) -> None:
    def all_ready() -> bool:
        listing = json.loads(custom.list_namespaced_custom_object(
            builders.GROUP, builders.VERSION, OPERATOR_NS, builders.PLURAL,
            _preload_content=False).data)
        ready = [item for item in listing["items"] if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (item.get("status") or {}).get("conditions") or [])]
        return len(ready) >= COUNT

    wait(all_ready, timeout=600, what=f"{COUNT} Functions to be Ready")


def _memory_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(directs: list[float], runs: list[OperatorRun]) -> str:
    ratios = [run.seconds / direct for direct, run in zip(directs, runs, strict=True)]
    ratio = statistics.median(ratios)
    middle = ratios.index(ratio) if ratio in ratios else len(ratios) // 2
    direct, run = directs[middle], runs[middle]
    last = runs[-1]
    burst50, burst99 = percentile(run.burst_latencies, 0.5), percentile(run.burst_latencies, 0.99)
    one50 = statistics.median(last.sequential_latencies)
    one99 = percentile(last.sequential_latencies, 0.99)
    verdict = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    return "\n".join([
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, local control plane with kwok nodes, "
        f"{COUNT} Functions, {WORKERS} workers and {WORKERS} client threads.",
        "",
        f"Each of {len(runs)} rounds applies the children directly, then through the operator,",
        "with the same client, threads and objects; the table shows the round with the",
        "median ratio. Other load on the machine moves the seconds of both runs, so compare",
        f"ratios. All rounds: {', '.join(f'{r:.2f}x' for r in ratios)}.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| direct: {3 * COUNT} children applied by a plain script | {direct:.2f} s | |",
        f"| operator: {COUNT} Functions until all {3 * COUNT} children exist | "
        f"{run.seconds:.2f} s (operator CPU {run.cpu_seconds:.1f} s) | |",
        f"| ratio operator / direct | {ratio:.2f}x | at most 2x ({verdict(ratio <= 2)}) |",
        f"| creation to Deployment, one at a time with {COUNT} Functions held, p50 / p99 | "
        f"{one50 * 1000:.0f} / {one99 * 1000:.0f} ms | p50 under 1 s ({verdict(one50 < 1)}) |",
        f"| creation to Deployment during the {COUNT}-Function burst, p50 / p99 | "
        f"{burst50:.2f} / {burst99:.2f} s | |",
        f"| operator memory with {COUNT} ready Functions (RSS / peak) | "
        f"{last.rss_mib:.0f} / {last.peak_rss_mib:.0f} MiB | under 150 MiB "
        f"({verdict(last.peak_rss_mib < 150)}) |",
    ])


def write_results(text: str) -> None:
    section = f"{BEGIN}\n{text}\n{END}"
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in current and END in current:
        before, rest = current.split(BEGIN, 1)
        updated = before + section + rest.split(END, 1)[1]
    else:
        heading = "## Operator (`make bench-operator`)"
        updated = f"{current.rstrip()}\n\n{heading}\n\n{section}\n"
    RESULTS.write_text(updated)


def main() -> int:
    config.load_kube_config(config_file=str(KUBECONFIG))  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = WORKERS * 2
    api = client.ApiClient(configuration)
    core = client.CoreV1Api(api)

    directs: list[float] = []
    runs: list[OperatorRun] = []
    log = REPO / ".cluster" / "bench-operator.log"
    for number in range(1, ROUNDS + 1):
        for namespace in (DIRECT_NS, OPERATOR_NS):
            fresh_namespace(core, namespace)
        print(f"round {number}: direct: applying {3 * COUNT} objects ...", flush=True)
        directs.append(run_direct(api))
        # kwok's nodes hold about 330 pods: the direct run's must go before the
        # operator's 200 arrive, and the controllers get a moment to go quiet again.
        print(f"round {number}: direct: {directs[-1]:.2f} s", flush=True)
        core.delete_namespace(DIRECT_NS)
        wait(lambda: not _namespace_exists(core, DIRECT_NS), timeout=600,
             what=f"{DIRECT_NS} to go")
        time.sleep(10)
        print(f"round {number}: operator: creating {COUNT} Functions ...", flush=True)
        runs.append(run_operator(api, log, is_last=number == ROUNDS))
    text = report(directs, runs)
    print(text)
    write_results(text)
    core.delete_namespace(OPERATOR_NS)
    return 0


if __name__ == "__main__":
    sys.exit(main())

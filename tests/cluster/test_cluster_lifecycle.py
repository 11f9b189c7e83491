"""The local cluster's scripts: the pinned versions are the ones that run, and
starting or stopping twice is harmless and touches nothing else."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.processes import free_port

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack" / "cluster"
VERSIONS = dict(
    line.split("=", 1) for line in (HACK / "versions.env").read_text().splitlines()
    if re.match(r"^[A-Z_]+=", line)
)
PORTS = ("ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "CONTROLLER_MANAGER_PORT",
         "SCHEDULER_PORT", "KWOK_PORT")


def run(script: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HACK / script)], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def pids(cluster_dir: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text().split()[0])
            for path in (cluster_dir / "pids").glob("*.pid")}


def test_the_running_binaries_report_the_pinned_versions(cluster: Any) -> None:
    server = cluster.kubectl("version", "--output=json")
    etcd = subprocess.run([str(cluster.bin_dir / "etcd"), "--version"], capture_output=True,
                          text=True, check=True).stdout

    assert f'"gitVersion": "{VERSIONS["KUBERNETES_VERSION"]}"' in server  # client and server
    assert server.count(VERSIONS["KUBERNETES_VERSION"]) >= 2
    assert f"etcd Version: {VERSIONS['ETCD_VERSION'].lstrip('v')}" in etcd


def test_a_second_cluster_starts_and_stops_twice_leaving_the_first_alone(
        cluster: Any, tmp_path: Path) -> None:
    first = pids(cluster.kubeconfig.parent)
    second_dir = tmp_path / "second"
    env = {**os.environ, "CLUSTER_DIR": str(second_dir), "NODE_COUNT": "1",
           **{port: str(free_port()) for port in PORTS}}

    try:
        started = run("up.sh", env)
        assert started.returncode == 0, started.stderr[-2000:]
        again = run("up.sh", env, timeout=60)
        started_pids = pids(second_dir)
    finally:
        stopped = run("down.sh", env, timeout=120)
    stopped_again = run("down.sh", env, timeout=60)

    assert again.returncode == 0
    assert "already running" in again.stderr
    assert set(started_pids) == {"etcd", "kube-apiserver", "kube-controller-manager",
                                 "kube-scheduler", "kwok"}
    assert stopped.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in started_pids.values())
    assert not second_dir.exists()
    assert stopped_again.returncode == 0
    assert "nothing to stop" in stopped_again.stderr
    # The session's cluster kept running throughout.
    assert pids(cluster.kubeconfig.parent) == first
    assert all(Path(f"/proc/{pid}").exists() for pid in first.values())
    assert run("status.sh", {**os.environ, "CLUSTER_DIR": str(cluster.kubeconfig.parent)},
               timeout=60).returncode == 0

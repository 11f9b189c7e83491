"""The operator under test, run as users run it.

The operator runs as ``kubeless-fastapi operator`` in a subprocess against the
local control plane, watching the test namespaces (``t-*``) only, with a runtime
table that adds a second runtime so that the table's configuration is tested too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from function_helpers import (
    EXTRA_IMAGE,
    EXTRA_RUNTIME,
    Functions,
    Operator,
    answers,
    wait_for,
)
from kubernetes import client
from tests.processes import free_port, stop

from kubeless_operator import runtimes

# The operator's start-up: kopf lists every watched kind cluster-wide before it
# hands out the first event; generous, since a slow machine only waits longer.
START_SECONDS = 120.0


@pytest.fixture(scope="session")
def operator(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    workdir = tmp_path_factory.mktemp("operator")
    table = workdir / "runtimes.yaml"
    table.write_text(
        f"{runtimes.DEFAULT_RUNTIME}: {{image: {runtimes.DEFAULT_IMAGE}}}\n"
        f"{EXTRA_RUNTIME}: {{image: {EXTRA_IMAGE}}}\n"
    )
    health, metrics = free_port(), free_port()
    log = workdir / "operator.log"
    command = [
        str(Path(sys.executable).parent / "kubeless-fastapi"), "operator",
        "--namespace", "t-*",
        "--runtimes", str(table),
        "--health-address", f"127.0.0.1:{health}",
        "--metrics-address", f"127.0.0.1:{metrics}",
        "--verbose",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    this = Operator(process, log, f"http://127.0.0.1:{metrics}/metrics")
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{health}/healthz"), timeout=60,
                 what=lambda: f"the operator's health endpoint\n{this.tail()}")
        _wait_until_handling(cluster, this)
        yield this
    finally:
        stop(process)


def _wait_until_handling(cluster: Any, operator: Operator) -> None:
    """Wait until the operator has made the children of a first Function.

    The health endpoint answers as soon as the process runs, before kopf has
    listed what it watches; the tests that follow time the operator's handling,
    so its start-up is waited for here, once, with a bound of its own.
    """
    core = client.CoreV1Api(cluster.api_client)
    name = f"t-operator-start-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        functions = Functions(cluster.api_client, name, operator)
        functions.create("first")
        functions.wait_child("Deployment", "first", timeout=START_SECONDS)
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def functions(cluster: Any, namespace: str, operator: Operator) -> Functions:
    return Functions(cluster.api_client, namespace, operator)

"""An operator that starts finds the Functions that changed while none ran."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from function_helpers import Functions, Operator, answers, wait_for
from kubernetes import client
from tests.processes import free_port

pytestmark = pytest.mark.cluster


@pytest.fixture
def unwatched(cluster: Any, operator: Operator) -> Iterator[Functions]:
    """A namespace the session's operator does not watch (it watches ``t-*``)."""
    core = client.CoreV1Api(cluster.api_client)
    name = f"r-restart-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield Functions(cluster.api_client, name, operator)
    core.delete_namespace(name, propagation_policy="Background")


def run_operator(namespace: str, log: Path) -> subprocess.Popen[bytes]:
    health = free_port()
    command = [str(Path(sys.executable).parent / "kubeless-fastapi"), "operator",
               "--namespace", namespace, "--health-address", f"127.0.0.1:{health}",
               "--metrics-address", f"127.0.0.1:{free_port()}"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env=dict(os.environ))
    wait_for(lambda: answers(f"http://127.0.0.1:{health}/healthz"), timeout=60,
             what="the operator to start")
    return process


def test_functions_changed_while_no_operator_ran_are_reconciled_when_it_starts(
        unwatched: Functions, tmp_path: Path) -> None:
    unwatched.create("early")
    time.sleep(2)
    assert unwatched.read("Deployment", "early") is None

    process = run_operator(unwatched.namespace, tmp_path / "first.log")
    try:
        unwatched.wait_ready("early")
    finally:
        process.terminate()
        process.wait(timeout=20)

    # While no operator runs, the spec changes; the next operator catches up.
    unwatched.patch("early", {"spec": {"timeout": "77"}})
    process = run_operator(unwatched.namespace, tmp_path / "second.log")
    try:
        def has_new_timeout() -> bool:
            deployment = unwatched.read("Deployment", "early") or {}
            [container] = deployment["spec"]["template"]["spec"]["containers"]
            return {"name": "FUNC_TIMEOUT", "value": "77"} in container["env"]

        def is_current_and_ready() -> bool:
            body = unwatched.get("early") or {}
            ready = unwatched.condition("early") or {}
            observed = (body.get("status") or {}).get("observedGeneration")
            return observed == body["metadata"]["generation"] and ready.get("status") == "True"

        wait_for(has_new_timeout, what="the Deployment to get the new timeout")
        wait_for(is_current_and_ready, what="a Ready status for the new generation")
    finally:
        process.terminate()
        process.wait(timeout=20)

"""Workloads on the local cluster behave as on a real one: controllers,
scheduler and (simulated) nodes take part, not just the API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from kubernetes import client

pytestmark = pytest.mark.cluster

T = TypeVar("T")

# Bounded waits: kwok makes pods Ready at once, so these leave room for a busy
# 2-core machine rather than for slow nodes.
READY_TIMEOUT = 90
GC_TIMEOUT = 60


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
) -> T:
    """Call ``probe`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = probe()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s.")
        time.sleep(0.5)


def is_gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except client.ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_deployment_gets_ready_replicas_on_kwok_nodes(cluster, namespace):
    core = client.CoreV1Api(cluster.api_client)
    apps = client.AppsV1Api(cluster.api_client)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "greeting"}, "data": {"MESSAGE": "hello"}}
    )
    labels = {"app": "greeter"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "greeter"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # No kwok toleration: the operator's Deployments carry
                        # none, and they must still be scheduled.
                        "containers": [
                            {
                                "name": "greeter",
                                "image": "example.invalid/greeter:1",
                                "envFrom": [{"configMapRef": {"name": "greeting"}}],
                            }
                        ]
                    },
                },
            },
        },
    )

    def ready_replicas() -> int | None:
        status = apps.read_namespaced_deployment_status("greeter", namespace).status
        return status.ready_replicas if status and status.ready_replicas == 2 else None

    wait_until(ready_replicas, timeout=READY_TIMEOUT, what="2 ready replicas of greeter")

    pods = core.list_namespaced_pod(namespace, label_selector="app=greeter").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        node = core.read_node(pod.spec.node_name)
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"


@pytest.mark.parametrize("propagation", ["Background", "Foreground"], ids=str.lower)
def test_deleting_an_owner_deletes_its_dependents(cluster, namespace, propagation):
    core = client.CoreV1Api(cluster.api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": owner.metadata.name,
                        "uid": owner.metadata.uid,
                    }
                ],
            }
        },
    )

    core.delete_namespaced_config_map("owner", namespace, propagation_policy=propagation)

    # Only the garbage collector in kube-controller-manager removes the
    # dependent; the apiserver alone would leave it orphaned forever.
    wait_until(
        lambda: is_gone(lambda: core.read_namespaced_config_map("dependent", namespace)),
        timeout=GC_TIMEOUT,
        what="garbage collection of the dependent ConfigMap",
    )
    wait_until(
        lambda: is_gone(lambda: core.read_namespaced_config_map("owner", namespace)),
        timeout=GC_TIMEOUT,
        what="deletion of the owner ConfigMap",
    )

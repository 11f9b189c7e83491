"""What the API server's refusals mean to the operator, read from real refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubeless_operator import clients

pytestmark = pytest.mark.cluster

HOLD = "kubeless-fastapi.test/hold"


@pytest.fixture
def terminating_namespace(cluster: Any, namespace: str) -> Iterator[str]:
    """A namespace kept in Terminating by a ConfigMap with a finalizer."""
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "hold", "finalizers": [HOLD]}})
    core.delete_namespace(namespace)
    try:
        yield namespace
    finally:
        core.patch_namespaced_config_map(
            "hold", namespace, {"metadata": {"finalizers": None}})


def config_map(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "late", "namespace": namespace}, "data": {"a": "b"}}


def test_an_apply_in_a_namespace_being_deleted_reads_as_such(
        cluster: Any, terminating_namespace: str) -> None:
    api = clients.Client(cluster.api_client)

    with pytest.raises(clients.ApiError) as refused:
        api.apply(config_map(terminating_namespace), force=True)

    assert refused.value.status == 403
    assert refused.value.is_namespace_terminating
    assert not refused.value.is_permanent


def test_other_refusals_do_not_read_as_a_namespace_being_deleted(
        cluster: Any, namespace: str) -> None:
    api = clients.Client(cluster.api_client)
    invalid = config_map(namespace)
    invalid["metadata"]["name"] = "Not_A_Name"

    with pytest.raises(clients.ApiError) as refused:
        api.apply(invalid, force=True)

    assert refused.value.is_permanent
    assert not refused.value.is_namespace_terminating


def test_a_value_of_the_wrong_type_is_a_permanent_refusal(cluster: Any, namespace: str) -> None:
    api = clients.Client(cluster.api_client)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "typed", "namespace": namespace},
        "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }

    with pytest.raises(clients.ApiError) as refused:
        api.apply(deployment, force=True)

    assert refused.value.is_permanent, refused.value


def test_a_fraction_for_a_whole_number_is_a_permanent_refusal(
        cluster: Any, namespace: str) -> None:
    api = clients.Client(cluster.api_client)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "fraction", "namespace": namespace},
        "spec": {"minReadySeconds": 1.5, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }

    with pytest.raises(clients.ApiError) as refused:
        api.apply(deployment, force=True)

    assert refused.value.is_permanent, refused.value

"""The local cluster's apiserver enforces what a real one does: validation,
server-side apply ownership, and RBAC for ServiceAccount tokens."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

pytestmark = pytest.mark.cluster

APPLY = "application/apply-patch+yaml"


def api_error_message(error: client.ApiException) -> str:
    return str(json.loads(error.body)["message"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "metadata": {"name": "negative"},
                "spec": {
                    "replicas": -1,
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": {
                        "metadata": {"labels": {"app": "x"}},
                        "spec": {"containers": [{"name": "x", "image": "x"}]},
                    },
                },
            },
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            id="negative-replicas",
        ),
        pytest.param(
            {
                "metadata": {"name": "mismatch"},
                "spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": {
                        "metadata": {"labels": {"app": "y"}},
                        "spec": {"containers": [{"name": "x", "image": "x"}]},
                    },
                },
            },
            "`selector` does not match template `labels`",
            id="selector-not-matching-template",
        ),
    ],
)
def test_invalid_object_is_refused_with_its_validation_message(cluster, namespace, body, expected):
    apps = client.AppsV1Api(cluster.api_client)

    with pytest.raises(client.ApiException) as refused:
        apps.create_namespaced_deployment(namespace, body)

    assert refused.value.status == 422
    assert expected in api_error_message(refused.value)


def test_server_side_apply_records_the_field_manager_and_guards_its_fields(cluster, namespace):
    core = client.CoreV1Api(cluster.api_client)

    def apply(manager: str, value: str, *, force: bool = False) -> client.V1ConfigMap:
        return core.patch_namespaced_config_map(
            "settings",
            namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"replicas": value},
            },
            field_manager=manager,
            force=force or None,
            _content_type=APPLY,
        )

    created = apply("kubeless-operator", "2")
    assert created.data == {"replicas": "2"}
    managers = {(f.manager, f.operation) for f in created.metadata.managed_fields}
    assert ("kubeless-operator", "Apply") in managers

    # Another manager may not silently take a field the first one owns...
    with pytest.raises(client.ApiException) as conflict:
        apply("someone-else", "5")
    assert conflict.value.status == 409
    assert "kubeless-operator" in api_error_message(conflict.value)

    # ...unless it forces, which moves the ownership.
    forced = apply("someone-else", "5", force=True)
    assert forced.data == {"replicas": "5"}
    owners = {f.manager for f in forced.metadata.managed_fields}
    assert owners == {"someone-else"}


def test_service_account_token_is_forbidden_where_its_role_does_not_reach(cluster, namespace):
    core = client.CoreV1Api(cluster.api_client)
    rbac = client.RbacAuthorizationV1Api(cluster.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "configmap-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader-reads-configmaps"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "configmap-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token

    admin = cluster.api_client.configuration
    restricted = client.Configuration(host=admin.host)
    restricted.ssl_ca_cert = admin.ssl_ca_cert
    restricted.api_key = {"BearerToken": token}
    restricted.api_key_prefix = {"BearerToken": "Bearer"}
    with client.ApiClient(restricted) as reader_client:
        reader = client.CoreV1Api(reader_client)

        # Inside the Role: allowed.
        reader.list_namespaced_config_map(namespace)

        # Another resource, and the same resource in another namespace: 403.
        with pytest.raises(client.ApiException) as secrets:
            reader.list_namespaced_secret(namespace)
        with pytest.raises(client.ApiException) as elsewhere:
            reader.list_namespaced_config_map("default")

    assert secrets.value.status == 403
    assert elsewhere.value.status == 403
    assert f"system:serviceaccount:{namespace}:reader" in api_error_message(secrets.value)

"""The children of a Function, built as plain manifests: pure functions, no API calls.

Each builder returns the complete desired state of one object as this operator
applies it with server-side apply: the fields listed here are the fields the
operator owns, and anything another manager adds is left alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kubeless_operator import merging, runtimes, specs

GROUP = "kubeless.io"
VERSION = "v1beta1"
PLURAL = "functions"
KIND = "Function"
API_VERSION = f"{GROUP}/{VERSION}"

FIELD_MANAGER = "kubeless-fastapi"
POD_HASH_ANNOTATION = "kubeless.io/pod-hash"
DEFAULT_PORT = 8080
SERVICE_PORT_NAME = "http-function-port"  # Kubeless's name
# Container port names are limited to 15 characters, too few for Kubeless's name.
CONTAINER_PORT_NAME = "http"

SOURCE_DIR = "/kubeless"
DEPS_DIR = "/deps"
REQUIREMENTS = "requirements.txt"
# The numeric USER of Dockerfile.runtime; a numeric id lets runAsNonRoot verify it.
RUNTIME_UID = 10001
INIT_CONTAINER = "install-deps"

# The API server refuses a ConfigMap whose data (keys and values) exceeds 1 MiB.
CONFIG_MAP_LIMIT = 1024 * 1024


def selector_labels(function: specs.Function) -> dict[str, str]:
    """The labels that select a Function's pods; immutable in the Deployment."""
    return {"function": function.name, "created-by": "kubeless"}


def labels(function: specs.Function) -> dict[str, str]:
    """Labels of every child: the Function's own, Kubeless's and the recommended set."""
    return {
        **function.labels,
        **selector_labels(function),
        "app.kubernetes.io/name": function.name,
        "app.kubernetes.io/instance": function.name,
        "app.kubernetes.io/component": "function",
        "app.kubernetes.io/part-of": "kubeless",
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
    }


def pod_labels(function: specs.Function) -> dict[str, str]:
    # The Function's own labels stay out of the pod template: a label-only change
    # to the Function must not restart its pods.
    return {key: value for key, value in labels(function).items()
            if key not in function.labels or key in selector_labels(function)}


def owner_reference(function: specs.Function) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": function.name,
        "uid": function.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(function: specs.Function) -> dict[str, Any]:
    return {
        "name": function.name,
        "namespace": function.namespace,
        "labels": labels(function),
        "ownerReferences": [owner_reference(function)],
    }


def config_map_data(function: specs.Function) -> dict[str, str]:
    # The same keys Kubeless used, so tooling that read its ConfigMaps still works.
    return {
        "handler": f"{function.module}.{function.handler}",
        function.filename: function.source,
        REQUIREMENTS: function.deps,
    }


def config_map_size(data: Mapping[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in data.items())


def config_map(function: specs.Function) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(function),
        "data": config_map_data(function),
    }


def service_ports(function: specs.Function) -> list[dict[str, Any]]:
    raw_ports = function.service.get("ports") or [
        {"name": SERVICE_PORT_NAME, "port": DEFAULT_PORT, "targetPort": DEFAULT_PORT}
    ]
    # Server-side apply keys Service ports by port and protocol, so both are always set.
    return [{"protocol": "TCP", **port} for port in raw_ports]


def function_port(function: specs.Function) -> tuple[int, str]:
    """The container's port number and name, read from the Service's first port."""
    first = service_ports(function)[0]
    target = first.get("targetPort", first.get("port", DEFAULT_PORT))
    if isinstance(target, int):
        return target, CONTAINER_PORT_NAME
    if isinstance(target, str) and target.isdigit():
        return int(target), CONTAINER_PORT_NAME
    # A named target port: the container's port takes that name.
    return int(first.get("port", DEFAULT_PORT)), str(target)


def service(function: specs.Function) -> dict[str, Any]:
    user_spec = {key: value for key, value in function.service.items()
                 if key not in {"ports", "selector"}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(function),
        "spec": {
            "type": "ClusterIP",
            **user_spec,
            "ports": service_ports(function),
            "selector": selector_labels(function),
        },
    }


def url(function: specs.Function, *, cluster_domain: str) -> str:
    port = service_ports(function)[0].get("port", DEFAULT_PORT)
    return f"http://{function.name}.{function.namespace}.svc.{cluster_domain}:{port}"


def pod_hash(function: specs.Function, runtime: runtimes.Runtime) -> str:
    """A digest of everything that must restart the pods when it changes.

    The source and deps reach the pods through a ConfigMap, which Kubernetes does
    not watch for changes; hashing them into the pod template makes a change
    roll out like any other template change.
    """
    restarting = {
        "source": function.source,
        "deps": function.deps,
        "handler": f"{function.module}.{function.handler}",
        "image": runtime.image,
        "timeout": function.timeout,
    }
    encoded = json.dumps(restarting, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


# Beyond the time limit: the runtime's own 2 s of grace, and time to stop serving.
SHUTDOWN_MARGIN_SECONDS = 5


def deployment(function: specs.Function, runtime: runtimes.Runtime) -> dict[str, Any]:
    """The Deployment: generated defaults, then the user's part, then what must hold."""
    defaults: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {},
        "spec": {"template": {"spec": {
            "securityContext": {
                "runAsUser": RUNTIME_UID,
                "runAsGroup": RUNTIME_UID,
                "fsGroup": RUNTIME_UID,
            },
            # On SIGTERM the runtime lets calls in flight run out their time limit;
            # the kubelet must wait that long before it kills the container.
            "terminationGracePeriodSeconds": int(function.timeout) + SHUTDOWN_MARGIN_SECONDS,
        }}},
    }
    if function.autoscaler is None:
        defaults["spec"]["replicas"] = 1
    merged = merging.merge(defaults, _user_deployment(function))
    return merging.merge(merged, _enforced_deployment(function, runtime))


def _user_deployment(function: specs.Function) -> dict[str, Any]:
    user = copy.deepcopy(dict(function.deployment))
    user.pop("apiVersion", None)
    user.pop("kind", None)
    user.pop("status", None)
    spec = user.setdefault("spec", {})
    if not isinstance(spec, dict):
        return {}
    for field in ("selector", "status"):
        spec.pop(field, None)
    # With an autoscaler, the replica count is the autoscaler's to own.
    if function.autoscaler is not None:
        spec.pop("replicas", None)

    pod_spec = spec.get("template", {}).get("spec", {})
    for container in pod_spec.get("containers") or []:
        # Kubeless manifests leave the function's container unnamed; either way it
        # is the function container, whose command and own env are the operator's.
        if container.get("name") in (None, "", function.name):
            container["name"] = function.name
            container.pop("args", None)
            env = container.get("env") or []
            container["env"] = [e for e in env if e.get("name") not in _OWN_ENV]
    return user


_OWN_ENV = frozenset({
    "FUNC_HANDLER", "MOD_NAME", "FUNC_TIMEOUT", "FUNC_RUNTIME", "FUNC_MEMORY_LIMIT",
    "FUNC_PORT", "KUBELESS_INSTALL_VOLUME", "FUNC_MODULE_DIR",
})


def _enforced_deployment(function: specs.Function, runtime: runtimes.Runtime) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_function_container(function, runtime)],
        "volumes": [
            {"name": "source", "configMap": {"name": function.name, "defaultMode": 0o444}},
            {"name": "deps", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if function.deps.strip():
        pod_spec["initContainers"] = [_install_container(function, runtime)]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(function),
        "spec": {
            "selector": {"matchLabels": selector_labels(function)},
            "template": {
                "metadata": {
                    "labels": pod_labels(function),
                    "annotations": {
                        POD_HASH_ANNOTATION: pod_hash(function, runtime),
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(function_port(function)[0]),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _mounts() -> list[dict[str, Any]]:
    return [
        {"name": "source", "mountPath": SOURCE_DIR, "readOnly": True},
        {"name": "deps", "mountPath": DEPS_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def _function_container(function: specs.Function, runtime: runtimes.Runtime) -> dict[str, Any]:
    port, port_name = function_port(function)
    return {
        "name": function.name,
        "image": runtime.image,
        "imagePullPolicy": runtime.image_pull_policy,
        "command": ["kubeless-fastapi", "serve", "--host", "0.0.0.0"],
        "env": [
            {"name": "FUNC_HANDLER", "value": function.handler},
            {"name": "MOD_NAME", "value": function.module},
            {"name": "FUNC_TIMEOUT", "value": function.timeout},
            {"name": "FUNC_RUNTIME", "value": runtime.name},
            {"name": "FUNC_MEMORY_LIMIT", "valueFrom": {"resourceFieldRef": {
                "containerName": function.name, "resource": "limits.memory"}}},
            {"name": "FUNC_PORT", "value": str(port)},
            {"name": "KUBELESS_INSTALL_VOLUME", "value": DEPS_DIR},
        ],
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": port},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": port},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "volumeMounts": _mounts(),
        "securityContext": _container_security(),
    }


def _install_container(function: specs.Function, runtime: runtimes.Runtime) -> dict[str, Any]:
    # The runtime image installs the deps with its own pip, into a volume the runtime
    # appends to sys.path: a dependency can add packages but never replace the
    # runtime's FastAPI.
    return {
        "name": INIT_CONTAINER,
        "image": runtime.image,
        "imagePullPolicy": runtime.image_pull_policy,
        "command": [
            "python", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
            "--target", DEPS_DIR, "--requirement", f"{SOURCE_DIR}/{REQUIREMENTS}",
        ],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "volumeMounts": _mounts(),
        "securityContext": _container_security(),
    }


def autoscaler(function: specs.Function) -> dict[str, Any] | None:
    if function.autoscaler is None:
        return None
    raw_spec = dict(function.autoscaler.get("spec") or {})
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": function.name},
        "maxReplicas": raw_spec["maxReplicas"],
    }
    for field in ("minReplicas", "behavior"):
        if field in raw_spec:
            hpa_spec[field] = raw_spec[field]
    if raw_spec.get("metrics"):
        hpa_spec["metrics"] = [_metric_v2(metric) for metric in raw_spec["metrics"]]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(function),
        "spec": hpa_spec,
    }


def _metric_v2(metric: Mapping[str, Any]) -> dict[str, Any]:
    """A metric in autoscaling/v2 form; Kubeless manifests carry v2beta1 ones."""
    result = copy.deepcopy(dict(metric))
    resource = result.get("resource")
    if result.get("type") == "Resource" and isinstance(resource, dict) and "target" not in resource:
        if "targetAverageUtilization" in resource:
            utilization = resource.pop("targetAverageUtilization")
            resource["target"] = {"type": "Utilization", "averageUtilization": utilization}
        elif "targetAverageValue" in resource:
            value = resource.pop("targetAverageValue")
            resource["target"] = {"type": "AverageValue", "averageValue": value}
    pods = result.get("pods")
    if result.get("type") == "Pods" and isinstance(pods, dict) and "metricName" in pods:
        name = pods.pop("metricName")
        value = pods.pop("targetAverageValue", None)
        pods["metric"] = {"name": name}
        pods["target"] = {"type": "AverageValue", "averageValue": value}
    return result

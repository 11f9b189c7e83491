"""The children a Function becomes, built without a cluster."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from kubeless_operator import builders, runtimes, specs

REPO = Path(__file__).resolve().parents[2]
GREETING = (REPO / "examples" / "01-greeting" / "greeting.py").read_text()
RUNTIME = runtimes.default_table().resolve(runtimes.DEFAULT_RUNTIME)
assert RUNTIME is not None  # narrows the type; the default table has this runtime


def body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "greeting", "namespace": "ns", "uid": "uid-1", "generation": 1,
                     "labels": {"team": "a"}},
        "spec": {
            "function": GREETING,
            "handler": "greeting.get_greeting",
            "runtime": runtimes.DEFAULT_RUNTIME,
            **spec,
        },
    }


def function_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "greeting")


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def build(**spec: Any) -> dict[str, Any]:
    assert RUNTIME is not None
    return builders.deployment(specs.read(body(**spec)), RUNTIME)


def test_function_container_runs_the_runtime_with_the_kubeless_environment() -> None:
    container = function_container(build(timeout="30"))

    assert container["image"] == runtimes.DEFAULT_IMAGE
    assert container["command"] == ["kubeless-fastapi", "serve", "--host", "0.0.0.0"]
    env = env_of(container)
    assert env["MOD_NAME"] == "greeting"
    assert env["FUNC_HANDLER"] == "get_greeting"
    assert env["FUNC_TIMEOUT"] == "30"
    assert env["FUNC_RUNTIME"] == runtimes.DEFAULT_RUNTIME
    assert env["KUBELESS_INSTALL_VOLUME"] == builders.DEPS_DIR
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[builders.SOURCE_DIR]["readOnly"] is True


def test_user_deployment_keeps_env_and_resources_but_not_the_function_essentials() -> None:
    user = {"spec": {"replicas": 3, "template": {"spec": {"containers": [{
        "image": "evil:latest",
        "command": ["sh"],
        "args": ["-c", "true"],
        "env": [{"name": "GREETING", "value": "hi"}, {"name": "FUNC_TIMEOUT", "value": "1"}],
        "resources": {"limits": {"memory": "128Mi"}},
        "ports": [{"containerPort": 9999}],
    }, {"name": "sidecar", "image": "proxy:1"}]}}}}

    deployment = build(timeout="30", deployment=user)
    container = function_container(deployment)

    assert deployment["spec"]["replicas"] == 3
    assert container["image"] == runtimes.DEFAULT_IMAGE
    assert container["command"][0] == "kubeless-fastapi"
    assert "args" not in container
    assert env_of(container)["GREETING"] == "hi"
    assert [e["name"] for e in container["env"]].count("FUNC_TIMEOUT") == 1
    assert env_of(container)["FUNC_TIMEOUT"] == "30"
    assert container["resources"] == {"limits": {"memory": "128Mi"}}
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == ["greeting", "sidecar"]


def test_func_port_is_the_services_target_port() -> None:
    service = {"ports": [{"name": "http", "port": 80, "targetPort": 9000}]}
    function = specs.read(body(service=service))
    assert RUNTIME is not None
    container = function_container(builders.deployment(function, RUNTIME))

    assert env_of(container)["FUNC_PORT"] == "9000"
    assert container["ports"][0]["containerPort"] == 9000
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9000}
    assert builders.service(function)["spec"]["ports"][0]["targetPort"] == 9000


def test_service_listens_on_8080_by_default() -> None:
    service = builders.service(specs.read(body()))

    assert service["spec"]["ports"] == [
        {"protocol": "TCP", "name": "http-function-port", "port": 8080, "targetPort": 8080}
    ]
    assert service["spec"]["selector"] == {"function": "greeting", "created-by": "kubeless"}


def test_pod_runs_restricted() -> None:
    pod = build(deps="requests\n")["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod["initContainers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


@pytest.mark.parametrize(
    ("deps", "has_init"),
    [pytest.param("requests==2.32.3\n", True, id="deps"),
     pytest.param("", False, id="no-deps"),
     pytest.param("  \n", False, id="blank-deps")],
)
def test_init_container_installs_deps_only_when_there_are_some(deps: str, has_init: bool) -> None:
    pod = build(deps=deps)["spec"]["template"]["spec"]

    assert ("initContainers" in pod) is has_init
    if has_init:
        command = pod["initContainers"][0]["command"]
        assert command[-2:] == ["--requirement", "/kubeless/requirements.txt"]
        assert "--target" in command


@pytest.mark.parametrize(
    ("change", "rolls"),
    [
        pytest.param({"function": GREETING + "\n# edited\n"}, True, id="source"),
        pytest.param({"deps": "requests\n"}, True, id="deps"),
        pytest.param({"timeout": "99"}, True, id="timeout"),
        pytest.param({"deployment": {"metadata": {"labels": {"x": "y"}}}}, False,
                     id="deployment-label"),
    ],
)
def test_pod_hash_follows_what_must_restart_the_pods(change: dict[str, Any], rolls: bool) -> None:
    before = build()["spec"]["template"]["metadata"]["annotations"]
    after = build(**change)["spec"]["template"]["metadata"]["annotations"]

    changed = before[builders.POD_HASH_ANNOTATION] != after[builders.POD_HASH_ANNOTATION]
    assert changed is rolls


def test_function_labels_reach_children_but_not_the_pod_template() -> None:
    deployment = build()

    assert deployment["metadata"]["labels"]["team"] == "a"
    assert "team" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeless-fastapi"


def test_children_are_controlled_by_the_function() -> None:
    [owner] = build()["metadata"]["ownerReferences"]

    assert owner == {"apiVersion": "kubeless.io/v1beta1", "kind": "Function",
                     "name": "greeting", "uid": "uid-1", "controller": True,
                     "blockOwnerDeletion": True}


def test_autoscaler_is_autoscaling_v2_and_owns_the_replica_count() -> None:
    hpa = {"spec": {"minReplicas": 1, "maxReplicas": 4, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}]}}
    function = specs.read(body(horizontalPodAutoscaler=hpa,
                               deployment={"spec": {"replicas": 2}}))
    autoscaler = builders.autoscaler(function)
    assert RUNTIME is not None

    assert autoscaler is not None
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "greeting"
    assert autoscaler["spec"]["metrics"][0]["resource"] == {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    assert "replicas" not in builders.deployment(function, RUNTIME)["spec"]


def test_kubeless_empty_autoscaler_asks_for_none() -> None:
    empty = {"spec": {"maxReplicas": 0, "scaleTargetRef": {"kind": "", "name": ""}}}

    assert builders.autoscaler(specs.read(body(horizontalPodAutoscaler=empty))) is None


def test_config_map_holds_the_module_and_requirements() -> None:
    config_map = builders.config_map(specs.read(body(deps="requests\n")))

    assert config_map["data"] == {"handler": "greeting.get_greeting",
                                  "greeting.py": GREETING, "requirements.txt": "requests\n"}


def test_base64_source_with_a_matching_checksum_is_decoded() -> None:
    encoded = base64.b64encode(GREETING.encode()).decode()
    checksum = "sha256:" + hashlib.sha256(GREETING.encode()).hexdigest()

    function = specs.read(body(function=encoded, checksum=checksum,
                               **{"function-content-type": "base64"}))

    assert function.source == GREETING


@pytest.mark.parametrize(("timeout", "grace"), [("180", 185), ("5", 10)])
def test_the_pod_is_given_its_time_limit_to_stop(timeout: str, grace: int) -> None:
    pod = build(timeout=timeout)["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] == grace

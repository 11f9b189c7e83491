"""What is wrong with a Function, said before anything is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeless_operator import runtimes, specs

REPO = Path(__file__).resolve().parents[2]
GREETING = (REPO / "examples" / "01-greeting" / "greeting.py").read_text()


def body(name: str = "f", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {"function": GREETING, "handler": "greeting.get_greeting",
                 "runtime": runtimes.DEFAULT_RUNTIME, **spec},
    }


def problems(**spec: Any) -> list[str]:
    with pytest.raises(specs.InvalidFunctionError) as error:
        specs.read(body(**spec))
    return error.value.problems


def test_a_valid_function_reads_without_problems() -> None:
    function = specs.read(body(timeout="007"))

    assert (function.module, function.handler, function.timeout) == (
        "greeting", "get_greeting", "7")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"function-content-type": "url"}, "'url'", id="url-content"),
        pytest.param({"function-content-type": "base64+zip"}, "fetches nothing",
                     id="zip-content"),
        pytest.param({"function-content-type": "base64", "function": "%%%"},
                     "does not decode", id="bad-base64"),
        pytest.param({"checksum": "sha256:" + "0" * 64}, "SHA-256 is 'sha256:",
                     id="checksum-mismatch"),
        pytest.param({"checksum": "md5:abc"}, "64 hex digits", id="checksum-format"),
        pytest.param({"timeout": "ten"}, "whole number of seconds", id="timeout-words"),
        pytest.param({"timeout": "0"}, "above zero", id="timeout-zero"),
        pytest.param({"timeout": "86401"}, "at most 86400", id="timeout-over-a-day"),
        pytest.param({"timeout": "9" * 5000}, "at most 86400", id="timeout-of-5000-digits"),
        pytest.param({"handler": "get_greeting"}, "'module.function'", id="handler-no-module"),
        pytest.param({"function": "  \n"}, "is empty", id="empty-source"),
    ],
)
def test_bad_spec_fields_are_named_with_what_is_accepted(
        spec: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(**spec))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("my.func", id="dot"),
        pytest.param("f" * 64, id="64-characters"),
        pytest.param("My-func", id="uppercase"),
        pytest.param("9lives", id="leading-digit"),
        pytest.param("func-", id="trailing-hyphen"),
    ],
)
def test_a_name_that_cannot_name_a_service_is_a_problem(name: str) -> None:
    with pytest.raises(specs.InvalidFunctionError) as error:
        specs.read(body(name))

    [problem] = error.value.problems
    assert problem.startswith(f"metadata.name is {name!r}; ")
    assert "DNS-1035 label" in problem


def test_the_longest_dns_label_is_a_valid_name() -> None:
    assert specs.read(body("f" * 63)).name == "f" * 63


def test_contract_violations_name_the_file_and_line() -> None:
    source = GREETING.replace("def get_greeting(event, context):", "def get_greeting(event):")

    found = problems(function=source)

    line = source.splitlines().index("def get_greeting(event):") + 1
    assert found == [f"greeting.py:{line}: handler 'get_greeting' must accept two positional "
                     "parameters, (event, context), and require no others."]


def test_unknown_runtime_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "runtimes.yaml"
    path.write_text("python-fastapi3.12: {image: r/runtime:1}\npython-fastapi3.13: r/rt:2\n")

    table = runtimes.load_table(path)

    assert table.resolve("python-fastapi3.13") == runtimes.Runtime(
        "python-fastapi3.13", "r/rt:2")
    assert table.describe_unknown("python3.7") == (
        "runtime 'python3.7' is not in the operator's runtime table; "
        "known runtimes: python-fastapi3.12, python-fastapi3.13.")


@pytest.mark.parametrize(
    "text",
    [pytest.param("[]", id="list"), pytest.param("x: {tag: 1}", id="no-image"),
     pytest.param("x: {image: a, imagePullPolicy: Sometimes}", id="bad-policy")],
)
def test_a_broken_runtime_table_is_refused_with_the_reason(tmp_path: Path, text: str) -> None:
    path = tmp_path / "runtimes.yaml"
    path.write_text(text)

    with pytest.raises(runtimes.RuntimeTableError):
        runtimes.load_table(path)


def _pod(**pod_spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": pod_spec}}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"deployment": "x"}, "spec.deployment is 'x'; it must be an object",
                     id="deployment-a-string"),
        pytest.param({"deployment": {"spec": {"template": "x"}}},
                     "spec.deployment.spec.template is 'x'; it must be an object",
                     id="template-a-string"),
        pytest.param({"deployment": _pod(containers=[1])},
                     "spec.template.spec.containers is [1]; it must be a list of objects",
                     id="container-a-number"),
        pytest.param({"deployment": _pod(containers=[{"name": "f", "env": "x"}])},
                     "containers[0].env is 'x'; it must be a list of objects",
                     id="env-a-string"),
        pytest.param({"deployment": {"metadata": {"annotations": {"a": 1}}}},
                     "metadata.annotations is {'a': 1}; it must map names to strings",
                     id="annotation-a-number"),
        pytest.param({"service": {"ports": "x"}}, "spec.service.ports is 'x'",
                     id="service-ports-a-string"),
        pytest.param({"horizontalPodAutoscaler": {"spec": "x"}},
                     "spec.horizontalPodAutoscaler.spec is 'x'", id="autoscaler-spec-a-string"),
        pytest.param({"horizontalPodAutoscaler": {"spec": {"maxReplicas": "3"}}},
                     "maxReplicas is '3'; it must be a whole number", id="max-replicas-a-string"),
        pytest.param({"horizontalPodAutoscaler": {"spec": {"maxReplicas": 3, "metrics": "cpu"}}},
                     "spec.metrics is 'cpu'; it must be a list of metric objects",
                     id="metrics-a-string"),
        pytest.param({"deployment": {"spec": {"replicas": 1.5}}},
                     "spec.deployment.spec.replicas is 1.5; it must be a whole number of "
                     "replicas from 0 to 2147483647", id="replicas-a-fraction"),
        pytest.param({"deployment": {"spec": {"replicas": 2**32 + 1}}},
                     "spec.deployment.spec.replicas is 4294967297", id="replicas-past-32-bits"),
        pytest.param({"service": {"ports": [{"port": 70000}]}},
                     "spec.service.ports[0].port is 70000; it must be a port number",
                     id="port-out-of-range"),
    ],
)
def test_kubernetes_parts_of_the_wrong_shape_are_named(
        spec: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(**spec)), problems(**spec)


@pytest.mark.parametrize(
    ("pod_spec", "expected"),
    [
        pytest.param({"hostNetwork": True}, "hostNetwork is set", id="host-network"),
        pytest.param({"hostPID": True}, "hostPID is set", id="host-pid"),
        pytest.param({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
                     "volumes[0] is a hostPath volume", id="host-path"),
        pytest.param({"securityContext": {"runAsUser": 0}},
                     "spec.template.spec.securityContext asks for root", id="pod-as-root"),
        pytest.param({"containers": [{"name": "f", "securityContext": {"privileged": True}}]},
                     "containers[0].securityContext.privileged is true", id="privileged"),
        pytest.param({"containers": [{"securityContext": {
                         "capabilities": {"add": ["SYS_ADMIN"]}}}]},
                     "capabilities.add is ['SYS_ADMIN']", id="added-capability"),
        pytest.param({"initContainers": [{"name": "i", "securityContext": {
                         "allowPrivilegeEscalation": True}}]},
                     "initContainers[0].securityContext.allowPrivilegeEscalation is true",
                     id="escalating-init-container"),
        pytest.param({"containers": [{"name": "f"}, {"name": "side", "securityContext": {
                         "seccompProfile": {"type": "Unconfined"}}}]},
                     "containers[1].securityContext.seccompProfile is Unconfined",
                     id="unconfined-sidecar"),
        pytest.param({"containers": [{"name": "side", "securityContext": {
                         "seLinuxOptions": {"type": "spc_t"}}}]},
                     "seLinuxOptions asks for {'type': 'spc_t'}", id="selinux-super-privileged"),
        pytest.param({"containers": [{"name": "side", "ports": [
                         {"containerPort": 80, "hostPort": 80}]}]},
                     "containers[0].ports[0].hostPort is set", id="host-port"),
        pytest.param({"securityContext": {"sysctls": [
                         {"name": "net.ipv4.ip_forward", "value": "1"}]}},
                     "securityContext.sysctls is set", id="sysctls"),
    ],
)
def test_a_deployment_that_would_leave_the_restricted_pod_is_refused(
        pod_spec: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(deployment=_pod(**pod_spec)))


def test_a_deployment_within_the_restricted_pod_is_kept() -> None:
    user = _pod(nodeSelector={"disk": "ssd"}, containers=[{
        "name": "f", "resources": {"limits": {"memory": "256Mi"}},
        "env": [{"name": "MODE", "value": "fast"}],
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True}}])

    assert specs.read(body(deployment=user)).deployment == user

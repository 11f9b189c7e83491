"""The Helm chart: lint, schema validation by a real apiserver, RBAC and pod hardening."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kubeless-fastapi"

MODES = [
    pytest.param([], id="cluster-wide"),
    pytest.param(["--set", "watchNamespaces={team-a,team-b}"], id="namespaced"),
]


def helm(cluster: Any, *args: str) -> str:
    result = subprocess.run([str(cluster.bin_dir / "helm"), *args], capture_output=True,
                            text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def render(cluster: Any, *values: str, namespace: str = "kubeless") -> list[dict[str, Any]]:
    output = helm(cluster, "template", "kubeless-fastapi", str(CHART),
                  "--namespace", namespace, *values)
    return [doc for doc in yaml.safe_load_all(output) if doc]


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


@pytest.mark.parametrize("values", MODES)
def test_chart_lints_clean(cluster, values):
    output = helm(cluster, "lint", "--strict", str(CHART), *values)

    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("values", MODES)
def test_rendered_chart_is_accepted_by_the_apiserver(cluster, namespace, values):
    for extra in ("team-a", "team-b"):
        subprocess.run([str(cluster.bin_dir / "kubectl"), "create", "namespace", extra],
                       capture_output=True, check=False)
    manifest = helm(cluster, "template", "kubeless-fastapi", str(CHART),
                    "--namespace", namespace, *values)

    # A server-side dry run checks every object against the apiserver's own schemas.
    output = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)

    assert "deployment.apps/kubeless-fastapi created (server dry run)" in output
    assert "validatingwebhookconfiguration" in output


def test_chart_ships_the_project_crd():
    assert (CHART / "crds" / "functions.kubeless.io.yaml").read_text() == (
        REPO / "crds" / "functions.kubeless.io.yaml").read_text()


@pytest.mark.parametrize("values", MODES)
def test_rbac_never_reaches_secrets_and_roles_stay_in_their_namespaces(cluster, values):
    documents = render(cluster, *values)
    roles = of_kind(documents, "ClusterRole") + of_kind(documents, "Role")

    rules = [rule for role in roles for rule in role["rules"]]
    assert rules
    assert not any("secrets" in rule["resources"] or "*" in rule["resources"] for rule in rules)
    assert not any("*" in rule["verbs"] for rule in rules)
    if values:
        assert not of_kind(documents, "ClusterRole")
        assert sorted(role["metadata"]["namespace"] for role in roles) == ["team-a", "team-b"]


def test_operator_pod_runs_restricted_with_probes_and_limits(cluster):
    deployment = of_kind(render(cluster), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["cpu"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_default_images_are_what_make_images_builds(cluster):
    makefile = (REPO / "Makefile").read_text()
    documents = render(cluster)
    deployment = of_kind(documents, "Deployment")[0]
    table = yaml.safe_load(of_kind(documents, "ConfigMap")[0]["data"]["runtimes.yaml"])

    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "kubeless-fastapi/operator:0.1.0"
    assert "OPERATOR_IMAGE ?= kubeless-fastapi/operator:$(VERSION)" in makefile
    assert "VERSION ?= 0.1.0" in makefile
    assert table["python-fastapi3.12"]["image"] == "kubeless-fastapi/runtime:0.1.0"
    assert "RUNTIME_IMAGE ?= kubeless-fastapi/runtime:$(VERSION)" in makefile


def test_helm_install_succeeds_and_the_operator_deployment_gets_ready(cluster, namespace):
    # Without the webhook: its Service would lead the apiserver to a fake pod's
    # address, and no traffic may leave this machine's loopback.
    helm(cluster, "install", "kubeless-fastapi", str(CHART), "--namespace", namespace,
         "--set", "webhook.enabled=false", "--wait", "--timeout", "120s")
    try:
        status = helm(cluster, "status", "kubeless-fastapi", "--namespace", namespace)
        assert "STATUS: deployed" in status
        assert "Deploy a first function" in status
    finally:
        helm(cluster, "uninstall", "kubeless-fastapi", "--namespace", namespace, "--wait")


def test_operator_image_runs_the_command_the_chart_tests_run():
    # The chart passes only args; the image's entry point supplies the command
    # that tests/chart/test_installed_operator.py starts with those args.
    entrypoints = [line for line in (REPO / "Dockerfile.operator").read_text().splitlines()
                   if line.startswith("ENTRYPOINT")]

    assert entrypoints == ['ENTRYPOINT ["kubeless-fastapi", "operator"]']

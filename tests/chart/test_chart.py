"""The Helm chart: lint, schema validation by a real apiserver, RBAC and pod hardening."""

from __future__ import annotations

import base64
import json
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


def helm_refusal(cluster: Any, *args: str) -> str:
    """The error of a helm command that must fail."""
    result = subprocess.run([str(cluster.bin_dir / "helm"), *args], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 0, f"helm {' '.join(args)} succeeded:\n{result.stdout}"
    return result.stderr


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("webhook.failurePolicy=Maybe",
                     "at '/webhook/failurePolicy': value must be one of 'Ignore', 'Fail'",
                     id="failure-policy"),
        pytest.param("webhook.timeoutSeconds=99",
                     "at '/webhook/timeoutSeconds': maximum: got 99, want 30",
                     id="webhook-timeout"),
        pytest.param("workers=abc", "at '/workers': got string, want integer", id="workers"),
        pytest.param("workers=0", "at '/workers': minimum: got 0, want 1", id="no-workers"),
        pytest.param("health.port=abc", "at '/health/port': got string, want integer",
                     id="health-port"),
        pytest.param("runtimes.x.image=", "at '/runtimes/x/image': minLength",
                     id="empty-image"),
        pytest.param("runtimes.python-fastapi3\\.12=null",
                     "at '/runtimes': minProperties: got 0, want 1", id="no-runtime"),
        pytest.param("watchNamespaces=foo", "at '/watchNamespaces': got string, want array",
                     id="namespaces-not-a-list"),
        pytest.param("wokers=3", "additional properties 'wokers' not allowed",
                     id="misspelt-key"),
        pytest.param("metrics.port=8081",
                     "health.port and metrics.port are both 8081; the operator listens on "
                     "each separately, so give them different ports.", id="shared-port"),
        pytest.param("webhook.port=9090", "metrics.port and webhook.port are both 9090",
                     id="webhook-shares-metrics-port"),
    ],
)
def test_nonsense_values_are_refused_with_a_readable_message(cluster, value, expected):
    error = helm_refusal(cluster, "template", "kubeless-fastapi", str(CHART), "--set", value)

    assert expected in error
    assert "range can't iterate" not in error


def test_a_port_is_free_to_reuse_while_the_webhook_that_had_it_is_off(cluster):
    documents = render(cluster, "--set", "webhook.enabled=false,webhook.port=9090")

    assert not of_kind(documents, "ValidatingWebhookConfiguration")


def test_values_schema_describes_every_key_of_values_yaml():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())

    def missing(raw: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
        found = []
        for key, value in raw.items():
            child = node.get("properties", {}).get(key) or node.get("additionalProperties")
            if not isinstance(child, dict):
                found.append(f"{path}{key}")
            elif isinstance(value, dict) and "properties" in child:
                found += missing(value, child, f"{path}{key}.")
        return found

    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert missing(values, schema, "") == []


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


def test_webhook_certificate_is_trusted_through_its_ca_bundle_for_its_service(
        cluster, tmp_path):
    documents = render(cluster, namespace="platform")
    [secret] = of_kind(documents, "Secret")
    [configuration] = of_kind(documents, "ValidatingWebhookConfiguration")
    [webhook] = configuration["webhooks"]
    service = webhook["clientConfig"]["service"]
    [service_object] = of_kind(documents, "Service")
    cert, ca = tmp_path / "tls.crt", tmp_path / "ca.crt"
    cert.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    ca.write_bytes(base64.b64decode(webhook["clientConfig"]["caBundle"]))

    verified = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)],
                              capture_output=True, text=True, check=False)
    names = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext",
                            "subjectAltName"], capture_output=True, text=True, check=True).stdout

    assert verified.returncode == 0, verified.stderr
    assert service_object["metadata"]["name"] == service["name"]
    assert (service["namespace"], service["port"]) == ("platform", 443)
    assert f"DNS:{service['name']}.platform.svc" in names

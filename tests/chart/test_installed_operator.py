"""The chart's RBAC and webhook, proven with a real apiserver.

The operator runs here as a local process, with exactly the arguments the chart
gives its container and with the chart's ServiceAccount token instead of an
admin kubeconfig; if the chart forgot a permission, a Function would not get
Ready and the operator's log would show the refusal.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import CHART, helm, of_kind, render
from tests.processes import free_port, stop

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(REPO.glob("examples/*/function.yaml"))
COMMAND = str(Path(sys.executable).parent / "kubeless-fastapi")
REFUSALS = ("forbidden", "Forbidden", " 403")


@pytest.fixture
def apps_namespace(cluster: Any) -> Iterator[str]:
    # Not "t-...": the operator of the operator tests watches those and would
    # reconcile these Functions too.
    name = f"chart-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@contextlib.contextmanager
def installed_chart(cluster: Any, namespace: str, *values: str) -> Iterator[list[dict]]:
    """helm install, yielding the rendered objects; uninstalled afterwards."""
    # The webhook's Service would lead the apiserver to a fake pod's address;
    # the webhook has a test of its own, on loopback.
    arguments = ["--namespace", namespace, "--set", "webhook.enabled=false", *values]
    helm(cluster, "install", "kubeless-fastapi", str(CHART), "--wait", *arguments)
    try:
        yield render(cluster, *arguments[2:], namespace=namespace)
    finally:
        helm(cluster, "uninstall", "kubeless-fastapi", "--namespace", namespace, "--wait")


def service_account_kubeconfig(cluster: Any, namespace: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount, by its token."""
    token = cluster.kubectl("create", "token", "kubeless-fastapi", "--namespace", namespace,
                            "--duration=1h").strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }))
    return path


@dataclasses.dataclass(frozen=True)
class LocalWebhook:
    """Where the operator serves the webhook here, standing for the pod's port and Secret."""

    port: int
    cert: Path
    key: Path


@contextlib.contextmanager
def operator_as_the_chart_runs_it(
        documents: list[dict], kubeconfig: Path, workdir: Path,
        webhook: LocalWebhook | None = None,
) -> Iterator[Path]:
    """Start the operator with the chart's container arguments; yield its log path."""
    container = of_kind(documents, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    table = workdir / "runtimes.yaml"
    table.write_text(of_kind(documents, "ConfigMap")[0]["data"]["runtimes.yaml"])
    health, metrics = free_port(), free_port()
    # Local files and loopback ports stand in for the pod's mounts and ports.
    local = {
        "--runtimes": str(table),
        "--health-address": f"127.0.0.1:{health}",
        "--metrics-address": f"127.0.0.1:{metrics}",
    }
    if webhook is not None:
        local.update({"--webhook-address": f"127.0.0.1:{webhook.port}",
                      "--webhook-cert": str(webhook.cert), "--webhook-key": str(webhook.key)})
    arguments = []
    for argument in container["args"]:
        option = argument.split("=", 1)[0]
        arguments.append(f"{option}={local[option]}" if option in local else argument)
    log = workdir / "operator.log"
    with log.open("wb") as output:
        process = subprocess.Popen([COMMAND, "operator", *arguments],
                                   stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    try:
        yield log
    finally:
        stop(process)


def apply_examples_and_wait_until_ready(cluster: Any, namespace: str, log: Path) -> None:
    for manifest in EXAMPLES:
        cluster.kubectl("apply", "--namespace", namespace, "-f", str(manifest))
    names = [f"function/{yaml.safe_load(m.read_text())['metadata']['name']}" for m in EXAMPLES]
    try:
        cluster.kubectl("wait", "--namespace", namespace, "--for=condition=Ready",
                        "--timeout=90s", *names)
    except RuntimeError as error:
        raise AssertionError(f"{error}\n--- operator log ---\n{log.read_text()[-4000:]}") from None


def test_cluster_wide_install_runs_every_example_with_its_own_token(
        cluster, namespace, apps_namespace, tmp_path):
    with installed_chart(cluster, namespace) as documents:
        kubeconfig = service_account_kubeconfig(cluster, namespace, tmp_path / "sa.kubeconfig")
        with operator_as_the_chart_runs_it(documents, kubeconfig, tmp_path) as log:
            apply_examples_and_wait_until_ready(cluster, apps_namespace, log)
            operator_log = log.read_text()

        secrets = subprocess.run(
            [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "secrets",
             "--namespace", apps_namespace], capture_output=True, text=True, check=False)

    assert not [line for line in operator_log.splitlines()
                if any(word in line for word in REFUSALS)]
    assert secrets.returncode != 0
    assert "Forbidden" in secrets.stderr


def test_namespaced_install_works_with_roles_only(cluster, namespace, apps_namespace, tmp_path):
    values = ("--set", f"watchNamespaces={{{apps_namespace}}}")
    with installed_chart(cluster, namespace, *values) as documents:
        assert not of_kind(documents, "ClusterRole")
        assert not of_kind(documents, "ClusterRoleBinding")
        kubeconfig = service_account_kubeconfig(cluster, namespace, tmp_path / "sa.kubeconfig")
        with operator_as_the_chart_runs_it(documents, kubeconfig, tmp_path) as log:
            apply_examples_and_wait_until_ready(cluster, apps_namespace, log)
            operator_log = log.read_text()

    assert not [line for line in operator_log.splitlines()
                if any(word in line for word in REFUSALS)]


@pytest.fixture
def webhook_certificate(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A CA and a certificate for 127.0.0.1 signed by it, made with openssl."""
    ca_key, ca_cert = tmp_path / "ca.key", tmp_path / "ca.crt"
    key, csr, cert = tmp_path / "tls.key", tmp_path / "tls.csr", tmp_path / "tls.crt"
    extensions = tmp_path / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
         "-keyout", str(ca_key), "-out", str(ca_cert)],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(csr)],
        ["x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "1", "-extfile", str(extensions), "-out", str(cert)],
    ):
        subprocess.run(["openssl", *command], check=True, capture_output=True)
    return cert, key, ca_cert.read_bytes()


def broken_function(name: str) -> str:
    manifest = yaml.safe_load((REPO / "examples" / "01-greeting" / "function.yaml").read_text())
    manifest["metadata"] = {"name": name}
    del manifest["spec"]["checksum"]  # it sums the valid source
    manifest["spec"]["function"] = manifest["spec"]["function"].replace(
        "class GetResponse(BaseModel):", "class GetResponse:")
    return json.dumps(manifest)


def test_webhook_refuses_a_broken_function_at_kubectl_apply(
        cluster, apps_namespace, tmp_path, webhook_certificate):
    cert, key, ca = webhook_certificate
    port = free_port()
    webhook_name = f"functions-{apps_namespace}"
    valid = (REPO / "examples" / "01-greeting" / "function.yaml").read_text()
    # The chart as installed by default, webhook on, for this test's namespace only.
    documents = render(cluster, "--set", f"watchNamespaces={{{apps_namespace}}}")
    [configuration] = of_kind(documents, "ValidatingWebhookConfiguration")
    configuration["metadata"] = {"name": webhook_name}
    [webhook] = configuration["webhooks"]
    # Only how the apiserver reaches it changes: on loopback with a certificate for
    # 127.0.0.1, since its Service would lead to a fake pod's address. Fail instead
    # of the chart's Ignore, so that a webhook still starting shows as "connection
    # refused" rather than as a Function let through.
    webhook["clientConfig"] = {"url": f"https://127.0.0.1:{port}/validate-function",
                               "caBundle": base64.b64encode(ca).decode()}
    webhook["failurePolicy"] = "Fail"
    with operator_as_the_chart_runs_it(documents, cluster.kubeconfig, tmp_path,
                                       LocalWebhook(port, cert, key)):
        # A broken Function from before the webhook existed.
        cluster.kubectl("apply", "--namespace", apps_namespace, "-f", "-",
                        input=broken_function("legacy"))
        cluster.kubectl("apply", "-f", "-", input=json.dumps(configuration))
        try:
            refused = apply_when_webhook_answers(cluster, apps_namespace,
                                                 broken_function("broken"))
            accepted = cluster.kubectl("apply", "--namespace", apps_namespace, "-f", "-",
                                       input=valid)
            labelled = cluster.kubectl("label", "--namespace", apps_namespace,
                                       "function/legacy", "team=a")
        finally:
            cluster.kubectl("delete", "validatingwebhookconfiguration", webhook_name)

    assert refused.returncode != 0
    assert 'admission webhook "functions.kubeless.io" denied the request' in refused.stderr
    assert ("greeting.py:14: 'GetResponse' must be a class that subclasses "
            "pydantic.BaseModel.") in refused.stderr
    assert "function.kubeless.io/greeting created" in accepted
    # Changes that leave the spec alone pass, even on a Function that was invalid.
    assert "function.kubeless.io/legacy labeled" in labelled
    # A refusal is the webhook working: logged, but not as an error.
    log = (tmp_path / "operator.log").read_text()
    assert "Webhook 'validate-function' failed permanently: greeting.py:14" in log
    assert "[ERROR" not in log


def apply_when_webhook_answers(cluster: Any, namespace: str,
                               manifest: str) -> subprocess.CompletedProcess[str]:
    """kubectl apply, retried while the operator's webhook server is still starting."""
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "apply",
             "--namespace", namespace, "-f", "-"],
            input=manifest, capture_output=True, text=True, check=False)
        starting = "connection refused" in result.stderr or "no such host" in result.stderr
        if not starting or time.monotonic() > deadline:
            return result
        time.sleep(0.5)

"""Before kopf starts, the operator checks that it may watch what it serves.

The operator runs as users run it, on a ServiceAccount token whose RBAC is the
chart's own, rendered under a release name of this test's; a refusal must be one
sentence and exit 2, in seconds, instead of kopf's minute of 403s and tracebacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
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
from function_helpers import answers, wait_for
from kubernetes import client, config
from tests.chart.test_chart import CHART, helm
from tests.processes import free_port, stop

from kubeless_operator import handlers, preflight, scope

REPO = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).parent / "kubeless-fastapi")
PREFIX = "kubeless-fastapi operator: "
GREETING = REPO / "examples" / "01-greeting" / "function.yaml"
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
READ_VERBS = {"get", "list", "watch"}
REFUSALS = ("forbidden", "Forbidden", " 403", "Traceback")
# The check takes well under a second; kopf took about a minute to give up.
REFUSAL_SECONDS = 15


@dataclasses.dataclass
class Install:
    """A chart release's ServiceAccount and RBAC, and namespaces it may be given."""

    cluster: Any
    release: str
    namespace: str  # the release's, where the ServiceAccount lives
    workdir: Path
    cluster_scoped: list[str] = dataclasses.field(default_factory=list)

    def watched(self, suffix: str) -> str:
        """A namespace for the operator to watch; not "t-*", which the tests' operator serves."""
        name = f"{self.release}-{suffix}"
        self.cluster.kubectl("create", "namespace", name)
        return name

    def grant(self, *values: str, drop_group: str | None = None,
              read_only: bool = False) -> Path:
        """Apply the chart's RBAC for ``values``; a kubeconfig with the ServiceAccount's token."""
        rendered = helm(self.cluster, "template", self.release, str(CHART),
                        "--namespace", self.namespace, *values)
        documents = [doc for doc in yaml.safe_load_all(rendered)
                     if doc and doc["kind"] in RBAC_KINDS]
        for document in documents:
            if drop_group is not None and document["kind"] in {"Role", "ClusterRole"}:
                document["rules"] = [rule for rule in document["rules"]
                                     if drop_group not in rule["apiGroups"]]
            if read_only and document["kind"] in {"Role", "ClusterRole"}:
                for rule in document["rules"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v in READ_VERBS]
                document["rules"] = [rule for rule in document["rules"] if rule["verbs"]]
            if document["kind"].startswith("Cluster"):
                self.cluster_scoped.append(f"{document['kind']}/{document['metadata']['name']}")
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
        account = next(doc for doc in documents if doc["kind"] == "ServiceAccount")
        token = self.cluster.kubectl("create", "token", account["metadata"]["name"],
                                     "--namespace", self.namespace, "--duration=1h").strip()
        return write_kubeconfig(self.workdir / "sa.kubeconfig",
                                server=cluster_entry(self.cluster), token=token)


def cluster_entry(cluster: Any) -> dict[str, Any]:
    """The local cluster's server and CA, as its admin kubeconfig names them."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    return dict(admin["clusters"][0]["cluster"])


def write_kubeconfig(path: Path, *, server: dict[str, Any], token: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }))
    return path


@pytest.fixture
def install(cluster: Any, tmp_path: Path) -> Iterator[Install]:
    release = f"pf-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", release)
    this = Install(cluster, release, release, tmp_path)
    yield this
    for name in this.cluster_scoped:
        cluster.kubectl("delete", name, "--ignore-not-found")
    namespaces = cluster.kubectl("get", "namespaces", "-o", "name")
    for line in namespaces.split():
        if line.removeprefix("namespace/").startswith(release):
            cluster.kubectl("delete", line, "--wait=false")


def listeners() -> list[str]:
    return ["--health-address", f"127.0.0.1:{free_port()}",
            "--metrics-address", f"127.0.0.1:{free_port()}"]


def run_operator(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, "operator", *listeners(), *args], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig)})


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(PREFIX)
    assert line.endswith(".")
    for text in expected:
        assert text in line
    return line


@contextlib.contextmanager
def running_operator(kubeconfig: Path, workdir: Path, *args: str) -> Iterator[Path]:
    """The operator, started and answering its health endpoint; yields its log."""
    health = free_port()
    log = workdir / "operator.log"
    command = [COMMAND, "operator", "--health-address", f"127.0.0.1:{health}",
               "--metrics-address", f"127.0.0.1:{free_port()}", *args]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{health}/healthz") or process.poll(),
                 timeout=60, what="the operator's health endpoint")
        assert process.poll() is None, log.read_text()
        yield log
    finally:
        stop(process)


def deploy_greeting(cluster: Any, namespace: str, log: Path) -> None:
    cluster.kubectl("apply", "--namespace", namespace, "-f", str(GREETING))
    try:
        cluster.kubectl("wait", "--namespace", namespace, "--for=condition=Ready",
                        "--timeout=60s", "function/greeting")
    except RuntimeError as error:
        raise AssertionError(f"{error}\n--- operator log ---\n{log.read_text()[-4000:]}") from None


def refusals_in(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines()
            if any(word in line for word in REFUSALS)]


def test_a_glob_with_namespaced_roles_only_is_refused_in_one_sentence(install):
    watched = install.watched("a")
    kubeconfig = install.grant("--set", f"watchNamespaces={{{watched}}}")
    glob = f"{install.release}-*"

    started = time.monotonic()
    result = run_operator(kubeconfig, "--namespace", glob)

    assert time.monotonic() - started < REFUSAL_SECONDS
    account = f"system:serviceaccount:{install.namespace}:{install.release}-kubeless-fastapi"
    assert_refused(
        result,
        f"the user '{account}' may not list or watch functions.kubeless.io, configmaps, "
        "services, deployments.apps or horizontalpodautoscalers.autoscaling in every namespace",
        f"--namespace '{glob}' needs (a glob is watched cluster-wide)",
        "a ClusterRole like the chart's", "exact --namespace names and grant a Role in each")


def test_exact_names_with_the_charts_roles_start_and_deploy(install):
    watched = install.watched("a")
    kubeconfig = install.grant("--set", f"watchNamespaces={{{watched}}}")

    with running_operator(kubeconfig, install.workdir, "--namespace", watched) as log:
        deploy_greeting(install.cluster, watched, log)

    assert not refusals_in(log)


def test_a_named_namespace_without_a_role_is_refused_naming_it(install):
    granted, other = install.watched("a"), install.watched("b")
    kubeconfig = install.grant("--set", f"watchNamespaces={{{granted}}}")

    result = run_operator(kubeconfig, "--namespace", granted, "--namespace", other)

    line = assert_refused(result, f"in namespace '{other}';",
                          "grant a Role with the operator's rules in each namespace")
    assert repr(granted) not in line


def test_the_charts_cluster_role_serves_a_glob(install):
    watched = install.watched("a")
    kubeconfig = install.grant()

    with running_operator(kubeconfig, install.workdir,
                          "--namespace", f"{install.release}-*") as log:
        deploy_greeting(install.cluster, watched, log)

    assert not refusals_in(log)
    assert "WARNING" not in log.read_text()


def test_without_leave_to_watch_crds_the_operator_starts_and_warns_once(install, caplog):
    kubeconfig = install.grant(drop_group="apiextensions.k8s.io")

    with caplog.at_level(logging.WARNING, logger="kubeless_operator"):
        findings = preflight.check(configuration_of(kubeconfig), scope.NamespaceScope())

    assert findings == preflight.Findings(functions_served=True, crds_watchable=False)
    [warning] = caplog.messages
    assert warning.startswith("Watching for new CRDs is off: the user 'system:serviceaccount:")
    assert "may not list or watch customresourcedefinitions.apiextensions.k8s.io" in warning


@pytest.mark.parametrize(
    ("resource", "patterns", "expected"),
    [
        pytest.param(preflight.Resource("kubeless.io", "v1beta1", "widgets"), [],
                     "the operator picks Functions up once the CRD exists.",
                     id="plural-not-served-cluster-wide"),
        pytest.param(preflight.Resource("absent.example.test", "v1", "functions"), [],
                     "the operator picks Functions up once the CRD exists.",
                     id="group-not-served-cluster-wide"),
        pytest.param(preflight.Resource("absent.example.test", "v1", "functions"), ["default"],
                     "then restart the operator: with exact --namespace names it does not "
                     "watch for new CRDs.", id="group-not-served-named"),
    ],
)
def test_a_missing_function_crd_is_one_warning_not_a_refusal(
        cluster, monkeypatch, caplog, resource, patterns, expected):
    monkeypatch.setattr(preflight, "FUNCTIONS", resource)

    with caplog.at_level(logging.WARNING, logger="kubeless_operator"):
        findings = preflight.check(cluster.api_client.configuration,
                                   scope.NamespaceScope.parse(patterns))

    assert not findings.functions_served
    [warning] = caplog.messages
    assert warning.startswith(f"Functions ({resource.name}/{resource.version}) are not "
                              "served here: apply crds/functions.kubeless.io.yaml")
    assert warning.endswith(expected)


def test_an_unreachable_api_server_is_refused_in_one_sentence(tmp_path):
    port = free_port()
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", token="unused",
        server={"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True})

    result = run_operator(kubeconfig)

    assert_refused(result, f"cannot reach the Kubernetes API at https://127.0.0.1:{port}: "
                           "Connection refused", "needs a running cluster")


def test_credentials_the_api_server_does_not_accept_are_refused_in_one_sentence(
        cluster, tmp_path):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", token="not-a-token",
                                  server=cluster_entry(cluster))

    result = run_operator(kubeconfig)

    assert_refused(result, "does not accept these credentials (Unauthorized)",
                   "renew the token or certificate")


def test_the_checked_resources_are_the_ones_the_handlers_watch():
    # kopf's resource tuples leave out the core group's empty name.
    watched = {("", *resource)[-3:] for resource, _ in handlers.CHILD_RESOURCES.values()}

    assert {(r.group, r.version, r.plural) for r in preflight.CHILDREN} == watched


def configuration_of(kubeconfig: Path) -> client.Configuration:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return configuration


def test_roles_that_only_read_are_refused_naming_the_writes_missing(install):
    watched = install.watched("a")
    kubeconfig = install.grant("--set", f"watchNamespaces={{{watched}}}", read_only=True)

    result = run_operator(kubeconfig, "--namespace", watched)

    assert_refused(result, "may not patch functions.kubeless.io/status",
                   "create or patch or delete configmaps, services or "
                   "horizontalpodautoscalers.autoscaling",
                   "create or patch deployments.apps", f"in namespace '{watched}'")

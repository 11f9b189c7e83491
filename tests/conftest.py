"""Fixtures that give tests a real Kubernetes API.

By default that is the local control plane of ``hack/cluster`` (real etcd,
kube-apiserver, kube-controller-manager and kube-scheduler; kwok's fake nodes).
With ``--cluster=kind`` it is a kind cluster made through pytest-kind, for
developer machines that have Docker.

In CI (``CI=true``) a cluster that cannot be had fails the run with the reason;
elsewhere the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from kubernetes import client, config

REPO = Path(__file__).resolve().parent.parent
HACK = REPO / "hack" / "cluster"
CRDS = REPO / "crds"

# Generous for a 2-core machine that may be compiling at the same time; a
# running cluster answers at once, so only a cold start comes near it.
CLUSTER_START_TIMEOUT = 300


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cluster",
        choices=("local", "kind"),
        default="local",
        help=(
            "Kubernetes for the cluster tests: 'local' runs the control plane of "
            "hack/cluster (default); 'kind' makes a kind cluster through pytest-kind "
            "and needs Docker."
        ),
    )


@dataclass(frozen=True)
class Cluster:
    """A reachable Kubernetes API and the tools that talk to it."""

    kubeconfig: Path
    api_client: client.ApiClient
    bin_dir: Path | None  # kubectl and helm of the local cluster; None for kind.

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """Run kubectl against this cluster and return its stdout."""
        kubectl = str(self.bin_dir / "kubectl") if self.bin_dir else "kubectl"
        result = subprocess.run(
            [kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    # CI must prove the operator against a real API, so a missing cluster is a
    # failure there; a developer without the binaries just gets told why.
    if _in_ci():
        pytest.fail(f"CI needs the local Kubernetes cluster, but {reason}", pytrace=False)
    pytest.skip(reason)


def _script(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HACK / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _start_local_cluster() -> tuple[Path, Path, bool]:
    """Start the local control plane unless it runs; say whether we started it."""
    built = _script("build.sh", "--check")
    if built.returncode != 0:
        _unavailable(
            "the local control plane is not built; `make cluster-build` builds it "
            "(about 20 minutes on 2 cores the first time; see the README)."
        )

    cluster_dir = Path(os.environ.get("CLUSTER_DIR", REPO / ".cluster"))
    already_running = _script("status.sh").returncode == 0
    if not already_running:
        try:
            up = _script("up.sh", timeout=CLUSTER_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            _script("down.sh")
            _unavailable(f"hack/cluster/up.sh did not finish in {CLUSTER_START_TIMEOUT}s.")
        if up.returncode != 0:
            _unavailable(f"hack/cluster/up.sh failed:\n{_tail(up.stderr)}")
    return cluster_dir / "kubeconfig", cluster_dir / "bin", not already_running


def _crd_names(documents: list[dict[str, Any]]) -> list[str]:
    return [
        doc["metadata"]["name"]
        for doc in documents
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


def _install_crds(cluster: Cluster) -> None:
    """Apply every YAML file in crds/ and wait until its CRDs are served."""
    files = sorted(CRDS.glob("*.yaml")) + sorted(CRDS.glob("*.yml"))
    for path in files:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--filename={path}")
        names = _crd_names(list(yaml.safe_load_all(path.read_text())))
        if names:
            cluster.kubectl(
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                *(f"customresourcedefinition/{name}" for name in names),
            )


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The Kubernetes cluster for this test session, with the project's CRDs.

    A local cluster that was already running (``make cluster-up``) is used and
    left running; one that this fixture started is stopped at the end.
    """
    kind = request.config.getoption("--cluster") == "kind"
    if kind:
        kubeconfig, bin_dir, started = _kind_kubeconfig(request), None, False
    else:
        kubeconfig, local_bin, started = _start_local_cluster()
        bin_dir = local_bin

    # Subprocesses (kubectl, helm, the operator) find the same cluster and, for
    # the local one, the same tool versions.
    patch = pytest.MonkeyPatch()
    patch.setenv("KUBECONFIG", str(kubeconfig))
    if bin_dir is not None:
        patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    this = Cluster(kubeconfig=kubeconfig, api_client=api_client, bin_dir=bin_dir)
    try:
        _install_crds(this)
        yield this
    finally:
        api_client.close()
        patch.undo()
        if started:
            _script("down.sh")


def _kind_kubeconfig(request: pytest.FixtureRequest) -> Path:
    """Make (or reuse) a kind cluster through pytest-kind and return its kubeconfig."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("--cluster=kind needs Docker, and there is no docker command here.")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        pytest.skip(
            "--cluster=kind needs a Docker engine, and `docker info` failed: "
            f"{_tail(info.stderr, 3)}"
        )
    if importlib.util.find_spec("pytest_kind") is None:
        pytest.skip("--cluster=kind needs pytest-kind: pip install pytest-kind.")
    kind_cluster = request.getfixturevalue("kind_cluster")
    return Path(kind_cluster.kubeconfig_path).resolve()


def _namespace_name(test_name: str) -> str:
    # Namespace names are DNS labels: lowercase, at most 63 characters.
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    return f"t-{slug[:48].rstrip('-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted (in the background) afterwards."""
    core = client.CoreV1Api(cluster.api_client)
    name = _namespace_name(request.node.name)
    core.create_namespace(
        {"metadata": {"name": name, "labels": {"kubeless-fastapi.test/namespace": "true"}}}
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as error:
        if error.status != 404:
            raise

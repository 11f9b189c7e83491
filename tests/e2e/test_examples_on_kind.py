"""End to end on kind: real images, the Helm chart, every example called over HTTP.

Runs with ``make e2e`` (``pytest tests/e2e --cluster=kind``) where Docker and kind
are present; containers really run there, unlike on the local control plane.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSION = "0.1.0"
IMAGES = (f"kubeless-fastapi/runtime:{VERSION}", f"kubeless-fastapi/operator:{VERSION}")

# What each example answers, by the Function's name: (method, path, body, expected).
CALLS: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, Any]]] = {
    "greeting": ("GET", "/?name=kind", None, {"greeting": "hello kind", "request_id": None}),
    "word-count": ("POST", "/?top=1", {"text": "a b a"},
                   {"words": 3, "most_common": [["a", 2]]}),
}


@pytest.fixture(scope="module")
def kind_cluster(request: pytest.FixtureRequest, cluster: Any) -> Any:
    if request.config.getoption("--cluster") != "kind":
        pytest.skip("end-to-end tests run on kind: `make e2e` (needs Docker and kind).")
    return request.getfixturevalue("kind_cluster")


@pytest.fixture(scope="module")
def installed(kind_cluster: Any, cluster: Any) -> None:
    subprocess.run(["make", "images"], cwd=REPO, check=True)
    for image in IMAGES:
        kind_cluster.load_docker_image(image)
    helm = subprocess.run([str(REPO / "hack" / "cluster" / "build.sh")], capture_output=True,
                          text=True, check=True).stdout.strip() + "/helm"
    subprocess.run([helm, "upgrade", "--install", "kubeless-fastapi",
                    str(REPO / "charts" / "kubeless-fastapi"), "--namespace", "kubeless",
                    "--create-namespace", "--wait", "--timeout", "300s",
                    f"--kubeconfig={cluster.kubeconfig}"], check=True)


@pytest.mark.parametrize("manifest", sorted(REPO.glob("examples/*/function.yaml")),
                         ids=lambda path: path.parent.name)
def test_example_answers_through_its_service(kind_cluster, cluster, installed, namespace,
                                             manifest: Path):
    name = yaml.safe_load(manifest.read_text())["metadata"]["name"]
    method, path, body, expected = CALLS[name]

    cluster.kubectl("apply", "-n", namespace, "-f", str(manifest))
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", f"function/{name}",
                    "--timeout=300s")
    with kind_cluster.port_forward(f"service/{name}", 8080, "-n", namespace) as port:
        answer = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.json() == expected

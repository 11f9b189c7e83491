"""End to end on kind: real images, the Helm chart, every example called over HTTP.

Runs with ``make e2e`` (``pytest tests/e2e --cluster=kind``) where Docker and kind
are present; containers really run there, unlike on the local control plane.
"""

from __future__ import annotations

import shutil
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
def kind(request: pytest.FixtureRequest, cluster: Any) -> Any:
    # pytest-kind's own session fixture, the one `cluster` made its kubeconfig from;
    # asked for by name only after `cluster`, which skips when pytest-kind is missing.
    return request.getfixturevalue("kind_cluster")


@pytest.fixture(scope="module")
def installed(kind: Any, cluster: Any) -> None:
    subprocess.run(["make", "images"], cwd=REPO, check=True)
    for image in IMAGES:
        kind.load_docker_image(image)
    # A helm on PATH will do; otherwise the local control plane's build has one.
    helm = shutil.which("helm") or subprocess.run(
        [str(REPO / "hack" / "cluster" / "build.sh")], capture_output=True, text=True,
        check=True).stdout.strip() + "/helm"
    subprocess.run([helm, "upgrade", "--install", "kubeless-fastapi",
                    str(REPO / "charts" / "kubeless-fastapi"), "--namespace", "kubeless",
                    "--create-namespace", "--wait", "--timeout", "300s",
                    f"--kubeconfig={cluster.kubeconfig}"], check=True)


@pytest.mark.parametrize("manifest", sorted(REPO.glob("examples/*/function.yaml")),
                         ids=lambda path: path.parent.name)
def test_example_answers_through_its_service(kind: Any, cluster: Any, installed: None,
                                             namespace: str, manifest: Path) -> None:
    name = yaml.safe_load(manifest.read_text())["metadata"]["name"]
    method, path, body, expected = CALLS[name]

    cluster.kubectl("apply", "-n", namespace, "-f", str(manifest))
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", f"function/{name}",
                    "--timeout=300s")
    with kind.port_forward(f"service/{name}", 8080, "-n", namespace) as port:
        answer = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.json() == expected

"""The pod the operator describes really serves the function.

kwok's nodes run no containers, so this test plays the kubelet: it takes the
Deployment and ConfigMap the operator created, lays the ConfigMap's files out as
the volume mount would, runs the container's command with the container's
environment as a local process, and calls the function over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from function_helpers import Functions, wait_for
from tests.processes import free_port

pytestmark = pytest.mark.cluster


def lay_out_volumes(
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        config_map: Mapping[str, Any],
        root: Path,
) -> dict[str, Path]:
    """Local folders standing for the container's mounts, by mount path."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    folders: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        folder = root / mount["name"]
        folder.mkdir()
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            assert volume["configMap"]["name"] == config_map["metadata"]["name"]
            for key, text in config_map["data"].items():
                (folder / key).write_text(text)
        folders[mount["mountPath"]] = folder
    return folders


def container_environment(
        container: Mapping[str, Any],
        folders: Mapping[str, Path],
) -> dict[str, str]:
    """The container's env as a kubelet would set it, with mounts mapped to folders."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            value = entry["value"]
            env[entry["name"]] = str(folders.get(value, value))
        elif entry.get("valueFrom", {}).get("resourceFieldRef"):
            limits = container.get("resources", {}).get("limits", {})
            env[entry["name"]] = limits.get("memory", "0")
    # The runtime reads the module from /kubeless unless told otherwise; here the
    # "mount" is a local folder.
    env["FUNC_MODULE_DIR"] = str(folders["/kubeless"])
    return env


@pytest.fixture
def served(functions: Functions, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    port = free_port()
    functions.create("agree", timeout="12",
                     service={"ports": [{"port": 80, "targetPort": port}]})
    deployment = functions.wait_child("Deployment", "agree")
    config_map = functions.wait_child("ConfigMap", "agree")
    pod = deployment["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "agree"]

    folders = lay_out_volumes(pod, container, config_map, tmp_path)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        **container_environment(container, folders),
    }
    log = (tmp_path / "runtime.log").open("wb")
    process = subprocess.Popen(container["command"] + container.get("args", []), env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    probe = container["readinessProbe"]["httpGet"]
    try:
        wait_for(lambda: _ok(f"{base}{probe['path']}"), timeout=60,
                 what=lambda: "the runtime's readiness probe\n"
                 + (tmp_path / "runtime.log").read_text(errors="replace")[-3000:])
        yield base, container
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_operators_pod_spec_serves_the_function_with_the_runtime(
        served: tuple[str, dict[str, Any]]) -> None:
    base, container = served

    answer = httpx.get(f"{base}/", params={"name": "kube"}, headers={"request-id": "r-1"})
    liveness = httpx.get(f"{base}{container['livenessProbe']['httpGet']['path']}")
    spec = httpx.get(f"{base}/openapi.json").json()

    assert answer.status_code == 200
    assert answer.json() == {"greeting": "hello kube", "request_id": "r-1"}
    assert liveness.status_code == 200
    assert spec["info"]["title"] == "greeting"

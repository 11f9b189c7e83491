"""The runtime image's entry point, run here as the pod would run it.

No container engine is needed: the test reads the command and environment from
Dockerfile.runtime and starts exactly that command with the Kubeless variables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.runtime.broken import VALID
from tests.runtime.conftest import COMMAND, start_runtime

DOCKERFILE = Path(__file__).parents[2] / "Dockerfile.runtime"


def _instructions(keyword: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return re.findall(rf"^{keyword}\s+(.+)$", text, flags=re.MULTILINE)


def entrypoint() -> list[str]:
    argv = json.loads(_instructions("ENTRYPOINT")[-1])
    assert isinstance(argv, list)
    return argv


def test_image_is_multi_stage_pinned_and_runs_as_a_numeric_user():
    bases = _instructions("ARG PYTHON_IMAGE=") or _instructions("ARG")
    assert re.search(r"python:3\.12\.\d+-slim", " ".join(bases))
    assert len(_instructions("FROM")) >= 2
    assert re.fullmatch(r"\d+(:\d+)?", _instructions("USER")[-1].strip())
    assert "PYTHONUNBUFFERED=1" in " ".join(_instructions("ENV"))


@pytest.fixture
def pod_files(tmp_path: Path) -> tuple[Path, Path]:
    """A module folder and a dependency folder laid out as the operator's pods have them."""
    module_dir, deps_dir = tmp_path / "kubeless", tmp_path / "deps"
    module_dir.mkdir()
    (deps_dir / "fastapi").mkdir(parents=True)
    # A dependency that tries to replace FastAPI, and an ordinary one.
    (deps_dir / "fastapi" / "__init__.py").write_text("raise ImportError('replaced')\n")
    (deps_dir / "shouty.py").write_text("def shout(text):\n    return text.upper()\n")
    (module_dir / "echo.py").write_text(
        VALID.replace("from pydantic import BaseModel",
                      "from pydantic import BaseModel\nfrom shouty import shout")
             .replace("text=event.state.params.text", "text=shout(event.state.params.text)"))
    return module_dir, deps_dir


def test_entry_point_serves_the_module_named_by_the_kubeless_environment(
        tmp_path: Path, pod_files: tuple[Path, Path]):
    module_dir, deps_dir = pod_files
    argv = entrypoint()
    assert argv[0] == "kubeless-fastapi"

    runtime = start_runtime(
        [COMMAND, *argv[1:]], log_path=tmp_path / "pod.log",
        env={"MOD_NAME": "echo", "FUNC_HANDLER": "get_echo", "FUNC_TIMEOUT": "30",
             "FUNC_RUNTIME": "python-fastapi3.12", "FUNC_MODULE_DIR": str(module_dir),
             "KUBELESS_INSTALL_VOLUME": str(deps_dir)},
    )
    try:
        answer = runtime.client.get("/", params={"text": "hi"})
    finally:
        runtime.stop()

    # The function's dependency loaded, and FastAPI is still the runtime's own.
    assert answer.status_code == 200
    assert answer.json() == {"text": "HI"}
    assert "30 s time limit" in runtime.log()

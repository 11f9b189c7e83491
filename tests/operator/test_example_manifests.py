"""Every example module has a Function manifest, current and valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeless_operator import specs

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted(REPO.glob("examples/*/function.yaml"))


def test_manifests_match_their_modules() -> None:
    script = REPO / "hack" / "function_manifest.py"
    result = subprocess.run([sys.executable, str(script), "--check"],
                            capture_output=True, text=True, check=False)

    assert result.returncode == 0, f"run {script.name} to update:\n{result.stderr}"


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.parent.name for p in MANIFESTS])
def test_manifest_passes_every_check_the_operator_makes(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    body = {**manifest, "metadata": {**manifest["metadata"], "namespace": "n", "uid": "u"}}

    function = specs.read(body)

    assert (path.parent / f"{function.module}.py").read_text() == function.source

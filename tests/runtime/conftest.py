"""Real runtime processes for the tests: ``kubeless-fastapi serve`` on a free port."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, stop

FUNCTIONS = Path(__file__).parent / "functions"
EXAMPLES = Path(__file__).parents[2] / "examples"
COMMAND = shutil.which("kubeless-fastapi", path=str(Path(sys.executable).parent)) or (
    "kubeless-fastapi"
)
START_TIMEOUT = 20.0


@dataclasses.dataclass
class Runtime:
    """A running runtime process and an HTTP client pointed at it."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """The log once it contains ``text``: lines are written after the answer is sent."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return log

    def stop(self) -> int:
        return stop(self.process, timeout=15)


def start_runtime(
        argv: list[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
) -> Runtime:
    """Start the command and wait until /readyz answers (or the process exits)."""
    port = port or free_port()
    full_env = {**os.environ, "FUNC_PORT": str(port), **(env or {})}
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   text=True)
    runtime = Runtime(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the runtime exited with {process.returncode}:\n{runtime.log()}")
        try:
            if httpx.get(f"{runtime.url}/readyz", timeout=1).status_code == 200:
                return runtime
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    runtime.stop()
    raise RuntimeError(f"the runtime did not get ready in {START_TIMEOUT} s:\n{runtime.log()}")


ServeFunction = Callable[..., Runtime]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFunction]:
    """Start ``kubeless-fastapi serve FILE --handler NAME`` once per distinct setup."""
    running: dict[tuple[object, ...], Runtime] = {}

    def start(module: str | Path, handler: str, *args: str, **env: str) -> Runtime:
        path = module if isinstance(module, Path) else FUNCTIONS / f"{module}.py"
        key = (str(path), handler, args, tuple(sorted(env.items())))
        if key not in running or running[key].process.poll() is not None:
            log_path = tmp_path_factory.mktemp("runtime") / "runtime.log"
            argv = [COMMAND, "serve", str(path), "--handler", handler, *args]
            running[key] = start_runtime(argv, log_path=log_path, env=env)
        return running[key]

    yield start
    for runtime in running.values():
        runtime.stop()


def run_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``kubeless-fastapi ARGS`` to completion (for commands that should exit)."""
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})

"""A module that breaks the contract never serves: the process says why and exits 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.runtime.broken import CASES, VALID, Broken
from tests.runtime.conftest import run_command


@pytest.mark.parametrize("case", CASES)
def test_broken_module_exits_non_zero_with_its_message(tmp_path: Path, case: Broken):
    module = tmp_path / "echo.py"
    module.write_text(case.source)

    result = run_command("serve", str(module), "--handler", case.handler, "--port", "1")

    assert result.returncode == 1
    where = str(module) if case.line is None else f"{module}:{case.line}"
    assert f"{where}: " in result.stderr
    assert case.message in result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot be served" in result.stderr


def test_import_failure_names_the_line(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_text(VALID + "\nimport a_package_nobody_installed\n")

    result = run_command("serve", str(module), "--handler", "get_echo")

    assert result.returncode == 1
    assert (f"{module}:24: importing the module failed: ModuleNotFoundError: "
            f"No module named 'a_package_nobody_installed'") in result.stderr


def test_live_check_catches_a_base_model_the_source_cannot_show(tmp_path: Path):
    # The checker trusts a class named like pydantic's; the loader checks the object.
    module = tmp_path / "echo.py"
    module.write_text(VALID.replace("from pydantic import BaseModel",
                                    "from pydantic import BaseModel\nBaseModel = object"))

    result = run_command("serve", str(module), "--handler", "get_echo")

    assert result.returncode == 1
    assert "'GetResponse' must be a class that subclasses pydantic.BaseModel" in result.stderr


@pytest.mark.parametrize(("statement", "said"), [
    ("raise SystemExit(3)", "SystemExit: 3"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
])
def test_module_exiting_at_import_is_refused_not_obeyed(
        tmp_path: Path, statement: str, said: str):
    module = tmp_path / "echo.py"
    module.write_text(VALID + f"\n{statement}\n")

    result = run_command("serve", str(module), "--handler", "get_echo")

    assert result.returncode == 1
    assert f"{module}:24: importing the module failed: {said}\n" in result.stderr


def test_folder_instead_of_a_module_is_reported(tmp_path: Path):
    result = run_command("serve", str(tmp_path), "--handler", "get_echo")

    assert result.returncode == 1
    assert f"{tmp_path}: is a folder; pass the function's .py file." in result.stderr


def test_missing_file_is_reported(tmp_path: Path):
    result = run_command("serve", str(tmp_path / "nope.py"), "--handler", "get_echo")

    assert result.returncode == 1
    assert "nope.py: no such file; pass the function's .py file." in result.stderr


def test_missing_kubeless_environment_is_explained():
    result = run_command("serve", env={"MOD_NAME": "", "FUNC_HANDLER": ""})

    assert result.returncode == 2
    assert "MOD_NAME is not set" in result.stderr


def test_a_port_in_use_is_refused_in_one_line(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_text(VALID)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_command("serve", str(module), "--handler", "get_echo",
                             "--port", str(port))

    assert result.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}: address already in use; choose another " \
           "--port (or FUNC_PORT) or --host." in result.stderr
    assert "Traceback" not in result.stderr
    assert "Started server process" not in result.stderr


def test_function_file_named_like_a_standard_module_still_loads(tmp_path: Path, serve):
    module = tmp_path / "json.py"
    module.write_text(VALID)

    answer = serve(module, "get_echo").client.get("/", params={"text": "yo"})

    assert answer.json() == {"text": "yo"}

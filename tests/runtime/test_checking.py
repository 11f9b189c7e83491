"""The static checker: every broken rule is reported, with its line, without running code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeless_runtime import checking, loading
from kubeless_runtime.contract import ContractError
from tests.runtime.broken import CASES, VALID, Broken
from tests.runtime.conftest import EXAMPLES, FUNCTIONS, run_command


def test_valid_module_has_no_violations():
    assert checking.check_source(VALID, handler="get_echo") == []


@pytest.mark.parametrize("module", sorted([*FUNCTIONS.glob("*.py"), *EXAMPLES.glob("*/*.py")]),
                         ids=lambda path: path.stem)
def test_every_shipped_function_passes(module: Path):
    first_handler = re.search(r"^(?:async )?def ((?:get|post|put|delete|patch)_\w+)",
                              module.read_text(), flags=re.MULTILINE)
    assert first_handler is not None
    handler = first_handler.group(1)

    assert checking.check_file(module, handler=handler) == []


@pytest.mark.parametrize("case", CASES)
def test_broken_module_is_reported_with_its_line(case: Broken):
    violations = checking.check_source(case.source, handler=case.handler, filename="echo.py")

    assert len(violations) >= 1
    found = [v for v in violations if case.message in v.message]
    assert found, [v.message for v in violations]
    assert found[0].line == case.line
    assert found[0].format("echo.py").startswith(
        "echo.py: " if case.line is None else f"echo.py:{case.line}: ")


def test_checker_never_runs_the_module(tmp_path: Path):
    marker = tmp_path / "ran"
    source = VALID + f"\nopen({str(marker)!r}, 'w').close()\n"

    assert checking.check_source(source, handler="get_echo") == []
    assert not marker.exists()


def test_every_problem_is_reported_at_once():
    source = VALID.replace('FUNCTION_NAME = "echo"\n', "").replace("(BaseModel)", "")

    messages = [v.message for v in checking.check_source(source, handler="get_echo")]

    assert len(messages) == 2
    assert "FUNCTION_NAME is missing" in messages[0]
    assert "subclasses pydantic.BaseModel" in messages[1]


def test_models_may_inherit_from_a_model_of_the_module():
    source = VALID.replace("class GetResponse(BaseModel):\n    text: str",
                           "class Base(BaseModel):\n    text: str\n\n\n"
                           "class GetResponse(Base):\n    pass")

    assert checking.check_source(source, handler="get_echo") == []


def test_missing_request_model_is_not_blamed_on_the_response_model():
    source = VALID.replace("class GetResponse(BaseModel):\n    text: str",
                           "class PostResponse(BaseModel):\n    text: str")

    messages = [v.message for v in checking.check_source(source, handler="post_echo_x")]

    assert any("need a pydantic model named 'PostRequest'" in m and "rename" not in m
               for m in messages)


def test_module_with_a_byte_order_mark_is_read_as_python_reads_it(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_text(VALID, encoding="utf-8-sig")

    assert checking.check_file(module, handler="get_echo") == []


def test_module_that_is_not_utf8_is_reported_with_its_line(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_bytes(VALID.replace("Echoes", "Echoes caf\u00e9").encode("latin-1"))

    [violation] = checking.check_file(module, handler="get_echo")

    assert violation.line == 8
    assert violation.message.startswith("the module is not valid UTF-8: invalid")


def test_keyword_only_params_may_mix_defaults():
    source = VALID.replace("@dataclass\n", "@dataclass(kw_only=True)\n").replace(
        'text: str = Query("hi")', 'text: str = Query("hi")\n    n: int')

    assert checking.check_source(source, handler="get_echo") == []


def test_route_and_path_parameters_must_agree():
    source = VALID.replace('FUNCTION_NAME = "echo"',
                           'FUNCTION_NAME = "echo"\nFUNCTION_PATH = "/{item}"')

    messages = [v.message for v in checking.check_source(source, handler="get_echo")]

    assert messages == ["the route '/{item}' has {item} but Params has no field 'item' "
                        "defaulting to Path()."]


def test_check_command_exits_1_with_one_line_per_problem(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_text(VALID.replace('FUNCTION_NAME = "echo"\n', "").replace("(BaseModel)", ""))

    result = run_command("check", str(module), "--handler", "get_echo")

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f"{module}:11: 'GetResponse' must be a class")


def test_check_command_accepts_a_valid_module(tmp_path: Path):
    module = tmp_path / "echo.py"
    module.write_text(VALID)

    result = run_command("check", str(module), "--handler", "get_echo")

    assert result.returncode == 0
    assert "follows the function contract" in result.stdout


def test_a_module_that_cannot_be_read_is_one_problem_not_a_traceback(tmp_path: Path):
    # A folder stands for any file the system refuses to read.
    [violation] = checking.check_file(tmp_path, handler="get_echo")

    assert violation.message == "the module cannot be read: Is a directory."


def test_check_command_on_something_that_is_not_a_file_says_so():
    result = run_command("check", "/dev/null", "--handler", "get_echo")

    assert result.returncode == 2
    assert "/dev/null: not a regular file; pass the path" in result.stderr


# Modules that rebind names the contract reads, or bind them where only running the
# module could tell: (source, what the checker must say, or None to accept it).
REBINDINGS = {
    "BaseModel rebound before the model": (
        VALID.replace("from pydantic import BaseModel",
                      "from pydantic import BaseModel\nBaseModel = object"),
        "'GetResponse' must be a class that subclasses pydantic.BaseModel"),
    "BaseModel rebound after the model": (VALID + "\nBaseModel = object\n", None),
    "handler rebound after its def": (
        VALID + "\nget_echo = None\n", "handler 'get_echo' must be a function"),
    "Query aliased to Body": (
        VALID.replace("from fastapi import Query",
                      "from fastapi import Body, Query\nQuery = Body"),
        "Params.text defaults to Body()"),
    "model defined inside an if": (
        VALID.replace("class GetResponse(BaseModel):\n    text: str",
                      "if True:\n    class GetResponse(BaseModel):\n        text: str"),
        "'GetResponse' is bound inside a block"),
    "constant set by unpacking": (
        VALID.replace('FUNCTION_NAME = "echo"', 'FUNCTION_NAME, _ = "echo", 1'),
        "'FUNCTION_NAME' is bound inside a block"),
    "a comprehension's own variable": (
        VALID + "\nSIZES = [Params for Params in range(3)]\n", None),
    "handler rebound by := in a comprehension": (
        VALID + "\nSIZES = [(get_echo := size) for size in range(3)]\n",
        "'get_echo' is bound inside a block"),
    "Params rebound by := in a default": (
        VALID + "\ndef later(x=(Params := 1)):\n    return x\n",
        "'Params' is bound inside a block"),
    "handler rebound by := in a base class": (
        VALID + "\nclass Later(get_echo := object):\n    pass\n",
        "'get_echo' is bound inside a block"),
    "a := inside a lambda": (VALID + "\nLATER = lambda: (Params := 1)\n", None),
    "Annotated through an alias": (
        VALID.replace("from fastapi import Query",
                      "from typing import Annotated\n\nfrom fastapi import Query\n\n"
                      "Text = Annotated[str, Query()]")
        .replace('text: str = Query("hi")', 'text: Text = "hi"'),
        "Params.text is typed with Annotated[...]"),
    "Annotated in quotes": (
        VALID.replace("from dataclasses", "import typing\nfrom dataclasses")
        .replace('text: str = Query("hi")', 'text: "typing.Annotated[str, Query()]" = "hi"'),
        "Params.text is typed with Annotated[...]"),
    "an unknown coding declaration": (
        "# -*- coding: bogus -*-\n" + VALID, "unknown encoding: bogus"),
    "a utf-8 coding declaration": ("# -*- coding: utf-8 -*-\n" + VALID, None),
    "optional import in a try": (
        VALID + "\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n", None),
    "imports only for type checkers": (
        VALID.replace("from pydantic import BaseModel",
                      "from typing import TYPE_CHECKING\n\nfrom pydantic import BaseModel\n\n"
                      "if TYPE_CHECKING:\n    from pydantic import BaseModel as Model"),
        None),
}


@pytest.mark.parametrize(("source", "said"), REBINDINGS.values(), ids=REBINDINGS.keys())
def test_checker_accepts_only_what_the_loader_accepts(
        tmp_path: Path, source: str, said: str | None):
    module = tmp_path / "echo.py"
    module.write_text(source)

    messages = [v.message for v in checking.check_source(source, handler="get_echo")]

    if said is not None:
        assert any(said in message for message in messages), messages
        return
    assert messages == []
    try:
        loading.load(module, handler="get_echo")  # imports and inspects the real objects
    except ContractError as error:
        pytest.fail(f"the checker accepted what the loader refuses: {error}")


@pytest.mark.parametrize("handler", ["", "get greeting", "class"])
def test_check_command_refuses_a_handler_that_is_not_a_name(handler: str):
    result = run_command("check", str(EXAMPLES / "01-greeting" / "greeting.py"),
                         "--handler", handler)

    assert result.returncode == 2
    assert result.stderr == (f"kubeless-fastapi: the handler is {handler!r}, which is not a "
                             "Python function name; pass the handler's name, such as "
                             "'get_greeting'.\n")

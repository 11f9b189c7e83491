"""Function modules that break the contract, one way each, with what must be said."""

from __future__ import annotations

import dataclasses

import pytest

VALID = '''\
from dataclasses import dataclass

from fastapi import Query
from pydantic import BaseModel

FUNCTION_NAME = "echo"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Echoes"
FUNCTION_RESPONSE_DESC = "The echo"


class GetResponse(BaseModel):
    text: str


@dataclass
class Params:
    text: str = Query("hi")


def get_echo(event, context):
    return GetResponse(text=event.state.params.text)
'''


@dataclasses.dataclass(frozen=True)
class Broken:
    source: str
    message: str
    line: int | None
    handler: str = "get_echo"


def _edit(old: str, new: str) -> str:
    if old not in VALID:
        raise ValueError(f"the case edits {old!r}, which the valid module lacks")
    return VALID.replace(old, new)


CASES = [
    pytest.param(Broken(_edit('FUNCTION_SUMMARY = "Echoes"\n', ""),
                        "FUNCTION_SUMMARY is missing", None), id="missing-constant"),
    pytest.param(Broken(_edit('FUNCTION_VERSION = "1.0.0"', "FUNCTION_VERSION = 1.0"),
                        "FUNCTION_VERSION must be a string literal, not float 1.0", 7),
                 id="constant-not-a-string"),
    pytest.param(Broken(_edit("class GetResponse(BaseModel)", "class Answer(BaseModel)"),
                        "GET handlers need a pydantic model named 'GetResponse'", None),
                 id="missing-model"),
    pytest.param(Broken(_edit("class GetResponse(BaseModel)", "class GetResponses(BaseModel)"),
                        "rename 'GetResponses' to 'GetResponse'", None),
                 id="wrongly-named-model"),
    pytest.param(Broken(_edit("class GetResponse(BaseModel)", "class GetResponse"),
                        "'GetResponse' must be a class that subclasses pydantic.BaseModel", 12),
                 id="model-not-a-basemodel"),
    pytest.param(Broken(_edit("@dataclass\nclass Params", "class Params"),
                        "'Params' must be decorated with @dataclass", 16),
                 id="params-not-a-dataclass"),
    pytest.param(Broken(_edit("@dataclass\nclass Params:\n    text: str = Query(\"hi\")\n", ""),
                        "a @dataclass named 'Params' is required", None),
                 id="missing-params"),
    pytest.param(Broken(_edit("def get_echo", "def echo"),
                        "handler 'echo' must start with its HTTP method", 21, handler="echo"),
                 id="handler-without-method-prefix"),
    pytest.param(Broken(_edit("def get_echo(event, context):\n"
                              "    return GetResponse(text=event.state.params.text)",
                              "class get_echo:\n    pass"),
                        "handler 'get_echo' must be a function", 21),
                 id="handler-a-class"),
    pytest.param(Broken(VALID, "handler 'get_other' is not defined in the module; "
                               "module-level functions: get_echo", None, handler="get_other"),
                 id="handler-not-found"),
    pytest.param(Broken(_edit("def get_echo(event, context):", "def get_echo(event):"),
                        "must accept two positional parameters, (event, context)", 21),
                 id="handler-with-one-parameter"),
    pytest.param(Broken(_edit("return GetResponse(", "return GetResponse(("),
                        "the module does not parse", 22), id="syntax-error"),
    pytest.param(Broken(_edit("    return GetResponse(", "    yield GetResponse("),
                        "handler 'get_echo' yields, which makes it a generator", 22),
                 id="handler-a-generator"),
    pytest.param(Broken(_edit('text: str = Query("hi")',
                              'text: typing.Annotated[str, Query(min_length=1)] = "hi"'
                              ).replace("from dataclasses", "import typing\nfrom dataclasses", 1),
                        "Params.text is typed with Annotated[...]", 19),
                 id="params-field-annotated"),
    pytest.param(Broken(_edit("def get_echo(event, context):", "return None\n\n\n"
                                                               "def get_echo(event, context):"),
                        "the module does not parse: 'return' outside function", 21),
                 id="compile-error"),
    pytest.param(Broken(VALID + "\nTOTAL = " + "1 + " * 200_000 + "1\n",
                        "the module is nested too deeply", None),
                 id="nested-too-deeply"),
    pytest.param(Broken(_edit('text: str = Query("hi")', 'text: str = Query("hi")\n    n: int'),
                        "Params.n has no default but follows a field that has one", 19),
                 id="params-field-without-default-after-one-with"),
    pytest.param(Broken(_edit('text: str = Query("hi")', "text: dict | None = Query(None)"),
                        "Params.text is typed dict | None, which cannot be read", 18),
                 id="params-field-typed-dict"),
    pytest.param(Broken(_edit('FUNCTION_NAME = "echo"', 'FUNCTION_NAME = "echo"\n'
                                                        'FUNCTION_PATH = "/metrics"'),
                        "FUNCTION_PATH '/metrics' is a route of the runtime's own", 7),
                 id="function-path-reserved"),
    pytest.param(Broken(_edit('FUNCTION_NAME = "echo"', 'FUNCTION_NAME = "echo"\n'
                                                        'FUNCTION_PATH = "/{1bad}"'),
                        "has the placeholder {1bad}, which is not a Python name", 7),
                 id="function-path-placeholder-not-a-name"),
    pytest.param(Broken(_edit('FUNCTION_NAME = "echo"', 'FUNCTION_NAME = "echo"\n'
                                                        'FUNCTION_PATH = "/{class}"'),
                        "has the placeholder {class}, which is not a Python name", 7),
                 id="function-path-placeholder-a-keyword"),
    pytest.param(Broken(_edit('FUNCTION_NAME = "echo"', 'FUNCTION_NAME = "echo"\n'
                                                        'FUNCTION_PATH = "/?q=1"'),
                        "FUNCTION_PATH '/?q=1' holds a query or a fragment", 7),
                 id="function-path-with-a-query"),
    pytest.param(Broken(_edit('text: str = Query("hi")', "text: str = Body()").replace(
        "from fastapi import Query", "from fastapi import Body, Query"),
        "Params.text defaults to Body()", 18), id="params-field-as-body"),
]

"""Load a function module and hold what the app needs from it.

Loading runs the static checker first, so a module that breaks the contract is
refused with the same line-numbered sentences the operator shows, before any of
its code runs. Only then is it imported and its objects checked for what the
source alone cannot prove (that a base class really is pydantic's, say).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import params as fastapi_params
from pydantic import BaseModel

from kubeless_runtime import checking, contract
from kubeless_runtime.contract import ContractError, Violation

# Params field defaults that would make a body or a dependency, not a parameter.
_REFUSED_MARKERS = (fastapi_params.Body, fastapi_params.Depends)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Function:
    """A loaded function module: its metadata, handler, models and Params."""

    name: str
    version: str
    summary: str
    response_description: str
    path: str
    handler_name: str
    handler: Callable[..., Any]
    is_async: bool
    rules: contract.MethodRules
    request_model: type[BaseModel] | None
    response_model: type[BaseModel]
    params: type[Any]
    filename: str


def load(module_path: Path, *, handler: str, install_volume: Path | None = None) -> Function:
    """Check, import and inspect a function module; raise ContractError if it is unfit."""
    filename = str(module_path)
    if not module_path.is_file():
        problem = "is a folder" if module_path.is_dir() else "no such file"
        raise ContractError(filename, [Violation(f"{problem}; pass the function's .py file.")])

    violations = checking.check_file(module_path, handler=handler)
    if violations:
        raise ContractError(filename, violations)

    # Appended, never prepended: the function's own dependencies may add packages
    # but must not replace the runtime's FastAPI, Starlette, pydantic or uvicorn.
    for directory in (module_path.parent, install_volume):
        if directory is not None and str(directory) not in sys.path:
            sys.path.append(str(directory))

    module = _import(module_path)
    return _inspect(module, handler=handler, filename=filename)


def _import(module_path: Path) -> ModuleType:
    # A private module name, so that a function file called test.py or json.py
    # cannot take the place of a standard module of the same name.
    name = f"kubeless_function_{module_path.stem}"
    spec = importlib.util.spec_from_file_location(name, module_path)
    if spec is None or spec.loader is None:
        raise ContractError(str(module_path), [Violation("cannot be imported as a module.")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:
        # Whatever the module raises, sys.exit() and KeyboardInterrupt included, is
        # reported like any import failure, never a silent or bare exit.
        del sys.modules[name]
        line = _line_in(module_path, error)
        raised = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        message = f"importing the module failed: {raised}"
        raise ContractError(str(module_path), [Violation(message, line)]) from error
    return module


def _line_in(module_path: Path, error: BaseException) -> int | None:
    """The innermost line of the module's own code in the error's traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    target = module_path.resolve()
    lines = [frame.lineno for frame in frames if Path(frame.filename).resolve() == target]
    return lines[-1] if lines else None


def _inspect(module: ModuleType, *, handler: str, filename: str) -> Function:
    # The checker has vouched for names and shapes; what remains is what only
    # the live objects can show.
    rules = contract.rules_for_handler(handler)
    assert rules is not None  # narrowing: the checker refuses unprefixed handlers
    violations: list[Violation] = []

    function = getattr(module, handler)
    if not callable(function):
        violations.append(Violation(contract.handler_not_a_function(handler), _line_of(function)))

    models: dict[str, type[BaseModel]] = {}
    for name in rules.model_names:
        model = getattr(module, name)
        if isinstance(model, type) and issubclass(model, BaseModel):
            models[name] = model
        else:
            violations.append(Violation(contract.model_not_base_model(name), _line_of(model)))

    params = getattr(module, contract.PARAMS_CLASS)
    violations += _check_params(params)

    constants = {name: getattr(module, name) for name in contract.METADATA_CONSTANTS}
    for name, value in constants.items():
        if not isinstance(value, str):
            violations.append(Violation(contract.constant_not_string(name, repr(value))))
    path = getattr(module, contract.PATH_CONSTANT, contract.DEFAULT_PATH)

    if violations:
        raise ContractError(filename, violations)
    return Function(
        name=constants["FUNCTION_NAME"],
        version=constants["FUNCTION_VERSION"],
        summary=constants["FUNCTION_SUMMARY"],
        response_description=constants["FUNCTION_RESPONSE_DESC"],
        path=path,
        handler_name=handler,
        handler=function,
        is_async=inspect.iscoroutinefunction(function),
        rules=rules,
        request_model=models.get(rules.request_model or ""),
        response_model=models[rules.response_model],
        params=params,
        filename=filename,
    )


def _check_params(params: Any) -> list[Violation]:
    if not (isinstance(params, type) and dataclasses.is_dataclass(params)):
        return [Violation(contract.params_not_dataclass(), _line_of(params))]
    violations = []
    for field in dataclasses.fields(params):
        if isinstance(field.default, _REFUSED_MARKERS):
            kind = type(field.default).__name__
            message = contract.params_field_refused(field.name, kind)
            violations.append(Violation(message, _line_of(params)))
    return violations


def _line_of(obj: Any) -> int | None:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return None

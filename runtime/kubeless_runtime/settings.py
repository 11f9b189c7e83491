"""The runtime's settings, read from the Kubeless environment and the command line.

A pod names its function through the variables Kubeless set (``MOD_NAME``,
``FUNC_HANDLER``, ...); a person passes a file path and options. Both end up as
one :class:`Settings`, so both paths build the very same app.
"""

from __future__ import annotations

import dataclasses
import keyword
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

DEFAULT_MODULE_DIR = Path("/kubeless")
DEFAULT_TIMEOUT = 180.0
DEFAULT_PORT = 8080
# Large enough for sizeable JSON documents, small enough that one request cannot
# take a pod's memory: a 10 MiB body costs a few times that once parsed.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Sync handlers run on this many threads; it bounds both concurrency and the
# number of threads that handlers stuck past their time limit can hold.
DEFAULT_WORKER_THREADS = 40

LogFormat = Literal["text", "json"]
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting that is missing or malformed; the message names it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    module_path: Path
    """The function's ``.py`` file."""
    handler: str
    """The handler's name inside the module."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    timeout: float = DEFAULT_TIMEOUT
    """Seconds a call may take before it is answered with 408."""
    runtime: str = ""
    """The runtime's name, e.g. ``python-fastapi3.12``, passed to handlers."""
    memory_limit: str = ""
    """The container's memory limit, passed to handlers."""
    install_volume: Path = DEFAULT_MODULE_DIR
    """Where the function's own dependencies were installed."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    worker_threads: int = DEFAULT_WORKER_THREADS
    log_format: LogFormat = "text"
    log_level: str = "INFO"

    @property
    def module_name(self) -> str:
        return self.module_path.stem


def handler_name_problem(handler: str) -> str | None:
    """Why ``handler`` cannot name a handler function, or None when it can."""
    if "." in handler:
        module, _, function = handler.rpartition(".")
        return (
            f"the handler is {handler!r}, but it names the function alone, such as "
            f"{function!r}; the Kubeless form {handler!r} belongs in a Function's "
            f"spec.handler, where {module!r} is the module."
        )
    if not handler.isidentifier() or keyword.iskeyword(handler):
        shown = handler if len(handler) <= 60 else f"{handler[:57]}..."
        return (f"the handler is {shown!r}, which is not a Python function name; pass "
                f"the handler's name, such as 'get_greeting'.")
    return None


def from_environment(
        *,
        module_path: Path | None = None,
        handler: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Settings from explicit values first, then the Kubeless environment."""
    if module_path is None:
        module_name = _required(environ, "MOD_NAME", "the function's module")
        if module_name.endswith(".py"):
            raise SettingsError(f"MOD_NAME is the module's name without .py, such as "
                                f"{module_name.removesuffix('.py')!r}, not {module_name!r}.")
        module_dir = Path(environ.get("FUNC_MODULE_DIR") or DEFAULT_MODULE_DIR)
        module_path = module_dir / f"{module_name}.py"
    if handler is None:
        handler = _required(environ, "FUNC_HANDLER", "the handler function")
    problem = handler_name_problem(handler)
    if problem is not None:
        raise SettingsError(problem)

    settings = Settings(
        module_path=module_path,
        handler=handler,
        host=host,
        port=port if port is not None else _integer(environ, "FUNC_PORT", DEFAULT_PORT),
        timeout=timeout if timeout is not None else _seconds(environ, "FUNC_TIMEOUT"),
        runtime=environ.get("FUNC_RUNTIME", ""),
        memory_limit=environ.get("FUNC_MEMORY_LIMIT", ""),
        install_volume=Path(environ.get("KUBELESS_INSTALL_VOLUME") or DEFAULT_MODULE_DIR),
        max_body_bytes=_integer(environ, "FUNC_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        worker_threads=_integer(environ, "FUNC_WORKER_THREADS", DEFAULT_WORKER_THREADS),
        log_format=_log_format(environ),
        log_level=_log_level(environ),
    )
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if not 0 < settings.port < 65536:
        raise SettingsError(f"the port must be between 1 and 65535, not {settings.port}.")
    if not math.isfinite(settings.timeout) or settings.timeout <= 0:
        raise SettingsError(
            f"the time limit must be a positive number of seconds, not {settings.timeout}."
        )
    if settings.worker_threads < 1:
        raise SettingsError("FUNC_WORKER_THREADS must be at least 1.")
    if settings.max_body_bytes < 1:
        raise SettingsError("FUNC_MAX_BODY_BYTES must be at least 1 byte.")


def _required(environ: Mapping[str, str], name: str, meaning: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(
            f"{name} is not set; it names {meaning}. Set it, or pass the module's path "
            f"and --handler: 'kubeless-fastapi serve greeting.py --handler get_greeting'."
        )
    return value


def _integer(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}.") from None


def _seconds(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a number of seconds such as '180', not {raw!r}."
        ) from None


def _log_level(environ: Mapping[str, str]) -> str:
    raw = environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in _LOG_LEVELS:
        accepted = ", ".join(_LOG_LEVELS)
        raise SettingsError(f"LOG_LEVEL must be one of {accepted}, not {raw!r}.")
    return raw


def _log_format(environ: Mapping[str, str]) -> LogFormat:
    raw = environ.get("LOG_FORMAT", "text").strip().lower()
    if raw == "json":
        return "json"
    if raw in {"text", ""}:
        return "text"
    raise SettingsError(f"LOG_FORMAT must be 'text' or 'json', not {raw!r}.")

"""The runtime table: which image runs a Function's ``spec.runtime``.

Kubeless kept this table in a ConfigMap; here it is the operator's configuration,
a YAML file passed with ``--runtimes``, so a cluster can pin its own images.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RUNTIME = "python-fastapi3.12"
DEFAULT_IMAGE = "kubeless-fastapi/runtime:0.1.0"
"""The image built from ``Dockerfile.runtime``; the one place its name is written."""


class RuntimeTableError(ValueError):
    """A runtime table file that cannot be used, with the reason."""


@dataclasses.dataclass(frozen=True)
class Runtime:
    name: str
    image: str
    image_pull_policy: str = "IfNotPresent"


@dataclasses.dataclass(frozen=True)
class RuntimeTable:
    runtimes: Mapping[str, Runtime]

    def resolve(self, name: str) -> Runtime | None:
        return self.runtimes.get(name)

    def describe_unknown(self, name: str) -> str:
        known = ", ".join(sorted(self.runtimes)) or "none"
        return (
            f"runtime {name!r} is not in the operator's runtime table; "
            f"known runtimes: {known}."
        )


# Kubeless's runtime names (python3.7, nodejs12) and this project's (python-fastapi3.12).
RUNTIME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ENTRY_KEYS = frozenset({"image", "imagePullPolicy"})


def default_table() -> RuntimeTable:
    return RuntimeTable({DEFAULT_RUNTIME: Runtime(DEFAULT_RUNTIME, DEFAULT_IMAGE)})


def load_table(path: Path) -> RuntimeTable:
    """Read a table such as ``{python-fastapi3.12: {image: registry/runtime:1.0}}``.

    A value may also be the image alone (``python-fastapi3.12: registry/runtime:1.0``).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise RuntimeTableError(
            f"cannot read the runtime table {str(path)!r}: {reason}.") from error
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RuntimeTableError(
            f"the runtime table {str(path)!r} is not valid YAML: {_describe(error)}; "
            f"write it as '{DEFAULT_RUNTIME}: {{image: {DEFAULT_IMAGE}}}'.") from error
    if not isinstance(raw, dict) or not raw:
        raise RuntimeTableError(
            f"the runtime table {str(path)!r} must map runtime names to images, "
            f"e.g. '{DEFAULT_RUNTIME}: {{image: {DEFAULT_IMAGE}}}'."
        )
    return RuntimeTable({str(name): _read_entry(str(name), value) for name, value in raw.items()})


def _describe(error: yaml.YAMLError) -> str:
    # PyYAML's own text spans several lines and quotes the file; one line is enough.
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())


def _read_entry(name: str, value: Any) -> Runtime:
    if not RUNTIME_NAME.fullmatch(name):
        raise RuntimeTableError(
            f"runtime name {name!r} cannot be written in a Function's spec.runtime as a "
            "plain word: use letters, digits, '.', '_' and '-', such as "
            f"{DEFAULT_RUNTIME!r}.")
    if isinstance(value, str) and value:
        return Runtime(name, value)
    if isinstance(value, dict) and set(value) - ENTRY_KEYS:
        unknown = ", ".join(sorted(map(str, set(value) - ENTRY_KEYS)))
        raise RuntimeTableError(
            f"runtime {name!r} has {unknown}, which the table does not know; an entry has "
            f"{' and '.join(sorted(ENTRY_KEYS))}.")
    if isinstance(value, dict) and isinstance(value.get("image"), str) and value["image"]:
        policy = value.get("imagePullPolicy", "IfNotPresent")
        if policy not in {"Always", "IfNotPresent", "Never"}:
            raise RuntimeTableError(
                f"runtime {name!r} has imagePullPolicy {policy!r}; "
                "accepted: Always, IfNotPresent, Never."
            )
        return Runtime(name, value["image"], policy)
    raise RuntimeTableError(
        f"runtime {name!r} must name an image, as a string or as {{image: ...}}, not {value!r}."
    )

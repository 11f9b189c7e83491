"""Reading a Function: the raw manifest shapes, and the checks that need no cluster.

Everything a user can get wrong in ``spec`` is found here, before any child object
is built, and reported as sentences that name the field, the value and what is
accepted. The function's source is only parsed (by the runtime's static checker),
never executed.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import re
from collections.abc import Mapping
from typing import Any, TypedDict, cast

from kubeless_operator import shapes
from kubeless_runtime import checking

# Kubeless spells one field with a hyphen, so this shape needs the functional syntax.
RawFunctionSpec = TypedDict(
    "RawFunctionSpec",
    {
        "function": str,
        "function-content-type": str,
        "handler": str,
        "runtime": str,
        "deps": str,
        "checksum": str,
        "timeout": str,
        "deployment": dict[str, Any],
        "service": dict[str, Any],
        "horizontalPodAutoscaler": dict[str, Any],
    },
    total=False,
)


class RawCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class RawFunctionStatus(TypedDict, total=False):
    observedGeneration: int
    conditions: list[RawCondition]
    replicas: int
    readyReplicas: int
    url: str


CONTENT_TYPES = ("text", "base64")
DEFAULT_TIMEOUT = "180"
# A call longer than a day is a job, not a function; the bound also keeps the
# pod's termination grace period (the limit plus a margin) finite.
MAX_TIMEOUT = 86400
HANDLER_PATTERN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
TIMEOUT_PATTERN = re.compile(r"^[0-9]+$")
CHECKSUM_PATTERN = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAME_LIMIT = 63


class InvalidFunctionError(Exception):
    """A Function whose spec or source cannot be deployed, with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclasses.dataclass(frozen=True)
class Function:
    """A Function whose spec passed every check: what the builders need, decoded."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str]
    module: str
    handler: str
    source: str
    deps: str
    timeout: str
    runtime: str
    deployment: Mapping[str, Any]
    service: Mapping[str, Any]
    autoscaler: Mapping[str, Any] | None

    @property
    def filename(self) -> str:
        return f"{self.module}.py"


def read(body: Mapping[str, Any]) -> Function:
    """The checked Function of a raw body, or :class:`InvalidFunctionError` with the reasons."""
    meta = body.get("metadata", {})
    spec = cast(RawFunctionSpec, body.get("spec") or {})

    problems: list[str] = []
    _check_name(meta.get("name", ""), problems)
    handler = _read_handler(spec, problems)
    timeout = _read_timeout(spec, problems)
    source = _read_source(spec, problems)
    if source is not None and handler is not None:
        module, function_name = handler
        problems += check_source(source, handler=function_name, filename=f"{module}.py")
    problems += _shape_problems(spec)
    if problems or handler is None or source is None or timeout is None:
        raise InvalidFunctionError(problems)

    return Function(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta["uid"],
        labels=meta.get("labels") or {},
        module=handler[0],
        handler=handler[1],
        source=source,
        deps=spec.get("deps") or "",
        timeout=timeout,
        runtime=spec.get("runtime", ""),
        deployment=spec.get("deployment") or {},
        service=spec.get("service") or {},
        autoscaler=_read_autoscaler(spec),
    )


@functools.lru_cache(maxsize=512)
def check_source(source: str, *, handler: str, filename: str) -> tuple[str, ...]:
    """The contract violations of a source, as ``file:line: message`` sentences.

    Cached because every reconcile of an unchanged Function checks the same text.
    """
    violations = checking.check_source(source, handler=handler, filename=filename)
    return tuple(violation.format(filename) for violation in violations)


def _check_name(name: str, problems: list[str]) -> None:
    # The CRD refuses such names at creation; a Function made before that rule
    # still reaches here, and must fail before any child is named after it.
    if len(name) <= NAME_LIMIT and NAME_PATTERN.match(name):
        return
    problems.append(
        f"metadata.name is {name!r}; a Function's name also names its Service, so it "
        f"must be a DNS-1035 label: at most {NAME_LIMIT} lowercase letters, digits and "
        "'-', starting with a letter and ending with a letter or digit, such as "
        "'get-greeting'. Recreate the Function under such a name."
    )


def _read_handler(spec: RawFunctionSpec, problems: list[str]) -> tuple[str, str] | None:
    raw = spec.get("handler", "")
    match = HANDLER_PATTERN.match(raw)
    if match is None:
        problems.append(
            f"spec.handler is {raw!r}; it must be 'module.function', "
            "such as 'greeting.get_greeting' for get_greeting in greeting.py."
        )
        return None
    return match.group(1), match.group(2)


def _read_timeout(spec: RawFunctionSpec, problems: list[str]) -> str | None:
    raw = spec.get("timeout") or DEFAULT_TIMEOUT
    # The length goes first: int() refuses strings of thousands of digits.
    is_number = (isinstance(raw, str) and len(raw) <= len(str(MAX_TIMEOUT)) + 2
                 and TIMEOUT_PATTERN.match(raw) is not None)
    if not is_number or not 0 < int(raw) <= MAX_TIMEOUT:
        problems.append(
            f"spec.timeout is {shapes.show(raw)}; it must be a whole number of seconds above zero "
            f"and at most {MAX_TIMEOUT} (a day), as a string such as {DEFAULT_TIMEOUT!r}."
        )
        return None
    return str(int(raw))


def _read_source(spec: RawFunctionSpec, problems: list[str]) -> str | None:
    content_type = spec.get("function-content-type") or "text"
    if content_type not in CONTENT_TYPES:
        problems.append(
            f"spec.function-content-type is {content_type!r}; this operator accepts "
            f"{' or '.join(repr(t) for t in CONTENT_TYPES)} (the source inline, "
            "plain or base64-encoded), and fetches nothing from URLs or archives."
        )
        return None

    raw = spec.get("function") or ""
    content = _decode(raw, content_type, problems)
    if content is None:
        return None
    if not content.strip():
        problems.append("spec.function is empty; put the module's Python source there.")
        return None
    if not _checksum_matches(spec.get("checksum"), content, problems):
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(
            f"spec.function is not UTF-8 text: {error.reason} at byte {error.start}."
        )
        return None


def _decode(raw: str, content_type: str, problems: list[str]) -> bytes | None:
    if content_type == "text":
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as error:
        problems.append(
            f"spec.function is declared base64 but does not decode: {error}; "
            "encode the file with 'base64 -w0' or use function-content-type 'text'."
        )
        return None


def _checksum_matches(raw: str | None, content: bytes, problems: list[str]) -> bool:
    # Kubeless sums the decoded file, so a manifest made by its CLI verifies here too.
    if not raw:
        return True
    match = CHECKSUM_PATTERN.match(raw)
    if match is None:
        problems.append(
            f"spec.checksum is {raw!r}; it must be 'sha256:' followed by 64 hex digits."
        )
        return False
    actual = hashlib.sha256(content).hexdigest()
    if match.group(1).lower() != actual:
        problems.append(
            f"spec.checksum is {raw!r} but the source's SHA-256 is 'sha256:{actual}'; "
            "the source is not the one that was summed: fix the checksum or the source."
        )
        return False
    return True


def _shape_problems(spec: RawFunctionSpec) -> list[str]:
    problems: list[str] = []
    for field, check in (("deployment", shapes.deployment_problems),
                         ("service", shapes.service_problems),
                         ("horizontalPodAutoscaler", shapes.autoscaler_problems)):
        raw = spec.get(field)
        if raw is not None:
            problems += check(raw, f"spec.{field}")
    deployment = spec.get("deployment")
    if not problems and deployment is not None:
        problems += shapes.privilege_problems(deployment)
    return problems


def _read_autoscaler(spec: RawFunctionSpec) -> Mapping[str, Any] | None:
    # Kubeless wrote an empty autoscaler (maxReplicas 0) into every Function it
    # deployed; only a positive maxReplicas asks for one.
    raw = spec.get("horizontalPodAutoscaler") or {}
    raw_spec = raw.get("spec") or {}
    max_replicas = raw_spec.get("maxReplicas")
    if not isinstance(max_replicas, int) or max_replicas <= 0:
        return None
    return raw

"""The function contract: names, rules and the sentences that report a broken rule.

Both the static checker (which only parses a module) and the loader (which imports
it) word their findings through this module, so a user reads the same sentence
whether the operator refused a Function or a pod refused to start. Nothing here
imports FastAPI or pydantic: the operator imports this module too.
"""

from __future__ import annotations

import dataclasses
import difflib
import keyword
import re
from collections.abc import Iterable, Sequence

METADATA_CONSTANTS = (
    "FUNCTION_NAME",
    "FUNCTION_VERSION",
    "FUNCTION_SUMMARY",
    "FUNCTION_RESPONSE_DESC",
)
PATH_CONSTANT = "FUNCTION_PATH"
DEFAULT_PATH = "/"
PARAMS_CLASS = "Params"

# Where a Params field may come from. A plain default means a query parameter.
PARAMETER_KINDS = ("Query", "Header", "Path", "Cookie")
# FastAPI markers that would turn a Params field into a body or a dependency.
REFUSED_PARAMETER_KINDS = ("Body", "Form", "File", "Depends", "Security")

# Routes of the runtime's own; a function served there could never be reached.
RESERVED_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
# Where the offline docs' scripts and styles are served from.
RESERVED_PREFIX = "/static-offline-docs"
# Annotations FastAPI cannot read from a query string, header, path or cookie.
NON_SCALAR_TYPES = ("dict", "Dict", "Mapping", "MutableMapping")

_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?}")


@dataclasses.dataclass(frozen=True)
class MethodRules:
    """What a handler of one HTTP method needs from its module."""

    http_method: str
    prefix: str
    request_model: str | None
    response_model: str

    @property
    def model_names(self) -> tuple[str, ...]:
        if self.request_model is None:
            return (self.response_model,)
        return (self.request_model, self.response_model)


METHODS = (
    MethodRules("GET", "get_", None, "GetResponse"),
    MethodRules("POST", "post_", "PostRequest", "PostResponse"),
    MethodRules("PUT", "put_", "PutRequest", "PutResponse"),
    MethodRules("DELETE", "delete_", "DelRequest", "DelResponse"),
    MethodRules("PATCH", "patch_", "PatchRequest", "PatchResponse"),
)
PREFIXES = tuple(rules.prefix for rules in METHODS)


def rules_for_handler(handler: str) -> MethodRules | None:
    """The method a handler serves, read from its name's prefix."""
    for rules in METHODS:
        if handler.startswith(rules.prefix) and len(handler) > len(rules.prefix):
            return rules
    return None


def path_placeholders(path: str) -> list[str]:
    """The parameter names in a route such as ``/{item_id}/parts/{part}``, each once."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(path)))


def function_path_malformed(path: str) -> str | None:
    """What makes a FUNCTION_PATH that starts with '/' unusable as a route, if anything."""
    if "?" in path or "#" in path:
        return (f"FUNCTION_PATH {path!r} holds a query or a fragment; a route is a path "
                f"alone, and query parameters are Params fields defaulting to Query().")
    groups = re.findall(r"{([^}]*)}", path)
    for group in groups:
        if not _PLACEHOLDER.fullmatch(f"{{{group}}}") or keyword.iskeyword(group.split(":")[0]):
            return (f"FUNCTION_PATH {path!r} has the placeholder {{{group}}}, which is not "
                    f"a Python name; name it as its Params field, such as {{item_id}}.")
    names = [group.split(":")[0] for group in groups]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return (f"FUNCTION_PATH {path!r} names {{{repeated[0]}}} more than once; each path "
                f"parameter appears once.")
    return None


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule, with the source line it was found on when known."""

    message: str
    line: int | None = None

    def format(self, filename: str) -> str:
        where = filename if self.line is None else f"{filename}:{self.line}"
        return f"{where}: {self.message}"


class ContractError(Exception):
    """A function module that cannot be served, with every reason found."""

    def __init__(self, filename: str, violations: Sequence[Violation]) -> None:
        self.filename = filename
        self.violations = tuple(violations)
        super().__init__("\n".join(v.format(filename) for v in self.violations))


# The sentences. Each says what is wrong and what is accepted.


def syntax_error(detail: str) -> str:
    return f"the module does not parse: {detail}."


def handler_yields(handler: str) -> str:
    return (f"handler {handler!r} yields, which makes it a generator; return the response "
            f"model instead (a streamed answer is not part of the contract).")


def params_field_annotated(field: str) -> str:
    return (f"Params.{field} is typed with Annotated[...]; give its kind and limits as "
            f"its default instead, as in 'count: int = Query(2, ge=1)'.")


def too_deeply_nested() -> str:
    return ("the module is nested too deeply for Python to compile it (expressions or "
            "blocks thousands of levels deep); split it into smaller expressions.")


def bound_out_of_sight(name: str) -> str:
    return (
        f"{name!r} is bound inside a block (if, try, for, with, match), or by unpacking, "
        f"del, +=, := or a relative import, so its value cannot be known without running "
        f"the module; bind it once with a plain def, class, assignment or import at "
        f"module level."
    )


def missing_constant(name: str) -> str:
    return f'{name} is missing; define it at module level as a string, e.g. {name} = "...".'


def constant_not_string(name: str, found: str) -> str:
    return f"{name} must be a string literal, not {found}."


def function_path_invalid(found: str) -> str:
    return (
        f'{PATH_CONSTANT} must be a string starting with "/", such as "/{{item_id}}", '
        f"not {found}."
    )


def function_path_reserved(path: str) -> str:
    reserved = ", ".join(RESERVED_PATHS)
    return (
        f"{PATH_CONSTANT} {path!r} is a route of the runtime's own; the function "
        f"would be unreachable there. Reserved: {reserved}."
    )


def handler_not_found(handler: str, functions: Iterable[str]) -> str:
    defined = sorted(functions)
    listing = ", ".join(defined) if defined else "none"
    return (
        f"handler {handler!r} is not defined in the module; "
        f"module-level functions: {listing}."
    )


def handler_not_a_function(handler: str) -> str:
    return f"handler {handler!r} must be a function defined with 'def' or 'async def'."


def handler_without_prefix(handler: str) -> str:
    accepted = ", ".join(PREFIXES)
    return (
        f"handler {handler!r} must start with its HTTP method, one of: {accepted} "
        f"(for example 'get_{handler}')."
    )


def handler_signature(handler: str) -> str:
    return (
        f"handler {handler!r} must accept two positional parameters, (event, context), "
        f"and require no others."
    )


def missing_model(name: str, rules: MethodRules, classes: Iterable[str]) -> str:
    # A close name that is itself one of the method's models is no rename candidate:
    # PostRequest is not a misspelt PostResponse.
    candidates = [c for c in classes if c not in rules.model_names]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f"; rename {close[0]!r} to {name!r}" if close else ""
    role = "response" if name == rules.response_model else "request body"
    return (
        f"{rules.http_method} handlers need a pydantic model named {name!r} "
        f"for the {role}, and the module defines none{hint}."
    )


def model_not_base_model(name: str) -> str:
    return f"{name!r} must be a class that subclasses pydantic.BaseModel."


def missing_params() -> str:
    return (
        f"a @dataclass named {PARAMS_CLASS!r} is required (it may be empty: "
        f"'@dataclass' then 'class {PARAMS_CLASS}: pass')."
    )


def params_not_dataclass() -> str:
    return f"{PARAMS_CLASS!r} must be decorated with @dataclass (from the dataclasses module)."


def params_field_refused(field: str, kind: str) -> str:
    accepted = ", ".join(PARAMETER_KINDS)
    return (
        f"{PARAMS_CLASS}.{field} defaults to {kind}(); fields must default to one of "
        f"{accepted}, or to a plain value (a query parameter)."
    )


def params_field_order(field: str) -> str:
    return (
        f"{PARAMS_CLASS}.{field} has no default but follows a field that has one, "
        f"which a dataclass does not allow; give it a default such as Query(...) "
        f"(required) or move it above the fields with defaults."
    )


def params_field_not_scalar(field: str, annotation: str) -> str:
    return (
        f"{PARAMS_CLASS}.{field} is typed {annotation}, which cannot be read from a "
        f"query string, header, path or cookie; use str, int, float, bool, an enum, "
        f"or a list of those."
    )


def path_field_not_in_route(field: str, path: str) -> str:
    return (
        f"{PARAMS_CLASS}.{field} is a Path parameter but the route {path!r} has no "
        f"{{{field}}}; add it to {PATH_CONSTANT}."
    )


def route_placeholder_without_field(name: str, path: str) -> str:
    return (
        f"the route {path!r} has {{{name}}} but {PARAMS_CLASS} has no field {name!r} "
        f"defaulting to Path()."
    )

"""Check a function module against the contract by reading its source.

The operator runs this on code it must never execute, so everything here works on
the syntax tree alone. Where the source leaves a question open (a model whose base
class comes from another package, say) the checker refuses rather than guesses:
whatever it accepts, the loader accepts too.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from kubeless_runtime import contract
from kubeless_runtime.contract import Violation

# Base classes that make a pydantic model (RootModel subclasses BaseModel).
_PYDANTIC_MODELS = ("BaseModel", "RootModel")


@dataclasses.dataclass
class _ModuleScope:
    """What the module binds at top level, as far as the syntax tree shows."""

    assignments: dict[str, ast.expr] = dataclasses.field(default_factory=dict)
    assignment_lines: dict[str, int] = dataclasses.field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = dataclasses.field(
        default_factory=dict
    )
    classes: dict[str, ast.ClassDef] = dataclasses.field(default_factory=dict)
    # Local name -> dotted origin, e.g. "Q" -> "fastapi.Query", "pd" -> "pydantic".
    imports: dict[str, str] = dataclasses.field(default_factory=dict)

    def bound(self, name: str) -> bool:
        return any(name in names for names in (self.assignments, self.functions,
                                                self.classes, self.imports))

    def origin(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to, resolved through imports."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            owner = self.origin(node.value)
            return None if owner is None else f"{owner}.{node.attr}"
        return None


def check_source(source: str, *, handler: str, filename: str = "<function>") -> list[Violation]:
    """Every contract violation visible in ``source`` for the given handler name."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as error:
        return [Violation(contract.syntax_error(error.msg), error.lineno)]
    except ValueError as error:  # NUL bytes and the like
        return [Violation(contract.syntax_error(str(error)))]

    scope = _read_scope(tree)
    violations = [*_check_metadata(scope), *_check_params(scope)]

    rules, handler_violations = _check_handler(scope, handler)
    violations += handler_violations
    if rules is not None:
        violations += _check_models(scope, rules)
    return sorted(violations, key=lambda v: (v.line or 0))


def check_file(path: Path, *, handler: str) -> list[Violation]:
    """Like :func:`check_source`, reading the module from a file."""
    try:
        source = path.read_text(encoding="utf-8-sig")  # Python accepts a BOM; so do we
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        return [Violation(f"the module is not valid UTF-8: {error.reason} at byte "
                          f"{error.start}.", line)]
    except OSError as error:
        return [Violation(f"the module cannot be read: {error.strerror or error}.")]
    return check_source(source, handler=handler, filename=str(path))


def _read_scope(tree: ast.Module) -> _ModuleScope:
    scope = _ModuleScope()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    scope.assignments[target.id] = node.value
                    scope.assignment_lines[target.id] = node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None:
                scope.assignments[node.target.id] = node.value
                scope.assignment_lines[node.target.id] = node.lineno
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scope.functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            scope.classes[node.name] = node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                scope.imports[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                scope.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return scope


def _check_metadata(scope: _ModuleScope) -> Iterator[Violation]:
    for name in contract.METADATA_CONSTANTS:
        if name not in scope.assignments:
            yield Violation(contract.missing_constant(name))
        elif not _is_string_literal(scope.assignments[name]):
            found = _describe(scope.assignments[name])
            yield Violation(contract.constant_not_string(name, found),
                            scope.assignment_lines[name])

    path = scope.assignments.get(contract.PATH_CONSTANT)
    if path is None:
        return
    literal = path.value if isinstance(path, ast.Constant) else None
    line = scope.assignment_lines[contract.PATH_CONSTANT]
    if not isinstance(literal, str) or not literal.startswith("/"):
        yield Violation(contract.function_path_invalid(_describe(path)), line)
    elif (literal.rstrip("/") in contract.RESERVED_PATHS
          or literal.startswith(contract.RESERVED_PREFIX)):
        yield Violation(contract.function_path_reserved(literal), line)


def _check_handler(
        scope: _ModuleScope, handler: str
) -> tuple[contract.MethodRules | None, list[Violation]]:
    rules = contract.rules_for_handler(handler)
    function = scope.functions.get(handler)
    violations = [] if rules else [Violation(
        contract.handler_without_prefix(handler), function.lineno if function else None)]

    if function is None:
        if scope.bound(handler):
            class_def = scope.classes.get(handler)
            line = class_def.lineno if class_def else scope.assignment_lines.get(handler)
            violations.append(Violation(contract.handler_not_a_function(handler), line))
        else:
            violations.append(Violation(contract.handler_not_found(handler, scope.functions)))
        return rules, violations

    if not _takes_event_and_context(function.args):
        violations.append(Violation(contract.handler_signature(handler), function.lineno))
    return rules, violations


def _takes_event_and_context(args: ast.arguments) -> bool:
    positional = [*args.posonlyargs, *args.args]
    required_positional = len(positional) - len(args.defaults)
    required_keyword = sum(default is None for default in args.kw_defaults)
    accepts_two = len(positional) >= 2 or args.vararg is not None
    return accepts_two and required_positional <= 2 and required_keyword == 0


def _check_models(scope: _ModuleScope, rules: contract.MethodRules) -> Iterator[Violation]:
    for name in rules.model_names:
        node = scope.classes.get(name)
        if node is None:
            if scope.bound(name):
                line = scope.assignment_lines.get(name)
                yield Violation(contract.model_not_base_model(name), line)
            else:
                yield Violation(contract.missing_model(name, rules, scope.classes))
        elif not _is_model(scope, node, seen=set()):
            yield Violation(contract.model_not_base_model(name), node.lineno)


def _is_model(scope: _ModuleScope, node: ast.ClassDef, *, seen: set[str]) -> bool:
    # A base is a model when it is pydantic's, or a class of this module that is one.
    seen.add(node.name)
    for base in node.bases:
        base = base.value if isinstance(base, ast.Subscript) else base  # RootModel[int]
        origin = scope.origin(base)
        if origin in {f"pydantic.{name}" for name in _PYDANTIC_MODELS}:
            return True
        local = scope.classes.get(origin or "")
        if local is not None and local.name not in seen and _is_model(scope, local, seen=seen):
            return True
    return False


def _check_params(scope: _ModuleScope) -> Iterator[Violation]:
    params = scope.classes.get(contract.PARAMS_CLASS)
    if params is None:
        yield Violation(contract.missing_params())
        return
    if not any(_is_dataclass_decorator(scope, d) for d in params.decorator_list):
        yield Violation(contract.params_not_dataclass(), params.lineno)

    path_fields: list[str] = []
    seen_default = False
    keyword_only = _is_keyword_only(params)
    for field_name, annotation, value, line in _fields(params):
        if "KW_ONLY" in ast.unparse(annotation):
            keyword_only = True
            continue
        kind = _parameter_kind(scope, value)
        if kind in contract.REFUSED_PARAMETER_KINDS:
            yield Violation(contract.params_field_refused(field_name, kind), line)
        elif kind == "Path":
            path_fields.append(field_name)
        non_scalar = _non_scalar_type(scope, annotation)
        if non_scalar is not None:
            yield Violation(contract.params_field_not_scalar(field_name, non_scalar), line)
        if value is None and seen_default and not keyword_only:
            yield Violation(contract.params_field_order(field_name), line)
        seen_default = seen_default or value is not None

    route = scope.assignments.get(contract.PATH_CONSTANT)
    path = route.value if isinstance(route, ast.Constant) else contract.DEFAULT_PATH
    if not isinstance(path, str):
        return  # already reported as an invalid FUNCTION_PATH
    placeholders = contract.path_placeholders(path)
    for field_name in path_fields:
        if field_name not in placeholders:
            yield Violation(contract.path_field_not_in_route(field_name, path), params.lineno)
    for name in placeholders:
        if name not in path_fields:
            path_line = scope.assignment_lines.get(contract.PATH_CONSTANT)
            yield Violation(contract.route_placeholder_without_field(name, path), path_line)


def _fields(params: ast.ClassDef) -> Iterator[tuple[str, ast.expr, ast.expr | None, int]]:
    for node in params.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        if "ClassVar" in ast.unparse(node.annotation):
            continue
        yield node.target.id, node.annotation, node.value, node.lineno


def _is_keyword_only(params: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Call) and any(
            k.arg == "kw_only" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in d.keywords)
        for d in params.decorator_list
    )


def _non_scalar_type(scope: _ModuleScope, annotation: ast.expr) -> str | None:
    """The annotation's text when FastAPI could not read it from a parameter."""
    for node in _union_members(annotation):
        base = node.value if isinstance(node, ast.Subscript) else node
        name = (scope.origin(base) or "").rpartition(".")[2]
        local_model = scope.classes.get(name)
        is_model = local_model is not None and _is_model(scope, local_model, seen=set())
        if name in contract.NON_SCALAR_TYPES or is_model:
            return ast.unparse(annotation)
    return None


def _union_members(annotation: ast.expr) -> Iterator[ast.expr]:
    # X | None, Optional[X], Union[X, Y] and Annotated[X, ...] all stand for X here.
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        yield from _union_members(annotation.left)
        yield from _union_members(annotation.right)
        return
    wrapper = _wrapper_name(annotation)
    if wrapper is None or not isinstance(annotation, ast.Subscript):
        yield annotation
        return
    inner = annotation.slice
    members = inner.elts if isinstance(inner, ast.Tuple) else [inner]
    for member in members[:1] if wrapper == "Annotated" else members:
        yield from _union_members(member)


def _wrapper_name(annotation: ast.expr) -> str | None:
    if not isinstance(annotation, ast.Subscript):
        return None
    name = ast.unparse(annotation.value).rpartition(".")[2]
    return name if name in {"Optional", "Union", "Annotated"} else None


def _parameter_kind(scope: _ModuleScope, value: ast.expr | None) -> str | None:
    """'Query', 'Header', ... for a FastAPI marker call, None for a plain default."""
    if not isinstance(value, ast.Call):
        return None
    origin = scope.origin(value.func) or ""
    module, _, name = origin.rpartition(".")
    if module not in {"fastapi", "fastapi.params", "fastapi.param_functions"}:
        return None
    known = (*contract.PARAMETER_KINDS, *contract.REFUSED_PARAMETER_KINDS)
    return name if name in known else None


def _is_dataclass_decorator(scope: _ModuleScope, decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return scope.origin(target) in {"dataclasses.dataclass", "pydantic.dataclasses.dataclass"}


def _is_string_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_string_literal(node.left) and _is_string_literal(node.right)
    return False


def _describe(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return f"{type(node.value).__name__} {node.value!r}"
    return f"the expression {ast.unparse(node)!r}"

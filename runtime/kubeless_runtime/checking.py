"""Check a function module against the contract by reading its source.

The operator runs this on code it must never execute, so everything here works on
the syntax tree alone. Where the source leaves a question open (a model whose base
class comes from another package, a name bound inside an ``if``) the checker refuses
rather than guesses, so what it accepts the loader accepts too. Only code that
rebinds names behind the syntax's back (``globals()``, ``exec``) can tell the two
apart, and the loader's own check still stands behind this one.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize
from collections.abc import Iterator
from pathlib import Path

from kubeless_runtime import contract
from kubeless_runtime.contract import Violation

# Base classes that make a pydantic model (RootModel subclasses BaseModel).
_PYDANTIC_MODELS = ("BaseModel", "RootModel")


@dataclasses.dataclass(frozen=True)
class _Binding:
    """One top-level statement's binding of a name."""

    order: int  # the statement's index in the module body: what ran before what
    line: int
    # The class or function defined, or the value assigned; None for an import and
    # for a binding the syntax tree cannot tell the value of (see _names_bound).
    node: ast.expr | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | None
    imported: str | None = None  # for an import: the dotted name it stands for

    @property
    def is_opaque(self) -> bool:
        return self.node is None and self.imported is None


@dataclasses.dataclass
class _ModuleScope:
    """What the module binds at top level, statement by statement.

    The loader sees each name as the module's last binding left it, and a class
    sees the names its statement ran after; both are read from here, so that
    ``BaseModel = object`` before a model, or a second ``def`` of the handler, is
    judged as the import will judge it.
    """

    bindings: dict[str, list[_Binding]] = dataclasses.field(default_factory=dict)

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def binding(self, name: str, *, before: int | None = None) -> _Binding | None:
        """The name's last binding, or the last made before statement ``before``."""
        history = self.bindings.get(name, [])
        if before is not None:
            history = [b for b in history if b.order < before]
        return history[-1] if history else None

    def defined(self, kind: type[ast.AST]) -> list[str]:
        """The names whose last binding is a definition of this kind."""
        return [name for name, history in self.bindings.items()
                if isinstance(history[-1].node, kind)]

    def value(self, name: str) -> ast.expr | None:
        """The expression last assigned to the name, if that is its last binding."""
        binding = self.binding(name)
        node = binding.node if binding is not None else None
        return node if isinstance(node, ast.expr) else None

    def class_def(self, name: str, *, before: int) -> _Binding | None:
        binding = self.binding(name, before=before)
        return binding if binding and isinstance(binding.node, ast.ClassDef) else None

    def origin(self, node: ast.expr, *, before: int | None = None) -> str | None:
        """The dotted name an expression refers to, resolved through imports and
        plain aliases (``Q = Query``); None when the module hides what it is."""
        if isinstance(node, ast.Attribute):
            owner = self.origin(node.value, before=before)
            return None if owner is None else f"{owner}.{node.attr}"
        if not isinstance(node, ast.Name):
            return None
        binding = self.binding(node.id, before=before)
        if binding is None:
            return node.id  # a builtin, or a name the module never binds
        if binding.imported is not None:
            return binding.imported
        if binding.is_opaque:
            return None
        if isinstance(binding.node, ast.Name | ast.Attribute):
            return self.origin(binding.node, before=binding.order)
        return node.id


def check_source(source: str, *, handler: str, filename: str = "<function>") -> list[Violation]:
    """Every contract violation visible in ``source`` for the given handler name."""
    try:
        # The pod's Python reads the file's coding declaration; an unknown one is a
        # SyntaxError there, though parsing the text here would never see it.
        tokenize.detect_encoding(io.BytesIO(source.encode("utf-8")).readline)
        tree = ast.parse(source, filename=filename)
        # Compiling (never running) the tree finds what the parser lets through
        # and the import would refuse: a top-level return, a duplicate argument,
        # a late __future__ import.
        compile(tree, filename, "exec", dont_inherit=True)
    except SyntaxError as error:
        return [Violation(contract.syntax_error(error.msg), error.lineno)]
    except ValueError as error:  # NUL bytes and the like
        return [Violation(contract.syntax_error(str(error)))]
    except (RecursionError, MemoryError):
        return [Violation(contract.too_deeply_nested())]

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
    for order, node in enumerate(tree.body):
        # A := anywhere the statement itself evaluates (a value, a default, a
        # decorator, a base class) binds at module level, before the statement does.
        bindings: list[tuple[str, _Binding]] = _opaque(_walrus_targets(node), order, node.lineno)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bindings.append((target.id, _Binding(order, node.lineno, node.value)))
                else:
                    bindings += _opaque(_names_bound(target), order, node.lineno)
        elif isinstance(node, ast.AnnAssign):
            if isinstance(node.target, ast.Name) and node.value is not None:
                bindings.append((node.target.id, _Binding(order, node.lineno, node.value)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bindings.append((node.name, _Binding(order, node.lineno, node)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                imported = alias.name if alias.asname else local
                bindings.append((local, _Binding(order, node.lineno, None, imported)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            bindings += [
                (alias.asname or alias.name,
                 _Binding(order, node.lineno, None, f"{node.module}.{alias.name}"))
                for alias in node.names if alias.name != "*"
            ]
        else:
            bindings += _opaque(_names_bound(node), order, node.lineno)
        for name, binding in bindings:
            scope.bind(name, binding)
    return scope


def _walrus_targets(statement: ast.stmt) -> Iterator[str]:
    """Names a ``:=`` binds at module level while the statement runs.

    Function and class bodies and lambdas are scopes of their own; the parts of a
    def or class that run at module level (decorators, defaults, annotations,
    bases) are not.
    """
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            yield node.target.id
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            pending += [*node.decorator_list, node.args, *([node.returns] if node.returns else [])]
            continue
        if isinstance(node, ast.ClassDef):
            pending += [*node.decorator_list, *node.bases, *node.keywords]
            continue
        pending.extend(ast.iter_child_nodes(node))


def _opaque(names: Iterator[str], order: int, line: int) -> list[tuple[str, _Binding]]:
    return [(name, _Binding(order, line, None)) for name in names]


def _names_bound(statement: ast.AST) -> Iterator[str]:
    """Every module-level name a statement may bind, without knowing to what.

    Bindings inside if, try, for, with or match blocks (and unpacking or relative
    imports) depend on what runs; the checker treats such a name as unknown from
    that statement on, so it never accepts what the loader might refuse. Blocks
    that never run on import (``if TYPE_CHECKING:``, ``if __name__ == "__main__":``)
    bind nothing here.
    """
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            yield node.id
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield from (alias.asname or alias.name.split(".")[0]
                        for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
            continue  # its body is a scope of its own
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            # A comprehension's loop variables stay in its own scope; only := leaks.
            yield from (inner.target.id for inner in ast.walk(node)
                        if isinstance(inner, ast.NamedExpr))
            continue
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            yield node.name
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest
        elif isinstance(node, ast.If) and _never_runs_on_import(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def _never_runs_on_import(test: ast.expr) -> bool:
    text = ast.unparse(test)
    return text in {"TYPE_CHECKING", "typing.TYPE_CHECKING",
                    "__name__ == '__main__'", "'__main__' == __name__"}


def _check_metadata(scope: _ModuleScope) -> Iterator[Violation]:
    for name in contract.METADATA_CONSTANTS:
        binding = scope.binding(name)
        value = scope.value(name)
        if binding is None:
            yield Violation(contract.missing_constant(name))
        elif binding.is_opaque:
            yield Violation(contract.bound_out_of_sight(name), binding.line)
        elif value is None or not _is_string_literal(value):
            found = _describe_binding(binding)
            yield Violation(contract.constant_not_string(name, found), binding.line)

    binding = scope.binding(contract.PATH_CONSTANT)
    if binding is None:
        return
    if binding.is_opaque:
        yield Violation(contract.bound_out_of_sight(contract.PATH_CONSTANT), binding.line)
        return
    path = scope.value(contract.PATH_CONSTANT)
    literal = path.value if isinstance(path, ast.Constant) else None
    if not isinstance(literal, str) or not literal.startswith("/"):
        yield Violation(contract.function_path_invalid(_describe_binding(binding)), binding.line)
    elif (literal.rstrip("/") in contract.RESERVED_PATHS
          or literal.startswith(contract.RESERVED_PREFIX)):
        yield Violation(contract.function_path_reserved(literal), binding.line)
    elif (malformed := contract.function_path_malformed(literal)) is not None:
        yield Violation(malformed, binding.line)


def _check_handler(
        scope: _ModuleScope, handler: str
) -> tuple[contract.MethodRules | None, list[Violation]]:
    rules = contract.rules_for_handler(handler)
    binding = scope.binding(handler)
    function = binding.node if binding is not None else None
    is_function = isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    violations = [] if rules else [Violation(
        contract.handler_without_prefix(handler),
        function.lineno if is_function and function is not None else None)]

    if binding is None:
        functions = scope.defined(ast.FunctionDef) + scope.defined(ast.AsyncFunctionDef)
        violations.append(Violation(contract.handler_not_found(handler, functions)))
    elif binding.is_opaque:
        violations.append(Violation(contract.bound_out_of_sight(handler), binding.line))
    elif not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        violations.append(Violation(contract.handler_not_a_function(handler), binding.line))
    elif not _takes_event_and_context(function.args):
        violations.append(Violation(contract.handler_signature(handler), binding.line))
    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        generator_line = _yield_line(function)
        if generator_line is not None:
            violations.append(Violation(contract.handler_yields(handler), generator_line))
    return rules, violations


def _yield_line(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """The line of a yield that makes the function a generator, if there is one."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return node.lineno
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue  # a scope of its own
        pending.extend(ast.iter_child_nodes(node))
    return None


def _takes_event_and_context(args: ast.arguments) -> bool:
    positional = [*args.posonlyargs, *args.args]
    required_positional = len(positional) - len(args.defaults)
    required_keyword = sum(default is None for default in args.kw_defaults)
    accepts_two = len(positional) >= 2 or args.vararg is not None
    return accepts_two and required_positional <= 2 and required_keyword == 0


def _check_models(scope: _ModuleScope, rules: contract.MethodRules) -> Iterator[Violation]:
    for name in rules.model_names:
        binding = scope.binding(name)
        if binding is None:
            yield Violation(contract.missing_model(name, rules, scope.defined(ast.ClassDef)))
        elif binding.is_opaque:
            yield Violation(contract.bound_out_of_sight(name), binding.line)
        elif not isinstance(binding.node, ast.ClassDef) or not _is_model(scope, binding):
            yield Violation(contract.model_not_base_model(name), binding.line)


def _is_model(scope: _ModuleScope, binding: _Binding) -> bool:
    """Whether a class statement makes a pydantic model, judged by the names bound
    before it ran: a base is pydantic's, or a class of the module that is a model."""
    node = binding.node
    assert isinstance(node, ast.ClassDef)
    for base in node.bases:
        base = base.value if isinstance(base, ast.Subscript) else base  # RootModel[int]
        origin = scope.origin(base, before=binding.order)
        if origin in {f"pydantic.{name}" for name in _PYDANTIC_MODELS}:
            return True
        # Each step goes to an earlier statement, so a chain of bases always ends.
        local = scope.class_def(origin, before=binding.order) if origin else None
        if local is not None and _is_model(scope, local):
            return True
    return False


def _check_params(scope: _ModuleScope) -> Iterator[Violation]:
    binding = scope.binding(contract.PARAMS_CLASS)
    if binding is None:
        yield Violation(contract.missing_params())
        return
    if binding.is_opaque:
        yield Violation(contract.bound_out_of_sight(contract.PARAMS_CLASS), binding.line)
        return
    params = binding.node
    if not isinstance(params, ast.ClassDef):
        yield Violation(contract.params_not_dataclass(), binding.line)
        return
    before = binding.order
    if not any(_is_dataclass_decorator(scope, d, before=before) for d in params.decorator_list):
        yield Violation(contract.params_not_dataclass(), params.lineno)

    path_fields: list[str] = []
    seen_default = False
    keyword_only = _is_keyword_only(params)
    for field_name, annotation, value, line in _fields(params):
        if "KW_ONLY" in ast.unparse(annotation):
            keyword_only = True
            continue
        if _is_annotated(scope, annotation, before=before):
            # FastAPI would take the parameter's kind from both the metadata and the
            # dataclass default, and refuses the route when they meet.
            yield Violation(contract.params_field_annotated(field_name), line)
            continue
        kind = _parameter_kind(scope, value, before=before)
        if kind in contract.REFUSED_PARAMETER_KINDS:
            yield Violation(contract.params_field_refused(field_name, kind), line)
        elif kind == "Path":
            path_fields.append(field_name)
        non_scalar = _non_scalar_type(scope, annotation, before=before)
        if non_scalar is not None:
            yield Violation(contract.params_field_not_scalar(field_name, non_scalar), line)
        if value is None and seen_default and not keyword_only:
            yield Violation(contract.params_field_order(field_name), line)
        seen_default = seen_default or value is not None

    route_binding = scope.binding(contract.PATH_CONSTANT)
    if route_binding is None:
        path: object = contract.DEFAULT_PATH
    else:
        route = scope.value(contract.PATH_CONSTANT)
        path = route.value if isinstance(route, ast.Constant) else None
    if not isinstance(path, str):
        return  # already reported as an invalid or unknowable FUNCTION_PATH
    placeholders = contract.path_placeholders(path)
    for field_name in path_fields:
        if field_name not in placeholders:
            yield Violation(contract.path_field_not_in_route(field_name, path), params.lineno)
    for name in placeholders:
        if name not in path_fields:
            path_line = route_binding.line if route_binding else None
            yield Violation(contract.route_placeholder_without_field(name, path), path_line)


def _is_annotated(scope: _ModuleScope, annotation: ast.expr, *, before: int,
                  depth: int = 0) -> bool:
    """Whether a field's type is Annotated[...], written out, quoted or through an alias."""
    if depth > 10:  # an alias of an alias ...: give up rather than loop
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            quoted = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
        return _is_annotated(scope, quoted, before=before, depth=depth + 1)
    if isinstance(annotation, ast.Name):
        binding = scope.binding(annotation.id, before=before)
        alias = binding.node if binding is not None else None
        return isinstance(alias, ast.expr) and _is_annotated(
            scope, alias, before=before, depth=depth + 1)
    if not isinstance(annotation, ast.Subscript):
        return False
    origin = scope.origin(annotation.value, before=before)
    return origin in {"typing.Annotated", "typing_extensions.Annotated"}


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


def _non_scalar_type(scope: _ModuleScope, annotation: ast.expr, *, before: int) -> str | None:
    """The annotation's text when FastAPI could not read it from a parameter."""
    for node in _union_members(annotation):
        base = node.value if isinstance(node, ast.Subscript) else node
        origin = scope.origin(base, before=before) or ""
        local = scope.class_def(origin, before=before)
        is_model = local is not None and _is_model(scope, local)
        if origin.rpartition(".")[2] in contract.NON_SCALAR_TYPES or is_model:
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


def _parameter_kind(
        scope: _ModuleScope, value: ast.expr | None, *, before: int) -> str | None:
    """'Query', 'Header', ... for a FastAPI marker call, None for a plain default."""
    if not isinstance(value, ast.Call):
        return None
    origin = scope.origin(value.func, before=before) or ""
    module, _, name = origin.rpartition(".")
    if module not in {"fastapi", "fastapi.params", "fastapi.param_functions"}:
        return None
    known = (*contract.PARAMETER_KINDS, *contract.REFUSED_PARAMETER_KINDS)
    return name if name in known else None


def _is_dataclass_decorator(scope: _ModuleScope, decorator: ast.expr, *, before: int) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return scope.origin(target, before=before) in {
        "dataclasses.dataclass", "pydantic.dataclasses.dataclass"}


def _is_string_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_string_literal(node.left) and _is_string_literal(node.right)
    return False


def _describe_binding(binding: _Binding) -> str:
    node = binding.node
    if binding.imported is not None:
        return f"an import of {binding.imported}"
    if isinstance(node, ast.ClassDef):
        return "a class"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return "a function"
    if isinstance(node, ast.Constant):
        return f"{type(node.value).__name__} {node.value!r}"
    return f"the expression {ast.unparse(node)!r}" if node is not None else "unknown"

"""The ``kubeless-fastapi`` command: serve or check a function, or run the operator.

This is the one place that knows both halves of the product. It imports each half
only inside the command that needs it, so the runtime image, which ships without
the operator's dependencies, still runs ``serve`` and ``check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="kubeless-fastapi",
    help="Python functions on FastAPI, the Kubeless way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModulePath = Annotated[
    Path | None,
    typer.Argument(
        help="The function's .py file. Without it, the Kubeless environment "
        "(MOD_NAME, FUNC_HANDLER, ...) names the module, as in a pod.",
        show_default=False,
    ),
]
HandlerOption = Annotated[
    str | None,
    typer.Option("--handler", help="The handler function's name, e.g. get_greeting."),
]


@app.command()
def serve(
    path: ModulePath = None,
    handler: HandlerOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (default: FUNC_PORT, else 8080).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Time limit of a call in seconds (default: FUNC_TIMEOUT, else 180)."),
    ] = None,
) -> None:
    """Load one function module and serve it over HTTP."""
    from kubeless_runtime import serving, settings

    try:
        config = settings.from_environment(
            module_path=path, handler=handler, host=host, port=port, timeout=timeout
        )
    except settings.SettingsError as error:
        _fail(str(error), code=2)
    raise typer.Exit(serving.serve(config))


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="The function's .py file.", show_default=False)],
    handler: Annotated[str, typer.Option("--handler", help="The handler function's name.")],
) -> None:
    """Check a function module against the contract without running it."""
    from kubeless_runtime import checking, settings

    problem = settings.handler_name_problem(handler)
    if problem is not None:
        _fail(problem, code=2)
    if not path.is_file():
        problem = ("is a folder" if path.is_dir() else
                   "not a regular file" if path.exists() else "no such file")
        _fail(f"{path}: {problem}; pass the path of the function's .py file.", code=2)
    violations = checking.check_file(path, handler=handler)
    for violation in violations:
        typer.echo(violation.format(str(path)), err=True)
    if violations:
        raise typer.Exit(1)
    typer.echo(f"{path}: {handler} follows the function contract.")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def operator(ctx: typer.Context) -> None:
    """Run the Function operator (`kubeless-fastapi operator --help` for its options)."""
    try:
        from kubeless_operator import cli as operator_cli
    except ImportError as error:
        _fail(
            f"the operator needs its extra dependencies ({error.name} is missing); "
            "install them with: pip install 'kubeless-fastapi[operator]'.",
            code=2,
        )
    raise typer.Exit(operator_cli.main(ctx.args))


def _fail(message: str, *, code: int) -> None:
    typer.echo(f"kubeless-fastapi: {message}", err=True)
    raise typer.Exit(code)


def main() -> None:
    app()

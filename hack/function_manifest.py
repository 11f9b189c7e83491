#!/usr/bin/env python3
"""Write examples/*/function.yaml: a Kubeless Function manifest for each example module.

Uses the standard library only, so it runs anywhere. The handler is the module's
one top-level function whose name starts with an HTTP method; a directory's
requirements.txt, when present, becomes spec.deps. Directories named broken* hold
modules that are wrong on purpose and get no manifest.

    python hack/function_manifest.py          # rewrite the manifests
    python hack/function_manifest.py --check  # exit 1 when one is stale
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME = "python-fastapi3.12"
METHOD_PREFIXES = ("get_", "post_", "put_", "delete_", "patch_")


def handler_of(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    handlers = [
        node.name for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith(METHOD_PREFIXES)
    ]
    if len(handlers) != 1:
        raise SystemExit(f"{path}: expected one handler function, found {handlers or 'none'}.")
    return handlers[0]


def block(text: str, indent: int) -> str:
    """``text`` as a YAML literal block scalar, indented by ``indent`` spaces."""
    chomp = "" if text.endswith("\n") and not text.endswith("\n\n") else "-"
    if text.endswith("\n\n"):
        chomp = "+"
    indicator = str(indent) if text[:1] in {" ", "\t"} else ""
    pad = " " * indent
    lines = [pad + line if line else "" for line in text.splitlines()]
    return f"|{indicator}{chomp}\n" + "\n".join(lines) + "\n"


def manifest(module: Path) -> str:
    source = module.read_text(encoding="utf-8")
    name = module.stem.replace("_", "-")
    handler = handler_of(module)
    requirements = module.parent / "requirements.txt"
    deps = requirements.read_text(encoding="utf-8") if requirements.is_file() else ""
    checksum = hashlib.sha256(source.encode("utf-8")).hexdigest()
    relative = module.relative_to(REPO)
    lines = [
        f"# Generated from {relative} by hack/function_manifest.py:",
        "# edit the module and run the script again (a test fails when this file is stale).",
        "apiVersion: kubeless.io/v1beta1",
        "kind: Function",
        "metadata:",
        f"  name: {name}",
        "  labels:",
        "    app.kubernetes.io/part-of: kubeless-fastapi-examples",
        "spec:",
        f"  runtime: {RUNTIME}",
        f"  handler: {module.stem}.{handler}",
        "  function-content-type: text",
        f"  checksum: sha256:{checksum}",
    ]
    text = "\n".join(lines) + "\n"
    text += f"  deps: {block(deps, 4)}" if deps else '  deps: ""\n'
    return text + f"  function: {block(source, 4)}"


def example_modules() -> list[Path]:
    return sorted(
        path for path in REPO.glob("examples/*/*.py")
        if not path.parent.name.startswith("broken") and not path.name.startswith("test_")
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale manifests")
    options = parser.parse_args(argv)

    stale = []
    for module in example_modules():
        target = module.parent / "function.yaml"
        wanted = manifest(module)
        if target.is_file() and target.read_text(encoding="utf-8") == wanted:
            continue
        stale.append(target)
        if not options.check:
            target.write_text(wanted, encoding="utf-8")
    for target in stale:
        verb = "is stale" if options.check else "written"
        print(f"{target.relative_to(REPO)}: {verb}", file=sys.stderr)
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

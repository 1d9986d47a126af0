"""Lazy package exports (PEP 562): a package's public names load with their submodule
on first use, so importing one light submodule (`core.errors`) skips the heavy ones.

A package writes its re-exports once, as ordinary imports under `if TYPE_CHECKING:`
(what mypy and ruff read), and sets `__getattr__ = lazy_exports(__name__, __file__)`;
the same import statements are read here to know which submodule holds each name.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def exported_from(init_file: str) -> dict[str, str]:
    """name -> submodule, from the `from X import Y` lines under `if TYPE_CHECKING:`."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    # importing a submodule binds its name on the package, hiding a lazy name it shares
    shared = names.keys() & {path.stem for path in Path(init_file).parent.iterdir()}
    if shared:
        raise ImportError(f"import {sorted(shared)} eagerly: submodules share their names")
    return names


def lazy_exports(package: str, init_file: str) -> Callable[[str], Any]:
    """The package's module `__getattr__`: import a name's submodule when it is first read."""
    where = exported_from(init_file)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later reads skip this function
        return value

    return __getattr__

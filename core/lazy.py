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
from collections.abc import Callable, Collection
from pathlib import Path
from types import ModuleType
from typing import Any


def exported_from(init_file: str, shared: Collection[str] = ()) -> dict[str, str]:
    """name -> submodule, from the `from X import Y` lines under `if TYPE_CHECKING:`.

    A name that is also a submodule's name must be declared in `shared`: importing that
    submodule binds the module object on the package, which `lazy_exports` then undoes.
    """
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    clashes = names.keys() & {path.stem for path in Path(init_file).parent.iterdir()}
    undeclared = clashes - set(shared)
    if undeclared:
        raise ImportError(f"declare {sorted(undeclared)} shared: submodules share their names")
    return names


class _SharedNames(ModuleType):
    """A package exporting a name its submodule also has (`catalog.twin`, the function,
    from `catalog/twin.py`). The import system binds a loaded submodule on its package;
    here the package keeps the exported name instead, as an eager `from catalog.twin
    import twin` in the package would have left it."""

    _shared: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._shared and isinstance(value, ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_exports(
    package: str, init_file: str, shared: Collection[str] = ()
) -> Callable[[str], Any]:
    """The package's module `__getattr__`: import a name's submodule when it is first read.

    `shared` lists the exported names that are also submodule names (see `_SharedNames`).
    """
    where = exported_from(init_file, shared)
    if shared:
        module = sys.modules[package]
        module.__class__ = _SharedNames
        object.__setattr__(module, "_shared", frozenset(shared))

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later reads skip this function
        return value

    return __getattr__

"""Lazy package exports: a name loads with its submodule; a name that a submodule shares
is refused unless declared shared, and then stays the exported name after the submodule
loads (the import system would otherwise put the module object in its place)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from core.lazy import exported_from

INIT = """from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from {package}.heavy import {name}

__getattr__ = lazy_exports(__name__, __file__, shared={shared!r})
"""
ROOT = Path(__file__).parents[2]


def make_package(root: Path, package: str, name: str, shared: tuple[str, ...] = ()) -> Path:
    (root / package).mkdir()
    (root / package / "heavy.py").write_text(
        f"import json\n\nCONSTANT = 7\n\ndef {name}():\n    return 1\n"
    )
    init = root / package / "__init__.py"
    init.write_text(INIT.format(package=package, name=name, shared=shared))
    return init


def run_python(root: Path, code: str) -> list[str]:
    env = {"PYTHONPATH": f"{root}:{ROOT}"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_name_loads_its_submodule_only_when_read(tmp_path: Path) -> None:
    make_package(tmp_path, "lazypkg", "answer")
    code = (
        "import sys, lazypkg; before = 'lazypkg.heavy' in sys.modules; "
        "value = lazypkg.answer(); print(before, 'lazypkg.heavy' in sys.modules, value)"
    )
    assert run_python(tmp_path, code) == ["False", "True", "1"]


def test_a_name_shared_with_a_submodule_is_refused(tmp_path: Path) -> None:
    init = make_package(tmp_path, "clashpkg", "heavy")
    with pytest.raises(ImportError, match="heavy"):
        exported_from(str(init))


def test_a_declared_shared_name_stays_the_exported_name(tmp_path: Path) -> None:
    """Loading the submodule first (for another of its names) must not leave the module
    object where the package's function belongs, nor lose the submodule's other names."""
    make_package(tmp_path, "sharedpkg", "heavy", shared=("heavy",))
    code = (
        "import sys; from sharedpkg.heavy import CONSTANT; import sharedpkg; "
        "from sharedpkg import heavy; "
        "print(CONSTANT, callable(heavy), heavy(), sys.modules['sharedpkg.heavy'].CONSTANT)"
    )
    assert run_python(tmp_path, code) == ["7", "True", "1", "7"]
    read_first = "import sharedpkg; print(sharedpkg.heavy(), sharedpkg.heavy())"
    assert run_python(tmp_path, read_first) == ["1", "1"]


DOMAIN_PACKAGES = ("core", "audit_log", "catalog", "operators", "policies", "gate", "sandbox",
                   "jobs", "products")  # fmt: skip


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_no_exported_name_is_left_a_module(package: str) -> None:
    """The domain's own shared names (`catalog.twin`, `jobs.submit`): with their submodule
    loaded, the package still hands out the function."""
    module = importlib.import_module(package)
    assert module.__file__ is not None
    for name in module.__all__:
        if (Path(module.__file__).parent / f"{name}.py").exists():
            importlib.import_module(f"{package}.{name}")
            assert not isinstance(getattr(module, name), ModuleType), f"{package}.{name}"

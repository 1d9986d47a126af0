"""Lazy package exports: a name loads with its submodule, and a name that a submodule
shares is refused (the submodule's import would put the module object in its place)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.lazy import exported_from

INIT = """from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from {package}.heavy import {name}

__getattr__ = lazy_exports(__name__, __file__)
"""


def make_package(root: Path, package: str, name: str) -> Path:
    (root / package).mkdir()
    (root / package / "heavy.py").write_text(f"import json\n\ndef {name}():\n    return 1\n")
    init = root / package / "__init__.py"
    init.write_text(INIT.format(package=package, name=name))
    return init


def test_a_name_loads_its_submodule_only_when_read(tmp_path: Path) -> None:
    make_package(tmp_path, "lazypkg", "answer")
    code = (
        "import sys, lazypkg; before = 'lazypkg.heavy' in sys.modules; "
        "value = lazypkg.answer(); print(before, 'lazypkg.heavy' in sys.modules, value)"
    )
    root = Path(__file__).parents[2]
    env = {"PYTHONPATH": f"{tmp_path}:{root}"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True", "1"], done.stderr


def test_a_name_shared_with_a_submodule_is_refused(tmp_path: Path) -> None:
    init = make_package(tmp_path, "clashpkg", "heavy")
    with pytest.raises(ImportError, match="heavy"):
        exported_from(str(init))

"""Each package says what it exports, and domain packages never reach into `service/`."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.test_architecture import ORDER

ROOT = Path(__file__).parents[1]
DOMAIN = [package for package in ORDER if package != "service"]


@pytest.mark.parametrize("package", DOMAIN)
def test_all_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert sorted(exported) == exported or sorted(exported, key=str.lower) == exported
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is listed but missing"


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_do_not_import_service(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "service" or n.startswith("service.") for n in names), path

"""The dependency order of DESIGN.md, enforced on every import, including lazy ones.

core ← audit_log ← catalog ← operators ← policies ← gate ← sandbox ← jobs ← products ← service

A package may import only packages to its left. That rules out cycles (a lazy import
that hides one is still one), domain packages reaching into `service/`, and a
package reaching for another package's private names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ORDER = [
    "core",
    "audit_log",
    "catalog",
    "operators",
    "policies",
    "gate",
    "sandbox",
    "jobs",
    "products",
    "service",
]


def imports_of(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every absolute import in a file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def package_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "runtime" not in p.parts)


@pytest.mark.parametrize("package", ORDER)
def test_imports_follow_the_dependency_order(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1])
    wrong = []
    for path in package_files(package):
        for line, module, _ in imports_of(path):
            top = module.split(".")[0]
            if top in ORDER and top not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, f"{package} may import only {sorted(allowed)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", ORDER)
def test_no_private_names_across_packages(package: str) -> None:
    wrong = []
    for path in package_files(package):
        for line, module, names in imports_of(path):
            top = module.split(".")[0]
            if top == package or top not in ORDER:
                continue
            private = [n for n in names if n.startswith("_")]
            private += [p for p in module.split(".")[1:] if p.startswith("_")]
            if private:
                wrong.append(f"{path.relative_to(ROOT)}:{line} takes {private} from {module}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    """A function-level import is an import: the walk must find it."""
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from products.release import release_job\n")
    assert [m for _, m, _ in imports_of(source)] == ["products.release"]

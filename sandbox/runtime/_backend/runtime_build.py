"""A PEP 517 build backend for sluice-runtime that needs nothing but the standard library.

It lets `pip install --no-build-isolation sandbox/runtime` work offline on a bare
Python (setuptools before 70 needs the separate `wheel` package to build wheels).
It knows exactly one layout: the pure-Python package `sluice_runtime` beside it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sluice_runtime"
STAMP = (2020, 1, 1, 0, 0, 0)  # fixed entry times: the same source builds the same wheel


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return project


def _dist_name(project: dict[str, Any]) -> str:
    return f"{project['name'].replace('-', '_')}-{project['version']}"


def _metadata(project: dict[str, Any]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '')}",
    ]
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    readme = ROOT / project.get("readme", "README.md")
    body = readme.read_text("utf-8") if readme.exists() else ""
    return "\n".join(lines) + "\nDescription-Content-Type: text/markdown\n\n" + body


def _sources() -> list[Path]:
    return sorted(p for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    project = _project()
    dist = _dist_name(project)
    info = f"{dist}.dist-info"
    files = [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in _sources()]
    files += [
        (f"{info}/METADATA", _metadata(project).encode("utf-8")),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: runtime_build\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        ),
    ]
    record = [_record_line(name, data) for name, data in files] + [f"{info}/RECORD,,"]
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    wheel_name = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            wheel.writestr(zipfile.ZipInfo(name, STAMP), data, zipfile.ZIP_DEFLATED)
    return wheel_name


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    dist = _dist_name(_project())
    name = f"{dist}.tar.gz"
    extra = [ROOT / "pyproject.toml", ROOT / "README.md", Path(__file__)]
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as archive:
        for path in [*extra, *_sources()]:
            if path.exists():
                archive.add(path, f"{dist}/{path.relative_to(ROOT).as_posix()}")
        metadata = _metadata(_project()).encode("utf-8")
        entry = tarfile.TarInfo(f"{dist}/PKG-INFO")
        entry.size = len(metadata)
        archive.addfile(entry, io.BytesIO(metadata))
    return name

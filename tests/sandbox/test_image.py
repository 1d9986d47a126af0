"""The runtime image's recipe: the apt mirror it reads, its content-hash tag, its wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from sandbox import image
from sandbox.image import Mirror, apt_mirror, image_tag

DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert apt_mirror(tmp_path) == Mirror("http://mirror.example/debian", "bookworm")


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64] http://apt.example/debian/ bookworm main contrib\n"
    )
    assert apt_mirror(tmp_path) == Mirror("http://apt.example/debian", "bookworm")


def test_disabled_and_foreign_sources_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text(
        "deb http://no.example/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "node.sources").write_text(
        "Types: deb\nURIs: https://deb.example\nSuites: nodistro\nComponents: main\nEnabled: no\n"
    )
    with pytest.raises(InvalidInput, match="no Debian source"):
        apt_mirror(tmp_path)


def test_tag_is_a_content_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = Mirror("http://mirror.example/debian", "bookworm")
    tag = image_tag(mirror)
    assert tag.startswith("sluice-runtime:") and len(tag.split(":")[1]) == 16
    assert image_tag(mirror) == tag
    assert image_tag(Mirror(mirror.uri, "trixie")) != tag
    changed = tmp_path / "requirements.txt"
    changed.write_text(image.REQUIREMENTS.read_text() + "numpy\n")
    monkeypatch.setattr(image, "REQUIREMENTS", changed)
    assert image_tag(mirror) != tag


def test_wheel_platforms_follow_the_image_glibc() -> None:
    platforms = image._platforms("2.36")[1::2]
    assert platforms[0].startswith("manylinux_2_17_") and platforms[-2].startswith(
        "manylinux_2_36_"
    )
    assert platforms[-1].startswith("manylinux2014_")


def _pins() -> dict[str, str]:
    """The runtime image's pins, name to version."""
    return dict(
        line.split("==")
        for line in image.REQUIREMENTS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )


def test_requirements_pin_what_the_runtime_imports() -> None:
    pins = _pins()
    # diffprivlib and scikit-learn train DP models broker-side (sluice_runtime.training)
    runtime = {"duckdb", "pandas", "pyarrow", "nbclient", "nbformat", "ipykernel"}
    assert set(pins) == runtime | {"diffprivlib", "scikit-learn"}


def test_this_environment_has_the_versions_the_image_pins() -> None:
    """The Makefile installs the venv under the image's pins, so a job's engine is the
    same under bubblewrap (this venv) and docker (the image)."""
    from importlib.metadata import version

    pins = _pins()
    assert {name: version(name) for name in pins} == pins


def test_dockerfile_installs_the_same_requirements() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "sandbox/runtime/requirements.txt" in dockerfile
    assert "USER 65534:65534" in dockerfile

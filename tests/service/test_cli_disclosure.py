"""`sluice disclosure publish` and `verify`, as a member of the public would check the
annual disclosure: it verifies with the public key; a flipped byte does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_published_report_verifies_and_a_flipped_byte_fails(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_cli("init", home=home, check=True)
    report = tmp_path / "annual-2026.json"
    run_cli("disclosure", "publish", "2026", "--out", str(report), home=home, check=True)
    key = str(home / "keys" / "domain-ed25519.pub.pem")
    ok = run_cli("disclosure", "verify", str(report), "--public-key", key, home=home)
    assert ok.returncode == 0 and "verified" in ok.stdout
    data = bytearray(report.read_bytes())
    data[len(data) // 2] ^= 0x01
    report.write_bytes(bytes(data))
    bad = run_cli("disclosure", "verify", str(report), "--public-key", key, home=home)
    assert bad.returncode != 0

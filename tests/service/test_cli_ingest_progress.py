"""`sluice catalog ingest` at a terminal: the bar moves by rows read, batch by batch,
through the real Typer app in process (drawn into a stream that says it is a terminal)."""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.commands import catalog as catalog_commands
from service.output import progress
from tests.conftest import ROWS, World


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_ingest_bar_moves_by_rows_read(
    world: World, demo_files: list[tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    screen, moves = Terminal(), []

    @contextmanager
    def watched(description: str, total: Any, as_json: bool) -> Iterator[Any]:
        """The CLI's own bar, drawn on `screen`; each move it is asked for is kept."""
        with progress(description, total, as_json, screen) as step:

            def move(text: str, completed: float | None = None) -> None:
                moves.append((text, completed))
                step(text, completed)

            yield move

    monkeypatch.setattr(catalog_commands, "progress", watched)
    monkeypatch.setattr(importlib.import_module("catalog.ingest"), "BATCH_ROWS", 1000)
    data, schema = demo_files[0]
    words = ["catalog", "ingest", str(data), "--schema", str(schema), "--new-version"]
    result = CliRunner().invoke(app, words)
    assert result.exit_code == 0, result.output
    shares = [(text, share) for text, share in moves if share is not None]
    assert shares == [
        (f"1,000 / {ROWS:,} rows", 1000 / ROWS),
        (f"2,000 / {ROWS:,} rows", 2000 / ROWS),
        (f"{ROWS:,} / {ROWS:,} rows", 1.0),
    ]
    assert "100%" in screen.getvalue()
    assert f"ingested enterprise_utilities version 2: {ROWS:,} rows" in result.stdout

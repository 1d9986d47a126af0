"""The folders every pre-started sandbox has on the host, whichever backend made it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SlotFolders"]


class SlotFolders:
    """`job`, `data` and `out` below a slot's own folder: what is mounted at /job, /data
    and /out inside it (a mixin for the backends' slot records, which set `path`)."""

    path: Path

    @property
    def job_dir(self) -> Path:
        return self.path / "job"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def out_dir(self) -> Path:
        return self.path / "out"

"""How much of an output the gate agrees to read, judged before it converts anything.

A Parquet file is judged by its footer alone (rows, columns, uncompressed bytes), so a
small file that would decompress to gigabytes is refused without being decompressed;
a CSV file is its own size, and its lines are counted in fixed-size chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

CHUNK = 1 << 20  # bytes read at a time when counting a CSV file's lines


@dataclass(frozen=True)
class OutputLimits:
    """Per output file; each has a domain setting (docs/hardening.md)."""

    max_rows: int = 2_000_000  # SLUICE_OUTPUT_MAX_ROWS
    max_cells: int = 20_000_000  # SLUICE_OUTPUT_MAX_CELLS: rows × columns
    max_bytes: int = 256_000_000  # SLUICE_OUTPUT_MAX_BYTES: uncompressed


@dataclass(frozen=True)
class OutputTooLarge:
    """Which limit a file broke, with the figures (no values from the file)."""

    limit: str  # output_rows | output_cells | output_bytes
    file: str
    found: int
    allowed: int

    def to_dict(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "file": self.file,
            "found": self.found,
            "allowed": self.allowed,
        }


@dataclass(frozen=True)
class _Size:
    rows: int
    columns: int
    bytes: int


def _parquet_size(path: Path) -> _Size:
    meta = pq.read_metadata(path)
    uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return _Size(meta.num_rows, meta.num_columns, uncompressed)


def _csv_size(path: Path, limits: OutputLimits) -> _Size:
    size = path.stat().st_size
    if size > limits.max_bytes:  # no need to count what is refused anyway
        return _Size(0, 0, size)
    lines = columns = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            if not columns:
                columns = chunk.split(b"\n", 1)[0].count(b",") + 1
            lines += chunk.count(b"\n")
    return _Size(max(lines - 1, 0), columns, size)


def oversized(paths: Sequence[Path], limits: OutputLimits) -> OutputTooLarge | None:
    """The first limit a table file among `paths` breaks, or None; other files are
    bounded by the sandbox's output-bytes limit already."""
    for path in sorted(paths, key=lambda p: p.name):
        if path.suffix == ".parquet":
            try:
                size = _parquet_size(path)
            except (OSError, ValueError):
                continue  # not Parquet after all: the gate holds it as a custom file
        elif path.suffix == ".csv":
            size = _csv_size(path, limits)
        else:
            continue
        for limit, found, allowed in (
            ("output_rows", size.rows, limits.max_rows),
            ("output_cells", size.rows * size.columns, limits.max_cells),
            ("output_bytes", size.bytes, limits.max_bytes),
        ):
            if found > allowed:
                return OutputTooLarge(limit, path.name, found, allowed)
    return None


# __<kind>__<cell>, as policies/rewrite.py names them
COMPANION_KINDS = ("top1", "top2", "abs", "sum", "cnt", "fx")
ROW_COMPANIONS = ("__n", "__lowest", "__sketch")


def misnamed_column(path: Path, cells: Sequence[str], companions: bool) -> str | None:
    """Why the SQL result's column names cannot be trusted, or None: a name twice, or
    a name starting with `__` that is not a companion of one of its `cells` (a rewritten
    query has `companions`, a public one none). The policy engine refuses such names;
    this is the backstop. Read from the footer only."""
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError):
        return None  # unreadable: the gate's own reading reports it
    seen: set[str] = set()
    known = set(ROW_COMPANIONS) | {f"__{k}__{c}" for k in COMPANION_KINDS for c in cells}
    allowed = known if companions else set()
    for name in names:
        if name in seen:
            return f"reserved_name: the output has two columns named {name}"
        seen.add(name)
        if name.startswith("__") and name not in allowed:
            return f"reserved_name: {name} starts with __, which is reserved for Sluice's own"
    return None

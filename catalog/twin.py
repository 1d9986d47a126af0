"""Synthetic twins (开发用合成孪生数据): a dataset's shape with no record of it.

A twin is made from a registered dataset's schema alone, never its rows: the same
stored columns and types, values inside declared bounds and code lists, identifiers
in their stored format but random. Operators develop SQL and notebooks on it locally.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog.desensitize import bucket, mask, pseudonym
from catalog.records import Dataset
from catalog.schema import ColumnSpec, DatasetSchema
from catalog.storage import arrow_schema, pandas_dtype
from catalog.synthetic import MOBILE_PREFIXES, _credit_codes
from catalog.twin_rows import DEFAULT_ROWS, MAX_ROWS
from core.errors import InvalidInput
from core.levels import Role

# Undeclared code lists are unknown here, so a dimension without categories gets
# this many placeholder labels ("street_07"): enough groups to exercise GROUP BY.
PLACEHOLDER_LABELS = 20
# Dates and timestamps carry no bounds in a schema; twins spread them over this span.
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2025, 12, 31)
# Integers and doubles that are not measures have no bounds either.
UNBOUNDED = (0.0, 1000.0)
# A stable epoch for zip entries, so the same twin is the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class TwinFiles:
    """What a twin consists of: its data, its data dictionary and a README."""

    dataset: str
    parquet: bytes
    dictionary: dict[str, Any]
    readme: str

    @property
    def names(self) -> tuple[str, str, str]:
        return (
            f"{self.dataset}.parquet",
            f"{self.dataset}.dictionary.json",
            f"{self.dataset}.README.md",
        )

    def contents(self) -> list[tuple[str, bytes]]:
        dictionary = json.dumps(self.dictionary, ensure_ascii=False, indent=2, sort_keys=True)
        parts = (self.parquet, dictionary.encode("utf-8"), self.readme.encode("utf-8"))
        return list(zip(self.names, parts, strict=True))

    def write(self, folder: Path) -> list[Path]:
        """Write the three files into `folder` (twins of several datasets may share one)."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in self.contents():
            path = folder / name
            path.write_bytes(content)
            written.append(path)
        return written

    def zip(self) -> bytes:
        """The three files as one zip; the same twin always gives the same bytes."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.contents():
                # Parquet is compressed already; deflating it again costs time for nothing
                how = zipfile.ZIP_STORED if name.endswith(".parquet") else zipfile.ZIP_DEFLATED
                archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), content, how)
        return buffer.getvalue()


def data_dictionary(schema: DatasetSchema) -> dict[str, Any]:
    """The dataset as `sluice_runtime.schema()` describes it: stored columns only."""
    columns = {
        c.name: {
            "level": str(c.level),
            "role": str(c.role),
            "type": c.stored_type,
            "bounds": list(c.bounds) if c.bounds is not None else None,
            "categories": list(c.categories) if c.categories is not None else None,
            "description": c.title or "",
        }
        for c in schema.stored_columns
    }
    return {schema.dataset: {"title": schema.title, "columns": columns}}


def synthesize(schema: DatasetSchema, rows: int = DEFAULT_ROWS, seed: int = 0) -> pa.Table:
    """A table shaped like the dataset's store, made from `schema` and `seed` only.

    Each column draws from its own generator (seeded by the seed and the column
    name), so adding a column leaves the others as they were, and identifier
    columns of the same name agree across datasets: twins join as the store does.
    """
    if not 1 <= rows <= MAX_ROWS:
        raise InvalidInput.coded("catalog_twin_rows", max_rows=MAX_ROWS, rows=rows)
    units = _unit_numbers(schema, rows, seed)
    frame = pd.DataFrame(
        {c.name: _stored_column(c, schema, units, seed) for c in schema.stored_columns}
    )
    table = pa.Table.from_pandas(frame, schema=arrow_schema(schema), preserve_index=False)
    return table.replace_schema_metadata(None)


def twin(schema: DatasetSchema, rows: int = DEFAULT_ROWS, seed: int = 0) -> TwinFiles:
    """The twin's files: Parquet, data dictionary and README."""
    sink = io.BytesIO()
    pq.write_table(synthesize(schema, rows, seed), sink)
    readme = _readme(schema, rows, seed)
    return TwinFiles(schema.dataset, sink.getvalue(), data_dictionary(schema), readme)


def issue_twin(
    session: Session,
    dataset: Dataset,
    actor: Actor,
    action: AuditAction,
    *,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    operator_id: int | None = None,
) -> TwinFiles:
    """A registered dataset's twin, recorded in the caller's transaction: who took it,
    of which dataset version, how many rows and which seed (so it can be made again)."""
    files = twin(dataset.schema(), rows, seed)
    details: dict[str, Any] = {
        "dataset": dataset.name,
        "version": dataset.version,
        "rows": rows,
        "seed": seed,
    }
    if operator_id is not None:
        details["operator_id"] = operator_id
    append(session, actor, action, f"dataset:{dataset.name}", details)
    return files


def _generator(seed: int, *names: str) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join([str(seed), *names]).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _unit_numbers(schema: DatasetSchema, rows: int, seed: int) -> np.ndarray:
    """Which synthetic unit each row belongs to: unit i has the same identifiers in
    every twin made with this seed; a unit has at most `contribution_limit` rows."""
    units = np.arange(rows) // schema.contribution_limit
    return _generator(seed, schema.dataset, "units").permutation(units)


def _stored_column(
    spec: ColumnSpec, schema: DatasetSchema, units: np.ndarray, seed: int
) -> pd.Series:
    if spec.role is Role.IDENTIFIER or spec.name == schema.privacy_unit:
        values = _identifiers(spec, units, seed)
    else:
        rng = _generator(seed, schema.dataset, spec.name)
        values = _stored_values(spec, rng, len(units))
        values = _with_nulls(values, spec, rng)
    return values.astype(pandas_dtype(spec.stored_type))


def _identifiers(spec: ColumnSpec, units: np.ndarray, seed: int) -> pd.Series:
    """Unit i's identifier: a random raw value in the column's format, desensitized as
    the store would, with a key made from the seed (never the domain's key)."""
    distinct = int(units.max()) + 1
    raw = pd.Series(_raw_identifiers(spec, _generator(seed, "identifier", spec.name), distinct))
    method = spec.desensitize.partition(":")[0]
    if method == "pseudonymize":
        key = hashlib.sha256(f"sluice-twin-key\x1f{seed}".encode()).digest()
        stored = raw.map(lambda value: pseudonym(value, key))
    elif method == "mask":
        stored = mask(raw.astype("string"))
    else:
        stored = raw
    return pd.Series(stored.to_numpy()[units])


def _raw_identifiers(spec: ColumnSpec, rng: np.random.Generator, count: int) -> list[str]:
    """Random values in the identifier's own format, told from its name and title."""
    hint = f"{spec.name} {spec.title or ''}".lower()
    if "信用代码" in hint or "credit" in hint or "uscc" in hint:
        return list(random_credit_codes(rng, count))
    if "phone" in hint or "mobile" in hint or "电话" in hint or "手机" in hint:
        prefixes = rng.choice(MOBILE_PREFIXES, size=count)
        return [f"{p}{n:08d}" for p, n in zip(prefixes, rng.integers(0, 10**8, count), strict=True)]
    return [f"{n:012d}" for n in rng.integers(0, 10**12, count)]


def random_credit_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Distinct random 统一社会信用代码 with both check characters right (GB 32100-2015),
    over random division codes and founding dates (old- and new-style bodies)."""
    divisions = rng.integers(110000, 660000, size=count).astype(str)
    first, last = np.datetime64(FIRST_DAY), np.datetime64(LAST_DAY)
    span = int((last - first).astype(int)) + 1
    founded = first + rng.integers(0, span, count).astype("timedelta64[D]")
    return _credit_codes(rng, divisions, founded)


def _stored_values(spec: ColumnSpec, rng: np.random.Generator, rows: int) -> pd.Series:
    method, _, argument = spec.desensitize.partition(":")
    if spec.categories is not None:
        return pd.Series(rng.choice(np.array(spec.categories, dtype=object), size=rows))
    if spec.type in ("date", "timestamp"):
        return _temporal(spec, rng, rows, argument if method == "generalize" else "")
    if spec.type in ("integer", "double"):
        numbers = _numbers(spec, rng, rows)
        if method == "generalize" and argument.startswith("bucket:"):
            return bucket(pd.Series(numbers), float(argument.split(":")[1]))
        return pd.Series(numbers)
    if spec.type == "boolean":
        return pd.Series(rng.random(rows) < 0.5)
    if method == "generalize" and argument.startswith("prefix:"):
        width = int(argument.split(":")[1])
        alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
        return pd.Series(["".join(rng.choice(alphabet, width)) for _ in range(rows)])
    labels = [f"{spec.name}_{k:02d}" for k in range(1, PLACEHOLDER_LABELS + 1)]
    return pd.Series(rng.choice(np.array(labels, dtype=object), size=rows))


def _numbers(spec: ColumnSpec, rng: np.random.Generator, rows: int) -> np.ndarray:
    """Skewed towards the low end, as money and headcounts are, always within bounds."""
    lo, hi = spec.bounds if spec.bounds is not None else UNBOUNDED
    values = lo + (hi - lo) * rng.random(rows) ** 4
    if spec.type == "integer":
        return np.clip(np.floor(values), np.ceil(lo), np.floor(hi)).astype(np.int64)
    return np.clip(np.round(values, 2), lo, hi)


def _temporal(spec: ColumnSpec, rng: np.random.Generator, rows: int, period: str) -> pd.Series:
    first, last = np.datetime64(FIRST_DAY), np.datetime64(LAST_DAY)
    span = int((last - first).astype(int)) + 1
    days = first + rng.integers(0, span, rows).astype("timedelta64[D]")
    stamps = pd.Series(pd.to_datetime(days))
    if period in ("year", "month"):
        stamps = stamps.dt.to_period("Y" if period == "year" else "M").dt.start_time
    if spec.stored_type == "date":
        return stamps.dt.date
    seconds = rng.integers(0, 86_400, rows)
    return stamps + pd.to_timedelta(seconds, unit="s")


def _with_nulls(values: pd.Series, spec: ColumnSpec, rng: np.random.Generator) -> pd.Series:
    """Blank a declared share of the column's values (none unless the schema says)."""
    if not spec.null_rate:
        return values
    holed = values.astype(object)
    holed[rng.random(len(values)) < spec.null_rate] = None
    return holed


def _readme(schema: DatasetSchema, rows: int, seed: int) -> str:
    lines = [
        f"# {schema.dataset}: synthetic twin / 合成孪生数据",
        "",
        f"{schema.title}. {rows} synthetic rows, seed {seed}.",
        "",
        "This file holds no real record: it was generated from the dataset's registered",
        "schema alone. Columns, stored types, declared categories and bounds match what a",
        "sandbox job sees; values, distributions, correlations and group sizes do not.",
        "本文件不含任何真实记录，仅依据登记的数据结构生成，用于本地开发与调试。",
        "",
        f"- `{schema.dataset}.parquet`: the data, one DuckDB view `{schema.dataset}` in",
        "  `sluice_runtime` local mode (`SLUICE_TWIN=<this folder>`).",
        f"- `{schema.dataset}.dictionary.json`: the data dictionary, as `sluice_runtime.schema()`.",
        "",
        "| column | level | role | type | bounds / categories |",
        "|---|---|---|---|---|",
    ]
    for c in schema.stored_columns:
        shown = (
            f"{c.bounds[0]:g} – {c.bounds[1]:g}"
            if c.bounds
            else f"{len(c.categories)} categories"
            if c.categories
            else ""
        )
        lines.append(f"| {c.name} | {c.level} | {c.role} | {c.stored_type} | {shown} |")
    return "\n".join(lines) + "\n"

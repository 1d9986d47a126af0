"""Ingest (数据归集): a raw file and its schema become a registered, desensitized dataset.

Everything is checked and transformed in memory before a byte is written; the
files land by one atomic rename and leave again if the registration fails or
the caller's transaction rolls back, so nothing half-ingested stays behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

import audit_log
from audit_log import Actor, AuditAction
from catalog.desensitize import desensitize
from catalog.identifiers import build_identifier_index, save_index
from catalog.records import Dataset, schema_document
from catalog.schema import ColumnSpec, DatasetSchema
from catalog.storage import arrow_schema, pandas_dtype
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, SchemaInvalid, Step
from core.home import Home

Progress = Callable[[str], None]
DATA_FILE = "data.parquet"
INDEX_FILE = "identifiers.bin"
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}


def ingest(
    session: Session,
    home: Home,
    source: Path,
    schema: DatasetSchema,
    actor: Actor,
    progress: Progress | None = None,
    new_version: bool = False,
) -> Dataset:
    """Register `source` as dataset `schema.dataset`; the caller commits the transaction.

    With `new_version`, a registered dataset is ingested again as its next version: the
    row points at new files (the earlier version's stay, for jobs and releases that
    used them) and `dataset.versioned` is logged."""
    say = progress or (lambda _message: None)
    name = schema.dataset
    previous = _previous_version(session, name) if new_version else None
    if previous is None:
        _refuse_existing(session, home, name, new_version)
    version = previous.version + 1 if previous is not None else 1
    digest = file_digest(source)
    say(f"reading {source.name}")
    raw = read_source(source, schema)
    say(f"desensitizing {len(raw):,} rows")
    key = home.pseudonym_key()
    stored = desensitize(raw, schema, key)
    hashes = build_identifier_index(raw, schema, key)
    say(f"writing {DATA_FILE} and {INDEX_FILE} ({len(hashes):,} identifier digests)")
    folder = _write_files(home, _folder_name(name, version), _as_stored(stored, schema), hashes)
    try:
        dataset = previous or Dataset(name=name)
        dataset.title = schema.title
        dataset.owner = schema.owner
        dataset.privacy_unit = schema.privacy_unit
        dataset.schema_json = schema_document(schema)
        dataset.version = version
        dataset.store_path = (folder / DATA_FILE).relative_to(home.root).as_posix()
        dataset.identifier_index_path = (folder / INDEX_FILE).relative_to(home.root).as_posix()
        dataset.row_count = len(stored)
        dataset.source_digest = digest
        dataset.ingested_at = utcnow()
        session.add(dataset)
        details = {
            "rows": len(stored),
            "source": source.name,
            "source_digest": digest,
            "version": version,
            "columns": {c.name: str(c.level) for c in schema.columns},
            "dropped": [c.name for c in schema.columns if not c.stored],
        }
        action = AuditAction.DATASET_VERSIONED if previous else AuditAction.DATASET_INGESTED
        audit_log.append(session, actor, action, f"dataset:{name}", details)
        session.flush()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _remove_on_rollback(session, folder)
    say(f"registered {name} version {version}: {len(stored):,} rows")
    return dataset


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if dataset is None:
        known = [d.name for d in list_datasets(session)]
        hint = f"known datasets: {', '.join(known)}" if known else "no dataset is registered yet"
        raise NotFound(f"no dataset named {name!r}; {hint}")
    return dataset


def list_datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


def file_digest(path: Path) -> str:
    """SHA-256 of the source file, so a regulator can tie the dataset to what was handed over."""
    if not path.is_file():
        raise InvalidInput(f"source file {path} does not exist; check the path")
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _previous_version(session: Session, name: str) -> Dataset | None:
    return session.scalars(select(Dataset).where(Dataset.name == name)).first()


def _folder_name(name: str, version: int) -> str:
    """Version 1 keeps the plain name (as every store before versions); later ones add it."""
    return name if version == 1 else f"{name}.v{version}"


def _refuse_existing(session: Session, home: Home, name: str, new_version: bool) -> None:
    existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if existing is not None:
        raise Conflict(
            f"dataset {name} is already registered (version {existing.version})",
            suggestion="choose another name, or ingest it as a new version",
            step=Step.INGEST_NEW_VERSION,
        )
    if (home.store / name).exists():
        raise Conflict(
            f"{home.store / name} exists but no dataset {name} is registered "
            "(left by an interrupted ingest); remove that folder and ingest again"
        )


def read_source(source: Path, schema: DatasetSchema) -> pd.DataFrame:
    """Read a CSV or Parquet file and type every column as the schema says."""
    frame = _read_file(source)
    expected = [c.name for c in schema.columns]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        found = "; ".join(
            f"{label} columns: {', '.join(names)}"
            for label, names in (("missing", missing), ("extra", extra))
            if names
        )
        raise SchemaInvalid(
            f"{source.name} does not match schema {schema.dataset}: {found}; make the header "
            "match the schema, or list extra columns with level L4 or desensitize: drop"
        )
    if frame.empty:
        raise InvalidInput(f"{source.name} has no data rows; nothing to ingest")
    first_line = 2 if source.suffix.lower() == ".csv" else None
    return pd.DataFrame(
        {c.name: typed_column(frame[c.name], c, first_line) for c in schema.columns},
        index=frame.index,
    )


def _read_file(source: Path) -> pd.DataFrame:
    suffix = source.suffix.lower()
    try:
        if suffix == ".csv":
            # Everything as text first, so typing can name the first bad value;
            # only an empty cell is null ("NA" may be a real value).
            frame = pd.read_csv(
                source, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
            )
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(source)
        else:
            raise InvalidInput(
                f"{source.name}: unsupported file type {suffix or '(none)'!r}; "
                "ingest a .csv (UTF-8) or .parquet file"
            )
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{source.name} is empty; nothing to ingest") from None
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{source.name} is not UTF-8 text; convert it first "
            f"(for GBK: iconv -f GBK -t UTF-8 {source.name})"
        ) from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise InvalidInput(f"{source.name} could not be read ({exc}); check the file") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def typed_column(series: pd.Series, spec: ColumnSpec, first_line: int | None) -> pd.Series:
    """Convert one column to its schema type; a value that does not parse is refused by row."""
    present = series.notna()
    if spec.type == "string":
        return series.astype("string")
    if spec.type in ("integer", "double"):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        bad = present & ~np.isfinite(values.fillna(0.0).to_numpy())
        bad |= present & values.isna()
        if spec.type == "integer":
            bad |= values.notna() & (values % 1 != 0)
    elif spec.type in ("date", "timestamp"):
        values = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
        values = values.dt.tz_localize(None)
        bad = present & values.isna()
        if spec.type == "date":
            bad |= values.notna() & (values != values.dt.normalize())
    else:
        words = series.astype("string").str.strip().str.lower()
        values = words.map(
            lambda w: True if w in TRUE_WORDS else False if w in FALSE_WORDS else None
        )
        bad = present & values.isna()
    if bad.any():
        raise _bad_value(series, spec, bad, first_line)
    return values.astype(pandas_dtype(spec.type))


def _bad_value(
    series: pd.Series, spec: ColumnSpec, bad: pd.Series, first_line: int | None
) -> SchemaInvalid:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    where = f"row {position + 1}"
    if first_line is not None:
        where += f" (line {position + first_line} of the file)"
    more = int(bad.sum()) - 1
    others = f", and {more} more" if more else ""
    return SchemaInvalid(
        f"column {spec.name!r}, {where}: {series.iloc[position]!r} is not a valid "
        f"{spec.type}{others}; fix the value or the column's type in the schema"
    )


def _as_stored(frame: pd.DataFrame, schema: DatasetSchema) -> pa.Table:
    """The store's table with every column in exactly its stored type, whatever pandas inferred."""
    return pa.Table.from_pandas(frame, schema=arrow_schema(schema), preserve_index=False)


def _write_files(home: Home, name: str, stored: pa.Table, hashes: set[str]) -> Path:
    """Write into a hidden temporary folder, then rename it into place in one step."""
    home.store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".ingest-{name}-", dir=home.store))
    final = home.store / name
    try:
        pq.write_table(stored, staging / DATA_FILE)
        save_index(staging / INDEX_FILE, hashes)
        # mkdtemp makes 0700; sandboxes read the store as an unprivileged user.
        os.chmod(staging, 0o755)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


_PENDING = "sluice.catalog.ingested_folders"


def _remove_on_rollback(session: Session, folder: Path) -> None:
    """Delete the folder unless the caller's transaction commits the row that names it."""
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _forget_pending)
        event.listen(session, "after_transaction_end", _discard_pending)
    session.info[_PENDING].append(folder)


def _forget_pending(session: Session) -> None:
    session.info[_PENDING].clear()


def _discard_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    for folder in session.info[_PENDING]:
        shutil.rmtree(folder, ignore_errors=True)
    session.info[_PENDING].clear()

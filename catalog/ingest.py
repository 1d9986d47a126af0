"""Ingest (数据归集): a raw file and its schema become a registered, desensitized dataset.

The file is read, checked, desensitized and written in batches, so memory stays
flat whatever its size; the files are written to a hidden folder and land by one
atomic rename and leave again if the registration fails or
the caller's transaction rolls back, so nothing half-ingested stays behind.
Staging needs no database, so a long file need not hold a write transaction open
(SQLite's lock would stop every other writer): only registration does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

import audit_log
from audit_log import Actor, AuditAction
from catalog.csv_batches import header, text_batches
from catalog.desensitize import desensitize
from catalog.identifiers import (
    IndexSpill,
    hashed_together,
    identifier_digests,
    pseudonyms_and_digests,
)
from catalog.read_ahead import read_ahead
from catalog.records import Dataset, schema_document
from catalog.schema import ColumnSpec, DatasetSchema
from catalog.storage import arrow_schema, pandas_dtype
from catalog.store_writer import StoreWriter
from catalog.unit_rows import UnitRepeats
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, SchemaInvalid, Step
from core.home import Home

Progress = Callable[[str], None]
# rows read so far and rows expected (exact for Parquet, the file's line count for CSV)
RowsRead = Callable[[int, int], None]
DATA_FILE = "data.parquet"
INDEX_FILE = "identifiers.bin"
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}
BATCH_ROWS = 500_000  # rows read, checked, desensitized and written at a time


def ingest(
    session: Session,
    home: Home,
    source: Path,
    schema: DatasetSchema,
    actor: Actor,
    progress: Progress | None = None,
    new_version: bool = False,
    rows_read: RowsRead | None = None,
) -> Dataset:
    """Register `source` as dataset `schema.dataset`; the caller commits the transaction.

    With `new_version`, a registered dataset is ingested again as its next version: the
    row points at new files (the earlier version's stay, for jobs and releases that
    used them) and `dataset.versioned` is logged. `rows_read` hears after each batch how
    far the file has been read, for a progress bar. A caller sharing the database with
    others uses `ingest_in_steps`, which holds no transaction while the file is read."""
    check_ingest_target(session, home, schema.dataset, new_version)  # refused before reading
    staged = stage_source(home, source, schema, progress, rows_read)
    return register_staged(session, home, staged, schema, actor, progress, new_version)


def ingest_in_steps(
    transaction: Callable[[], AbstractContextManager[Session]],
    home: Home,
    source: Path,
    schema: DatasetSchema,
    actor: Actor,
    progress: Progress | None = None,
    new_version: bool = False,
    rows_read: RowsRead | None = None,
) -> Dataset:
    """`ingest`, committed, in transactions of its own (each from `transaction()`), none
    open while the file is read: on SQLite an open write transaction would stop every
    other writer (a console's logins, a worker's jobs) for as long as the file takes."""
    with transaction() as session:
        check_ingest_target(session, home, schema.dataset, new_version)  # before reading
    staged = stage_source(home, source, schema, progress, rows_read)
    with transaction() as session:
        return register_staged(session, home, staged, schema, actor, progress, new_version)


@dataclass(frozen=True)
class StagedSource:
    """A source read, checked, desensitized and written to a hidden folder of the store,
    not yet registered (nor visible under the dataset's name)."""

    folder: Path
    source: str
    digest: str
    rows: int
    indexed: int
    one_row_per_unit: bool  # no unit has two rows (catalog.unit_rows), counted here


def check_ingest_target(
    session: Session, home: Home, name: str, new_version: bool
) -> Dataset | None:
    """The registered dataset a new version follows (None for a new dataset); Conflict if
    `name` is taken and no new version was asked for."""
    previous = _previous_version(session, name) if new_version else None
    if previous is None:
        _refuse_existing(session, home, name, new_version)
    return previous


def stage_source(
    home: Home,
    source: Path,
    schema: DatasetSchema,
    progress: Progress | None = None,
    rows_read: RowsRead | None = None,
) -> StagedSource:
    """Read, check, desensitize and write `source` to a hidden folder; no database."""
    say = progress or (lambda _message: None)
    if not source.is_file():
        raise InvalidInput.coded("ingest_source_missing", path=str(source))
    say(f"reading {source.name} in batches of {BATCH_ROWS:,} rows")
    # the file's digest is read on a thread of its own beside the batches (SHA-256 runs
    # outside the GIL): 0.65 s at 10M rows that no longer come before the first batch
    refused = threading.Event()  # a refused file's digest is never used: stop reading it
    with ThreadPoolExecutor(1, thread_name_prefix="sluice-ingest-digest") as beside:
        digest = beside.submit(file_digest, source, refused)
        try:
            folder, rows, indexed, single = _stream_to_store(home, source, schema, say, rows_read)
        except BaseException:
            refused.set()
            raise
        try:
            return StagedSource(folder, source.name, digest.result(), rows, indexed, single)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def register_staged(
    session: Session,
    home: Home,
    staged: StagedSource,
    schema: DatasetSchema,
    actor: Actor,
    progress: Progress | None = None,
    new_version: bool = False,
) -> Dataset:
    """Move a staged source into place as the dataset's next version and register it; the
    caller commits. The staged folder is removed if this fails or the transaction rolls
    back, so nothing half-ingested stays behind."""
    say = progress or (lambda _message: None)
    name = schema.dataset
    try:
        previous = check_ingest_target(session, home, name, new_version)
        version = previous.version + 1 if previous is not None else 1
        folder = _publish(home, _folder_name(name, version), staged.folder)
    except BaseException:
        shutil.rmtree(staged.folder, ignore_errors=True)
        raise
    rows, indexed = staged.rows, staged.indexed
    say(f"registering {name} version {version}: {rows:,} rows, {indexed:,} identifier digests")
    try:
        dataset = previous or Dataset(name=name)
        dataset.title = schema.title
        dataset.owner = schema.owner
        dataset.privacy_unit = schema.privacy_unit
        dataset.schema_json = schema_document(schema)
        dataset.version = version
        dataset.store_path = (folder / DATA_FILE).relative_to(home.root).as_posix()
        dataset.identifier_index_path = (folder / INDEX_FILE).relative_to(home.root).as_posix()
        dataset.row_count = rows
        dataset.one_row_per_unit = staged.one_row_per_unit
        dataset.unit_digests = True  # every batch is written with them (StoreWriter)
        dataset.unit_checks = True
        dataset.source_digest = staged.digest
        dataset.ingested_at = utcnow()
        session.add(dataset)
        details = {
            "rows": rows,
            "source": staged.source,
            "source_digest": staged.digest,
            "version": version,
            "one_row_per_unit": staged.one_row_per_unit,
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
    say(f"registered {name} version {version}: {rows:,} rows")
    return dataset


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if dataset is None:
        known = [d.name for d in list_datasets(session)]
        if not known:
            raise NotFound.coded("dataset_missing_none", name=name)
        raise NotFound.coded("dataset_missing", name=name, known=", ".join(known))
    return dataset


def list_datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


def file_digest(path: Path, stopped: threading.Event) -> str:
    """SHA-256 of the source file, so a regulator can tie the dataset to what was handed
    over. Read a megabyte at a time until `stopped` is set (an ingest refused meanwhile:
    the digest of what was read is then never used)."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if stopped.is_set():
                break
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
        raise Conflict.coded(
            "dataset_registered",
            suggestion="choose another name, or ingest it as a new version",
            step=Step.INGEST_NEW_VERSION,
            name=name,
            version=existing.version,
        )
    if (home.store / name).exists():
        raise Conflict.coded("ingest_folder_left", folder=str(home.store / name), name=name)


def read_source(source: Path, schema: DatasetSchema) -> pd.DataFrame:
    """Read a CSV or Parquet file whole with pandas and type every column as the schema
    says: the independent reading the streaming ingest (catalog.csv_batches) is tested
    against. Unlike ingest, it fills a row with too few values with nulls."""
    frame = _read_file(source)
    _check_columns(source, schema, list(frame.columns))
    if frame.empty:
        raise InvalidInput.coded("ingest_no_rows", file=source.name)
    first_line = 2 if source.suffix.lower() == ".csv" else None
    return pd.DataFrame(
        {c.name: typed_column(frame[c.name], c, first_line) for c in schema.columns},
        index=frame.index,
    )


def _readable_suffix(source: Path) -> str:
    """The file's suffix, if ingest can read that kind of file."""
    suffix = source.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        if not suffix:
            raise InvalidInput.coded("ingest_no_file_type", file=source.name)
        raise InvalidInput.coded("ingest_file_type", file=source.name, suffix=suffix)
    return suffix


def _read_file(source: Path) -> pd.DataFrame:
    suffix = _readable_suffix(source)
    with _read_errors(source):
        if suffix == ".csv":
            # Everything as text first, so typing can name the first bad value;
            # only an empty cell is null ("NA" may be a real value).
            frame = pd.read_csv(
                source, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
            )
        else:
            frame = pd.read_parquet(source)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def typed_column(series: pd.Series, spec: ColumnSpec, first_line: int | None) -> pd.Series:
    """Convert one column to its schema type; a value that does not parse is refused by row."""
    values, bad = _typed(series, spec)
    if bad is not None and bad.any():
        raise _bad_value(series, spec, bad, first_line)
    return values


def _typed(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series | None]:
    """The column in its schema type, and which values did not parse (None: all did).
    The values are only in their final dtype when nothing is bad."""
    present = series.notna()
    if spec.type == "string":
        return series.astype("string"), None
    if spec.type in ("integer", "double"):
        values = _numbers(series)
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
        return values, bad
    return values.astype(pandas_dtype(spec.type)), None


def _numbers(series: pd.Series) -> pd.Series:
    """Text parsed as float64, NaN where it does not parse. Arrow's parser takes a batch
    in a tenth of pandas' time and gives the same doubles bit for bit (tested); where it
    refuses any value (' 4 ' with spaces, which pandas takes), pandas parses the batch."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        try:
            parsed = pc.cast(pa.array(series.array), pa.float64())
        except pa.ArrowInvalid:
            pass
        else:
            numbers = parsed.to_numpy(zero_copy_only=False)
            return pd.Series(numbers, index=series.index, dtype="float64")
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _bad_value(
    series: pd.Series, spec: ColumnSpec, bad: pd.Series, first_line: int | None
) -> SchemaInvalid:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    return _bad_message(spec, position, series.iloc[position], int(bad.sum()), first_line)


def _bad_message(
    spec: ColumnSpec, position: int, value: object, count: int, first_line: int | None
) -> SchemaInvalid:
    row, more = position + 1, count - 1
    if first_line is None and not more:
        return SchemaInvalid.coded(
            "ingest_bad_value", column=spec.name, row=row, value=value, type=spec.type
        )
    if first_line is None:
        return SchemaInvalid.coded(
            "ingest_bad_values", column=spec.name, row=row, value=value, type=spec.type, more=more
        )
    line = position + first_line
    if not more:
        return SchemaInvalid.coded(
            "ingest_bad_value_line",
            column=spec.name,
            row=row,
            line=line,
            value=value,
            type=spec.type,
        )
    return SchemaInvalid.coded(
        "ingest_bad_values_line",
        column=spec.name,
        row=row,
        line=line,
        value=value,
        type=spec.type,
        more=more,
    )


@dataclass
class _Bad:
    """A column's first value that did not parse (row from 0), and how many did not."""

    position: int
    value: object
    count: int = 0


def _raw_batches(source: Path) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The file's column names, and its rows in batches of BATCH_ROWS, as text (CSV,
    catalog.csv_batches) or as stored (Parquet)."""
    if _readable_suffix(source) == ".csv":
        written = header(source)
        batches = text_batches(source, written, BATCH_ROWS)
    else:
        with _read_errors(source):
            parquet = pq.ParquetFile(source)
        written = parquet.schema_arrow.names
        batches = _parquet_batches(source, parquet)
    names = [str(c).strip() for c in written]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput.coded(
            "ingest_header_duplicate", file=source.name, names=", ".join(twice)
        )
    return names, _named(batches, names)


def _parquet_batches(source: Path, parquet: pq.ParquetFile) -> Iterator[pd.DataFrame]:
    with _read_errors(source):
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield batch.to_pandas()


def _named(batches: Iterator[pd.DataFrame], names: list[str]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        batch.columns = names
        yield batch.reset_index(drop=True)


@contextmanager
def _read_errors(source: Path) -> Iterator[None]:
    try:
        yield
    except pd.errors.EmptyDataError:
        raise InvalidInput.coded("ingest_file_empty", file=source.name) from None
    except UnicodeDecodeError:
        raise InvalidInput.coded("ingest_not_utf8", file=source.name) from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise InvalidInput.coded("ingest_unreadable", file=source.name, detail=str(exc)) from None


def _check_columns(source: Path, schema: DatasetSchema, names: list[str]) -> None:
    expected = [c.name for c in schema.columns]
    missing = [c for c in expected if c not in names]
    extra = [c for c in names if c not in expected]
    file, dataset = source.name, schema.dataset
    if missing and extra:
        raise SchemaInvalid.coded(
            "ingest_header_mismatch",
            file=file,
            dataset=dataset,
            missing=", ".join(missing),
            extra=", ".join(extra),
        )
    if missing:
        raise SchemaInvalid.coded(
            "ingest_header_missing", file=file, dataset=dataset, missing=", ".join(missing)
        )
    if extra:
        raise SchemaInvalid.coded(
            "ingest_header_extra", file=file, dataset=dataset, extra=", ".join(extra)
        )


def _stream_to_store(
    home: Home,
    source: Path,
    schema: DatasetSchema,
    say: Progress,
    rows_read: RowsRead | None,
) -> tuple[Path, int, int, bool]:
    """Read, type, desensitize and write `source` one batch at a time, so memory stays
    flat whatever the file's size (the identifier index is spilled to disk by first byte
    and sorted one bucket at a time: catalog.identifiers.IndexSpill).

    A value that does not parse stops the writing but not the reading: the error names
    the first bad value of the first such column, and counts them all, as a whole-file
    read would. Returns the staging folder, the row count, the index's size and
    whether no unit has two rows, counted as the batches are written (catalog.unit_rows).
    """
    names, batches = _raw_batches(source)
    _check_columns(source, schema, names)
    first_line = 2 if source.suffix.lower() == ".csv" else None
    expected = _expected_rows(source) if rows_read is not None else 0
    key = home.pseudonym_key()
    staging = _staging(home, schema.dataset)
    index = IndexSpill(staging / "index-spill")
    units = UnitRepeats(staging / "unit-spill")
    try:
        rows, bad = 0, dict[str, _Bad]()
        # the next batch is parsed, and the last written, while this one is hashed
        ahead = read_ahead(batches)
        hashed = [c.name for c in schema.stored_columns if c.desensitize == "pseudonymize"]
        store = StoreWriter(staging / DATA_FILE, schema.privacy_unit, index, units, hashed)
        try:
            for raw in ahead:
                typed: dict[str, pd.Series] = {}
                for spec in schema.columns:
                    values, wrong = _typed(raw[spec.name], spec)
                    if wrong is not None and wrong.any():
                        first = int(np.flatnonzero(wrong.to_numpy())[0])
                        seen = bad.setdefault(
                            spec.name, _Bad(rows + first, raw[spec.name].iloc[first])
                        )
                        seen.count += int(wrong.sum())
                    typed[spec.name] = values
                if not bad:
                    say(f"desensitizing and writing rows {rows + 1:,}-{rows + len(raw):,}")
                    frame = pd.DataFrame(typed, index=raw.index)
                    store.add(*_desensitized(frame, schema, key))
                rows += len(raw)
                if rows_read is not None:
                    rows_read(rows, max(expected, rows))
        finally:
            ahead.close()
            store.close()
        for spec in schema.columns:
            if spec.name in bad:
                b = bad[spec.name]
                raise _bad_message(spec, b.position, b.value, b.count, first_line)
        if rows == 0:
            raise InvalidInput.coded("ingest_no_rows", file=source.name)
        say(f"writing {INDEX_FILE}")
        # the unit digests' buckets are sorted on a second core beside the index's
        with ThreadPoolExecutor(1, thread_name_prefix="sluice-ingest-units") as beside:
            counted = beside.submit(units.one_row_per_unit)
            indexed = index.write(staging / INDEX_FILE)
            single = counted.result()
        return staging, rows, indexed, single
    except BaseException:
        index.discard()
        units.discard()
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _expected_rows(source: Path) -> int:
    """How many rows the file holds: Parquet says; for CSV, its lines after the header
    (more than the rows only if quoted values span lines), counted without parsing."""
    if source.suffix.lower() != ".csv":
        return int(pq.ParquetFile(source).metadata.num_rows)
    lines, last = 0, b"\n"
    with source.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines - (last == b"\n"), 0)


def _desensitized(
    frame: pd.DataFrame, schema: DatasetSchema, key: bytes
) -> tuple[pa.Table, np.ndarray]:
    """A typed batch's stored table and its identifier-index entries; a pseudonymized
    text identifier is hashed for both in one pass (identifiers.pseudonyms_and_digests)."""
    given, entries = {}, []
    for name in hashed_together(schema):
        given[name], digests = pseudonyms_and_digests(frame[name], key)
        entries.append(digests)
    entries.append(identifier_digests(frame, schema, key, done=list(given)))
    return _as_stored(desensitize(frame, schema, key, given), schema), np.concatenate(entries)


def _as_stored(frame: pd.DataFrame, schema: DatasetSchema) -> pa.Table:
    """The store's table with every column in exactly its stored type, whatever pandas
    inferred (the writer adds each row's unit digest: catalog.store_writer)."""
    return pa.Table.from_pandas(frame, schema=arrow_schema(schema), preserve_index=False)


def _staging(home: Home, name: str) -> Path:
    """A hidden temporary folder in the store, renamed into place once complete."""
    home.store.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".ingest-{name}-", dir=home.store))


def _publish(home: Home, name: str, staging: Path) -> Path:
    """Move a complete staging folder into place in one step."""
    final = home.store / name
    # mkdtemp makes 0700; sandboxes read the store as an unprivileged user.
    os.chmod(staging, 0o755)
    os.rename(staging, final)
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

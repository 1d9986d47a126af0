"""Run one rewritten SELECT in DuckDB, locked to its datasets, and write the result to /out.

DuckDB is the second wall after the sandbox: once the views exist, file access
is switched off except for the dataset files (and the one output file), and the
configuration is locked so the query cannot switch it back on.

DuckDB writes the result itself when every column has a type it writes to Parquet
exactly as pyarrow would (`WRITTEN_BY_DUCKDB`, compared type by type in
tests/sandbox/test_result_writer.py) and the names are distinct: importing pyarrow
cost about as much CPU as the rest of a small job's sandbox. Any other result is
streamed through pyarrow, loaded only then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from . import EXIT_OUTPUT_FAILED, EXIT_QUERY_FAILED, JobFailed
from .jobspec import JobSpec

# The sandbox's own spill folder (bubblewrap mounts one, with the spill quota); a
# sandbox without one spills into its small /tmp.
SPILL_DIR = Path("/spill")
FALLBACK_SPILL_DIR = "/tmp/duckdb"


def spill_directory() -> str:
    return str(SPILL_DIR) if SPILL_DIR.is_dir() else FALLBACK_SPILL_DIR


def connect(
    datasets: dict[str, str],
    *,
    output: str | None = None,
    threads: int = 2,
    memory_limit: str | None = None,
    spill_limit: str | None = None,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per dataset and nothing else reachable.

    `output`, if given, is the one file besides the datasets that the connection may
    reach: DuckDB writes the result there (a SELECT cannot, `only_select`).
    What outgrows `memory_limit` spills to `temp_directory`, up to `spill_limit`
    (DuckDB's max_temp_directory_size): past it the query fails naming that setting,
    which the host reads as the spill quota.

    Order matters: views are created while files are reachable; allowed_paths
    must list the dataset files before external access goes off, or the views
    stop working; the lock comes last so no statement can undo the rest.
    """
    con = duckdb.connect(":memory:")
    temp = temp_directory or spill_directory()
    settings: list[tuple[str, Any]] = [("threads", threads), ("temp_directory", temp)]
    if memory_limit:
        settings.append(("memory_limit", memory_limit))
    if spill_limit:
        settings.append(("max_temp_directory_size", spill_limit))
    settings += [
        ("autoinstall_known_extensions", False),
        ("autoload_known_extensions", False),
        ("allow_community_extensions", False),
    ]
    for name, value in settings:
        con.execute(f"SET {name} = {_literal(value)}")
    for name, path in sorted(datasets.items()):
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_literal(path)})')
    allowed = [*datasets.values(), *([output] if output else [])]
    con.execute(f"SET allowed_paths = [{', '.join(_literal(p) for p in allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def only_select(sql: str) -> None:
    """Refuse anything but a single SELECT: the policy engine emits nothing else."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise _query_failed(exc) from exc
    kinds = [s.type.name for s in statements]
    if kinds != ["SELECT"]:
        shown = ", ".join(kinds) or "nothing"
        raise JobFailed(EXIT_QUERY_FAILED, f"query failed: expected one SELECT, got {shown}")


def run(spec: JobSpec, out_dir: Path) -> dict[str, Any]:
    """Execute the spec's query; write <output> and its .meta.json; return the meta."""
    only_select(spec.sql)
    path = out_dir / spec.output
    try:
        con = connect(
            spec.datasets or {},
            output=str(path),
            threads=spec.threads,
            memory_limit=spec.memory_limit,
            spill_limit=spec.spill_limit,
        )
        relation = con.sql(spec.sql)
        names, types = relation.columns, relation.types
        columns = [{"name": n, "type": str(t)} for n, t in zip(names, types, strict=True)]
    except (duckdb.Error, MemoryError) as exc:
        raise _query_failed(exc) from exc
    if duckdb_writes(names, types):
        rows = _write_with_duckdb(con, relation, path)
    else:
        rows = _write_with_arrow(relation, path)
    meta = {"rows": rows, "columns": columns}
    try:
        (out_dir / spec.meta_name).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    except OSError as exc:
        raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
    return meta


# DuckDB type ids whose Parquet, read back with pyarrow, has the same Arrow type and
# values as pyarrow's own file from DuckDB's Arrow export. Not here, for instance:
# TIMESTAMPTZ (the zone reads back as "UTC", not "Etc/UTC"), TIMESTAMP_S/_MS/_NS
# (other units), UUID (an extension type), ENUM (plain text), UHUGEINT.
WRITTEN_BY_DUCKDB = frozenset(
    {
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "float",
        "double",
        "decimal",
        "varchar",
        "blob",
        "date",
        "time",
        "timestamp",
        "hugeint",  # as DECIMAL(38, 0), which is what pyarrow makes of it
    }
)


def duckdb_writes(names: list[str], types: list[Any]) -> bool:
    """Whether DuckDB's own writer gives the very file pyarrow would: every type on the
    list (or a list of one, HUGEINT aside), and names that stay as they are (DuckDB
    renames a name it sees twice, ignoring case, which would hide it from the gate's
    duplicate-name check)."""
    folded = {name.casefold() for name in names}
    if len(folded) != len(names) or "" in folded:
        return False
    return all(_written_by_duckdb(kind) for kind in types)


def _written_by_duckdb(kind: Any) -> bool:
    if kind.id == "list":
        return kind.child.id != "hugeint" and _written_by_duckdb(kind.child)
    return kind.id in WRITTEN_BY_DUCKDB


def _write_with_duckdb(con: duckdb.DuckDBPyConnection, relation: Any, path: Path) -> int:
    """DuckDB streams the result to Parquet itself; the footer gives the row count.
    An error naming the output file is the output's fault; any other, the query's."""
    types = relation.types
    if any(kind.id == "hugeint" for kind in types):
        relation = relation.project(
            ", ".join(_as_written(n, k) for n, k in zip(relation.columns, types, strict=True))
        )
    try:
        relation.to_parquet(str(path))
        footer = con.execute("SELECT num_rows FROM parquet_file_metadata(?)", [str(path)])
        return int(footer.fetchone()[0])  # type: ignore[index]
    except (duckdb.Error, MemoryError) as exc:
        if isinstance(exc, duckdb.IOException) and str(path) in str(exc):
            raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
        raise _query_failed(exc) from exc  # a query can still fail while it streams


def _as_written(name: str, kind: Any) -> str:
    if kind.id == "hugeint":
        return f"CAST({_quoted(name)} AS DECIMAL(38, 0)) AS {_quoted(name)}"
    return _quoted(name)


def _write_with_arrow(relation: Any, path: Path) -> int:
    """Stream batches to Parquet so a large result never sits in memory whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    try:
        reader = relation.to_arrow_reader()
        with pq.ParquetWriter(str(path), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    except OSError as exc:  # before Arrow's errors: ArrowIOError is an OSError too
        raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
    except (duckdb.Error, MemoryError, pa.ArrowException) as exc:
        raise _query_failed(exc) from exc  # a query can still fail while it streams
    return rows


def _query_failed(exc: BaseException) -> JobFailed:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if isinstance(exc, MemoryError):
        first = f"MemoryError {first}".strip()
    if "max_temp_directory_size" in str(exc):
        # DuckDB says "Out of Memory" on the first line and names the setting on a later
        # one; the host reads only the last line, so the cause goes on it.
        first = f"spill quota (max_temp_directory_size) exhausted: {first}"
    return JobFailed(EXIT_QUERY_FAILED, f"query failed: {first[:500]}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"

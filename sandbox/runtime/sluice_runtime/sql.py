"""Run one rewritten SELECT in DuckDB, locked to its datasets, and write the result to /out.

DuckDB is the second wall after the sandbox: once the views exist, file access
is switched off except for the dataset files (and the one output file), and the
configuration is locked so the query cannot switch it back on.

DuckDB writes the result itself when every column has a type it writes to Parquet
exactly as pyarrow would (`WRITTEN_BY_DUCKDB`, compared type by type in
tests/sandbox/test_result_writer.py) and the names are distinct: importing pyarrow
cost about as much CPU as the rest of a small job's sandbox. Any other result is
streamed through pyarrow, loaded only then.

Only DuckDB's native module is loaded (`_duckdb`, DuckDB 2's engine without its
Python relation layer): `import duckdb` took ~115 ms of CPU, most of a small job's
sandbox, and the native module alone ~20 ms. The query is described and written
with plain statements around its text (as the relation layer itself does); the
relation layer is loaded only for results pyarrow writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

try:
    import _duckdb as engine
except ImportError:  # DuckDB 1.x: no native module apart from the package
    import duckdb as engine  # type: ignore[no-redef]

from . import EXIT_OUTPUT_FAILED, EXIT_QUERY_FAILED, JobFailed
from .jobspec import JobSpec

# The sandbox's own spill folder (bubblewrap mounts one, with the spill quota); a
# sandbox without one spills into its small /tmp.
SPILL_DIR = Path("/spill")
FALLBACK_SPILL_DIR = "/tmp/duckdb"


# A database opened before the job arrived (a warm sandbox), for `connect` to take.
_opened_ahead: list[engine.DuckDBPyConnection] = []


def spill_directory() -> str:
    return str(SPILL_DIR) if SPILL_DIR.is_dir() else FALLBACK_SPILL_DIR


def open_ahead() -> engine.DuckDBPyConnection:
    """Open the job's database before the job exists (a warm sandbox waiting for it):
    an empty in-memory DuckDB whose first query has paged in the engine. `connect`
    then configures it instead of opening a second one: a database costs 20–30 ms of
    CPU to build its catalog of functions, which the warm sandbox used to pay twice."""
    con = engine.connect(":memory:")
    con.execute("SELECT 1").fetchall()
    _opened_ahead.append(con)
    return con


def connect(
    datasets: dict[str, str],
    *,
    output: str | None = None,
    threads: int = 2,
    memory_limit: str | None = None,
    spill_limit: str | None = None,
    temp_directory: str | None = None,
) -> engine.DuckDBPyConnection:
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
    con = _opened_ahead.pop() if _opened_ahead else engine.connect(":memory:")
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


def only_select(sql: str, con: engine.DuckDBPyConnection) -> str:
    """Refuse anything but a single SELECT: the policy engine emits nothing else.
    Returns the statement's own text (a trailing semicolon included, if written).
    Parsed by the job's own connection: the module's parser opens DuckDB's default
    database, a second one in the job's process (20–30 ms of CPU)."""
    try:
        statements = con.extract_statements(sql)
    except engine.Error as exc:
        raise _query_failed(exc) from exc
    kinds = [s.type.name for s in statements]
    if kinds != ["SELECT"]:
        shown = ", ".join(kinds) or "nothing"
        raise JobFailed(EXIT_QUERY_FAILED, f"query failed: expected one SELECT, got {shown}")
    return str(statements[0].query)


def run(spec: JobSpec, out_dir: Path) -> dict[str, Any]:
    """Execute the spec's query; write <output> and its .meta.json; return the meta."""
    path = out_dir / spec.output
    try:
        con = connect(
            spec.datasets or {},
            output=str(path),
            threads=spec.threads,
            memory_limit=spec.memory_limit,
            spill_limit=spec.spill_limit,
        )
    except (engine.Error, MemoryError) as exc:
        raise _query_failed(exc) from exc
    statement = only_select(spec.sql, con)  # parsed, not run: the connection is locked
    try:
        query = _subquery(statement)
        described = con.execute(f"DESCRIBE {query}").fetchall() if query else []
    except (engine.Error, MemoryError) as exc:
        raise _query_failed(exc) from exc
    names, types = [str(r[0]) for r in described], [str(r[1]) for r in described]
    if query and duckdb_writes(names, types):
        rows = _write_with_duckdb(con, query, names, types, path)
    else:
        names, types, rows = _write_with_arrow(con, spec.sql, path)
    columns = [{"name": n, "type": t} for n, t in zip(names, types, strict=True)]
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


def _subquery(statement: str) -> str | None:
    """The SELECT as a parenthesised subquery, to describe and copy it; None if its
    text holds a semicolon anywhere, even in a comment or a string (the policy engine
    writes none): the relation layer takes those. The line breaks end a trailing line
    comment before the bracket. The text parsed as one SELECT (only_select), so its
    brackets balance; and the connection can reach no file but the output anyway."""
    if ";" in statement:
        return None
    return f"(\n{statement}\n)"


def duckdb_writes(names: list[str], types: list[str]) -> bool:
    """Whether DuckDB's own writer gives the very file pyarrow would: every type on the
    list (or a list of one, HUGEINT aside), and names that stay as they are (DuckDB
    renames a name it sees twice, ignoring case, which would hide it from the gate's
    duplicate-name check)."""
    folded = {name.casefold() for name in names}
    if len(folded) != len(names) or "" in folded:
        return False
    return all(_written_by_duckdb(kind) for kind in types)


def _written_by_duckdb(kind: str) -> bool:
    """`kind` as DuckDB names a type (DESCRIBE): a list is `CHILD[]`, a decimal
    `DECIMAL(p,s)`; anything not on the list, or not read, is pyarrow's."""
    if kind.endswith("[]"):
        child = kind[: -len("[]")]
        return child != "HUGEINT" and _written_by_duckdb(child)
    if kind.startswith("DECIMAL(") and kind.endswith(")"):
        kind = "DECIMAL"
    return kind.lower() in WRITTEN_BY_DUCKDB


def _write_with_duckdb(
    con: engine.DuckDBPyConnection, query: str, names: list[str], types: list[str], path: Path
) -> int:
    """DuckDB streams the result to Parquet itself; the footer gives the row count.
    An error naming the output file is the output's fault; any other, the query's."""
    if "HUGEINT" in types:
        listed = ", ".join(_as_written(n, k) for n, k in zip(names, types, strict=True))
        query = f"(SELECT {listed} FROM {query})"
    try:
        con.execute(f"COPY {query} TO {_literal(str(path))} (FORMAT parquet)")
        footer = con.execute("SELECT num_rows FROM parquet_file_metadata(?)", [str(path)])
        return int(footer.fetchone()[0])  # type: ignore[index]
    except (engine.Error, MemoryError) as exc:
        if isinstance(exc, engine.IOException) and str(path) in str(exc):
            raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
        raise _query_failed(exc) from exc  # a query can still fail while it streams


def _as_written(name: str, kind: str) -> str:
    if kind == "HUGEINT":
        return f"CAST({_quoted(name)} AS DECIMAL(38, 0)) AS {_quoted(name)}"
    return _quoted(name)


def _write_with_arrow(
    con: engine.DuckDBPyConnection, sql: str, path: Path
) -> tuple[list[str], list[str], int]:
    """Stream batches to Parquet so a large result never sits in memory whole. Loads
    DuckDB's relation layer (which gives the connection `sql`) and pyarrow."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    try:
        relation = duckdb.DuckDBPyConnection.sql(con, sql)
        names, types = list(relation.columns), [str(t) for t in relation.types]
        reader = relation.to_arrow_reader()
        with pq.ParquetWriter(str(path), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    except OSError as exc:  # before Arrow's errors: ArrowIOError is an OSError too
        raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
    except (duckdb.Error, MemoryError, pa.ArrowException) as exc:
        raise _query_failed(exc) from exc  # a query can still fail while it streams
    return names, types, rows


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

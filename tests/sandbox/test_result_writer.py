"""The SQL runtime's two result writers give the gate the same file.

DuckDB writes a result itself when its types and names allow (no pyarrow import in the
sandbox); otherwise pyarrow streams DuckDB's Arrow export, as every result used to be
written. Each case runs the runtime's own `run` (locked connection, real Parquet) and
compares what the gate reads back, schema and values, with pyarrow's file of the same
query; the fallback cases check that a type DuckDB would write differently goes
through pyarrow.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from sandbox.runtime.sluice_runtime import JobFailed
from sandbox.runtime.sluice_runtime import sql as runtime_sql
from sandbox.runtime.sluice_runtime.jobspec import JobSpec

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox" / "runtime"

# A column of each kind an aggregate's result holds, with a NULL among its values.
WRITTEN_BY_DUCKDB = {
    "boolean": "x % 2 = 0",
    "tinyint": "x::TINYINT",
    "smallint": "x::SMALLINT",
    "integer": "x::INTEGER",
    "bigint": "x::BIGINT * 1000000000000",
    "utinyint": "x::UTINYINT",
    "usmallint": "x::USMALLINT",
    "uinteger": "x::UINTEGER",
    "ubigint": "x::UBIGINT * 1000000000000",
    "float": "x::FLOAT / 3",
    "double": "x::DOUBLE / 3",
    "special doubles": "[1e308, -0.0, 'inf'::DOUBLE, '-inf'::DOUBLE, 'nan'::DOUBLE][x % 5 + 1]",
    "decimal": "(x * 1.25)::DECIMAL(10, 2)",
    "wide decimal": "(x * 1.25)::DECIMAL(38, 3)",
    "hugeint": "SUM(x::BIGINT * 1000000000000000000) OVER (ORDER BY x)",  # past int64
    "varchar": "['镇海区', '', 'a\"b', '\u3000', 'x' || chr(0)][x % 5 + 1]",
    "blob": "('\\x00\\x01' || x::VARCHAR)::BLOB",
    "date": "DATE '2024-02-28' + x::INTEGER",
    "time": "TIME '23:59:59.999999' - INTERVAL (x) MINUTE",
    "timestamp": "TIMESTAMP '1969-12-31 23:59:59.123456' + INTERVAL (x) DAY",
    "list of bigint": "[x::BIGINT, x::BIGINT * 2, NULL]",
    "empty list": "[]::BIGINT[]",
    "list of lists": "[[x::INTEGER], []]",
}
WRITTEN_BY_PYARROW = {
    "timestamptz": "TIMESTAMPTZ '2024-01-02 03:04:05+00' + INTERVAL (x) HOUR",
    "timestamp_s": "TIMESTAMP_S '2024-01-02 03:04:05'",
    "timestamp_ns": "TIMESTAMP_NS '2024-01-02 03:04:05.123456789'",
    "uuid": "gen_random_uuid()",
    "enum": "['a', 'b'][x % 2 + 1]::ENUM('a', 'b')",
    "uhugeint": "x::UHUGEINT",
    "list of hugeint": "[x::HUGEINT]",
    "struct": "{'a': x}",
}


def _query(expression: str, names: tuple[str, ...] = ("v",)) -> str:
    columns = ", ".join(f'{expression} AS "{name}"' for name in names)
    rows = "SELECT CASE WHEN range = 3 THEN NULL ELSE range END AS x FROM range(7)"
    return f"SELECT x, {columns} FROM ({rows}) ORDER BY x NULLS LAST"


def _by_pyarrow(sql: str, path: Path) -> None:
    """The reference: pyarrow writing DuckDB's Arrow export, as the runtime used to."""
    reader = duckdb.connect().sql(sql).to_arrow_reader()
    with pq.ParquetWriter(str(path), reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def _rows(path: Path) -> list[Any]:
    return [
        [("nan" if isinstance(v, float) and math.isnan(v) else v) for v in row.values()]
        for row in pq.read_table(path).to_pylist()
    ]


def _run(sql: str, out: Path) -> dict[str, Any]:
    out.mkdir()
    return runtime_sql.run(JobSpec(kind="sql", sql=sql, datasets={}), out)


@pytest.mark.parametrize("case", sorted(WRITTEN_BY_DUCKDB))
def test_duckdb_writes_the_file_pyarrow_would(case: str, tmp_path: Path) -> None:
    sql = _query(WRITTEN_BY_DUCKDB[case])
    relation = duckdb.connect().sql(sql)
    assert runtime_sql.duckdb_writes(relation.columns, [str(t) for t in relation.types])
    meta = _run(sql, tmp_path / "out")
    _by_pyarrow(sql, tmp_path / "reference.parquet")
    written, reference = tmp_path / "out" / "result.parquet", tmp_path / "reference.parquet"
    assert b"ARROW:schema" not in written.read_bytes()  # DuckDB wrote it, not pyarrow
    got, want = pq.read_schema(written), pq.read_schema(reference)
    assert got.names == want.names and got.types == want.types
    assert _rows(written) == _rows(reference)
    assert meta["rows"] == 7
    described = [(c["name"], c["type"]) for c in meta["columns"]]
    assert described == [(n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True)]


@pytest.mark.parametrize("case", sorted(WRITTEN_BY_PYARROW))
def test_other_types_are_written_by_pyarrow_as_before(case: str, tmp_path: Path) -> None:
    sql = _query(WRITTEN_BY_PYARROW[case])
    relation = duckdb.connect().sql(sql)
    assert not runtime_sql.duckdb_writes(relation.columns, [str(t) for t in relation.types])
    meta = _run(sql, tmp_path / "out")
    written = tmp_path / "out" / "result.parquet"
    assert b"ARROW:schema" in written.read_bytes()
    if case not in ("uuid",):  # a fresh random value per run
        _by_pyarrow(sql, tmp_path / "reference.parquet")
        assert pq.read_schema(written).equals(pq.read_schema(tmp_path / "reference.parquet"))
        assert _rows(written) == _rows(tmp_path / "reference.parquet")
    assert meta["rows"] == 7


@pytest.mark.parametrize(
    "names", [("v", "v"), ("v", "V"), ("total", "TOTAL")], ids=["same", "case", "upper"]
)
def test_a_name_seen_twice_reaches_the_gate_twice(names: tuple[str, ...], tmp_path: Path) -> None:
    """DuckDB would write `v` and `v_1`: the gate's backstop must still see the clash."""
    sql = _query("x::BIGINT", names)
    _run(sql, tmp_path / "out")
    written = pq.read_schema(tmp_path / "out" / "result.parquet").names
    assert written == ["x", *names]


def test_a_result_too_large_for_its_file_is_an_output_failure(tmp_path: Path) -> None:
    """The sandbox caps file size (RLIMIT_FSIZE); DuckDB's write error names the output."""
    script = f"""
import resource, sys
sys.path.insert(0, {str(RUNTIME)!r})
from pathlib import Path
from sluice_runtime import JobFailed
from sluice_runtime.jobspec import JobSpec
from sluice_runtime import sql
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
sql_text = "SELECT range AS x, md5(range::VARCHAR) AS h FROM range(200000)"
try:
    sql.run(JobSpec(kind="sql", sql=sql_text, datasets={{}}), Path({str(tmp_path)!r}))
except JobFailed as failed:
    print(failed.exit_code, failed.message)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    code, message = proc.stdout.split(" ", 1)
    assert int(code) == runtime_sql.EXIT_OUTPUT_FAILED
    assert message.startswith("writing output failed")


def test_a_query_failing_while_it_streams_is_a_query_failure(tmp_path: Path) -> None:
    sql = "SELECT CASE WHEN range = 5000 THEN error('boom') ELSE range END AS x FROM range(9000)"
    with pytest.raises(JobFailed) as failed:
        _run(sql, tmp_path / "out")
    assert failed.value.exit_code == runtime_sql.EXIT_QUERY_FAILED
    assert "boom" in failed.value.message


def _fresh_run(tmp_path: Path, sql_text: str) -> list[str]:
    """Run one query in a fresh interpreter, as the sandbox does; the modules it loaded."""
    script = f"""
import sys
sys.path.insert(0, {str(RUNTIME)!r})
from pathlib import Path
from sluice_runtime.jobspec import JobSpec
from sluice_runtime import sql
sql.run(JobSpec(kind="sql", sql={sql_text!r}, datasets={{}}), Path({str(tmp_path)!r}))
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout.split()


def test_a_result_duckdb_writes_loads_neither_the_relation_layer_nor_pyarrow(
    tmp_path: Path,
) -> None:
    loaded = _fresh_run(tmp_path, "SELECT range AS x, range * 1.5 AS y FROM range(10)")
    assert "_duckdb" in loaded and "duckdb" not in loaded and "pyarrow" not in loaded
    assert pq.read_table(tmp_path / "result.parquet").column("y").to_pylist()[3] == 4.5


def test_a_result_pyarrow_writes_loads_the_relation_layer_late_and_still_runs(
    tmp_path: Path,
) -> None:
    loaded = _fresh_run(tmp_path, "SELECT range AS x, now() AS at FROM range(10)")
    assert "duckdb" in loaded and "pyarrow" in loaded
    assert pq.read_table(tmp_path / "result.parquet").column("x").to_pylist() == list(range(10))


@pytest.mark.parametrize(
    "text",
    [
        "SELECT range AS x FROM range(3) -- a closing comment",
        "SELECT range AS x FROM range(3);",
        "SELECT range AS x FROM range(3); -- after the end",
        "/* before */ SELECT range AS x FROM range(3) /* after */",
        "SELECT range AS x FROM range(3) WHERE ';' <> ')'",
    ],
    ids=["line-comment", "semicolon", "semicolon-comment", "block-comments", "in-a-string"],
)
def test_comments_and_a_semicolon_around_the_select_give_the_same_result(
    text: str, tmp_path: Path
) -> None:
    meta = _run(text, tmp_path / "out")
    assert meta["rows"] == 3 and meta["columns"] == [{"name": "x", "type": "BIGINT"}]
    assert _rows(tmp_path / "out" / "result.parquet") == [[0], [1], [2]]


@pytest.mark.parametrize(
    "escape",
    [
        "SELECT 1 AS x -- ) TO '{evil}' (FORMAT csv)",
        "SELECT 1 AS x /* ) TO '{evil}' (FORMAT csv) */",
        "SELECT ') TO ''{evil}'' (FORMAT csv) --' AS x",
    ],
    ids=["line-comment", "block-comment", "string"],
)
def test_a_select_cannot_close_the_copy_around_it_and_write_elsewhere(
    escape: str, tmp_path: Path
) -> None:
    """The runtime writes `COPY (\\n<select>\\n) TO <output>`: text in the SELECT that
    would close the bracket early and name another file must stay inside it."""
    evil = tmp_path / "evil.csv"
    meta = _run(escape.format(evil=evil), tmp_path / "out")
    assert not evil.exists()
    assert meta["rows"] == 1 and [c["name"] for c in meta["columns"]] == ["x"]
    assert pq.read_table(tmp_path / "out" / "result.parquet").num_rows == 1

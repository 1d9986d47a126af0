"""Running a job's rewritten SQL on Spark (PySpark), for data too large for one DuckDB.

Where Spark runs, and why: on the worker host (the driver) and on the Spark
cluster named by `spark.master` (SLUICE_SPARK_MASTER: local[N], spark://…, or
sc://… for Spark Connect), not inside the job's sandbox. The sandbox exists to
contain code the operator wrote (a notebook, or an engine fed arbitrary SQL); a
Spark job runs no operator code. What reaches Spark is the policy engine's own
rewritten AST, emitted as Spark SQL by sqlglot (`PolicyDecision.sql_for("spark")`,
stored with the job at submit time). A sandbox without network could not reach a
cluster anyway, and a JVM under the sandbox's address-space limit would not start.
The walls that stand in for the sandbox's:
  * the SQL is parsed again here and refused unless it is one query whose tables
    are all the license's datasets, calling no function that reaches the JVM or the
    file system (`reflect`, `java_method`, `input_file_name`, …);
  * `spark.sql.runSQLOnFiles` is off, so parquet.`/path` cannot name a file;
  * each job gets a fresh Spark session whose only temp views are the license's
    desensitized Parquet files from the store: raw data is never reachable;
  * the result is written to the job's /out folder as result.parquet and judged by
    the same output checks (sandbox.limits) and then the same noise, gate and review
    (jobs.runner.finish) as a DuckDB job's; nothing Spark returns leaves otherwise.
  * the wall-time limit cancels the job's Spark work by its tag.
On a cluster the executors read the store's files, so the store must be on shared
storage the executors can read and nothing else: a cluster is part of the domain.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from core.errors import InvalidInput, Step
from core.failures import FailureKind, JobFailure
from sandbox.limits import check_outputs, clear_outputs, release_modes
from sandbox.runner import SandboxResult, SandboxRun

DIALECT = "spark"
RESULT = "result.parquet"
# Functions that reach the JVM, the file system or the session: never in a policy query.
REFUSED_FUNCTIONS = frozenset(
    {
        "reflect",
        "java_method",
        "try_reflect",
        "input_file_name",
        "input_file_block_start",
        "input_file_block_length",
        "current_user",
        "session_user",
        "user",
        "uuid",
        "spark_partition_id",
    }
)
_BASE: dict[str, Any] = {}
_LOCK = threading.Lock()


def check_spark_sql(sql: str, datasets: set[str]) -> exp.Query:
    """The query, if it is one SELECT over `datasets` calling nothing refused."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise InvalidInput.coded("job_spark_unparsed", detail=str(exc)[:200]) from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise InvalidInput.coded("job_spark_one_query")
    tree = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise InvalidInput.coded("job_spark_qualified", table=table.sql(DIALECT))
        if table.name.lower() not in ctes and table.name not in datasets:
            raise InvalidInput.coded("job_spark_foreign_table", table=table.name)
    for call in tree.find_all(exp.Func):
        name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).lower()
        if name in REFUSED_FUNCTIONS:
            raise InvalidInput.coded("job_spark_function", function=name)
    return tree


def _base_session(master: str) -> Any:
    """One SparkSession (one JVM, one SparkContext) per worker process and master; for
    sc:// one Spark Connect session per server."""
    with _LOCK:
        if master not in _BASE:
            _BASE[master] = _connect(master) if master.startswith("sc://") else _classic(master)
        return _BASE[master]


# SQL settings every job's session holds; spark.sql.* ones can be set over Spark Connect too
SQL_OPTIONS = {
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # overflow, division by zero and bad casts give NULL, as TRY() does in
    # DuckDB: a core that fails on some values would be an oracle
    "spark.sql.ansi.enabled": "false",
}


def _classic(master: str) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("sluice-worker").master(master)
    for key, value in {**SQL_OPTIONS, "spark.ui.enabled": "false"}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _connect(url: str) -> Any:
    """A Spark Connect session. Its own builder: pyspark's generic one refuses a remote
    session in a process that already holds a classic one (another master)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    builder = RemoteSession.builder.remote(url)
    for key, value in SQL_OPTIONS.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def job_session(master: str) -> Any:
    """A fresh session for one job: its own temp views and SQL settings, shared JVM."""
    base = _base_session(master)
    if master.startswith("sc://"):
        return base  # Spark Connect: views are dropped after the job instead
    session = base.newSession()
    session.conf.set("spark.sql.runSQLOnFiles", "false")
    session.conf.set("spark.sql.ansi.enabled", "false")
    return session


def run_spark(run: SandboxRun, sql: str | None, master: str) -> SandboxResult:
    """Run the job's Spark SQL over its datasets; write result.parquet to its /out."""
    started = time.monotonic()
    for folder in (run.out_dir, run.log_path.parent, run.review_dir):
        folder.mkdir(parents=True, exist_ok=True)
    failure: JobFailure | None = None
    outputs: list[Path] = []
    try:
        if not sql:
            raise InvalidInput.coded(
                "job_spark_sql_missing",
                suggestion="submit it again for the Spark engine",
                step=Step.SUBMIT_FOR_SPARK,
            )
        check_spark_sql(sql, set(run.data))
        failure = _execute(run, sql, master)
    except InvalidInput as exc:
        failure = JobFailure(FailureKind.RULE, f"spark_sql: {exc.message}")
    if failure is None:
        check = check_outputs(run.out_dir, run.limits)
        failure, outputs = check.failure, check.files
    if failure is None:
        release_modes(outputs)
    else:
        clear_outputs(run.out_dir)
    seconds = time.monotonic() - started
    with open(run.log_path, "a", encoding="utf-8") as log:
        log.write(f"[sluice] spark master={master}\n{sql}\n")
        log.write(f"[sluice] failure={failure} seconds={seconds:.3f}\n")
    return SandboxResult(
        failure is None, 0 if failure is None else 1, outputs, failure, run.log_path, seconds
    )


def _execute(run: SandboxRun, sql: str, master: str) -> JobFailure | None:
    """Run on Spark and write the result; a failure's first line, or None."""
    spark = job_session(master)
    tag = f"sluice-job-{run.job_id}-{time.monotonic_ns()}"
    timed_out = threading.Event()

    def cancel() -> None:
        timed_out.set()
        spark.interruptTag(tag)

    timer = threading.Timer(run.limits.wall_seconds, cancel)
    try:
        spark.addTag(tag)
        for name, path in sorted(run.data.items()):
            spark.read.parquet(str(path)).createOrReplaceTempView(name)
        timer.start()
        table = as_duckdb_types(spark.sql(sql).toArrow())
        pq.write_table(table, run.out_dir / RESULT)
    except Exception as exc:  # noqa: BLE001  Spark raises many kinds; the job fails
        if timed_out.is_set():
            ran = f"wall_seconds: the query ran longer than {run.limits.wall_seconds}s"
            return JobFailure(FailureKind.LIMIT, ran)
        lines = str(exc).strip().splitlines()
        first = (lines[0] if lines else type(exc).__name__)[:500]
        return JobFailure(FailureKind.ERROR, f"spark: {first}")
    finally:
        timer.cancel()
        spark.removeTag(tag)
        for name in run.data:
            spark.catalog.dropTempView(name)
    return None


def as_duckdb_types(table: pa.Table) -> pa.Table:
    """Spark's fractional decimals as doubles, as DuckDB types `n * 1.0 / m`; whole
    decimals (SUM of integers) as int64 where they fit, so the gate reads numbers."""
    fields = []
    for field in table.schema:
        if pa.types.is_decimal(field.type):
            target = pa.float64() if field.type.scale > 0 else pa.int64()
            field = field.with_type(target)
        fields.append(field)
    return table.cast(pa.schema(fields))


def stop_sessions() -> None:
    """Stop every Spark session this process started (tests, worker shutdown)."""
    with _LOCK:
        for session in _BASE.values():
            session.stop()
        _BASE.clear()

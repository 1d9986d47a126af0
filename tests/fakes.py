"""A stand-in sandbox backend for orchestration tests, as job-runner's stub executor is.

`FakeRunner` implements `sandbox.runner.Runner` without any isolation: it runs a
SQL job's spec with DuckDB in this process over the job's Parquet files and
leaves /out as the runtime would, then judges it with the real backends' own
`conclude`. It can also fail on purpose, or let a test act while the job "runs".
Give it to a job through `JobSettings(sandbox_runner=...)`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from sandbox.runner import (
    Handle,
    JobLog,
    SandboxResult,
    SandboxRun,
    conclude,
    job_spec,
    prepare_work_dir,
)

FAILED_EXIT = 3  # the runtime's exit code for a query that failed


class FakeRunner:
    """Runs SQL jobs in-process. `failure` ends every job that way (a limit such as
    "limit:memory_mb", or "error: ..."); `during(run)` is called while the job runs."""

    name = "fake"

    def __init__(
        self, failure: str | None = None, during: Callable[[SandboxRun], None] | None = None
    ) -> None:
        self.failure = failure
        self.during = during
        self.started: list[SandboxRun] = []
        self.cleaned: list[SandboxRun] = []

    def start(self, run: SandboxRun) -> Handle:
        prepare_work_dir(run)  # the same checks and layout as a real backend
        self.started.append(run)
        return Handle(run=run, started=time.monotonic())

    def wait(self, handle: Handle) -> SandboxResult:
        run = handle.run
        if self.during is not None:
            self.during(run)
        with open(run.log_path, "wb") as log_file:
            log = JobLog(log_file)
            exit_code = None if self.failure else _run_sql(run, log)
            return conclude(
                run,
                log,
                exit_code=exit_code,
                killed_for=self.failure,
                cpu_seconds=0.0,
                seconds=time.monotonic() - handle.started,
            )

    def cleanup(self, handle: Handle) -> None:
        self.cleaned.append(handle.run)


def _run_sql(run: SandboxRun, log: JobLog) -> int:
    """What the runtime does for a SQL spec, minus the walls: the result and its sidecar
    in /out; a failure as one line on stderr and a non-zero exit code."""
    spec = job_spec(run)
    if spec.get("kind") != "sql":
        log.write(b"sluice-runtime: the fake runner runs SQL jobs only\n", is_stderr=True)
        return FAILED_EXIT
    con = duckdb.connect()
    try:
        for name, path in sorted(run.data.items()):
            con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{_quoted(path)}')")
        table = con.sql(spec["sql"]).to_arrow_table()
    except duckdb.Error as exc:
        line = f"sluice-runtime: query failed: {str(exc).splitlines()[0]}\n"
        log.write(line.encode(), is_stderr=True)
        return FAILED_EXIT
    finally:
        con.close()
    output = run.out_dir / spec.get("output", "result.parquet")
    pq.write_table(table, output)
    meta = {"rows": table.num_rows, "columns": [{"name": n} for n in table.column_names]}
    output.with_name(output.stem + ".meta.json").write_text(json.dumps(meta), "utf-8")
    return 0


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")

"""Large aggregates on the default limits: DuckDB spills to a folder of its own,
bounded by the spill quota and apart from /out, and a job that outgrows the quota
fails naming it (issue 18: a 10M-row meter job failed as `limit:output_bytes`)."""

from __future__ import annotations

import signal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from catalog.schema import DatasetSchema, parse_schema
from core.failures import FailureKind
from core.levels import Level
from policies import LicenseScope, check_query
from sandbox.bubblewrap import BubblewrapRunner, spill_folder, unavailable_reason
from sandbox.limits import Limits, breach_from_exit, rlimits
from sandbox.runner import SandboxRun, execute, job_spec
from sandbox.runtime.sluice_runtime import JobFailed
from sandbox.runtime.sluice_runtime.jobspec import parse
from tests.sandbox.conftest import log_of

# Five million groups cannot stay in 64 MB: DuckDB must spill the hash table.
SPILLING = "SELECT COUNT(*) AS groups FROM (SELECT i, COUNT(*) FROM range(5000000) t(i) GROUP BY i)"
METERS = 2_000_000
DISTRICTS = 10


@pytest.fixture(scope="module")
def bwrap() -> BubblewrapRunner:
    reason = unavailable_reason()
    if reason is not None:
        pytest.fail(f"bubblewrap is required for the sandbox tier: {reason}")
    return BubblewrapRunner()


def _run(runner: BubblewrapRunner, work: Path, spec: dict, data=None, **limits: int):  # type: ignore[no-untyped-def]
    run = SandboxRun("spill-job", work, data or {}, spec, Limits(**limits))
    return execute(runner, run), run


# -- naming the cause, from how a job died (no sandbox needed) ------------------------

QUOTA_FULL = (
    "sluice-runtime: query failed: Out of Memory Error: failed to offload data block of size "
    "256.0 KiB (1.0 MiB/1.0 MiB used). This limit was set by the 'max_temp_directory_size' setting."
)


def test_a_full_spill_quota_is_named_not_memory_or_output() -> None:
    failure = breach_from_exit(3, QUOTA_FULL, 1.0, Limits())
    assert failure == "limit:spill_mb" and failure.kind is FailureKind.LIMIT


def test_a_failed_spill_write_is_the_spill_quota_and_an_out_write_is_output() -> None:
    spill = 'IO Error: Could not write file "/spill/duckdb_temp_storage-0.tmp": File too large'
    out = 'IO Error: Could not write file "/out/result.parquet": File too large'
    assert breach_from_exit(3, spill, 1.0, Limits()) == "limit:spill_mb"
    docker = 'Could not write file "/tmp/duckdb/duckdb_temp_storage-0.tmp": No space left on device'
    assert breach_from_exit(3, docker, 1.0, Limits()) == "limit:spill_mb"
    assert breach_from_exit(3, out, 1.0, Limits()) == "limit:output_bytes"
    assert breach_from_exit(128 + signal.SIGXFSZ, "", 1.0, Limits()) == "limit:output_bytes"


def test_memory_is_still_memory() -> None:
    text = "query failed: Out of Memory Error: could not allocate block of size 256.0 KiB"
    assert breach_from_exit(3, text, 1.0, Limits()) == "limit:memory_mb"


def test_the_file_size_limit_leaves_room_for_the_spill_file() -> None:
    import resource

    limits = Limits(output_bytes=1_000_000, spill_mb=300)
    assert rlimits(limits)[resource.RLIMIT_FSIZE] == (300 * 2**20, 300 * 2**20)


def test_the_spec_carries_the_spill_quota_and_the_runtime_checks_it(tmp_path: Path) -> None:
    run = SandboxRun("j", tmp_path, {}, {"kind": "sql", "sql": "SELECT 1"}, Limits(spill_mb=123))
    spec = job_spec(run)
    assert spec["spill_limit"] == "123MB"
    assert parse(spec).spill_limit == "123MB"
    with pytest.raises(JobFailed, match="spill_limit"):
        parse({**spec, "spill_limit": "'; SET enable_external_access = true; --"})


# -- in a real sandbox ----------------------------------------------------------------


@pytest.mark.sandbox
def test_a_spill_past_the_quota_fails_naming_the_spill_quota(
    bwrap: BubblewrapRunner, tmp_path: Path
) -> None:
    spec = {"kind": "sql", "sql": SPILLING, "memory_limit": "64MB", "threads": 1}
    result, run = _run(bwrap, tmp_path, spec, spill_mb=1)
    assert not result.ok
    assert result.failure == "limit:spill_mb", log_of(result)
    assert "max_temp_directory_size" in log_of(result)
    assert list(run.out_dir.iterdir()) == [] and not spill_folder(run).exists()


@pytest.mark.sandbox
def test_the_same_spill_within_the_quota_succeeds(bwrap: BubblewrapRunner, tmp_path: Path) -> None:
    """The control for the test above: only the quota differs, and the answer is right."""
    spec = {"kind": "sql", "sql": SPILLING, "memory_limit": "64MB", "threads": 1}
    result, run = _run(bwrap, tmp_path, spec, spill_mb=2048, output_bytes=1_000_000)
    assert result.ok, log_of(result)
    assert pq.read_table(run.out_dir / "result.parquet").to_pylist() == [{"groups": 5_000_000}]
    assert not spill_folder(run).exists()


def meter_schema() -> DatasetSchema:
    return parse_schema(
        {
            "dataset": "meter_readings",
            "privacy_unit": "meter_id",
            "columns": [
                {"name": "meter_id", "type": "string", "level": "L3", "role": "identifier"}
                | {"desensitize": "pseudonymize"},
                {"name": "district", "type": "string", "level": "L1", "role": "dimension"}
                | {"categories": [f"district_{i}" for i in range(DISTRICTS)]},
                {"name": "kwh", "type": "double", "level": "L2", "role": "measure"}
                | {"bounds": [0, 20000]},
            ],
        }
    )


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_meter_register_aggregates_at_l2_on_the_default_limits(
    bwrap: BubblewrapRunner, tmp_path: Path
) -> None:
    """2M meters, one row each, through the L2 rewrite (per-meter bounding, the gate's
    hidden columns) with `Limits()` as it comes: the figures are the register's."""
    data = tmp_path / "meters.parquet"
    duckdb.sql(
        f"COPY (SELECT md5(i::VARCHAR) AS meter_id, 'district_' || (i % {DISTRICTS}) AS district,"
        f" (i * 7919 % 20000) * 1.0 AS kwh FROM range({METERS}) t(i)) TO '{data}' (FORMAT parquet)"
    )
    sql = (
        "SELECT district, COUNT(*) AS meters, SUM(kwh) AS total_kwh, AVG(kwh) AS mean_kwh "
        "FROM meter_readings GROUP BY district"
    )
    scope = LicenseScope(datasets=("meter_readings",), max_level=Level.L2)
    decision = check_query(sql, {"meter_readings": meter_schema()}, scope, 1.0)
    assert decision.sql, decision.reasons
    spec = {"kind": "sql", "sql": decision.sql}
    result, _ = _run(bwrap, tmp_path / "job", spec, {"meter_readings": data})
    assert result.ok, log_of(result)
    table = pq.read_table(tmp_path / "job" / "out" / "result.parquet")
    released = {r["district"]: r for r in table.to_pylist()}
    truth = duckdb.sql(
        f"SELECT district, COUNT(*), SUM(kwh) FROM '{data}' GROUP BY district"
    ).fetchall()
    assert len(released) == DISTRICTS
    for district, meters, total in truth:
        assert released[district]["meters"] == meters
        assert released[district]["total_kwh"] == pytest.approx(total)

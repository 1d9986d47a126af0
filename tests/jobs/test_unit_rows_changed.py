"""A job whose core skipped per-unit bounding (one row per unit, proven at submission)
does not run on a dataset version where that no longer holds."""

from __future__ import annotations

import pandas as pd

from audit_log import Actor
from catalog import get_dataset, ingest
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit
from tests.conftest import World

SQL = "SELECT district, SUM(water_fee) AS s FROM enterprise_utilities GROUP BY district"
AUTHORITY = Actor("test-authority", "authority")


def test_a_job_relying_on_one_row_per_unit_fails_if_a_new_version_repeats_a_unit(
    world: World, demo_files, tmp_path
) -> None:
    d = world.domain
    settings = d.settings.job_settings()
    with d.transaction() as session:
        job = submit(session, world.license_id, world.operator, settings, sql=SQL)
        job_id = job.id
        assert job.status == "queued" and job.policy["rows_are_units"] == ["enterprise_utilities"]
    data_file, _ = demo_files[0]
    frame = pd.read_csv(data_file, dtype=str)
    repeated = tmp_path / "again.csv"
    pd.concat([frame, frame.iloc[[0]]]).to_csv(repeated, index=False)
    with d.transaction() as session:
        schema = get_dataset(session, "enterprise_utilities").schema()
        ingest(session, d.home, repeated, schema, AUTHORITY, new_version=True)
    ran = run(d.sessions, d.home, job_id, settings)  # fails before any sandbox starts
    assert ran.status == "failed" and ran.failure is not None
    assert ran.failure.kind == "rule" and "dataset_changed" in ran.failure
    with d.transaction() as session:
        assert get_job(session, job_id).started_at is None

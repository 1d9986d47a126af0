"""What a job may read: each licensed dataset's store file, or its filtered copy.

A dataset the license filters (行范围) is given to the job only as the rows the
filter allows (`catalog.filtered`); SQL, Spark and notebook jobs all read these
files, so no query can reach the rows the filter leaves out.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from catalog import get_dataset
from catalog.filtered import filtered_file
from catalog.row_filter import parse_row_filter
from core.errors import SluiceError
from core.failures import FailureKind, JobFailure
from core.home import Home
from operators.records import License


class RowFilterFailed(Exception):
    """A license's row filter could not be applied: the job must not run."""

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def unit_rows_changed(session: Session, relied_on: list[str]) -> JobFailure | None:
    """A failure if a dataset the rewrite read without per-unit bounding (its units
    proven one row each at submission) has since been ingested again without that fact:
    the job would then run unbounded on data where a unit has several rows."""
    for name in relied_on:
        if not get_dataset(session, name).one_row_per_unit:
            why = (
                f"dataset_changed: {name} was ingested again and now has units with several "
                "rows; submit the query again"
            )
            return JobFailure(FailureKind.RULE, why)
    return None


def license_files(session: Session, home: Home, license: License) -> dict[str, Path]:
    """dataset name -> the file a job under `license` reads for it."""
    filters = license.row_filters or {}
    files: dict[str, Path] = {}
    for name in license.datasets:
        record = get_dataset(session, name)
        if name not in filters:
            files[name] = record.data_path(home)
            continue
        try:
            predicate = parse_row_filter(filters[name], record.schema())
            files[name] = filtered_file(home, license.id, record, predicate)
        except SluiceError as exc:  # the dataset changed under the filter since the grant
            why = f"license {license.id}'s row filter cannot be applied: {exc}"
            raise RowFilterFailed(JobFailure(FailureKind.LICENSE, why)) from None
    return files

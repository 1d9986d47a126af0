"""A released table as people open it: a preview, CSV that Excel reads, and XLSX.

Only what a release already let out is read here (the release's own table files),
so a preview shows nothing the signed package does not. CSV carries a UTF-8 byte
order mark: without it Excel on Chinese Windows reads UTF-8 as GBK and garbles
every district name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session

from core.errors import NotFound, Step
from core.home import Home
from gate.step import candidate_dir
from jobs.records import Job
from policies import NoiseSpec
from products.release import release_of

__all__ = ["ReleasedTable", "released_tables", "table_csv", "table_xlsx"]

EXCEL_SHEET_NAME_LIMIT = 31


@dataclass(frozen=True)
class ReleasedTable:
    """One released table file and the 95 % half-width of each noisy column in it."""

    name: str
    frame: pd.DataFrame
    half_widths: dict[str, float]  # noisy count or sum column → ± at 95 %


def released_tables(session: Session, home: Home, job: Job) -> list[ReleasedTable]:
    """The tables of a job's release, in the order the release lists them."""
    release = release_of(session, job.id)
    if release is None:
        raise NotFound.coded(
            "job_not_released",
            job_id=job.id,
            status=str(job.status),
            suggestion="wait until a reviewer approves it",
            step=Step.SHOW_JOB,
        )
    noise = [NoiseSpec(**spec) for spec in job.policy.get("noise", [])]
    # an average's interval depends on its group's rows, which are not released
    half_widths = {spec.column: spec.ci95 for spec in noise if not spec.ci95_divisor}
    folder = candidate_dir(home, job)
    tables = []
    for name in release.files:
        if name.endswith(".csv") and not name.startswith("custom/"):
            frame = pd.read_csv(folder / name)
            widths = {c: half_widths[c] for c in frame.columns if c in half_widths}
            tables.append(ReleasedTable(name, frame, widths))
    return tables


def table_csv(table: ReleasedTable) -> bytes:
    """CSV with a byte order mark, so Excel opens Chinese text as UTF-8."""
    return table.frame.to_csv(index=False).encode("utf-8-sig")


def table_xlsx(table: ReleasedTable) -> bytes:
    """One sheet named after the file, header row frozen."""
    buffer = io.BytesIO()
    sheet = table.name.rsplit(".", 1)[0][:EXCEL_SHEET_NAME_LIMIT] or "result"
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.frame.to_excel(writer, sheet_name=sheet, index=False, freeze_panes=(1, 0))
    return buffer.getvalue()

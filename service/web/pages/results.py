"""A released job's tables in the console: preview, chart, and CSV/XLSX downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.errors import NotFound
from jobs.queries import get_job
from operators.accounts import Principal
from products.results import ReleasedTable, released_tables, table_csv, table_xlsx
from service.deps import company_scope
from service.web.charts import chart_for
from service.web.session import domain_of, need

router = APIRouter()
Follower = Annotated[Principal, Depends(need("operator", "reviewer", "authority"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Index = Annotated[int, Path(ge=0, le=999)]
PREVIEW_ROWS = 200
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def results_view(session: Session, request: Request, job_id: int, who: Principal) -> list[dict]:
    """What the job page shows of each released table (nothing before release)."""
    job = get_job(session, job_id, company_scope(who))
    try:
        tables = released_tables(session, domain_of(request).home, job)
    except NotFound:
        return []
    return [
        {
            "index": i,
            "name": table.name,
            "columns": list(table.frame.columns),
            "rows": table.frame.head(PREVIEW_ROWS).to_dict("records"),
            "total": len(table.frame),
            "half_widths": table.half_widths,
            "chart": chart_for(table.frame, table.half_widths, table.name),
        }
        for i, table in enumerate(tables)
    ]


def _table(request: Request, job_id: int, index: int, who: Principal) -> ReleasedTable:
    with domain_of(request).transaction() as s:
        job = get_job(s, job_id, company_scope(who))
        tables = released_tables(s, domain_of(request).home, job)
    if index >= len(tables):
        raise NotFound.coded("job_no_table", job_id=job_id, count=len(tables), index=index)
    return tables[index]


def _download(table: ReleasedTable, job_id: int, suffix: str) -> str:
    stem = table.name.rsplit(".", 1)[0].replace("/", "-")
    return f'attachment; filename="job-{job_id}-{stem}.{suffix}"'


@router.get("/console/jobs/{job_id}/results/{index}.csv")
def result_csv(request: Request, job_id: Id, index: Index, who: Follower) -> Response:
    table = _table(request, job_id, index, who)
    return Response(
        table_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _download(table, job_id, "csv")},
    )


@router.get("/console/jobs/{job_id}/results/{index}.xlsx")
def result_xlsx(request: Request, job_id: Id, index: Index, who: Follower) -> Response:
    table = _table(request, job_id, index, who)
    return Response(
        table_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": _download(table, job_id, "xlsx")},
    )

"""The dataset catalog (资源目录) as operators and staff see it: names, titles, version,
row count, update time, and the level, role, type, desensitization and bounds of each
column (never a value), and each dataset's synthetic twin. Operators see only what their
usable licences cover, with what each licence allows."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from audit_log import AuditAction
from catalog import get_dataset, list_datasets
from catalog.twin import TwinFiles, issue_twin
from catalog.twin_rows import DEFAULT_ROWS, MAX_ROWS
from core.errors import NotFound
from jobs.engines import set_engine_default
from operators import licensed_catalog, licensed_dataset
from operators.accounts import Principal
from service.deps import SessionDep, company_scope, require_role
from service.pagination import Cursor, Page, PageLimit, paginate
from service.schemas.catalog import DatasetOut
from service.schemas.jobs import EngineChoice, EngineDefaultOut

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Anyone = Annotated[
    Principal, Depends(require_role("operator", "authority", "reviewer", "regulator"))
]
Name = Annotated[str, Path(min_length=1, max_length=63)]
Authority = Annotated[Principal, Depends(require_role("authority"))]


def catalog_for(session: Session, who: Principal) -> list[dict[str, Any]]:
    """Every dataset for staff; for an operator, those its licences cover, with their views."""
    company = company_scope(who)
    if company is None:
        return [d.to_dict() for d in list_datasets(session)]
    return [
        {**d.to_dict(), "licensed": [v.to_dict() for v in views]}
        for d, views in licensed_catalog(session, company)
    ]


@router.get("/datasets")
def datasets(
    who: Anyone, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[DatasetOut]:
    shown = [DatasetOut.model_validate(d) for d in catalog_for(s, who)]
    return paginate(shown, lambda d: d.name, limit, cursor, kind=str)


@router.put("/datasets/{name}/engine")
def set_dataset_engine(
    name: Name, body: EngineChoice, who: Authority, s: SessionDep
) -> EngineDefaultOut:
    """The engine SQL over this dataset runs on when neither operator nor licence names one."""
    row = set_engine_default(s, body.engine, who.actor, dataset=name)
    s.flush()
    return EngineDefaultOut.model_validate(row.to_dict())


@router.get("/datasets/{name}")
def dataset(name: Name, who: Anyone, s: SessionDep) -> DatasetOut:
    """One dataset's entry; for an operator, 404 unless a usable licence covers it."""
    if company_scope(who) is None:
        return DatasetOut.model_validate(get_dataset(s, name).to_dict())
    found = [d for d in catalog_for(s, who) if d["name"] == name]
    if not found:
        raise NotFound.coded(
            "dataset_not_licensed", suggestion="see GET /api/v1/datasets", name=name
        )
    return DatasetOut.model_validate(found[0])


# operators licensed to the dataset, and the authority that registered it
TwinTaker = Annotated[Principal, Depends(require_role("operator", "authority"))]
DatasetName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Rows = Annotated[int, Query(ge=1, le=MAX_ROWS)]
Seed = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.get(
    "/datasets/{name}/twin",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def dataset_twin(
    name: DatasetName, who: TwinTaker, s: SessionDep, rows: Rows = DEFAULT_ROWS, seed: Seed = 0
) -> Response:
    """A synthetic twin (Parquet, data dictionary, README) of a dataset the caller may use."""
    return twin_response(downloaded_twin(s, name, who, rows, seed))


def downloaded_twin(s: Session, name: str, who: Principal, rows: int, seed: int) -> TwinFiles:
    """The twin, for a caller licensed to the dataset (404 otherwise), recorded in the log."""
    dataset = licensed_dataset(s, name, company_scope(who))
    action = AuditAction.TWIN_DOWNLOADED
    company = who.operator_id
    return issue_twin(s, dataset, who.actor, action, rows=rows, seed=seed, operator_id=company)


def twin_response(files: TwinFiles) -> Response:
    disposition = f'attachment; filename="{files.dataset}-twin.zip"'
    return Response(
        files.zip(), media_type="application/zip", headers={"Content-Disposition": disposition}
    )

"""The dataset catalog (资源目录) as operators and staff see it: names, titles, and the
level and role of each column (never a value), and each dataset's synthetic twin."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from audit_log import AuditAction
from catalog import list_datasets
from catalog.twin import DEFAULT_ROWS, MAX_ROWS, TwinFiles, issue_twin
from operators import licensed_dataset
from operators.accounts import Principal
from service.deps import SessionDep, company_scope, require_role
from service.schemas.catalog import DatasetOut

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Anyone = Annotated[
    Principal, Depends(require_role("operator", "authority", "reviewer", "regulator"))
]
# operators licensed to the dataset, and the authority that registered it
TwinTaker = Annotated[Principal, Depends(require_role("operator", "authority"))]
DatasetName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Rows = Annotated[int, Query(ge=1, le=MAX_ROWS)]
Seed = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.get("/datasets")
def datasets(_who: Anyone, s: SessionDep) -> list[DatasetOut]:
    return [DatasetOut.model_validate(d.to_dict()) for d in list_datasets(s)]


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

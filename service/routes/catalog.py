"""The dataset catalog (资源目录) as operators and staff see it: names, titles, and the
level and role of each column (never a value)."""

from typing import Annotated

from fastapi import APIRouter, Depends

from catalog import list_datasets
from operators.accounts import Principal
from service.deps import SessionDep, require_role
from service.schemas.catalog import DatasetOut

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Anyone = Annotated[
    Principal, Depends(require_role("operator", "authority", "reviewer", "regulator"))
]


@router.get("/datasets")
def datasets(_who: Anyone, s: SessionDep) -> list[DatasetOut]:
    return [DatasetOut.model_validate(d.to_dict()) for d in list_datasets(s)]

"""Ingest in the console (数据归集), for the data authority and the administrator: upload
a raw file and its schema, as a new dataset or a registered one's next version (as
`sluice catalog ingest [--new-version]` does), and watch it go in batch by batch.

A refusal found before the work starts (a bad schema, a file type ingest cannot read)
is shown beside the form at once; one found while the file is read (columns that do
not match, a value that does not parse) ends the run, whose page then shows the form
again with the refusal. Either way nothing is registered and the refusal is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from catalog import get_dataset, list_datasets
from catalog.schema import DatasetSchema, schema_from_text
from core.errors import InvalidInput, SchemaInvalid, SluiceError
from operators.accounts import Principal
from service.web.ingest_runs import INGEST_ACTION, ingest_run, start_ingest
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Authority = Annotated[Principal, Depends(need("authority"))]
PAGE = "/console/admin/ingest"


def _page(request: Request, status: int = 200, **shown: Any) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        datasets = [{"name": d.name, "version": d.version} for d in list_datasets(s)]
    cap = domain.settings.max_request_bytes
    kept = shown.pop("kept", None) or {}
    return render(
        request, "ingest.html", status=status, datasets=datasets, cap=cap, kept=kept, **shown
    )


@router.get(PAGE)
def ingest_page(request: Request, _who: Authority) -> Any:
    return _page(request)


@router.post(PAGE)
def ingest_upload(request: Request, who: Authority, form: FormDep) -> Any:
    """Check what can be checked at once, then ingest in the background and follow it."""
    target = str(form.get("target", "")).strip()
    schema_text = str(form.get("schema_text", ""))
    kept = {"target": target, "schema_text": schema_text}
    domain = domain_of(request)
    try:
        data = _uploaded(form.get("data"))
        if data is None:
            raise InvalidInput.coded("ingest_file_missing")
        schema, kept["schema_text"] = _schema(request, form.get("schema"), schema_text, target)
        run = start_ingest(
            domain, who, data.file, data.filename, schema, kept["schema_text"], bool(target)
        )
    except SluiceError as error:
        domain.record_refusal(who.actor, INGEST_ACTION, error)
        return _page(request, status=error.http_status, problem=error, kept=kept)
    return RedirectResponse(f"{PAGE}/{run.id}", status_code=303)


@router.get(PAGE + "/{run_id}")
def ingest_follow(request: Request, run_id: str, _who: Authority) -> Any:
    """The run's bar while it works and its outcome after; a failed run's form comes back."""
    run = ingest_run(domain_of(request), run_id)
    if run.state == "failed":
        kept = {"target": run.dataset if run.new_version else "", "schema_text": run.schema_text}
        return _page(request, problem=run.error(), kept=kept, failed=run)
    return _page(request, run=run)


@router.get(PAGE + "/{run_id}/progress")
def ingest_progress(request: Request, run_id: str, _who: Authority) -> JSONResponse:
    return JSONResponse(ingest_run(domain_of(request), run_id).to_dict())


def _uploaded(value: object) -> UploadFile | None:
    """A file the browser sent, or None (an empty file input still sends a nameless part)."""
    return value if isinstance(value, UploadFile) and value.filename else None


def _schema(
    request: Request, uploaded: object, pasted: str, target: str
) -> tuple[DatasetSchema, str]:
    """The schema (an uploaded file, else the pasted text, else for a new version the
    registered one) and its text, to keep in the form."""
    file = _uploaded(uploaded)
    if file is not None:
        try:
            text = file.file.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SchemaInvalid.coded("page_schema_not_utf8", filename=file.filename) from None
        called: str | None = file.filename or ""
    elif pasted.strip():
        text, called = pasted, None
    elif target:
        with domain_of(request).transaction() as s:
            return get_dataset(s, target).schema(), ""
    else:
        raise InvalidInput.coded("ingest_schema_missing")
    schema = schema_from_text(text, called)
    if target and schema.dataset != target:
        raise SchemaInvalid.coded(
            "page_schema_other_dataset", dataset=schema.dataset, target=target
        )
    return schema, text

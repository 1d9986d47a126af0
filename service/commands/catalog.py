"""`sluice catalog`: register, list and show datasets, and write their synthetic twins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit_log import AuditAction
from catalog import get_dataset, ingest, issue_twin, list_datasets
from catalog.schema import load_schema
from catalog.twin import DEFAULT_ROWS, MAX_ROWS
from core.errors import InvalidInput
from service.commands.common import ADMIN, Json, domain
from service.output import emit, handles_errors

catalog_app = typer.Typer(no_args_is_help=True, help="Datasets (资源目录).")


@catalog_app.command("ingest")
@handles_errors("catalog.ingest")
def catalog_ingest(
    file: Path, schema: Annotated[Path, typer.Option()], as_json: Json = False
) -> None:
    """Register a dataset and desensitize it into the domain store."""
    d = domain()
    spec = load_schema(schema)
    if not file.exists():
        raise InvalidInput(f"data file {file} does not exist; check the path")
    progress = None if as_json else (lambda step: typer.echo(f"  … {step}", err=True))
    with d.transaction() as session:
        dataset = ingest(session, d.home, file, spec, ADMIN, progress=progress)
        data = dataset.to_dict()
    emit(data, as_json, f"ingested {data['name']}: {data['row_count']} rows")


@catalog_app.command("list")
@handles_errors("catalog.list")
def catalog_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [d.to_dict() for d in list_datasets(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['name']}\t{r['title']}\t{r['row_count']} rows" for r in rows)
            or "no datasets"
        ),
    )


@catalog_app.command("show")
@handles_errors("catalog.show")
def catalog_show(dataset: str, as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = get_dataset(session, dataset).to_dict()
    emit(data, as_json)


@catalog_app.command("synthesize")
@handles_errors("catalog.synthesize")
def catalog_synthesize(
    dataset: str,
    out: Annotated[Path, typer.Option(help="folder for the Parquet, dictionary and README")],
    rows: Annotated[int, typer.Option(min=1, max=MAX_ROWS)] = DEFAULT_ROWS,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Json = False,
) -> None:
    """Write a synthetic twin of a dataset: its schema, categories and bounds, no real record."""
    d = domain()
    with d.transaction() as session:
        files = issue_twin(
            session,
            get_dataset(session, dataset),
            ADMIN,
            AuditAction.TWIN_SYNTHESIZED,
            rows=rows,
            seed=seed,
        )
        written = files.write(out)
    data = {"dataset": dataset, "rows": rows, "seed": seed, "files": [str(p) for p in written]}
    emit(data, as_json, f"wrote a synthetic twin of {dataset} ({rows} rows, seed {seed}) to {out}")

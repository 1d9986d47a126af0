"""`sluice catalog`: register, list and show datasets, and write their synthetic twins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from catalog.twin_rows import DEFAULT_ROWS, MAX_ROWS
from core.errors import InvalidInput
from service.commands.common import Json, admin, domain
from service.output import emit, emit_rows, handles_errors, progress, record, table

catalog_app = typer.Typer(no_args_is_help=True, help="Datasets (资源目录).")
DATASET_COLUMNS = [
    ("name", "dataset"),
    ("title", "title"),
    ("owner", "owner"),
    ("version", "version"),
    ("row_count", "rows"),
    ("ingested_at", "updated (UTC)"),
]
COLUMN_COLUMNS = [
    ("name", "column"),
    ("type", "type"),
    ("level", "level"),
    ("role", "role"),
    ("desensitize", "desensitization"),
    ("bounds", "bounds"),
    ("stored", "stored"),
]


@catalog_app.command("ingest")
@handles_errors("catalog.ingest")
def catalog_ingest(
    file: Annotated[Path, typer.Argument(help="The raw data file (.csv in UTF-8, or .parquet).")],
    schema: Annotated[Path, typer.Option(help="The dataset's schema (YAML).")],
    new_version: Annotated[
        bool,
        typer.Option(
            "--new-version",
            help="Ingest a registered dataset again as its next version.",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Register a dataset and desensitize it into the domain store."""
    from catalog.ingest import ingest_in_steps
    from catalog.schema import load_schema

    d = domain()
    spec = load_schema(schema)
    if not file.exists():
        raise InvalidInput.coded("cli_data_file_missing", path=str(file))
    with progress(f"ingest {spec.dataset}", 1, as_json) as step:

        def say(text: str) -> None:
            step(text, None)

        def read(done: int, total: int) -> None:
            step(f"{done:,} / {total:,} rows", done / total)

        dataset = ingest_in_steps(
            d.transaction,
            d.home,
            file,
            spec,
            admin(),
            progress=say,
            new_version=new_version,
            rows_read=read,
        )
        data = dataset.to_dict()
    emit(
        data,
        as_json,
        f"ingested {data['name']} version {data['version']}: {data['row_count']:,} rows",
    )


@catalog_app.command("list")
@handles_errors("catalog.list")
def catalog_list(as_json: Json = False) -> None:
    """List the registered datasets: title, owner, version, rows, last update."""
    from catalog import list_datasets

    with domain().transaction() as session:
        data = [d.to_dict() for d in list_datasets(session)]
    emit_rows(data, as_json, DATASET_COLUMNS, "no datasets")


def dataset_text(data: dict[str, Any]) -> str:
    head = {k: v for k, v in data.items() if k != "columns"}
    return record(head) + "\n\n" + table(data["columns"], COLUMN_COLUMNS, "columns")


@catalog_app.command("show")
@handles_errors("catalog.show")
def catalog_show(
    dataset: Annotated[str, typer.Argument(help="The dataset's name, as in SQL.")],
    as_json: Json = False,
) -> None:
    """Show one dataset and each column's level, role, type, desensitization and bounds."""
    from catalog import get_dataset

    with domain().transaction() as session:
        data = get_dataset(session, dataset).to_dict()
    emit(data, as_json, dataset_text)


@catalog_app.command("set-engine")
@handles_errors("catalog.set-engine")
def catalog_set_engine(
    dataset: Annotated[str, typer.Argument(help="The dataset's name, as in SQL.")],
    engine: Annotated[str, typer.Argument(help="duckdb (in the sandbox) or spark.")],
    as_json: Json = False,
) -> None:
    """Set the engine SQL over this dataset runs on when neither the operator nor the
    licence names one (a licence with any dataset on Spark goes to Spark)."""
    from jobs.engines import set_engine_default

    with domain().transaction() as session:
        data = set_engine_default(session, engine, admin(), dataset=dataset).to_dict()
    emit(data, as_json, f"dataset {dataset}: SQL jobs run on {engine} by default")


@catalog_app.command("synthesize")
@handles_errors("catalog.synthesize")
def catalog_synthesize(
    dataset: Annotated[str, typer.Argument(help="the registered dataset to imitate")],
    out: Annotated[Path, typer.Option(help="folder for the Parquet, dictionary and README")],
    rows: Annotated[int, typer.Option(min=1, max=MAX_ROWS, help="rows in the twin")] = DEFAULT_ROWS,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same twin")] = 0,
    as_json: Json = False,
) -> None:
    """Write a synthetic twin of a dataset: its schema, categories and bounds, no real record."""
    from audit_log import AuditAction
    from catalog import get_dataset, issue_twin

    d = domain()
    with d.transaction() as session:
        files = issue_twin(
            session,
            get_dataset(session, dataset),
            admin(),
            AuditAction.TWIN_SYNTHESIZED,
            rows=rows,
            seed=seed,
        )
        written = files.write(out)
    data = {"dataset": dataset, "rows": rows, "seed": seed, "files": [str(p) for p in written]}
    emit(data, as_json, f"wrote a synthetic twin of {dataset} ({rows} rows, seed {seed}) to {out}")

"""`sluice products`: list released outputs as data products."""

from __future__ import annotations

from typing import Annotated

import typer

from operators.accounts import HOST_ADMIN
from products.listing import get_product, list_product, list_products
from service.commands.common import Json, domain
from service.output import emit, handles_errors

products_app = typer.Typer(no_args_is_help=True, help="Data products (数据产品).")


@products_app.command("add")
@handles_errors("products.add")
def products_add(
    release: Annotated[int, typer.Option()],
    name: Annotated[str, typer.Option()],
    description: str = "",
    scenario: str = "",
    price: float = 0.0,
    as_json: Json = False,
) -> None:
    with domain().transaction() as session:
        data = list_product(
            session, release, HOST_ADMIN, name, description, scenario, price
        ).to_dict()
    emit(data, as_json, f"product {data['id']}: {data['name']}")


@products_app.command("list")
@handles_errors("products.list")
def products_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [p.to_dict() for p in list_products(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['id']}\t{r['name']}\t¥{r['price_yuan']}" for r in rows) or "no products"
        ),
    )


@products_app.command("show")
@handles_errors("products.show")
def products_show(product_id: int, as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = get_product(session, product_id).to_dict()
    emit(data, as_json)

"""`sluice products`: list released outputs as data products (cost-plus pricing, filed
with the regulator), reprice, withdraw, record usage and spending, verify provenance,
and write the disclosure report (收支明细)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import InvalidInput
from products.pricing import DEFAULT_SME_DISCOUNT
from service.commands.common import Json, domain
from service.output import emit, emit_rows, handles_errors, table

if TYPE_CHECKING:
    from products.pricing import PricingBasis

products_app = typer.Typer(no_args_is_help=True, help="Data products (数据产品).")
Costs = Annotated[
    list[str] | None,
    typer.Option("--cost", help="ITEM=YUAN per unit sold, e.g. compute=600 (repeatable)"),
]
Margin = Annotated[float, typer.Option(help="0.05 is 5%; capped by the pricing rules")]
SmeDiscount = Annotated[float, typer.Option(help="share off for SMEs (中小微企业)")]
PublicDiscount = Annotated[float, typer.Option(help="share off for public interest; 1 is free")]


ProductId = Annotated[int, typer.Argument(help="The product's id (see `sluice products list`).")]
Price = Annotated[float, typer.Option(help="The whole cost per unit, in yuan, when no --cost.")]
Note = Annotated[str, typer.Option(help="A note kept with the record.")]


def basis(
    costs: list[str] | None, price: float, margin: float, sme: float, public: float
) -> PricingBasis:
    """The pricing basis from --cost ITEM=YUAN options; a bare --price is the whole cost."""
    from products.pricing import PricingBasis

    items: dict[str, float] = {}
    for text in costs or []:
        item, _, value = text.partition("=")
        try:
            items[item.strip()] = float(value)
        except ValueError:
            raise InvalidInput.coded("cli_cost_form", text=text) from None
    if not items:
        items = {"other": price}
    return PricingBasis(items, margin, sme, public)


@products_app.command("add")
@handles_errors("products.add")
def products_add(
    release: Annotated[int, typer.Option(help="The release to list (see `sluice releases list`).")],
    name: Annotated[str, typer.Option(help="The product's name.")],
    description: Annotated[str, typer.Option(help="What the product holds.")] = "",
    scenario: Annotated[str, typer.Option(help="应用场景: what it is for.")] = "",
    usage_scope: Annotated[str, typer.Option(help="使用范围")] = "",
    term_until: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    update_cycle: Annotated[
        str, typer.Option(help="once, daily, weekly, monthly, quarterly or yearly")
    ] = "once",
    cost: Costs = None,
    price: Price = 0.0,
    margin: Margin = 0.0,
    sme_discount: SmeDiscount = DEFAULT_SME_DISCOUNT,
    public_interest_discount: PublicDiscount = 1.0,
    as_json: Json = False,
) -> None:
    """List a release as a product; the listing is filed (告知) with the regulator."""
    from operators.accounts import HOST_ADMIN
    from products.listing import list_product

    try:
        term = date.fromisoformat(term_until) if term_until else None
    except ValueError:
        raise InvalidInput.coded("cli_term_until_form", text=term_until) from None
    d = domain()
    pricing = basis(cost, price, margin, sme_discount, public_interest_discount)
    with d.transaction() as session:
        data = list_product(
            session,
            release,
            HOST_ADMIN,
            name,
            description,
            scenario,
            pricing=pricing,
            usage_scope=usage_scope,
            term_until=term,
            update_cycle=update_cycle,
            home=d.home,
        ).to_dict()
    emit(data, as_json, f"product {data['id']}: {data['name']} {data['pricing']['tiers']}")


@products_app.command("reprice")
@handles_errors("products.reprice")
def products_reprice(
    product_id: ProductId,
    cost: Costs = None,
    price: Price = 0.0,
    margin: Margin = 0.0,
    sme_discount: SmeDiscount = DEFAULT_SME_DISCOUNT,
    public_interest_discount: PublicDiscount = 1.0,
    note: Note = "",
    as_json: Json = False,
) -> None:
    """Set a new price basis; the change is filed (告知) with the regulator."""
    from operators.accounts import HOST_ADMIN
    from products.listing import reprice_product

    pricing = basis(cost, price, margin, sme_discount, public_interest_discount)
    with domain().transaction() as session:
        data = reprice_product(session, product_id, HOST_ADMIN, pricing, note).to_dict()
    emit(data, as_json, f"product {product_id} repriced: {data['pricing']['tiers']}")


@products_app.command("withdraw")
@handles_errors("products.withdraw")
def products_withdraw(
    product_id: ProductId,
    reason: Annotated[str, typer.Option(help="Why; filed with the regulator.")],
    as_json: Json = False,
) -> None:
    """Take a product off the market; the withdrawal is filed (告知)."""
    from operators.accounts import HOST_ADMIN
    from products.listing import withdraw_product

    with domain().transaction() as session:
        data = withdraw_product(session, product_id, HOST_ADMIN, reason).to_dict()
    emit(data, as_json, f"product {product_id} withdrawn")


@products_app.command("use")
@handles_errors("products.use")
def products_use(
    product_id: ProductId,
    buyer: Annotated[str, typer.Option(help="Who bought or used it.")],
    buyer_type: Annotated[str, typer.Option(help="public_interest, sme or commercial")],
    quantity: Annotated[int, typer.Option(help="Units sold or used.")] = 1,
    note: Note = "",
    as_json: Json = False,
) -> None:
    """Record a sale or use, priced at the buyer type's tier."""
    from operators.accounts import HOST_ADMIN
    from products.usage import record_usage

    with domain().transaction() as session:
        data = record_usage(
            session, product_id, HOST_ADMIN, buyer, buyer_type, quantity, note
        ).to_dict()
    emit(data, as_json, f"recorded: {data['quantity']} × ¥{data['unit_price']}")


@products_app.command("spend")
@handles_errors("products.spend")
def products_spend(
    product_id: ProductId,
    category: Annotated[
        str, typer.Option(help="data_processing, compute, storage, labour or other")
    ],
    amount: Annotated[float, typer.Option(help="Yuan spent.")],
    note: Note = "",
    as_json: Json = False,
) -> None:
    """Record spending on a product, for the disclosure report (收支明细)."""
    from operators.accounts import HOST_ADMIN
    from products.usage import record_spending

    with domain().transaction() as session:
        data = record_spending(session, product_id, HOST_ADMIN, category, amount, note).to_dict()
    emit(data, as_json, f"recorded spending ¥{data['amount']} on {data['category']}")


@products_app.command("list")
@handles_errors("products.list")
def products_list(as_json: Json = False) -> None:
    """List data products: status, name, price, release."""
    from products.listing import list_products

    with domain().transaction() as session:
        data = [p.to_dict() for p in list_products(session)]
    columns = [
        ("id", "product"),
        ("status", "status"),
        ("name", "name"),
        ("price_yuan", "price (¥)"),
        ("release_id", "release"),
    ]
    emit_rows(data, as_json, columns, "no products")


@products_app.command("show")
@handles_errors("products.show")
def products_show(product_id: ProductId, as_json: Json = False) -> None:
    """Show a product: terms, price tiers, provenance."""
    from products.listing import get_product

    with domain().transaction() as session:
        data = get_product(session, product_id).to_dict()
    emit(data, as_json)


@products_app.command("verify")
@handles_errors("products.verify")
def products_verify(product_id: ProductId, as_json: Json = False) -> None:
    """Recheck a product's provenance: signature, digest, reviews, audit position."""
    from products.listing import get_product
    from products.provenance import verify_provenance

    d = domain()
    with d.transaction() as session:
        found = get_product(session, product_id)
        checks = [c.to_dict() for c in verify_provenance(session, d.home, found)]
    ok = all(c["ok"] for c in checks)
    emit(
        {"ok": ok, "checks": checks},
        as_json,
        lambda r: "\n".join(
            f"{'ok' if c['ok'] else 'FAILED'}\t{c['check']}\t{c['detail']}" for c in r["checks"]
        ),
    )
    if not ok:
        raise typer.Exit(10)


@products_app.command("filings")
@handles_errors("products.filings")
def products_filings(as_json: Json = False) -> None:
    """List filings (告知) to the regulator, newest first."""
    from products.filings import list_filings

    with domain().transaction() as session:
        data = [f.to_dict() for f in list_filings(session)]
    rows = [{**r, "tiers": (r.get("pricing") or {}).get("tiers")} for r in data]
    columns = [
        ("id", "filing"),
        ("at", "filed (UTC)"),
        ("kind", "kind"),
        ("product_id", "product"),
        ("tiers", "price tiers"),
    ]
    emit(data, as_json, lambda _: table(rows, columns) if rows else "no filings")


@products_app.command("report")
@handles_errors("products.report")
def products_report(
    period: Annotated[str | None, typer.Option(help="YYYY, YYYY-Qn or YYYY-MM")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write the itemized CSV here")] = None,
    as_json: Json = False,
) -> None:
    """The disclosure report of income and spending (收支明细) for a period."""
    from products.usage import current_period, disclosure_report, report_csv

    with domain().transaction() as session:
        report = disclosure_report(session, period or current_period())
    if csv is not None:
        csv.write_text(report_csv(report), encoding="utf-8")
    data = report.to_dict()
    totals = data["totals"]
    emit(
        data,
        as_json,
        f"{data['period']}: {totals['uses']} uses, income ¥{totals['income']}, "
        f"spending ¥{totals['spending']}, net ¥{totals['net']}",
    )

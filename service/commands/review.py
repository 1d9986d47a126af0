"""`sluice review|outputs`: the review queue and decisions; table checks and gate rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from service.commands.common import Json, admin, domain
from service.output import emit, emit_rows, handles_errors, table

review_app = typer.Typer(no_args_is_help=True, help="Output review (出域审核).")
outputs_app = typer.Typer(no_args_is_help=True, help="Output checks and disclosure rules.")
rules_app = typer.Typer(no_args_is_help=True, help="Disclosure rules, per domain and dataset.")
outputs_app.add_typer(rules_app, name="rules")

Reviewer = Annotated[str, typer.Option(help="The reviewing user's name.")]
Reason = Annotated[str, typer.Option(help="Why; required to deny or for an exception.")]
JobId = Annotated[int, typer.Argument(help="The job's id (see `sluice review queue`).")]
QUEUE_COLUMNS = [
    ("job", "job"),
    ("kind", "kind"),
    ("level", "level"),
    ("operator", "company"),
    ("license", "licence"),
    ("approvals", "approved by"),
    ("required_reviews", "reviews needed"),
    ("custom", "custom outputs"),
    ("waiting_since", "waiting since (UTC)"),
]
QueueReviewer = Annotated[str | None, typer.Option(help="Only jobs this user may review.")]


@review_app.command("queue")
@handles_errors("review.queue")
def review_queue(reviewer: QueueReviewer = None, as_json: Json = False) -> None:
    """Outputs awaiting review, oldest first."""
    from operators.accounts import get_user
    from products.review_view import queue_items

    with domain().transaction() as session:
        user = get_user(session, reviewer) if reviewer else None
        items = queue_items(session, user)
    emit_rows(items, as_json, QUEUE_COLUMNS, "nothing awaits review")


@review_app.command("list")
@handles_errors("review.list")
def review_list(reviewer: QueueReviewer = None, as_json: Json = False) -> None:
    """List the outputs awaiting review (the same as `sluice review queue`)."""
    review_queue(reviewer=reviewer, as_json=as_json)


def _view_text(view: dict[str, Any]) -> str:
    job, lineage, checks = view["job"], view["lineage"], view["checks"]
    lines = [
        f"job {job['id']}: {job['status']} ({job['kind']}, {job['level']}, "
        f"license {lineage['license']['id']} of {lineage['license']['operator']})",
        "datasets: "
        + ", ".join(f"{d['name']} v{d['version']}" for d in lineage["datasets"])
        + f"; policy {lineage['policy_version']}; ε {lineage['epsilon']}",
        "submitted:\n  " + (view["source"]["submitted"] or "").replace("\n", "\n  "),
    ]
    if view["source"]["rewritten_sql"]:
        lines.append("ran:\n  " + view["source"]["rewritten_sql"])
    for output in view["outputs"]:
        size = f"{output['rows']} rows" if "rows" in output else f"{output['bytes']} bytes"
        lines.append(f"output {output['name']} ({output['kind']}, {size})")
        if output.get("preview"):  # the rows themselves, as a reviewer must see them
            shown = len(output["preview"])
            title = f"first {shown} of {output['rows']} rows" if shown < output["rows"] else None
            columns = [(c, c) for c in output["columns"]]
            lines.append(table(output["preview"], columns, title))
    lines.append(f"rules: {checks['rules']}")
    lines += [f"  - [{f['rule']}] {f['message']}" for f in checks["findings"]]
    state = view["review"]
    lines.append(
        f"approvals {len(state['approvals'])}/{state['required_reviews']}: "
        + (", ".join(state["approvals"]) or "none")
    )
    return "\n".join(lines)


@review_app.command("show")
@handles_errors("review.show")
def review_show(job: JobId, as_json: Json = False) -> None:
    """What a reviewer sees: the SQL, the outputs, every check with its figures, lineage."""
    from products.review_view import review_view

    d = domain()
    with d.transaction() as session:
        view = review_view(session, d.home, job)
    emit(view, as_json, _view_text)


def _decide(
    job: int, reviewer: str, decision: str, reason: str, exception: bool, as_json: bool
) -> None:
    from operators.accounts import get_user
    from products.review import review
    from service.commands.jobs import show_job

    d = domain()
    with d.transaction() as session:
        user = get_user(session, reviewer)
        review(session, d.home, job, user, decision, reason, exception)
    show_job(d, job, as_json)


@review_app.command("approve")
@handles_errors("review.approve")
def review_approve(
    job: JobId,
    reviewer: Reviewer,
    reason: Reason = "",
    exception: Annotated[
        bool,
        typer.Option(
            "--exception",
            help="Also release the job's custom outputs (needs two reviewers and a reason).",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Approve a job's outputs; enough approvals release them as a signed package."""
    _decide(job, reviewer, "approve", reason, exception, as_json)


@review_app.command("deny")
@handles_errors("review.deny")
def review_deny(job: JobId, reviewer: Reviewer, reason: Reason = "", as_json: Json = False) -> None:
    """Deny a job's outputs: nothing leaves the domain."""
    _decide(job, reviewer, "deny", reason, False, as_json)


@outputs_app.command("check")
@handles_errors("outputs.check")
def outputs_check(
    file: Annotated[Path, typer.Argument(help="A table: CSV or Parquet with companion columns.")],
    as_json: Json = False,
) -> None:
    """Run the disclosure checks on a table (CSV or Parquet with companion columns)."""
    from gate.table_file import check_file

    data = check_file(file)
    emit(
        data,
        as_json,
        lambda r: (
            f"{'BLOCKED' if r['blocked'] else 'passes'}: "
            f"{len(r['findings'])} finding(s), {r['suppressed_share']:.0%} suppressed"
        ),
    )


@rules_app.command("show")
@handles_errors("outputs.rules.show")
def rules_show(as_json: Json = False) -> None:
    """The domain's rules and each dataset's refinement, with the rules in effect."""
    from gate.overrides import dataset_rules, rules_for

    d = domain()
    base = d.settings.disclosure_rules()
    with d.transaction() as session:
        datasets = [
            {**r.to_dict(), "effective": rules_for(session, base, [r.dataset]).to_dict()}
            for r in dataset_rules(session)
        ]
    data = {"domain": base.to_dict(), "datasets": datasets}
    lines = [f"domain: {data['domain']}"]
    lines += [f"{x['dataset']}: {x['effective']}" for x in datasets]
    emit(data, as_json, "\n".join(lines))


@rules_app.command("set")
@handles_errors("outputs.rules.set")
def rules_set(
    dataset: Annotated[str, typer.Option(help="The dataset whose outputs these rules cover.")],
    threshold: Annotated[
        int | None, typer.Option(help="Fewest privacy units under a released cell.")
    ] = None,
    p_ratio: Annotated[float | None, typer.Option(help="The p-ratio rule's p (0.10).")] = None,
    nk_n: Annotated[int | None, typer.Option(help="The nk-dominance rule's n (2).")] = None,
    nk_k: Annotated[float | None, typer.Option(help="The nk-dominance rule's k (0.90).")] = None,
    zeros_disclosive: Annotated[
        bool | None,
        typer.Option("--zeros-disclosive/--zeros-ok", help="Whether a zero cell is disclosive."),
    ] = None,
    rounding_base: Annotated[int | None, typer.Option(help="Round counts to this base.")] = None,
    max_suppressed_share: Annotated[
        float | None, typer.Option(help="Block an output suppressed beyond this share.")
    ] = None,
    allow_weaker: Annotated[
        list[str] | None,
        typer.Option(help="A rule that may be weaker than the domain's; repeat per rule."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Refine the domain's disclosure rules for one dataset (audited)."""
    from gate.overrides import set_dataset_rules

    values = {
        "threshold": threshold,
        "p_ratio": p_ratio,
        "nk_n": nk_n,
        "nk_k": nk_k,
        "zeros_disclosive": zeros_disclosive,
        "rounding_base": rounding_base,
        "max_suppressed_share": max_suppressed_share,
    }
    given = {k: v for k, v in values.items() if v is not None}
    d = domain()
    with d.transaction() as session:
        record = set_dataset_rules(
            session, dataset, given, d.settings.disclosure_rules(), admin(), allow_weaker or []
        )
        data = record.to_dict()
    emit(data, as_json, f"{dataset}: {data['rules']}")


@rules_app.command("clear")
@handles_errors("outputs.rules.clear")
def rules_clear(
    dataset: Annotated[str, typer.Option(help="The dataset whose own rules to drop.")],
    as_json: Json = False,
) -> None:
    """Drop a dataset's own rules: its outputs follow the domain's again."""
    from gate.overrides import clear_dataset_rules

    with domain().transaction() as session:
        clear_dataset_rules(session, dataset, admin())
    emit({"dataset": dataset, "cleared": True}, as_json, f"{dataset}: follows the domain's rules")

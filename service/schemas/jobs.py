"""Jobs and policy decisions as the API shows them.

Operators and staff get the same keys, but an operator's gate findings carry no
figures or message (a figure can reveal a group of one): those fields are optional
and absent from an operator's view, not null.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from service.schemas import Number, Out, Sparse
from service.schemas.common import ReasonOut

__all__ = [
    "EngineChoice",
    "EngineDefaultOut",
    "GateFinding",
    "GateVerdict",
    "JobOut",
    "JobView",
    "PolicyDecisionOut",
]


class EngineChoice(BaseModel):
    """A request body: duckdb (in the sandbox) or spark; another name is refused with
    the choices (jobs.engines.check_engine), as the CLI refuses it."""

    engine: Annotated[str, Field(min_length=1, max_length=20)]


class EngineDefaultOut(Out):
    """The engine a licence's or a dataset's SQL jobs run on when the operator names none."""

    license_id: int | None
    dataset: str | None
    engine: str
    set_by: str
    set_at: str | None


class GateFinding(Sparse):
    """One reason the output gate acted, naming the cell, never an identifying value."""

    rule: str
    row: int | None
    column: str | None
    suggestion: str
    figures: dict[str, Any] | None = None  # staff only
    message: str | None = None  # staff only
    file: str | None = None  # staff only, when the finding is about one output file


class GateVerdict(Sparse):
    """The gate's verdict on a job's outputs; empty until the job has run."""

    blocked: bool | None = None
    suppressed_share: Number | None = None
    cells_checked: int | None = None
    counts: dict[str, int] | None = None
    unlisted: int | None = None
    rules: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    custom: list[str] | None = None
    ignored: list[str] | None = None
    differencing: dict[str, Any] | None = None  # earlier outputs met, cells compared
    findings: list[GateFinding] | None = None


class JobOut(Out):
    id: int
    license_id: int
    kind: str
    parent_id: int | None = None  # the notebook job whose query() made this one
    engine: str
    # why that engine: requested | license_default | dataset_default | system_default
    engine_reason: str | None = None
    status: str
    decision: str
    reasons: list[ReasonOut]
    sql: str | None
    rewritten_sql: str | None
    level: str
    epsilon: Number
    failure: str | None
    outputs: list[str]
    released: list[str]
    gate: GateVerdict
    required_reviews: int
    submitted_by: str
    created_at: str
    finished_at: str | None


class JobView(JobOut):
    """One job with how far along it is and its release, if any."""

    progress: int
    release_id: int | None


class NoiseOut(Out):
    """How one column is noised and how far off it may be, before anything runs."""

    column: str
    kind: str
    mechanism: str
    sensitivity: Number
    epsilon: Number  # this column's share of the query's ε
    count_sensitivity: Number
    granularity: Number  # released values are whole multiples of it (means: see ci95)
    ci95: Number  # 95 % of released values lie within ± this of the exact one
    ci95_divisor: str  # "rows" for averages: the half-width is ci95 / the group's rows
    count_ci95: Number  # averages: the noisy count's own half-width, else 0
    lower: Number  # fixed point: each row is clamped to [lower, upper] (0, 0 for counts)
    upper: Number
    fine: Number  # the unit the private core sums in, exactly; 0 for counts


class CellOut(Sparse):
    column: str
    kind: str
    level: str
    categories: list[str] | None = None  # a group key's declared public code list


class PolicyDecisionOut(Out):
    """What the policy engine would do with a query: allow, rewrite or deny, and why."""

    decision: str
    reasons: list[ReasonOut]
    sql: str | None
    datasets: list[str]
    level: str
    epsilon: Number
    noise: list[NoiseOut]
    cells: list[CellOut]
    notes: list[str]
    noted: list[dict[str, Any]]  # each note's code and figures, for other languages
    lineage: dict[str, Any]
    post_sql: str | None  # post-processing over the released core table (two phases)
    regime: str  # public | sdc | dp (docs/privacy-model.md)
    partition: dict[str, Number] | None  # DP key selection: epsilon, delta, max_groups, threshold
    delta: Number
    rows_are_units: list[str]  # read without per-unit bounding: one row per unit, proven
    policy_version: str

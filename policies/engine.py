"""The policy decision: allow as written, rewrite, or deny with reasons.

`check_query` is pure: it takes the SQL, the catalog's schemas and the
license's scope, and returns a decision; charging the budget and recording the
decision are the caller's job (see `jobs.submit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlglot import exp

from catalog.row_filter import parse_row_filter
from catalog.schema import DatasetSchema
from core.cells import AGGREGATES, CellKind
from core.errors import Reason
from core.levels import Level
from policies.analysis import DIALECT, Analysis, analyse
from policies.core_sql import for_engine
from policies.lineage import lineage
from policies.partitions import PartitionSpec, needs_selection, plan_partitions
from policies.privacy import NoiseSpec, plan_noise
from policies.reasons import note, noted, reason
from policies.rewrite import OutputCell, public_cells, rewrite_aggregate
from policies.rules import column_reasons, level_reasons
from policies.split import RELEASED, split_query
from policies.typecheck import row_filter_reasons, type_reasons

POLICY_VERSION = "sluice-policy/0.1"


class Regime(StrEnum):
    """Which privacy model protects a release (docs/differential-privacy.md)."""

    PUBLIC = "public"  # only L1 columns were read
    SDC = "sdc"  # no L3 value read: exact values under the disclosure rules
    DP = "dp"  # an L3 value was read: the whole release is (ε, δ)-DP


class Decision(StrEnum):
    """What the policy engine does with a query; stored on the job as its plain value."""

    ALLOW = "allow"  # runs as written (only public columns)
    REWRITE = "rewrite"  # runs as rewritten: bounded aggregates, companions, noise
    DENY = "deny"  # never runs; the reasons say why


ROW_FILTER_NOTE = note("row_filter")


@dataclass(frozen=True)
class LicenseScope:
    """What a license lets a query touch.

    `row_filters` (dataset → predicate) are applied to the data before a job reads it
    (`catalog.filtered`), never to the query: the engine only checks that they fit the
    stored types and says they apply.
    """

    datasets: tuple[str, ...]
    max_level: Level
    row_filters: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PolicyDecision:
    decision: Decision
    reasons: list[Reason]
    sql: str | None = None
    datasets: list[str] = field(default_factory=list)
    level: Level = Level.L1
    cells: list[OutputCell] = field(default_factory=list)
    noise: list[NoiseSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tree: exp.Query | None = field(default=None, repr=False)
    lineage: dict[str, Any] = field(default_factory=dict)
    # post-processing: runs over the released core table (named __released) only
    post_tree: exp.Query | None = field(default=None, repr=False)
    regime: Regime = Regime.PUBLIC
    partition: PartitionSpec | None = None  # DP key selection, when keys are not public
    # datasets read without per-unit bounding, because ingest proved one row per unit;
    # the job must not run on a version of them where that no longer holds
    rows_are_units: list[str] = field(default_factory=list)

    @property
    def post_sql(self) -> str | None:
        return self.post_tree.sql(DIALECT) if self.post_tree is not None else None

    @property
    def epsilon(self) -> float:
        chosen = self.partition.epsilon if self.partition is not None else 0.0
        return sum(spec.epsilon for spec in self.noise) + chosen

    @property
    def delta(self) -> float:
        return self.partition.delta if self.partition is not None else 0.0

    def sql_for(self, dialect: str) -> str | None:
        """The rewritten query in another engine's dialect (e.g. "spark")."""
        if self.tree is None:
            return None
        return for_engine(self.tree, dialect).sql(dialect=dialect)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [r.to_dict() for r in self.reasons],
            "sql": self.sql,
            "datasets": self.datasets,
            "level": self.level.value,
            "epsilon": self.epsilon,
            "noise": [n.to_dict() for n in self.noise],
            "cells": [_cell_dict(c) for c in self.cells],
            "notes": self.notes,
            "noted": noted(self.notes),
            "lineage": self.lineage,
            "post_sql": self.post_sql,
            "regime": self.regime,
            "partition": self.partition.to_dict() if self.partition is not None else None,
            "delta": self.delta,
            "rows_are_units": self.rows_are_units,
            "policy_version": POLICY_VERSION,
        }


def plan_dp(
    cells: list[OutputCell], epsilon: float, max_groups: int
) -> tuple[list[NoiseSpec], PartitionSpec | None]:
    """Every aggregate noised, and keys selected when they are not public; the query's ε
    is split evenly between the noisy columns and the key selection."""
    aggregates = [c for c in cells if c.kind in AGGREGATES]
    select = needs_selection(cells)
    share = epsilon / (len(aggregates) + (1 if select else 0))
    noise = plan_noise(cells, share * len(aggregates), every_aggregate=True)
    return noise, plan_partitions(share, max_groups) if select else None


def _exact_beside_noise(column: str) -> Reason:
    return reason("exact_beside_noise", column=column, name=column)


def _cell_dict(cell: OutputCell) -> dict[str, Any]:
    shown: dict[str, Any] = {"column": cell.column, "kind": cell.kind, "level": cell.level.value}
    if cell.categories is not None:
        shown["categories"] = list(cell.categories)
    return shown


def _deny(reasons: list[Reason], datasets: list[str]) -> PolicyDecision:
    return PolicyDecision(Decision.DENY, reasons, datasets=datasets)


def check_query(
    sql: str, schemas: Mapping[str, DatasetSchema], scope: LicenseScope, epsilon: float
) -> PolicyDecision:
    """Decide on one query. Raises InvalidInput for SQL that does not parse."""
    analysis = analyse(sql, schemas, set(scope.datasets))
    decision = _decide(analysis, schemas, scope, epsilon)
    decision.lineage = lineage(analysis)
    return decision


def _decide(
    analysis: Analysis, schemas: Mapping[str, DatasetSchema], scope: LicenseScope, epsilon: float
) -> PolicyDecision:
    if analysis.reasons:
        return _deny(analysis.reasons, analysis.datasets)
    used = {name: schemas[name] for name in analysis.datasets}
    assert analysis.tree is not None
    reasons = level_reasons(analysis, scope.max_level) + column_reasons(analysis, dict(used))
    # checked against stored types, so what passes here cannot fail in the engine for a type
    reasons += type_reasons(analysis.tree, used)
    if reasons:
        return _deny(reasons, analysis.datasets)
    level = max((u.column.level for u in analysis.uses), key=lambda lv: lv.rank, default=Level.L1)
    filters = {
        name: parse_row_filter(text, used[name])
        for name, text in scope.row_filters.items()
        if name in used
    }
    if reasons := row_filter_reasons(filters, used):
        return _deny(reasons, analysis.datasets)
    # the job reads only the rows its license allows, so nothing in the query can widen them
    filtered: list[str] = [ROW_FILTER_NOTE] if filters else []
    if analysis.public_only:
        # what runs is always the rendering of the checked tree, never the submitted text,
        # so a parser difference between sqlglot and DuckDB cannot smuggle anything in
        checked = analysis.tree
        return PolicyDecision(
            Decision.ALLOW,
            [],
            checked.sql(DIALECT),
            analysis.datasets,
            level,
            public_cells(checked),
            notes=filtered,
            tree=checked,
        )
    assert analysis.layers is not None
    split = split_query(analysis.tree, analysis.layers)
    rewrite = rewrite_aggregate(split.core, used)
    if split.reasons or rewrite.reasons:
        return _deny(split.reasons + rewrite.reasons, analysis.datasets)
    tree = rewrite.tree
    notes = rewrite.notes + filtered
    if split.post is not None:
        notes.append(note("post_processing", {"table": RELEASED}))
    # DP when an L3 value is read, or a cell must be noised whatever it reads (a distinct
    # count of anything but the unit is one, policies/rewrite.py)
    noisy_cell = any(c.kind in AGGREGATES and c.level is Level.L3 for c in rewrite.cells)
    regime = Regime.DP if level is Level.L3 or noisy_cell else Regime.SDC
    noise: list[NoiseSpec] = []
    partition = None
    if regime is Regime.DP:
        exact = [c.column for c in rewrite.cells if c.kind is CellKind.VALUE]
        if exact:
            return _deny([_exact_beside_noise(exact[0])], analysis.datasets)
        noise, partition = plan_dp(rewrite.cells, epsilon, rewrite.max_groups)
        figures = {"epsilon": epsilon, "columns": ", ".join(n.column for n in noise)}
        if partition is None:
            notes.append(note("noise", figures))
        else:
            notes.append(note("noise_and_keys", {**figures, "delta": partition.delta}))
    return PolicyDecision(
        Decision.REWRITE,
        [],
        tree.sql(DIALECT),
        analysis.datasets,
        level,
        rewrite.cells,
        noise,
        notes,
        tree,
        post_tree=split.post,
        regime=regime,
        partition=partition,
        rows_are_units=list(analysis.datasets) if rewrite.rows_are_units else [],
    )

"""Every reason and note the policy engine gives, by code: its English wording and figures.

A reason carries its code and the figures its sentence is made from, so a front end can
word it in its own language (the console's zh-CN catalog); the English here is what the
API and the CLI show. A rule missing from `REASONS` cannot be given: `reason` refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Any

from core.errors import Reason

__all__ = ["NOTES", "REASONS", "SIMPLIFY", "Note", "Wording", "note", "noted", "reason", "worded"]


@dataclass(frozen=True)
class Wording:
    """A rule's sentence and fix, as templates over the figures every such reason carries."""

    message: str
    suggestion: str | None = None

    @property
    def figures(self) -> frozenset[str]:
        """The names the templates use: exactly the figures each reason of the rule carries."""
        texts = (self.message, self.suggestion or "")
        return frozenset(
            name for text in texts for _, name, _, _ in Formatter().parse(text) if name
        )


_L3_FIX = "aggregate it with {aggregate}"
_TYPE = Wording(
    "{expression} is {type}, which does not fit here", "use a value of a type that fits"
)

# the next step for a query the analysis could not afford
SIMPLIFY = "simplify the query: fewer nested subqueries and expressions, or split it in two"

REASONS: dict[str, Wording] = {
    # parsing and the statement (policies.analysis)
    "one_statement": Wording(
        "one SELECT statement per job, found {count}", "submit a single SELECT"
    ),
    "select_only": Wording("only SELECT queries run here, not {kind}", "rewrite it as one SELECT"),
    "no_recursion": Wording(
        "recursive CTEs are not allowed", "express the query without WITH RECURSIVE"
    ),
    "reserved_name": Wording(
        "the name {name!r} is reserved: names starting with __ are Sluice's own",
        "choose a name that does not start with two underscores",
    ),
    "cte_shadows_dataset": Wording(
        "the CTE {name!r} has the name of a dataset", "give the CTE a name of its own"
    ),
    "no_column_aliases": Wording(
        "{table} renames columns in FROM", "rename columns with AS in the SELECT list"
    ),
    "no_sampling": Wording(
        "TABLESAMPLE/USING SAMPLE is not allowed", "aggregate over the full licensed data"
    ),
    "function_not_allowed": Wording(
        "{kind} {name!r} is not on the allow-list",
        "use plain SELECT with COUNT, SUM, AVG and scalar functions",
    ),
    "no_table_functions": Wording(
        "table function {name!r} is not allowed", "query licensed datasets by name"
    ),
    "no_qualified_tables": Wording(
        "table {table} names a schema or database",
        "name the dataset alone, e.g. FROM enterprise_utilities",
    ),
    "unknown_dataset": Wording(
        "dataset {dataset!r} is not in the catalog",
        "list the catalog's datasets to see which exist",
    ),
    "dataset_not_licensed": Wording(
        "dataset {dataset!r} is not covered by this license",
        "apply for a license that includes it",
    ),
    "l4_denied": Wording(
        "{dataset}.{name} is L4 core data and never enters the domain store",
        "remove it from the query",
    ),
    "column_dropped": Wording(
        "{dataset}.{name} was dropped at ingest (desensitize: drop)",
        "remove it from the query",
    ),
    "unknown_column": Wording("{field} is not a column of {table}", "name stored columns only"),
    # levels and roles (policies.rules)
    "above_license_level": Wording(
        "{field} is {column_level}; this license allows up to {max_level}",
        "apply for a {column_level} license or drop the column",
    ),
    "identifier_use": Wording(
        "{field} is a direct identifier and appears as {context}",
        "use it only as a join key or in COUNT(DISTINCT {unit})",
    ),
    "sum_of_non_measure": Wording(
        "{field} is not a measure with bounds", "use COUNT({name}) instead"
    ),
    "l3_inside_expression": Wording(
        "{field} (L3) is inside an expression, CASE or FILTER within an aggregate",
        "aggregate the bare column, e.g. AVG({name})",
    ),
    "l3_aggregate_not_allowed": Wording(
        "{field} (L3) may not be aggregated with {function}", "use COUNT, SUM or AVG({name})"
    ),
    "l3_in_filter": Wording("{field} (L3) may not filter rows", "filter on L1 or L2 columns only"),
    **{
        f"l3_{context}": Wording(
            f"{{field}} (L3) may not appear as {context.replace('_', ' ')}", _L3_FIX
        )
        for context in ("projected", "group_key", "join_key", "order", "count_distinct")
    },
    "l2_aggregate_not_allowed": Wording(
        "{field} (L2) may be aggregated only as COUNT, SUM or AVG of the bare column",
        "use AVG({name}) or COUNT(*)",
    ),
    "join_on_units": Wording(
        "the join with {table} must be INNER or LEFT and ON its privacy unit equal to "
        "another dataset's (e.g. a.enterprise_id = b.enterprise_id)",
        "join datasets on their privacy units only",
    ),
    "row_level_output": Wording(
        "{field} ({column_level}) would leave as row-level data; "
        "only L1 columns may be queried without aggregation",
        "aggregate it, or drop it",
    ),
    "shape_not_supported": Wording(
        "queries over L2/L3 columns must be one SELECT ... GROUP BY with COUNT, SUM or AVG; "
        "CTEs, subqueries, windows and set operations over them are not supported",
        "aggregate directly FROM the datasets, joined on identifiers",
    ),
    "read_outside_aggregate": Wording(
        "dataset columns may be read only in the SELECT that aggregates them",
        "move the condition or subquery into the aggregating SELECT",
    ),
    "aggregate_filter": Wording(
        "FILTER (WHERE ...) inside an aggregate is not allowed", "move the condition to WHERE"
    ),
    # the rewrite and the split (policies.rewrite, policies.split, policies.engine)
    "needs_bounds": Wording(
        "{name}: SUM/AVG needs a measure column with bounds", "aggregate a measure column directly"
    ),
    "aggregate_not_supported": Wording(
        "{name}: {function} cannot be checked by the output gate", "use COUNT, SUM or AVG"
    ),
    "count_distinct_columns": Wording(
        "{name}: COUNT(DISTINCT {columns}) counts combinations of several expressions; "
        "the rewrite counts one",
        "count one expression, e.g. COUNT(DISTINCT a || '/' || b), "
        "or GROUP BY the columns and count the released rows",
    ),
    "projection_shape": Wording(
        "output column {name!r} must be a GROUP BY key or one aggregate",
        "project group keys as written in GROUP BY, one aggregate each",
    ),
    "qualify_in_core": Wording(
        "QUALIFY in the aggregating SELECT has no window to act on",
        "rank in an outer query over the aggregated table",
    ),
    "post_reads_data": Wording(
        "the query above the aggregate reads {table!r} directly",
        "read datasets only in the one aggregating SELECT",
    ),
    "exact_beside_noise": Wording(
        "{name} is an exact value in an output that reads L3 data",
        "drop MIN/MAX-style values, or query them separately without L3 columns",
    ),
    # types (policies.typecheck): the English names the exact mismatch; figures name the operand
    "type_mismatch": _TYPE,
    "unsafe_conversion": _TYPE,
    "row_filter_type": Wording(
        "the license's row filter for {dataset} does not fit the store",
        "ask the data authority to correct the license's row filter",
    ),
    # the budget (policies.budget) and the analysis budget (policies.complexity)
    "budget_exhausted": Wording(
        "this query needs ε={needed:.3f} but license {license} has ε={left:.3f} left",
        "reuse an earlier release or ask the data authority for more budget",
    ),
    "delta_exhausted": Wording(
        "this query needs δ={needed:.3g} (its keys are chosen by differential privacy) "
        "but license {license} has δ={left:.3g} left",
        "group by columns with declared public categories (they spend no δ), "
        "or ask the data authority for more δ",
    ),
    # the policy analysis's own budget (policies.complexity), one rule per limit
    **{
        rule: Wording(f"query too complex: {what}", SIMPLIFY)
        for rule, what in {
            "query_too_long": "the text is too long ({chars} > {limit} characters)",
            "query_too_deep": "it is nested too deeply ({depth} levels of parentheses > {limit})",
            "query_parser_stack": "it is nested too deeply (the parser's stack ran out)",
            "query_too_many_nodes": "it has too many parts (over {limit} nodes)",
            "query_too_slow": "the analysis ran out of time (over {seconds:g} s)",
            "query_out_of_memory": "the analysis ran out of memory (its process ended)",
        }.items()
    },
    # model training (policies.training)
    "training_shape": Wording("fit() takes one SELECT ... FROM <dataset> [WHERE ...]"),
    "identifier": Wording("{name} is an identifier; it cannot train a model"),
    "level": Wording("{name} ({column_level}) is above the licence's level"),
    "unbounded": Wording("{name} has no bounds in the schema; a DP model needs bounded numbers"),
    "label_classes": Wording("{name} is not a declared category list or a 0/1 column"),
    "syntax": Wording("the SQL does not parse: {problem}"),
    "label": Wording("the label does not fit the model {model}"),
    "features": Wording("give distinct feature columns, not including the label"),
}


def reason(rule: str, **given: Any) -> Reason:
    """The policy engine's reason for `rule`, worded from its figures (see `worded`)."""
    return worded(REASONS, rule, **given)


def worded(
    registry: dict[str, Wording],
    rule: str,
    *,
    column: str | None = None,
    level: str | None = None,
    message: str | None = None,
    suggestion: str | None = None,
    **figures: Any,
) -> Reason:
    """The reason for `rule` in `registry`, worded from its figures (other packages keep
    registries of their own, e.g. products.reasons).

    `message` or `suggestion` replace the English template where the engine can say
    more than the template does (a type mismatch names its exact operator); the figures
    stay the template's, so every language words the reason from the same facts.
    """
    wording = registry[rule]
    missing = wording.figures - figures.keys()
    if missing or figures.keys() - wording.figures:
        raise ValueError(f"reason {rule!r} takes figures {sorted(wording.figures)}")
    if suggestion is None and wording.suggestion is not None:
        suggestion = wording.suggestion.format(**figures)
    return Reason(
        rule,
        message if message is not None else wording.message.format(**figures),
        column=column,
        level=level,
        suggestion=suggestion,
        figures=figures or None,
    )


# What the engine did to an accepted query, said beside the rewritten SQL.
NOTES: dict[str, str] = {
    "bounded": "contributions bounded to {limit} row(s) per {unit}",
    "rows_are_units": "one row per {unit} proven at ingest: each row is one unit's whole "
    "contribution, so no per-unit bounding",
    "clamped": "measures clamped to their schema bounds",
    "companions": "companion columns added for the output gate",
    "row_filter": "license row filter applied to the data",
    "post_processing": "post-processing runs over the released table ({table}) only",
    "noise": "differential privacy (ε={epsilon:g}): noise on {columns}",
    "noise_and_keys": "differential privacy (ε={epsilon:g}): noise on {columns}; "
    "keys by partition selection (δ={delta:g})",
}


class Note(str):
    """A note, which is also its English text (decisions list notes as text), with the
    code and figures another language words it from."""

    code: str
    figures: dict[str, Any]

    def __new__(cls, code: str, **figures: Any) -> Note:
        made = super().__new__(cls, NOTES[code].format(**figures))
        made.code, made.figures = code, figures
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (note, (self.code, self.figures))


def note(code: str, figures: dict[str, Any] | None = None) -> Note:
    return Note(code, **(figures or {}))


def noted(notes: list[str]) -> list[dict[str, Any]]:
    """The notes' codes and figures, for records beside their text (an old text: no code)."""
    return [
        {"code": n.code, "figures": n.figures} if isinstance(n, Note) else {"code": None}
        for n in notes
    ]

"""The console's words for what the domain says: policy reasons, gate findings, job
failures, provenance checks and error hints, in the reader's language.

Domain objects carry a stable code and the figures their English sentence is made from;
here each is worded from the language's catalog (`reason:<rule>`, `fix:<rule>`,
`problem:<rule>`, `suggestion:<rule>`, `failure:<kind>`, `provenance:<check>[:failed]`,
`step:<step>`, `message:<code>` for a coded error's sentence), formatted with those
figures. A code the catalog lacks, or a record written before it carried figures, keeps
the domain's English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import Reason, SluiceError
from core.failures import FailureKind, JobFailure
from core.messages import HINTS
from jobs.records import ERROR_WITHHELD

__all__ = [
    "Worded",
    "catalog_label",
    "check_words",
    "error_label",
    "error_words",
    "failure_words",
    "figure_label",
    "figures_text",
    "finding_words",
    "note_words",
    "reason_words",
]

Translate = Callable[..., str]


@dataclass(frozen=True)
class Worded:
    """A sentence and what to do about it, ready to show."""

    message: str
    suggestion: str | None = None


def _from_catalog(key: str, figures: Mapping[str, Any], fallback: str, t: Translate) -> str:
    """The catalog's wording of `key` with the figures, else the domain's English."""
    template = t(key)
    if template == key:
        return fallback
    try:
        return template.format(**figures)
    except (KeyError, IndexError, ValueError):  # a record older than its figures
        return fallback


def catalog_label(key: str, fallback: str, t: Translate) -> str:
    """The catalog's words for `key`, else `fallback` (a code it does not word yet)."""
    label = t(key)
    return fallback if label == key else label


def figure_label(name: str, t: Translate) -> str:
    """A figure's or check's name (threshold, suppressed_share) in the reader's language;
    a rule's name where the figure is a count per rule (the gate's `counts`)."""
    return catalog_label(f"figure:{name}", catalog_label(f"rule:{name}", name, t), t)


def figures_text(value: Any, t: Translate, show: Callable[[Any], str]) -> str:
    """A gate record's figures (nested mappings and lists of them) with their names in
    the reader's language and their values as `show` writes cells."""
    if isinstance(value, Mapping):
        parts = (
            f"{figure_label(str(k), t)}: {_figure_value(k, v, t, show)}" for k, v in value.items()
        )
        return "; ".join(parts)
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        return " | ".join(figures_text(v, t, show) for v in value)
    return show(value)


def _figure_value(name: Any, value: Any, t: Translate, show: Callable[[Any], str]) -> str:
    """One figure's value; an output's kind (table, custom, model) is a word, not data."""
    if name == "kind" and isinstance(value, str):
        return catalog_label(value, value, t)
    return figures_text(value, t, show)


def reason_words(reason: Reason | Mapping[str, Any], t: Translate) -> Worded:
    """A policy reason, worded from its rule and figures."""
    found = reason.to_dict() if isinstance(reason, Reason) else dict(reason)
    rule, figures = str(found.get("rule", "")), found.get("figures") or {}
    message = _from_catalog(f"reason:{rule}", figures, str(found.get("message", "")), t)
    suggestion = found.get("suggestion")
    if suggestion:
        suggestion = _from_catalog(f"fix:{rule}", figures, str(suggestion), t)
    return Worded(message, suggestion)


def finding_words(finding: Mapping[str, Any], t: Translate) -> Worded:
    """A gate finding: the cell it names, what went wrong there, and the fix."""
    rule, figures = str(finding.get("rule", "")), finding.get("figures") or {}
    column, row = finding.get("column"), finding.get("row")
    place = t("column {column}", column=column) if column is not None else t("the table")
    if row is not None:
        place = t("row {row}, {place}", row=row, place=place)
    problem = _from_catalog(f"problem:{rule}", figures, "", t)
    message = t("{place} {problem}", place=place, problem=problem) if problem else None
    fallback = str(finding.get("suggestion") or "")
    suggestion = _from_catalog(f"suggestion:{rule}", figures, fallback, t) or None
    return Worded(message or str(finding.get("message") or ""), suggestion)


def failure_words(text: str, t: Translate) -> str:
    """Why a job failed: its kind worded, with the limit or rule it names in words too."""
    failure = JobFailure.parse(text)
    detail, key = failure.detail, f"failure:{failure.kind}"
    if failure.kind is FailureKind.LIMIT:
        detail = catalog_label(f"limit:{detail}", detail, t)
    elif failure.kind is FailureKind.RULE:
        code = detail.split(":", 1)[0]
        detail = catalog_label(f"failure_rule:{code}", detail, t)
    elif failure.kind is FailureKind.ERROR and detail.endswith(f"; {ERROR_WITHHELD}"):
        detail, key = detail.removesuffix(f"; {ERROR_WITHHELD}"), "failure:error:withheld"
    return _from_catalog(key, {"detail": detail}, str(text), t)


def note_words(text: str, coded: Mapping[str, Any] | None, t: Translate) -> str:
    """What the engine did to a query (a decision's note), from its code and figures."""
    code = getattr(text, "code", None) or (coded or {}).get("code")
    figures = getattr(text, "figures", None) or (coded or {}).get("figures") or {}
    return _from_catalog(f"note:{code}", figures, str(text), t) if code else str(text)


def check_words(check: Mapping[str, Any], t: Translate) -> str:
    """A provenance check's outcome, worded from its name, result and figures."""
    key = f"provenance:{check.get('check')}" + ("" if check.get("ok") else ":failed")
    return _from_catalog(key, check.get("figures") or {}, str(check.get("detail", "")), t)


def error_label(code: str, t: Translate) -> str:
    """An error's kind (`policy_denied`) in the reader's language, as refusals record it."""
    return catalog_label(f"error:{code}", code, t)


# figures naming roles or states: worded one at a time ("authority or regulator")
LABELLED_FIGURES = frozenset({"role", "roles", "status", "states", "to"})


def _error_figures(error: SluiceError, t: Translate) -> dict[str, Any]:
    """A coded error's figures, with the roles and states it names in the reader's language."""
    figures = dict(error.figures or {})
    for name in LABELLED_FIGURES & figures.keys():
        roles = str(figures[name]).split(" or ")
        figures[name] = t(" or ").join(catalog_label(role, role, t) for role in roles)
    return figures


def error_words(error: SluiceError, t: Translate, steps: str = "step") -> Worded:
    """A refusal for a console page: the error's kind and, when it is coded, its sentence
    in words when the page's language is not English; the next step the domain names,
    worded by the console. An uncoded sentence keeps its English after the kind.

    `steps` is the catalog's namespace for next steps: the console's (`step:`) name a
    page, the CLI's (`cli_step:`) the command to type."""
    sentence, suggestion = error.message, error.suggestion
    if error.message_code is not None:
        figures = _error_figures(error, t)
        sentence = _from_catalog(f"message:{error.message_code}", figures, sentence, t)
        if error.message_code in HINTS and suggestion:
            suggestion = _from_catalog(f"hint:{error.message_code}", figures, suggestion, t)
    message = _from_catalog(f"error:{error.code}", {}, error.message, t)
    if message != error.message and not error.reasons:
        message = t("{kind}: {message}", kind=message, message=sentence)  # keep the facts
    if error.step is not None:
        suggestion = _from_catalog(f"{steps}:{error.step}", {}, suggestion or "", t) or None
    return Worded(message, suggestion)

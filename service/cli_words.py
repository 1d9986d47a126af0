"""The CLI's words in zh-CN: a refusal worded by the console's wording functions from the
same catalog, with each next step as the command to type (`cli_step:<step>`), and a
table's headers (`cli_header:<header>`), status values and yes/no (`cli_value:`).

Imported only when a person in a Chinese locale meets a refusal or a table, so `sluice
--help` and English output never load the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.errors import Reason, SluiceError
from service.output import CHINESE
from service.web.i18n import translator
from service.web.wording import catalog_label, error_words, reason_words

__all__ = ["HEADERS", "STATUS_COLUMNS", "STEPS", "chinese_refusal", "chinese_table"]

# the catalog's namespace for next steps worded as commands (the console's is `step:`)
STEPS = "cli_step"
HEADERS = "cli_header"
# columns whose values are states the domain names (job, licence, product), not data
STATUS_COLUMNS = ("status",)


def _reason_line(reason: Reason, t: Callable[..., str]) -> str:
    worded = reason_words(reason, t)
    said = f"{worded.message} — {worded.suggestion}" if worded.suggestion else worded.message
    return f"  - {said}"


def chinese_refusal(error: SluiceError) -> list[str]:
    """`sluice: <kind and sentence>；<what to type next>`, then one line per reason, laid
    out as the English lines are."""
    t = translator(CHINESE)
    worded = error_words(error, t, steps=STEPS)
    first = worded.message
    if worded.suggestion:
        first = t("{message}; {hint}", message=worded.message, hint=worded.suggestion)
    return [f"sluice: {first}", *(_reason_line(reason, t) for reason in error.reasons)]


def _yes_no(value: Any, t: Callable[..., str]) -> Any:
    if isinstance(value, bool):
        return catalog_label(f"cli_value:{'yes' if value else 'no'}", str(value), t)
    return value


def _chinese_row(row: dict[str, Any], t: Callable[..., str]) -> dict[str, Any]:
    """A row with its states (and a record's `status` field) and yes/no in Chinese."""
    shown = {key: _yes_no(value, t) for key, value in row.items()}
    for key in STATUS_COLUMNS:
        if row.get(key) is not None:
            shown[key] = t(str(row[key]))
    if row.get("field") in STATUS_COLUMNS and isinstance(row.get("value"), str):
        shown["value"] = t(row["value"])  # one record shown as field and value
    return shown


def chinese_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str | None
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], str | None]:
    """A table's headers, title, states and yes/no in Chinese; every other cell is data
    (names, ids, SQL) and is shown as stored."""
    t = translator(CHINESE)
    headers = [(key, catalog_label(f"{HEADERS}:{header}", header, t)) for key, header in columns]
    shown = [_chinese_row(row, t) for row in rows]
    return shown, headers, title and catalog_label(f"{HEADERS}:{title}", title, t)

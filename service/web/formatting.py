"""How the console shows times, numbers and table cells to people, in either language.

Records keep UTC ISO timestamps and raw Python values; pages show the bureau's local
time (Asia/Shanghai, with the zone named), numbers with thousands separators and as
many decimals as mean something, and cells as words rather than `None`, `False` or
`{'threshold': 10}`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

__all__ = [
    "LOCAL_ZONE",
    "mark_data",
    "official_notice",
    "rule_label",
    "show_cell",
    "show_number",
    "show_time",
]

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
ZONE_LABEL = {"zh-CN": "北京时间", "en": "CST, UTC+8"}
EMPTY = "—"
BOOLEANS = {"zh-CN": ("否", "是"), "en": ("no", "yes")}
SIGNIFICANT = 4  # digits kept after the point for non-integers; more is noise to a reader


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] in "T ":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def show_time(value: Any, lang: str = "zh-CN", *, seconds: bool = False) -> str:
    """A UTC timestamp as local time with the zone shown; a plain date stays a date."""
    if value in (None, ""):
        return EMPTY
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    if moment.tzinfo is None:  # the records store naive UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(LOCAL_ZONE)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} ({ZONE_LABEL.get(lang, ZONE_LABEL['en'])})"


def show_number(value: Any, decimals: int | None = None) -> str:
    """Thousands separators; integers whole, others to a few meaningful decimals."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return EMPTY
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if decimals is None:
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        magnitude = math.floor(math.log10(abs(value))) if value else 0
        decimals = max(0, min(SIGNIFICANT, SIGNIFICANT - 1 - magnitude))
        decimals = max(decimals, 2) if abs(value) < 1e6 else decimals
    return f"{value:,.{decimals}f}"


def show_cell(value: Any, lang: str = "zh-CN") -> str:
    """One table cell as a person reads it: words for booleans and missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    if isinstance(value, bool):
        return BOOLEANS.get(lang, BOOLEANS["en"])[int(value)]
    if isinstance(value, (int, float, Decimal)):
        return show_number(value)
    if isinstance(value, (datetime, date)) or _as_datetime(value) is not None:
        return show_time(value, lang)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {show_cell(v, lang)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ", ".join(show_cell(v, lang) for v in value)
    return str(value)


# A notice is what the console itself says after an action ("job 7: released"). It
# arrives in the URL after a redirect, so anything not of this exact shape is someone
# else's text and is dropped, never shown in the official notice box.
NOTICE = re.compile(r"(job|license|product) (\d{1,12}): ([a-z_]{1,40})")
NOUNS = {"job": "Job", "license": "License", "product": "Product"}


def official_notice(text: str | None, t: Callable[[str], str]) -> str | None:
    """The console's own notice, translated; None for anything else."""
    match = NOTICE.fullmatch(text or "")
    if match is None:
        return None
    noun, number, state = match.groups()
    return f"{t(NOUNS[noun])} #{number}: {t(state)}"


def rule_label(code: str, t: Callable[[str], str]) -> str:
    """A policy or disclosure rule in the reader's language: its translation when the
    catalog has one (`rule:<code>`), else the code itself, which the docs explain."""
    label = t(f"rule:{code}")
    return code if label == f"rule:{code}" else label


def _reads_as_latin(name: str) -> bool:
    """Whether a reader could take a name for an English word or code: three Latin
    letters (a column, a digest) or a dotted or underscored code; `L3` or `n` not."""
    letters = sum(c.isascii() and c.isalpha() for c in name)
    return letters >= 3 or re.search(r"[A-Za-z][._]\w", name) is not None


def mark_data(text: str, figures: Mapping[str, Any] | None) -> Markup:
    """A worded sentence with the names and digests the domain supplied (a dataset's
    column, a package's sha256) marked translate="no", and the code a catalog wording
    quotes in backticks (`query()`) set as code: both are kept as given, not words a
    Chinese reader should find translated."""
    marked = str(escape(text))
    names = {str(v) for v in (figures or {}).values() if isinstance(v, str)}
    names = {str(escape(n)) for n in names if _reads_as_latin(n)}
    if names:
        found = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        found = rf"(?<![A-Za-z0-9_.])(?:{found})(?![A-Za-z0-9_])"  # whole names, not inside one
        marked = re.sub(found, r'<span translate="no">\g<0></span>', marked)
    marked = re.sub(r"`([^`]+)`", r"<code>\1</code>", marked)
    return Markup(marked)  # escaped text, escaped names, our own tags

"""The CLI's words in zh-CN: a refusal worded by the console's wording functions from the
same catalog, with each next step as the command to type (`cli_step:<step>`).

Imported only when a person in a Chinese locale meets a refusal, so `sluice --help`
and English output never load the catalog.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import Reason, SluiceError
from service.output import CHINESE
from service.web.i18n import translator
from service.web.wording import error_words, reason_words

__all__ = ["STEPS", "chinese_refusal"]

# the catalog's namespace for next steps worded as commands (the console's is `step:`)
STEPS = "cli_step"


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

"""The console's two languages: zh-CN (the default) and English.

Templates write English text and call `t(text)`; each catalog maps that text to
its translation (a missing entry falls back to the English text).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
FOLDER = Path(__file__).parent / "i18n"


@cache
def catalog(language: str) -> dict[str, str]:
    messages: dict[str, str] = json.loads((FOLDER / f"{language}.json").read_text("utf-8"))
    return messages


def chosen(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translator(language: str):  # type: ignore[no-untyped-def]
    messages = catalog(chosen(language))

    def t(text: str, **values: object) -> str:
        message = messages.get(text, text)
        return message.format(**values) if values else message

    return t

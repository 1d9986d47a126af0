"""Classification levels (after GB/T 43697-2024) and column roles: the shared vocabulary."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """L1 公开 public · L2 内部 internal · L3 敏感 sensitive · L4 核心/重要 core."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L4 = "L4"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    @property
    def label(self) -> str:
        return {"L1": "公开 public", "L2": "内部 internal", "L3": "敏感 sensitive"}.get(
            self.value, "核心 core"
        )


class Role(StrEnum):
    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    DIMENSION = "dimension"
    MEASURE = "measure"
    ATTRIBUTE = "attribute"

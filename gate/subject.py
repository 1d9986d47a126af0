"""What the gate needs to know about the job whose outputs it judges.

The gate sits below `jobs/` in the dependency order, so it takes any object with
these fields (a `jobs.records.Job` is one) rather than importing the job table.
"""

from __future__ import annotations

from typing import Any, Protocol


class GateSubject(Protocol):
    """A job as the gate reads it: who ran it, what kind, and its policy decision."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def operator_id(self) -> int: ...

    @property
    def policy(self) -> dict[str, Any]: ...

    @property
    def outputs(self) -> list[str]: ...

"""Why a job failed, as a typed value: a kind and a detail, instead of a prefix to parse.

The sandbox, the runner, the workers and the license checks create failures; the
audit alerts and the operator's view read them. A failure is also the text stored
in the job row and in audit details ("limit:memory_mb", "error: …", "license 3 is
revoked; …"), so rows and entries written before the type existed still read.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """What kind of thing stopped a job; it decides what the operator may see."""

    LIMIT = "limit"  # a sandbox limit was reached: the detail names it
    RULE = "rule"  # the job broke a rule of the sandbox or the queue
    ERROR = "error"  # the engine or the host failed: the detail may quote data values
    LICENSE = "license"  # the license stopped being usable: the detail is a sentence about it


# LIMIT and RULE details follow "kind:" directly ("limit:memory_mb"); an ERROR's follows
# "error: "; a LICENSE detail is a sentence that starts with "license " and has no prefix.
_PREFIX = {FailureKind.LIMIT: "limit:", FailureKind.RULE: "rule:", FailureKind.ERROR: "error: "}
_LICENSE_START = "license "


class JobFailure(str):
    """A failure, which is also its stored text (so it compares, prints and stores as one).

    Build it from its parts, `JobFailure(FailureKind.LIMIT, "memory_mb")`, or read
    stored text with `JobFailure.parse`, the one place that knows the prefixes.
    """

    kind: FailureKind
    detail: str

    def __new__(cls, kind: FailureKind, detail: str) -> JobFailure:
        text = detail if kind is FailureKind.LICENSE else _PREFIX[kind] + detail
        failure = super().__new__(cls, text)
        failure.kind, failure.detail = kind, detail
        return failure

    def __repr__(self) -> str:
        return f"JobFailure({self.kind.name}, {self.detail!r})"

    def __reduce__(self) -> tuple[type[JobFailure], tuple[FailureKind, str]]:
        return (JobFailure, (self.kind, self.detail))

    @classmethod
    def parse(cls, text: str) -> JobFailure:
        """The failure a stored text describes; text with no known prefix is an engine error.

        A LICENSE detail that does not start with "license " reads back as an ERROR,
        which the operator sees without its detail: the safe side.
        """
        if isinstance(text, JobFailure):
            return text
        for kind in (FailureKind.LIMIT, FailureKind.RULE):
            if text.startswith(_PREFIX[kind]):
                return cls(kind, text.removeprefix(_PREFIX[kind]))
        if text.startswith(_LICENSE_START):
            return cls(FailureKind.LICENSE, text)
        return cls(FailureKind.ERROR, text.removeprefix("error:").strip())

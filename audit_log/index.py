"""Index terms for the regulator's filters, derived from an entry when it is appended.

An entry names its operator, license and datasets in its details or its subject
(`license:3`, `dataset:enterprise_utilities`); later entries about the same
subject (a job's transitions, a license's charges) inherit the operator and license
of the latest earlier entry about it. Verification derives them again and compares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: subjects whose later entries inherit the operator and license named earlier
INHERITING = ("job:", "license:", "release:", "product:")

Owner = tuple[int | None, int | None]
OwnerLookup = Callable[[str], Owner | None]


@dataclass(frozen=True)
class IndexTerms:
    operator_id: int | None
    license_id: int | None
    datasets: tuple[str, ...]

    @property
    def owner(self) -> Owner | None:
        if self.operator_id is None and self.license_id is None:
            return None
        return (self.operator_id, self.license_id)


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _subject_id(subject: str, kind: str) -> int | None:
    kind_, _, rest = subject.partition(":")
    return int(rest) if kind_ == kind and rest.isdigit() else None


def _datasets(subject: str, details: Mapping[str, Any]) -> tuple[str, ...]:
    listed, single = details.get("datasets"), details.get("dataset")
    if listed is None and single is None and not subject.startswith("dataset:"):
        return ()
    names: set[str] = set()
    if isinstance(listed, list):
        names.update(n for n in listed if isinstance(n, str))
    if isinstance(single, str):
        names.add(single)
    if subject.startswith("dataset:"):
        names.add(subject.removeprefix("dataset:"))
    return tuple(sorted(n for n in names if 0 < len(n) <= 63))


def related_subjects(subject: str, details: Mapping[str, Any]) -> list[str]:
    """Earlier subjects whose owner this entry inherits: its own, then the job it names."""
    related = [subject] if subject.startswith(INHERITING) else []
    job = details.get("job")
    if isinstance(job, str) and job.isdigit():
        job = int(job)
    if type(job) is int:
        related.append(f"job:{job}")
    return related


def index_terms(subject: str, details: Mapping[str, Any], lookup: OwnerLookup) -> IndexTerms:
    operator_id = _int(details.get("operator_id"))
    if operator_id is None:
        operator_id = _subject_id(subject, "operator")
    license_id = _int(details.get("license"))
    if license_id is None:
        license_id = _first(_int(details.get("license_id")), _subject_id(subject, "license"))
    if operator_id is None or license_id is None:
        for related in related_subjects(subject, details):
            owner = lookup(related)
            if owner is not None:
                operator_id = _first(operator_id, owner[0])
                license_id = _first(license_id, owner[1])
                break
    return IndexTerms(operator_id, license_id, _datasets(subject, details))


class OwnerMemory:
    """Owners by subject, remembered while streaming through the log in order."""

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}

    def lookup(self, subject: str) -> Owner | None:
        return self.owners.get(subject)

    def remember(self, subject: str, terms: IndexTerms) -> None:
        owner = terms.owner
        if owner is not None and subject.startswith(INHERITING):
            self.owners[subject] = owner

"""Domain errors at the edges: each class's HTTP status and exit code, and hints that each
front end words its own way (the API never names a CLI command or flag)."""

from __future__ import annotations

import pytest

from core.errors import (
    BudgetExhausted,
    Conflict,
    InvalidInput,
    LicenseInvalid,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    PolicyDenied,
    SchemaInvalid,
    SluiceError,
)

STATUS_AND_EXIT = [
    (SluiceError, 400, 1),
    (InvalidInput, 422, 2),
    (SchemaInvalid, 422, 2),
    (NotFound, 404, 3),
    (Conflict, 409, 4),
    (PermissionDenied, 403, 5),
    (LicenseInvalid, 403, 6),
    (PolicyDenied, 403, 7),
    (BudgetExhausted, 402, 8),
    (LimitExceeded, 400, 9),
]


@pytest.mark.parametrize(
    ("kind", "status", "code"), STATUS_AND_EXIT, ids=[k.__name__ for k, _, _ in STATUS_AND_EXIT]
)
def test_each_error_carries_its_status_and_exit_code(
    kind: type[SluiceError], status: int, code: int
) -> None:
    error = kind("x")
    assert (error.http_status, error.exit_code) == (status, code)


def test_every_error_class_is_in_the_table() -> None:
    def subclasses(kind: type[SluiceError]) -> set[type[SluiceError]]:
        found = set(kind.__subclasses__())
        return found.union(*(subclasses(k) for k in found)) if found else found

    assert subclasses(SluiceError) | {SluiceError} == {k for k, _, _ in STATUS_AND_EXIT}

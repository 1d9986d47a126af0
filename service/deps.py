"""FastAPI dependencies every router uses: the domain, a session, the caller, role checks.

Authorization is a dependency (`Depends(require_role("regulator"))`), never an `if`
inside a handler. A missing or bad token is 401; a known user lacking the role is 403.
"""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.errors import PermissionDenied
from operators.accounts import Principal, authenticate
from service.domain import Domain

bearer = HTTPBearer(auto_error=False)


class Unauthorized(PermissionError):
    """No or bad bearer token: 401, distinct from a known user lacking a role (403)."""


def get_domain(request: Request) -> Domain:
    domain: Domain = request.app.state.domain
    return domain


def session(domain: Annotated[Domain, Depends(get_domain)]) -> Iterator[Session]:
    with domain.transaction() as s:
        yield s


def principal(
    request: Request,
    domain: Annotated[Domain, Depends(get_domain)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized()
    try:
        with domain.transaction() as s:
            who = Principal.of(authenticate(s, credentials.credentials))
    except PermissionDenied:
        raise Unauthorized() from None
    request.state.principal = who
    return who


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting these roles (and admin), refusing everyone else with 403."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles and who.role != "admin":
            needed = " or ".join(roles)
            raise PermissionDenied.coded("role_needed", roles=needed, role=str(who.role))
        return who

    return check


def company_scope(who: Principal) -> int | None:
    """Operators see only their own company's records; domain staff see all."""
    return who.operator_id if who.role == "operator" else None


DomainDep = Annotated[Domain, Depends(get_domain)]
SessionDep = Annotated[Session, Depends(session)]
OperatorDep = Annotated[Principal, Depends(require_role("operator"))]
StaffOrOperatorDep = Annotated[
    Principal, Depends(require_role("operator", "reviewer", "authority"))
]
RegulatorDep = Annotated[Principal, Depends(require_role("regulator"))]
# Reading a job (never its released data) is also the regulator's: they audit jobs.
JobReaderDep = Annotated[
    Principal, Depends(require_role("operator", "reviewer", "authority", "regulator"))
]

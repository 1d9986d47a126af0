"""The opened domain: settings, home, database engine and sessions, shared by CLI and API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

# every table on Base.metadata before the first flush, which resolves each foreign key's
# table: the domain packages load their modules lazily, so none can be relied on for that
import service.tables  # noqa: F401
from audit_log import (
    Actor,
    AuditAction,
    AuditEntry,
    GroupAppender,
    append,
    configure_log,
    make_signer,
    with_signer,
)
from core.errors import NotFound, SluiceError, Step
from core.home import Home
from service.db import make_engine, migrate, session_factory
from service.settings import Settings


@dataclass
class Domain:
    settings: Settings
    home: Home
    engine: Engine
    sessions: Callable[[], Session]
    appender: GroupAppender = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shared_sqlite = self.settings.database_url is None
        lock = self.home.root / "audit-append.lock" if shared_sqlite else None
        self.appender = GroupAppender(self.sessions, lock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: the state change and its audit entries commit together."""
        with self.sessions() as session, session.begin():
            yield session

    def record_refusal(self, actor: Actor, action: str, error: SluiceError) -> None:
        """A refused request leaves state as it was, but the log says it was refused."""
        details = {"error": error.code, "message": error.message[:500]}
        self._record(actor, AuditAction.REQUEST_REFUSED, action, details)

    def record_failure(self, actor: Actor, action: str, incident: str, kind: str) -> None:
        """A request that failed unexpectedly: its incident id and the exception's type,
        never its message (it may quote data or secrets)."""
        details = {"error": "internal", "incident": incident, "exception": kind}
        self._record(actor, AuditAction.REQUEST_FAILED, action, details)

    def record(
        self, actor: Actor, action: AuditAction, subject: str, details: dict | None = None
    ) -> int:
        """Append an entry that records no state change of its own, by group commit:
        it returns the entry's sequence number once its batch is durable."""
        return self.appender.append(actor, action, subject, details)

    def _record(self, actor: Actor, action: AuditAction, subject: str, details: dict) -> None:
        self.record(actor, action, subject, details)


def open_domain(settings: Settings) -> Domain:
    home = settings.domain_home
    if settings.database_url is None and not home.database.exists():
        raise NotFound.coded(
            "svc_domain_missing",
            suggestion="initialize the domain first, or point SLUICE_HOME at one",
            step=Step.INIT_DOMAIN,
            root=str(home.root),
        )
    engine = make_engine(settings.url)
    signer = make_signer(settings.signature_algorithm, home.signing_key, home.sm2_key)
    sessions = with_signer(session_factory(engine), signer, settings.audit_head_seconds)
    return Domain(settings, home, engine, sessions)


def init_domain(settings: Settings) -> tuple[Domain, bool]:
    """Create folders, keys and tables; safe to run again. Returns (domain, created)."""
    home = settings.domain_home
    created = not home.database.exists() if settings.database_url is None else False
    home.create()
    migrate(settings.url)
    domain = open_domain(settings)
    if settings.database_url is not None:  # an external database: new while its log is empty
        with domain.transaction() as session:
            created = session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    if created:
        with domain.transaction() as session:
            configure_log(session, settings.hash_suite, settings.audit_checkpoint_every)
            append(
                session,
                Actor.system(),
                AuditAction.DOMAIN_INITIALIZED,
                str(home.root),
                {"database": "sqlite" if settings.url.startswith("sqlite") else "external"},
            )
    return domain, created

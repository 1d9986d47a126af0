"""Interface products (数据分析接口): buyers call an interface with their key, and record
or revoke the consents (授权) of the data subjects they ask about."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, Field

from audit_log import Actor
from products.consents import list_consents, record_consent, revoke_consent
from products.interface_calls import CallRequest, call_interface
from products.interfaces import key_for
from service.deps import DomainDep, SessionDep
from service.schemas.interfaces import CallOut, ConsentOut

router = APIRouter(prefix="/api/v1", tags=["interfaces"])
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Key = Annotated[str, Header(alias="X-Interface-Key", max_length=200)]


class CallIn(BaseModel):
    """Template parameters, or one data subject's identifier and the call's purpose."""

    parameters: dict[str, Annotated[str, Field(max_length=200)] | int] = {}
    identifier: Annotated[str, Field(max_length=200)] | None = None
    purpose: Annotated[str, Field(max_length=500)] | None = None


class ConsentIn(BaseModel):
    identifier: Annotated[str, Field(min_length=1, max_length=200)]
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    valid_until: datetime
    evidence: Annotated[str, Field(max_length=2000)] = ""


@router.post("/interfaces/{interface_id}/call", response_model=CallOut)
def call(interface_id: Id, body: CallIn, key: Key, d: DomainDep) -> dict:
    request = CallRequest(dict(body.parameters), body.identifier, body.purpose)
    settings = d.settings.job_settings()
    return call_interface(d.sessions, d.home, settings, key, interface_id, request).to_dict()


@router.post("/interfaces/{interface_id}/consents", response_model=ConsentOut, status_code=201)
def add_consent(interface_id: Id, body: ConsentIn, key: Key, s: SessionDep, d: DomainDep) -> dict:
    holder = key_for(s, key, interface_id)
    until = body.valid_until
    if until.tzinfo is not None:
        until = until.astimezone(UTC).replace(tzinfo=None)
    consent = record_consent(s, d.home, holder, body.identifier, body.purpose, until, body.evidence)
    return consent.to_dict()


@router.get("/interfaces/{interface_id}/consents", response_model=list[ConsentOut])
def consents(interface_id: Id, key: Key, s: SessionDep) -> list[dict]:
    holder = key_for(s, key, interface_id)
    return [c.to_dict() for c in list_consents(s, interface_id, holder)]


@router.post("/consents/{consent_id}/revoke", response_model=ConsentOut)
def revoke(consent_id: Id, key: Key, s: SessionDep) -> dict:
    holder = key_for(s, key)
    return revoke_consent(s, consent_id, Actor(holder.buyer, "buyer"), holder).to_dict()

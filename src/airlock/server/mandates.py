"""Registered mandates: a controller's approver sees only their organisation's; the administrator sees none."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from airlock.identity.directory import Principal
from airlock.identity.models import Role
from airlock.server import schemas
from airlock.server.auth import allow, directory

router = APIRouter(tags=["mandates"])

_readers = allow(Role.CONTROLLER_APPROVER, Role.PROCESSOR_OPERATOR, Role.SECURITY_OFFICER, Role.AUDITOR)


@router.get("/api/mandates")
def list_mandates(request: Request, who: Principal = Depends(_readers)) -> list[schemas.MandateOut]:
    return [schemas.MandateOut.model_validate(m) for m in directory(request).mandates(who.tenant)]


@router.post("/api/mandates", status_code=201)
def register_mandate(request: Request, mandate: schemas.MandateIn,
                     who: Principal = Depends(allow(Role.PROCESSOR_OPERATOR))) -> schemas.MandateOut:
    """Register a signed mandate (its id, controller organisation, SHA-256 and where it is kept)."""
    registered = directory(request).register_mandate(mandate.id, mandate.organisation_id, mandate.digest, mandate.path)
    return schemas.MandateOut.model_validate(registered)


@router.get("/api/mandates/{mandate_id}")
def get_mandate(request: Request, mandate_id: str, who: Principal = Depends(_readers)) -> schemas.MandateOut:
    return schemas.MandateOut.model_validate(directory(request).mandate(mandate_id, who.tenant))

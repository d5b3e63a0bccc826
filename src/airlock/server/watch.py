"""Read-only API of the watch: alerts, incidents and ledger verification, for the security officer and the auditor.

Processor-side records (ids, rules, counts, staff): no controller organisation
reads them, so no tenant filter applies. Changes go through the CLI, where the
actor signs with their key.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from airlock.identity.directory import Principal
from airlock.identity.models import Role
from airlock.ledger import Ledger
from airlock.server.auth import allow, directory
from airlock.watch.alerts import Watch
from airlock.watch.incidents import Incidents

router = APIRouter(tags=["watch"])

watchers = allow(Role.SECURITY_OFFICER, Role.AUDITOR)


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    rule: str
    severity: str
    subject: str
    run_id: str | None
    count: int
    state: str
    first_at: datetime
    last_at: datetime
    acknowledged_by: str | None
    resolved_by: str | None


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    alert_id: str | None
    run_id: str | None
    title: str
    state: str
    opened_by: str
    opened_at: datetime


class LedgerVerificationOut(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    anchor: int
    first_problem: str | None


@router.get("/api/alerts")
def list_alerts(request: Request, state: str | None = None, who: Principal = Depends(watchers)) -> list[AlertOut]:
    return [AlertOut.model_validate(a) for a in Watch(directory(request).store).alerts(state)]


@router.get("/api/incidents")
def list_incidents(request: Request, who: Principal = Depends(watchers)) -> list[IncidentOut]:
    return [IncidentOut.model_validate(i) for i in Incidents(directory(request).store).list()]


@router.get("/api/ledger/verify")
def verify_ledger(request: Request, who: Principal = Depends(watchers)) -> LedgerVerificationOut:
    result = Ledger(directory(request).store).verify()
    first = result.first_problem
    return LedgerVerificationOut(ok=result.ok, entries=result.entries, checkpoints=result.checkpoints, anchor=result.anchor,
                                 first_problem=str(first) if first else None)

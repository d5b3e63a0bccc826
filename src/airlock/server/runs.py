"""Runs of the procedure, read-only: where each run stands, what its plan counts, how it reconciled, who took
each step. What the lab's DPO checks before approving a plan or accepting a result.

A controller's approver sees the runs of their organisation's registered mandates (matched by the mandate's
digest); the processor's staff see every run; the administrator sees none. The store holds no patient data:
counts, digests, key ids and names of the people who took the steps.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request

from airlock.identity.directory import NotFound, Principal
from airlock.identity.models import Role
from airlock.procedure.records import RunRecord, RunStore
from airlock.server import schemas
from airlock.server.auth import allow, directory

router = APIRouter(tags=["runs"])

_readers = allow(Role.CONTROLLER_APPROVER, Role.PROCESSOR_OPERATOR, Role.SECURITY_OFFICER, Role.AUDITOR)


def _visible(request: Request, who: Principal) -> tuple[RunStore, list[RunRecord]]:
    people = directory(request)
    runs = RunStore(people.store)
    if who.tenant is None:
        return runs, runs.list()
    digests = {m.digest for m in people.mandates(who.tenant)}
    return runs, [r for r in runs.list() if r.mandate_digest in digests]


@router.get("/api/runs")
def list_runs(request: Request, who: Principal = Depends(_readers)) -> list[schemas.RunOut]:
    return [schemas.RunOut.of(r) for r in _visible(request, who)[1]]


@router.get("/api/runs/{run_id}")
def get_run(request: Request, run_id: str, who: Principal = Depends(_readers)) -> schemas.RunDetail:
    """One run: its plan (counts per entity and category, never values), per entity the rows read, written and
    reconciled, and every step with who took it."""
    runs, visible = _visible(request, who)
    run = next((r for r in visible if r.id == run_id), None)
    if run is None:
        raise NotFound(f"no run {run_id!r} visible to you; check the id")
    return schemas.RunDetail(
        **schemas.RunOut.of(run).model_dump(),
        plan=json.loads(run.plan) if run.plan else None,
        entities=[schemas.RunEntityOut.model_validate(e) for e in runs.entities(run.id)],
        events=[schemas.RunEventOut.model_validate(e) for e in runs.events(run.id)],
    )

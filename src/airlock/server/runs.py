"""Runs of the procedure in the API (the console's pages read the same): where each run stands, what its plan
counts, how it reconciled, who took each step; and the controller's two steps, approving the plan and accepting
the result.

A controller's approver sees the runs of their organisation's registered mandates (matched by the mandate's
digest); the processor's staff see every run; the administrator sees none. The store holds no patient data:
counts, digests, key ids and names of the people who took the steps.

Approving and accepting take two things: this person's session, fresh (password and TOTP within minutes), and
a signature of the run's statement by the key that signed the mandate, made on the controller's own machine
(``airlock keys sign``): the server never holds the controller's key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request

from airlock.errors import AirlockError
from airlock.identity.directory import NotFound, Principal
from airlock.identity.models import Role
from airlock.procedure.lifecycle import State
from airlock.procedure.records import RunRecord, RunStore
from airlock.procedure.runner import Procedure, acceptance_statement, approval_statement
from airlock.server import schemas
from airlock.server.auth import allow, directory, require_fresh_auth

router = APIRouter(tags=["runs"])

readers = allow(Role.CONTROLLER_APPROVER, Role.PROCESSOR_OPERATOR, Role.SECURITY_OFFICER, Role.AUDITOR)
_controller = allow(Role.CONTROLLER_APPROVER)


def _sees(request: Request, who: Principal) -> Callable[[RunRecord], bool]:
    """Whether ``who`` may see a run: any run for the processor's staff, a run of one of their organisation's
    registered mandates for a controller's approver."""
    if who.tenant is None:
        return lambda run: True
    digests = {m.digest for m in directory(request).mandates(who.tenant)}
    return lambda run: run.mandate_digest in digests


def visible(request: Request, who: Principal) -> tuple[RunStore, list[RunRecord]]:
    runs, sees = RunStore(directory(request).store), _sees(request, who)
    return runs, [r for r in runs.list() if sees(r)]


@router.get("/api/runs")
def list_runs(request: Request, who: Principal = Depends(readers)) -> list[schemas.RunOut]:
    return [schemas.RunOut.of(r) for r in visible(request, who)[1]]


def find_run(request: Request, run_id: str, who: Principal) -> tuple[RunStore, RunRecord]:
    runs = RunStore(directory(request).store)
    with runs.store.session() as session:
        run = session.get(RunRecord, run_id)
    # Another organisation's run answers as one that does not exist.
    if run is None or not _sees(request, who)(run):
        raise NotFound(f"no run {run_id!r} visible to you; check the id")
    return runs, run


def detail(runs: RunStore, run: RunRecord) -> schemas.RunDetail:
    entities = runs.entities(run.id)
    return schemas.RunDetail(
        **schemas.RunOut.of(run).model_dump(),
        plan=json.loads(run.plan) if run.plan else None,
        entities=[schemas.RunEntityOut.model_validate(e) for e in entities],
        events=[schemas.RunEventOut.model_validate(e) for e in runs.events(run.id)],
        approval_statement=approval_statement(run).decode() if run.status == State.PLANNED else None,
        acceptance_statement=acceptance_statement(run, entities).decode() if run.status == State.RECONCILED else None,
    )


@router.get("/api/runs/{run_id}")
def get_run(request: Request, run_id: str, who: Principal = Depends(readers)) -> schemas.RunDetail:
    """One run: its plan (counts per entity and category, never values), per entity the rows read, written and
    reconciled, every step with who took it, and the statement the controller signs next, if any."""
    return detail(*find_run(request, run_id, who))


def decode_signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise AirlockError("signature: not base64; paste what 'airlock keys sign' printed, whole") from None


def controllers_run(request: Request, run_id: str, who: Principal = Depends(_controller)) -> tuple[RunStore, RunRecord]:
    # A dependency, so that another controller's run id answers 404 before the body is even read.
    return find_run(request, run_id, who)


@router.post("/api/runs/{run_id}/approve", dependencies=[Depends(require_fresh_auth)])
def approve_run(body: schemas.Approval, found: tuple[RunStore, RunRecord] = Depends(controllers_run)) -> schemas.RunDetail:
    """Approve the run's plan with the controller's signature of its approval statement."""
    runs, run = found
    Procedure(runs).approve_signed(run.id, decode_signature(body.signature))
    return detail(runs, runs.get(run.id))


@router.post("/api/runs/{run_id}/accept", dependencies=[Depends(require_fresh_auth)])
def accept_run(body: schemas.Acceptance, found: tuple[RunStore, RunRecord] = Depends(controllers_run)) -> schemas.RunDetail:
    """Accept the migrated result with the controller's signature of its acceptance statement; while reconciliation
    found differences, only with a written waiver."""
    runs, run = found
    Procedure(runs).accept_signed(run.id, decode_signature(body.signature), waiver=body.waiver)
    return detail(runs, runs.get(run.id))

"""The web console: the pages a laboratory's DPO reads and signs from, over the same rules as the API.

``/console`` lists the runs this person may see; ``/console/watch`` shows the security officer and the auditor
the alerts, the incidents and whether the ledger verifies; ``/console/runs/{run_id}`` shows one (its plan's counts, what
each entity read, wrote and reconciled, every step and who took it) and, to a controller's approver when it is
their turn, the statement to sign and a form for the signature. The signature is made on the controller's
own machine (``airlock keys sign``): the console never sees the key. The form also asks for the person's
password and authenticator code, checked again (and throttled) before the signature, whatever the session's
age: signing is the sensitive action. Forms carry the session's CSRF token in a field (pages cannot set
headers; scripts are not allowed by the Content-Security-Policy).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from airlock.errors import AirlockError
from airlock.identity.directory import Principal
from airlock.identity.models import Role
from airlock.ledger import Ledger
from airlock.procedure.records import RunRecord, RunStore
from airlock.procedure.runner import Procedure
from airlock.server import schemas
from airlock.server.auth import CSRF_COOKIE, CSRF_FIELD, authenticated, directory, form_fields
from airlock.server.runs import controllers_run, decode_signature, detail, find_run, readers, visible
from airlock.server.session import reauthenticate
from airlock.server.watch import watchers
from airlock.watch.alerts import Watch
from airlock.watch.incidents import Incidents

router = APIRouter(tags=["console"])

_pages = Environment(loader=PackageLoader("airlock.server", "templates"), autoescape=select_autoescape(default=True))
_FORM = {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["signature", "password", "totp", CSRF_FIELD],
    "properties": {name: {"type": "string"} for name in ("signature", "waiver", "password", "totp", CSRF_FIELD)}}}}}}


def _page(template: str, status_code: int = 200, **values: object) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(template).render(**values), status_code=status_code)


@router.get("/console", response_class=HTMLResponse)
def runs_page(request: Request, who: Principal = Depends(readers)) -> HTMLResponse:
    """The runs this person may see, newest first."""
    return _page("runs.html", who=who, runs=sorted(visible(request, who)[1], key=lambda r: r.created_at, reverse=True))


def _run_page(request: Request, runs: RunStore, run: RunRecord, who: Principal, message: str = "", status_code: int = 200) -> HTMLResponse:
    return _page("run.html", status_code, who=who, run=detail(runs, run), message=message,
                 signs=who.role is Role.CONTROLLER_APPROVER, csrf=request.cookies.get(CSRF_COOKIE, ""), csrf_field=CSRF_FIELD)


@router.get("/console/watch", response_class=HTMLResponse)
def watch_page(request: Request, who: Principal = Depends(watchers)) -> HTMLResponse:
    """Alerts (open ones first), incidents and the ledger's verification, read-only: changes go through the CLI,
    where the actor signs with their key."""
    store = directory(request).store
    newest_first = sorted(Watch(store).alerts(), key=lambda a: a.last_at, reverse=True)
    alerts = sorted(newest_first, key=lambda a: a.state == "resolved")  # stable: open ones first, each newest first
    return _page("watch.html", who=who, alerts=alerts, incidents=Incidents(store).list(), ledger=Ledger(store).verify())


@router.get("/console/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, who: Principal = Depends(readers)) -> HTMLResponse:
    """One run, and the statement to sign when it is the controller's turn."""
    return _run_page(request, *find_run(request, run_id, who), who)


async def _signed_step(request: Request, found: tuple[RunStore, RunRecord], who: Principal, step: str) -> Response:
    runs, run = found
    form = form_fields(await request.body())
    try:
        if not form.get("password"):
            raise AirlockError("your password and authenticator code are asked again before you sign: fill both")
        reauthenticate(request, who, schemas.Credentials(password=form["password"], totp=form.get("totp") or None))
        if step == "approve":
            Procedure(runs).approve_signed(run.id, decode_signature(form.get("signature", "").strip()))
        else:
            Procedure(runs).accept_signed(run.id, decode_signature(form.get("signature", "").strip()), waiver=form.get("waiver") or None)
    except AirlockError as e:
        return _run_page(request, runs, runs.get(run.id), who, message=str(e), status_code=400)
    return RedirectResponse(f"/console/runs/{run.id}", status_code=303)


@router.post("/console/runs/{run_id}/approve", response_class=HTMLResponse, openapi_extra=_FORM)
async def approve_form(request: Request, who: Principal = Depends(authenticated),
                       found: tuple[RunStore, RunRecord] = Depends(controllers_run)) -> Response:
    """The approval form: the signature of the run's approval statement."""
    return await _signed_step(request, found, who, "approve")


@router.post("/console/runs/{run_id}/accept", response_class=HTMLResponse, openapi_extra=_FORM)
async def accept_form(request: Request, who: Principal = Depends(authenticated),
                      found: tuple[RunStore, RunRecord] = Depends(controllers_run)) -> Response:
    """The acceptance form: the signature of the run's acceptance statement, and a waiver when reconciliation differs."""
    return await _signed_step(request, found, who, "accept")

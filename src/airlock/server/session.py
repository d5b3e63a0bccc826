"""Health, login (console page and API), logout, re-authentication and the person's own account."""

from __future__ import annotations

import html
from datetime import datetime
from importlib.resources import files
from string import Template

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from airlock.identity.directory import (
    WRONG_CREDENTIALS,
    AuthenticationError,
    OpenedSession,
    Principal,
    SecondFactorError,
    fingerprint,
)
from airlock.identity.models import Role
from airlock.server import schemas
from airlock.server.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    authenticated,
    client_of,
    directory,
    form_fields,
    require_fresh_auth,
)
from airlock.vault.events import SecurityEvent, emit

router = APIRouter()

_PAGE = Template(files("airlock.server").joinpath("templates/login.html").read_text(encoding="utf-8"))
#: Failed logins from one address before it must wait (the account itself is never locked: CNIL 2022-100 case 1).
ADDRESS_FAILURES = 10
#: Wrong second-factor codes after a right password before codes are refused for a while (and an event raised).
SECOND_FACTOR_FAILURES = 5


@router.get("/api/health", tags=["public"])
def health() -> schemas.Health:
    """Liveness; tells nothing else."""
    return schemas.Health(status="ok")


@router.get("/login", response_class=HTMLResponse, tags=["public"])
def login_page() -> HTMLResponse:
    """The console's login page."""
    return HTMLResponse(_PAGE.substitute(message=""))


@router.post("/login", response_class=HTMLResponse, tags=["public"], openapi_extra={
    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": schemas.Login.model_json_schema()}}}})
async def login_form(request: Request) -> Response:
    """The login page's form: on success, the session cookies and a redirect to the console."""
    form = form_fields(await request.body())
    try:
        credentials = schemas.Login.model_validate({k: form.get(k) or None for k in ("email", "password", "totp", "recovery_code")})
    except ValueError:
        return HTMLResponse(_PAGE.substitute(message="e-mail and password are required"), status_code=400)
    try:
        opened = _log_in(request, credentials)
    except AuthenticationError as e:
        return HTMLResponse(_PAGE.substitute(message=html.escape(str(e))), status_code=401)
    # To the console's runs, or for the administrator (who reads no run) to their account.
    role = directory(request).account(opened.account_id).role
    return _with_cookies(request, RedirectResponse("/api/me" if role == Role.ADMINISTRATOR else "/console", status_code=303), opened)


@router.post("/api/login", tags=["public"], responses={401: {"description": "Wrong or missing credentials"},
                                                        429: {"description": "Too many failures from this address"}})
def login(request: Request, response: Response, credentials: schemas.Login) -> schemas.LoggedIn:
    """Open a console session: e-mail, password and TOTP code (or a recovery code, used up)."""
    opened = _log_in(request, credentials)
    _with_cookies(request, response, opened)
    return schemas.LoggedIn(account_id=opened.account_id, csrf_token=opened.csrf_token, expires_at=opened.expires_at)


@router.post("/api/logout", tags=["session"])
def logout(request: Request, response: Response, who: Principal = Depends(authenticated)) -> Response:
    """End this session (an API token is revoked with DELETE /api/tokens/{token_id} instead)."""
    if who.via == "session":
        directory(request).end_session(who.credential_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/api/reauth", tags=["session"])
def reauth(request: Request, credentials: schemas.Credentials, who: Principal = Depends(authenticated)) -> schemas.Fresh:
    """Password and second factor again, before a sensitive action (approve, accept, purge, keys, accounts)."""
    return schemas.Fresh(fresh_until=reauthenticate(request, who, credentials))


def reauthenticate(request: Request, who: Principal, credentials: schemas.Credentials) -> datetime:
    """``who``'s password and second factor checked again, throttled and reported as logins are; fresh until the
    returned time."""
    _not_throttled(request, who.email)
    try:
        return directory(request).reauthenticate(who, credentials.password, credentials.totp, credentials.recovery_code)
    except AuthenticationError as e:
        _failed(request, who.email, e)
        raise


@router.get("/api/me", tags=["session"])
def me(who: Principal = Depends(authenticated)) -> schemas.Me:
    """Who you are to Airlock: account, role, organisation, and whether through a session or a token."""
    return schemas.Me(id=who.account_id, name=who.name, email=who.email, role=who.role, organisation_id=who.organisation_id, via=who.via)


@router.post("/api/me/recovery-codes", tags=["session"])
def new_recovery_codes(request: Request, who: Principal = Depends(require_fresh_auth)) -> schemas.RecoveryCodes:
    """Replace your recovery codes with ten new ones (shown once); the old ones stop working."""
    return schemas.RecoveryCodes(recovery_codes=directory(request).new_recovery_codes(who.account_id))


@router.get("/api/openapi.json", tags=["session"])
def openapi(request: Request, who: Principal = Depends(authenticated)) -> dict:
    """This API's OpenAPI description (for authenticated clients only: nothing is public but health and login)."""
    return request.app.openapi()


def _log_in(request: Request, credentials: schemas.Login) -> OpenedSession:
    people = directory(request)
    _not_throttled(request, credentials.email)
    try:
        account = people.authenticate(credentials.email, credentials.password, credentials.totp, credentials.recovery_code)
    except AuthenticationError as e:
        _failed(request, credentials.email, e)
        raise
    return people.open_session(account, *client_of(request))


def _not_throttled(request: Request, email: str) -> None:
    limits = request.app.state.limits
    _, address = client_of(request)
    wait = limits.address.retry_after(address)
    if wait:
        raise TooManyAttempts(wait)
    if limits.second_factor.retry_after(email.strip().lower()):
        # Same answer as any failure, so the throttle does not confirm the password to whoever guessed it.
        raise AuthenticationError(WRONG_CREDENTIALS)


def _failed(request: Request, email: str, error: AuthenticationError) -> None:
    limits, (client, address), email = request.app.state.limits, client_of(request), email.strip().lower()
    limits.address.hit(address)
    # Neither the e-mail typed nor the address in clear: fingerprints, for the failed-login rules.
    emit(SecurityEvent("identity.login_failure", "", {"client": fingerprint(client), "address": fingerprint(address)}))
    if isinstance(error, SecondFactorError):
        limits.second_factor.hit(email)
        if limits.second_factor.retry_after(email):
            # Someone holds this person's password: the security officer must hear of it.
            emit(SecurityEvent("identity.second_factor_failures", "", {"account": error.account_id}))


class TooManyAttempts(AuthenticationError):
    """Too many failed logins from one address (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many failed logins from your address; retry in {retry_after} seconds")


def _with_cookies(request: Request, response: Response, opened: OpenedSession) -> Response:
    secure = request.url.scheme == "https"
    max_age = int((opened.expires_at - opened.opened_at).total_seconds())
    response.set_cookie(SESSION_COOKIE, opened.token, max_age=max_age, httponly=True, secure=secure, samesite="strict")
    # Readable by the console's script, which echoes it in X-CSRF-Token (double submit).
    response.set_cookie(CSRF_COOKIE, opened.csrf_token, max_age=max_age, httponly=False, secure=secure, samesite="strict")
    return response

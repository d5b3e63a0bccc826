"""Who is asking, and may they: the dependencies every route but health and login goes through.

A person is authenticated by a session cookie (the console; state-changing
requests then carry the CSRF token in ``X-CSRF-Token``, or in the ``csrf_token``
field of a console form, double-submitted with the ``airlock_csrf`` cookie and
bound to the session) or by a personal API token (``Authorization: Bearer``;
``read`` scope for GET, ``write`` for the rest).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from airlock.identity import tokens
from airlock.identity.directory import (
    AuthenticationError,
    Directory,
    PermissionDenied,
    Principal,
)
from airlock.identity.models import Role

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "SESSION_COOKIE", "allow", "authenticated", "directory", "form_fields", "require_fresh_auth"]

SESSION_COOKIE = "airlock_session"
CSRF_COOKIE = "airlock_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="A personal API token (POST /api/tokens).")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The console session (POST /api/login).")


def form_fields(body: bytes) -> dict[str, str]:
    """A console form's fields (url-encoded; python-multipart is not needed for that), first value of each."""
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}


def directory(request: Request) -> Directory:
    return request.app.state.directory


def client_of(request: Request) -> tuple[str, str]:
    """The client (User-Agent) and address a request comes from."""
    return request.headers.get("user-agent", ""), request.client.host if request.client else ""


async def authenticated(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    cookie: str | None = Depends(_cookie),
) -> Principal:
    """The person behind the request; 401 saying what is missing otherwise."""
    people = directory(request)
    if request.headers.get("authorization"):
        if bearer is None:
            raise AuthenticationError("Authorization header: use 'Bearer <personal API token>'")
        who = people.token_principal(bearer.credentials)
        needed = "read" if request.method in SAFE_METHODS else "write"
        if needed not in who.scopes:
            raise PermissionDenied(f"API token {who.credential_id} lacks the '{needed}' scope; create a token with it")
        return who
    if not cookie:
        raise AuthenticationError("authentication required: log in at /login, or send 'Authorization: Bearer <personal API token>'")
    who, csrf_digest = people.session_principal(cookie, *client_of(request))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            sent = form_fields(await request.body()).get(CSRF_FIELD, "")  # a console form cannot set headers
        if not sent or not hmac.compare_digest(sent, request.cookies.get(CSRF_COOKIE, "")) \
                or not hmac.compare_digest(tokens.digest(sent), csrf_digest):
            raise PermissionDenied(f"CSRF token missing or wrong: send the {CSRF_COOKIE} cookie's value in the {CSRF_HEADER} header "
                                   f"(a console form: in its {CSRF_FIELD} field)")
    return who


def allow(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only ``roles`` (403 naming them otherwise)."""
    names = ", ".join(roles)

    def admitted(request: Request, who: Principal = Depends(authenticated)) -> Principal:
        if who.role not in roles:
            raise PermissionDenied(f"role {who.role} may not {request.method} {request.url.path}; it needs one of: {names}")
        return who

    return admitted


def require_fresh_auth(request: Request, who: Principal = Depends(authenticated)) -> Principal:
    """For sensitive actions (approve, accept, purge, key and account operations): password and TOTP given recently.

    A login counts; later, POST /api/reauth. API tokens never qualify: automation does not approve anything.
    """
    within = directory(request).policy.reauth_within
    if not who.fresh(within):
        raise PermissionDenied(f"this action needs your password and TOTP again (within {int(within.total_seconds() // 60)} minutes): "
                               "POST /api/reauth from a console session, then retry")
    return who

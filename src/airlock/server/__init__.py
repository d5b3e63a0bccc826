"""The Airlock API server: FastAPI, nothing public but health and login.

:func:`create_app` builds the application over a :class:`~airlock.identity.directory.Directory`;
``airlock serve`` runs it. Errors reach the client as ``{"detail": "<one line>"}``:
401 says which credential is missing, 403 which role, scope, CSRF token or
re-authentication is needed, never a stack trace.

>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> from airlock.identity.seeds import SeedKey
>>> from airlock.store import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db")
>>> client = TestClient(create_app(Directory(store, seeds=SeedKey.generate())))
>>> client.get("/api/health").json(), client.get("/api/me").status_code
({'status': 'ok'}, 401)
>>> store.close()
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from airlock.errors import AirlockError
from airlock.identity.directory import (
    AuthenticationError,
    Directory,
    NotFound,
    PermissionDenied,
    fingerprint,
)
from airlock.server.ratelimit import SlidingWindow
from airlock.vault.events import SecurityEvent, emit

__all__ = ["Directory", "check_listen", "create_app"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Limits:
    address: SlidingWindow  # failed logins per client address
    second_factor: SlidingWindow  # wrong codes after a right password, per account


def create_app(directory: Directory) -> FastAPI:
    """The application; its OpenAPI description is served to authenticated clients at /api/openapi.json."""
    from airlock.server import accounts, console, mandates, runs, security_keys, session, tokens, watch

    app = FastAPI(title="Airlock", version="1", openapi_url=None, docs_url=None, redoc_url=None,
                  description="Move a laboratory's data between LIS under the controller's signed mandate.")
    app.state.directory = directory
    app.state.limits = Limits(SlidingWindow(session.ADDRESS_FAILURES, 15 * 60), SlidingWindow(session.SECOND_FACTOR_FAILURES, 15 * 60))
    for module in (session, accounts, tokens, mandates, runs, console, security_keys, watch):
        # The routes themselves, not a wrapper around their router: app.routes lists every route, for whoever audits them.
        app.router.routes.extend(module.router.routes)

    @app.middleware("http")
    async def harden(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        try:
            response = await call_next(request)
        except Exception as e:  # the client gets one line; the log gets the type, never values
            log.error("internal error on %s %s: %s", request.method, request.url.path, type(e).__name__)
            response = JSONResponse({"detail": "internal error; the server log names it"}, status_code=500)
        response.headers.update(SECURITY_HEADERS)
        if response.status_code == 401:  # for the probing rule: who keeps knocking without credentials
            emit(SecurityEvent("http.unauthenticated", "", {"address": fingerprint(request.client.host if request.client else "")}))
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    app.add_exception_handler(AirlockError, _airlock_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    return app


def _airlock_error(request: Request, error: AirlockError) -> JSONResponse:
    from airlock.server.session import TooManyAttempts

    if isinstance(error, TooManyAttempts):
        return JSONResponse({"detail": str(error)}, status_code=429, headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, AuthenticationError):
        return JSONResponse({"detail": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    status = 403 if isinstance(error, PermissionDenied) else 404 if isinstance(error, NotFound) else 400
    return JSONResponse({"detail": str(error)}, status_code=status)


def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's default body echoes the input, which may be a password: name the fields and the problems only.
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in error.errors())
    return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)


def check_listen(host: str, cert: Path | None, key: Path | None) -> None:
    """Refuse to listen beyond the loopback without TLS, or with TLS files that are not there.

    >>> check_listen("127.0.0.1", None, None)
    >>> check_listen("0.0.0.0", None, None)
    Traceback (most recent call last):
    ...
    airlock.errors.AirlockError: refusing to listen on 0.0.0.0 without TLS: it is reachable from the network; give --tls-cert and --tls-key (or AIRLOCK_TLS_CERT and AIRLOCK_TLS_KEY), or listen on 127.0.0.1
    """
    if bool(cert) != bool(key):
        raise AirlockError("TLS needs both a certificate and its key; give --tls-cert and --tls-key (AIRLOCK_TLS_CERT, AIRLOCK_TLS_KEY)")
    if cert and key:
        for what, path in (("certificate", cert), ("key", key)):
            if not Path(path).is_file():
                raise AirlockError(f"TLS {what} {path}: no such file; fix --tls-{'cert' if what == 'certificate' else 'key'}")
        return
    if not _loopback(host):
        raise AirlockError(f"refusing to listen on {host} without TLS: it is reachable from the network; give --tls-cert and --tls-key "
                           "(or AIRLOCK_TLS_CERT and AIRLOCK_TLS_KEY), or listen on 127.0.0.1")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything

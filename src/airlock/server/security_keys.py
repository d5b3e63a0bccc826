"""WebAuthn security keys (optional, in addition to TOTP): registration from a console session.

The relying party is the host the console is served from (``AIRLOCK_WEBAUTHN_RP_ID`` overrides it).
"""

from __future__ import annotations

import json
import os
from typing import Any

import webauthn
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from airlock.errors import AirlockError
from airlock.identity.directory import PermissionDenied, Principal
from airlock.server.auth import authenticated, directory

router = APIRouter(tags=["security keys"])


def _session(who: Principal = Depends(authenticated)) -> Principal:
    if who.via != "session":
        raise PermissionDenied("security keys are registered from a console session, not with an API token")
    return who


@router.post("/api/webauthn/register/options")
def registration_options(request: Request, who: Principal = Depends(_session)) -> JSONResponse:
    """PublicKeyCredentialCreationOptions for navigator.credentials.create()."""
    people = directory(request)
    options = webauthn.generate_registration_options(
        rp_id=_rp_id(request), rp_name="Airlock", user_id=who.account_id.encode(), user_name=who.email, user_display_name=who.name,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.id)) for c in people.credentials(who.account_id)],
    )
    people.set_challenge(who.credential_id, bytes_to_base64url(options.challenge))
    return JSONResponse(json.loads(webauthn.options_to_json(options)))


@router.post("/api/webauthn/register", status_code=201)
def register(request: Request, credential: dict[str, Any] = Body(...), who: Principal = Depends(_session)) -> dict[str, str]:
    """Verify the authenticator's answer to the last options and keep its public key."""
    people = directory(request)
    challenge = people.challenge(who.credential_id)
    if challenge is None:
        raise AirlockError("no registration in progress; POST /api/webauthn/register/options first")
    people.set_challenge(who.credential_id, None)  # one answer per challenge
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=_rp_id(request),
            expected_origin=f"{request.url.scheme}://{request.url.netloc}",
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise AirlockError(f"security key registration refused: {type(e).__name__}; start again from the options") from None
    people.add_credential(who.account_id, bytes_to_base64url(verified.credential_id), verified.credential_public_key, verified.sign_count)
    return {"credential_id": bytes_to_base64url(verified.credential_id)}


def _rp_id(request: Request) -> str:
    return os.environ.get("AIRLOCK_WEBAUTHN_RP_ID") or request.url.hostname or "localhost"

"""Personal API tokens for the CLI and automation: one person's, scoped, expiring, revocable, stored hashed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from airlock.identity.directory import Principal
from airlock.server import schemas
from airlock.server.auth import authenticated, directory, require_fresh_auth

router = APIRouter(tags=["tokens"])


@router.get("/api/tokens")
def list_tokens(request: Request, who: Principal = Depends(authenticated)) -> list[schemas.TokenOut]:
    """Your own tokens (never their secrets)."""
    return [schemas.TokenOut.model_validate(t) for t in directory(request).tokens(who.account_id)]


@router.post("/api/tokens", status_code=201)
def issue_token(request: Request, wanted: schemas.TokenIn, who: Principal = Depends(require_fresh_auth)) -> schemas.TokenIssued:
    """A new token of yours (re-authenticated session); its secret is shown once."""
    token, secret = directory(request).issue_token(who.account_id, wanted.label, list(wanted.scopes), wanted.days)
    return schemas.TokenIssued(token=schemas.TokenOut.model_validate(token), secret=secret)


@router.delete("/api/tokens/{token_id}")
def revoke_token(request: Request, token_id: str, who: Principal = Depends(authenticated)) -> schemas.TokenOut:
    """Revoke one of your tokens at once."""
    return schemas.TokenOut.model_validate(directory(request).revoke_token(who.account_id, token_id))

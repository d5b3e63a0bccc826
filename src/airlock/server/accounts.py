"""Accounts and organisations: the administrator manages them; nobody sees another controller's organisation."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from airlock.identity.directory import Principal
from airlock.identity.models import Role
from airlock.server import schemas
from airlock.server.auth import allow, authenticated, directory, require_fresh_auth

router = APIRouter(tags=["accounts"])

_readers = allow(Role.ADMINISTRATOR, Role.SECURITY_OFFICER, Role.AUDITOR)


@router.get("/api/accounts")
def list_accounts(request: Request, who: Principal = Depends(_readers)) -> list[schemas.AccountOut]:
    """Every account (administrator, security officer, auditor)."""
    return [schemas.AccountOut.model_validate(a) for a in directory(request).accounts()]


@router.post("/api/accounts", status_code=201, dependencies=[Depends(require_fresh_auth)])
def create_account(request: Request, account: schemas.AccountIn, who: Principal = Depends(allow(Role.ADMINISTRATOR))) -> schemas.Enrolled:
    """Create a person's account (administrator, re-authenticated); the TOTP URI and recovery codes are shown once."""
    enrolment = directory(request).enrol(account.name, account.email, account.organisation_id, account.role, account.password)
    return schemas.Enrolled(account=schemas.AccountOut.model_validate(enrolment.account), totp_uri=enrolment.totp_uri,
                            recovery_codes=enrolment.recovery_codes)


@router.get("/api/accounts/{account_id}")
def get_account(request: Request, account_id: str, who: Principal = Depends(_readers)) -> schemas.AccountOut:
    return schemas.AccountOut.model_validate(directory(request).account(account_id))


@router.post("/api/accounts/{account_id}/disable", dependencies=[Depends(require_fresh_auth)])
def disable_account(request: Request, account_id: str,
                    who: Principal = Depends(allow(Role.ADMINISTRATOR, Role.SECURITY_OFFICER))) -> schemas.AccountOut:
    """Disable an account at once: its sessions end, its tokens stop working (administrator or security officer)."""
    return schemas.AccountOut.model_validate(directory(request).disable(account_id))


@router.get("/api/organisations", tags=["organisations"])
def list_organisations(request: Request, who: Principal = Depends(authenticated)) -> list[schemas.OrganisationOut]:
    """Organisations you may see: a controller's approver sees only their own."""
    return [schemas.OrganisationOut.model_validate(o) for o in directory(request).organisations(who.tenant)]


@router.post("/api/organisations", status_code=201, tags=["organisations"], dependencies=[Depends(require_fresh_auth)])
def create_organisation(request: Request, organisation: schemas.OrganisationIn,
                        who: Principal = Depends(allow(Role.ADMINISTRATOR))) -> schemas.OrganisationOut:
    """Register a controller (a laboratory) or the processor (administrator, re-authenticated)."""
    return schemas.OrganisationOut.model_validate(directory(request).create_organisation(organisation.name, organisation.kind))


@router.get("/api/organisations/{organisation_id}", tags=["organisations"])
def get_organisation(request: Request, organisation_id: str, who: Principal = Depends(authenticated)) -> schemas.OrganisationOut:
    return schemas.OrganisationOut.model_validate(directory(request).organisation(organisation_id, who.tenant))

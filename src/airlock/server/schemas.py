"""What the API reads and answers (pydantic models; the OpenAPI description is built from them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airlock.identity.models import OrganisationKind, Role

# Bounds keep hostile input cheap: argon2id never sees a megabyte password.
Text = Field(min_length=1, max_length=200)
Secret = Field(min_length=1, max_length=1024)
Code = Field(default=None, min_length=1, max_length=32)


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Health(Model):
    status: Literal["ok"]


class Credentials(Model):
    """Password and second factor: ``totp`` (authenticator app) or, when the device is lost, a ``recovery_code``."""

    password: str = Secret
    totp: str | None = Code
    recovery_code: str | None = Code


class Login(Credentials):
    email: str = Field(min_length=3, max_length=320)


class LoggedIn(Model):
    account_id: str
    csrf_token: str = Field(description="Send it in X-CSRF-Token with every POST/DELETE of this session.")
    expires_at: datetime


class Fresh(Model):
    fresh_until: datetime


class Me(Model):
    id: str
    name: str
    email: str
    role: Role
    organisation_id: str
    via: Literal["session", "token"]


class AccountIn(Model):
    name: str = Text
    email: str = Field(min_length=3, max_length=320)
    organisation_id: str = Field(min_length=1, max_length=32)
    role: Role
    password: str = Secret


class AccountOut(Model):
    id: str
    name: str
    email: str
    organisation_id: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None


class Enrolled(Model):
    account: AccountOut
    totp_uri: str = Field(description="Shown once: scan it into the person's authenticator app.")
    recovery_codes: list[str] = Field(description="Shown once: single-use codes for when the TOTP device is lost.")


class RecoveryCodes(Model):
    recovery_codes: list[str]


class OrganisationIn(Model):
    name: str = Text
    kind: OrganisationKind


class OrganisationOut(Model):
    id: str
    name: str
    kind: OrganisationKind
    created_at: datetime


class MandateIn(Model):
    id: str = Text
    organisation_id: str = Field(min_length=1, max_length=32)
    digest: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the signed mandate file.")
    path: str = Field(min_length=1, max_length=4096)


class MandateOut(Model):
    id: str
    organisation_id: str
    digest: str
    path: str
    registered_at: datetime


class TokenIn(Model):
    label: str = Text
    scopes: list[Literal["read", "write"]] = Field(min_length=1, max_length=2)
    days: int = Field(ge=1, le=90)


class TokenOut(Model):
    id: str
    label: str
    scopes: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(Model):
    token: TokenOut
    secret: str = Field(description="Shown once: Authorization: Bearer <secret>.")


class RunOut(Model):
    """Where a run stands (airlock.procedure.lifecycle.State) and what it serves."""

    id: str
    status: str
    created_at: datetime
    mandate_id: str | None
    mandate_digest: str | None
    plan_digest: str | None
    deadline: date | None
    accepted_at: datetime | None
    reconciled_ok: bool | None
    waiver: str | None
    error: str | None
    purged: bool = Field(description="Its staging was crypto-shredded and a signed deletion certificate issued.")

    @classmethod
    def of(cls, run: Any) -> RunOut:
        return cls(**{name: getattr(run, name) for name in cls.model_fields if name != "purged"}, purged=run.certificate is not None)


class RunEntityOut(Model):
    entity: str
    rows_read: int
    rows_written: int
    source_rows: int | None
    target_rows: int | None
    reconciled: bool | None
    differences: str | None = Field(description="Counts of missing, unexpected, altered and duplicated records (JSON); the keys stay sealed in the vault.")


class RunEventOut(Model):
    at: datetime
    step: str
    from_state: str
    to_state: str
    actor_name: str
    actor_role: str
    actor_key: str


class RunDetail(RunOut):
    plan: dict[str, Any] | None
    entities: list[RunEntityOut]
    events: list[RunEventOut]
    approval_statement: str | None = Field(description="While the plan awaits approval: what the controller signs (airlock keys sign).")
    acceptance_statement: str | None = Field(description="Once reconciled: what the controller signs to accept the result.")


class Approval(Model):
    signature: str = Field(min_length=1, max_length=200, description="Base64 Ed25519 signature of the approval statement.")


class Acceptance(Approval):
    waiver: str | None = Field(default=None, max_length=2000, description="Why the result is accepted despite reconciliation differences.")

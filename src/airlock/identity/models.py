"""Identity tables in the metadata store: organisations, accounts of natural persons, their credentials and sessions.

Secrets are kept as hashes only (argon2id for passwords, SHA-256 for random
tokens, session ids and recovery codes); client and address of a session are
kept as digests, enough to tell two clients apart and no more. The TOTP secret
is the exception: checking a code needs it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from airlock.store.models import Base, UtcDateTime, new_run_id, utcnow

__all__ = [
    "Account",
    "ApiToken",
    "AuthSession",
    "Organisation",
    "OrganisationKind",
    "RecoveryCode",
    "RegisteredMandate",
    "Role",
    "WebAuthnCredential",
]


class OrganisationKind(StrEnum):
    CONTROLLER = "controller"  # a laboratory whose data is moved
    PROCESSOR = "processor"  # the company running Airlock


class Role(StrEnum):
    CONTROLLER_APPROVER = "controller-approver"  # signs its own organisation's mandates and runs
    PROCESSOR_OPERATOR = "processor-operator"
    SECURITY_OFFICER = "security-officer"
    AUDITOR = "auditor"  # read-only
    ADMINISTRATOR = "administrator"  # manages accounts; reads no data, approves nothing

    @property
    def organisation_kind(self) -> OrganisationKind:
        return OrganisationKind.CONTROLLER if self is Role.CONTROLLER_APPROVER else OrganisationKind.PROCESSOR


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Account(Base):
    __tablename__ = "account"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    #: Sealed under the identity key (airlock.identity.seeds), never the seed itself.
    totp_secret: Mapped[str] = mapped_column(sa.String(128))
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RecoveryCode(Base):
    __tablename__ = "recovery_code"

    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("account.id"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("account.id"), index=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    scopes: Mapped[str] = mapped_column(sa.String(200))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthSession(Base):
    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("account.id"), index=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_digest: Mapped[str] = mapped_column(sa.String(64))
    client: Mapped[str] = mapped_column(sa.String(16))  # digest of the User-Agent
    address: Mapped[str] = mapped_column(sa.String(16))  # digest of the client address
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)  # last password + second factor
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    challenge: Mapped[str | None] = mapped_column(sa.String(200))  # pending WebAuthn registration challenge


class WebAuthnCredential(Base):
    __tablename__ = "webauthn_credential"

    id: Mapped[str] = mapped_column(sa.String(400), primary_key=True)  # credential id, base64url
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("account.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RegisteredMandate(Base):
    """A mandate known to the server: which controller organisation it belongs to, and its digest."""

    __tablename__ = "registered_mandate"

    id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(sa.Text)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

"""The directory of the people who use Airlock: enrolment, authentication, sessions, API tokens, registered mandates.

Every account is a natural person's (no generic names), with an argon2id
password (CNIL 2022-100, 80 bits) and a mandatory TOTP second factor; the first
administrator is made by :meth:`Directory.bootstrap`, never by a default
password. A login from a second client while another is active (or was active a
moment ago) is a shared account: it emits ``identity.shared_account`` and, by
default, is refused.

>>> import tempfile, pyotp
>>> from airlock.store import open_store
>>> directory = Directory(open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db"), seeds=SeedKey.generate())
>>> first = directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", "Tr0mbone&Kiwi-42")
>>> account = directory.authenticate("ada.lovelace@processor.example", "Tr0mbone&Kiwi-42", totp=pyotp.TOTP(first.totp_secret).now())
>>> account.role, len(first.recovery_codes)
('administrator', 10)
>>> directory.store.close()
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.identity import names, password, recovery, tokens, totp
from airlock.identity.models import (
    Account,
    ApiToken,
    AuthSession,
    Organisation,
    OrganisationKind,
    RecoveryCode,
    RegisteredMandate,
    Role,
    WebAuthnCredential,
)
from airlock.identity.seeds import PREFIX, SeedKey
from airlock.store import Store
from airlock.store.models import new_run_id, utcnow
from airlock.vault.events import SecurityEvent, emit

__all__ = [
    "TOKEN_SCOPES",
    "WRONG_CREDENTIALS",
    "AuthenticationError",
    "Directory",
    "Enrolment",
    "NotFound",
    "OpenedSession",
    "PermissionDenied",
    "Policy",
    "Principal",
    "SecondFactorError",
    "SharedAccountError",
]

TOKEN_SCOPES = ("read", "write")
WRONG_CREDENTIALS = "wrong e-mail, password or second-factor code; check them, or use a recovery code if the TOTP device is lost"
SHARED_ACCOUNT_MODES = ("block", "alert")


class AuthenticationError(AirlockError):
    """Who is asking is not established (HTTP 401)."""


class SecondFactorError(AuthenticationError):
    """The password was right, the second factor was not (the message does not say so; the rate limiter needs to know)."""

    def __init__(self, account_id: str):
        self.account_id = account_id
        super().__init__(WRONG_CREDENTIALS)


class PermissionDenied(AirlockError):
    """The person is known but may not do this (HTTP 403)."""


class SharedAccountError(PermissionDenied):
    """The account is in use from another client: refused when AIRLOCK_SHARED_ACCOUNT=block."""


class NotFound(AirlockError):
    """No such thing, or not visible to this person (HTTP 404: another tenant's ids are not confirmed)."""


@dataclass(frozen=True)
class Policy:
    """Session and sharing rules, from ``AIRLOCK_*`` variables (see docs/identity.md)."""

    session_idle: timedelta = timedelta(minutes=15)
    session_max: timedelta = timedelta(hours=8)
    reauth_within: timedelta = timedelta(minutes=5)
    shared_account: str = "block"
    shared_window: timedelta = timedelta(minutes=15)
    token_max_days: int = 90

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Policy:
        """The policy from the environment; an unknown value is an AirlockError naming its variable.

        >>> Policy.from_environ({"AIRLOCK_SHARED_ACCOUNT": "alert", "AIRLOCK_REAUTH_MINUTES": "2"}).reauth_within
        datetime.timedelta(seconds=120)
        """
        env = os.environ if environ is None else environ
        mode = env.get("AIRLOCK_SHARED_ACCOUNT") or "block"
        if mode not in SHARED_ACCOUNT_MODES:
            raise AirlockError(f"AIRLOCK_SHARED_ACCOUNT: {mode!r} is not one of block, alert; unset it for block")
        return cls(
            session_idle=timedelta(minutes=_minutes(env, "AIRLOCK_SESSION_IDLE_MINUTES", 15)),
            session_max=timedelta(minutes=_minutes(env, "AIRLOCK_SESSION_MAX_MINUTES", 480)),
            reauth_within=timedelta(minutes=_minutes(env, "AIRLOCK_REAUTH_MINUTES", 5)),
            shared_account=mode,
            shared_window=timedelta(minutes=_minutes(env, "AIRLOCK_SHARED_ACCOUNT_WINDOW_MINUTES", 15)),
        )


def _minutes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or int(raw) == 0:
        raise AirlockError(f"{name}: {raw!r} is not a positive whole number of minutes; unset it for {default}")
    return int(raw)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person through a session or one of their API tokens."""

    account_id: str
    name: str
    email: str
    role: Role
    organisation_id: str
    via: str  # "session" or "token"
    credential_id: str  # the session's or the token's id
    scopes: frozenset[str]
    authenticated_at: datetime | None  # last password + second factor; None for a token

    @property
    def tenant(self) -> str | None:
        """The only organisation this person may see, or None for the processor's staff."""
        return self.organisation_id if self.role is Role.CONTROLLER_APPROVER else None

    def fresh(self, within: timedelta) -> bool:
        return self.authenticated_at is not None and utcnow() - self.authenticated_at <= within


@dataclass(frozen=True)
class Enrolment:
    """A new account and its second factor, shown once: the TOTP secret and the recovery codes."""

    account: Account
    totp_secret: str
    recovery_codes: list[str]

    @property
    def totp_uri(self) -> str:
        return totp.provisioning_uri(self.totp_secret, self.account.email)


@dataclass(frozen=True)
class OpenedSession:
    id: str
    account_id: str
    token: str  # the session cookie's value, never stored
    csrf_token: str
    opened_at: datetime
    expires_at: datetime


# Compared against when the e-mail is unknown, so that a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = password.hash_password("not-a-password-of-anyone")


class Directory:
    """Accounts, sessions, tokens and mandates in the metadata store, under a :class:`Policy`."""

    def __init__(self, store: Store, policy: Policy | None = None, *, seeds: SeedKey):
        self.store = store
        self.policy = policy or Policy()
        #: The key TOTP seeds are sealed under (:meth:`SeedKey.load` in a real deployment).
        self.seeds = seeds
        self._seal_plain_seeds()

    def _seal_plain_seeds(self) -> None:
        """Seeds stored before they were sealed (a store made by an earlier version) are sealed now."""
        with self.store.session.begin() as s:
            for account in s.scalars(sa.select(Account).where(sa.not_(Account.totp_secret.startswith(PREFIX)))):
                account.totp_secret = self.seeds.seal(account.id, account.totp_secret)

    # --- organisations -------------------------------------------------------------------------------

    def create_organisation(self, name: str, kind: OrganisationKind | str) -> Organisation:
        kind = OrganisationKind(kind)
        name = " ".join(name.split())
        if not name:
            raise AirlockError("organisation name: empty; give the organisation's legal name")
        with self.store.session.begin() as s:
            if s.scalar(sa.select(Organisation).where(Organisation.name == name)):
                raise AirlockError(f"organisation {name!r} already exists; use its id")
            organisation = Organisation(name=name, kind=kind)
            s.add(organisation)
        return organisation

    def organisations(self, tenant: str | None = None) -> list[Organisation]:
        query = sa.select(Organisation).order_by(Organisation.name)
        with self.store.session() as s:
            return list(s.scalars(query if tenant is None else query.where(Organisation.id == tenant)))

    def organisation(self, organisation_id: str, tenant: str | None = None) -> Organisation:
        with self.store.session() as s:
            organisation = s.get(Organisation, organisation_id)
        if organisation is None or tenant not in (None, organisation.id):
            raise NotFound(f"no organisation {organisation_id!r} visible to you; check the id")
        return organisation

    # --- accounts ------------------------------------------------------------------------------------

    def enrol(self, name: str, email: str, organisation_id: str, role: Role | str, secret: str) -> Enrolment:
        """A new account for a natural person, its TOTP secret and recovery codes (shown once)."""
        role, name, email = Role(role), " ".join(name.split()), email.strip().lower()
        names.check_person(name, email)
        password.check(secret, name=name, email=email)
        organisation = self.organisation(organisation_id)
        if organisation.kind != role.organisation_kind:
            raise AirlockError(f"role {role}: belongs to a {role.organisation_kind} organisation, {organisation.name!r} is a "
                               f"{organisation.kind}; choose another organisation or role")
        codes, seed = recovery.new_codes(), totp.new_secret()
        with self.store.session.begin() as s:
            if s.scalar(sa.select(Account.id).where(Account.email == email)):
                raise AirlockError(f"account e-mail {email!r} already exists; one account per person")
            account = Account(id=new_run_id(), name=name, email=email, organisation_id=organisation.id, role=role,
                              password_hash=password.hash_password(secret))
            account.totp_secret = self.seeds.seal(account.id, seed)
            s.add(account)
            s.flush()
            s.add_all(RecoveryCode(digest=recovery.digest(c), account_id=account.id) for c in codes)
        return Enrolment(account, seed, codes)

    def bootstrap(self, name: str, email: str, organisation: str, secret: str) -> Enrolment:
        """The first administrator, in the processor organisation ``organisation`` (made if missing); refused once one exists."""
        with self.store.session() as s:
            if s.scalar(sa.select(Account.id).where(Account.role == Role.ADMINISTRATOR)):
                raise AirlockError("an administrator already exists; ask them to create your account (airlock admin bootstrap runs once)")
            existing = s.scalar(sa.select(Organisation).where(Organisation.name == " ".join(organisation.split())))
        if existing is not None and existing.kind != OrganisationKind.PROCESSOR:
            raise AirlockError(f"organisation {organisation!r} is a controller; the administrator belongs to the processor")
        names.check_person(name, email)  # before making the organisation, so a refusal leaves nothing behind
        password.check(secret, name=name, email=email)
        org = existing or self.create_organisation(organisation, OrganisationKind.PROCESSOR)
        return self.enrol(name, email, org.id, Role.ADMINISTRATOR, secret)

    def accounts(self) -> list[Account]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(Account).order_by(Account.name, Account.id)))

    def account(self, account_id: str) -> Account:
        with self.store.session() as s:
            account = s.get(Account, account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r}; check the id")
        return account

    def disable(self, account_id: str) -> Account:
        """Disable an account at once: its sessions end and its tokens stop working."""
        now = utcnow()
        with self.store.session.begin() as s:
            account = s.get(Account, account_id)
            if account is None:
                raise NotFound(f"no account {account_id!r}; check the id")
            account.disabled_at = account.disabled_at or now
            s.execute(sa.update(AuthSession).where(AuthSession.account_id == account_id, AuthSession.ended_at.is_(None)).values(ended_at=now))
        return account

    # --- authentication ------------------------------------------------------------------------------

    def authenticate(self, email: str, secret: str, totp: str | None = None, recovery_code: str | None = None) -> Account:
        """The account whose password and second factor (TOTP, else a recovery code, used up) are right.

        Every failure says the same thing, so that the answer does not tell which e-mails exist.
        """
        if not (totp or recovery_code):
            raise AuthenticationError("second factor missing: give the TOTP code from your authenticator app, or a recovery code")
        with self.store.session.begin() as s:
            account = s.scalar(sa.select(Account).where(Account.email == email.strip().lower()))
            if account is None or account.disabled_at is not None:
                password.verify(_DUMMY_HASH, secret)
                raise AuthenticationError(WRONG_CREDENTIALS)
            if not password.verify(account.password_hash, secret):
                raise AuthenticationError(WRONG_CREDENTIALS)
            if not self._second_factor(s, account, totp, recovery_code):
                raise SecondFactorError(account.id)
            if password.needs_rehash(account.password_hash):
                account.password_hash = password.hash_password(secret)
        return account

    def _second_factor(self, s: sa.orm.Session, account: Account, code: str | None, recovery_code: str | None) -> bool:
        if code:
            step = totp.verify(self.seeds.open(account.id, account.totp_secret), code, account.totp_last_step)
            if step is None:
                return False
            account.totp_last_step = step
            return True
        used = s.get(RecoveryCode, recovery.digest(recovery_code or ""))
        if used is None or used.account_id != account.id or used.used_at is not None:
            return False
        used.used_at = utcnow()
        return True

    def new_recovery_codes(self, account_id: str) -> list[str]:
        """Replace every recovery code of an account with fresh ones (shown once)."""
        codes = recovery.new_codes()
        with self.store.session.begin() as s:
            s.execute(sa.delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
            s.add_all(RecoveryCode(digest=recovery.digest(c), account_id=account_id) for c in codes)
        return codes

    # --- sessions ------------------------------------------------------------------------------------

    def open_session(self, account: Account, client: str, address: str) -> OpenedSession:
        """A session for ``account`` just authenticated from ``client`` (User-Agent) at ``address``."""
        now, client, address = utcnow(), _fingerprint(client), _fingerprint(address)
        token, csrf = tokens.new_token("airlock_session_"), tokens.new_token("")
        with self.store.session.begin() as s:
            since = now - max(self.policy.shared_window, self.policy.session_idle)
            recent = s.scalars(sa.select(AuthSession).where(AuthSession.account_id == account.id, AuthSession.last_seen_at >= since))
            other = next((o for o in recent if (o.client, o.address) != (client, address) and self._in_use(o, now)), None)
            session = AuthSession(id=new_run_id(), account_id=account.id, digest=tokens.digest(token), csrf_digest=tokens.digest(csrf), client=client,
                                  address=address, created_at=now, last_seen_at=now, authenticated_at=now,
                                  expires_at=now + self.policy.session_max)
            if other is None or self.policy.shared_account == "alert":
                s.add(session)
        if other is not None:  # after the commit: a subscriber may write to the same database
            self._shared(account.id, session.id, other.id)
        # Fingerprints only: the watch compares them to tell a new client or address from a known one.
        emit(SecurityEvent("identity.login", "", {"account": account.id, "session": session.id, "client": client, "address": address}))
        return OpenedSession(session.id, account.id, token, csrf, now, session.expires_at)

    def _in_use(self, session: AuthSession, now: datetime) -> bool:
        """Active, or active a moment ago (a new client right after another one's activity is sharing too)."""
        active = session.ended_at is None and session.expires_at > now and now - session.last_seen_at <= self.policy.session_idle
        return active or now - session.last_seen_at <= self.policy.shared_window

    def _shared(self, account_id: str, session_id: str, other_session_id: str) -> None:
        blocked = self.policy.shared_account == "block"
        emit(SecurityEvent("identity.shared_account", "", {"account": account_id, "session": session_id,
                                                           "other_session": other_session_id, "blocked": str(blocked).lower()}))
        if blocked:
            raise SharedAccountError(
                f"account {account_id} is in use from another client; each person needs their own account — log out there "
                f"and wait {int(self.policy.shared_window.total_seconds() // 60)} minutes, or ask the security officer"
            )

    def session_principal(self, token: str, client: str, address: str) -> tuple[Principal, str]:
        """Who holds session cookie ``token`` and the session's CSRF digest; the session's expiry is pushed back."""
        now = utcnow()
        with self.store.session.begin() as s:
            session = s.scalar(sa.select(AuthSession).where(AuthSession.digest == tokens.digest(token)))
            if session is None or session.ended_at is not None:
                raise AuthenticationError("session unknown or ended; log in again at /login")
            expired = session.expires_at <= now or now - session.last_seen_at > self.policy.session_idle
            # The same cookie from a second client: a session handed over (or stolen) is a shared account.
            moved = (session.client, session.address) != (_fingerprint(client), _fingerprint(address))
            if expired or (moved and self.policy.shared_account == "block"):
                session.ended_at = now  # committed even though the request is refused
            session.last_seen_at = now
            account = s.get(Account, session.account_id)
            principal = _principal(account, "session", session.id, frozenset(TOKEN_SCOPES), session.authenticated_at)
            csrf_digest = session.csrf_digest
        if expired:
            raise AuthenticationError("session expired; log in again at /login")
        if moved:
            self._shared(principal.account_id, principal.credential_id, principal.credential_id)
        if account.disabled_at is not None:
            raise AuthenticationError("account disabled; ask an administrator")
        return principal, csrf_digest

    def reauthenticate(self, principal: Principal, secret: str, totp: str | None = None, recovery_code: str | None = None) -> datetime:
        """Password and second factor again: sensitive actions are allowed for :attr:`Policy.reauth_within` from now."""
        if principal.via != "session":
            raise PermissionDenied("re-authentication needs a login session; API tokens cannot approve, accept, purge or manage keys")
        self.authenticate(principal.email, secret, totp, recovery_code)
        now = utcnow()
        with self.store.session.begin() as s:
            session = s.get(AuthSession, principal.credential_id)
            if session is None or session.ended_at is not None:
                raise AuthenticationError("session ended; log in again at /login")
            session.authenticated_at = now
        return now + self.policy.reauth_within

    def end_session(self, session_id: str) -> None:
        with self.store.session.begin() as s:
            s.execute(sa.update(AuthSession).where(AuthSession.id == session_id, AuthSession.ended_at.is_(None)).values(ended_at=utcnow()))

    # --- API tokens ----------------------------------------------------------------------------------

    def issue_token(self, account_id: str, label: str, scopes: list[str], days: int) -> tuple[ApiToken, str]:
        """A personal token for ``account_id`` (the secret is returned once, only its digest is kept)."""
        unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
        if unknown or not scopes:
            raise AirlockError(f"token scopes: {', '.join(unknown) or 'none given'}; choose among {', '.join(TOKEN_SCOPES)}")
        if not 1 <= days <= self.policy.token_max_days:
            raise AirlockError(f"token lifetime: {days} days; choose 1 to {self.policy.token_max_days}")
        label = " ".join(label.split())[:200] or "token"
        secret = tokens.new_token()
        token = ApiToken(account_id=account_id, digest=tokens.digest(secret), label=label, scopes=" ".join(sorted(set(scopes))),
                         expires_at=utcnow() + timedelta(days=days))
        with self.store.session.begin() as s:
            s.add(token)
        return token, secret

    def tokens(self, account_id: str) -> list[ApiToken]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.created_at)))

    def revoke_token(self, account_id: str, token_id: str) -> ApiToken:
        """Revoke one of ``account_id``'s own tokens; another person's token is not found."""
        with self.store.session.begin() as s:
            token = s.get(ApiToken, token_id)
            if token is None or token.account_id != account_id:
                raise NotFound(f"no token {token_id!r} of yours; list them with GET /api/tokens")
            token.revoked_at = token.revoked_at or utcnow()
        return token

    def token_principal(self, secret: str) -> Principal:
        now = utcnow()
        with self.store.session.begin() as s:
            token = s.scalar(sa.select(ApiToken).where(ApiToken.digest == tokens.digest(secret)))
            if token is None or token.revoked_at is not None:
                raise AuthenticationError("API token unknown or revoked; create one with POST /api/tokens")
            if token.expires_at <= now:
                raise AuthenticationError("API token expired; create a new one with POST /api/tokens")
            account = s.get(Account, token.account_id)
            if account is None or account.disabled_at is not None:
                raise AuthenticationError("account disabled; ask an administrator")
            token.last_used_at = now
            return _principal(account, "token", token.id, frozenset(token.scopes.split()), None)

    # --- WebAuthn (optional second key) --------------------------------------------------------------

    def set_challenge(self, session_id: str, challenge: str | None) -> None:
        with self.store.session.begin() as s:
            s.execute(sa.update(AuthSession).where(AuthSession.id == session_id).values(challenge=challenge))

    def challenge(self, session_id: str) -> str | None:
        with self.store.session() as s:
            return s.scalar(sa.select(AuthSession.challenge).where(AuthSession.id == session_id))

    def add_credential(self, account_id: str, credential_id: str, public_key: bytes, sign_count: int) -> WebAuthnCredential:
        credential = WebAuthnCredential(id=credential_id, account_id=account_id, public_key=public_key, sign_count=sign_count)
        with self.store.session.begin() as s:
            s.add(credential)
        return credential

    def credentials(self, account_id: str) -> list[WebAuthnCredential]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id)))

    # --- mandates ------------------------------------------------------------------------------------

    def register_mandate(self, mandate_id: str, organisation_id: str, digest: str, path: str) -> RegisteredMandate:
        """Record that mandate ``mandate_id`` (its SHA-256 ``digest``, kept at ``path``) belongs to a controller organisation."""
        if self.organisation(organisation_id).kind != OrganisationKind.CONTROLLER:
            raise AirlockError(f"organisation {organisation_id}: a mandate belongs to a controller organisation; choose the laboratory's")
        mandate = RegisteredMandate(id=mandate_id, organisation_id=organisation_id, digest=digest.lower(), path=path)
        with self.store.session.begin() as s:
            if s.get(RegisteredMandate, mandate_id) is not None:
                raise AirlockError(f"mandate {mandate_id!r} is already registered; a new mandate needs a new id")
            s.add(mandate)
        return mandate

    def mandates(self, tenant: str | None = None) -> list[RegisteredMandate]:
        query = sa.select(RegisteredMandate).order_by(RegisteredMandate.registered_at, RegisteredMandate.id)
        with self.store.session() as s:
            return list(s.scalars(query if tenant is None else query.where(RegisteredMandate.organisation_id == tenant)))

    def mandate(self, mandate_id: str, tenant: str | None = None) -> RegisteredMandate:
        with self.store.session() as s:
            mandate = s.get(RegisteredMandate, mandate_id)
        if mandate is None or tenant not in (None, mandate.organisation_id):
            raise NotFound(f"no mandate {mandate_id!r} visible to you; check the id")
        return mandate


def _principal(account: Account, via: str, credential_id: str, scopes: frozenset[str], authenticated_at: datetime | None) -> Principal:
    return Principal(account.id, account.name, account.email, Role(account.role), account.organisation_id, via, credential_id, scopes,
                     authenticated_at)


def fingerprint(text: str) -> str:
    """What the store and the ledger keep of a client (User-Agent) or an address: a short digest."""
    return _fingerprint(text)


def _fingerprint(text: str) -> str:
    # Enough to tell two clients or addresses apart; the address itself is not kept.
    return hashlib.sha256(text.encode()).hexdigest()[:16]

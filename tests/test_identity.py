"""Identity: CNIL 2022-100 passwords, accounts of persons only, mandatory TOTP, single-use recovery codes, tokens hashed at rest,
session expiry, re-authentication and shared-account detection, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.identity import password
from airlock.identity.directory import (
    AuthenticationError,
    Directory,
    Enrolment,
    NotFound,
    PermissionDenied,
    Policy,
    SecondFactorError,
    SharedAccountError,
)
from airlock.identity.models import OrganisationKind, Role
from airlock.identity.seeds import SeedError, SeedKey
from airlock.store import open_store
from airlock.store.models import utcnow
from airlock.vault.events import SecurityEvent, subscribe


@dataclass
class Person:
    """Someone enrolled in a test, with their password and an authenticator that never repeats a time step."""

    enrolment: Enrolment
    password: str
    last_step: int = -10
    spare_codes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.enrolment.account.id

    @property
    def email(self) -> str:
        return self.enrolment.account.email

    def code(self) -> str:
        # The server accepts the steps around now, each once and in increasing order: take the oldest still accepted.
        while True:
            now = time.time()
            current = int(now) // 30
            earliest = current - 1 if now % 30 < 28 else current  # not a step about to leave the window
            step = max(self.last_step + 1, earliest)
            if step <= current + 1:
                break
            time.sleep(30 - now % 30 + 0.1)
        self.last_step = step
        return pyotp.TOTP(self.enrolment.totp_secret).generate_otp(step)


def strong_password() -> str:
    return secrets.token_urlsafe(18) + "aA1!"


def enrol(directory: Directory, name: str, organisation_id: str, role: Role) -> Person:
    secret = strong_password()
    email = name.lower().replace(" ", ".") + "@example.org"
    return Person(directory.enrol(name, email, organisation_id, role, secret), secret)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/airlock.db"
    return request.getfixturevalue("postgres_database")()


@pytest.fixture
def directory(store_url: str) -> Iterator[Directory]:
    store = open_store(store_url)
    yield Directory(store, seeds=SeedKey.generate())
    store.close()


@pytest.fixture
def events() -> Iterator[list[SecurityEvent]]:
    seen: list[SecurityEvent] = []
    unsubscribe = subscribe(seen.append)
    yield seen
    unsubscribe()


@pytest.fixture
def lab(directory: Directory) -> str:
    return directory.create_organisation("Laboratoire Pasteur Lille", OrganisationKind.CONTROLLER).id


@pytest.fixture
def processor(directory: Directory) -> str:
    return directory.create_organisation("Processor SA", OrganisationKind.PROCESSOR).id


# --- password policy: CNIL 2022-100 case no. 1 (80 bits, password alone) -------------------------------------------------


@pytest.mark.parametrize("candidate", [
    "Kx7#mQ2!pL9z",  # example 1: 12 characters of the four classes
    "Kx7mQ2pL9zRt4W",  # example 2: 14 characters, upper, lower and digits
    "cheval agrafe pile correct bateau ciel vert",  # example 3: a phrase of 7 words
])
def test_the_deliberations_own_examples_reach_80_bits(candidate: str) -> None:
    password.check(candidate, name="Marie Curie", email="marie.curie@lab.example")


@pytest.mark.parametrize("candidate", [
    "Kx7#mQ2!pL9",  # example 1 one character short
    "Kx7mQ2pL9zRt4",  # example 2 one character short
    "cheval agrafe",  # two words
    "abcdefghijklmnop",  # 16 lower-case letters: 75 bits
])
def test_passwords_below_80_bits_are_refused_naming_the_rule(candidate: str) -> None:
    with pytest.raises(AirlockError, match=r"80 are required \(CNIL 2022-100\)") as refused:
        password.check(candidate, name="Marie Curie", email="marie.curie@lab.example")
    assert candidate not in str(refused.value)


def test_a_password_built_on_the_persons_name_is_refused() -> None:
    with pytest.raises(AirlockError, match="own name"):
        password.check("Curie-Radium-1898!", name="Marie Curie", email="marie.curie@lab.example")


def test_passwords_are_stored_as_argon2id(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    with directory.store.engine.connect() as c:
        stored = c.execute(sa.text("SELECT password_hash FROM account WHERE id = :id"), {"id": person.id}).scalar_one()
    assert stored.startswith("$argon2id$") and person.password not in stored


# --- accounts belong to persons ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, email", [
    ("admin", "marie.curie@lab.example"),
    ("Support", "marie.curie@lab.example"),
    ("Labo 2", "marie.curie@lab.example"),
    ("Équipe migration", "marie.curie@lab.example"),
    ("Marie Curie", "test@lab.example"),
    ("Marie Curie", "labo.migration-1@lab.example"),
])
def test_generic_accounts_are_refused(directory: Directory, lab: str, name: str, email: str) -> None:
    with pytest.raises(AirlockError, match="generic name|shared mailbox"):
        directory.enrol(name, email, lab, Role.CONTROLLER_APPROVER, strong_password())
    assert directory.accounts() == []


def test_roles_belong_to_their_kind_of_organisation(directory: Directory, lab: str, processor: str) -> None:
    with pytest.raises(AirlockError, match="controller-approver: belongs to a controller organisation"):
        directory.enrol("Marie Curie", "marie.curie@example.org", processor, Role.CONTROLLER_APPROVER, strong_password())
    with pytest.raises(AirlockError, match="administrator: belongs to a processor organisation"):
        directory.enrol("Marie Curie", "marie.curie@example.org", lab, Role.ADMINISTRATOR, strong_password())


def test_one_account_per_email(directory: Directory, lab: str) -> None:
    enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    with pytest.raises(AirlockError, match="already exists"):
        directory.enrol("Marie Curie", "MARIE.CURIE@example.org", lab, Role.CONTROLLER_APPROVER, strong_password())


def test_no_default_credentials_and_bootstrap_runs_once(directory: Directory) -> None:
    for email, guess in [("admin@airlock", "admin"), ("ada.lovelace@processor.example", "Tr0mbone&Kiwi-42")]:
        with pytest.raises(AuthenticationError):
            directory.authenticate(email, guess, totp="000000")
    secret = strong_password()
    first = directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", secret)
    assert first.account.role == Role.ADMINISTRATOR and first.totp_uri.startswith("otpauth://totp/")
    assert directory.organisation(first.account.organisation_id).kind == OrganisationKind.PROCESSOR
    with pytest.raises(AirlockError, match="an administrator already exists"):
        directory.bootstrap("Alan Turing", "alan.turing@processor.example", "Processor SA", strong_password())
    assert [a.email for a in directory.accounts()] == ["ada.lovelace@processor.example"]


# --- second factor -------------------------------------------------------------------------------------------------------


def test_totp_is_required(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    with pytest.raises(AuthenticationError, match="second factor missing"):
        directory.authenticate(person.email, person.password)
    wrong = str((int(pyotp.TOTP(person.enrolment.totp_secret).now()) + 1) % 1_000_000).zfill(6)
    with pytest.raises(SecondFactorError, match="wrong e-mail, password or second-factor code"):
        directory.authenticate(person.email, person.password, totp=wrong)
    with pytest.raises(AuthenticationError) as wrong_password:
        directory.authenticate(person.email, person.password + "x", totp=person.code())
    assert not isinstance(wrong_password.value, SecondFactorError)
    assert directory.authenticate(person.email, person.password, totp=person.code()).id == person.id


def test_a_totp_code_works_once(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    code = person.code()
    directory.authenticate(person.email, person.password, totp=code)
    with pytest.raises(SecondFactorError):
        directory.authenticate(person.email, person.password, totp=code)


def test_recovery_codes_are_single_use_and_hashed(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    first, second = person.enrolment.recovery_codes[:2]
    assert directory.authenticate(person.email, person.password, recovery_code=first.lower()).id == person.id
    with pytest.raises(SecondFactorError):
        directory.authenticate(person.email, person.password, recovery_code=first)
    directory.authenticate(person.email, person.password, recovery_code=second)
    with directory.store.engine.connect() as c:
        stored = " ".join(c.execute(sa.text("SELECT digest FROM recovery_code")).scalars())
    assert not any(code.replace("-", "") in stored or code in stored for code in person.enrolment.recovery_codes)


def test_totp_seeds_are_sealed_in_the_store_and_open_only_with_the_identity_key(directory: Directory, lab: str) -> None:
    marie, pierre = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER), enrol(directory, "Pierre Curie", lab, Role.CONTROLLER_APPROVER)
    with directory.store.engine.connect() as c:
        stored = dict(c.execute(sa.text("SELECT id, totp_secret FROM account")).all())
    assert marie.enrolment.totp_secret not in " ".join(stored.values()) and pierre.enrolment.totp_secret not in " ".join(stored.values())
    # A dump of the store without the key file: the seeds do not open (the password alone gets nobody in).
    elsewhere = Directory(directory.store, seeds=SeedKey.generate())
    with pytest.raises(SeedError):
        elsewhere.authenticate(marie.email, marie.password, totp=marie.code())
    # A sealed seed moved onto another account's row does not open either.
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE account SET totp_secret = :s WHERE id = :id"), {"s": stored[marie.id], "id": pierre.id})
    with pytest.raises(SeedError):
        directory.authenticate(pierre.email, pierre.password, totp=marie.code())
    # A seed stored in clear by an earlier version is sealed as soon as a Directory opens the store.
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE account SET totp_secret = :s WHERE id = :id"), {"s": pierre.enrolment.totp_secret, "id": pierre.id})
    reopened = Directory(directory.store, seeds=directory.seeds)
    with directory.store.engine.connect() as c:
        assert pierre.enrolment.totp_secret not in c.execute(sa.text("SELECT totp_secret FROM account WHERE id = :id"), {"id": pierre.id}).scalar()
    assert reopened.authenticate(pierre.email, pierre.password, totp=pierre.code()).id == pierre.id


def test_the_identity_key_file_is_made_private_and_refused_when_others_can_read_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "identity.key"
    sealed = SeedKey.load(path).seal("acc-1", "JBSWY3DPEHPK3PXP")
    assert path.stat().st_mode & 0o777 == 0o600
    assert SeedKey.load(path).open("acc-1", sealed) == "JBSWY3DPEHPK3PXP"  # the same key, read back
    path.chmod(0o644)
    with pytest.raises(AirlockError, match=r"identity.key: readable by others; chmod 600"):
        SeedKey.load(path)


def test_another_persons_recovery_code_does_not_work(directory: Directory, lab: str) -> None:
    marie, pierre = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER), enrol(directory, "Pierre Curie", lab, Role.CONTROLLER_APPROVER)
    with pytest.raises(SecondFactorError):
        directory.authenticate(marie.email, marie.password, recovery_code=pierre.enrolment.recovery_codes[0])


# --- sessions ------------------------------------------------------------------------------------------------------------


def _login(directory: Directory, person: Person, client: str = "browser-1", address: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return directory.open_session(directory.authenticate(person.email, person.password, totp=person.code()), client, address)


def test_sessions_expire_when_idle(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    opened = _login(directory, person)
    assert directory.session_principal(opened.token, "browser-1", "10.0.0.1")[0].account_id == person.id
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET last_seen_at = :t"), {"t": utcnow() - directory.policy.session_idle - timedelta(seconds=1)})
    with pytest.raises(AuthenticationError, match="session expired"):
        directory.session_principal(opened.token, "browser-1", "10.0.0.1")
    with pytest.raises(AuthenticationError, match="unknown or ended"):  # ended for good, not revived by a later request
        directory.session_principal(opened.token, "browser-1", "10.0.0.1")


def test_reauthentication_makes_a_session_fresh_for_a_while(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    opened = _login(directory, person)
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET authenticated_at = :t"), {"t": utcnow() - timedelta(hours=1)})
    who, _ = directory.session_principal(opened.token, "browser-1", "10.0.0.1")
    assert not who.fresh(directory.policy.reauth_within)
    with pytest.raises(SecondFactorError):
        directory.reauthenticate(who, person.password, totp="000000" if person.code() != "000000" else "111111")
    directory.reauthenticate(who, person.password, totp=person.code())
    assert directory.session_principal(opened.token, "browser-1", "10.0.0.1")[0].fresh(directory.policy.reauth_within)


def test_a_disabled_account_loses_its_sessions(directory: Directory, lab: str) -> None:
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    opened = _login(directory, person)
    directory.disable(person.id)
    with pytest.raises(AuthenticationError):
        directory.session_principal(opened.token, "browser-1", "10.0.0.1")
    with pytest.raises(AuthenticationError):
        directory.authenticate(person.email, person.password, totp=person.code())


# --- shared accounts -----------------------------------------------------------------------------------------------------


def test_a_second_client_while_the_first_is_active_is_blocked_and_reported(directory: Directory, lab: str, events) -> None:  # type: ignore[no-untyped-def]
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    first = _login(directory, person, "browser-1", "10.0.0.1")
    with pytest.raises(SharedAccountError, match="in use from another client"):
        _login(directory, person, "browser-2", "10.0.0.2")
    shared = [e for e in events if e.kind == "identity.shared_account"]
    assert len(shared) == 1 and shared[0].detail["account"] == person.id and shared[0].detail["other_session"] == first.id
    assert shared[0].detail["blocked"] == "true"
    assert all(person.email not in v and "10.0.0" not in v for v in shared[0].detail.values())  # ids only
    with directory.store.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM auth_session")).scalar_one() == 1  # the refused login opened nothing
    # The same client logging in again is the same person.
    _login(directory, person, "browser-1", "10.0.0.1")


def test_a_new_client_right_after_another_ones_activity_is_reported(directory: Directory, lab: str, events) -> None:  # type: ignore[no-untyped-def]
    directory.policy = Policy(shared_account="alert")
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    first = _login(directory, person, "browser-1", "10.0.0.1")
    directory.end_session(first.id)  # logged out, but a moment ago
    second = _login(directory, person, "browser-2", "10.0.0.1")  # alert mode: allowed
    assert directory.session_principal(second.token, "browser-2", "10.0.0.1")[0].account_id == person.id
    assert [e.detail["other_session"] for e in events if e.kind == "identity.shared_account"] == [first.id]


def test_an_old_session_of_another_client_is_not_sharing(directory: Directory, lab: str, events) -> None:  # type: ignore[no-untyped-def]
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    first = _login(directory, person, "browser-1", "10.0.0.1")
    directory.end_session(first.id)
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET last_seen_at = :t"), {"t": utcnow() - directory.policy.shared_window - timedelta(minutes=1)})
    _login(directory, person, "browser-2", "10.0.0.2")
    assert [e for e in events if e.kind == "identity.shared_account"] == []


def test_a_session_cookie_used_from_another_address_is_sharing(directory: Directory, lab: str, events) -> None:  # type: ignore[no-untyped-def]
    person = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    opened = _login(directory, person, "browser-1", "10.0.0.1")
    with pytest.raises(SharedAccountError):
        directory.session_principal(opened.token, "browser-1", "192.0.2.7")
    with pytest.raises(AuthenticationError, match="ended"):  # blocked: the session is over for its first holder too
        directory.session_principal(opened.token, "browser-1", "10.0.0.1")
    assert [e.detail["session"] for e in events if e.kind == "identity.shared_account"] == [opened.id]


def test_shared_account_mode_is_validated() -> None:
    with pytest.raises(AirlockError, match="AIRLOCK_SHARED_ACCOUNT: 'warn' is not one of block, alert"):
        Policy.from_environ({"AIRLOCK_SHARED_ACCOUNT": "warn"})
    assert Policy.from_environ({}).shared_account == "block"


# --- personal API tokens -------------------------------------------------------------------------------------------------


def test_tokens_are_personal_scoped_hashed_expiring_and_revocable(directory: Directory, lab: str) -> None:
    marie, pierre = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER), enrol(directory, "Pierre Curie", lab, Role.CONTROLLER_APPROVER)
    token, secret = directory.issue_token(marie.id, "cli", ["read"], days=30)
    who = directory.token_principal(secret)
    assert (who.account_id, who.scopes, who.via, who.fresh(timedelta(days=1))) == (marie.id, frozenset({"read"}), "token", False)
    with directory.store.engine.connect() as c:
        rows = c.execute(sa.text("SELECT * FROM api_token")).all()
    assert secret not in repr(rows) and secret.removeprefix("airlock_pat_") not in repr(rows)
    with pytest.raises(NotFound):
        directory.revoke_token(pierre.id, token.id)  # not Pierre's to revoke
    assert directory.token_principal(secret).account_id == marie.id
    directory.revoke_token(marie.id, token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        directory.token_principal(secret)
    _, expiring = directory.issue_token(marie.id, "cron", ["read", "write"], days=1)
    with directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE api_token SET expires_at = :t"), {"t": utcnow() - timedelta(seconds=1)})
    with pytest.raises(AuthenticationError, match="expired"):
        directory.token_principal(expiring)
    with pytest.raises(AirlockError, match="token scopes: admin"):
        directory.issue_token(marie.id, "x", ["admin"], days=1)
    with pytest.raises(AirlockError, match="token lifetime"):
        directory.issue_token(marie.id, "x", ["read"], days=3650)


def test_tokens_cannot_reauthenticate(directory: Directory, lab: str) -> None:
    marie = enrol(directory, "Marie Curie", lab, Role.CONTROLLER_APPROVER)
    _, secret = directory.issue_token(marie.id, "cli", ["read", "write"], days=1)
    with pytest.raises(PermissionDenied, match="needs a login session"):
        directory.reauthenticate(directory.token_principal(secret), marie.password, totp=marie.code())


# --- mandates and tenants ------------------------------------------------------------------------------------------------


def test_mandates_are_seen_only_by_their_controller(directory: Directory, lab: str, processor: str) -> None:
    other = directory.create_organisation("Laboratoire du Nord", OrganisationKind.CONTROLLER).id
    directory.register_mandate("M-A", lab, "a" * 64, "/srv/mandates/a.yaml")
    directory.register_mandate("M-B", other, "b" * 64, "/srv/mandates/b.yaml")
    assert [m.id for m in directory.mandates(lab)] == ["M-A"]
    assert sorted(m.id for m in directory.mandates(None)) == ["M-A", "M-B"]
    with pytest.raises(NotFound):
        directory.mandate("M-B", tenant=lab)
    with pytest.raises(NotFound):
        directory.organisation(other, tenant=lab)
    with pytest.raises(AirlockError, match="belongs to a controller organisation"):
        directory.register_mandate("M-P", processor, "c" * 64, "/srv/mandates/p.yaml")
    with pytest.raises(AirlockError, match="already registered"):
        directory.register_mandate("M-A", lab, "d" * 64, "/srv/mandates/a2.yaml")


# --- airlock admin bootstrap ---------------------------------------------------------------------------------------------


def test_admin_bootstrap_enrols_totp_at_once_and_runs_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import typer
    from typer.testing import CliRunner

    from airlock.cli import admin

    app = typer.Typer()
    app.add_typer(admin.app, name="admin")  # as the integrator registers it
    url, secret = f"sqlite:///{tmp_path}/airlock.db", strong_password()
    args = ["admin", "bootstrap", "--name", "Ada Lovelace", "--email", "ada.lovelace@processor.example", "--organisation", "Processor SA", "--database", url]
    home = {"AIRLOCK_HOME": str(tmp_path / "home")}  # where the identity key is made
    first = CliRunner().invoke(app, args, env={"AIRLOCK_BOOTSTRAP_PASSWORD": secret, **home})
    assert first.exit_code == 0, first.output
    uri = next(line for line in first.output.split() if line.startswith("otpauth://totp/"))
    codes = [line.strip() for line in first.output.splitlines() if line.startswith("  ")]
    assert len(codes) == 10 and secret not in first.output
    with open_store(url) as store:
        directory = Directory(store, seeds=SeedKey.load(tmp_path / "home" / "identity.key"))
        totp_code = pyotp.parse_uri(uri).now()
        assert directory.authenticate("ada.lovelace@processor.example", secret, totp=totp_code).role == Role.ADMINISTRATOR
        assert directory.authenticate("ada.lovelace@processor.example", secret, recovery_code=codes[0]).role == Role.ADMINISTRATOR
    again = CliRunner().invoke(app, [*args[:5], "alan.turing@processor.example", *args[6:]], env={"AIRLOCK_BOOTSTRAP_PASSWORD": strong_password(), **home})
    assert isinstance(again.exception, AirlockError) and "an administrator already exists" in str(again.exception)
    weak = CliRunner().invoke(app, [*args[:-1], f"sqlite:///{tmp_path}/other.db"], env={"AIRLOCK_BOOTSTRAP_PASSWORD": "admin", **home})
    assert isinstance(weak.exception, AirlockError) and "80 are required" in str(weak.exception)

"""The API server: no unauthenticated surface but health and login, roles by route, tenant isolation, CSRF, re-authentication,
login rate limits (CNIL 2022-100 case no. 1: the account is never locked), clear error bodies, TLS refusal."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import typer
import uvicorn
from conftest import IN_CI
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from test_identity import Person, enrol, strong_password
from test_procedure import PASSPHRASE, Lab
from typer.testing import CliRunner

from airlock import dburl
from airlock.cli.keys import app as keys_cli
from airlock.errors import AirlockError
from airlock.identity.directory import Directory
from airlock.identity.models import OrganisationKind, Role
from airlock.identity.seeds import SeedKey
from airlock.ledger import Actor
from airlock.procedure.lifecycle import State
from airlock.procedure.records import RunEvent, RunRecord, RunStore
from airlock.procedure.runner import Targets
from airlock.server import SECURITY_HEADERS, create_app
from airlock.store import Store, open_store
from airlock.store.models import utcnow
from airlock.vault.events import SecurityEvent, subscribe
from airlock.watch.alerts import Watch
from airlock.watch.incidents import Incidents

PUBLIC = {("GET", "/api/health"), ("GET", "/login"), ("POST", "/login"), ("POST", "/api/login")}
EVERYONE = set(Role)
ACCOUNT_READERS = {Role.ADMINISTRATOR, Role.SECURITY_OFFICER, Role.AUDITOR}
MANDATE_READERS = {Role.CONTROLLER_APPROVER, Role.PROCESSOR_OPERATOR, Role.SECURITY_OFFICER, Role.AUDITOR}
# Who may call what, written from the issue (the administrator manages accounts but reads no data and approves nothing).
MATRIX = {
    ("POST", "/api/logout"): EVERYONE,
    ("POST", "/api/reauth"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    ("POST", "/api/me/recovery-codes"): EVERYONE,
    ("GET", "/api/openapi.json"): EVERYONE,
    ("GET", "/api/accounts"): ACCOUNT_READERS,
    ("POST", "/api/accounts"): {Role.ADMINISTRATOR},
    ("GET", "/api/accounts/{account_id}"): ACCOUNT_READERS,
    ("POST", "/api/accounts/{account_id}/disable"): {Role.ADMINISTRATOR, Role.SECURITY_OFFICER},
    ("GET", "/api/organisations"): EVERYONE,
    ("POST", "/api/organisations"): {Role.ADMINISTRATOR},
    ("GET", "/api/organisations/{organisation_id}"): EVERYONE,
    ("GET", "/api/tokens"): EVERYONE,
    ("POST", "/api/tokens"): EVERYONE,
    ("DELETE", "/api/tokens/{token_id}"): EVERYONE,
    ("GET", "/api/mandates"): MANDATE_READERS,
    ("POST", "/api/mandates"): {Role.PROCESSOR_OPERATOR},
    ("GET", "/api/mandates/{mandate_id}"): MANDATE_READERS,
    ("GET", "/api/runs"): MANDATE_READERS,
    ("GET", "/api/runs/{run_id}"): MANDATE_READERS,
    ("POST", "/api/runs/{run_id}/approve"): {Role.CONTROLLER_APPROVER},
    ("POST", "/api/runs/{run_id}/accept"): {Role.CONTROLLER_APPROVER},
    ("GET", "/console"): MANDATE_READERS,
    ("GET", "/console/runs/{run_id}"): MANDATE_READERS,
    ("GET", "/console/watch"): {Role.SECURITY_OFFICER, Role.AUDITOR},
    ("POST", "/console/runs/{run_id}/approve"): {Role.CONTROLLER_APPROVER},
    ("POST", "/console/runs/{run_id}/accept"): {Role.CONTROLLER_APPROVER},
    ("POST", "/api/webauthn/register/options"): EVERYONE,
    ("POST", "/api/webauthn/register"): EVERYONE,
    ("GET", "/api/alerts"): {Role.SECURITY_OFFICER, Role.AUDITOR},
    ("GET", "/api/incidents"): {Role.SECURITY_OFFICER, Role.AUDITOR},
    ("GET", "/api/ledger/verify"): {Role.SECURITY_OFFICER, Role.AUDITOR},
}


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the application itself declares."""
    return sorted((m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods)


@dataclass
class World:
    app: FastAPI
    directory: Directory
    people: dict[str, Person]
    organisations: dict[str, str]
    mandates: dict[str, str]
    runs: dict[str, str]

    def client(self, who: str | None = None, address: str = "testclient") -> TestClient:
        client = TestClient(self.app, client=(address, 50000))
        if who is not None:
            person = self.people[who]
            answer = client.post("/api/login", json={"email": person.email, "password": person.password, "totp": person.code()})
            assert answer.status_code == 200, answer.text
            client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = open_store(f"sqlite:///{tmp_path}/airlock.db")
    directory = Directory(store, seeds=SeedKey.generate())
    secret = strong_password()
    admin = directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", secret)
    processor = admin.account.organisation_id
    a = directory.create_organisation("Laboratoire Alpha", OrganisationKind.CONTROLLER).id
    b = directory.create_organisation("Laboratoire Beta", OrganisationKind.CONTROLLER).id
    people = {
        "administrator": Person(admin, secret),
        "approver-a": enrol(directory, "Marie Curie", a, Role.CONTROLLER_APPROVER),
        "approver-b": enrol(directory, "Louis Pasteur", b, Role.CONTROLLER_APPROVER),
        "operator": enrol(directory, "Alan Turing", processor, Role.PROCESSOR_OPERATOR),
        "security-officer": enrol(directory, "Grace Hopper", processor, Role.SECURITY_OFFICER),
        "auditor": enrol(directory, "Emmy Noether", processor, Role.AUDITOR),
    }
    mandates = {"a": directory.register_mandate("M-ALPHA-1", a, "a" * 64, "/srv/mandates/alpha.yaml").id,
                "b": directory.register_mandate("M-BETA-1", b, "b" * 64, "/srv/mandates/beta.yaml").id}
    runs = {lab: _run(store, mandate, digest * 64) for lab, mandate, digest in (("a", "M-ALPHA-1", "a"), ("b", "M-BETA-1", "b"))}
    yield World(create_app(directory), directory, people, {"a": a, "b": b, "processor": processor}, mandates, runs)
    store.close()


def _run(store: Store, mandate_id: str, mandate_digest: str) -> str:
    """A run of the procedure under a registered mandate, planned and approved, as the runner records them."""
    runs = RunStore(store)
    plan = {"mandate": mandate_id, "entities": [{"entity": "result", "in_source": 5000, "extracted": 1200, "fields": ["test_code", "value_numeric"],
                                                 "conditions": ["collected_at from 2015-01-01"], "exact": False}], "not_named": []}
    run = runs.create(RunRecord(status=State.PLANNED, profile="blis-1.27", mandate_id=mandate_id, mandate_digest=mandate_digest,
                                mandate_path=f"/srv/mandates/{mandate_id}.yaml", plan=json.dumps(plan), plan_digest="c" * 64))
    run.status = State.PLAN_APPROVED
    runs.save(run, RunEvent(run_id=run.id, step="approve plan", from_state=State.PLANNED, to_state=State.PLAN_APPROVED,
                            actor_key="0123456789abcdef", actor_name="Dr Anne Martin", actor_role="controller"))
    runs.update_entity(run.id, "result", rows_read=1200)
    return run.id


ROLE_HOLDER = {Role.ADMINISTRATOR: "administrator", Role.CONTROLLER_APPROVER: "approver-a", Role.PROCESSOR_OPERATOR: "operator",
               Role.SECURITY_OFFICER: "security-officer", Role.AUDITOR: "auditor"}


def _call(client: TestClient, method: str, path: str) -> httpx.Response:
    path = re.sub(r"\{[^}]+\}", "no-such-id", path)
    return client.request(method, path, json={} if method in {"POST", "DELETE"} else None)


def test_only_health_and_login_answer_without_authentication(world: World) -> None:
    anonymous = world.client()
    declared = routes(world.app)
    assert PUBLIC <= set(declared)
    for method, path in declared:
        answer = _call(anonymous, method, path)
        if (method, path) in PUBLIC:
            assert answer.status_code != 401, (method, path)
        else:
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert "authentication required" in answer.json()["detail"]
            assert answer.headers["www-authenticate"] == "Bearer"
    assert anonymous.get("/openapi.json").status_code == 404 and anonymous.get("/docs").status_code == 404


def test_every_route_is_in_the_role_matrix_and_each_role_gets_exactly_its_routes(world: World) -> None:
    assert {r for r in routes(world.app) if r not in PUBLIC} == set(MATRIX)
    clients = {role: world.client(holder) for role, holder in ROLE_HOLDER.items()}
    logout = ("POST", "/api/logout")
    for (method, path), allowed in sorted(MATRIX.items(), key=lambda item: item[0] == logout):  # logging out last
        for role, client in clients.items():
            answer = _call(client, method, path)
            assert answer.status_code < 500, (method, path, role)
            if role in allowed:
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role)
                assert f"role {role} may not {method}" in answer.json()["detail"]


def test_nothing_of_one_controller_is_visible_to_another_through_any_route_with_an_id(world: World) -> None:
    alpha, beta = world.client("approver-a"), world.client("approver-b")
    token_a = alpha.post("/api/tokens", json={"label": "cli", "scopes": ["read"], "days": 1}).json()["token"]["id"]
    ids_of_a = {"organisation_id": world.organisations["a"], "mandate_id": world.mandates["a"],
                "account_id": world.people["approver-a"].id, "token_id": token_a, "run_id": world.runs["a"]}
    secrets_of_a = ["Laboratoire Alpha", world.people["approver-a"].email, "Marie Curie", "/srv/mandates/alpha.yaml", "a" * 64]
    with_ids = [(m, p) for m, p in routes(world.app) if "{" in p]
    assert with_ids
    for method, path in with_ids:
        params = re.findall(r"\{([^}]+)\}", path)
        assert set(params) <= set(ids_of_a), f"{path}: say which of A's ids to try for {params}"
        answer = beta.request(method, path.format(**ids_of_a))
        assert answer.status_code in (403, 404), (method, path, answer.status_code)
        assert not any(secret in answer.text for secret in secrets_of_a), (method, path)
        # Indistinguishable from an id that does not exist: B cannot even learn that A's ids are real.
        unknown = beta.request(method, path.format(**{k: "0" * len(v) for k, v in ids_of_a.items()}))
        masked = {k: "0" * len(v) for k, v in ids_of_a.items()}
        assert (unknown.status_code, unknown.json()) == (answer.status_code, _masked(answer.json(), ids_of_a, masked)), (method, path)
    # The same ids are real: A sees them.
    assert alpha.get(f"/api/organisations/{world.organisations['a']}").status_code == 200
    assert alpha.get(f"/api/mandates/{world.mandates['a']}").json()["organisation_id"] == world.organisations["a"]
    assert [t["id"] for t in alpha.get("/api/tokens").json() if t["revoked_at"] is None] == [token_a]  # B's DELETE did nothing
    # Lists hold only B's own.
    assert [m["id"] for m in beta.get("/api/mandates").json()] == [world.mandates["b"]]
    assert [o["id"] for o in beta.get("/api/organisations").json()] == [world.organisations["b"]]
    assert beta.get("/api/tokens").json() == []
    assert [r["id"] for r in beta.get("/api/runs").json()] == [world.runs["b"]]
    staff = world.client("operator")
    assert {m["id"] for m in staff.get("/api/mandates").json()} == set(world.mandates.values())


def _masked(body: dict, ids: dict[str, str], masks: dict[str, str]) -> dict:
    text = body["detail"]
    for name, value in ids.items():
        text = text.replace(value, masks[name])
    return {"detail": text}


def test_the_controllers_approver_reads_where_their_runs_stand(world: World) -> None:
    alpha = world.client("approver-a")
    assert [r["id"] for r in alpha.get("/api/runs").json()] == [world.runs["a"]]
    run = alpha.get(f"/api/runs/{world.runs['a']}").json()
    assert run["status"] == "plan_approved" and run["mandate_id"] == "M-ALPHA-1" and run["purged"] is False
    assert [(e["entity"], e["extracted"]) for e in run["plan"]["entities"]] == [("result", 1200)]
    assert [(e["entity"], e["rows_read"]) for e in run["entities"]] == [("result", 1200)]
    assert [(e["step"], e["actor_name"], e["actor_role"]) for e in run["events"]] == [("approve plan", "Dr Anne Martin", "controller")]
    # The processor's staff see every run.
    assert {r["id"] for r in world.client("auditor").get("/api/runs").json()} == set(world.runs.values())


def test_the_security_officer_reads_alerts_incidents_and_the_ledger_in_the_console(world: World) -> None:
    store = world.directory.store
    alert = Watch(store).raise_alert("failed_logins", "<account 7f3a>", world.runs["a"])
    Incidents(store).open("Burst of failed logins on an operator's account", Actor("0123456789abcdef", "Grace Hopper", "security-officer"),
                          alert_id=alert.id)
    officer = world.client("security-officer")
    assert 'href="/console/watch"' in officer.get("/console").text
    page = officer.get("/console/watch").text
    assert "The chain verifies" in page and "failed_logins" in page and "&lt;account 7f3a&gt;" in page and "<account" not in page
    assert "Burst of failed logins on an operator&#39;s account" in page and alert.id in page


def test_the_administrator_manages_accounts_and_reads_no_mandate(world: World) -> None:
    admin = world.client("administrator")
    created = admin.post("/api/accounts", json={"name": "Rosalind Franklin", "email": "rosalind.franklin@alpha.example",
                                                "organisation_id": world.organisations["a"], "role": "controller-approver",
                                                "password": strong_password()})
    assert created.status_code == 201, created.text
    assert created.json()["totp_uri"].startswith("otpauth://totp/") and len(created.json()["recovery_codes"]) == 10
    generic = admin.post("/api/accounts", json={"name": "Support", "email": "support@alpha.example", "organisation_id": world.organisations["a"],
                                                "role": "controller-approver", "password": strong_password()})
    assert generic.status_code == 400 and "generic name" in generic.json()["detail"]
    weak = admin.post("/api/accounts", json={"name": "Irène Joliot", "email": "irene.joliot@alpha.example", "organisation_id": world.organisations["a"],
                                             "role": "controller-approver", "password": "Joliot2024!"})
    assert weak.status_code == 400 and "80 are required" in weak.json()["detail"] and "Joliot2024!" not in weak.text
    assert admin.get("/api/mandates").status_code == 403
    assert admin.get(f"/api/mandates/{world.mandates['a']}").status_code == 403


def test_state_changes_of_a_session_need_the_csrf_token(world: World) -> None:
    client = world.client("approver-a")
    good = client.headers.pop("X-CSRF-Token")
    missing = client.post("/api/me/recovery-codes")
    assert missing.status_code == 403 and "CSRF token missing or wrong" in missing.json()["detail"]
    assert client.post("/api/me/recovery-codes", headers={"X-CSRF-Token": "forged"}).status_code == 403
    # A cookie set by a sibling site with a matching header is still not this session's token.
    assert client.post("/api/me/recovery-codes", headers={"X-CSRF-Token": "forged"}, cookies={"airlock_csrf": "forged"}).status_code == 403
    assert client.get("/api/me").status_code == 200  # reads need none
    assert client.post("/api/me/recovery-codes", headers={"X-CSRF-Token": good}).status_code == 200


def test_bearer_tokens_are_scoped_and_never_fresh(world: World) -> None:
    session = world.client("operator")
    read = session.post("/api/tokens", json={"label": "reports", "scopes": ["read"], "days": 7}).json()
    write = session.post("/api/tokens", json={"label": "automation", "scopes": ["read", "write"], "days": 7}).json()
    bot = TestClient(world.app)
    as_read = {"Authorization": f"Bearer {read['secret']}"}
    assert bot.get("/api/me", headers=as_read).json()["via"] == "token"
    denied = bot.post("/api/mandates", headers=as_read, json={})
    assert denied.status_code == 403 and "lacks the 'write' scope" in denied.json()["detail"]
    as_write = {"Authorization": f"Bearer {write['secret']}"}
    registered = bot.post("/api/mandates", headers=as_write, json={"id": "M-ALPHA-2", "organisation_id": world.organisations["a"],
                                                                   "digest": "c" * 64, "path": "/srv/mandates/alpha-2.yaml"})
    assert registered.status_code == 201  # no CSRF token needed: a bearer token is not sent by browsers on their own
    sensitive = bot.post("/api/tokens", headers=as_write, json={"label": "more", "scopes": ["read"], "days": 1})
    assert sensitive.status_code == 403 and "POST /api/reauth" in sensitive.json()["detail"]
    assert session.delete(f"/api/tokens/{read['token']['id']}").json()["revoked_at"] is not None
    assert bot.get("/api/me", headers=as_read).status_code == 401
    assert bot.get("/api/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}).json()["detail"].startswith("Authorization header")


def test_sensitive_actions_need_a_recent_password_and_totp(world: World) -> None:
    client = world.client("approver-a")
    with world.directory.store.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET authenticated_at = :t"), {"t": utcnow() - timedelta(minutes=30)})
    stale = client.post("/api/tokens", json={"label": "cli", "scopes": ["read"], "days": 1})
    assert stale.status_code == 403 and "needs your password and TOTP again" in stale.json()["detail"]
    person = world.people["approver-a"]
    assert client.post("/api/reauth", json={"password": person.password}).json()["detail"].startswith("second factor missing")
    fresh = client.post("/api/reauth", json={"password": person.password, "totp": person.code()})
    assert fresh.status_code == 200
    assert client.post("/api/tokens", json={"label": "cli", "scopes": ["read"], "days": 1}).status_code == 201


def test_failed_logins_slow_an_address_down_but_never_lock_the_account(world: World) -> None:
    person = world.people["approver-a"]
    attacker = world.client(address="198.51.100.7")
    for _ in range(10):
        answer = attacker.post("/api/login", json={"email": person.email, "password": "guess-" + strong_password(), "totp": "123456"})
        assert answer.status_code == 401 and answer.json()["detail"].startswith("wrong e-mail, password or second-factor code")
    throttled = attacker.post("/api/login", json={"email": person.email, "password": person.password, "totp": person.code()})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    # CNIL 2022-100 case no. 1: 80-bit passwords, no lockout; the person logs in from their own address at once.
    assert world.client("approver-a", address="203.0.113.5").get("/api/me").status_code == 200


def test_wrong_codes_after_a_right_password_are_throttled_silently_and_reported(world: World) -> None:
    seen: list[SecurityEvent] = []
    unsubscribe = subscribe(seen.append)
    try:
        person = world.people["operator"]
        client = world.client(address="192.0.2.10")
        right = person.code()
        wrong = str((int(right) + 500_000) % 1_000_000).zfill(6)
        for _ in range(5):
            assert client.post("/api/login", json={"email": person.email, "password": person.password, "totp": wrong}).status_code == 401
        refused = client.post("/api/login", json={"email": person.email, "password": person.password, "totp": right})
        assert refused.status_code == 401 and refused.json()["detail"].startswith("wrong e-mail, password or second-factor code")
    finally:
        unsubscribe()
    assert [e.detail for e in seen if e.kind == "identity.second_factor_failures"] == [{"account": person.id}]


def test_errors_are_one_line_json_without_the_input(world: World) -> None:
    client = world.client()
    secret = "Pa55-" + "x" * 2000
    answer = client.post("/api/login", json={"email": "marie.curie@example.org", "password": secret, "totp": "123456"})
    assert answer.status_code == 422 and "password" in answer.json()["detail"] and "xxxx" not in answer.text
    assert "\n" not in answer.json()["detail"] and "Traceback" not in answer.text
    missing = client.post("/api/login", json={"email": "marie.curie@example.org", "password": "whatever"})
    assert missing.status_code == 401 and "second factor missing" in missing.json()["detail"]


def test_security_headers_on_every_answer(world: World) -> None:
    client = world.client()
    for answer in (client.get("/api/health"), client.get("/api/me"), client.get("/login")):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value


def test_the_console_login_page_opens_a_session(world: World) -> None:
    client = world.client()
    page = client.get("/login")
    assert page.status_code == 200 and '<form method="post" action="/login">' in page.text
    person = world.people["auditor"]
    refused = client.post("/login", data={"email": person.email, "password": person.password})
    assert refused.status_code == 401 and "second factor missing" in refused.text
    answer = client.post("/login", data={"email": person.email, "password": person.password, "totp": person.code()})
    assert answer.status_code == 200 and "Emmy Noether (auditor)" in answer.text  # followed the redirect to the console
    assert answer.url.path == "/console" and all(f"/console/runs/{r}" in answer.text for r in world.runs.values())
    cookie = next(c for c in client.cookies.jar if c.name == "airlock_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "strict"


def test_a_second_browser_on_the_same_account_is_refused(world: World) -> None:
    world.client("operator", address="192.0.2.1")
    person = world.people["operator"]
    other = world.client(address="192.0.2.2")
    answer = other.post("/api/login", json={"email": person.email, "password": person.password, "totp": person.code()})
    assert answer.status_code == 403 and "in use from another client" in answer.json()["detail"]


def test_webauthn_registration_options_and_a_bad_answer(world: World) -> None:
    client = world.client("security-officer")
    options = client.post("/api/webauthn/register/options").json()
    assert options["rp"]["id"] == "testserver" and options["user"]["name"] == world.people["security-officer"].email
    assert options["challenge"]
    bad = client.post("/api/webauthn/register", json={"id": "x", "rawId": "x", "type": "public-key", "response": {}})
    assert bad.status_code == 400 and "registration refused" in bad.json()["detail"]
    again = client.post("/api/webauthn/register", json={"id": "x"})
    assert again.status_code == 400 and "no registration in progress" in again.json()["detail"]  # the challenge was spent


# --- airlock serve -------------------------------------------------------------------------------------------------------


def _serve_app() -> typer.Typer:
    from airlock.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    return app


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "lab-airlock.example", "::"])
def test_serving_beyond_loopback_without_tls_is_refused(host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(_serve_app(), ["--host", host, "--database", f"sqlite:///{tmp_path}/a.db"], env={"AIRLOCK_TLS_CERT": "", "AIRLOCK_TLS_KEY": ""})
    assert isinstance(result.exception, AirlockError)
    assert str(result.exception).startswith(f"refusing to listen on {host} without TLS")
    assert not (tmp_path / "a.db").exists()  # refused before anything is opened


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(_serve_app(), ["--host", "0.0.0.0", "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")])
    assert isinstance(result.exception, AirlockError) and "cert.pem: no such file" in str(result.exception)


def test_serve_on_loopback_answers_health_and_nothing_else(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AIRLOCK_HOME": str(tmp_path), "AIRLOCK_DATABASE_URL": ""}
    code = "from airlock.cli.serve import serve; import typer; typer.run(serve)"
    server = subprocess.Popen([sys.executable, "-c", code, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("airlock serve did not answer on loopback")
        assert health.json() == {"status": "ok"} and "server" not in health.headers
        assert httpx.get(f"http://127.0.0.1:{port}/api/mandates").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (tmp_path / "airlock.db").exists()
    assert (tmp_path / "identity.key").stat().st_mode & 0o777 == 0o600  # the key the TOTP seeds are sealed under


# --- the controller's steps from the console ------------------------------------------------------------------------------


@dataclass
class LabConsole:
    """The lab's DPO (a controller's approver) in the directory of a real procedure's store, and a planned run of
    the lab's mandate, registered to their organisation; their key opens with AIRLOCK_KEY_PASSPHRASE (`signed`)."""

    lab: Lab
    directory: Directory
    dpo: Person
    run_id: str


@pytest.fixture
def lab_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabConsole]:
    lab = Lab(tmp_path)
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", PASSPHRASE)
    try:
        directory = Directory(lab.store, seeds=SeedKey.generate())
        directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", strong_password())
        organisation = directory.create_organisation("Laboratoire Alpha", OrganisationKind.CONTROLLER).id
        dpo = enrol(directory, "Anne Martin", organisation, Role.CONTROLLER_APPROVER)
        run_id = lab.procedure.create(lab.mandate, lab.source, Targets(lab.target), lab.processor).id
        directory.register_mandate("M-DEMO", organisation, lab.procedure.store.get(run_id).mandate_digest, str(lab.mandate))
        yield LabConsole(lab, directory, dpo, run_id)
    finally:
        lab.store.close()


def signed(statement: str, key: Path) -> str:
    """What the controller's machine prints for ``statement`` (AIRLOCK_KEY_PASSPHRASE opens the key)."""
    out = CliRunner().invoke(keys_cli, ["sign", "--key", str(key), statement])
    assert out.exit_code == 0, out.output
    return out.output.strip()


def _logged_in(directory: Directory, person: Person) -> TestClient:
    client = TestClient(create_app(directory))
    login = client.post("/api/login", json={"email": person.email, "password": person.password, "totp": person.code()})
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    return client


def test_the_controller_approves_and_accepts_a_real_run_with_signatures_made_on_their_own_machine(lab_console: LabConsole) -> None:
    lab, dpo, run_id = lab_console.lab, lab_console.dpo, lab_console.run_id
    console = _logged_in(lab_console.directory, dpo)

    statement = console.get(f"/api/runs/{run_id}").json()["approval_statement"]
    assert statement.startswith(f"airlock plan approval {run_id} ")
    # The processor's key is not the controller's: refused, and the run still waits for its approval.
    wrong = console.post(f"/api/runs/{run_id}/approve", json={"signature": signed(statement, lab.processor_key)})
    assert wrong.status_code == 400 and "not signed by the mandate's controller" in wrong.json()["detail"]
    assert console.post(f"/api/runs/{run_id}/approve", json={"signature": "not base64!"}).status_code == 400
    # In the console's page: the plan's counts and the statement, and a form that carries the CSRF token itself.
    page = console.get(f"/console/runs/{run_id}")
    assert page.status_code == 200 and html.escape(statement, quote=True) in page.text and "would leave it" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    browser = {"X-CSRF-Token": ""}  # a form sends no header
    forged = console.post(f"/console/runs/{run_id}/approve", data={"signature": signed(statement, lab.controller_key)}, headers=browser)
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    form = {"csrf_token": csrf, "password": dpo.password}
    # Signing asks for the password and a code again, whatever the session's age.
    unchecked = console.post(f"/console/runs/{run_id}/approve", data={**form, "signature": signed(statement, lab.controller_key)}, headers=browser)
    assert unchecked.status_code == 400 and "second factor missing" in unchecked.text
    refused = console.post(f"/console/runs/{run_id}/approve", data={**form, "totp": dpo.code(), "signature": signed(statement, lab.processor_key)},
                           headers=browser)
    assert refused.status_code == 400 and "not signed by the mandate&#39;s controller" in refused.text
    approved = console.post(f"/console/runs/{run_id}/approve", data={**form, "totp": dpo.code(), "signature": signed(statement, lab.controller_key)},
                            headers=browser)
    assert approved.status_code == 200 and approved.url.path == f"/console/runs/{run_id}", approved.text
    assert "plan_approved" in approved.text and "Dr Anne Martin (controller)" in approved.text
    assert console.get(f"/api/runs/{run_id}").json()["status"] == State.PLAN_APPROVED
    # The approval made in the console is the one extraction checks.
    p = lab.procedure
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    p.reconcile(run_id, lab.processor)
    run = console.get(f"/api/runs/{run_id}").json()
    assert run["reconciled_ok"] is True and all(e["reconciled"] for e in run["entities"])
    accepted = console.post(f"/api/runs/{run_id}/accept", json={"signature": signed(run["acceptance_statement"], lab.controller_key)})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == State.ACCEPTED and accepted.json()["accepted_at"]
    # A signature is kept with the step: the ledger and the report carry the evidence.
    assert "signature" in json.loads(p.store.events(run_id)[-1].detail)
    refused = CliRunner().invoke(keys_cli, ["sign", "--key", str(lab.controller_key), "I owe you 1,000 euros"])
    assert isinstance(refused.exception, AirlockError) and "only a run's approval or acceptance statement" in str(refused.exception)


def test_a_result_with_differences_is_accepted_from_the_api_only_with_a_waiver_the_console_shows_as_text(lab_console: LabConsole) -> None:
    lab, dpo, run_id = lab_console.lab, lab_console.dpo, lab_console.run_id
    console = _logged_in(lab_console.directory, dpo)
    p = lab.procedure
    p.approve(run_id, lab.controller)
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    with sqlite3.connect(dburl.parse(lab.target).database) as db:
        db.execute("UPDATE lab_result SET value_text = 'tampered' WHERE rowid = (SELECT min(rowid) FROM lab_result)")
    p.reconcile(run_id, lab.processor)
    run = console.get(f"/api/runs/{run_id}").json()
    assert run["reconciled_ok"] is False and any(e["differences"] for e in run["entities"])
    signature = signed(run["acceptance_statement"], lab.controller_key)
    refused = console.post(f"/api/runs/{run_id}/accept", json={"signature": signature})
    assert refused.status_code == 400 and "needs a written waiver" in refused.json()["detail"]
    waiver = "<b>One result altered by our own test</b>, accepted knowingly"
    accepted = console.post(f"/api/runs/{run_id}/accept", json={"signature": signature, "waiver": waiver})
    assert accepted.status_code == 200 and accepted.json()["waiver"] == waiver
    page = console.get(f"/console/runs/{run_id}").text
    assert html.escape(waiver) in page and "<b>" not in page


# --- the console in a real browser ---------------------------------------------------------------------------------------
# Debian's Chromium, driven by Playwright, under the server's own headers: a Content-Security-Policy that lets no
# script run, so the pages must work as plain forms.

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: 'make test' installs Debian's chromium (or: apt-get install chromium)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # No sandbox: the tests may run as root in a container, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The application on a free loopback port, served by uvicorn on a thread, as `airlock serve` does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_dpo_approves_a_plan_from_the_browser(lab_console: LabConsole, browser) -> None:  # type: ignore[no-untyped-def]
    lab, dpo, run_id = lab_console.lab, lab_console.dpo, lab_console.run_id

    with serving(create_app(lab_console.directory)) as base:
        page = browser.new_page()
        scripts: list[str] = []
        page.on("console", lambda m: scripts.append(m.text))  # a CSP violation would be reported here
        page.goto(f"{base}/login")
        page.fill("input[name=email]", dpo.email)
        page.fill("input[name=password]", dpo.password)
        page.fill("input[name=totp]", dpo.code())
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console")
        assert "Anne Martin (controller-approver)" in page.inner_text("body")

        page.click(f"a[href='/console/runs/{run_id}']")
        page.wait_for_url(f"{base}/console/runs/{run_id}")
        assert "would leave it" in page.inner_text("body")
        statement = page.inner_text("pre >> nth=0")
        assert statement.startswith(f"airlock plan approval {run_id} ")
        page.fill("input[name=signature]", signed(statement, lab.controller_key))
        page.fill("input[name=password]", dpo.password)
        page.fill("input[name=totp]", dpo.code())
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/runs/{run_id}")
        assert "plan_approved" in page.inner_text("dl")
        assert "Dr Anne Martin (controller)" in page.inner_text("body")
        assert not [s for s in scripts if "Content Security Policy" in s]
    assert lab.procedure.store.get(run_id).status == State.PLAN_APPROVED

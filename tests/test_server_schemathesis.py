"""schemathesis against the server's own OpenAPI description, authenticated: no input makes it answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from test_identity import Person, enrol, strong_password

from airlock.identity.directory import Directory, Policy
from airlock.identity.models import OrganisationKind, Role
from airlock.identity.seeds import SeedKey
from airlock.server import create_app
from airlock.store import open_store


@pytest.fixture
def api(tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    store = open_store(f"sqlite:///{tmp_path}/airlock.db")
    # The fuzzer's client is not the test client that logged in: no shared-account block for it to trip over.
    directory = Directory(store, Policy(shared_account="alert"), seeds=SeedKey.generate())
    secret = strong_password()
    admin = Person(directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", secret), secret)
    lab = directory.create_organisation("Laboratoire Alpha", OrganisationKind.CONTROLLER).id
    directory.register_mandate("M-ALPHA-1", lab, "a" * 64, "/srv/mandates/alpha.yaml")
    operator = enrol(directory, "Alan Turing", admin.enrolment.account.organisation_id, Role.PROCESSOR_OPERATOR)
    app = create_app(directory)
    client = TestClient(app)
    login = client.post("/api/login", json={"email": admin.email, "password": admin.password, "totp": admin.code()}).json()
    _, token = directory.issue_token(operator.id, "fuzz", ["read", "write"], days=1)
    app.state.fuzz_credentials = [
        # The administrator's console session, CSRF token included: reaches the account routes.
        {"cookies": {"airlock_session": client.cookies["airlock_session"], "airlock_csrf": login["csrf_token"]},
         "headers": {"X-CSRF-Token": login["csrf_token"]}},
        # An operator's read-write API token: reaches the mandate routes.
        {"headers": {"Authorization": f"Bearer {token}"}},
    ]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, headers={"Authorization": f"Bearer {token}"})
    yield schema.exclude(path="/api/logout")  # would end the session the rest of the run uses
    store.close()


def test_no_input_makes_the_server_fail(api: schemathesis.BaseSchema) -> None:
    credentials = api.app.state.fuzz_credentials
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15  # the whole description, not an empty one

    for operation in operations:
        # schemathesis' own pytest integration does not run under this pytest; hypothesis drives each operation instead.
        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            for credential in credentials:
                response = case.call(headers=credential.get("headers"), cookies=credential.get("cookies"))
                assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"

        no_server_error()

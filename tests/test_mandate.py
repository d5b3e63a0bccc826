"""The mandate: schema and model checks, hard limits, signatures, expiry, amendments, CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from airlock import model
from airlock.cli import keys as keys_cli
from airlock.cli import mandate as mandate_cli
from airlock.mandate import (
    BadSignature,
    MandateError,
    amendment,
    load_mandate,
    read_signatures,
    sign_mandate,
    signature_path,
    verify_mandate,
)
from airlock.mandate.schema import mandate_schema
from airlock.signing import PublicIdentity, SigningIdentity

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mandate.yaml"
TODAY = dt.date(2026, 12, 1)  # before the example's deadline, 2027-03-31


def example_body() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def write(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
def mandate_path(tmp_path: Path) -> Path:
    path = tmp_path / "mandate.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture(scope="module")
def controller() -> SigningIdentity:
    return SigningIdentity.generate("Dr Anne Martin", "controller")


@pytest.fixture(scope="module")
def processor() -> SigningIdentity:
    return SigningIdentity.generate("Karim Benali", "processor")


@pytest.fixture
def signed_path(mandate_path: Path, controller: SigningIdentity, processor: SigningIdentity) -> Path:
    sign_mandate(mandate_path, controller, today=TODAY)
    sign_mandate(mandate_path, processor, today=TODAY)
    return mandate_path


# --- document, schema, model ------------------------------------------------------------------


def test_example_loads_into_typed_scope():
    m = load_mandate(EXAMPLE)
    raw = example_body()
    assert list(m.scope.entities) == [e for e in model.ENTITIES if e in raw["scope"]["entities"]]
    assert m.scope.entities["patient"].fields == tuple(raw["scope"]["entities"]["patient"]["fields"])
    assert "email" not in m.scope.entities["patient"].fields
    assert m.scope.excluded_sensitivity == frozenset(model.Sensitivity) - {model.Sensitivity(t) for t in raw["scope"]["sensitivity"]}
    assert m.deadline == raw["deadline"]
    assert m.digest == load_mandate(EXAMPLE).digest and len(m.digest) == 64


def test_published_schema_names_what_the_model_has():
    scope = mandate_schema()["properties"]["scope"]["properties"]
    assert list(scope["entities"]["properties"]) == list(model.ENTITIES)
    assert scope["sensitivity"]["items"]["enum"] == [s.value for s in model.Sensitivity]


def test_layout_and_comments_do_not_change_the_digest(mandate_path: Path, tmp_path: Path):
    reordered = write(tmp_path / "reordered.yaml", dict(reversed(list(example_body().items()))))
    assert load_mandate(reordered).digest == load_mandate(mandate_path).digest


def _without(body: dict, *path: str) -> dict:
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda b: _without(b, "controller", "dpo", "email"), "controller.dpo: missing key 'email'"),
        (lambda b: b["scope"]["entities"]["patient"].update(colour="blue"), "scope.entities.patient: unknown key 'colour'; valid keys: fields, free_text, transformations"),
        (lambda b: b.update(deadline="31/03/2027"), "deadline: must be a date written YYYY-MM-DD"),
        (lambda b: b["scope"].update(sensitivity=["hiv", "astrology"]), "scope.sensitivity[1]: 'astrology' is not allowed; choose one of hiv, sti"),
        (lambda b: b.update(delivery={"channel": "files"}), "delivery: missing key 'recipient'"),
        (lambda b: b.update(version=2), "(top level): missing key 'predecessor'"),
        (lambda b: b["scope"]["entities"]["site"].update(fields="site_id"), "scope.entities.site.fields: must be an array"),
    ],
)
def test_schema_errors_name_the_yaml_path(tmp_path: Path, change, expected: str):
    body = example_body()
    change(body)
    path = write(tmp_path / "m.yaml", body)
    with pytest.raises(MandateError) as e:
        load_mandate(path)
    assert str(e.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(e.value)


def test_unknown_entity_refused_listing_the_entities(tmp_path: Path):
    body = example_body()
    body["scope"]["entities"]["invoice"] = {"fields": ["invoice_id"]}
    with pytest.raises(MandateError, match=r"scope\.entities: unknown key 'invoice'; valid keys: " + ", ".join(model.ENTITIES)):
        load_mandate(write(tmp_path / "m.yaml", body))


def test_unknown_field_refused_listing_the_fields(tmp_path: Path):
    body = example_body()
    fields = body["scope"]["entities"]["patient"]["fields"]
    fields.append("blood_group")
    with pytest.raises(MandateError) as e:
        load_mandate(write(tmp_path / "m.yaml", body))
    assert f"scope.entities.patient.fields[{len(fields) - 1}]: patient has no field 'blood_group'; valid fields: " in str(e.value)
    assert ", ".join(model.PATIENT.field_names) in str(e.value)


@pytest.mark.parametrize(
    "entity, change, expected",
    [
        ("patient", lambda e: e["fields"].remove("patient_id"), "must list the key patient_id"),
        ("specimen", lambda e: e.pop("free_text"), "specimen.free_text: says nothing about comment"),
        ("patient", lambda e: e.update(transformations={"sex": "birth_year"}), "birth_year applies to a date field"),
        ("patient", lambda e: e.update(transformations={"email": "pseudonymise"}), "names a field not listed"),
        ("result", lambda e: e.update(free_text={"comment": "keep", "test_name": "keep"}), "test_name: is not a free-text field"),
    ],
)
def test_scope_parts_must_agree(tmp_path: Path, entity: str, change, expected: str):
    body = example_body()
    change(body["scope"]["entities"][entity])
    with pytest.raises(MandateError, match=expected):
        load_mandate(write(tmp_path / "m.yaml", body))


def test_reversed_date_range_refused(tmp_path: Path):
    body = example_body()
    body["scope"]["collected"] = {"from": dt.date(2025, 1, 1), "to": dt.date(2024, 1, 1)}
    with pytest.raises(MandateError, match=r"scope\.collected: 'from' is after 'to'"):
        load_mandate(write(tmp_path / "m.yaml", body))


def test_duplicate_yaml_key_refused(mandate_path: Path):
    # PyYAML would silently keep the last value: the signer would not sign what they read.
    mandate_path.write_text(mandate_path.read_text() + "grace_days: 400\n")
    with pytest.raises(MandateError, match=r"line \d+: not valid YAML \(duplicate key 'grace_days'"):
        load_mandate(mandate_path)


# --- hard limits ------------------------------------------------------------------------------


def test_source_credential_column_refused_whatever_the_mandate_says(tmp_path: Path):
    body = example_body()
    body["scope"]["source_fields"] = ["patient.occupation", "user.password"]
    with pytest.raises(MandateError) as e:
        load_mandate(write(tmp_path / "m.yaml", body))
    assert str(e.value) == (
        f"{tmp_path / 'm.yaml'}: scope.source_fields[1]: user.password is credential data; "
        "no mandate can authorise extracting it (hard limit)"
    )


@pytest.mark.parametrize("column", ["user.username", "patient.hash_value", "user.pwd", "patient.portalLogin", "user.api_token", "user.otp", "user.secret_answer"])
def test_credential_like_source_columns_refused(tmp_path: Path, column: str):
    body = example_body()
    body["scope"]["source_fields"] = [column]
    with pytest.raises(MandateError, match="is credential data; no mandate can authorise extracting it"):
        load_mandate(write(tmp_path / "m.yaml", body))


def test_ordinary_source_column_accepted(tmp_path: Path):
    body = example_body()
    body["scope"]["source_fields"] = ["patient.occupation", "specimen.hotpath_flag"]
    assert load_mandate(write(tmp_path / "m.yaml", body)).scope.source_fields == ("patient.occupation", "specimen.hotpath_flag")


def test_canonical_credential_field_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # No canonical field is a credential today; the refusal must hold if one is ever added.
    portal = model.Field("portal_password", model.pa.string(), model.Category.CREDENTIAL, "Portal password")
    patient = model.Entity("patient", "patient_id", model.PATIENT.fields + (portal,), model.PATIENT.description)
    monkeypatch.setitem(model.ENTITIES, "patient", patient)
    body = example_body()
    body["scope"]["entities"]["patient"]["fields"].append("portal_password")
    with pytest.raises(MandateError, match=r"patient\.portal_password is credential data; no mandate can authorise extracting it \(hard limit\)"):
        load_mandate(write(tmp_path / "m.yaml", body))


# --- signatures -------------------------------------------------------------------------------


def test_signed_and_countersigned_mandate_verifies(signed_path: Path, controller, processor):
    signed = verify_mandate(signed_path, controller.public, processor.public, today=TODAY)
    assert signed.digest == load_mandate(signed_path).digest
    assert (signed.controller.key_id, signed.processor.key_id) == (controller.public.key_id, processor.public.key_id)
    assert signed.mandate.scope.entities["result"].fields == load_mandate(EXAMPLE).scope.entities["result"].fields
    # Unpinned verification checks the same signatures.
    assert verify_mandate(signed_path, today=TODAY).digest == signed.digest


def test_unsigned_mandate_refused(mandate_path: Path):
    with pytest.raises(MandateError, match="not signed"):
        verify_mandate(mandate_path, today=TODAY)


def test_missing_countersignature_refused(mandate_path: Path, controller):
    sign_mandate(mandate_path, controller, today=TODAY)
    with pytest.raises(MandateError, match="no processor signature"):
        verify_mandate(mandate_path, controller.public, today=TODAY)


def test_each_role_signs_once(mandate_path: Path, controller):
    sign_mandate(mandate_path, controller, today=TODAY)
    with pytest.raises(MandateError, match="already signed by the controller"):
        sign_mandate(mandate_path, SigningIdentity.generate("Someone Else", "controller"), today=TODAY)


def test_signer_other_than_the_expected_key_refused(signed_path: Path, controller):
    impostor = SigningIdentity.generate("Karim Benali", "processor")
    with pytest.raises(BadSignature, match=f"not by the expected key {impostor.public.key_id}"):
        verify_mandate(signed_path, controller.public, impostor.public, today=TODAY)


def test_processor_cannot_countersign_with_the_controller_key(mandate_path: Path, controller):
    same_key = SigningIdentity(PublicIdentity("Karim Benali", "processor", controller.public.key), controller._private)
    sign_mandate(mandate_path, controller, today=TODAY)
    sign_mandate(mandate_path, same_key, today=TODAY)
    with pytest.raises(BadSignature, match="same key"):
        verify_mandate(mandate_path, today=TODAY)


def test_widened_copy_of_a_signed_mandate_fails(signed_path: Path, controller, processor):
    text = signed_path.read_text()
    widened = text.replace("fields: [patient_id, nir,", "fields: [patient_id, email, nir,")
    assert widened != text
    signed_path.write_text(widened)
    assert "email" in load_mandate(signed_path).scope.entities["patient"].fields
    with pytest.raises(BadSignature, match="cannot be changed"):
        verify_mandate(signed_path, controller.public, processor.public, today=TODAY)
    # Updating the informative digest in the signature file does not help: the signature itself fails.
    sig_file = signature_path(signed_path)
    records = json.loads(sig_file.read_text())
    for r in records:
        r["mandate"] = load_mandate(signed_path).digest
    sig_file.write_text(json.dumps(records))
    with pytest.raises(BadSignature, match="does not verify"):
        verify_mandate(signed_path, controller.public, processor.public, today=TODAY)


def test_one_byte_change_of_a_signature_fails(signed_path: Path, controller, processor):
    sig_file = signature_path(signed_path)
    records = json.loads(sig_file.read_text())
    raw = bytearray(base64.b64decode(records[1]["signature"]))
    raw[10] ^= 0x01
    records[1]["signature"] = base64.b64encode(bytes(raw)).decode()
    sig_file.write_text(json.dumps(records))
    with pytest.raises(BadSignature, match="the processor signature .* does not verify"):
        verify_mandate(signed_path, controller.public, processor.public, today=TODAY)


def test_countersigning_an_altered_mandate_refused(mandate_path: Path, controller, processor):
    sign_mandate(mandate_path, controller, today=TODAY)
    mandate_path.write_text(mandate_path.read_text().replace("grace_days: 7", "grace_days: 30"))
    with pytest.raises(BadSignature):
        sign_mandate(mandate_path, processor, today=TODAY)
    assert [s.role for s in read_signatures(mandate_path)] == ["controller"]


def test_expired_mandate_refused(signed_path: Path, controller, processor):
    deadline = load_mandate(signed_path).deadline
    assert verify_mandate(signed_path, controller.public, processor.public, today=deadline).mandate.deadline == deadline
    with pytest.raises(MandateError, match=f"expired on {deadline.isoformat()}"):
        verify_mandate(signed_path, controller.public, processor.public, today=deadline + dt.timedelta(days=1))
    with pytest.raises(MandateError, match="expired"):
        sign_mandate(signed_path, SigningIdentity.generate("X Y", "processor"), today=deadline + dt.timedelta(days=1))


# --- amendments -------------------------------------------------------------------------------


def _sign_both(path: Path, controller, processor) -> None:
    sign_mandate(path, controller, today=TODAY)
    sign_mandate(path, processor, today=TODAY)


def test_amendment_chain_verified(signed_path: Path, tmp_path: Path, controller, processor):
    v1 = verify_mandate(signed_path, controller.public, processor.public, today=TODAY)
    body = amendment(v1.mandate)
    body["deadline"] = "2027-06-30"
    v2_path = write(tmp_path / "mandate-v2.yaml", body)
    _sign_both(v2_path, controller, processor)
    v2 = verify_mandate(v2_path, controller.public, processor.public, today=TODAY, predecessor=v1)
    assert (v2.mandate.version, v2.mandate.predecessor, v2.mandate.id) == (2, v1.digest, v1.mandate.id)


def test_broken_predecessor_link_refused(signed_path: Path, tmp_path: Path, controller, processor):
    v1 = verify_mandate(signed_path, controller.public, processor.public, today=TODAY)
    body = amendment(v1.mandate)
    body["predecessor"] = "0" * 64
    v2_path = write(tmp_path / "mandate-v2.yaml", body)
    _sign_both(v2_path, controller, processor)
    with pytest.raises(MandateError, match="predecessor: does not name"):
        verify_mandate(v2_path, controller.public, processor.public, today=TODAY, predecessor=v1)

    skipped = amendment(v1.mandate) | {"version": 3}
    v3_path = write(tmp_path / "mandate-v3.yaml", skipped)
    _sign_both(v3_path, controller, processor)
    with pytest.raises(MandateError, match="version: is 3, the amendment of version 1 is 2"):
        verify_mandate(v3_path, controller.public, processor.public, today=TODAY, predecessor=v1)


# --- command line -----------------------------------------------------------------------------


def test_cli_keys_sign_countersign_verify_amend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "correct horse battery staple")
    runner = CliRunner()
    body = example_body()
    body["deadline"] = dt.date.today() + dt.timedelta(days=90)  # the CLI verifies against the real date
    mandate_path = write(tmp_path / "mandate.yaml", body)

    pub, key = {}, {}
    for role, name in (("controller", "Dr Anne Martin"), ("processor", "Karim Benali")):
        out = tmp_path / role
        r = runner.invoke(keys_cli.app, ["new", "--name", name, "--role", role, "--out", str(out)])
        assert r.exit_code == 0, r.output
        (key[role],), (pub[role],) = out.glob("*.key.pem"), out.glob("*.pub.json")
        assert key[role].stat().st_mode & 0o077 == 0
        shown = runner.invoke(keys_cli.app, ["show", str(key[role])])
        assert json.loads(shown.stdout) == json.loads(pub[role].read_text())

    pins = ["--controller", str(pub["controller"]), "--processor", str(pub["processor"])]
    assert runner.invoke(mandate_cli.app, ["sign", str(mandate_path), "--key", str(key["controller"])]).exit_code == 0
    half = runner.invoke(mandate_cli.app, ["verify", str(mandate_path), *pins])
    assert half.exit_code != 0 and isinstance(half.exception, MandateError)
    assert runner.invoke(mandate_cli.app, ["sign", str(mandate_path), "--key", str(key["processor"])]).exit_code == 0

    ok = runner.invoke(mandate_cli.app, ["verify", str(mandate_path), *pins])
    assert ok.exit_code == 0, ok.output
    assert f"digest {load_mandate(mandate_path).digest}" in ok.stdout

    swapped = runner.invoke(mandate_cli.app, ["verify", str(mandate_path), "--controller", str(pub["processor"])])
    assert swapped.exit_code != 0 and isinstance(swapped.exception, BadSignature)

    shown = runner.invoke(mandate_cli.app, ["show", str(mandate_path)])
    assert shown.exit_code == 0 and load_mandate(mandate_path).digest in shown.stdout and "signed by" in shown.stdout

    v2 = tmp_path / "mandate-v2.yaml"
    assert runner.invoke(mandate_cli.app, ["amend", str(mandate_path), "--out", str(v2)]).exit_code == 0
    assert load_mandate(v2).predecessor == load_mandate(mandate_path).digest
    for role in ("controller", "processor"):
        assert runner.invoke(mandate_cli.app, ["sign", str(v2), "--key", str(key[role])]).exit_code == 0
    chained = runner.invoke(mandate_cli.app, ["verify", str(v2), *pins, "--predecessor", str(mandate_path)])
    assert chained.exit_code == 0, chained.output


def test_cli_wrong_passphrase_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mandate_path: Path):
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "correct horse battery staple")
    key_path, _ = SigningIdentity.generate("Dr Anne Martin", "controller").save(tmp_path / "k", b"correct horse battery staple")
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "wrong horse battery staple")
    r = CliRunner().invoke(mandate_cli.app, ["sign", str(mandate_path), "--key", str(key_path)])
    assert r.exit_code != 0 and "wrong passphrase" in str(r.exception)
    assert not signature_path(mandate_path).exists()


# --- documentation ----------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "mandate.md"


def test_docs_example_is_the_example_file():
    text = DOC.read_text()
    start = text.index("```yaml\n") + len("```yaml\n")
    assert text[start : text.index("```", start)] == EXAMPLE.read_text()


def test_docs_explain_every_schema_key():
    text, props = DOC.read_text(), mandate_schema()["properties"]
    keys = [*props, *props["scope"]["properties"], *mandate_schema()["$defs"]["entity"]["properties"]]
    assert [k for k in keys if f"`{k}" not in text and f".{k}`" not in text] == []

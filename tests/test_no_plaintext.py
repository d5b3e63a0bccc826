"""No personal data in plaintext on disk outside the source and the target: sentinels seeded in the source are
found nowhere Airlock writes (store, vault, keyring, temp dir, logs, reports), before and after purge."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from pathlib import Path

import pytest
import yaml

from airlock import dburl
from airlock.cli.demo import demo_mandate
from airlock.logs import configure_logging
from airlock.mandate import sign_mandate
from airlock.procedure.records import RunStore
from airlock.procedure.report import write_report
from airlock.procedure.runner import Procedure, Targets
from airlock.signing import SigningIdentity
from airlock.store import open_store
from airlock.synth import blis
from airlock.vault import PassphraseKeyring, Vault
from airlock.vault.delivery import keygen

SENTINELS = {
    "name": "Zephyrinaqx Quorvelline",
    "nir": "299122A99999947",  # not a valid NIR: nothing could match it by chance
    "city": "Vqzxlombre-sur-Yonne",
    "comment": "note Xqvtrambulize",
}


def _hits(root: Path) -> list[str]:
    found = []
    needles = [s.encode(enc) for s in SENTINELS.values() for enc in ("utf-8", "utf-16-le")]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def test_sentinels_only_in_source_and_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, temp, logs = tmp_path / "home", tmp_path / "tmp", tmp_path / "logs"
    for d in (home, temp, logs):
        d.mkdir(mode=0o700)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("AIRLOCK_HOME", str(home))
    handler = logging.FileHandler(logs / "airlock.log")
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    configure_logging()

    source = f"sqlite:///{tmp_path / 'source.db'}"
    blis.generate(source, patients=80, seed=21)
    engine = dburl.engine(source)
    with engine.begin() as c:
        c.exec_driver_sql(f"UPDATE patient SET name = '{SENTINELS['name']}' WHERE patient_id = 1")
        c.exec_driver_sql(f"UPDATE patient_custom_data SET field_value = '{SENTINELS['nir']}' WHERE patient_id = 1 AND field_id = 1")
        c.exec_driver_sql(f"UPDATE patient_custom_data SET field_value = '{SENTINELS['city']}' WHERE patient_id = 1 AND field_id = 4")
        c.exec_driver_sql(f"UPDATE specimen SET comments = '{SENTINELS['comment']}' WHERE patient_id = 1")
        c.exec_driver_sql("UPDATE specimen SET date_collected = '2016-03-01', site_id = 1 WHERE patient_id = 1")
    engine.dispose()

    controller = SigningIdentity.generate("Dr Anne Martin", "controller")
    processor = SigningIdentity.generate("Karim Benali", "processor")
    body = demo_mandate(dt.date.today(), keygen(tmp_path / "lab-age-identity.txt"))
    body["scope"]["entities"]["patient"]["fields"] += ["city"]
    mandate = tmp_path / "mandate.yaml"
    mandate.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    sign_mandate(mandate, controller)
    sign_mandate(mandate, processor)

    target = tmp_path / "target.db"
    keyring = PassphraseKeyring.create(home / "keyring.json", "a passphrase for the tests only")
    with open_store() as store:
        p = Procedure(RunStore(store), Vault(home / "vault"), keyring, batch_rows=30)
        run = p.create(mandate, source, Targets(f"sqlite:///{target}", tmp_path / "fhir"), processor)
        p.approve(run.id, controller)
        p.extract(run.id, processor)
        assert list((home / "vault" / run.id).glob("**/*.chunk"))
        p.load(run.id, processor)
        p.reconcile(run.id, processor)
        write_report(p.store, run.id, tmp_path / "reports")
        logging.getLogger("airlock").info("run %s loaded", run.id)

        # The sentinels did reach the target (the test would prove nothing otherwise) ...
        target_bytes = target.read_bytes()
        assert SENTINELS["name"].split()[1].encode() in target_bytes and SENTINELS["nir"].encode() in target_bytes
        assert SENTINELS["city"].encode() in target_bytes
        # ... and nowhere else Airlock writes (the FHIR delivery is encrypted), with the staging still there ...
        for place in (home, temp, logs, tmp_path / "reports", tmp_path / "fhir"):
            assert _hits(place) == [], place
        p.accept(run.id, controller)
        p.purge(run.id, processor, "accepted")
    logging.getLogger().removeHandler(handler)
    # ... nor after purge.
    for place in (home, temp, logs, tmp_path / "reports"):
        assert _hits(place) == [], place
    assert not list((home / "vault").glob("**/*.chunk"))
    assert os.stat(target).st_mode & 0o077 == 0

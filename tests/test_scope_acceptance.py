"""The mandate's acceptance on the real BLIS seed: through the whole procedure, the target holds exactly what an
independent SQL query says the mandate allows — no excluded field, test, comment or credential — with or
without pushdown (full_export_only)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import yaml

from airlock import dburl, model
from airlock.mandate import sign_mandate
from airlock.procedure.records import RunStore
from airlock.procedure.runner import Procedure, Targets
from airlock.signing import SigningIdentity
from airlock.sources import profile as profiles
from airlock.store import open_store
from airlock.vault import PassphraseKeyring, Vault

FIRST, LAST = "2010-01-01", "2011-12-31"
HIV_TESTS = """SELECT tt.test_type_id FROM test_type tt JOIN test_category tc USING (test_category_id)
               WHERE tc.name = 'HIV' OR tt.name REGEXP 'HIV|CD4|CD8|CD3|FACS|Western Blot'"""


def mandate_body(today: dt.date) -> dict:
    opted = sorted(t.value for t in model.Sensitivity if t.value not in ("hiv", "genetics"))
    return {
        "version": 1, "id": "blis-acceptance",
        "controller": {"name": "Lab", "address": "1 rue A, Paris", "dpo": {"name": "DPO", "email": "dpo@lab.invalid"}},
        "processor": {"name": "Proc", "address": "2 rue B, Lyon", "contact": {"name": "Op", "email": "op@proc.invalid"}},
        "purpose": "Acceptance test of the scope on the real BLIS seed.",
        "source": {"name": "BLIS seed", "kind": "blis-1.27"}, "target": {"name": "canonical SQL", "kind": "airlock-canonical"},
        "scope": {
            "entities": {
                "patient": {"fields": ["patient_id", "birth_name", "first_names", "sex", "birth_date"]},
                "specimen": {"fields": ["specimen_id", "patient_id", "collected_at", "type_name"]},
                "result": {"fields": ["result_id", "report_id", "specimen_id", "patient_id", "collected_at", "test_code",
                                      "test_name", "measure_code", "measure_name", "value_text", "unit", "sensitivity"]},
            },
            "collected": {"from": FIRST, "to": LAST},
            "sensitivity": opted,
        },
        "deadline": (today + dt.timedelta(days=30)).isoformat(),
        "delivery": {"channel": "database"},
    }


def independent_counts(url: str) -> dict[str, int]:
    engine = dburl.engine(url)
    with engine.connect() as c:
        q = lambda sql: int(c.exec_driver_sql(sql).scalar())  # noqa: E731
        in_range = f"s.date_collected BETWEEN '{FIRST}' AND '{LAST}'"
        counts = {
            "specimen": q(f"SELECT COUNT(*) FROM specimen s WHERE {in_range}"),
            "patient": q(f"SELECT COUNT(DISTINCT s.patient_id) FROM specimen s WHERE {in_range}"),
            "result": q(f"""
                WITH m AS (SELECT test_type_id, measure_id,
                                  ROW_NUMBER() OVER (PARTITION BY test_type_id ORDER BY measure_id) AS pos,
                                  COUNT(*) OVER (PARTITION BY test_type_id) AS nm FROM test_type_measure)
                SELECT COUNT(*) FROM test t JOIN m ON m.test_type_id = t.test_type_id
                JOIN specimen s ON s.specimen_id = t.specimen_id
                WHERE t.result <> '' AND {in_range}
                  AND LENGTH(t.result) - LENGTH(REPLACE(t.result, ',', '')) = m.nm
                  AND TRIM(SUBSTRING_INDEX(SUBSTRING_INDEX(t.result, ',', m.pos), ',', -1)) <> ''
                  AND t.test_type_id NOT IN ({HIV_TESTS})"""),
        }
    engine.dispose()
    return counts


def result_slots(url: str) -> int:
    """Results the in-scope tests can hold: their test type's measures, empty or not."""
    engine = dburl.engine(url)
    with engine.connect() as c:
        n = c.exec_driver_sql(f"""
            SELECT COUNT(*) FROM test t JOIN test_type_measure m ON m.test_type_id = t.test_type_id
            JOIN specimen s ON s.specimen_id = t.specimen_id
            WHERE t.result <> '' AND s.date_collected BETWEEN '{FIRST}' AND '{LAST}'
              AND t.test_type_id NOT IN ({HIV_TESTS})""").scalar()
    engine.dispose()
    return int(n)


def migrate(root: Path, source: str, profile: str) -> sqlite3.Connection:
    root.mkdir()
    home = root / "home"
    home.mkdir(mode=0o700)
    controller, processor = SigningIdentity.generate("DPO", "controller"), SigningIdentity.generate("Op", "processor")
    mandate = root / "mandate.yaml"
    mandate.write_text(yaml.safe_dump(mandate_body(dt.date.today()), sort_keys=False))
    sign_mandate(mandate, controller)
    sign_mandate(mandate, processor)
    target = root / "target.db"
    with open_store(f"sqlite:///{home / 'airlock.db'}") as store:
        p = Procedure(RunStore(store), Vault(home / "vault"), PassphraseKeyring.create(home / "k.json", "test passphrase only"))
        run = p.create(mandate, source, Targets(f"sqlite:///{target}"), processor, profile=profile)
        p.approve(run.id, controller)
        p.extract(run.id, processor)
        p.load(run.id, processor)
        assert p.reconcile(run.id, processor).reconciled_ok
    return sqlite3.connect(target)


@pytest.fixture(scope="module")
def targets(blis_seed: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    root = tmp_path_factory.mktemp("acceptance")
    dump_all = yaml.safe_load((Path(profiles.__file__).parents[1] / "profiles" / "blis-1.27.yaml").read_text())
    dump_all["full_export_only"] = True
    (root / "dump.yaml").write_text(yaml.safe_dump(dump_all, allow_unicode=True))
    return migrate(root / "pushed", blis_seed, "blis-1.27"), migrate(root / "dumped", blis_seed, str(root / "dump.yaml"))


def test_counts_equal_independent_sql(targets, blis_seed: str) -> None:
    pushed, _ = targets
    expected = independent_counts(blis_seed)
    assert expected["result"] > 1000
    for entity, n in expected.items():
        assert pushed.execute(f"SELECT COUNT(*) FROM lab_{entity}").fetchone()[0] == n, entity


def test_output_holds_nothing_the_mandate_excludes(targets, blis_seed: str) -> None:
    pushed, _ = targets
    tables = {t for (t,) in pushed.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"lab_patient", "lab_specimen", "lab_result"}
    allowed = mandate_body(dt.date.today())["scope"]["entities"]
    for entity, scope in allowed.items():
        columns = [r[1] for r in pushed.execute(f"PRAGMA table_info(lab_{entity})")]
        assert set(columns) == set(scope["fields"]), entity
        assert not any("comment" in c or "password" in c or c in ("address_line", "phone", "email", "nir") for c in columns)
    engine = dburl.engine(blis_seed)
    with engine.connect() as c:
        hiv = {str(t) for (t,) in c.exec_driver_sql(HIV_TESTS)}
    engine.dispose()
    codes = {code for (code,) in pushed.execute("SELECT DISTINCT test_code FROM lab_result")}
    assert codes and not codes & hiv
    tags = {tag for (s,) in pushed.execute("SELECT sensitivity FROM lab_result") for tag in yaml.safe_load(s or "[]")}
    assert not tags & {"hiv", "genetics"}
    dates = [d for (d,) in pushed.execute("SELECT collected_at FROM lab_result UNION SELECT collected_at FROM lab_specimen")]
    assert all(FIRST <= d[:10] <= LAST for d in dates)


def test_full_export_only_gives_identical_output(targets) -> None:
    pushed, dumped = targets
    for entity in ("patient", "specimen", "result"):
        key = model.entity(entity).key
        a = pushed.execute(f"SELECT * FROM lab_{entity} ORDER BY {key}").fetchall()
        b = dumped.execute(f"SELECT * FROM lab_{entity} ORDER BY {key}").fetchall()
        assert a == b and a, entity


def test_the_dry_run_counts_what_the_run_takes_and_what_it_leaves(blis_seed: str, tmp_path: Path) -> None:
    from airlock.mandate.document import Mandate
    from airlock.plan import make_plan
    from airlock.sources.sql import SqlSource

    mandate = Mandate.from_body(mandate_body(dt.date.today()))
    source = SqlSource(blis_seed, profiles.load("blis-1.27"), on_bad_record="reject")
    plan = make_plan(source, mandate)
    by_entity = {e.entity: e for e in plan.entities}
    expected = independent_counts(blis_seed)
    engine = dburl.engine(blis_seed)
    with engine.connect() as c:
        patients = c.exec_driver_sql("SELECT COUNT(*) FROM patient").scalar()
    engine.dispose()
    assert by_entity["patient"].in_source == patients
    assert {e: by_entity[e].extracted for e in ("patient", "specimen")} == {e: expected[e] for e in ("patient", "specimen")}
    # Results are counted by the database per test type, as the values the tests can hold: the empty ones the
    # run leaves out are known only once read, so the plan says "at most".
    assert not by_entity["result"].exact and by_entity["result"].extracted == result_slots(blis_seed)
    assert by_entity["result"].extracted >= expected["result"]
    assert "birth_date" in by_entity["patient"].fields and "address_line" in by_entity["patient"].not_allowed
    hiv = by_entity["result"].sensitive["hiv"]
    assert hiv["in_scope_otherwise"] > 0 and hiv["extracted"] == 0
    assert make_plan(source, mandate).digest == plan.digest


def test_the_dry_run_counts_in_the_database_what_reading_the_records_counts(blis_seed: str) -> None:
    """The plan of a full-export-only source reads every record; the database's counts must agree with it
    (exactly for every entity but results, whose empty values only reading can leave out)."""
    from airlock.mandate.document import Mandate
    from airlock.plan import make_plan
    from airlock.sources.sql import SqlSource

    mandate = Mandate.from_body(mandate_body(dt.date.today()))
    counted = make_plan(SqlSource(blis_seed, profiles.load("blis-1.27"), on_bad_record="reject"), mandate)
    read = make_plan(SqlSource(blis_seed, profiles.load("blis-1.27"), full_export_only=True, on_bad_record="reject"), mandate)
    for c, r in zip(counted.entities, read.entities, strict=True):
        assert r.exact and c.fields == r.fields and c.conditions == r.conditions
        if c.exact:
            assert (c.in_source, c.extracted) == (r.in_source, r.extracted), c.entity
        else:
            assert c.in_source >= r.in_source and c.extracted >= r.extracted > 0, c.entity
            assert c.sensitive.keys() == r.sensitive.keys() and all(
                c.sensitive[t]["extracted"] == 0 for t in c.sensitive if r.sensitive[t]["extracted"] == 0
            ), c.entity

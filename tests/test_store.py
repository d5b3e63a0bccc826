"""The metadata store on SQLite and on the real PostgreSQL: migrations, runs, defaults."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from airlock import dburl
from airlock.errors import AirlockError
from airlock.store import RunStatus, Store, alembic_config, default_url, open_store
from airlock.store.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'airlock.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_database")
    return make()


@pytest.fixture
def store(store_url: str):
    with open_store(store_url) as s:
        yield s


def tables(url: str) -> set[str]:
    engine = dburl.engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = dburl.engine(url)
    try:
        with engine.connect() as c:
            return MigrationContext.configure(c).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_apply_from_empty_and_reach_head(store_url: str) -> None:
    assert tables(store_url) == set()
    open_store(store_url).close()
    assert {"run", "run_entity", "alembic_version"} <= tables(store_url)
    assert revision(store_url) == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_models_and_migrations_agree(store: Store) -> None:
    with store.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []


def test_opening_twice_keeps_the_runs(store_url: str) -> None:
    with open_store(store_url) as first:
        run_id = first.create_run("mysql://reader:***@lis:3306/blis", "sqlite:///lab.db", "blis").id
    with open_store(store_url) as second:
        assert [r.id for r in second.list_runs()] == [run_id]


def test_downgrade_to_base_then_upgrade(store: Store, store_url: str) -> None:
    with store.engine.begin() as c:
        command.downgrade(alembic_config(c), "base")
    assert tables(store_url) <= {"alembic_version"}
    assert revision(store_url) is None
    with store.engine.begin() as c:
        command.upgrade(alembic_config(c), "head")
    assert store.create_run("a", "b", "blis").status == RunStatus.RUNNING


def test_a_run_round_trips(store: Store) -> None:
    before = datetime.now(UTC)
    run = store.create_run("mysql://reader:***@lis:3306/blis", "postgresql://loader@new:5432/lab", "blis")
    assert run.status == RunStatus.RUNNING and run.finished_at is None and run.error is None
    assert before - timedelta(seconds=1) <= run.created_at <= datetime.now(UTC)
    store.record_entity(run.id, "patient", rows_read=120, rows_written=118)
    store.record_entity(run.id, "result", rows_read=5000, rows_written=5000)
    store.record_entity(run.id, "patient", rows_read=121, rows_written=121)  # a retry overwrites
    finished = store.finish_run(run.id, RunStatus.FAILED, "target postgresql://loader@new:5432/lab:\n  disk full")
    got = store.get_run(run.id)
    assert (got.source, got.target, got.profile) == (run.source, run.target, "blis")
    assert got.status == RunStatus.FAILED and got.error == "target postgresql://loader@new:5432/lab: disk full"
    assert got.finished_at == finished.finished_at and got.finished_at >= got.created_at
    assert {e.entity: (e.rows_read, e.rows_written) for e in got.entities} == {"patient": (121, 121), "result": (5000, 5000)}


def test_runs_are_listed_newest_first(store: Store) -> None:
    ids = [store.create_run("src", "dst", "blis").id for _ in range(3)]
    assert len(set(ids)) == 3
    assert [r.id for r in store.list_runs()] == ids[::-1]


def test_credentials_never_reach_the_store(store: Store, store_url: str) -> None:
    run = store.create_run("mysql://reader:hunter2@lis:3306/blis", "postgresql://loader:hunter2@new/lab", "blis")
    assert "hunter2" not in run.source + run.target
    engine = dburl.engine(store_url)
    try:
        with engine.connect() as c:
            leaked = sa.text("SELECT count(*) FROM run WHERE source LIKE :p OR target LIKE :p")
            assert c.execute(leaked, {"p": "%hunter2%"}).scalar() == 0
    finally:
        engine.dispose()


def test_unknown_runs_and_bad_statuses_are_errors(store: Store) -> None:
    with pytest.raises(AirlockError, match="no run 'nope'"):
        store.get_run("nope")
    with pytest.raises(AirlockError, match="no run 'nope'"):
        store.record_entity("nope", "patient", 1, 1)
    run = store.create_run("src", "dst", "blis")
    with pytest.raises(AirlockError, match="not running"):
        store.finish_run(run.id, RunStatus.RUNNING)


def test_default_store_is_a_private_sqlite_file_under_airlock_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home" / "airlock"
    monkeypatch.delenv("AIRLOCK_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRLOCK_HOME", str(home))
    assert default_url() == f"sqlite:///{home / 'airlock.db'}"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    with open_store() as s:
        s.create_run("src", "dst", "blis")
    assert (home / "airlock.db").is_file()
    monkeypatch.setenv("AIRLOCK_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert default_url() == f"sqlite:///{tmp_path / 'other.db'}"


def test_an_unreachable_store_is_one_line_without_password() -> None:
    with pytest.raises(AirlockError) as raised:
        open_store("postgresql://airlock:s3cret@127.0.0.1:1/airlock")
    assert "s3cret" not in str(raised.value) and "\n" not in str(raised.value)
    assert "postgresql://airlock:***@127.0.0.1:1/airlock" in str(raised.value)

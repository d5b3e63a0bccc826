"""The metadata store: what Airlock did, run by run (never record values).

It lives in the database named by ``AIRLOCK_DATABASE_URL``, by default a SQLite
file ``airlock.db`` under ``AIRLOCK_HOME`` (default ``~/.local/share/airlock``,
created with mode 0700). Opening the store brings its schema up to date with
the Alembic migrations shipped in ``airlock/migrations``.

>>> import tempfile
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db")
>>> run = store.create_run("mysql://reader:***@lis/blis", "sqlite:///lab.db", "blis")
>>> store.record_entity(run.id, "patient", rows_read=12, rows_written=12)
>>> store.finish_run(run.id, RunStatus.SUCCEEDED).status
'succeeded'
>>> [(e.entity, e.rows_written) for e in store.get_run(run.id).entities]
[('patient', 12)]
>>> store.close()
"""

from __future__ import annotations

import os
from types import TracebackType

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import sessionmaker

from airlock import dburl
from airlock.errors import AirlockError
from airlock.home import airlock_home
from airlock.store.models import Run, RunEntity, RunStatus, utcnow

__all__ = ["Run", "RunEntity", "RunStatus", "Store", "alembic_config", "default_url", "open_store"]

#: Longest error message kept for a run; the rest is cut.
ERROR_LENGTH = 2000


def default_url() -> str:
    """``$AIRLOCK_DATABASE_URL``, else the SQLite file ``airlock.db`` under :func:`airlock_home`."""
    return os.environ.get("AIRLOCK_DATABASE_URL") or f"sqlite:///{airlock_home() / 'airlock.db'}"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration in code: the migrations shipped in the package, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", "airlock:migrations")
    config.attributes["connection"] = connection
    return config


def _without_password(text: str) -> str:
    # Descriptions are meant to come credential-free; a raw URL slipping through is masked anyway.
    try:
        return dburl.describe(text)
    except AirlockError:
        return text


class Store:
    """Runs and their per-entity counts, through short sessions of a SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.description = engine.url.render_as_string(hide_password=True)
        self.session = sessionmaker(engine, expire_on_commit=False)

    def create_run(self, source: str, target: str, profile: str) -> Run:
        """A new run in status ``running``; ``source`` and ``target`` are descriptions without credentials."""
        run = Run(source=_without_password(source), target=_without_password(target), profile=profile)
        with self.session.begin() as session:
            session.add(run)
        return self.get_run(run.id)

    def record_entity(self, run_id: str, entity: str, rows_read: int, rows_written: int) -> None:
        """Record (or update) the rows read and written for one entity of a run."""
        with self.session.begin() as session:
            self._run(session, run_id)
            session.merge(RunEntity(run_id=run_id, entity=entity, rows_read=rows_read, rows_written=rows_written))

    def finish_run(self, run_id: str, status: RunStatus, error: str | None = None) -> Run:
        """End a run with ``status`` and, for a failure, its one-line error message."""
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise AirlockError(f"run {run_id}: finish it as {RunStatus.SUCCEEDED} or {RunStatus.FAILED}, not {status}")
        with self.session.begin() as session:
            run = self._run(session, run_id)
            run.status = status
            run.finished_at = utcnow()
            run.error = " ".join(error.split())[:ERROR_LENGTH] if error else None
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        with self.session() as session:
            return self._run(session, run_id)

    def list_runs(self) -> list[Run]:
        """Every run, newest first."""
        with self.session() as session:
            return list(session.scalars(sa.select(Run).order_by(Run.created_at.desc(), Run.id)))

    def _run(self, session: sa.orm.Session, run_id: str) -> Run:
        run = session.get(Run, run_id)
        if run is None:
            raise AirlockError(f"no run {run_id!r} in the metadata store {self.description}; check the run id")
        return run

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_store(url: str | None = None) -> Store:
    """The metadata store at ``url`` (default: :func:`default_url`), its schema upgraded to the latest migration."""
    url = url or default_url()
    engine = dburl.engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except sa.exc.OperationalError as e:
        engine.dispose()
        reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
        raise AirlockError(f"cannot open the metadata store {dburl.describe(url)}: {reason}; check AIRLOCK_DATABASE_URL") from None
    return Store(engine)

# The identity tables live in this store too (migration 0003): their models join Base.metadata whenever the store is
# imported, so that models and migrations compare whole.
import airlock.identity.models  # noqa: E402,F401
import airlock.ledger.models  # noqa: E402,F401
import airlock.watch.models  # noqa: E402,F401

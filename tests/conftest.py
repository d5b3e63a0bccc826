"""Fixtures for the real services (MariaDB, PostgreSQL) and the real data in ../shared/data.

Tests that need a service skip with a message saying what to start; with CI=true
they fail instead, so a CI run cannot pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AIRLOCK_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"

MARIADB_ADMIN = "mysql+pymysql://root:@127.0.0.1:3306/"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

START_HINT = {
    "MariaDB": "start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    "PostgreSQL": "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
}


def _unavailable(what: str, why: str) -> None:
    message = f"{what} on 127.0.0.1 is not reachable ({why}); {START_HINT.get(what, '')}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _admin_engine(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as e:
        _unavailable(what, str(e.orig).splitlines()[0])
    return engine


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").exists():
        message = f"the shared test data is not at {SHARED_DATA}; set AIRLOCK_SHARED_DATA"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def mariadb_admin() -> sa.Engine:
    return _admin_engine(MARIADB_ADMIN, "MariaDB")


@pytest.fixture(scope="session")
def postgres_admin() -> sa.Engine:
    return _admin_engine(POSTGRES_ADMIN, "PostgreSQL")


def _database_factory(admin: sa.Engine, url_of: Callable[[str], str], create: str) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"airlock_t_{secrets.token_hex(4)}"
        with admin.connect() as c:
            c.exec_driver_sql(create.format(name=name))
        made.append(name)
        return url_of(name)

    yield make
    with admin.connect() as c:
        for name in made:
            if admin.dialect.name == "postgresql":
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mariadb_database(mariadb_admin: sa.Engine) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty MariaDB databases (dropped after the test); returns their URLs."""
    yield from _database_factory(
        mariadb_admin,
        lambda name: f"mysql://root@127.0.0.1:3306/{name}",
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )


@pytest.fixture
def postgres_database(postgres_admin: sa.Engine) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases (dropped after the test); returns their URLs."""
    yield from _database_factory(
        postgres_admin, lambda name: f"postgresql://postgres@127.0.0.1:5432/{name}", 'CREATE DATABASE "{name}"'
    )


def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` run on the database at ``url`` (an Airlock-style URL), independently of Airlock's readers."""
    from airlock import dburl

    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def load_mysql_dump(database: str, *files: Path) -> None:
    """Load SQL dump files with the mysql client, as the shared data README does."""
    for f in files:
        with f.open("rb") as fh:
            subprocess.run(
                ["mysql", "-uroot", "-h127.0.0.1", "-P3306", "--init-command=SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO'", database],
                stdin=fh,
                check=True,
                capture_output=True,
            )


@pytest.fixture(scope="session")
def blis_seed(mariadb_admin: sa.Engine, shared_data: Path) -> Iterator[str]:
    """The real C4G BLIS 1.27 demo database loaded into MariaDB once per session; its URL."""
    name = f"airlock_blis_{secrets.token_hex(4)}"
    with mariadb_admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        load_mysql_dump(name, shared_data / "blis" / "structure.sql", shared_data / "blis" / "seed.sql")
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        with mariadb_admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")

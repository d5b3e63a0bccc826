"""Database URLs as users write them, and the forms each driver wants.

Users write ``mysql://root@host:3306/blis``, ``postgresql://user@host/db`` or
``sqlite:///path/to/file.db`` (SQLAlchemy driver forms such as
``mysql+pymysql://`` are accepted too). Descriptions shown in reports, logs and
errors never contain the password.

>>> describe("mysql://root:secret@127.0.0.1:3306/blis")
'mysql://root:***@127.0.0.1:3306/blis'
>>> sqlalchemy_url("mariadb://root@db/blis").drivername
'mysql+pymysql'
>>> connectorx_url("postgresql+psycopg://u@h:5432/d")
'postgresql://u@h:5432/d'
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from airlock.errors import AirlockError

_DIALECTS = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
}
_SQLALCHEMY_DRIVER = {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg", "sqlite": "sqlite"}


def parse(url: str) -> URL:
    """The URL with its dialect normalised to mysql, postgresql or sqlite."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise AirlockError(f"{url!r} is not a database URL; write e.g. mysql://user@host:3306/db or sqlite:///file.db") from None
    dialect = _DIALECTS.get(parsed.drivername.split("+")[0])
    if dialect is None:
        raise AirlockError(f"database kind {parsed.drivername!r} is not supported; use mysql://, postgresql:// or sqlite:///")
    return parsed.set(drivername=dialect)


def dialect(url: str) -> str:
    return parse(url).drivername


def sqlalchemy_url(url: str) -> URL:
    parsed = parse(url)
    return parsed.set(drivername=_SQLALCHEMY_DRIVER[parsed.drivername])


def connectorx_url(url: str) -> str:
    parsed = parse(url)
    if parsed.drivername == "sqlite":
        return "sqlite://" + str(Path(parsed.database or "").resolve())
    return parsed.render_as_string(hide_password=False)


def describe(url: str) -> str:
    """The URL for humans and logs: the password replaced by ***."""
    return parse(url).render_as_string(hide_password=True)


def engine(url: str, **kwargs: object) -> sa.Engine:
    """A SQLAlchemy engine that fails fast when the server is unreachable."""
    parsed = sqlalchemy_url(url)
    connect_args: dict[str, object] = {}
    if parsed.drivername != "sqlite":
        connect_args["connect_timeout"] = 5
    return sa.create_engine(parsed, connect_args=connect_args, **kwargs)

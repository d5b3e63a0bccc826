"""Alembic environment of the metadata store.

Airlock runs it through :func:`airlock.store.alembic_config`, which passes an
open connection in ``config.attributes["connection"]``. Without one it connects
to the store's default URL, which is how a new migration is written::

    AIRLOCK_DATABASE_URL=sqlite:///dev.db python -c "from alembic import command;
    from airlock.store import alembic_config, open_store; open_store().close();
    command.revision(alembic_config(), 'what changes', autogenerate=True)"
"""

from __future__ import annotations

from alembic import context

from airlock import dburl
from airlock.store import default_url
from airlock.store.models import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        with dburl.engine(default_url()).begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # SQLite alters tables by copying them: batch mode makes later ALTERs work there too.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


# pytest --doctest-modules imports this file outside Alembic, where there is no context to run in.
if hasattr(context, "config"):
    run_migrations()

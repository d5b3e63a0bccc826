"""Bulk loading of generated frames into a fresh SQLite or MariaDB database.

The tables are created with SQLAlchemy Core; rows go through the driver's own
``executemany`` (sqlite3 steps one prepared statement, PyMySQL folds rows into
multi-row INSERTs), one transaction per chunk. The loader refuses a database
that already holds one of its tables: a generator never overwrites data.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import polars as pl
import sqlalchemy as sa

from airlock import dburl
from airlock.errors import TargetError
from airlock.synth.schema import METADATA


class BulkLoader:
    """Creates the BLIS tables at ``url`` and appends frames to them; use as a context manager."""

    def __init__(self, url: str):
        self.description = dburl.describe(url)
        parsed = dburl.parse(url)
        if parsed.drivername == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise TargetError(f"{self.description}: give a file, e.g. sqlite:///blis.db")
            if not Path(parsed.database).parent.resolve().is_dir():
                raise TargetError(f"{self.description}: directory {Path(parsed.database).parent} does not exist; create it first")
        elif parsed.drivername != "mysql":
            raise TargetError(f"{self.description}: the generator writes SQLite or MariaDB/MySQL, not {parsed.drivername}")
        self.engine = dburl.engine(url)
        self._statements: dict[tuple[str, tuple[str, ...]], str] = {}

    def __enter__(self) -> BulkLoader:
        try:
            existing = set(sa.inspect(self.engine).get_table_names()) & set(METADATA.tables)
            if existing:
                raise TargetError(
                    f"{self.description} already has table {sorted(existing)[0]}; give an empty database (the generator never overwrites)"
                )
            METADATA.create_all(self.engine)
            self._raw = self.engine.raw_connection()
        except sa.exc.DBAPIError as e:
            raise TargetError(f"{self.description}: cannot create the BLIS tables ({str(e.orig).splitlines()[0]}); check the URL and that the database exists") from None
        cursor = self._raw.cursor()
        if self.engine.dialect.name == "sqlite":
            # A generator's output is disposable: trade crash safety for speed.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
        else:
            # TIMESTAMP values are taken as UTC so the server's zone cannot shift them.
            cursor.execute("SET time_zone = '+00:00'")
        self._cursor = cursor
        return self

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Insert the frame's rows into ``table``; columns are matched by name, absent ones take BLIS defaults."""
        if frame.height == 0:
            return
        try:
            self._cursor.executemany(self._insert(table, tuple(frame.columns)), frame.rows())
        except self.engine.dialect.dbapi.Error as e:  # type: ignore[union-attr]
            raise TargetError(f"{self.description}: cannot write table {table} ({type(e).__name__}); is the database empty and writable?") from None

    def commit(self) -> None:
        self._raw.commit()

    def _insert(self, table: str, columns: tuple[str, ...]) -> str:
        statement = self._statements.get((table, columns))
        if statement is None:
            quote = self.engine.dialect.identifier_preparer.quote_identifier
            mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
            statement = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) VALUES ({', '.join([mark] * len(columns))})"
            self._statements[(table, columns)] = statement
        return statement

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self._raw.commit()
            else:
                self._raw.rollback()
        finally:
            self._raw.close()
            self.engine.dispose()

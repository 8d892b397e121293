"""Opening the review store database: the engine (SQLite tuned for concurrent writers) and the alembic
migrations, run programmatically when a store is opened.

The scripts ship inside the package (``env.py``, ``versions/``); ``upgrade`` locates them with
``importlib.resources``, so they run from an installed wheel as well as from a checkout. The version
table has our own name, so an alembic-managed database of another application is not mistaken for
ours; a database holding other tables but not our version table is refused, never modified.

To add a revision, copy ``versions/v0001_initial.py`` to ``versions/vNNNN_<what>.py`` (a valid module
name), set ``revision`` and ``down_revision`` (the previous head) and write ``upgrade``/``downgrade``
with ``alembic.op``; ``script.py.mako`` is the template ``alembic revision`` uses if you point an
``alembic.ini`` at this folder. Keep ``idsight.review.models`` in step (a test compares the two).
"""

from __future__ import annotations

import os
import re
from importlib.resources import as_file, files
from importlib.util import find_spec
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, inspect, table, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.sql import column, select

VERSION_TABLE = "idsight_review_version"
_PG_LOCK_KEY = 0x1D516417  # pg_advisory_xact_lock key serialising first-time schema creation
PG_DRIVER_HINT = "pip install 'idsight[pg]'"
MISSING = "no such review store (`idsight read --store` or `idsight review import` creates one)"


class OpenError(Exception):
    """The URL or database cannot be used as a review store (the store adds the masked URL)."""


def _sqlite_exists(url: URL) -> bool:
    """Whether the SQLite database ``url`` names is there already (an in-memory one never is)."""
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        return True  # a file: URI (e.g. mode=ro); the table check decides
    db = url.database
    return bool(db) and db != ":memory:" and os.path.exists(str(db))


def _pg_driver(url: URL) -> URL:
    """A bare ``postgresql://`` with psycopg 3 (SQLAlchemy's default for it is psycopg2)."""
    if url.drivername != "postgresql" or find_spec("psycopg2") is not None:
        return url
    if find_spec("psycopg") is None:
        raise OpenError(f"the PostgreSQL driver is not installed ({PG_DRIVER_HINT})")
    return url.set(drivername="postgresql+psycopg")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def create(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for ``url``. SQLite: WAL journal, 30 s busy timeout, foreign keys on, and write
    transactions (execution option ``idsight_write``) begun with BEGIN IMMEDIATE so that concurrent
    writers queue on the lock instead of failing on a lock upgrade. With ``must_exist``, a missing
    SQLite file is refused before anything could create it. ``postgresql://`` uses psycopg2 when it is
    installed, else psycopg 3 (``pip install 'idsight[pg]'``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise OpenError("not a database URL (use sqlite:///reviews.db or postgresql://...)") from None
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and must_exist and not _sqlite_exists(parsed):
        raise OpenError(MISSING)
    try:
        engine = create_engine(_pg_driver(parsed), connect_args={"timeout": 30.0} if sqlite else {})
    except NoSuchModuleError:
        raise OpenError(
            f"unknown database kind {parsed.drivername!r} (use sqlite:/// or postgresql://)"
        ) from None
    except ImportError as err:
        hint = f"; {PG_DRIVER_HINT}" if parsed.get_backend_name() == "postgresql" else ""
        raise OpenError(f"the database driver is not installed ({err}{hint})") from None
    if sqlite:

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun by _begin, below
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA journal_mode=WAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("idsight_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _config(location: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", location)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, *, create: bool = True) -> None:
    """Bring the schema to head inside ``connection``'s open transaction (the caller commits).

    Raises ``OpenError`` for a foreign database, a revision this package does not know, or (with
    ``create=False``) a database that holds no review store yet.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    with as_file(files("idsight.review.migrations")) as folder:
        cfg = _config(str(folder), connection)
        known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
        tables = set(inspect(connection).get_table_names())
        if VERSION_TABLE in tables:
            version = table(VERSION_TABLE, column("version_num"))
            found = set(connection.execute(select(version.c.version_num)).scalars())
            unknown = sorted(found - known)
            if unknown:
                raise OpenError(
                    f"schema revision {', '.join(unknown)} is unknown to this idsight "
                    "(written by a newer version?); refusing to touch it"
                )
        elif tables:
            listed = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
            raise OpenError(
                f"not an idsight review store (it holds other tables: {listed}); refusing to modify it"
            )
        elif not create:
            raise OpenError(MISSING)
        command.upgrade(cfg, "head")

"""Open a run database: any SQLAlchemy URL, SQLite in WAL mode by default.

Every command opens a URL here (`evolve run` to write, `evolve show/runs/report/ui` to read), so a
URL that opens for one opens for all: `postgresql://` gets whichever driver is installed.
Making the tables is safe against other processes doing it at the same moment: on PostgreSQL
under an advisory lock (two `create_all` at once collide in its catalogue), and a new SQLite file
is made under a temporary name and linked into place with its tables, so `evolve.db` never exists
without them.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import sessionmaker

from evolve.store.models import Base

DB_FILENAME = "evolve.db"
# The advisory lock (any constant 64-bit key) held while the schema is made on PostgreSQL.
SCHEMA_LOCK_KEY = 0x65766F6C7665  # "evolve"

# Nullable columns added to a table after databases already existed: (table, column). Opening an
# older database adds them (`create_all` makes missing tables, never missing columns), so a run
# written before them can still be resumed; readers treat their NULLs as "not recorded".
ADDED_COLUMNS = (
    ("programs", "failure_kind"),
    ("evaluations", "failure_kind"),
    ("llm_calls", "answer_form"),
    ("llm_calls", "attempt"),
    ("llm_calls", "retried"),
    ("runs", "heartbeat_at"),
    ("programs", "second_parent_id"),
    ("programs", "idea"),
    ("evaluations", "node"),
)


def sqlite_url(run_dir: str | Path) -> str:
    return f"sqlite:///{Path(run_dir).resolve() / DB_FILENAME}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (evolve show, the live page) never block the writer, and the reverse.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each commit under WAL, but faster
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def has_column(conn: Connection, table: str, column: str) -> bool:
    return column in {c["name"] for c in inspect(conn).get_columns(table)}


def add_missing_columns(engine_or_conn: Engine | Connection) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for each of ADDED_COLUMNS an older database lacks; returns
    "table.column" for each one added."""
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.begin() as conn:
            return add_missing_columns(conn)
    conn = engine_or_conn
    added = []
    tables = set(inspect(conn).get_table_names())
    for table, column in ADDED_COLUMNS:
        if table not in tables or has_column(conn, table, column):
            continue
        sql_type = Base.metadata.tables[table].columns[column].type.compile(conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
        added.append(f"{table}.{column}")
    return added


def with_installed_driver(url: str) -> str:
    """`postgresql://` names no driver, and SQLAlchemy's default for it (psycopg 3) may be absent
    where psycopg2 (evolve's `postgres` extra) is installed: use the one that is there."""
    import importlib.util

    missing_default = importlib.util.find_spec("psycopg") is None
    if url.startswith("postgresql://") and missing_default and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _reader_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA query_only=ON")  # this connection can never write
    cursor.close()
    # Let SQLAlchemy's transactions be real ones (pysqlite starts none for SELECTs): every query
    # of one `with engine.connect()` block then reads one consistent WAL snapshot, and the
    # snapshot ends when the block ends. Readers never block a WAL writer.
    dbapi_connection.isolation_level = None


def _reader_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, read_only: bool = False) -> Engine:
    """The one way any command turns a URL into an engine (no tables made): the installed
    driver for `postgresql://`; SQLite connections in WAL mode, or read-only ones for readers."""
    url = with_installed_driver(url)
    if make_url(url).get_backend_name() != "sqlite":
        # A server may drop idle connections while a reader (the live page) waits between polls.
        return create_engine(url, future=True, pool_pre_ping=read_only)
    engine = create_engine(url, future=True)
    if read_only:
        event.listen(engine, "connect", _reader_connect)
        event.listen(engine, "begin", _reader_begin)
    else:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_schema(engine: Engine) -> None:
    """Make the missing tables and columns, safely while other processes do the same."""
    if engine.dialect.name == "sqlite":
        _new_sqlite_file(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two CREATE TABLEs of one name at once fail in PostgreSQL's catalogue (a unique index
            # on type names), whatever create_all checked first: one process at a time; the lock
            # ends with this transaction, and the next one finds the tables made.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
        Base.metadata.create_all(conn)
        add_missing_columns(conn)


def _new_sqlite_file(engine: Engine) -> None:
    """A SQLite file that does not exist yet is made whole under a temporary name, then linked
    into place: a reader (or a process killed meanwhile) never finds it without its tables."""
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return  # an existing file, or a folder that is not there (the real open says so)
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}")
    plain = create_engine(f"sqlite:///{temporary}", future=True)  # no WAL: one file to move
    try:
        Base.metadata.create_all(plain)
        plain.dispose()
        try:
            os.link(temporary, path)  # never replaces a file another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: a rename, unless one appeared
            if not path.exists():
                os.replace(temporary, path)
    finally:
        plain.dispose()
        temporary.unlink(missing_ok=True)


def open_engine(url: str, create: bool = True) -> Engine:
    engine = make_engine(url)
    if create:
        create_schema(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)

"""Open a run database: any SQLAlchemy URL, SQLite in WAL mode by default."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker

from evolve.store.models import Base

DB_FILENAME = "evolve.db"

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
    ("programs", "hint_ids"),
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


def add_missing_columns(engine: Engine) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for each of ADDED_COLUMNS an older database lacks; returns
    "table.column" for each one added."""
    added = []
    with engine.begin() as conn:
        tables = set(inspect(conn).get_table_names())
        for table, column in ADDED_COLUMNS:
            if table not in tables or has_column(conn, table, column):
                continue
            sql_type = Base.metadata.tables[table].columns[column].type.compile(engine.dialect)
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


def open_engine(url: str, create: bool = True) -> Engine:
    engine = create_engine(with_installed_driver(url), future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        Base.metadata.create_all(engine)
        add_missing_columns(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)

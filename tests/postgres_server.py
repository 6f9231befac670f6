"""A real PostgreSQL server for tests: initdb into a temporary folder, started on a free loopback
port, stopped and removed afterwards. Used by tests/test_postgres.py and tests/faults/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path

import pytest


def pg_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the server's URL without a driver or database, `postgresql://postgres@127.0.0.1:PORT`."""
    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed here")
    pytest.importorskip("psycopg2")
    # Not under pytest's tmp (mode 700, root's): the server runs as the postgres user.
    data = Path(tempfile.mkdtemp(prefix="evolve-pg-")) / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data.parent, "postgres", "postgres")
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            *as_postgres,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data.parent / "log"),
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(data.parent, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    """CREATE DATABASE name (empty: no tables); its URL, with no driver named (as users type it)."""
    import psycopg2

    host_port = server.split("@", 1)[1]
    host, port = host_port.split(":")
    con = psycopg2.connect(host=host, port=int(port), user="postgres", dbname="postgres")
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    return f"{server}/{name}"

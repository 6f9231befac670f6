"""Run databases for the inspection tests: bench/make_big_run.py's synthetic runs (written
through the store's RunWriter, as the engine writes) and the facts to check commands against,
read from the rows with plain sqlite3."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench_module():
    spec = importlib.util.spec_from_file_location("make_big_run", ROOT / "bench" / "make_big_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_big_run = _bench_module()


def small_run(work: Path, name: str = "small") -> Path:
    """work/runs/<name>: a finished synthetic run of 300 candidates; returns `work`."""
    make_big_run.make_run(work / "runs" / name, n=300, seed=3)
    return work


def connect(work: Path, name: str = "small") -> sqlite3.Connection:
    return sqlite3.connect(work / "runs" / name / "evolve.db")


def facts_of(con: sqlite3.Connection) -> dict:
    (best_score,) = con.execute("select max(score) from programs where status='ok'").fetchone()
    (best_id,) = con.execute("select min(id) from programs where status='ok' and score=?", (best_score,)).fetchone()
    return {
        "best_score": best_score,
        "best_id": best_id,
        "programs": con.execute("select count(*) from programs").fetchone()[0],
        "failed": con.execute("select count(*) from programs where status='failed'").fetchone()[0],
        "calls": con.execute("select count(*) from llm_calls").fetchone()[0],
        "children": con.execute("select count(*) from llm_calls where outcome='child'").fetchone()[0],
        "cost": con.execute("select sum(cost) from llm_calls").fetchone()[0],
    }

"""`write_report`: one self-contained HTML file (plotly.js inline) that opens offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Engine

from evolve.inspect.page import render_report
from evolve.inspect.views import collect


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js from the installed plotly package (no network, ever)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def report_html(engine: Engine, run_id: int, url: str = "") -> str:
    return render_report(collect(engine, run_id, url), plotly_js())


def write_report(engine: Engine, run_id: int, path: str | Path, url: str = "") -> Path:
    """Write the run's report to `path` (folders are made) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = report_html(engine, run_id, url)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path

"""The report's Pareto front in headless Chromium: two objectives draw a scatter with the front's
programs joined, three draw parallel coordinates; a run without [objectives] shows no section.
Uses the browser and the synthetic run of tests/test_report_browser.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from test_report_browser import ARTIFACTS, browser, make_big_run  # noqa: F401 (browser: the fixture)

from evolve.inspect.front import run_front
from evolve.inspect.locate import locate
from evolve.inspect.report import write_report
from evolve.store.db import open_engine, sqlite_url
from evolve.store.models import Run

NAMED = {"sum_radii": "maximize", "code_length": "minimize", "min_radius": "maximize"}


def synthetic_run_with_objectives(run_dir, count: int):
    """The bench's synthetic circle-packing run, its stored problem config naming `count` objectives
    among the metrics its programs have (as a problem.toml with [objectives] would have stored)."""
    make_big_run.make_run(run_dir, n=160, seed=5)
    engine = open_engine(sqlite_url(run_dir))
    with engine.begin() as conn:
        run_id, config = conn.execute(select(Run.id, Run.config)).one()
        if count:
            problem = dict(config["problem"], objectives=dict(list(NAMED.items())[:count]))
            conn.execute(update(Run).where(Run.id == run_id).values(config=dict(config, problem=problem)))
    return locate(str(run_dir))


@pytest.mark.parametrize("count", [2, 3, 0])
def test_report_draws_the_front(browser, tmp_path, count):  # noqa: F811 (the imported fixture)
    ref = synthetic_run_with_objectives(tmp_path / "runs" / f"front-{count}", count)
    report = write_report(ref.engine, ref.run_id, tmp_path / "report.html")
    browser.navigate(report.as_uri())
    browser.wait_for("document.body.dataset.rendered === '1'")
    hidden = browser.evaluate("document.getElementById('front-section').hidden")
    if count == 0:
        assert hidden is True
        assert browser.problems() == []
        return
    front = run_front(ref.engine, ref.run_id)
    assert hidden is False and len(front.front) >= 3
    note = browser.evaluate("document.getElementById('front-note').innerText")
    assert note.startswith(f"{len(front.front)} of {len(front.points)} evaluated programs")
    browser.wait_for("document.querySelector('#plot-front .plot-container svg.main-svg') !== null", timeout=30)
    if count == 2:
        # two traces: the dominated programs (grey) and the front, one marker per front program
        assert browser.evaluate("document.querySelectorAll('#plot-front .scatterlayer .trace').length") == 2
        drawn = browser.evaluate(
            "document.querySelectorAll('#plot-front .scatterlayer .trace:last-child .points path').length"
        )
        assert drawn == len(front.front)
        assert browser.evaluate(
            "document.querySelector('#plot-front .scatterlayer .trace:last-child .js-line') !== null"
        )
    else:
        # one axis per objective, each titled with its name and direction
        labels = browser.evaluate(
            "[...document.querySelectorAll('#plot-front .parcoords .axis-title')].map(e => e.textContent)"
        )
        assert labels == [f"{name} ({direction})" for name, direction in list(NAMED.items())[:count]]
    # Parallel coordinates draw with WebGL: headless Chromium without a GPU warns that it falls back
    # to software GL (the browser's log, not the page's); anything else is a problem.
    problems = [p for p in browser.problems() if not (p.startswith("log.warning") and "GL" in p)]
    assert problems == []
    browser.screenshot(ARTIFACTS / f"report-front-{count}.png")
    assert (ARTIFACTS / f"report-front-{count}.png").stat().st_size > 30_000

"""Render the report (data embedded) and the live page (data polled) from the files in assets/.

The HTML is Jinja2 templates, the CSS and JavaScript are files of their own: `page.html.j2` is
the page both share, `report.html.j2` and `live.html.j2` fill it in. One `render(data)` in
`page.js` draws every view from the dict that `evolve.inspect.views.collect` returns, so the
report and the live page cannot drift apart. Text from the database is always put in the page
with `textContent`, never as HTML, and reaches a plot only through `plain()` in page.js (Plotly
reads a subset of HTML in labels and hover text). The data itself stays plain text: escaping it
here would show entities in the tables.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from jinja2 import Environment, FunctionLoader, StrictUndefined
from markupsafe import Markup

ASSETS = "assets"


def _asset(name: str) -> str:
    # Through importlib.resources, so an installed wheel finds them as a checkout does.
    return (files("evolve.inspect") / ASSETS / name).read_text(encoding="utf-8")


@cache
def _environment() -> Environment:
    return Environment(
        loader=FunctionLoader(_asset), autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True
    )


@cache
def _code(name: str) -> Markup:
    """A CSS or JavaScript file, for inlining in <style> or <script> as it is (no HTML escaping)."""
    text = _asset(name)
    closing = "</style" if name.endswith(".css") else "</script"
    if closing in text.lower():  # would end the element early; a bug in our asset, caught here
        raise ValueError(f"{name} contains {closing}")
    return Markup(text)


def _json_for_script(data) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_report(data: dict, plotly_js: str) -> str:
    """The self-contained report: plotly.js, the page code and the data, all inline."""
    if "</script" in plotly_js.lower():
        raise ValueError("plotly.js contains </script and cannot be inlined")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=f"evolve report: {data['summary']['run']['name']}",
            css=_code("page.css"),
            js=_code("page.js"),
            plotly_js=Markup(plotly_js),
            data_json=Markup(_json_for_script(data)),
        )
    )


def render_live(run_name: str, islands: int, poll_ms: int = 3000) -> str:
    """The live page: plotly.js and data come from the server that serves it."""
    return (
        _environment()
        .get_template("live.html.j2")
        .render(
            title=f"evolve: {run_name} (live)",
            css=_code("page.css"),
            js=_code("page.js"),
            islands=int(islands),
            poll_ms=int(poll_ms),
        )
    )

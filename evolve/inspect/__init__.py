"""Inspecting runs: locate a run, query it, report on it, serve a live page.

- `locate`: turn what a user typed (a run folder, a run name, a database URL plus a run id or
  name) into an open, read-only-ish engine and a run id.
- `queries`: SQLAlchemy 2.0 queries that return plain dataclasses (aggregates in SQL, code blobs
  only when asked for).
- `views`: the run's dashboard data (plots' series), shared by the report and the live page.
- `page`: the HTML, CSS and JavaScript of the report and the live page.
- `report`: one self-contained HTML file.
- `server`: the live page on loopback.
- `commands`: the `evolve` sub-commands (`register(app)`).
"""

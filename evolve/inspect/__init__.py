"""Inspecting runs: locate a run, query it, report on it, serve a live page.

- `locate`: turn what a user typed (a run folder, a run name, a database URL plus a run id or
  name) into an open, read-only-ish engine and a run id.
- `rows`: the frozen dataclasses the queries return.
- `queries`: runs and programs (SQLAlchemy 2.0; aggregates in SQL, code blobs only when asked for);
  `lineage`: ancestry and diffs; `summary`: counts, failures by kind and reason, models;
  `export`: every candidate as JSONL rows.
- `printing`: how the commands print (numbers, tables, code).
- `views`: the run's dashboard data (plots' series), shared by the report and the live page.
- `page`: the HTML, CSS and JavaScript of the report and the live page.
- `report`: one self-contained HTML file.
- `server`: the live page on loopback.
- `commands`: the `evolve` sub-commands (`register(app)`).
"""

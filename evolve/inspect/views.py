"""The run's dashboard data: the series behind each plot and the tables beside them.

`collect(engine, run_id)` returns one JSON-ready dict that the report embeds and the live page
polls (`/api/view`). Series are reduced in Python from narrow columns (no code, prompts or
answers, except the best program's and the diffs along its lineage), so a 10,000-candidate run
collects in well under a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from evolve.inspect import queries
from evolve.inspect.front import front_json
from evolve.inspect.lineage import ancestry
from evolve.inspect.rows import LineageStep, to_jsonable
from evolve.inspect.summary import collect_summary
from evolve.kinds import ProgramStatus
from evolve.store.models import Program

TREE_CHILDREN = 6  # siblings shown per lineage node in the tree (the best-scoring ones)
HIST_BINS = 30


def _timeline(rows: list[tuple], last_iteration: int) -> dict:
    """Best score so far per island and overall, as step series (only the points that improve)."""
    islands: dict[int, dict] = {}
    overall: dict[str, list] = {"x": [], "y": [], "ids": []}
    best_all = None
    for pid, island, iteration, score in rows:
        series = islands.setdefault(island, {"island": island, "x": [], "y": [], "ids": [], "best": None})
        if series["best"] is None or score > series["best"]:
            series["best"] = score
            series["x"].append(iteration)
            series["y"].append(score)
            series["ids"].append(pid)
        if best_all is None or score > best_all:
            best_all = score
            overall["x"].append(iteration)
            overall["y"].append(score)
            overall["ids"].append(pid)
    for series in [*islands.values(), overall]:
        if series["x"] and series["x"][-1] < last_iteration:  # carry the line to the latest iteration
            series["x"].append(last_iteration)
            series["y"].append(series["y"][-1])
            series["ids"].append(series["ids"][-1])
    return {"islands": [islands[k] for k in sorted(islands)], "overall": overall}


def _histogram(scores: list[float], bins: int = HIST_BINS) -> dict:
    if not scores:
        return {"edges": [], "counts": []}
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return {"edges": [lo - 0.5, lo + 0.5], "counts": [len(scores)]}
    width = (hi - lo) / bins
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int((s - lo) / width))] += 1
    return {"edges": [lo + i * width for i in range(bins + 1)], "counts": counts}


def _axis(dim: dict | None, index: int, used: set[int]) -> dict:
    """Labels for one MAP-Elites axis: the bin ranges where the config gives [min, max]."""
    if dim is None:
        n = (max(used) + 1) if used else 1
        return {"name": f"feature {index}", "labels": [str(i) for i in range(n)]}
    bins = int(dim.get("bins") or 10)
    lo, hi = dim.get("min"), dim.get("max")
    n = max(bins, (max(used) + 1) if used else 0)
    if lo is None or hi is None:
        return {"name": dim.get("name", f"feature {index}"), "labels": [f"bin {i}" for i in range(n)]}
    width = (float(hi) - float(lo)) / bins
    labels = [f"{float(lo) + i * width:.4g}–{float(lo) + (i + 1) * width:.4g}" for i in range(n)]
    return {"name": dim.get("name", f"feature {index}"), "labels": labels}


def _grid(cells: list[tuple], features: list[dict]) -> dict | None:
    """Best score per MAP-Elites cell (first two feature axes; further axes are folded in)."""
    coords = [
        (pid, cell, score)
        for pid, cell, score in cells
        if isinstance(cell, (list, tuple)) and cell and all(isinstance(c, int) for c in cell)
    ]
    if not coords:
        return None
    used_x = {c[1][0] for c in coords}
    used_y = {c[1][1] if len(c[1]) > 1 else 0 for c in coords}
    x_axis = _axis(features[0] if features else None, 0, used_x)
    if features[1:] or any(len(c[1]) > 1 for c in coords):
        y_axis = _axis(features[1] if len(features) > 1 else None, 1, used_y)
    else:
        y_axis = {"name": "", "labels": [""]}
    nx, ny = len(x_axis["labels"]), len(y_axis["labels"])
    z = [[None] * nx for _ in range(ny)]
    ids = [[None] * nx for _ in range(ny)]
    counts = [[0] * nx for _ in range(ny)]
    for pid, cell, score in coords:
        x = cell[0]
        y = cell[1] if len(cell) > 1 else 0
        if not (0 <= x < nx and 0 <= y < ny):
            continue
        counts[y][x] += 1
        if z[y][x] is None or score > z[y][x]:
            z[y][x] = score
            ids[y][x] = pid
    filled = sum(1 for row in z for v in row if v is not None)
    return {
        "x": x_axis,
        "y": y_axis,
        "z": z,
        "ids": ids,
        "counts": counts,
        "filled": filled,
        "cells": nx * ny,
        "folded": max(len(c[1]) for c in coords) > 2,
    }


def _tree(conn, run_id: int, path: list[LineageStep]) -> dict:
    """The best program's lineage plus the best few siblings at each step (the branches not taken)."""
    path_ids = [s.program.id for s in path]
    on_path = set(path_ids)
    nodes: list[dict[str, Any]] = [
        {
            "id": s.program.id,
            "parent_id": s.program.parent_id,
            "score": s.program.score,
            "generation": s.program.generation,
            "status": s.program.status,
            "on_path": True,
            "mutation": s.program.mutation,
            "model": s.program.model,
        }
        for s in path
    ]
    children: dict[int, list] = {}
    failed: dict[int, int] = {}
    for chunk in range(0, len(path_ids), 500):
        rows = conn.execute(
            select(
                Program.id, Program.parent_id, Program.score, Program.generation, Program.status, Program.mutation
            ).where(Program.run_id == run_id, Program.parent_id.in_(path_ids[chunk : chunk + 500]))
        ).all()
        for r in rows:
            if r.id in on_path:
                continue
            if r.score is None:
                failed[r.parent_id] = failed.get(r.parent_id, 0) + (r.status == ProgramStatus.FAILED)
                continue
            children.setdefault(r.parent_id, []).append((r.score, r.id, r.generation, r.status, r.mutation))
    for parent_id, kids in children.items():
        for score, pid, generation, status, mutation in sorted(kids, reverse=True)[:TREE_CHILDREN]:
            nodes.append(
                {
                    "id": pid,
                    "parent_id": parent_id,
                    "score": score,
                    "generation": generation,
                    "status": status,
                    "on_path": False,
                    "mutation": mutation,
                    "model": None,
                }
            )
    for node in nodes:
        if node["on_path"]:
            node["children"] = (
                len(children.get(node["id"], [])) + failed.get(node["id"], 0) + (1 if node["id"] != path_ids[-1] else 0)
            )
            node["failed_children"] = failed.get(node["id"], 0)
    return {"nodes": nodes}


def collect(engine: Engine, run_id: int, url: str = "") -> dict:
    with engine.connect() as conn:  # one read snapshot for every figure on the page
        summary = collect_summary(conn, run_id, url)
        config = queries.stored_config(conn, run_id)
        ok_rows = conn.execute(
            select(Program.id, Program.island, Program.iteration, Program.score, Program.cell)
            .where(Program.run_id == run_id, Program.status == ProgramStatus.OK, Program.score.is_not(None))
            .order_by(Program.iteration, Program.id)
        ).all()
        heldout = conn.execute(
            select(Program.id, Program.iteration, Program.heldout_score, Program.score)
            .where(Program.run_id == run_id, Program.heldout_score.is_not(None))
            .order_by(Program.iteration)
        ).all()
        best_detail = None
        lineage: list[LineageStep] = []
        tree: dict[str, list] = {"nodes": []}
        if summary.best is not None:
            best_detail = queries.detail(conn, run_id, summary.best.id)
            lineage = ancestry(conn, run_id, summary.best.id, with_diffs=True)
            tree = _tree(conn, run_id, lineage)
    features = config.features
    timeline = _timeline([(r.id, r.island, r.iteration, r.score) for r in ok_rows], summary.iterations_done)
    timeline["heldout"] = {
        "x": [r.iteration for r in heldout],
        "y": [r.heldout_score for r in heldout],
        "ids": [r.id for r in heldout],
        "train": [r.score for r in heldout],
    }
    best = None
    if best_detail is not None:
        best = to_jsonable(best_detail)
        best.pop("prompt", None)  # the report shows the program; the live page fetches the rest
        best.pop("answer", None)
    return {
        "generated_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "summary": to_jsonable(summary),
        "language": config.language,
        "features": features,
        "timeline": timeline,
        "histogram": _histogram([r.score for r in ok_rows]),
        "grid": _grid([(r.id, r.cell, r.score) for r in ok_rows], features),
        "lineage": to_jsonable(lineage),
        "tree": tree,
        "best": best,
        "front": front_json(engine, run_id),  # None without [objectives]
    }

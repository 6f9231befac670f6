"""Answer yield: how many model answers become children, on the first try and after a re-ask.

Four runs of circle_packing side by side, each through litellm's real HTTP path to a loopback
model server and the process sandbox. The server answers every call in the next of fifteen
styles real models write (tests/model_server.py STYLES: SEARCH/REPLACE bare, fenced, with long
markers, CRLF, dedented, with the marker line, two blocks between prose; unified diffs fenced
and bare; whole programs fenced, bare and without markers; the block body alone; reasoning
first; prose with snippets first), whatever the prompt asked for:

A. every answer a valid edit;
B. one first answer in ten a SEARCH that matches nothing, answered right when re-asked;
C. as B, with `[mutation] max_retries = 0` (no re-ask);
D. as A, with `[prompt] token_budget = 1500` (a budget that binds).

"Before" replays each run's first answers through the reader this repository had before issue
10 (evolve/diff.py at OLD_READER, read with `git show`): diff prompts through apply_diff, rewrite
prompts through apply_full_rewrite.

Prompt tokens: every first prompt of an iteration as the server received it, counted with
litellm's counter (what `[prompt] token_budget` bounds), against the budget; the prompts that
remember (lineage, what was tried, the best programs, elites, the cell, the insight) fill it.
BEFORE_MEMORY holds the figures this benchmark measured before them (parts 1 and 2 only).

Usage: python bench/answer_yield.py [-n 60] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import select  # noqa: E402

from evolve.engine.options import RunOptions  # noqa: E402
from evolve.engine.run import evolve_run  # noqa: E402
from evolve.kinds import CallOutcome, ProgramStatus  # noqa: E402
from evolve.mutate.llm import ModelSpec, count_tokens  # noqa: E402
from evolve.problem import Problem, load_problem  # noqa: E402
from evolve.store import Insight, LLMCall, Program, open_engine, session_factory  # noqa: E402

from model_server import STYLES, ModelServer, is_insight, is_retry, mixed_styles_script, with_insights  # noqa: E402

HEADING = "## Answer yield"
OLD_READER = "0884c07^"  # the commit before the one answer reader
# Mean prompt tokens per call of runs A, B and C at b4ea2f9 (answers and re-asking, no memory).
BEFORE_MEMORY = {"A": 879, "B": 901, "C": 873}
TIGHT = 1500  # run D: a budget that binds, so the trimming shows


@dataclasses.dataclass(frozen=True)
class Figures:
    label: str
    iterations: int
    calls: int
    first_try: int  # iterations whose first answer made a child
    children: int  # iterations that made a child, first try or after a re-ask
    evaluated: int  # children evaluated (ok or failed)
    old_reader: int  # first answers the old reader turned into a child
    prompt_tokens: float  # mean per call, litellm's counter on the prompts as sent
    forms: Counter
    first_prompts: tuple[int, ...] = ()  # each iteration's first prompt, litellm's counter on its messages
    budget: int = 0
    insights: int = 0  # insight calls (not in `calls`)


def old_reader() -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{OLD_READER}:evolve/diff.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader("old_diff", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_diff"] = module  # dataclasses look their module up
    # The old reader imports evolve.blocks, since moved to evolve.edit.blocks (the same functions).
    sys.modules.setdefault("evolve.blocks", importlib.import_module("evolve.edit.blocks"))
    exec(compile(source, "old_diff.py", "exec"), module.__dict__)
    return module


def old_reader_makes_a_child(old: ModuleType, parent: str, answer: str, mutation: str, language: str) -> bool:
    try:
        child = old.apply_diff(parent, answer) if mutation == "diff" else old.apply_full_rewrite(parent, answer)
        old.check_child(parent, child, language)
    except old.EditRejected:
        return False
    return True


def with_budget(problem: Problem, token_budget: int) -> Problem:
    prompt = problem.config.prompt.model_copy(update={"token_budget": token_budget})
    return dataclasses.replace(problem, config=problem.config.model_copy(update={"prompt": prompt}))


def with_retries(problem: Problem, max_retries: int) -> Problem:
    mutation = problem.config.mutation.model_copy(update={"max_retries": max_retries})
    return dataclasses.replace(problem, config=problem.config.model_copy(update={"mutation": mutation}))


def measure(label: str, problem: Problem, bad_every: int, iterations: int, runs_root: Path, old: ModuleType) -> Figures:
    import litellm

    with ModelServer(with_insights(mixed_styles_script(bad_every=bad_every))) as server:
        model = ModelSpec("openai/test-model", api_base=server.url, max_attempts=2, backoff=0.05)
        options = RunOptions(
            iterations=iterations, llm_concurrency=4, eval_workers=2, seed=11, models=(model,), sandbox="process"
        )
        result = evolve_run(problem, options, runs_root=runs_root, run_name=label.split(".")[0])  # one database each
        requests = list(server.calls)
    first_prompts = tuple(
        count_tokens(model.name, r["messages"]) for r in requests if not is_insight(r) and not is_retry(r)
    )
    Session = session_factory(open_engine(result.db_url, create=False))
    with Session() as s:
        calls = s.scalars(select(LLMCall)).all()
        codes = dict(s.execute(select(Program.id, Program.code)).all())
        insights = len(s.scalars(select(Insight)).all())
        evaluated = s.scalars(
            select(Program).where(
                Program.iteration > 0,
                Program.status.in_((ProgramStatus.OK, ProgramStatus.FAILED)),
            )
        ).all()
    final = [c for c in calls if not c.retried]
    firsts = [c for c in calls if (c.attempt or 1) == 1]
    return Figures(
        label=label,
        iterations=len(final),
        calls=len(calls),
        first_try=sum(c.outcome == CallOutcome.CHILD for c in firsts),
        children=sum(c.outcome == CallOutcome.CHILD for c in final),
        evaluated=len(evaluated),
        old_reader=sum(
            old_reader_makes_a_child(old, codes[c.parent_id], c.answer or "", c.mutation, problem.language)
            for c in firsts
        ),
        prompt_tokens=sum(litellm.token_counter(model="openai/test-model", text=c.prompt) for c in calls) / len(calls),
        forms=Counter(c.answer_form for c in calls if c.outcome == CallOutcome.CHILD),
        first_prompts=first_prompts,
        budget=problem.config.prompt.token_budget,
        insights=insights,
    )


def token_table(rows: list[Figures]) -> str:
    out = [
        "| run | prompt tokens per call, before (parts 1-2) | prompt tokens per call, after | first prompts: mean | first prompts: max | budget | insight calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        firsts = f.first_prompts or (0,)
        before = BEFORE_MEMORY.get(f.label.split(".")[0])
        out.append(
            f"| {f.label} | {before if before is not None else '–'} | {f.prompt_tokens:,.0f} | "
            f"{sum(firsts) / len(firsts):,.0f} | {max(firsts):,} | {f.budget:,} | {f.insights} |"
        )
    return "\n".join(out)


def table(rows: list[Figures]) -> str:
    out = [
        "| run | iterations | model calls | children, first try | children, after re-ask | calls per evaluated child | before: old reader, first answers | prompt tokens per call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        out.append(
            f"| {f.label} | {f.iterations} | {f.calls} | {f.first_try} ({f.first_try / f.iterations:.0%}) | "
            f"{f.children} ({f.children / f.iterations:.0%}) | {f.calls / max(1, f.evaluated):.2f} | "
            f"{f.old_reader} ({f.old_reader / f.iterations:.0%}) | {f.prompt_tokens:,.0f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=60, help="iterations per run (default 60: four rounds of the styles)")
    parser.add_argument("--write", type=Path, default=None, help=f"replace the '{HEADING}' section of this file")
    args = parser.parse_args()
    import ray

    problem = load_problem(ROOT / "problems" / "circle_packing")
    old = old_reader()
    from evolve.engine.run import start_ray

    start_ray(None, num_cpus=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [
                measure("A. every answer valid", problem, 0, args.n, Path(tmp), old),
                measure("B. 1 in 10 wrong, re-asked", problem, 10, args.n, Path(tmp), old),
                measure("C. 1 in 10 wrong, max_retries = 0", with_retries(problem, 0), 10, args.n, Path(tmp), old),
                measure(f"D. as A, token_budget = {TIGHT}", with_budget(problem, TIGHT), 0, args.n, Path(tmp), old),
            ]
    finally:
        ray.shutdown()
    forms = sum((f.forms for f in rows), Counter())
    command = f"python bench/answer_yield.py -n {args.n} --write bench/RESULTS.md"
    section = "\n".join(
        [
            HEADING,
            "",
            f"Four runs of circle_packing side by side ({args.n} iterations each, process sandbox, 4 model calls "
            f"and 2 evaluations at a time) against a loopback model server that answers each call in the next of "
            f"{len(STYLES)} styles real models write, whatever the prompt asked for (tests/model_server.py STYLES: "
            "SEARCH/REPLACE bare, fenced in ```python, ```diff with 9-character markers and ~~~ with Windows line "
            "endings and trailing spaces, dedented, with the EVOLVE-BLOCK marker line, two blocks between headings "
            "and prose; unified diffs fenced and bare; whole programs fenced, bare and without their marker "
            "comments; the block body alone; `<think>` reasoning with a stray fenced snippet first; prose with "
            "snippets first). In B and C one first answer in ten is a SEARCH that matches nothing; re-asked with "
            "the reason, the server answers with a valid edit; D is A under a token budget that binds. Machine: "
            f"{platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs.",
            "",
            f"Command: `{command}`",
            "",
            table(rows),
            "",
            '"Before: old reader" replays the same first answers through evolve/diff.py as it was before issue 10 '
            f"(`git show {OLD_READER}:evolve/diff.py`): a diff prompt's answer through apply_diff, a rewrite "
            'prompt\'s through apply_full_rewrite. "Calls per evaluated child" counts every answer, re-asks '
            "included. Prompt tokens are litellm's token counter on the prompts as sent (a re-ask sends the "
            "whole conversation again). Children by the form they were read in, all runs: "
            + ", ".join(f"{form} {n}" for form, n in forms.most_common())
            + ".",
            "",
            "Prompt tokens against the budget (`[prompt] token_budget`, default 6,000): the prompts now remember "
            "the parent's lineage, what was tried and did not help, the best programs in full, elites of other "
            "cells, the MAP-Elites cell and the latest insight (one insight call every 25 evaluations, not counted "
            'in the model calls above). "First prompts" are each iteration\'s first prompt as the server received '
            "it, by litellm's token counter, the measure the budget bounds (a re-ask adds the answer and the "
            'reason to it). "Before" is this benchmark at b4ea2f9, before the prompts remembered.',
            "",
            token_table(rows),
            "",
        ]
    )
    print(section)
    if args.write:
        write_section(args.write, section)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(HEADING)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("" if end == -1 else "\n" + text[end + 1 :])
    path.write_text(text)


if __name__ == "__main__":
    main()

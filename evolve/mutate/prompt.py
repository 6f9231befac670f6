"""Render prompts from Jinja2 templates; a problem's own prompts/ folder overrides any template."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from evolve.edit.blocks import BlockError, block_bodies
from evolve.kinds import Mutation
from evolve.mutate.example import example_edit
from evolve.mutate.memory import Memory
from evolve.mutate.views import ProgramView
from evolve.population.pareto import Objective
from evolve.resources import prompts_dir


@dataclass(frozen=True)
class ProblemView:
    name: str
    description: str
    language: str
    prompts_dir: str | None = None
    objectives: tuple[Objective, ...] = ()  # [objectives]: the prompt names the trade-off


def fence(code: str) -> str:
    """A Markdown fence longer than any run of backticks inside the code, so code that contains
    ``` (in a docstring, say) cannot close its own fence."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


@lru_cache(maxsize=16)
def _environment(override_dir: str | None) -> jinja2.Environment:
    search = [override_dir, str(prompts_dir())] if override_dir else [str(prompts_dir())]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not an empty string
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fence"] = fence
    return env


def render(template: str, problem: ProblemView, **context) -> str:
    env = _environment(problem.prompts_dir)
    return env.get_template(template).render(problem=problem, **context).strip() + "\n"


def build_messages(
    mutation: str,
    problem: ProblemView,
    parent: ProgramView,
    inspirations: list[ProgramView],
    last_failure: str | None,
    memory: Memory | None = None,
    second_parent: ProgramView | None = None,
    error: str | None = None,
    small_model: bool = False,
    focused: bool = False,
) -> list[dict]:
    """The system and user messages of a mutation. Inspirations already shown as a top program or
    a diverse elite are not shown twice. `small_model` (a self-hosted one): a rewrite prompt
    quotes the one block to rewrite and asks for it alone (`rewrite`, full.j2). `focused` (a small
    model, evolve/mutate/local.py `is_small`): a diff or a rewrite of a program with one block shows
    that block alone (small.j2)."""
    if shows_block_alone(mutation, parent.code, focused):
        block = _block_to_rewrite(parent.code)
        return [
            {"role": "system", "content": render("system.j2", problem, focused=True)},
            {"role": "user", "content": render("small.j2", problem, parent=parent, mutation=mutation, block=block)},
        ]
    memory = memory or Memory()
    shown = {p.id for p in (*memory.top, *memory.diverse)}
    context = dict(
        parent=parent,
        inspirations=[p for p in inspirations if p.id not in shown],
        last_failure=last_failure,
        lineage=memory.lineage,
        top=memory.top,
        diverse=memory.diverse,
        tried=memory.tried,
        coordinates=memory.coordinates,
        insight=memory.insight,
        hints=memory.hints,
        second_parent=second_parent,  # crossover.j2
        error=error,  # fix.j2: why the program (the parent) failed
        example=example_edit(parent.code),  # diff.j2, fix.j2: real lines to quote in the example edit
        objectives=problem.objectives,  # context.j2: what the child may trade
        rewrite=_block_to_rewrite(parent.code) if small_model else "",  # full.j2
    )
    return [
        {"role": "system", "content": render("system.j2", problem, **context)},
        {"role": "user", "content": render(f"{mutation}.j2", problem, **context)},
    ]


def shows_block_alone(mutation: str, code: str, focused: bool) -> bool:
    """Whether a small model's (`focused`) prompt is small.j2: a diff or a rewrite of a program
    with one EVOLVE-BLOCK. Its crossovers and repairs, and programs with several blocks, get the
    full prompts (a rewrite of several blocks needs the markers that say where each goes)."""
    return focused and mutation in (Mutation.DIFF, Mutation.FULL) and bool(_block_to_rewrite(code))


def _block_to_rewrite(code: str) -> str:
    """The body of a program's one EVOLVE-BLOCK, its blank edges trimmed; "" with several or none
    (a rewrite of several blocks is asked for as the whole program, which marks where each goes)."""
    try:
        bodies = block_bodies(code)
    except BlockError:
        return ""
    return bodies[0].strip("\n") if len(bodies) == 1 else ""


def retry_message(
    problem: ProblemView,
    mutation: str,
    reason: str,
    form: str,
    attempt: int,
    max_retries: int,
    copy: str = "",
    focused: bool = False,
    unchanged: bool = False,
) -> dict:
    """The user message that sends a rejected answer back: exactly what failed, first, then the
    program's exact lines to copy where the reason calls for them (retry.j2, mutate/reask.py)."""
    content = render(
        "retry.j2",
        problem,
        mutation=mutation,
        reason=reason,
        form=str(form),
        attempt=attempt,
        max_retries=max_retries,
        copy=copy,
        focused=focused,
        unchanged=unchanged,
    )
    return {"role": "user", "content": content}

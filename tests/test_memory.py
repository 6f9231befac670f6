"""Prompts that remember: the population actor hands the mutator the parent's lineage (each step
with its stated idea, diff and score change), what was tried from it and did not help, the best
programs, elites of other cells and the parent's MAP-Elites cell; the prompt sent over litellm's
real HTTP path to a loopback server shows them; a resumed run remembers the same, from its rows.
A real PopulationActor on a real SQLite store; the test decides each child's evaluation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from evolve.engine.population_actor import PopulationActor
from evolve.kinds import FailureKind
from evolve.mutate.insight import Insight
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.problem import Problem
from evolve.sandbox.base import EvalOutcome
from evolve.store import Program, RunConfig
from evolve.usage import CallUsage

from model_server import NOT_APPLYING, ModelServer, Reply, idea_answer

TRACEBACK = (
    "evaluating...\nTraceback (most recent call last):\n"
    '  File "initial_program.py", line 30, in construct_packing\n'
    "ZeroDivisionError: boom in iteration 5\n"
)
# Iteration by iteration: the model's answer, and the evaluation the test gives its child.
ANSWERS = {
    1: "Idea A: spread the first row.",
    2: "Idea B: tighten the margin.",
    3: None,  # an edit that does not apply
    4: "Idea D: shrink the corners.",
    5: "Idea E: divide by the gap.",
}
OUTCOMES = {
    1: EvalOutcome(ok=True, score=1.2, metrics={"min_radius": 0.07}, sandbox="t"),
    2: EvalOutcome(ok=True, score=1.4, metrics={"min_radius": 0.03}, sandbox="t", feedback="row 2 is tight"),
    4: EvalOutcome(ok=True, score=1.1, metrics={"min_radius": 0.01}, sandbox="t"),
    5: EvalOutcome.failure(FailureKind.CRASH, "exit code 1", logs=TRACEBACK, feedback="no packing", sandbox="t"),
}


def one_greedy_island(problem: Problem, **prompt) -> Problem:
    """One island whose parent is always its best program, so the test knows every parent."""
    population = problem.config.population.model_copy(
        update={"islands": 1, "exploitation": 1.0, "exploration": 0.0, "elite_pool": 1}
    )
    update = {"population": population, "prompt": problem.config.prompt.model_copy(update=prompt)}
    return dataclasses.replace(problem, config=problem.config.model_copy(update=update))


def settings(url: str, budget: int = 6000) -> MutatorSettings:
    return MutatorSettings(
        problem=ProblemView("circle_packing", "Pack circles.", "python"),
        models=(ModelSpec(name="openai/test-model", api_base=url, backoff=0.01, max_attempts=1, price_in=1.0),),
        full_weight=0.0,
        max_retries=0,
        token_budget=budget,
    )


def open_db(tmp_path: Path, problem: Problem, resume: bool = False) -> PopulationActor:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    return PopulationActor(url, "r", problem, RunConfig(), 1, "test", "llm: test", 20, resume)


def script(request: dict, index: int) -> Reply:
    iteration = index + 1
    idea = ANSWERS.get(iteration, f"Idea {iteration}.")
    if idea is None:
        return Reply("Idea C: move a line that is not there.\n\n" + NOT_APPLYING)
    return Reply(idea_answer(request, index, idea))


def five_iterations(db: PopulationActor, url: str) -> None:
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={"min_radius": 0.05}, sandbox="t"))
    for iteration in range(1, 6):
        task = db.next_task()
        assert task.iteration == iteration
        admission = db.submit_proposal(propose(task, settings(url)))
        assert (admission.ticket is None) == (iteration == 3)
        if admission.ticket is not None:
            db.submit_result(admission.ticket, OUTCOMES[iteration])


def user_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def test_the_prompt_shows_lineage_what_was_tried_the_best_programs_and_the_cell(tmp_path, circle_packing):
    db = open_db(tmp_path, one_greedy_island(circle_packing))
    with ModelServer(script) as server:
        five_iterations(db, server.url)
        task = db.next_task()
        propose(task, settings(server.url))
        text = user_text(server.calls[-1])
    # Program ids: 1 the initial program, 2 and 3 its improving line, 4 worse, 5 crashed.
    assert task.parent.id == 3 and [s.program_id for s in task.memory.lineage] == [2, 3]

    lineage = text[text.index("# How the current program came about") :]
    assert "## Iteration 1: program 1 -> 2 (diff), score 1.2 (+0.2)\nIdea: Idea A: spread the first row." in lineage
    assert "## Iteration 2: program 2 -> 3 (diff), score 1.4 (+0.2)\nIdea: Idea B: tighten the margin." in lineage
    assert "```diff\n@@" in lineage  # each step's compact diff

    tried = text[text.index("# Tried before and did not help") :]
    assert tried.index("Iteration 3") < tried.index("Iteration 4") < tried.index("Iteration 5")
    assert (
        "Idea: Idea C: move a line that is not there.\nYour edit was rejected: SEARCH block 1 matches nothing" in tried
    )
    assert "Idea: Idea D: shrink the corners.\nThe child scored 1.1 (-0.3 against its parent): no better." in tried
    assert "Idea: Idea E: divide by the gap.\nThe child failed its evaluation: crash: exit code 1" in tried
    assert "Evaluator feedback: no packing" in tried and "ZeroDivisionError: boom in iteration 5" in tried
    assert "evaluating..." not in tried  # the logs from their last traceback on

    # The best programs other than the parent, in full with their idea; the parent's cell and the axes.
    top = text[text.index("# The best programs so far, in full") : text.index("# Elites of other cells")]
    assert "## Program 2 (score 1.2)" in top and "Idea: Idea A" in top and "## Program 4 (score 1.1)" in top
    assert "def construct_packing" in top  # in full, not only the blocks
    assert "MAP-Elites cell: code_length 1200–1800 (bin 3 of 10), min_radius 0.03–0.04 (bin 4 of 10)" in text
    assert "- min_radius: the evaluator's metric 'min_radius', from 0 to 0.1 in 10 bins" in text
    assert "- code_length: the program's length in characters, from 0 to 6000 in 10 bins" in text
    elites = text[text.index("# Elites of other cells") :]
    assert "## Program 1 (score 1)" in elites and "min_radius 0.05–0.06 (bin 6 of 10)" in elites
    assert "row 2 is tight" in text  # the parent's own feedback

    with db.Session() as s:
        ideas = dict(s.execute(select(Program.id, Program.idea)).all())
    assert ideas == {1: None, 2: ANSWERS[1], 3: ANSWERS[2], 4: ANSWERS[4], 5: ANSWERS[5]}
    db.close()


def test_counts_come_from_the_prompt_table(tmp_path, circle_packing):
    db = open_db(tmp_path, one_greedy_island(circle_packing, lineage=1, top=1, diverse=0, tried=2))
    with ModelServer(script) as server:
        five_iterations(db, server.url)
    memory = db.next_task().memory
    assert [s.program_id for s in memory.lineage] == [3]
    assert [p.id for p in memory.top] == [2] and memory.diverse == ()
    assert [t.iteration for t in memory.tried] == [4, 5]
    db.close()


def test_the_offline_mutator_gets_no_memory(tmp_path, circle_packing):
    url = f"sqlite:///{tmp_path / 'offline.db'}"
    db = PopulationActor(url, "r", circle_packing, RunConfig(), 1, "test", "offline", 20, False)
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={}, sandbox="t"))
    assert db.next_task().memory.coordinates is None
    db.close()


def test_a_resumed_run_remembers_the_same_from_its_rows(tmp_path, circle_packing):
    problem = one_greedy_island(circle_packing)
    db = open_db(tmp_path, problem)
    with ModelServer(script) as server:
        five_iterations(db, server.url)
    db.add_insight(Insight(5, "Findings: the margin matters.", (2, 3), "openai/test-model", usage=CallUsage(cost=0.25)))
    before = db.next_task()
    cost = db.progress.cost
    db.close()

    resumed = open_db(tmp_path, problem, resume=True)
    after = resumed.next_task()
    assert after.iteration == before.iteration and after.parent == before.parent
    assert after.memory == before.memory  # lineage, tried, top, diverse, cell and insight alike
    assert after.memory.insight is not None and after.memory.insight.text == "Findings: the margin matters."
    assert [t.kind for t in after.memory.tried] == ["rejected", "worse", "failed"]
    assert resumed.progress.cost == pytest.approx(cost)  # the insight's cost is the run's
    resumed.close()


def test_a_long_history_fits_the_token_budget(tmp_path, circle_packing):
    from evolve.mutate.llm import count_tokens

    db = open_db(tmp_path, one_greedy_island(circle_packing, tried=20, lineage=10, top=5, diverse=5))
    with ModelServer(script) as server:
        five_iterations(db, server.url)
        task = db.next_task()
        propose(task, settings(server.url, budget=6000))
        roomy = server.calls[-1]["messages"]
        propose(task, settings(server.url, budget=1500))
        tight = server.calls[-1]["messages"]
    assert count_tokens("openai/test-model", roomy) > 1500 >= count_tokens("openai/test-model", tight)
    text = user_text({"messages": tight})
    assert "# Current program" in text and "# Task" in text  # never dropped
    assert "# Elites of other cells" not in text  # the least important went first
    db.close()

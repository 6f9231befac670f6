"""Salvaged answers through the whole mutator path: a loopback server answers off the format in
ways whose intent is clear, litellm carries the answers, `propose` reads them, the population
stores them, and `evolve show` counts the children each salvage rule gave."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from evolve.engine.population_actor import PopulationActor
from evolve.inspect.printing import print_summary
from evolve.inspect.summary import summary
from evolve.kinds import AnswerForm
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.sandbox.base import EvalOutcome
from evolve.store import RunConfig

from model_server import ModelServer, Reply, current_program


def settings(url: str) -> MutatorSettings:
    return MutatorSettings(
        problem=ProblemView("circle_packing", "Pack circles.", "python"),
        models=(ModelSpec(name="openai/test-model", api_base=url, backoff=0.01, max_attempts=1, price_in=1.0),),
        full_weight=0.0,
        max_retries=0,
    )


def place_centers(code: str, margin: str) -> str:
    start = code.index("def place_centers")
    return code[start : code.index("def radii_for")].replace("margin = 0.1\n", f"margin = {margin}\n").rstrip() + "\n"


def comment_outside(request: dict, index: int) -> Reply:
    """The whole program, its block changed and a comment added before a frozen function."""
    code = current_program(request).replace("margin = 0.1\n", "margin = 0.11\n")
    code = code.replace("def construct_packing", "# the packing, assembled\ndef construct_packing")
    return Reply(f"A wider margin.\n```python\n{code}```\n")


def one_function(request: dict, index: int) -> Reply:
    """Only the function it changed, without the block's markers."""
    return Reply(f"```python\n{place_centers(current_program(request), '0.12')}```\n")


def placeholder_search(request: dict, index: int) -> Reply:
    """Our old example's placeholder as the SEARCH, above a complete new version of the block."""
    code = current_program(request)
    new = code[code.index("def place_centers") : code.index("# EVOLVE-BLOCK-END")].replace(
        "margin = 0.1\n", "margin = 0.09\n"
    )
    return Reply(f"<<<<<<< SEARCH\ncode to find\n=======\n{new}>>>>>>> REPLACE\n")


def test_each_salvage_rule_makes_children_and_show_counts_them(tmp_path: Path, circle_packing):
    db = PopulationActor(
        f"sqlite:///{tmp_path / 'e.db'}", "r", circle_packing, RunConfig(), 1, "test", "llm", 10, False
    )
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={"min_radius": 0.05}, sandbox="t"))
    forms = []
    for script in (comment_outside, one_function, placeholder_search):
        with ModelServer(script) as server:
            proposal = propose(db.next_task(), settings(server.url))
        assert proposal.child_code is not None, proposal.reject_reason
        assert "# the packing, assembled" not in proposal.child_code  # the frozen text stays the parent's
        assert "def radii_for(centers):" in proposal.child_code  # the other definition kept
        forms.append(proposal.answer_form)
        db.submit_proposal(proposal)
    assert forms == [AnswerForm.FULL_PROGRAM_SALVAGED, AnswerForm.LOOSE_CODE_PLACED, AnswerForm.SEARCH_MISS_PLACED]

    run = summary(db.engine, db.run_id)
    (model,) = run.models
    assert model.form_children == {form.value: 1 for form in forms}
    out = io.StringIO()
    print_summary(Console(file=out, width=200), run, "sqlite://")
    assert "full_program_salvaged 1 (1)" in out.getvalue() and "search_miss_placed 1 (1)" in out.getvalue()
    db.close()

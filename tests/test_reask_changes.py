"""Re-asks that change something (issue 23, part 4): the reason first and the exact lines to copy,
a hotter and reseeded call, no re-ask after a repeated answer, a conversation bounded in size.
Through litellm's real HTTP path to the scripted loopback server; what the server received is
what is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from evolve.edit import NO_EDIT
from evolve.engine.population_actor import PopulationActor
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings, propose
from evolve.mutate.reask import (
    COPY_BYTES,
    ECHO_BYTES,
    REASON_BYTES,
    TEMPERATURE_CAP,
    blocks_text,
    closest_lines,
    lines_to_copy,
    reask_temperature,
)
from evolve.mutate.repeats import REPEAT_LIMIT, REPEATED, RepeatLedger, retries_for
from evolve.sandbox.base import EvalOutcome
from evolve.store import RunConfig

from model_server import ModelServer, Reply, current_program, is_retry, styled_answer


def open_db(tmp_path: Path, problem) -> PopulationActor:
    return PopulationActor(f"sqlite:///{tmp_path / 'e.db'}", "r", problem, RunConfig(), 1, "test", "llm", 10, False)


def first_task(db: PopulationActor):
    start = db.start()
    assert start.initial_ticket is not None
    db.submit_result(start.initial_ticket, EvalOutcome(ok=True, score=1.0, metrics={"min_radius": 0.05}, sandbox="t"))
    return db.next_task()


ALMOST = "    margin = 0.12\n    centers = []\n"  # the program says 0.1: a SEARCH that matches nothing
REAL = "    margin = 0.1\n    centers = []"


def near_miss(replace_with: str = "    margin = 0.11\n    centers = []\n") -> str:
    return f"Move the circles out a bit.\n<<<<<<< SEARCH\n{ALMOST}=======\n{replace_with}>>>>>>> REPLACE\n"


def settings_for(url: str, max_retries: int = 2, temperature: float = 0.7) -> MutatorSettings:
    from evolve.mutate.llm import ModelSpec

    return MutatorSettings(
        problem=ProblemView("circle_packing", "Pack circles.", "python"),
        models=(ModelSpec(name="openai/test-model", api_base=url, max_attempts=1, temperature=temperature),),
        full_weight=0.0,
        max_retries=max_retries,
    )


def reask_of(request: dict) -> str:
    return request["messages"][-1]["content"]


def test_the_reason_comes_first_then_the_real_closest_lines(tmp_path, circle_packing):
    def script(request: dict, index: int) -> Reply:
        return Reply(styled_answer(request, index, "search_replace") if is_retry(request) else near_miss())

    db = open_db(tmp_path, circle_packing)
    task = first_task(db)
    with ModelServer(script) as server:
        proposal = propose(task, settings_for(server.url))
        requests = list(server.calls)
    assert proposal.child_code is not None and len(requests) == 2
    reason = proposal.earlier_attempts[0].reject_reason
    assert reason.startswith("SEARCH block 1 matches nothing")
    text = reask_of(requests[1])
    assert text.startswith(f"Your answer could not be applied: {reason}")
    assert f"```\n{REAL}\n```" in text  # the parent's own lines, verbatim, in a fence
    assert REAL in task.parent.code and ALMOST.rstrip() not in task.parent.code
    db.close()


def test_an_edit_outside_the_blocks_is_shown_the_blocks_exact_text(tmp_path, circle_packing):
    def script(request: dict, index: int) -> Reply:
        code = current_program(request).replace("N = 26", f"N = {27 + index}")  # frozen code changed
        return Reply(f"```python\n{code}```\n")

    db = open_db(tmp_path, circle_packing)
    task = first_task(db)
    with ModelServer(script) as server:
        proposal = propose(task, settings_for(server.url, max_retries=1))
        requests = list(server.calls)
    assert len(requests) == 2 and "outside the EVOLVE-BLOCKs" in proposal.earlier_attempts[0].reject_reason
    text = reask_of(requests[1])
    assert text.startswith(f"Your answer could not be applied: {proposal.earlier_attempts[0].reject_reason}")
    body = blocks_text(task.parent.code)
    assert body in text and "def place_centers():\n" in body and "EVOLVE-BLOCK" not in body
    db.close()


def test_the_lines_to_copy_for_each_reason(circle_packing):
    parent = circle_packing.program_path.read_text()
    assert closest_lines(parent, "for r, count in enumerate(rows, 1):\n  y = margin") == (
        "    for r, count in enumerate(rows):\n        y = margin + r * (1 - 2 * margin) / (len(rows) - 1)"
    )
    assert (
        lines_to_copy(parent, "prose", NO_EDIT)
        == 'def place_centers():\n    """Centres on a staggered grid of 5 rows, inset from the walls."""\n    rows = [5, 6, 5, 5, 5]'
    )
    assert lines_to_copy(parent, "x", "the child is not valid Python: line 3: bad") == ""
    assert lines_to_copy(parent, near_miss(), "SEARCH block 2 matches nothing in the program") == ""  # no block 2


def test_each_re_ask_is_hotter_and_reseeded(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    with ModelServer(lambda request, index: Reply(near_miss(f"    margin = 0.1{index}\n"))) as server:
        proposal = propose(first_task(db), settings_for(server.url, max_retries=3))
        requests = list(server.calls)
    assert len(requests) == 4 and len(proposal.earlier_attempts) == 3  # each answer differs: no repeat
    temperatures = [r["temperature"] for r in requests]
    assert temperatures == [0.7, 1.0, TEMPERATURE_CAP, TEMPERATURE_CAP]
    seeds = [r["seed"] for r in requests]
    assert len(set(seeds)) == 4 and all(isinstance(s, int) for s in seeds)
    assert reask_temperature(1.5, 2) == 1.5  # a spec hotter than the cap keeps its own
    db.close()


def test_a_repeated_answer_stops_the_iteration_and_enough_of_them_stop_re_asks(tmp_path, circle_packing):
    db = open_db(tmp_path, circle_packing)
    task = first_task(db)
    with ModelServer(lambda request, index: Reply(near_miss() if index % 2 else near_miss().upper())) as server:
        settings = settings_for(server.url, max_retries=2)
        calls = []
        for _ in range(REPEAT_LIMIT + 1):
            before = len(server.calls)
            proposal = propose(task, settings)
            calls.append(len(server.calls) - before)
    # The same answer (case and spacing aside) given to a re-ask: no third call in the iteration.
    assert calls == [2] * REPEAT_LIMIT + [1]
    assert settings.repeats.counts == {"openai/test-model": REPEAT_LIMIT}
    assert proposal.reject_reason is not None and not proposal.reject_reason.startswith(REPEATED)
    db.close()


def test_the_repeat_policy():
    assert [retries_for(2, n, limit=2) for n in range(4)] == [2, 2, 0, 0]
    assert retries_for(3, 9, limit=0) == 3  # limit 0: never stop re-asking
    ledger = RepeatLedger(limit=1)
    assert ledger.retries("a", 2) == 2 and ledger.repeated("a") == 1
    assert (ledger.retries("a", 2), ledger.retries("b", 2)) == (0, 2)


def test_the_conversation_does_not_grow_with_each_re_ask(tmp_path, circle_packing):
    def script(request: dict, index: int) -> Reply:  # a different long rejected answer each time
        return Reply(near_miss() + f"\nWhy: {'the margin matters, ' * 120} take {index}.\n")

    db = open_db(tmp_path, circle_packing)
    with ModelServer(script) as server:
        propose(first_task(db), settings_for(server.url, max_retries=5))
        sizes = [len(json.dumps(r["messages"])) for r in server.calls]
    assert len(sizes) == 6
    tail = ECHO_BYTES + REASON_BYTES + COPY_BYTES + 2048  # + the re-ask's own words
    assert all(s <= sizes[0] + tail for s in sizes[1:]), sizes
    assert max(sizes[1:]) - min(sizes[1:]) < 200, sizes  # the fifth re-ask is as long as the first
    db.close()

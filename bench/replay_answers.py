"""Replay a run's real model answers through today's answer reader and re-ask policy (issue 23).

Reads every model call a run stored (`llm_calls`: prompt, answer, answer_form, reject_reason)
and its parent program (`programs`), and reads each answer again with `read_answer` as it is now,
offline: no model, no sandbox. Reports, per run and in all:
  - answers: how many the run rejected, and how many of those the reader now turns into a
    child, per answer form (each salvage rule is its own form); children the run had that the
    reader would now lose (should be none);
  - max_tokens: answers longer than a self-hosted model is now asked for
    (evolve/mutate/answer_length.py), read cut at that length, as the server would have cut them;
  - iterations, under the self-hosted re-ask policy (evolve/mutate/reask.py: one re-ask, only for
    a reason a re-ask fixes): the first answer's child, or the re-ask it would get. A re-ask's
    answer cannot be replayed (its prompt changed), so the run's own second answer stands in for
    it: an estimate, said so in the report.

Usage:
  python bench/replay_answers.py /tmp/yield-*/runs/yield/evolve.db [--json replay.json]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.edit import read_answer  # noqa: E402
from evolve.mutate.answer_length import answer_tokens  # noqa: E402
from evolve.mutate.reask import SELF_HOSTED_RETRIES, fixed_by_reask  # noqa: E402
from evolve.mutate.tokens import count_chat_tokens  # noqa: E402

WINDOW_ANSWER = 4096  # the runs' max_tokens, as fitted to the 8,192-token window (half of it)


@dataclass(frozen=True)
class Call:
    iteration: int
    attempt: int
    parent: str
    answer: str
    outcome: str
    form: str | None
    reason: str | None
    completion_tokens: int


@dataclass
class Replay:
    source: str
    problem: str
    calls: int = 0
    rejected: int = 0
    rescued: Counter = field(default_factory=Counter)  # rejected before, a child now: by form
    lost: int = 0  # a child before, none now
    over_cap: int = 0  # answers longer than the new max_tokens
    over_cap_children: int = 0  # ... that still give a child when cut there
    iterations: int = 0
    first_child: int = 0  # iterations whose first answer gives a child now
    reasked: int = 0  # iterations the policy re-asks
    reask_child: int = 0  # ... whose second answer (the run's, an estimate) gives a child now
    iteration_calls: int = 0  # calls the policy makes (first answers, and re-asks)
    old_children: int = 0  # iterations the run itself got a child from
    old_calls: int = 0
    still_rejected: Counter = field(default_factory=Counter)  # first answers with no child now: by reason

    def report(self) -> str:
        share = self.first_child + self.reask_child
        lines = [
            f"{self.problem} ({self.source}): {self.calls} answers, {self.rejected} rejected by the run",
            f"  rejected answers that now give a child: {sum(self.rescued.values())}"
            + "".join(f"; {form} {n}" for form, n in self.rescued.most_common()),
            f"  children the run had that are now lost: {self.lost}",
            f"  answers over the sized max_tokens: {self.over_cap} ({self.over_cap_children} still a child, read cut)",
            f"  iterations {self.iterations}: the run got a child in {self.old_children} with {self.old_calls} calls "
            f"({self.old_calls / max(self.iterations, 1):.2f}/iteration)",
            f"  now: first answer a child in {self.first_child}; re-asked {self.reasked}, the run's second answer a "
            f"child in {self.reask_child} (estimate); {share} of {self.iterations} "
            f"({share / max(self.iterations, 1):.0%}) with {self.iteration_calls} calls "
            f"({self.iteration_calls / max(self.iterations, 1):.2f}/iteration)",
        ]
        lines += [f"    still no child: {n} x {reason}" for reason, n in self.still_rejected.most_common(8)]
        return "\n".join(lines)


def _calls(db: Path) -> tuple[str, list[Call]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        problem = connection.execute("select problem from runs").fetchone()[0]
        rows = connection.execute(
            "select c.iteration, coalesce(c.attempt, 1), p.code, c.answer, c.outcome, c.answer_form, "
            "c.reject_reason, c.completion_tokens from llm_calls c join programs p on p.id = c.parent_id "
            "where c.answer is not null and c.mutation not in ('judge', 'error') order by c.iteration, c.attempt"
        ).fetchall()
    finally:
        connection.close()
    return problem, [Call(*row) for row in rows]


def _short(reason: str) -> str:
    """A reason without its quoted specifics, so alike reasons count together."""
    return reason.split(":")[0][:90]


def _cut(call: Call) -> tuple[str, bool]:
    """The answer as a self-hosted model now writes it: cut at its sized max_tokens (by the share of
    characters), and whether it was."""
    program = count_chat_tokens([{"role": "user", "content": call.parent}])
    cap = answer_tokens(program, WINDOW_ANSWER)
    if call.completion_tokens < cap:
        return call.answer, False
    return call.answer[: len(call.answer) * cap // call.completion_tokens], True


def replay(db: Path) -> Replay:
    problem, calls = _calls(db)
    result = Replay(str(db), problem)
    by_iteration: dict[int, list[Call]] = {}
    for call in calls:
        by_iteration.setdefault(call.iteration, []).append(call)
        result.calls += 1
        reading = read_answer(call.parent, call.answer, "python")
        if call.outcome == "rejected":
            result.rejected += 1
            if reading.ok:
                result.rescued[str(reading.form)] += 1
        elif call.outcome in ("child", "duplicate", "near_duplicate") and not reading.ok:
            result.lost += 1
        answer, _ = _cut(call)
        if answer != call.answer:
            result.over_cap += 1
            result.over_cap_children += read_answer(call.parent, answer, "python").ok
    for iteration in by_iteration.values():
        _replay_iteration(iteration, result)
    return result


def _replay_iteration(calls: list[Call], result: Replay) -> None:
    result.iterations += 1
    result.old_calls += len(calls)
    result.old_children += any(c.outcome == "child" for c in calls)
    answer, cut = _cut(calls[0])
    first = read_answer(calls[0].parent, answer, "python")
    result.iteration_calls += 1
    if first.ok:
        result.first_child += 1
        return
    reason = first.reason or ""
    result.still_rejected[_short(reason)] += 1
    if SELF_HOSTED_RETRIES and fixed_by_reask(reason, cut):
        result.reasked += 1
        result.iteration_calls += 1
        if len(calls) > 1:  # the run's own re-ask answer stands in for the one this re-ask would get
            second, _ = _cut(calls[1])
            result.reask_child += read_answer(calls[1].parent, second, "python").ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("databases", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    replays = [replay(db) for db in args.databases]
    for r in replays:
        print(r.report())
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in replays], indent=1))


if __name__ == "__main__":
    main()

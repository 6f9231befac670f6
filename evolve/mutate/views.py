"""What a prompt shows of a program: a plain frozen value, built by the population actor and
carried to the mutator (in the task's parent, inspirations and memory), rendered by the prompts.

A module of its own so that the memory (which holds programs) and the prompt renderer (which
shows them and the memory) both depend on it, not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evolve.kinds import PRIVATE_PREFIX


@dataclass(frozen=True)
class ProgramView:
    """What a prompt shows of a program."""

    id: int
    code: str
    score: float | None  # None: not evaluated yet (a new run's first prompts, evolve/engine/first_proposals.py)
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    code_blocks: str = ""  # only the EVOLVE-BLOCK bodies, to keep inspirations short
    idea: str = ""  # what the model said it would do when it made this program
    cell: tuple[int, ...] = ()  # its MAP-Elites cell (empty: not evaluated, or not known)

    def __post_init__(self) -> None:
        # Private metrics (problem.toml's evaluator said so) are stored and reported, never prompted.
        if any(key.startswith(PRIVATE_PREFIX) for key in self.metrics):
            shown = {k: v for k, v in self.metrics.items() if not k.startswith(PRIVATE_PREFIX)}
            object.__setattr__(self, "metrics", shown)

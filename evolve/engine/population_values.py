"""The plain values a population actor hands out (through Ray, to the driver and the coordinator):
what an admission decided, how a shard starts, a program migrating to another shard; and the code
hash that makes two programs the same child."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from evolve.edit import canonical_form
from evolve.engine.options import Progress
from evolve.engine.tickets import EvalTicket
from evolve.population import Member, SelectionPolicy
from evolve.problem import ProblemConfig
from evolve.search.judge import JudgeRequest


def code_hash(code: str, language: str = "text") -> str:
    """Equal for programs that differ only in what `canonical_form` ignores (comments, layout)."""
    return hashlib.sha256(canonical_form(code, language).encode()).hexdigest()


@dataclass(frozen=True)
class Admission:
    ticket: EvalTicket | None
    progress: Progress
    judge: JudgeRequest | None = None  # a near-duplicate the novelty judge decides on: nothing stored yet


@dataclass(frozen=True)
class StartInfo:
    initial_ticket: EvalTicket | None  # the initial program, when it still needs an evaluation
    progress: Progress


@dataclass(frozen=True)
class ShardStart:
    info: StartInfo
    next_iteration: int  # one past the highest iteration this shard found in the store


@dataclass(frozen=True)
class Emigrant:
    """A program leaving island `src` for island `dst` (ring migration), as the receiving shard,
    which has never seen it, needs it."""

    src: int
    dst: int
    member: Member


def selection_policy(config: ProblemConfig) -> SelectionPolicy:
    """How the islands pick parents, from problem.toml's [population] and [objectives]."""
    pop = config.population
    return SelectionPolicy(
        pop.exploration, pop.exploitation, pop.elite_pool, pop.inspirations, pop.front_size, config.objective_list()
    )

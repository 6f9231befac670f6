"""The adaptive part of a run's search, in memory: which model and which mutation kind each iteration
gets, what each pull earned, which models rest, which failures await repair.

The population actor owns one `AdaptiveSearch`. It asks `plan` for each new task, tells
`proposal_ended` what the model call led to and `evaluated` what the child scored; a resumed run
replays its stored iterations through `replay`. Two bandits share every observation: one over the
models, one over the kinds (a factored choice: a model's value does not depend on the kind here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from evolve.kinds import Mutation
from evolve.population import Member, Population
from evolve.search.bandit import ArmStats, Bandit
from evolve.search.fallback import ModelRest
from evolve.search.repair import Broken, RepairQueue
from evolve.search.strategy import Strategy

KINDS = (Mutation.DIFF, Mutation.FULL, Mutation.CROSSOVER, Mutation.FIX)


@dataclass(frozen=True)
class SearchSettings:
    """What `[mutation]`, `[bandit]`, `[[models]]` and `--strategy` ask of the search."""

    models: tuple[tuple[str, float], ...] = ()  # (name, weight); empty: the offline mutator
    kinds: tuple[tuple[str, float], ...] = ((Mutation.DIFF, 0.7), (Mutation.FULL, 0.3))
    adaptive: bool = True  # the bandit; False: static weights
    prior_pulls: float = 4.0
    cost_weight: float = 1.0
    rest_after: int = 3
    rest_iterations: int = 8
    strategy: Strategy = Strategy.EVOLVE

    @classmethod
    def from_config(cls, config, models: tuple[tuple[str, float], ...], strategy: str) -> SearchSettings:
        """From a ProblemConfig (as validated) and the run's resolved models."""
        strategy = Strategy(strategy)
        m, b = config.mutation, config.bandit
        kinds = [(Mutation.DIFF, m.diff), (Mutation.FULL, m.full)]
        if strategy.uses_population:  # a baseline has no second parent and no failures to repair
            kinds += [(Mutation.CROSSOVER, m.crossover), (Mutation.FIX, m.fix)]
        if not any(w > 0 for _, w in kinds):
            kinds = [(Mutation.DIFF, 1.0)]
        return cls(
            models=models if strategy.uses_models else (),
            kinds=tuple(kinds),
            adaptive=b.enabled and strategy.uses_population,
            prior_pulls=b.prior_pulls,
            cost_weight=b.cost_weight,
            rest_after=b.rest_after,
            rest_iterations=b.rest_iterations,
            strategy=strategy,
        )


@dataclass(frozen=True)
class Plan:
    """What one task asks of the mutator; None fields leave the choice to it (the offline mutator)."""

    model: str | None = None
    kind: str | None = None
    second_parent: Member | None = None  # crossover
    repair: Broken | None = None  # fix: the failed program and its error


@dataclass(frozen=True)
class Pull:
    model: str | None
    kind: str | None
    baseline: float | None  # the score the child must beat to earn a reward
    cost: float = 0.0


@dataclass
class AdaptiveSearch:
    settings: SearchSettings
    islands: int
    rest: ModelRest = field(init=False)
    repairs: RepairQueue = field(init=False)
    model_bandit: Bandit | None = field(init=False)
    kind_bandit: Bandit | None = field(init=False)
    pulls: dict[int, Pull] = field(default_factory=dict)  # by iteration, until its reward is known
    latest_iteration: int = 0

    def __post_init__(self) -> None:
        s = self.settings
        self.rest = ModelRest(s.rest_after, s.rest_iterations)
        self.repairs = RepairQueue(self.islands)
        bandit = dict(prior_pulls=s.prior_pulls, cost_weight=s.cost_weight, adaptive=s.adaptive)
        self.model_bandit = Bandit(dict(s.models), **bandit) if s.models else None  # type: ignore[arg-type]
        self.kind_bandit = Bandit(dict(s.kinds), **bandit) if s.models else None  # type: ignore[arg-type]

    @property
    def offline(self) -> bool:
        return self.model_bandit is None

    # ---- choosing ---------------------------------------------------------------------

    def plan(self, iteration: int, island: int, parent: Member, population: Population, rng: random.Random) -> Plan:
        self.latest_iteration = max(self.latest_iteration, iteration)
        if self.model_bandit is None or self.kind_bandit is None:
            self.pulls[iteration] = Pull(None, None, parent.score)
            return Plan()
        second = population.second_parent(island, parent, rng) if self._weight(Mutation.CROSSOVER) else None
        available = [Mutation.DIFF, Mutation.FULL]
        if second is not None:
            available.append(Mutation.CROSSOVER)
        if self.repairs.available(island):
            available.append(Mutation.FIX)
        weighted = [k for k in available if self._weight(k)]
        kind = self.kind_bandit.choose(rng, weighted) if weighted else Mutation.DIFF  # every weight 0: still a diff
        names = [name for name, _ in self.settings.models]
        model = self.model_bandit.choose(rng, self.rest.available(names, iteration))
        baseline: float | None = parent.score
        plan = Plan(model, kind)
        if kind == Mutation.CROSSOVER and second is not None:
            plan = replace(plan, second_parent=second)
            baseline = max(parent.score, second.score)
        elif kind == Mutation.FIX:
            broken = self.repairs.take(island)
            plan = replace(plan, repair=broken)
            baseline = broken.parent_score if broken is not None else parent.score
        self.pulls[iteration] = Pull(model, kind, baseline)
        return plan

    def _weight(self, kind: str) -> float:
        return dict(self.settings.kinds).get(kind, 0.0)

    # ---- learning -----------------------------------------------------------------------

    def proposal_ended(
        self, iteration: int, model: str, kind: str, cost: float, call_failed: bool, has_child: bool
    ) -> None:
        """The iteration's model calls are over: a failed call rests its model after a streak; an
        iteration with no child is a pull that earned nothing."""
        pull = self.pulls.get(iteration) or Pull(model, kind, None)
        pull = replace(pull, model=model, kind=kind, cost=cost)
        if model in dict(self.settings.models):
            self.rest.record(model, call_failed, iteration, self.latest_iteration)
        if has_child:
            self.pulls[iteration] = pull
        else:
            self.pulls.pop(iteration, None)
            self._observe(pull, 0.0)

    def evaluated(self, iteration: int, score: float | None) -> None:
        """The child of `iteration` was evaluated; `score` None when it failed."""
        pull = self.pulls.pop(iteration, None)
        if pull is None:
            return
        gain = 0.0
        if score is not None and pull.baseline is not None:
            gain = score - pull.baseline
        self._observe(pull, gain)

    def _observe(self, pull: Pull, gain: float) -> None:
        if self.model_bandit is not None and pull.model in self.model_bandit.weights:
            self.model_bandit.observe(pull.model, gain, pull.cost)
        if self.kind_bandit is not None and pull.kind in self.kind_bandit.weights:
            self.kind_bandit.observe(pull.kind, gain, pull.cost)

    def replay(self, model: str, kind: str, cost: float, gain: float, call_failed: bool, iteration: int) -> None:
        """A stored, finished iteration of a resumed run (in the order of its calls)."""
        self.latest_iteration = max(self.latest_iteration, iteration)
        if model in dict(self.settings.models):
            self.rest.record(model, call_failed, iteration, self.latest_iteration)
        self._observe(Pull(model, kind, None, cost), gain)


def arm_stats(
    pulls: list, models: dict[str, float], kinds: dict[str, float], prior_pulls: float = 4.0, cost_weight: float = 1.0
) -> dict[str, list[ArmStats]]:
    """Each bandit's arms as a run's stored pulls (`evolve.store.pulls.StoredPull`) left them: what
    `evolve show` and the report print. None for a run of the offline mutator."""
    if not models:
        return {}
    bandits = {
        "model": Bandit(dict(models), prior_pulls, cost_weight),
        "kind": Bandit({k: w for k, w in kinds.items() if w > 0} or {Mutation.DIFF: 1.0}, prior_pulls, cost_weight),
    }
    for pull in pulls:
        if not pull.finished:
            continue
        if pull.model in bandits["model"].weights:
            bandits["model"].observe(pull.model, pull.gain, pull.cost)
        if pull.kind in bandits["kind"].weights:
            bandits["kind"].observe(pull.kind, pull.gain, pull.cost)
    return {name: b.stats() for name, b in bandits.items()}

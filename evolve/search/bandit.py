"""Thompson sampling over arms (the models, or the mutation kinds), rewarded by improvement per dollar.

The reward of one pull is asymmetric, as in ShinkaEvolve's AsymmetricUCB
(shinka/llm/prioritization.py): only gains count. A child that beats its baseline (its parent; the
better of a crossover's two parents; for a fix, the parent of the failed program) earns
`0.5 + 0.5 * gain / largest_gain`, where `largest_gain` is the largest gain any pull of this bandit
has made so far; anything else (a failed evaluation, no gain, a rejected edit, a near-duplicate, a
failed call) earns 0. So an improvement earns at least 0.5 however small, and one outlier cannot
flatten every later reward to zero. Because the sums over an arm's pulls are linear in the gains,
the state is a few sums per arm, independent of the order the results came in: a resumed run
rebuilds exactly the same bandit from the store.

Cost enters at the choice: each arm's sampled reward is multiplied by its cheapness,
`((reference + floor) / (mean_cost + floor)) ** cost_weight`, where `reference` is the median of the
arms' mean cost per pull (ShinkaEvolve's cost_ref_percentile = 50) and `floor` is a tenth of the
dearest arm's mean, so a free arm is at most about ten times as attractive as a paid one. With
`cost_weight = 1` the choice maximises improvement per dollar; with 0 it ignores cost.

Priors: the configured weights set each arm's prior mean reward (the heaviest arm 0.5, the others
in proportion), worth `prior_pulls` observations; so the first choices follow the weights and the
evidence takes over after a few tens of pulls. Thompson sampling (rather than UCB1) because a run
launches several tasks before any result is back: sampling spreads them over the arms, where UCB1
would send them all to the same one.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

PRIOR_MEAN = 0.5  # the heaviest arm's prior mean reward
IMPROVEMENT_FLOOR = 0.5  # what any improvement earns at least


@dataclass(frozen=True)
class ArmStats:
    """What `evolve show` prints for an arm."""

    arm: str
    pulls: int
    improved: int
    mean_reward: float
    cost: float  # USD over all its pulls
    weight: float  # its configured prior weight


@dataclass
class _Sums:
    pulls: int = 0
    improved: int = 0
    gain: float = 0.0  # sum of the gains of the pulls that improved
    cost: float = 0.0


@dataclass
class Bandit:
    """Arms with prior weights; `observe` a finished pull, `choose` the next arm."""

    weights: dict[str, float]
    prior_pulls: float = 4.0
    cost_weight: float = 1.0
    adaptive: bool = True  # False: always the static weights (the sums are still kept, for the report)
    sums: dict[str, _Sums] = field(default_factory=dict)
    largest_gain: float = 0.0

    def __post_init__(self) -> None:
        if not self.weights or any(w < 0 for w in self.weights.values()):
            raise ValueError("a bandit needs arms with weights >= 0")
        for arm in self.weights:
            self.sums.setdefault(arm, _Sums())

    def observe(self, arm: str, gain: float, cost: float) -> None:
        """A finished pull: `gain` is the child's score minus its baseline (anything <= 0 and every
        failure count as no gain), `cost` the USD its calls cost."""
        s = self.sums.setdefault(arm, _Sums())
        s.pulls += 1
        s.cost += max(0.0, cost)
        if gain > 0 and gain == gain:  # NaN is no gain
            s.improved += 1
            s.gain += gain
            self.largest_gain = max(self.largest_gain, gain)

    def reward_sum(self, arm: str) -> float:
        s = self.sums[arm]
        if s.improved == 0:
            return 0.0
        share = s.gain / self.largest_gain if self.largest_gain > 0 else 1.0
        return IMPROVEMENT_FLOOR * s.improved + (1.0 - IMPROVEMENT_FLOOR) * share

    def mean_reward(self, arm: str) -> float:
        s = self.sums[arm]
        return self.reward_sum(arm) / s.pulls if s.pulls else 0.0

    def prior(self, arm: str) -> tuple[float, float]:
        """The Beta prior (alpha, beta) of an arm, from its weight."""
        heaviest = max(self.weights.values()) or 1.0
        mean = PRIOR_MEAN * self.weights.get(arm, 0.0) / heaviest
        mean = min(max(mean, 1e-3), 1.0 - 1e-3)
        return self.prior_pulls * mean, self.prior_pulls * (1.0 - mean)

    def cheapness(self, arms: Iterable[str]) -> dict[str, float]:
        arms = list(arms)
        means = {a: self.sums[a].cost / self.sums[a].pulls for a in arms if self.sums[a].pulls}
        paid = [c for c in means.values() if c > 0]
        if not paid or self.cost_weight == 0:
            return dict.fromkeys(arms, 1.0)
        reference = statistics.median(means.values())
        floor = 0.1 * max(paid)
        # An arm not pulled yet is priced at the reference: neither favoured nor shunned.
        return {a: ((reference + floor) / (means.get(a, reference) + floor)) ** self.cost_weight for a in arms}

    def choose(self, rng: random.Random, available: Iterable[str] | None = None) -> str:
        """The arm to pull next, among `available` (default all) arms with a positive weight."""
        arms = [a for a in (available if available is not None else self.weights) if self.weights.get(a, 0) > 0]
        if not arms:
            raise LookupError("no arm available")
        if len(arms) == 1:
            return arms[0]
        if not self.adaptive:
            return rng.choices(arms, weights=[self.weights[a] for a in arms], k=1)[0]
        cheap = self.cheapness(arms)
        best, best_value = arms[0], -1.0
        for arm in arms:
            a0, b0 = self.prior(arm)
            r, n = self.reward_sum(arm), self.sums[arm].pulls
            value = rng.betavariate(a0 + r, b0 + n - r) * cheap[arm]
            if value > best_value:
                best, best_value = arm, value
        return best

    def stats(self) -> list[ArmStats]:
        return [
            ArmStats(arm, s.pulls, s.improved, self.mean_reward(arm), s.cost, self.weights.get(arm, 0.0))
            for arm, s in self.sums.items()
        ]

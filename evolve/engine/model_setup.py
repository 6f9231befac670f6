"""The run's model side, made ready before Ray starts: prices checked (--max-cost), each model's
answer and the prompt budget fitted into the windows its servers report, the mutator's settings
and its threads. None of it needs Ray, so a new run can send its first proposals
(evolve/engine/first_proposals.py) while Ray and the population start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from evolve.engine.mutators import LocalMutators
from evolve.engine.options import RunOptions
from evolve.engine.pricing import check_prices, spending_for
from evolve.mutate.judge_call import judge_spec
from evolve.mutate.llm import ModelSpec
from evolve.mutate.prompt import ProblemView
from evolve.mutate.propose import MutatorSettings
from evolve.mutate.window import fit_run_models
from evolve.problem import Problem
from evolve.search.strategy import Strategy


@dataclass(frozen=True)
class ModelSetup:
    """The run's models as fitted, the prompt's token budget, and the threads that call them."""

    models: tuple[ModelSpec, ...]
    token_budget: int
    settings: MutatorSettings
    mutators: LocalMutators


def prepare_models(problem: Problem, options: RunOptions, models: tuple[ModelSpec, ...]) -> ModelSetup:
    """`models`: the run's (evolve/engine/run.py's resolve_models; empty for the offline mutator).
    Raises OptionError when --max-cost cannot price one of them."""
    if options.max_cost is not None:
        check_prices(models, options.max_cost, problem.root / "problem.toml")
    # Each model's answer and the run's prompt budget fitted into the windows its servers report.
    fitted, token_budget = fit_run_models(models, problem.config.prompt.token_budget, options.llm_concurrency)
    settings = mutator_settings(problem, options, fitted, token_budget)
    return ModelSetup(fitted, token_budget, settings, LocalMutators(settings, options.llm_concurrency))


def mutator_settings(
    problem: Problem, options: RunOptions, models: tuple[ModelSpec, ...], token_budget: int
) -> MutatorSettings:
    """What the model calls' threads are set up with: the problem, the models, the prompt's limits
    (`token_budget`: the problem's, fitted into the models' windows)."""
    novelty = problem.config.novelty
    return MutatorSettings(
        problem=ProblemView(
            problem.name,
            problem.config.description,
            problem.language,
            str(problem.prompts_dir) if problem.prompts_dir else None,
            problem.config.objective_list(),
        ),
        models=models,
        diff_weight=problem.config.mutation.diff,
        full_weight=problem.config.mutation.full,
        max_retries=problem.config.mutation.max_retries,
        max_answer_kb=problem.config.mutation.max_answer_kb,
        embedding_model=novelty.embedding_model if novelty.enabled and options.strategy == Strategy.EVOLVE else None,
        embedding_api_base=novelty.api_base,
        judge=judge_spec(novelty.judge, models, novelty.api_base),
        deadline=time.time() + options.max_seconds if options.max_seconds is not None else None,
        token_budget=token_budget,
        spending=spending_for(models, options.max_cost, token_budget),
    )

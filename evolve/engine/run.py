"""One evolution run on Ray: start or resume it, hand it to the driver's loop, score the best on
held-out data, write its outputs. The loop itself is `evolve.engine.driver`; the population actor
owns all state and the store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from evolve.diskfull import filled, stopped_on_full_disk
from evolve.engine.cluster import (
    alive_nodes,
    closest_node,
    describe,
    evaluation_needs,
    evaluation_slots,
    first_line,
    slots_on,
)
from evolve.engine.driver import Driver
from evolve.engine.first_proposals import FirstCall, send_first
from evolve.engine.interrupt import InterruptFlag
from evolve.engine.leftovers import clear_unstarted, unstarted
from evolve.engine.local_ray import start_ray, stop_local_ray  # noqa: F401  (stop_local_ray: the CLI's)
from evolve.engine.model_setup import ModelSetup, prepare_models
from evolve.engine.mutators import needs_litellm, warm_up
from evolve.engine.options import Progress, RunOptions
from evolve.engine.outputs import write_outputs
from evolve.engine.preflight import (
    RunLock,
    check_options,
    check_ray_address,
    check_run_name,
    check_store,
    new_run_folder,
)
from evolve.engine.repeat import repeat_best
from evolve.engine.resume import load_run_for_resume
from evolve.errors import EvolveError, InfrastructureError, RunError
from evolve.kinds import RunStatus, StopKind
from evolve.logs import log_to_file, milestone, run_log_path
from evolve.mutate.llm import ModelSpec
from evolve.mutate.offline import OFFLINE_MUTATOR
from evolve.problem import PopulationConfig, Problem
from evolve.sandbox.base import SandboxKind
from evolve.sandbox.template import evaluation_template
from evolve.search.strategy import Strategy
from evolve.stop_reason import StopReason
from evolve.store import BestProgram, RunConfig, sqlite_url

PROVIDER_DEFAULTS = {  # a key in the environment and no model named: use this one
    "OPENAI_API_KEY": "openai/gpt-4o-mini",
    "ANTHROPIC_API_KEY": "anthropic/claude-3-5-haiku-latest",
    "GEMINI_API_KEY": "gemini/gemini-2.0-flash",
    "DEEPSEEK_API_KEY": "deepseek/deepseek-chat",
}

log = logging.getLogger(__name__)
__all__ = ["RunError", "RunResult", "evolve_run", "load_run_for_resume"]


@dataclass(frozen=True)
class RunResult:
    run_name: str
    run_dir: Path
    db_url: str
    stop_reason: StopReason  # str() of it: its words
    progress: Progress
    best: BestProgram | None
    seconds: float

    @property
    def status(self) -> RunStatus:
        return self.stop_reason.status


@dataclass(frozen=True)
class RunContext:
    """A started run, as `_drive` takes it: what it is, where it is stored, and the parts it runs on."""

    problem: Problem
    options: RunOptions
    run_name: str
    run_dir: Path
    db_url: str
    driver: Driver
    db: Any  # the population (evolve/engine/sharded_population.py)
    mutators: Any  # the model calls' threads (evolve/engine/mutators.py)
    sandbox_options: dict
    mutator: str  # how the run mutates, as stored ("offline", "llm: ...")


def resolve_models(problem: Problem, options: RunOptions) -> tuple[ModelSpec, ...]:
    """The run's models: the CLI's, else problem.toml's, else the provider whose key is set; the
    CLI's --model-timeout and --model-retries apply to all of them."""
    if options.models:
        specs = list(options.models)
    elif problem.config.models and not peer_models_unusable(problem):
        where = f"{problem.origin} [[models]]"
        specs = [ModelSpec.from_mapping(m.model_dump(), where) for m in problem.config.models]
    else:
        specs = [ModelSpec(model) for key, model in PROVIDER_DEFAULTS.items() if os.environ.get(key)][:1]
    changes: dict[str, Any] = {}
    if options.model_timeout is not None:
        changes["timeout"] = options.model_timeout
    if options.model_retries is not None:
        changes["max_attempts"] = options.model_retries + 1
    return tuple(replace(spec, **changes) for spec in specs)


def peer_models_unusable(problem: Problem) -> bool:
    """A peer folder's models (its config's) are remote services that need a key: with no
    provider key in the environment, the run goes offline rather than have every call refused.
    Models on this machine (a loopback api_base) need none."""
    if problem.origin == "problem.toml" or any(
        os.environ.get(key) for key in (*PROVIDER_DEFAULTS, "OPENROUTER_API_KEY")
    ):
        return False
    local = ("http://localhost", "http://127.", "http://[::1]", "https://localhost", "https://127.")
    return not all(m.api_base and m.api_base.startswith(local) for m in problem.config.models)


def describe_mutator(models: tuple[ModelSpec, ...]) -> str:
    if not models:
        return OFFLINE_MUTATOR
    return "llm: " + ", ".join(f"{m.name} (w={m.weight:g})" for m in models)


def check_resources(problem: Problem) -> int:
    """Refuse now, not at the first candidate, when no single node can run one evaluation; returns
    how many evaluations the cluster runs at once."""
    ev = problem.config.evaluation
    needs = evaluation_needs(ev.cpus, ev.gpus, ev.resources)
    nodes = alive_nodes()
    if not any(slots_on(node, needs) for node in nodes):
        closest = closest_node(nodes, needs) or {}
        asked = ", ".join(f"evaluation.{_setting(name)} = {amount:g}" for name, amount in needs.items())
        raise RunError(
            f"{problem.root / 'problem.toml'}: no node of this Ray cluster can run one evaluation ({asked}); "
            f"the closest has {describe(closest, list(needs))} (start a node that has it, or use --ray-address)"
        )
    return evaluation_slots(nodes, needs)


def _setting(resource: str) -> str:
    return {"CPU": "cpus", "GPU": "gpus"}.get(resource, f"resources.{resource}")


def open_population(config: PopulationConfig, make_shard: Callable[[Any], Any]) -> Any:
    """The run's population over its shard actors, the run opened (or reopened) in the store; a
    shard's constructor error comes out as what it is (a RunError, say), not as Ray's wrapper."""
    import ray

    from evolve.engine.sharded_population import ShardedPopulation

    try:
        return ShardedPopulation.open(config, make_shard)
    except ray.exceptions.RayActorError as exc:  # a shard's constructor raised
        cause = getattr(exc, "cause", None) or exc
        if isinstance(cause, EvolveError):
            raise cause from None
        raise RunError(f"the run's store did not open: {first_line(exc)}") from None


def new_run_name(problem: Problem) -> str:
    return f"{problem.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def evolve_run(
    problem: Problem,
    options: RunOptions,
    *,
    runs_root: Path = Path("runs"),
    run_name: str | None = None,
    db_url: str | None = None,
    ray_address: str | None = None,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[str, RunOptions], None] | None = None,
) -> RunResult:
    """Start (or resume) a run, drive it to a stop, score the best on held-out data, write outputs."""

    check_options(options)
    models = resolve_models(problem, options) if options.strategy != Strategy.RANDOM else ()
    if needs_litellm(models, problem.config.novelty.enabled and bool(problem.config.novelty.embedding_model)):
        warm_up()  # litellm's imports (seconds) run on a thread while Ray starts
    if run_name is not None:
        check_run_name(run_name)
    check_ray_address(ray_address)
    run_name = run_name or new_run_name(problem)
    run_dir = runs_root / run_name
    lock = RunLock(run_dir)
    early: EarlyStart | None = None
    with new_run_folder(run_dir):  # a start that fails leaves no folder behind
        lock.acquire()
        try:
            db_url = db_url or sqlite_url(run_dir)
            leftover = not resume and unstarted(run_dir)  # a start killed before its first commit
            check_store(db_url, run_name, resume)
            if leftover:  # and the name is free in the database: clear what that start left
                clear_unstarted(run_dir)
            milestone("store checked")
            early = _early_start(problem, options, models, resume)
            start_ray(ray_address)
            milestone("ray started")
            slots = check_resources(problem)
            if options.eval_workers is None:
                options = replace(options, eval_workers=slots)
            log_path = run_log_path(run_dir)
            log_to_file(log_path)
            context = _start(
                problem, options, run_name, run_dir, db_url, resume, log_path, early, on_progress, on_start
            )
        except BaseException:
            if early is not None:
                early.abandon()
            lock.release()
            raise
    try:
        return _drive(context)
    finally:
        lock.release()


@dataclass(frozen=True)
class EarlyStart:
    """What a run starts before Ray: its models made ready, a new run's first proposals under
    way (evolve/engine/first_proposals.py), and, while those are, the Ctrl-C flag the loop goes on with."""

    setup: ModelSetup
    first: tuple[FirstCall, ...]
    interrupt: InterruptFlag | None

    def abandon(self) -> None:
        """A start that failed: drop the calls not yet made, give Ctrl-C back."""
        self.setup.mutators.close()
        if self.interrupt is not None:
            self.interrupt.restore()


def _early_start(problem: Problem, options: RunOptions, models: tuple[ModelSpec, ...], resume: bool) -> EarlyStart:
    setup = prepare_models(problem, options, models)
    milestone("models ready")
    if resume or not setup.models:  # a resumed run has its population; the offline mutator calls nothing
        return EarlyStart(setup, (), None)
    # From the first call on, a first Ctrl-C lets the start finish and the run take in the answers paid for.
    interrupt = InterruptFlag()
    count = min(options.llm_concurrency, options.iterations)
    first = send_first(problem, setup.mutators.propose, count, options.seed, setup.settings)
    return EarlyStart(setup, first, interrupt)


def _start(
    problem: Problem,
    options: RunOptions,
    run_name: str,
    run_dir: Path,
    db_url: str,
    resume: bool,
    log_path: Path,
    early: EarlyStart,
    on_progress: Callable[[Progress], None] | None,
    on_start: Callable[[str, RunOptions], None] | None,
) -> RunContext:
    """The run's actors and its driver, the run row opened (or reopened on resume)."""
    import ray

    from evolve.engine.shipping import ship
    from evolve.engine.tickets import EvalTicket
    from evolve.engine.workers import remote_evaluator

    models, settings = early.setup.models, early.setup.settings
    mutator = describe_mutator(models)
    if on_start:
        on_start(mutator, options)
    template = evaluation_template(problem, options.sandbox)
    milestone("evaluation template ready (image checked)")
    # The problem folder travels through Ray: a node that never saw it evaluates its own copy.
    shipped = ship(problem.root)
    sandbox_options = _sandbox_options(options, run_name)
    ev = problem.config.evaluation
    make_shard = _shard_maker(problem, options, run_name, db_url, resume, mutator, models)
    evaluate = remote_evaluator(ev.cpus, ev.gpus, ev.resources)
    sandbox_args = (options.sandbox, sandbox_options, str(log_path), shipped)
    # A new run's initial program is evaluated while the population's actors start (seconds each).
    initial = None if resume else evaluate.remote(EvalTicket(0, problem.initial_code, 0, 0), template, *sandbox_args)
    try:
        db = open_population(problem.config.population, make_shard)
    except BaseException:
        if initial is not None:
            ray.cancel(initial)
        _cleanup_sandbox(options.sandbox, sandbox_options.get("run"))
        raise
    driver = Driver(
        db,
        early.setup.mutators,
        evaluate,
        template,
        sandbox_args,
        options,
        on_progress,
        insight_interval=problem.config.prompt.insight_interval if models else 0,  # the offline mutator writes none
        needs=evaluation_needs(ev.cpus, ev.gpus, ev.resources),
        spending=settings.spending,
        interrupt=early.interrupt,
        deadline=settings.deadline,
    )
    driver.open(early_initial=initial, first_calls=early.first)
    milestone("population actor opened the run")
    return RunContext(
        problem, options, run_name, run_dir, db_url, driver, db, early.setup.mutators, sandbox_options, mutator
    )


def _sandbox_options(options: RunOptions, run_name: str) -> dict:
    sandbox_options = dict(options.sandbox_options)
    if options.sandbox == SandboxKind.DOCKER:
        sandbox_options["run"] = f"{run_name}-{os.getpid()}"  # so the end of the run removes its pools
        # Each Ray worker evaluates one candidate at a time: one container waiting is enough.
        sandbox_options.setdefault("pool_size", 1)
    return sandbox_options


def _shard_maker(
    problem: Problem,
    options: RunOptions,
    run_name: str,
    db_url: str,
    resume: bool,
    mutator: str,
    models: tuple[ModelSpec, ...],
) -> Callable[[Any], Any]:
    """How one population shard's actor is started (open_population starts one per shard)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from evolve.engine.population_actor import PopulationActor
    from evolve.population.shard_spec import ShardSpec

    run_config = RunConfig(problem=problem.config.model_dump(), options=options, models=models)
    # The store and the prompt templates are paths on this machine: keep both actors on this node.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)

    def make_shard(spec: ShardSpec) -> Any:
        return (
            ray.remote(PopulationActor)
            .options(num_cpus=0, max_concurrency=1, scheduling_strategy=here)
            .remote(
                db_url,
                run_name,
                problem,
                run_config,
                options.seed,
                options.sandbox,
                mutator,
                options.iterations,
                resume,
                spec,
            )
        )

    return make_shard


def _drive(context: RunContext) -> RunResult:
    """Drive an opened run to its stop, score the best on held-out data, write the outputs."""
    problem, options, driver, db = context.problem, context.options, context.driver, context.db
    run_name, run_dir, db_url = context.run_name, context.run_dir, context.db_url
    ev = problem.config.evaluation
    started = time.monotonic()
    try:
        try:
            driver.evaluate_initial(problem)
            milestone("initial program evaluated")
        except InfrastructureError as exc:
            db.finish(StopReason(StopKind.INFRA_BROKEN, str(exc)))
            raise
        reason = driver.steady_state()
        milestone("the loop ended")
        best = db.best_program()
        # After an interrupt, or with the machinery broken, nothing more is evaluated.
        more = reason.evaluates_more
        if best is not None and ev.repeat_best and more:  # noisy scores: measure the top again
            repeat_best(driver, ev.repeat_best)
            best = db.best_program()
        if best is not None and options.heldout and ev.heldout_function and more:
            try:
                score_heldout(driver, best, problem.initial_code, ev.heldout_function)
            except InfrastructureError as exc:  # the training result stands; say why held-out is missing
                log.warning("no held-out score: %s", exc)
            best = db.best_program()
        progress = db.finish(reason)
    except EvolveError:
        raise
    except Exception as exc:
        full = filled(exc)
        if full is None:
            log.exception("the run %s stopped on an internal error", run_name)
            raise
        raise stopped_on_full_disk(db, full, run_dir, db_url) from None
    finally:
        _cleanup_sandbox(options.sandbox, context.sandbox_options.get("run"))
        milestone("sandbox cleaned up")
        context.mutators.close()
        db.kill()
        milestone("population actors ended")
    seconds = time.monotonic() - started
    if best is not None:
        write_outputs(run_dir, problem, best, progress, reason, seconds, run_name, db_url, context.mutator)
    milestone("outputs written")
    return RunResult(run_name, run_dir, db_url, reason, progress, best, seconds)


def score_heldout(driver: Driver, best: BestProgram, initial_code: str, function: str) -> None:
    """Score the best and the initial program on the held-out set (once each, even on resume)."""
    import ray

    from evolve.engine.tickets import EvalTicket

    request = replace(driver.template, function=function, cascade=())
    targets = {best.id: (best.code, best.heldout_score), best.initial_id: (initial_code, best.initial_heldout_score)}
    for program_id, (code, known) in targets.items():
        if known is None:
            outcome = driver.evaluate_now(EvalTicket(program_id, code, -1, 0), request)
            ray.get(driver.db.record_heldout(program_id, outcome))


def _cleanup_sandbox(name: str, run_label: str | None) -> None:
    """Remove this run's pre-started containers, whichever Ray worker made them, from every
    alive node's own engine (never raises: the run's outputs matter more than its pools)."""
    if name != SandboxKind.DOCKER or not run_label:
        return
    from evolve.engine.workers import clean_every_node

    clean_every_node(run_label)

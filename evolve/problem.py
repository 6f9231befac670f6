"""Load and validate a problem folder: problem.toml, the evolving program, evaluate.py.

Everything a user can get wrong is reported as a `ProblemError` with one line that names the
file and the key; a folder either loads completely or not at all.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from evolve.edit.blocks import BlockError, find_blocks
from evolve.errors import ProblemError
from evolve.population.pareto import Direction, Objective

# The image a problem's evaluations run in unless it names its own (`evaluation.image`) or ships a
# Dockerfile; `evolve sandbox build` builds it (evolve/sandbox/images.py).
DEFAULT_IMAGE = "evolve-python:latest"

__all__ = ["DEFAULT_IMAGE", "Problem", "ProblemError", "load_problem", "problem_warnings", "run_defaults"]


class _Strict(BaseModel):
    # Unknown keys are an error: a misspelt key silently ignored costs users a whole run.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CascadeStage(_Strict):
    function: str
    threshold: float = 0.0


class CallStyle(StrEnum):
    """How the evaluator is called (docs/problems.md, "The evaluator")."""

    PATH = "path"  # function(program_path) -> result
    RESULTS_DIR = "results_dir"  # function(program_path, results_dir) writes metrics.json, correct.json
    COMMAND = "command"  # `command PROGRAM MODE` prints one JSON object (SkyDiscover's evaluate.sh)


class OnBelow(StrEnum):
    """What a program below a cascade stage's threshold gets."""

    FAIL = "fail"  # a cascade failure (it keeps the stage's score, but is not a candidate parent)
    KEEP = "keep"  # the stage's result is the program's: it stops early, and is ranked by it (OpenEvolve)


class EvaluationConfig(_Strict):
    # timeout .. max_result_kb, image and pin_cpus are one evaluation's limits: declared here, once;
    # `evolve.sandbox.base.Limits` carries the same set to the sandbox.
    timeout: Annotated[float, Field(gt=0)] = 60.0
    cpus: Annotated[float, Field(gt=0)] = 1.0
    memory_mb: Annotated[int, Field(ge=64)] = 1024
    gpus: Annotated[float, Field(ge=0)] = 0.0
    resources: dict[str, float] = Field(default_factory=dict)
    image: str = DEFAULT_IMAGE
    pin_cpus: bool = False
    pids_limit: Annotated[int, Field(ge=8)] = 64
    tmpfs_mb: Annotated[int, Field(ge=1)] = 64
    # The most JSON evaluate() may return; a larger result is the candidate's failure.
    max_result_kb: Annotated[int, Field(ge=1, le=1024 * 1024)] = 1024
    evaluator: str = "evaluate.py"  # the evaluator file, in the problem folder
    function: str = "evaluate"
    call: Annotated[CallStyle, Field(strict=False)] = CallStyle.PATH
    command: str | None = None  # call = "command": the script, relative to the folder
    score: str | None = None  # the result's key that is the score; unset: "score", else "combined_score"
    heldout_function: str | None = None
    cascade: list[CascadeStage] = Field(default_factory=list)
    on_below: Annotated[OnBelow, Field(strict=False)] = OnBelow.FAIL
    # Noisy scores (timings): before a run declares its best, the top programs are evaluated this
    # many more times and ranked by the median of those repeats (evolve/engine/repeat.py). 0: off.
    repeat_best: Annotated[int, Field(ge=0, le=20)] = 0


class FeatureDimension(_Strict):
    """A MAP-Elites axis. Bins are fixed by [min, max] so cells never drift during a run."""

    name: str
    min: float = 0.0
    max: float | None = None
    bins: Annotated[int, Field(ge=1, le=100)] = 10


class PopulationConfig(_Strict):
    islands: Annotated[int, Field(ge=1, le=64)] = 4
    features: list[FeatureDimension] = Field(
        default_factory=lambda: [
            FeatureDimension(name="code_length"),
            FeatureDimension(name="novelty", min=0.0, max=1.0),
        ]
    )
    migration_interval: Annotated[int, Field(ge=1)] = 20
    migration_count: Annotated[int, Field(ge=0)] = 1
    exploration: Annotated[float, Field(ge=0, le=1)] = 0.2
    exploitation: Annotated[float, Field(ge=0, le=1)] = 0.6
    elite_pool: Annotated[int, Field(ge=1)] = 5
    inspirations: Annotated[int, Field(ge=0, le=10)] = 3
    # Every this many evaluated children, islands whose best did not improve since the last check
    # are wiped and reseeded from the best of the others (FunSearch; docs/search.md). 0: never.
    reset_interval: Annotated[int, Field(ge=0)] = 100
    # Population actors, each owning islands i with i % shards == its index (evolve/engine/sharded_population.py):
    # more candidates per second on a cluster; every shard owns at least one island.
    shards: Annotated[int, Field(ge=1, le=64)] = 1
    # With [objectives]: each island's non-dominated front keeps at most this many (crowding decides).
    front_size: Annotated[int, Field(ge=2, le=256)] = 16

    @field_validator("shards")
    @classmethod
    def _shards_have_islands(cls, shards: int, info: ValidationInfo) -> int:
        islands = info.data.get("islands")
        if islands is not None and shards > islands:
            raise ValueError(f"at most the number of islands ({islands}): each shard owns at least one")
        return shards

    @model_validator(mode="after")
    def _ratios(self) -> PopulationConfig:
        if self.exploration + self.exploitation > 1.0:
            raise ValueError("exploration + exploitation must be at most 1")
        return self


class ModelConfig(_Strict):
    name: str
    weight: Annotated[float, Field(gt=0)] = 1.0
    api_base: str | None = None
    temperature: Annotated[float, Field(ge=0)] = 0.7
    max_tokens: Annotated[int, Field(ge=16)] = 4096
    # USD per million tokens; when unset, litellm's price list is used (0 for unknown models).
    price_in: Annotated[float, Field(ge=0)] | None = None
    price_out: Annotated[float, Field(ge=0)] | None = None
    # Seconds for one call (the run's wall time caps it too); unset: 120, or 600 for a server on
    # one's own machines (a loopback or private api_base, ollama/...): evolve/mutate/local.py.
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0, le=20)] = 4  # after a rate limit, a 5xx, a timeout or a lost connection
    # The model's context window in tokens; unset: read from its server or litellm's list. The
    # prompt's token budget and the answer's max_tokens are fitted into it (evolve/mutate/window.py).
    context: Annotated[int, Field(ge=1024)] | None = None
    # The focused prompt (prompts/small.j2: the EVOLVE-BLOCK alone, without the rest of the program
    # and the run's context); unset: for a model whose name says it has at most 3B parameters.
    small: bool | None = None


class MutationConfig(_Strict):
    diff: Annotated[float, Field(ge=0)] = 0.7
    full: Annotated[float, Field(ge=0)] = 0.3
    crossover: Annotated[float, Field(ge=0)] = 0.1  # two parents combined (prompts/crossover.j2)
    fix: Annotated[float, Field(ge=0)] = 0.1  # a promising failed child repaired (prompts/fix.j2)
    # A rejected answer is sent back with its reason, in the same conversation, this many times;
    # unset: 2 for a hosted model, 1 for a self-hosted one and only for reasons a re-ask fixes
    # (evolve/mutate/reask.py).
    max_retries: Annotated[int, Field(ge=0, le=5)] | None = None
    # The largest answer read: a larger one is rejected, stored cut to this size, never sent back whole.
    max_answer_kb: Annotated[int, Field(ge=1, le=1024)] = 256


class PromptConfig(_Strict):
    """What a mutation prompt remembers (counts of each section) and the token budget that bounds
    it; how often the run writes an insight. See docs/problems.md, "Prompt overrides"."""

    lineage: Annotated[int, Field(ge=0, le=20)] = 3  # the current program's last ancestors' steps
    top: Annotated[int, Field(ge=0, le=10)] = 2  # the run's best programs, in full
    diverse: Annotated[int, Field(ge=0, le=10)] = 2  # elites of other cells of the island
    tried: Annotated[int, Field(ge=0, le=20)] = 5  # attempts from this parent or island that did not help
    # The first prompt of an iteration, in tokens (litellm's counter); the oldest context goes first.
    token_budget: Annotated[int, Field(ge=500)] = 6000
    # One model call writes the run's scratchpad every this many evaluations; 0: never.
    insight_interval: Annotated[int, Field(ge=0)] = 25


class NoveltyConfig(_Strict):
    """Near-duplicate children are rejected before evaluation (evolve/search/novelty.py)."""

    enabled: bool = True
    # Similarity to a program of the child's island at or above which the child is a near-duplicate:
    # Jaccard of token shingles of the EVOLVE-BLOCK bodies, or embedding cosine with a model.
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.99
    shingle: Annotated[int, Field(ge=1, le=16)] = 3  # tokens per shingle (the local measure)
    embedding_model: str | None = None  # a litellm embedding model; unset: the local measure
    api_base: str | None = None  # for the embedding model (and the judge when it is not in [[models]])
    judge: str | None = None  # a model that decides whether a near-duplicate is really one


class BanditConfig(_Strict):
    """Thompson sampling over models and mutation kinds (evolve/search/bandit.py)."""

    enabled: bool = True  # false: the static weights of [[models]] and [mutation]
    prior_pulls: Annotated[float, Field(gt=0)] = 4.0  # what the configured weights are worth, in pulls
    cost_weight: Annotated[float, Field(ge=0, le=1)] = 1.0  # 1: improvement per dollar; 0: ignore cost
    rest_after: Annotated[int, Field(ge=1)] = 3  # failed calls in a row that rest a model
    rest_iterations: Annotated[int, Field(ge=1)] = 8  # its first rest; each further one doubles


class RunDefaults(_Strict):
    """A run's defaults for this problem; the same `evolve run` flags override them."""

    iterations: Annotated[int, Field(ge=0)] | None = None
    seed: int | None = None
    workers: Annotated[int, Field(ge=1)] | None = None  # evaluations at once (--eval-workers)
    max_cost: Annotated[float, Field(gt=0)] | None = None  # USD of model calls


class ProblemConfig(_Strict):
    """problem.toml. `description` opens every mutation prompt (a peer's system message goes there)."""

    name: str
    description: str = ""
    program: str
    language: str | None = None
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    models: list[ModelConfig] = Field(default_factory=list)
    mutation: MutationConfig = Field(default_factory=MutationConfig)
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)
    bandit: BanditConfig = Field(default_factory=BanditConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    run: RunDefaults = Field(default_factory=RunDefaults)
    # Several metrics traded as a Pareto front (docs/problems.md, "Several objectives"): metric
    # name -> maximize | minimize. `score` stays the scalar the bandits and the summary use.
    objectives: dict[str, Annotated[Direction, Field(strict=False)]] = Field(default_factory=dict)

    @field_validator("objectives")
    @classmethod
    def _several(cls, objectives: dict[str, Direction]) -> dict[str, Direction]:
        if len(objectives) == 1:
            raise ValueError("name at least two metrics (one objective is what `score` already is)")
        return objectives

    def objective_list(self) -> tuple[Objective, ...]:
        return tuple(Objective(name, direction) for name, direction in self.objectives.items())


LANGUAGES = {
    ".py": "python",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".rs": "rust",
    ".go": "go",
    ".js": "javascript",
    ".ts": "typescript",
    ".java": "java",
    ".jl": "julia",
}


@dataclass(frozen=True)
class Problem:
    root: Path
    config: ProblemConfig
    initial_code: str
    origin: str = "problem.toml"  # or the peer format read: "OpenEvolve folder", ...
    unmapped: tuple[str, ...] = ()  # the peer's settings evolve does not use, one line each

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def program_path(self) -> Path:
        return self.root / self.config.program

    @property
    def language(self) -> str:
        return self.config.language or LANGUAGES.get(self.program_path.suffix, "text")

    @property
    def prompts_dir(self) -> Path | None:
        path = self.root / "prompts"
        return path if path.is_dir() else None

    @property
    def dockerfile(self) -> Path | None:
        path = self.root / "Dockerfile"
        return path if path.is_file() else None


def _format_validation_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key '{key}' (check the spelling against docs/problems.md)"
    if kind == "missing":
        return f"{path}: missing required key '{key}'"
    return f"{path}: key '{key}': {first['msg']} (got {first.get('input')!r})"


def read_text_file(path: Path, what: str) -> str:
    """A problem file's text, or one line naming the file when it cannot be read, holds binary
    data (a NUL byte) or is not UTF-8: a traceback from deep in a run helps no one fix it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProblemError(f"{path}: the {what} cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise ProblemError(f"{path}: the {what} is a binary file (it holds NUL bytes); it must be UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            f"{path}: the {what} is not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r})"
        ) from None


def parse_config(path: Path, text: str | None = None) -> ProblemConfig:
    try:
        data = tomllib.loads(text if text is not None else read_text_file(path, "problem file"))
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{path}: not valid TOML: {exc}") from None
    try:
        return ProblemConfig.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(_format_validation_error(path, exc)) from None


def load_problem(folder: str | Path) -> Problem:
    """A problem folder: problem.toml, or an unmodified OpenEvolve, ShinkaEvolve or SkyDiscover
    folder (evolve/peers/), read with the same checks."""
    from evolve.peers import read_peer

    root = Path(folder).resolve()
    if not root.is_dir():
        raise ProblemError(f"{folder}: not a folder (expected problems/<name>/ with problem.toml)")
    toml_path = root / "problem.toml"
    if toml_path.is_file():
        return complete_problem(root, parse_config(toml_path), toml_path)
    peer = read_peer(root)
    if peer is None:
        raise ProblemError(
            f"{toml_path}: missing (every problem folder needs a problem.toml, or the files of an "
            "OpenEvolve, ShinkaEvolve or SkyDiscover problem)"
        )
    source = root / peer.config_file if peer.config_file else root
    try:
        config = ProblemConfig.model_validate(peer.data)
    except ValidationError as exc:
        raise ProblemError(_format_validation_error(source, exc)) from None
    return complete_problem(root, config, source, origin=peer.origin, unmapped=peer.unmapped)


def complete_problem(
    root: Path, config: ProblemConfig, toml_path: Path, origin: str = "problem.toml", unmapped: tuple[str, ...] = ()
) -> Problem:
    """The checks of every problem, however its settings were read: the program and its blocks,
    the evaluator and the functions the settings name."""
    program_path = root / config.program
    if not program_path.is_file():
        raise ProblemError(f"{toml_path}: key 'program': file {config.program!r} not found in {root}")
    code = read_text_file(program_path, "initial program")
    try:
        blocks = find_blocks(code)
    except BlockError as exc:
        raise ProblemError(f"{program_path}: {exc}") from None
    if not blocks:
        raise ProblemError(
            f"{program_path}: no EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers (mark the part evolution may change)"
        )
    _check_evaluator(root, config.evaluation, toml_path)
    for dim in config.population.features:
        if dim.max is not None and dim.max <= dim.min:
            raise ProblemError(f"{toml_path}: feature '{dim.name}': max must exceed min")
    _check_prompts(root / "prompts")
    return Problem(root=root, config=config, initial_code=code, origin=origin, unmapped=unmapped)


def _check_evaluator(root: Path, ev: EvaluationConfig, toml_path: Path) -> None:
    if ev.call == CallStyle.COMMAND:
        if not ev.command or not (root / ev.command).is_file():
            raise ProblemError(f"{toml_path}: key 'evaluation.command': script {ev.command!r} not found in {root}")
        return
    evaluate_path = root / ev.evaluator
    if not evaluate_path.is_file():
        raise ProblemError(
            f"{evaluate_path}: missing (it must define {ev.function}(program_path); "
            "or name the evaluator file with [evaluation] evaluator in problem.toml)"
        )
    source = read_text_file(evaluate_path, "evaluator")
    try:
        compile(source, str(evaluate_path), "exec")
    except SyntaxError as exc:
        raise ProblemError(f"{evaluate_path}:{exc.lineno}: syntax error: {exc.msg}") from None
    functions = [ev.function, *(s.function for s in ev.cascade)]
    if ev.heldout_function:
        functions.append(ev.heldout_function)
    for name in functions:
        if f"def {name}(" not in source:
            raise ProblemError(f"{evaluate_path}: no function '{name}' (named in {toml_path.name})")


def _check_prompts(folder: Path) -> None:
    """Every template of the problem's prompts/ reads as text now, not at the first model call."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() or path.is_symlink():
            read_text_file(path, "prompt template")


def problem_warnings(problem: Problem) -> list[str]:
    """What loads but is probably a mistake, one line each; `evolve check` and `run` show them."""
    found = []
    if problem.name != problem.root.name:
        # Runs and reports are named after problem.toml's name: a copied folder would pass as its original.
        found.append(
            f"{problem.root / 'problem.toml'}: name {problem.name!r} differs from the folder's name "
            f"{problem.root.name!r} (runs are named {problem.name}-...; make the two match)"
        )
    return found


def run_defaults(problem: Problem) -> dict[str, int | float]:
    """problem.toml's [run] as `RunOptions` fields: what `evolve run` uses where no flag is given."""
    run = problem.config.run
    values = {"iterations": run.iterations, "seed": run.seed, "eval_workers": run.workers, "max_cost": run.max_cost}
    return {key: value for key, value in values.items() if value is not None}


def problem_from_files(program: str | Path, evaluator: str | Path) -> Problem:
    """`evolve run PROGRAM EVALUATOR`: no problem.toml, every default; the two files must share
    a folder (the sandbox sees that folder, as it sees a problem folder)."""
    program_path, evaluator_path = Path(program).resolve(), Path(evaluator).resolve()
    for path in (program_path, evaluator_path):
        if not path.is_file():
            raise ProblemError(f"{path}: not a file (evolve run PROGRAM EVALUATOR takes two files)")
    root = program_path.parent
    if evaluator_path.parent != root:
        raise ProblemError(f"{evaluator_path}: not in {root} (put the program and its evaluator in one folder)")
    source = evaluator_path.read_text()
    results_dir = "def main(" in source and "def evaluate(" not in source  # ShinkaEvolve's evaluate.py
    evaluation = EvaluationConfig(
        evaluator=evaluator_path.name,
        function="main" if results_dir else "evaluate",
        call=CallStyle.RESULTS_DIR if results_dir else CallStyle.PATH,
    )
    config = ProblemConfig(name=root.name, program=program_path.name, evaluation=evaluation)
    origin = f"two files, no problem.toml (the defaults): {program_path.name}, {evaluator_path.name}"
    return complete_problem(root, config, evaluator_path, origin=origin)

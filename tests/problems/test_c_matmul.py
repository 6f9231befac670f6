"""problems/c_matmul: a C candidate compiled and run confined, in its own image and in the process
sandbox. No figure here depends on this machine's speed: speed-ups are measured in bench/ and the
README; the tests check what passes, what fails and why."""

import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from evolve.edit.blocks import join, split
from evolve.mutate.llm import ModelSpec
from evolve.mutate.offline import offline_targets
from evolve.problem import load_problem
from evolve.sandbox import EvalRequest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "problems" / "c_matmul"


@pytest.fixture(scope="module")
def problem():
    return load_problem(FOLDER)


@pytest.fixture(scope="module")
def docker(problem, docker_engine):
    """The Docker sandbox and the problem's own image (built from its Dockerfile)."""
    from evolve.sandbox import make_sandbox
    from evolve.sandbox.template import evaluation_template

    template = evaluation_template(problem, "docker", progress=lambda line: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = make_sandbox("docker")
    yield box, template
    box.close()


def with_block(problem, body: str) -> str:
    outside, _ = split(problem.initial_code)
    return join(outside, [body])


def in_docker(docker, code, function=None):
    box, template = docker
    request = replace(template, code=code)
    if function:
        request = replace(request, function=function, cascade=())
    return box.evaluate(request)


def in_process(sandbox, problem, code, function=None):
    return sandbox.evaluate(EvalRequest.for_problem(problem, code, function=function))


# A correct multiply that also carries out one extra act, to see whether the sandbox allows it.
def correct_with(prelude: str) -> str:
    return (
        prelude
        + """
static void matmul(int n, const double *restrict a, const double *restrict b, double *restrict c) {
    memset(c, 0, sizeof(double) * (size_t)n * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++) c[(size_t)i * n + j] += a[(size_t)i * n + k] * b[(size_t)k * n + j];
    extra(c, n);
}
"""
    )


def test_the_folder_loads_as_a_c_problem(problem):
    assert problem.language == "c" and problem.config.program == "matmul.c"
    ev = problem.config.evaluation
    assert [s.function for s in ev.cascade] == ["compile_only"] and ev.heldout_function == "evaluate_heldout"
    assert ev.pin_cpus and ev.repeat_best == 3 and (FOLDER / "Dockerfile").is_file()


def test_the_offline_mutator_finds_the_tile_knobs(problem):
    assert offline_targets(problem.initial_code) >= 3
    body = split(problem.initial_code)[1][0]
    assert "TILE_J_LOG2 = 2" in body


def test_compiler_messages_name_the_file_not_the_staging_folder():
    sys.path[:0] = [str(ROOT / "evaluators"), str(FOLDER)]
    try:
        import native
    finally:
        del sys.path[:2]
    stderr = "/tmp/native-x/tmp1/matmul.c: In function 'matmul':\n/tmp/native-x/tmp1/matmul.c:21:5: error: boom\n"
    assert native.compiler_messages(stderr, "/tmp/native-x/tmp1") == (
        "matmul.c: In function 'matmul':\nmatmul.c:21:5: error: boom"
    )
    many = "\n".join(f"matmul.c:{k}:1: error: e{k}" for k in range(500))
    assert len(native.compiler_messages(many, "/x").splitlines()) == native.MAX_COMPILER_LINES


def test_the_initial_program_scores_in_its_own_image_and_on_held_out_sizes(problem, docker):
    out = in_docker(docker, problem.initial_code)
    assert out.ok, out.reason
    assert out.score is not None and out.score > 0
    for n in (256, 384, 512):
        assert out.metrics[f"candidate_n{n}_ms"] > 0 and f"noise_pct_n{n}" in out.metrics
    assert out.metrics["cpus"] == 1  # pin_cpus: the evaluation has one CPU of its own
    assert "Correct on every size" in out.feedback
    heldout = in_docker(docker, problem.initial_code, "evaluate_heldout")
    assert heldout.ok, heldout.reason
    assert {f"speedup_n{n}" for n in (320, 448, 576)} <= set(heldout.metrics)


def test_a_child_that_does_not_compile_stops_at_the_compile_stage_with_the_compiler_errors(problem, docker):
    code = problem.initial_code.replace("static const int TILE_J_LOG2 = 2;", "static const int TILE_J_LOG2 = 2")
    out = in_docker(docker, code)
    assert not out.ok and out.score is None
    assert out.reason.startswith("candidate rejected: does not compile: matmul.c:") and "error" in out.reason
    assert "gcc -O2" in out.feedback and "expected" in out.feedback
    assert "/tmp/" not in out.feedback  # the file is named as the model knows it


def test_an_include_of_the_problem_folder_finds_nothing_readable(problem, docker):
    code = with_block(problem, '#include "/problem/evaluate.py"\n')
    out = in_docker(docker, code)
    assert not out.ok and out.reason.startswith("candidate rejected: does not compile")
    assert "HELDOUT" not in out.feedback and "def evaluate" not in out.feedback


def test_a_wrong_product_is_rejected_with_the_entry(problem, docker):
    code = problem.initial_code.replace("c[(size_t)i * n + j] += ", "c[(size_t)i * n + j] = ")
    out = in_docker(docker, code)
    assert not out.ok and out.reason.startswith("candidate rejected: wrong product: n=256: c[")


def test_float_accumulation_is_too_imprecise(problem, sandbox):
    prelude = """
static void matmul(int n, const double *restrict a, const double *restrict b, double *restrict c) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float sum = 0;
            for (int k = 0; k < n; k++) sum += (float)(a[(size_t)i * n + k] * b[(size_t)k * n + j]);
            c[(size_t)i * n + j] = sum;
        }
}
"""
    out = in_process(sandbox, problem, with_block(problem, prelude))
    assert not out.ok and "wrong product" in out.reason and "double precision" in out.reason


def test_a_crash_is_the_candidates_failure(problem, sandbox):
    prelude = "#include <signal.h>\nstatic void matmul(int n, const double *a, const double *b, double *c) { raise(SIGSEGV); }\n"
    out = in_process(sandbox, problem, with_block(problem, prelude))
    assert not out.ok and "killed by signal 11" in out.reason


def test_the_candidate_cannot_read_the_problem_folder(problem, docker):
    prelude = """
#include <stdio.h>
static void extra(double *c, int n) {
    FILE *f = fopen("/problem/evaluate.py", "r");
    if (f) c[0] = 1e9;  /* readable: spoil the product, so the test sees it */
}
"""
    out = in_docker(docker, with_block(problem, correct_with(prelude)))
    assert out.ok, out.reason


def test_no_run_sees_what_an_earlier_run_left(problem, sandbox):
    # Each run writes a file where it may (its own directory) and tries to leave one in /tmp; a run
    # that finds either from an earlier run (a cached result would be one) spoils its product.
    prelude = """
#include <stdio.h>
#include <unistd.h>
static void extra(double *c, int n) {
    if (access("left-behind", F_OK) == 0 || access("/tmp/c-matmul-left-behind", F_OK) == 0) c[0] = 1e9;
    FILE *mine = fopen("left-behind", "w"), *shared = fopen("/tmp/c-matmul-left-behind", "w");
    if (mine) fclose(mine);
    if (shared) { fclose(shared); c[0] = 1e9; }  /* /tmp is not the run's to write */
}
"""
    out = in_process(sandbox, problem, with_block(problem, correct_with(prelude)))
    assert out.ok, out.reason
    assert not Path("/tmp/c-matmul-left-behind").exists()


def test_threads_are_allowed(problem, sandbox):
    prelude = """
#include <pthread.h>
static void *nothing(void *arg) { return arg; }
static void extra(double *c, int n) {
    pthread_t thread;
    if (pthread_create(&thread, 0, nothing, 0) != 0) c[0] = 1e9;  /* refused: spoil the product */
    else pthread_join(thread, 0);
}
"""
    out = in_process(sandbox, problem, with_block(problem, correct_with(prelude)))
    assert out.ok, out.reason


def test_a_process_left_running_is_killed_before_the_output_is_read(problem, sandbox):
    # The program forks a child, in a session of its own, that waits for the program to exit and
    # then spoils its output; the launcher kills every process of a run before the output is read.
    prelude = """
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static void extra(double *c, int n) {
    pid_t parent = getpid();
    if (fork() == 0) {
        setsid();
        struct timespec pause = {0, 100 * 1000};
        while (getppid() == parent) nanosleep(&pause, 0);
        FILE *f = fopen("out.bin", "r+b");
        if (f) { double junk = 1e9; fwrite(&junk, sizeof junk, 1, f); fclose(f); }
        _exit(0);
    }
}
"""
    out = in_process(sandbox, problem, with_block(problem, correct_with(prelude)))
    assert out.ok, out.reason


def test_the_compiler_errors_reach_the_next_prompt(problem, ray_local, tmp_path):
    # Every answer breaks the program in its own way (no semicolon after a knob): each child stops
    # at the compile stage, and a later prompt of its island carries the compiler's own words.
    from sqlalchemy import select

    from evolve.engine.options import RunOptions
    from evolve.engine.run import evolve_run
    from evolve.store import LLMCall, Program, open_engine, session_factory

    from model_server import ModelServer, Reply

    knobs = ["TILE_I_LOG2", "TILE_K_LOG2", "TILE_J_LOG2"]

    def broken(request, index):
        knob = knobs[index % 3]
        return Reply(
            f"Try this.\n<<<<<<< SEARCH\nstatic const int {knob} = 2;\n=======\n"
            f"static const int {knob} = {2 + index // 3} + undeclared_{index}\n>>>>>>> REPLACE\n"
        )

    with ModelServer(broken) as server:
        models = (ModelSpec("openai/test-model", api_base=server.url, max_attempts=2, backoff=0.05),)
        options = RunOptions(iterations=6, llm_concurrency=1, eval_workers=1, models=models, sandbox="process")
        result = evolve_run(problem, options, runs_root=tmp_path, run_name="broken")
    assert result.status == "finished"
    engine = open_engine(result.db_url, create=False)
    with session_factory(engine)() as s:
        children = s.scalars(select(Program).where(Program.iteration > 0)).all()
        prompts = [c.prompt for c in s.scalars(select(LLMCall).order_by(LLMCall.id))]
    engine.dispose()
    assert children and all(c.status == "failed" for c in children)
    assert all("does not compile: matmul.c:" in c.error for c in children)
    shown = [p for p in prompts if "does not compile" in p]
    assert shown, "no prompt showed the compile failure"
    assert any("error:" in p and "gcc -O2" in p and "matmul.c:" in p for p in shown)
    assert all("```c" in p for p in prompts)  # C code in C fences

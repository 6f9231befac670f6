"""The machinery's faults are not the candidate's: the Docker sandbox raises them.

An engine that does not answer (no socket, a socket nobody listens on, an engine that goes away
in the middle of an evaluation) is DockerUnavailable; an image the engine lacks is ImageMissing;
containers that never take the job are an InfrastructureError. What the candidate or its
evaluate.py does stays an EvalOutcome. Closing a sandbox whose engine is gone does not raise.

Every sandbox here labels its containers with this module's run; only those are counted and removed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
from docker_proxy import DockerProxy

from evolve.errors import DockerUnavailable, ImageMissing, InfrastructureError
from evolve.kinds import FailureKind
from evolve.resources import evaluators_dir
from evolve.sandbox.base import EvalRequest, Limits
from evolve.sandbox.checks import docker_ready
from evolve.sandbox.cleanup import cleanup_containers
from evolve.sandbox.container import BOOTSTRAP_TAKEN
from evolve.sandbox.docker import DockerSandbox

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile_problem"
TEST_RUN = f"test-docker-faults-{uuid.uuid4().hex[:8]}"
OK = "def main():\n    return 'ok'\n"


def request(code: str = OK, timeout: float = 20.0, problem: Path = HOSTILE, **limits) -> EvalRequest:
    limits = {"cpus": 1, "memory_mb": 256, "pids_limit": 32, "tmpfs_mb": 16, **limits}
    return EvalRequest(
        problem_dir=str(problem),
        code=code,
        filename="initial_program.py",
        limits=Limits.default(timeout=timeout, **limits),
    )


def ours() -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=evolve.run={TEST_RUN}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture()
def clean_up():
    yield
    cleanup_containers(run=TEST_RUN)  # through the real engine, whatever a test's client saw


def dead_client(path: Path) -> docker.DockerClient:
    # A fixed API version: with "auto" the client would ask the (absent) engine at construction.
    return docker.DockerClient(base_url=f"unix://{path}", version="1.43", timeout=5)


def test_the_bootstrap_and_the_host_agree_on_the_taken_line():
    spec = importlib.util.spec_from_file_location("container_bootstrap", evaluators_dir() / "container_bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its __main__ guard keeps it from running
    assert module.TAKEN == BOOTSTRAP_TAKEN


@pytest.mark.parametrize("socket_kind", ["missing", "nobody listens"])
def test_an_engine_that_does_not_answer_is_docker_unavailable(tmp_path, socket_kind, caplog):
    path = tmp_path / "engine.sock"
    if socket_kind == "nobody listens":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.close()  # the file stays; connecting to it is refused
    client = dead_client(path)
    with caplog.at_level(logging.WARNING):
        sandbox = DockerSandbox(client=client, pool_size=1, run=TEST_RUN, cpus=[0])  # the orphan sweep only warns
    with pytest.raises(DockerUnavailable) as caught:
        sandbox.evaluate(request())
    message = str(caught.value)
    assert f"unix://{path}" in message and "does not answer" in message and "start dockerd" in message
    assert "\n" not in message
    sandbox.close()  # does not raise
    with pytest.raises(DockerUnavailable):
        cleanup_containers(client, run=TEST_RUN)
    ready, why = docker_ready(client=client)
    assert not ready and "does not answer" in why
    # Without a client: the engine named by base_url is asked at once.
    with pytest.raises(DockerUnavailable, match="does not answer"):
        DockerSandbox(base_url=f"unix://{path}", pool_size=0)


def test_a_missing_image_is_image_missing(docker_engine, clean_up):
    tag = f"evolve-python:no-such-tag-{uuid.uuid4().hex[:8]}"
    with DockerSandbox(pool_size=1, run=TEST_RUN) as sandbox:
        with pytest.raises(ImageMissing, match=f"{tag} not found.*build") as caught:
            sandbox.evaluate(request(image=tag))
        assert "\n" not in str(caught.value)
        outcome = sandbox.evaluate(request())  # the sandbox goes on for an image that exists
        assert outcome.ok and outcome.score == 1.0, outcome.reason
    assert ours() == []


def test_the_engine_going_away_mid_evaluation_is_docker_unavailable(docker_engine, tmp_path, clean_up, caplog):
    proxy = DockerProxy(tmp_path / "engine.sock").start()
    try:
        sandbox = DockerSandbox(base_url=proxy.url, pool_size=1, run=TEST_RUN)
        assert sandbox.evaluate(request()).ok  # through the proxy, the engine answers
        threading.Timer(2.0, proxy.cut).start()
        started = time.monotonic()
        with pytest.raises(DockerUnavailable, match="does not answer"):
            sandbox.evaluate(request("import time\ndef main():\n    time.sleep(8)\n    return 'ok'\n"))
        assert time.monotonic() - started < 8, "the sandbox waited for the candidate of an engine that is gone"
        with caplog.at_level(logging.WARNING, logger="evolve.sandbox.docker"):
            sandbox.close()  # does not raise; says what it could not remove
        assert any("evolve sandbox cleanup" in r.getMessage() for r in caplog.records), caplog.text
    finally:
        proxy.cut()
    assert ours(), "the engine was out of reach: the containers are still there for the sweep"
    cleanup_containers(run=TEST_RUN)
    assert ours() == []


def test_containers_that_never_take_the_job_are_an_infrastructure_error(docker_engine, tmp_path, clean_up):
    evaluators = tmp_path / "evaluators"
    shutil.copytree(evaluators_dir(), evaluators, ignore=shutil.ignore_patterns("__pycache__"))
    # It reads the job first, so its last words surely reach the host's attach stream (one that
    # exits at once may be gone before the host attaches; it still is not taken, only unexplained).
    (evaluators / "container_bootstrap.py").write_text(
        "import sys\nsys.stdin.readline()\nsys.exit('this bootstrap is broken')\n"
    )
    os.chmod(tmp_path, 0o755)
    broken = pytest.raises(InfrastructureError, match=r"do not take the job.*this bootstrap is broken")
    with DockerSandbox(pool_size=0, run=TEST_RUN, evaluators_dir=evaluators) as sandbox, broken:
        sandbox.evaluate(request())
    assert ours() == []


def test_an_evaluator_that_exits_without_a_result_is_the_candidates_crash(docker_engine, tmp_path, clean_up):
    # The same exit code and silence as a bootstrap that never took the job; but it took it.
    problem = tmp_path / "exits"
    problem.mkdir()
    (problem / "evaluate.py").write_text("import os\n\ndef evaluate(program_path):\n    os._exit(3)\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(problem, 0o755)
    with DockerSandbox(pool_size=1, run=TEST_RUN) as sandbox:
        outcome = sandbox.evaluate(request(problem=problem))
    assert not outcome.ok and outcome.kind == FailureKind.CRASH and "exit code 3" in outcome.reason, outcome.reason
    assert ours() == []

"""tests/fast_loop.py: the rule that keeps `pytest -m unit` pure, and the guard that catches a test
the rule got wrong."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from fast_loop import _starts_something, reaches_heavy

MODULE = """
import ray
from model_server import ModelServer


def helper(x):
    return deeper(x)


def deeper(x):
    return ray.get(x)


def pure(x):
    return x + 1


NAMES = ("ray", "docker")


def test_calls_a_helper_that_reaches_ray():
    helper(1)


def test_pure():
    assert pure(1) == 2 and NAMES


def test_runs_the_cli():
    command = ["evolve", "run", "folder"]


def test_serves():
    with ModelServer([]) as s:
        pass
"""


def test_the_rule_follows_helpers_and_reads_strings_only_in_code(tmp_path):
    path = tmp_path / "test_sample.py"
    path.write_text(MODULE)
    (tmp_path / "model_server.py").write_text("class ModelServer:\n    pass\n")
    assert reaches_heavy(path, "test_calls_a_helper_that_reaches_ray")  # two helpers down
    assert reaches_heavy(path, "test_runs_the_cli")  # the string "run" inside a function
    assert reaches_heavy(path, "test_serves")  # a heavy name imported from a tests/ helper
    # A module-level tuple of library names is data: it does not make a test heavy.
    assert not reaches_heavy(path, "test_pure")


def test_a_command_line_that_starts_a_run_or_a_container():
    assert _starts_something([sys.executable, "-m", "evolve.cli", "-v", "run", "p"]) == "an `evolve run` process"
    assert _starts_something(["/usr/bin/evolve", "run", "--resume", "x"]) == "an `evolve run` process"
    assert _starts_something(["docker", "ps"]) == "a docker command"
    assert _starts_something([sys.executable, "-m", "evolve.cli", "show", "run"]) is None
    assert _starts_something(["python3", "runner.py"]) is None


def test_under_the_guard_ray_a_server_and_a_run_raise():
    """The guard patches process-wide, so it is tried in a process of its own."""
    code = textwrap.dedent(
        """
        import socketserver, subprocess, sys
        sys.path.insert(0, sys.argv[1])
        from fast_loop import StartedInUnitLoop, install_guard
        install_guard()
        def refused(call):
            try:
                call()
            except StartedInUnitLoop as exc:
                return "-m unit" in str(exc)
            return False
        import ray
        from evolve.engine.run import evolve_run
        print(refused(lambda: ray.init(num_cpus=1, include_dashboard=False)))
        print(refused(lambda: evolve_run("folder")))
        print(refused(lambda: socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)))
        print(refused(lambda: subprocess.run(["evolve", "run", "folder"])))
        print(subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, text=True).stdout.strip())
        """
    )
    tests = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", code, str(tests)], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True", "True", "1"], out.stderr[-2000:]

"""The run's exit: the local Ray instance is killed with every process it started, and the console
script ends the process after the exit handlers have run and the output is flushed."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python(script: str, prefix: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-c", prefix + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for PID 1 to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# A local Ray started as a run starts it, two workers used; `tree` and `workers`: every pid it made.
LOCAL_RAY = """
import os, ray, psutil
from evolve.engine.run import start_ray, stop_local_ray
start_ray(None, 2)
@ray.remote
def where():
    return os.getpid()
workers = ray.get([where.remote() for _ in range(2)])
node = ray._private.worker._global_node
daemons = [i.process.pid for infos in node.all_processes.values() for i in infos]
tree = {p.pid for d in daemons for p in [psutil.Process(d), *psutil.Process(d).children(recursive=True)]}
"""


def _still_running(pids: list[int], wait: float = 10) -> list[int]:
    """The pids still running after up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if _running(p)]


def test_stopping_the_local_ray_leaves_none_of_its_processes():
    done = _python(
        prefix=LOCAL_RAY,
        script="""
        session = node.get_session_dir_path()
        stop_local_ray()
        print(" ".join(map(str, sorted(tree | set(workers)))))
        print(session)
        print(ray.is_initialized())
    """,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pids, session, initialized = done.stdout.strip().splitlines()[-3:]
    pids = [int(p) for p in pids.split()]
    assert len(pids) >= 4 and initialized == "False"
    assert not _still_running(pids)
    assert not Path(session).exists()


def test_the_console_script_runs_the_exit_handlers_and_flushes_before_it_ends():
    done = _python("""
        import atexit, sys
        from evolve.cli import exit_now
        atexit.register(lambda: print("handler ran"))
        print("said", end="")
        exit_now(3)
        print("never")
    """)
    assert done.returncode == 3
    assert done.stdout == "saidhandler ran\n" and "never" not in done.stdout


def test_a_message_as_the_exit_code_is_printed_and_fails():
    done = _python("from evolve.cli import exit_now; exit_now('no such run')")
    assert done.returncode == 1 and "no such run" in done.stderr


def test_a_process_that_ends_next_kills_ray_without_disconnecting_and_exits_cleanly():
    # The console script's end of a run: Ray's processes killed, no disconnect, then exit_now.
    done = _python(
        prefix=LOCAL_RAY,
        script="""
        from evolve.cli import exit_now
        print(" ".join(map(str, sorted(tree | set(workers)))))
        print(node.get_session_dir_path())
        stop_local_ray(process_ends=True)
        print("said", flush=True)
        exit_now(0)
    """,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pids, session, said = done.stdout.strip().splitlines()[-3:]
    assert said == "said"
    assert not _still_running([int(p) for p in pids.split()])
    assert not Path(session).exists()

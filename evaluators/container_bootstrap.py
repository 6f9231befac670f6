"""The first process (PID 1) of every Docker sandbox container: take one job, start the runner, reap.

Usage (the container's command, set by evolve/sandbox/docker.py):
    python3 -I /evolve/container_bootstrap.py IDLE_SECONDS MAX_JOB_BYTES RUNNER PROBLEM_DIR [warm]

Containers are started ahead of any job, so this waits up to IDLE_SECONDS on stdin for one JSON
line {"code", "filename", "spec", "deadline"} of at most MAX_JOB_BYTES. Once it has the job it
writes TAKEN on stderr, writes the candidate into /tmp, and has `RUNNER PROBLEM_DIR CANDIDATE SPEC`
score it as its child with stdin on /dev/null. As init it reaps every orphan, kills everything at the
deadline (exit 124) and exits with the runner's exit code. Without a job it exits 3 (none came in
time) or 4 (stdin closed, or the job too large), and nothing has run.

With `warm`, the runner is started at once, before any job (`RUNNER PROBLEM_DIR --job-fd FD`, in a
fork of this process that imports RUNNER, so no second interpreter starts): it imports evaluate.py while the container waits in the pool, and gets the candidate's path and spec
on a pipe once the job is here. Its stderr is /dev/null until it has taken fds 1 and 2 over, so
nothing reaches the host's stderr stream before TAKEN. A warm runner that died before the job is
replaced by a fresh one, as without `warm`.

The host holds the container's stdin open (its attach connection, made before the container
started) for as long as it wants the container, and the container ends when it closes: before a
job, stdin's end is "no job" (exit 4); during one, the host hung up or died, and everything is
killed (exit 5). So a container does not outlive its owner by more than a moment.

TAKEN tells the host whether a container that ended without a result ever ran the candidate:
nothing the candidate does can write it, or take it back (it is written before the candidate
exists, to a stream only this process holds). Standard library only: it runs on the image's Python.
"""

import _thread
import json
import os
import select
import signal
import sys

TAKEN = b"evolve-bootstrap: job taken\n"
NO_JOB_IN_TIME, NO_JOB, HOST_GONE = 3, 4, 5
DEADLINE_EXIT = 124


def _undumpable() -> None:
    # PR_SET_DUMPABLE 0: the candidate (same uid) cannot ptrace us or open /proc/1/fd.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
    except Exception:
        pass


def _read_job(idle_seconds: float, max_bytes: int) -> dict:
    if not select.select([0], [], [], idle_seconds)[0]:
        os.write(2, b"evolve-bootstrap: no job came in time\n")
        _exit(NO_JOB_IN_TIME)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1 << 20)
        if not chunk or len(data) > max_bytes:
            os.write(2, b"evolve-bootstrap: stdin closed before a whole job, or the job is too large\n")
            _exit(NO_JOB)
        data += chunk
    return json.loads(data)


def _kill_everything() -> None:
    try:
        os.kill(-1, signal.SIGKILL)  # every process in the container but us
    except OSError:
        pass


def _exit(code: int) -> None:
    _kill_everything()
    os._exit(code)


def _expire(*_) -> None:
    _exit(DEADLINE_EXIT)


def _watch_host() -> None:
    """The host keeps stdin open while it wants the container: its end means it is gone."""
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    _exit(HOST_GONE)


def _null_stdio(*fds: int) -> None:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    os.close(null)


def _start_warm(runner: str, problem_dir: str) -> tuple[int, int]:
    """A runner that imports evaluate.py now and waits for the job on a pipe: (pid, the pipe's write end).

    A fork of this interpreter that imports runner.py, rather than a new one: the interpreter's
    start and json's import are done already (about 20 ms of CPU less per container, spent on
    the cores the running evaluations use). Nothing of a job exists yet, and no thread."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(write_end)
            _null_stdio(0, 2)
            sys.argv[:] = [runner, problem_dir, "--job-fd", str(read_end)]
            sys.path.insert(0, os.path.dirname(runner))
            import runner as warm_runner  # here: only the forked child needs it

            warm_runner.main()  # never returns: it exits once its result is written
        finally:
            os._exit(70)
    os.close(read_end)
    return pid, write_end


def _hand_over(warm: tuple[int, int] | None, path: str, spec: str) -> int | None:
    """Give the job to the warm runner; its pid, or None when it is gone."""
    if warm is None:
        return None
    pid, pipe = warm
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.write(pipe, json.dumps({"candidate": path, "spec": spec}).encode() + b"\n")
            return pid
    except (ChildProcessError, BrokenPipeError):
        pass
    finally:
        os.close(pipe)
    return None


def _start_runner(runner: str, problem_dir: str, path: str, spec: str) -> int:
    pid = os.fork()
    if pid == 0:
        _null_stdio(0)
        os.execv(sys.executable, [sys.executable, "-I", runner, problem_dir, path, spec])
    return pid


def main() -> None:
    idle_seconds, max_bytes, runner, problem_dir = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    _undumpable()
    warm = _start_warm(runner, problem_dir) if sys.argv[5:6] == ["warm"] else None
    job = _read_job(idle_seconds, max_bytes)
    os.write(2, TAKEN)
    path = os.path.join("/tmp", os.path.basename(job["filename"]) or "candidate.py")
    with open(path, "w") as f:
        f.write(job["code"])
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, float(job["deadline"]))
    pid = _hand_over(warm, path, job["spec"])
    if pid is None:
        pid = _start_runner(runner, problem_dir, path, job["spec"])
    _thread.start_new_thread(_watch_host, ())  # not threading's: its start() waits for the thread to run

    code = 1
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            break
    _exit(code if code >= 0 else 128 - code)  # and whatever the candidate left behind goes


if __name__ == "__main__":
    main()

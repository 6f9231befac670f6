"""The first process (PID 1) of every Docker sandbox container: take one job, start the runner, reap.

Usage (the container's command, set by evolve/sandbox/docker.py):
    python3 -I /evolve/container_bootstrap.py IDLE_SECONDS MAX_JOB_BYTES RUNNER PROBLEM_DIR

Containers are started ahead of any job, so this waits up to IDLE_SECONDS on stdin for one JSON
line {"code", "filename", "spec", "deadline"} of at most MAX_JOB_BYTES. Once it has the job it
writes TAKEN on stderr, writes the candidate into /tmp, and runs `RUNNER PROBLEM_DIR CANDIDATE SPEC`
as its child with stdin on /dev/null. As init it reaps every orphan, kills everything at the
deadline (exit 124) and exits with the runner's exit code. Without a job it exits 3 (none came in
time) or 4 (stdin closed, or the job too large), and nothing has run.

TAKEN tells the host whether a container that ended without a result ever ran the candidate:
nothing the candidate does can write it, or take it back (it is written before the candidate
exists, to a stream only this process holds). Standard library only: it runs on the image's Python.
"""

import json
import os
import select
import signal
import sys

TAKEN = b"evolve-bootstrap: job taken\n"
NO_JOB_IN_TIME, NO_JOB = 3, 4
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
        os._exit(NO_JOB_IN_TIME)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1 << 20)
        if not chunk or len(data) > max_bytes:
            os.write(2, b"evolve-bootstrap: stdin closed before a whole job, or the job is too large\n")
            os._exit(NO_JOB)
        data += chunk
    return json.loads(data)


def _kill_everything() -> None:
    try:
        os.kill(-1, signal.SIGKILL)  # every process in the container but us
    except OSError:
        pass


def _expire(*_) -> None:
    _kill_everything()
    os._exit(DEADLINE_EXIT)


def main() -> None:
    idle_seconds, max_bytes, runner, problem_dir = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    _undumpable()
    job = _read_job(idle_seconds, max_bytes)
    os.write(2, TAKEN)
    path = os.path.join("/tmp", os.path.basename(job["filename"]) or "candidate.py")
    with open(path, "w") as f:
        f.write(job["code"])
    pid = os.fork()
    if pid == 0:
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.close(null)
        os.execv(sys.executable, [sys.executable, "-I", runner, problem_dir, path, job["spec"]])

    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, float(job["deadline"]))
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
    _kill_everything()  # whatever the candidate left behind
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()

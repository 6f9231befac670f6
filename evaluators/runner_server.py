"""The process sandbox's warm runner: started once, it forks one fresh runner per candidate.

Usage (by evolve/sandbox/process.py, never by hand):
    python -I runner_server.py CONTROL_FD PROBLEM_DIR PRELOAD SERVER_DIR

It runs with the limits, the user and the environment an evaluation gets, in a session of its own.
With PRELOAD "1" it imports PROBLEM_DIR/evaluate.py once (what that prints goes into every
evaluation's logs), so a candidate's runner starts as a fork of a process that has the evaluator
in memory instead of a new interpreter that must import it; an evaluator that starts threads at
import (which a fork would not carry) or fails to import is imported by each runner itself,
after a re-exec of this server without it. With PRELOAD "0" each runner is a fresh interpreter
(`runner.py` exec'd), as the process sandbox did before it had a server.

The next runner is forked ahead, as soon as the last one is reaped (a spare: it does what does not
depend on the job, then waits on a socket pair for it), so no fork is on an evaluation's path. Each runner is
what a per-candidate process was: its own session, killed when this server dies
(PR_SET_PDEATHSIG), a subreaper (nothing it starts escapes it while it lives), no descriptor of
the server's but the result pipe the host sent for it (on fd 3), the evaluation's private
folder as its working directory and home, the evaluation's environment and no other, the
evaluation's rlimits (address space, file size, CPU time, no core, processes); then runner.py's
own job: stdout and stderr into a bounded capture, undumpable, the result on the private pipe.
The candidate itself is started by evaluate.py through evolve_eval.run_candidate, a new
interpreter confined by Landlock and seccomp (confine.py), as before.

CONTROL_FD is a SOCK_SEQPACKET socket to the host, one job at a time (the host runs as many
servers as it has evaluations at once):
    server -> host  {"ready": true, "preloaded": bool, "why": str}
    host -> server  {"run": {"dir", "candidate", "spec", "env", "limits", "fresh"}} + the result pipe's write end
    server -> host  {"pid": N}                   (the runner has its job)
    host -> server  {"kill": true}               (only when the host stops waiting: deadline, result too large)
    server -> host  {"status": EXIT_CODE}        (the runner exited, or was killed; everything it left is
                                                  killed, it is reaped, and then the job's folder removed;
                                                  the host reads it at the latest before its next job)
The end of the socket means the host is gone (or closed this server): the running job's processes
are killed, its folder and SERVER_DIR removed, and the server exits. So nothing outlives a host
that died, even by SIGKILL.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "runner.py")
sys.path.insert(0, HERE)

import runner  # noqa: E402

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
SETUP_FAILED = 70  # a runner that could not be set up exits with this, before any candidate exists
MAX_MESSAGE = 1 << 20
LIMITS = ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_CORE", "RLIMIT_NPROC")  # NPROC last: per user
MAX_FD = max(4, os.sysconf("SC_OPEN_MAX"))

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


# -- processes -------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The live children of `pid` (Linux /proc/PID/task/TID/children; a full scan where it is absent)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(child) for child in f.read().split()]
        except FileNotFoundError:
            return _children_by_scan(pid)
        except OSError:
            continue
    return found


def _children_by_scan(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _tree(pid: int) -> list[int]:
    """`pid`'s descendants, not `pid` itself."""
    found, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(pid: int) -> bool:
    """Whether our child `pid` has exited; it stays a zombie (its pid is not reused) until reaped."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_all(runner_pid: int | None, keep: int | None = None) -> None:
    """Kill the runner, everything below it, and everything that was below it and came to us
    (we are a subreaper), but `keep` (the next job's spare runner); reap all of it but the
    runner, which the caller reaps."""
    me = os.getpid()
    for _ in range(8):  # a dying process may leave more orphans meanwhile
        orphans = [pid for pid in _children(me) if pid not in (runner_pid, keep)]
        victims = [*orphans, *(p for o in orphans for p in _tree(o))]
        if runner_pid is not None:
            victims += _tree(runner_pid)
            if not _exited(runner_pid):
                victims.append(runner_pid)
            try:
                os.killpg(runner_pid, signal.SIGKILL)  # its group: the pid is ours until reaped
            except (ProcessLookupError, PermissionError):
                pass
        victims = [pid for pid in victims if not _zombie(pid)]
        for pid in victims:
            _kill(pid)
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if not victims and not orphans:
            return


def _reap(runner_pid: int) -> int:
    try:
        _, status = os.waitpid(runner_pid, 0)
    except ChildProcessError:
        return -signal.SIGKILL
    return os.waitstatus_to_exitcode(status)


# -- the host --------------------------------------------------------------------------------------


class HostGone(Exception):
    """The control socket ended: the host closed this server, or died."""


def _send(control: socket.socket, message: dict) -> None:
    try:
        control.send(json.dumps(message).encode())
    except OSError:
        raise HostGone from None


def _receive_raw(control: socket.socket) -> tuple[bytes, list[int]]:
    try:
        data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 4)
    except OSError:
        raise HostGone from None
    for fd in fds:
        os.set_inheritable(fd, False)
    if not data:
        for fd in fds:
            os.close(fd)
        raise HostGone
    return data, fds


def _receive(control: socket.socket) -> tuple[dict, list[int]]:
    data, fds = _receive_raw(control)
    return json.loads(data), fds


def _wait_for_exit(pid: int, control: socket.socket) -> None:
    """Until our child `pid` exits (it is not reaped) or the host asks for it to be killed;
    HostGone when the host goes."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        poller = select.poll()
        poller.register(control.fileno(), select.POLLIN | select.POLLHUP)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        while not _exited(pid):
            for fd, _ in poller.poll(None if pidfd is not None else 20):
                if fd == control.fileno():
                    message, fds = _receive(control)  # HostGone at its end
                    for extra in fds:
                        os.close(extra)
                    if message.get("kill"):
                        return
    finally:
        if pidfd is not None:
            os.close(pidfd)


# -- one runner ------------------------------------------------------------------------------------


def _fork_spare(server_pid: int, module, logs: str, problem_dir: str) -> tuple[int, socket.socket]:
    """Fork the next runner ahead of its job: (its pid, our end of the link its job comes over)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        _spare(theirs.fileno(), server_pid, module, logs, problem_dir)
    theirs.close()
    return pid, ours


def _spare(link_fd: int, server_pid: int, module, logs: str, problem_dir: str) -> None:
    """In the forked child: do what does not depend on the job, wait for it, become its runner;
    never returns."""
    try:
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server_pid:  # the server died before the line above took effect
            os._exit(SETUP_FAILED)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_DUMPABLE, 0)
        # Nothing of the server's (its control socket, ...): only the link, until the job comes.
        if link_fd != 3:
            os.dup2(link_fd, 3, inheritable=False)
        os.closerange(4, MAX_FD)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.close(null)
        link = socket.socket(fileno=3)
        data, fds, _, _ = socket.recv_fds(link, MAX_MESSAGE, 4)
        link.detach()
        if not data or not fds:
            os._exit(0)  # the server is closing
        os.dup2(fds[0], 3, inheritable=False)  # the result pipe takes the link's place, where a runner has it
        os.closerange(4, MAX_FD)
        job = json.loads(data)["run"]
        os.chdir(job["dir"])
        os.environ.clear()
        os.environ.update(job["env"])
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = None  # found again from TMPDIR, this evaluation's folder
        for name in LIMITS:
            value = int(job["limits"][name])
            resource.setrlimit(getattr(resource, name), (value, value))
        candidate, spec = job["candidate"], job["spec"]
        if job.get("fresh"):  # a new interpreter, as before there was a server
            os.dup2(3, 1)
            os.execv(sys.executable, [sys.executable, "-I", RUNNER, problem_dir, candidate, spec])
        sys.argv[:] = [RUNNER, problem_dir, candidate, spec]
        runner.serve(problem_dir, candidate, json.loads(spec), 3, module, logs)
    except BaseException:
        pass
    os._exit(SETUP_FAILED)


def _hand_over(spare: tuple[int, socket.socket], data: bytes, fds: list[int]) -> bool:
    """Send the job to the spare runner; False when it is gone (killed meanwhile)."""
    try:
        socket.send_fds(spare[1], [data], fds)
        return True
    except OSError:
        return False
    finally:
        spare[1].close()


def _preload(problem_dir: str, server_dir: str):
    """Import evaluate.py here; (module, what it printed) or (None, why not)."""
    runner.add_paths(problem_dir)
    out_path = os.path.join(server_dir, "import-output")
    out = os.open(out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    saved = [os.dup(1), os.dup(2)]
    os.dup2(out, 1)
    os.dup2(out, 2)
    try:
        module = runner.load_evaluator(problem_dir)
    except BaseException as exc:  # each runner imports it again and reports the error as before
        module = exc
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
    os.lseek(out, 0, os.SEEK_SET)
    printed = os.read(out, runner.LOG_HEAD).decode(errors="replace")
    os.close(out)
    os.unlink(out_path)
    if isinstance(module, BaseException):
        return None, f"evaluate.py does not import ({type(module).__name__})"
    return module, printed


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def main() -> None:
    control_fd, problem_dir, preload, server_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    control = socket.socket(fileno=control_fd)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    module, logs, why = None, "", ""
    if preload == "1":
        module, logs = _preload(problem_dir, server_dir)
        if module is None:
            why = logs
        elif _threads() > 1:
            # A fork keeps only the calling thread: start over without the evaluator in memory.
            os.set_inheritable(control_fd, True)
            argv = [sys.executable, "-I", __file__, str(control_fd), problem_dir, "threads", server_dir]
            os.execv(sys.executable, argv)
    elif preload == "threads":
        why = "evaluate.py starts threads when imported"
    if module is None:
        runner.add_paths(problem_dir)
    me = os.getpid()
    job: dict = {}
    pid: int | None = None
    spare: tuple[int, socket.socket] | None = None
    try:
        _send(control, {"ready": True, "preloaded": module is not None, "why": why})
        spare = _fork_spare(me, module, logs, problem_dir)
        while True:
            data, fds = _receive_raw(control)
            job, pid = json.loads(data)["run"], None
            if not fds:
                raise HostGone  # not what the host sends: stop
            handed = spare is not None and _hand_over(spare, data, fds)
            if not handed:  # the spare was killed meanwhile: another, at once
                if spare is not None:
                    _kill(spare[0])
                    _reap(spare[0])
                spare = _fork_spare(me, module, logs, problem_dir)
                handed = _hand_over(spare, data, fds)
            assert spare is not None
            pid, spare = spare[0], None
            for fd in fds:
                os.close(fd)
            _send(control, {"pid": pid})
            if handed:
                _wait_for_exit(pid, control)
                _kill_all(pid)
            else:
                _kill(pid)
            status = _reap(pid)
            pid = None
            try:
                _send(control, {"status": status})
            finally:  # after the answer (not on the host's path), whether or not the host is still there
                # The next job's runner, forked now rather than when that job comes (or while this
                # one ran, when it would have competed with it for the CPU).
                spare = _fork_spare(me, module, logs, problem_dir)
                shutil.rmtree(job["dir"], ignore_errors=True)
    except HostGone:
        _kill_all(pid)
        if pid is not None:
            _reap(pid)
            shutil.rmtree(job.get("dir", ""), ignore_errors=True)  # the host may not be there to do it
        shutil.rmtree(server_dir, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()

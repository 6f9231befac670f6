"""Compile the candidate's C and run native programs confined, each run timed from its exec.

`run_candidate` (evolve_eval) starts Python programs; a compiled candidate needs its compiler and
its binary run under the same wall. A `Launcher` is a small helper process started once per
evaluation (this file, `python3 -I native.py serve EVALUATORS_DIR`). For every run it forks a
child that confines itself with Landlock (confine.py: it reads the system's files, the one
program and the inputs it is given, and writes one fresh directory of its own), then execs the
program. Being single-threaded, the helper can fork safely where evaluate.py's process (which
has threads) could not. It times the run from the exec (a close-on-exec pipe closes at that
instant) to the exit, so the launcher's own start is not measured, then kills everything the
run left behind (it is their subreaper) before it answers: nothing of a run outlives it, and no
run can write where a later run reads (no result cache between runs). Besides the wall-clock
time it reports the CPU time of the whole process tree of the run (every process is reaped by the
helper, so work handed to a child that is never waited for still counts), less what the child
spent before its exec.

The compiler runs the same way: a source that `#include`s the problem's files, or the held-out
sizes, finds nothing readable.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
# -march names the oldest CPU of the architecture, so a binary that runs here runs on any of its
# machines; a candidate that wants more (AVX2) must ask in its source (`#pragma GCC target`).
MARCH = {"x86_64": "x86-64", "aarch64": "armv8-a"}
COMPILE_TIMEOUT = 30.0
MAX_COMPILER_LINES = 30
MAX_COMPILER_CHARS = 2500


def compile_command(source: str, binary: str) -> list[str]:
    """The fixed compiler command line: every candidate, and the reference, get exactly this."""
    march = MARCH.get(platform.machine())
    target = [f"-march={march}"] if march else []
    return ["gcc", "-O2", *target, "-std=gnu11", "-fmax-errors=5", "-o", binary, source, "-lm"]


@dataclass(frozen=True)
class Finished:
    """One confined run: how long it took from exec to exit, and how it ended."""

    seconds: float  # wall-clock time from the exec to the exit
    cpu_seconds: float  # CPU time of the program and every process it started, from the exec on
    exit_code: int | None  # negative: killed by that signal; None: it never started
    timed_out: bool
    stderr: str  # its last few KB
    workdir: str  # the run's own directory (its outputs), removed by the caller

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class Compiled:
    ok: bool
    binary: str
    messages: str  # the compiler's first errors, paths shortened to the file's name
    seconds: float


class Launcher:
    """The helper process; use as a context manager (`with Launcher() as launch: ...`)."""

    def __init__(self, scratch: str | None = None):
        import confine  # evaluators/ is on evaluate.py's sys.path

        self.scratch = tempfile.mkdtemp(prefix="native-", dir=scratch)
        os.chmod(self.scratch, 0o700)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                os.path.abspath(__file__),
                "serve",
                os.path.dirname(os.path.abspath(confine.__file__)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run(
        self,
        argv: list[str],
        program: str,
        readable: tuple[str, ...] = (),
        timeout: float = 10.0,
        no_processes: bool = True,
    ) -> Finished:
        """Run `argv` confined: it may read `program` and `readable`, and write only a fresh
        directory (`Finished.workdir`, also its working directory and its TMPDIR); with
        `no_processes` it may start threads but no process (see `deny_processes`)."""
        workdir = tempfile.mkdtemp(dir=self.scratch)
        os.chmod(workdir, 0o700)
        job = {
            "argv": argv,
            "program": program,
            "readable": list(readable),
            "workdir": workdir,
            "timeout": timeout,
            "no_processes": no_processes,
        }
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the native launcher died")
        reply = json.loads(line)
        stderr = _tail(os.path.join(workdir, ".stderr"))
        if reply.get("error"):
            return Finished(0.0, 0.0, None, False, reply["error"], workdir)
        return Finished(reply["seconds"], reply["cpu_seconds"], reply["exit_code"], reply["timed_out"], stderr, workdir)

    def compile(self, source: str, name: str) -> Compiled:
        """Compile `source` with `compile_command`; messages name the file as `name`."""
        directory = tempfile.mkdtemp(dir=self.scratch)
        staged = os.path.join(directory, name)
        shutil.copyfile(source, staged)
        binary_name = os.path.splitext(name)[0] or "program"
        started = time.perf_counter()
        # The compiler runs its passes (cc1, as, ld) as processes of its own.
        done = self.run(compile_command(staged, binary_name), staged, timeout=COMPILE_TIMEOUT, no_processes=False)
        seconds = time.perf_counter() - started
        binary = os.path.join(done.workdir, binary_name)
        if done.ok and os.path.isfile(binary):
            return Compiled(True, binary, "", seconds)
        if done.timed_out:
            why = f"the compiler ran past {COMPILE_TIMEOUT:g} s"
        else:
            why = compiler_messages(done.stderr, directory) or f"the compiler failed (exit {done.exit_code})"
        return Compiled(False, "", why, seconds)


def remove(done: Finished) -> None:
    """Delete a run's directory (its outputs) once they are read."""
    shutil.rmtree(done.workdir, ignore_errors=True)


def compiler_messages(stderr: str, directory: str) -> str:
    """The compiler's first lines, with the staging directory removed from paths (bounded)."""
    text = stderr.replace(directory.rstrip("/") + "/", "")
    lines = [line for line in text.splitlines() if line.strip()][:MAX_COMPILER_LINES]
    return "\n".join(lines)[:MAX_COMPILER_CHARS]


def _tail(path: str, limit: int = 8000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


# -- the helper process -----------------------------------------------------------------------


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def _kill_leftovers(pid: int) -> None:
    """Kill the run's process group, then every process that came back to us as subreaper,
    until none is left (a dying process may orphan more)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    me = os.getpid()
    for _ in range(100):
        children = [child for child, parent in _parents().items() if parent == me]
        if not children:
            return
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for child in children:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass


def _start_child(job: dict, executable: str | int, confine, ready_w: int) -> None:
    """In the forked child: redirect, confine, exec. Never returns."""
    try:
        workdir = job["workdir"]
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(os.path.join(workdir, ".stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        why = confine(job["program"], workdir, [job["program"], *job["readable"]])
        if why:
            os.write(2, f"native: not confined: {why}\n".encode())
        if job["no_processes"]:
            why = deny_processes(sys.modules["confine"])
            if why:
                os.write(2, f"native: may start processes: {why}\n".encode())
        os.chdir(workdir)
        env = {"PATH": ENV_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        # The CPU time spent here so far is ours, not the program's: say it, then exec.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        os.write(ready_w, f"{usage.ru_utime + usage.ru_stime!r}\n".encode())
        os.execve(executable, job["argv"], env)
    except BaseException as exc:  # anything: say it on the pipe, then exit
        try:
            os.write(ready_w, f"!could not start {job['argv'][0]}: {type(exc).__name__}: {exc}".encode()[:1000])
        finally:
            os._exit(127)


# Process creation per architecture: the audit value, fork-like syscalls, clone, clone3. A run
# may start threads (they end with it), not processes: a process could outlive the run, for the
# moment it takes to rewrite the output after the program exits and before anything kills it.
_PROCESS_SYSCALLS = {"x86_64": (0xC000003E, (57, 58), 56, 435), "aarch64": (0xC00000B7, (), 220, 435)}
_CLONE_THREAD = 0x00010000


def _assemble(program: list[tuple]) -> list[tuple[int, int, int, int]]:
    """Classic BPF with labels: ("label", name) marks a place; jumps name their targets."""
    places, at = {}, 0
    for ins in program:
        if ins[0] == "label":
            places[ins[1]] = at
        else:
            at += 1
    out: list[tuple[int, int, int, int]] = []
    for ins in program:
        if ins[0] == "label":
            continue
        op, jt, jf, k = ins
        here = len(out) + 1
        out.append((op, places[jt] - here if jt else 0, places[jf] - here if jf else 0, k))
    return out


def deny_processes(confine_module) -> str | None:
    """Install a seccomp filter (after confine, which set no_new_privs) that refuses fork, vfork
    and clone without CLONE_THREAD (EPERM), and clone3 (ENOSYS: the C library then uses clone)."""
    import ctypes

    arch = _PROCESS_SYSCALLS.get(platform.machine())
    if arch is None:
        return f"no process filter for {platform.machine()}"
    audit, forks, clone, clone3 = arch
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    program: list[tuple] = [(ld, 0, 0, 4), (jeq, 0, "allow", audit), (ld, 0, 0, 0)]
    program += [(jeq, "deny", 0, nr) for nr in forks]
    program += [(jeq, "enosys", 0, clone3), (jeq, 0, "allow", clone), (ld, 0, 0, 16)]
    program += [(jset, "allow", 0, _CLONE_THREAD)]
    program += [("label", "deny"), (ret, 0, 0, eperm), ("label", "allow"), (ret, 0, 0, allow)]
    program += [("label", "enosys"), (ret, 0, 0, enosys)]
    code = _assemble(program)
    filters = (confine_module._SockFilter * len(code))(*[confine_module._SockFilter(*ins) for ins in code])
    fprog = confine_module._SockFprog(len(code), filters)
    if ctypes.CDLL(None, use_errno=True).prctl(22, 2, ctypes.byref(fprog), 0, 0):  # PR_SET_SECCOMP, filter
        return f"seccomp filter refused: {os.strerror(ctypes.get_errno())}"
    return None


def _sealed_copy(path: str) -> int:
    """The program at `path` as a sealed memory file: the sandbox's /tmp is mounted noexec (Docker's
    default for a tmpfs), and a file in memory is also one that no run can change afterwards."""
    import fcntl

    fd = os.memfd_create(os.path.basename(path), os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    with open(path, "rb") as f:
        os.write(fd, f.read())
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def _run_job(job: dict, confine) -> dict:
    program = job["argv"][0]
    executable: str | int | None
    if "/" in program:  # a binary built here: run from memory
        try:
            executable = _sealed_copy(program)
        except OSError as exc:
            return {"error": f"cannot load {program}: {exc}"}
    else:  # a tool of the image (the compiler)
        executable = shutil.which(program, path=ENV_PATH)
        if not executable:
            return {"error": f"{program} is not installed in this image"}
    ready_r, ready_w = os.pipe()  # close-on-exec: it reads as closed the instant the exec succeeds
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        _start_child(job, executable, confine, ready_w)
    os.close(ready_w)
    said = _read_to_end(ready_r)  # the end comes the instant the exec succeeds (or the child exits)
    started = time.perf_counter()
    os.close(ready_r)
    timed_out = False

    def on_alarm(signum, frame):
        nonlocal timed_out
        timed_out = True
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, float(job["timeout"])))
    _, status = os.waitpid(pid, 0)  # retried by Python across the alarm's interruption
    seconds = time.perf_counter() - started
    signal.setitimer(signal.ITIMER_REAL, 0)
    timed_out = timed_out and seconds >= float(job["timeout"]) * 0.99  # not an alarm that came just after the exit
    _kill_leftovers(pid)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process of the run, now reaped
    if isinstance(executable, int):
        os.close(executable)
    before_exec, _, failed = said.decode(errors="replace").partition("!")
    if failed or not before_exec.strip():
        return {"error": failed or f"{program} did not start"}
    cpu = _cpu(after) - _cpu(usage_before) - float(before_exec)
    return {
        "seconds": seconds,
        "cpu_seconds": max(0.0, cpu),
        "exit_code": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
    }


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def serve(evaluators_dir: str) -> None:
    import ctypes

    sys.path.insert(0, evaluators_dir)
    from confine import confine

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of a run come to us
    for line in sys.stdin.buffer:
        reply = _run_job(json.loads(line), confine)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])

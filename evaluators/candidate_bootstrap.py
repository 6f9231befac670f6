"""The candidate's own process: confine it, import the program, call one function, write the result.

Usage (by `evolve_eval.run_candidate`, never by hand):
    python -I candidate_bootstrap.py PROGRAM FUNCTION RESULT_PATH CONFINED READABLE [PARENT]
with the call's `[args, kwargs]` as JSON on stdin. CONFINED is "1" to lock the process with
Landlock first (confine.py); READABLE is extra readable paths joined by os.pathsep; PARENT is the
evaluator's pid: the candidate is SIGKILLed when that process dies (PR_SET_PDEATHSIG), so it never
outlives an evaluator that was killed. The return value goes to RESULT_PATH as JSON, which the
evaluator reads and checks.
"""

import importlib.util
import json
import os
import sys


def _plain(obj):
    import enum

    if isinstance(obj, enum.Enum):  # by name: an evaluator that imported the class may restore it
        return {"__enum__": f"{type(obj).__module__}.{type(obj).__qualname__}", "name": obj.name}
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot return a {type(obj).__name__}")


def _die_with(parent: str) -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if str(os.getppid()) != parent:  # it died before that took effect
        os._exit(1)


def main() -> None:
    program, function, result_path, confined, readable = sys.argv[1:6]
    if len(sys.argv) > 6:
        _die_with(sys.argv[6])
    args, kwargs = json.load(sys.stdin)
    here = os.path.dirname(os.path.abspath(__file__))
    if confined == "1":
        sys.path.insert(0, here)
        from confine import confine

        # Writable: this call's own working directory, nothing else (not the evaluator's files).
        why = confine(program, os.path.dirname(result_path), [p for p in readable.split(os.pathsep) if p])
        if why:
            sys.stderr.write(f"evolve_eval: candidate not confined: {why}\n")
    # The candidate imports nothing of ours (a Python without -I implying -P put our folder first).
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    # As `python program.py` would: modules beside the program import (run_shinka_eval puts a
    # ShinkaEvolve problem's helper modules there; alone, the folder holds only the candidate).
    sys.path.insert(0, os.path.dirname(os.path.abspath(program)))
    spec = importlib.util.spec_from_file_location("candidate", program)
    module = importlib.util.module_from_spec(spec)
    sys.modules["candidate"] = module
    spec.loader.exec_module(module)
    value = getattr(module, function)(*args, **kwargs)
    text = json.dumps(value, default=_plain)
    with open(result_path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()

"""Which prompt a small model turns into children: an A/B of prompts on the real local model (issue 23).

Starts the local Qwen2.5-Coder-0.5B server (tests/local_model.py) and sends each variant's prompt
for the initial program of each problem, N times (diff and rewrite alternating, temperature 0.7, a
seed per sample), then reads each answer with the project's reader (`read_answer`). A sample counts
when its answer makes a child that differs from the program (comments and formatting aside). No
run, no sandbox: only what the prompt makes the model write. Variants:

  whole     the whole-program prompts a self-hosted model got before (`build_messages(small_model=True)`)
  outline   the block alone plus an outline of the frozen code's names (tried, not kept)
  block     the block alone (prompts/small.j2, `build_messages(focused=True)`)
  reask     `block`, and an answer that changes nothing (or holds no code) asked once more, at
            temperature 1.0, told that its code is the original's (the re-ask that ships asks it
            only for unchanged code: evolve/mutate/reask.py)

Usage:
  python bench/small_prompts.py whole block reask -n 6          # about 40 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from evolve.edit.answers import read_answer  # noqa: E402
from evolve.edit.blocks import split  # noqa: E402
from evolve.edit.child import canonical_form  # noqa: E402
from evolve.mutate import direct  # noqa: E402
from evolve.mutate.prompt import ProblemView, build_messages  # noqa: E402
from evolve.mutate.views import ProgramView  # noqa: E402
from evolve.problem import load_problem  # noqa: E402

import local_model  # noqa: E402

NOTHING = ("the edit changes nothing", "the edit changes only comments", "the answer holds no edit")
AGAIN = (
    "Your code is the same as the original. Write a different version: change how it works "
    "(a formula, a constant, the order, the method). Answer with the new code in one fenced code block."
)


def chat(url: str, messages: list[dict], temperature: float, seed: int) -> str:
    model = f"openai/{local_model.MODEL_ALIAS}"
    return direct.chat(model, url, messages, temperature, max_tokens=900, timeout=600.0, seed=seed).text


def outline(code: str) -> str:
    """The frozen code's imports, short assignments, functions and classes, one line each."""
    frozen, tree, out = "".join(split(code)[0]), ast.parse(code), []
    for node in tree.body:
        text = ast.get_source_segment(code, node) or ""
        if text not in frozen:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom) or (isinstance(node, ast.Assign) and len(text) < 80):
            out.append(f"- `{text}`")
        elif isinstance(node, ast.FunctionDef):
            doc = (ast.get_docstring(node) or "").split("\n")[0]
            out.append(f"- `{node.name}({', '.join(a.arg for a in node.args.args)})`" + (f": {doc}" if doc else ""))
        elif isinstance(node, ast.ClassDef):
            doc = " ".join((ast.get_docstring(node) or "").split())
            out.append(f"- class `{node.name}`: {doc}")
    return "\n".join(out)


def messages_for(variant: str, problem, mutation: str) -> list[dict]:
    view = ProblemView(problem.name, problem.config.description, "python")
    parent = ProgramView(1, problem.initial_code, 1.0, {"score": 1.0})
    if variant == "whole":
        return build_messages(mutation, view, parent, [], None, small_model=True)
    messages = build_messages(mutation, view, parent, [], None, focused=True)
    if variant == "outline":
        extra = f"\n\nIt is part of a larger program whose other code stays as it is. That code provides:\n{outline(problem.initial_code)}"
        user = messages[1]["content"].replace("\n\nAnswer with your idea", extra + "\n\nAnswer with your idea")
        messages = [messages[0], {"role": "user", "content": user}]
    return messages


def changed_child(code: str, answer: str) -> tuple[bool, str, str]:
    reading = read_answer(code, answer, "python")
    child = reading.child
    changed = child is not None and canonical_form(child, "python") != canonical_form(code, "python")
    return changed, str(reading.form), reading.reason or ("" if changed else "the edit changes nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", choices=("whole", "outline", "block", "reask"))
    parser.add_argument("-n", type=int, default=6, help="samples per variant and problem")
    parser.add_argument("--problems", default="circle_packing,txn_scheduling")
    args = parser.parse_args()
    server = local_model.serve()
    tally: Counter = Counter()
    try:
        for variant in args.variants:
            for name in args.problems.split(","):
                problem = load_problem(ROOT / "problems" / name)
                code = problem.initial_code
                for i in range(args.n):
                    mutation = "diff" if i % 2 else "full"
                    messages = messages_for(variant, problem, mutation)
                    started = time.monotonic()
                    answer = chat(server.api_base, messages, 0.7, 1000 + i)
                    calls = 1
                    changed, form, reason = changed_child(code, answer)
                    if variant == "reask" and not changed and reason.startswith(NOTHING):
                        again = [
                            *messages,
                            {"role": "assistant", "content": answer[:600]},
                            {"role": "user", "content": AGAIN},
                        ]
                        changed, form, reason = changed_child(code, chat(server.api_base, again, 1.0, 3000 + i))
                        calls += 1
                    tally[(variant, name, "samples")] += 1
                    tally[(variant, name, "children")] += changed
                    tally[(variant, name, "calls")] += calls
                    seconds = time.monotonic() - started
                    print(
                        f"{variant} {name} {i} {mutation}: {form}, {'child' if changed else reason[:90]} ({seconds:.0f} s)"
                    )
    finally:
        server.stop()
    print("\n| variant | problem | samples | children that change the code | calls |\n|---|---|---:|---:|---:|")
    for variant in args.variants:
        for name in args.problems.split(","):
            n, kids = tally[(variant, name, "samples")], tally[(variant, name, "children")]
            print(
                f"| {variant} | {name} | {n} | {kids} ({100 * kids / max(n, 1):.0f}%) | {tally[(variant, name, 'calls')]} |"
            )


if __name__ == "__main__":
    main()

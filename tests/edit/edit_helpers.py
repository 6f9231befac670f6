"""Programs and answers shared by the tests of evolve/edit/: a scheduling program with one block,
a small one with frozen code on both sides, one with two blocks, and the door read as the
mutator reads it (`read_answer`)."""

from __future__ import annotations

from evolve.edit import EditRejected, read_answer
from evolve.kinds import AnswerForm

PROGRAM = '''"""Schedule jobs on machines."""

import heapq

MACHINES = 4


# EVOLVE-BLOCK-START
def priority(job):
    """Shorter jobs first, heavier ones a little earlier."""
    weight = 0.5
    if job.deadline:
        return job.length - weight * job.size
    return job.length
# EVOLVE-BLOCK-END


def schedule(jobs):
    heap = [(priority(j), i, j) for i, j in enumerate(jobs)]
    heapq.heapify(heap)
    return [heapq.heappop(heap)[2] for _ in jobs]
'''

CHILD = PROGRAM.replace("weight = 0.5", "weight = 0.75")
CHILD_TWO = CHILD.replace("return job.length\n# EVOLVE", "return job.length * 1.1\n# EVOLVE")

# A small program: an import before the block, a function after it that calls into it.
SMALL = """import math

# EVOLVE-BLOCK-START
def f(x):
    y = x * 2.0
    return y + 1
# EVOLVE-BLOCK-END

def g():
    return f(3)
"""

TWO_BLOCKS = """import math

# EVOLVE-BLOCK-START
A = 1.0
# EVOLVE-BLOCK-END

def middle():
    return math.sqrt(2)

# EVOLVE-BLOCK-START
def g(x):
    return A * x
# EVOLVE-BLOCK-END

print(g(middle()))
"""


def sr(search: str, replace: str, marks: int = 7) -> str:
    return f"{'<' * marks} SEARCH\n{search}\n{'=' * marks}\n{replace}\n{'>' * marks} REPLACE\n"


EDIT = sr("    weight = 0.5", "    weight = 0.75")


def read(answer: str, program: str = PROGRAM, language: str = "python"):
    return read_answer(program, answer, language)


def child_of(answer: str, form: AnswerForm, program: str = PROGRAM, language: str = "python") -> str:
    reading = read(answer, program, language)
    assert reading.reason is None and reading.form == form, reading
    assert reading.child is not None
    return reading.child


def rejection(answer: str, program: str = PROGRAM, language: str = "python") -> tuple[AnswerForm, str]:
    reading = read(answer, program, language)
    assert reading.child is None and reading.reason
    return reading.form, reading.reason


def apply_full_rewrite(parent: str, answer: str, language: str = "python") -> str:
    """An answer to a rewrite prompt, read by the one answer reader (which accepts any form)."""
    reading = read_answer(parent, answer, language)
    if not reading.ok:
        raise EditRejected(reading.reason)
    assert reading.form in (AnswerForm.FULL_PROGRAM, AnswerForm.BLOCK_BODY)
    return reading.child

"""Read a model's answer into a child, whatever form it takes and whichever form was asked for.

Pure functions. An answer may hold SEARCH/REPLACE blocks, a unified diff, the whole program
(with or without its EVOLVE-BLOCK markers) or the body of the block alone, fenced or bare, after
reasoning (`<think>...</think>`) and prose. Every form the answer holds is tried, the strongest
evidence first (edit markers, then diff hunks, then the largest code block); the first that
yields a valid child wins. When none does, the reason is the one from the strongest form the
answer holds, so a model is never told its edit "is not valid Python" because an edit was read
as code. For Python, an answer off the format whose intent is clear is salvaged
(evolve/edit/salvage.py) and read in a salvage form of its own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from evolve.edit.blocks import is_marker, split
from evolve.edit.child import finish_child, parse_python
from evolve.edit.errors import EditRejected
from evolve.edit.fences import find_fences
from evolve.edit.hunks import apply_hunks, find_hunks
from evolve.edit.programs import looks_like_program, read_program
from evolve.edit.salvage import apply_salvaging, place_definitions
from evolve.edit.search_replace import SEARCH_MARKER, apply_search_replace, parse_search_replace
from evolve.kinds import AnswerForm

_REASONING_TAGS = "think|thinking|reasoning"
_REASONING = re.compile(rf"<({_REASONING_TAGS})>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_OPEN_TAG = re.compile(rf"<(?:{_REASONING_TAGS})>", re.IGNORECASE)
_CLOSE_TAG = re.compile(rf"</(?:{_REASONING_TAGS})\s*>", re.IGNORECASE)

NO_EDIT = "the answer holds no edit: no SEARCH/REPLACE block, no unified diff and no code block"
IDEA_CHARS = 400  # a stated idea is shown in later prompts: a sentence or two, not an essay

# Where an answer's prose ends: a fence, an edit or diff marker, an EVOLVE-BLOCK marker, or a
# line that reads as code (an import, a definition, a decorator, an assignment, a docstring).
_EDIT_STARTS = re.compile(
    r"^[ \t]*(?:`{3,}|~{3,}|<{5,9}[ \t]*SEARCH|={5,9}[ \t]*$|>{5,9}[ \t]*REPLACE|--- |\+\+\+ |@@)"
    r"|EVOLVE-BLOCK-(?:START|END)"
    r"|^[ \t]*(?:import [\w.]|from [\w.]+ import |def \w+\(|class \w+[(:]|@\w|\"\"\"|\'\'\')"
    r"|^[ \t]*[A-Za-z_][\w.\[\]]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.\[\]]*)*[ \t]*[+\-*/]?=[^=]"
)


@dataclass(frozen=True)
class AnswerReading:
    form: AnswerForm  # the form the child was read from; when rejected, the form that failed
    child: str | None  # None: no valid child
    reason: str | None = None  # why not, naming what failed
    # When rejected: the parent's exact text the answer meant to edit (a SEARCH that matched
    # nothing above a new version of definitions of one block), for a re-ask to show.
    lines_to_copy: str | None = None

    @property
    def ok(self) -> bool:
        return self.child is not None


def strip_reasoning(answer: str) -> str:
    """The answer without its reasoning: `<think>...</think>` (and `<thinking>`, `<reasoning>`),
    an opening tag never closed (cut off while thinking), or a closing tag whose opening the
    server dropped; Windows and old-Mac line endings made plain."""
    text = answer.replace("\r\n", "\n").replace("\r", "\n")
    text = _REASONING.sub("", text)
    if (closing := list(_CLOSE_TAG.finditer(text))) and not _OPEN_TAG.search(text[: closing[-1].start()]):
        text = text[closing[-1].end() :]
    if opening := _OPEN_TAG.search(text):
        text = text[: opening.start()]
    return text


def stated_idea(answer: str, limit: int = IDEA_CHARS) -> str:
    """The idea the model stated before its edit: the answer's prose up to the first code, edit
    or diff, reasoning skipped, on one line and at most `limit` characters ("" when the answer
    opens with its edit)."""
    prose: list[str] = []
    for line in strip_reasoning(answer).splitlines():
        if _EDIT_STARTS.search(line):
            break
        words = line.strip().lstrip("#").strip()  # a Markdown heading reads as its words
        if words:
            prose.append(words)
    idea = " ".join(" ".join(prose).split())
    return idea if len(idea) <= limit else idea[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Reader:
    form: AnswerForm
    read: Callable[[], tuple[AnswerForm, str]]  # (the form it turned out to be, the child); raises EditRejected


def read_answer(parent: str, answer: str, language: str) -> AnswerReading:
    """The child the answer makes, and the form it was read in; or the reason it makes none."""
    text = strip_reasoning(answer)
    if not text.strip():
        reason = "the answer is empty" if not answer.strip() else "the answer holds only reasoning, no edit"
        return AnswerReading(AnswerForm.NONE, None, reason)
    readers = _readers(parent, text, language)
    if not readers:
        return AnswerReading(AnswerForm.NONE, None, NO_EDIT)
    failures: list[AnswerReading] = []
    for reader in readers:
        try:
            form, child = reader.read()
            return AnswerReading(form, finish_child(parent, child, language))
        except EditRejected as exc:
            failures.append(AnswerReading(reader.form, None, str(exc), exc.lines_to_copy))
    return failures[0]


def _readers(parent: str, text: str, language: str) -> list[_Reader]:
    """Every form the answer holds, the strongest evidence first."""
    readers: list[_Reader] = []
    edits = parse_search_replace(text)
    if edits and language == "python":  # a SEARCH that missed may be salvaged (evolve/edit/salvage.py)
        readers.append(_Reader(AnswerForm.SEARCH_REPLACE, lambda: apply_salvaging(parent, edits)))
    elif edits:
        readers.append(
            _Reader(AnswerForm.SEARCH_REPLACE, lambda: (AnswerForm.SEARCH_REPLACE, apply_search_replace(parent, edits)))
        )
    elif SEARCH_MARKER.search(text):
        readers.append(_Reader(AnswerForm.SEARCH_REPLACE, _broken_markers))
    hunks = find_hunks(text, skip_fence=lambda body: bool(SEARCH_MARKER.search(body)))
    if hunks:
        readers.append(_Reader(AnswerForm.UNIFIED_DIFF, lambda: (AnswerForm.UNIFIED_DIFF, apply_hunks(parent, hunks))))
    codes = _code_blocks(text, hunks_found=bool(hunks))
    if not codes and not readers:
        codes = _bare_code(parent, text, language)
    for rank, code in enumerate(codes):
        if looks_like_program(parent, code):
            readers.append(_Reader(AnswerForm.FULL_PROGRAM, _program_reader(parent, code, language)))
        elif rank == 0 and not edits and not hunks:
            # A body only from the answer's main code block: a smaller one is a snippet in prose.
            readers.append(_Reader(AnswerForm.BLOCK_BODY, _program_reader(parent, code, language)))
    return readers


def _broken_markers() -> tuple[AnswerForm, str]:
    raise EditRejected(
        "the answer has SEARCH/REPLACE markers but no complete block: each block is a '<<<<<<< SEARCH' line, "
        "the text to find, a '=======' line, its replacement and a '>>>>>>> REPLACE' line"
    )


def _program_reader(parent: str, code: str, language: str) -> Callable[[], tuple[AnswerForm, str]]:
    def read() -> tuple[AnswerForm, str]:
        reading = read_program(parent, code, language)
        return reading.form, reading.child

    return read


def _code_blocks(text: str, hunks_found: bool) -> list[str]:
    """The fenced code that is neither an edit nor a diff, largest first (the later one of two
    the same size: an answer's last block is its final word)."""
    fences = [
        (len(f.body.splitlines()), f.start, f.body)
        for f in find_fences(text)
        if f.body.strip()
        and not SEARCH_MARKER.search(f.body)
        and not (hunks_found and (f.info in ("diff", "patch", "udiff") or _has_hunk_header(f.body)))
    ]
    return [body for _, _, body in sorted(fences, reverse=True)]


def _has_hunk_header(body: str) -> bool:
    return any(line.startswith("@@") for line in body.splitlines())


def _bare_code(parent: str, text: str, language: str) -> list[str]:
    """Unfenced code: a whole program between prose (trimmed to the lines that begin and end
    the parent's program), or, for Python, an answer that is all statements (a block body, or
    definitions of one of several blocks)."""
    known = {line.strip() for line in parent.splitlines() if line.strip()}
    lines = text.splitlines()
    fits = [i for i, line in enumerate(lines) if line.strip() in known or is_marker(line)]
    if fits:
        trimmed = "".join(line + "\n" for line in lines[fits[0] : fits[-1] + 1])
        if looks_like_program(parent, trimmed):
            return [trimmed]
    if language == "python" and _is_python_statements(text) and _fits_a_block(parent, text):
        return [text.strip("\n") + "\n"]
    return []


def _fits_a_block(parent: str, code: str) -> bool:
    """A block body (the program has one block), or definitions of one of several (a salvage)."""
    return len(split(parent)[1]) == 1 or place_definitions(parent, code) is not None


def _is_python_statements(text: str) -> bool:
    """Python code with at least one statement that is not a bare expression: prose rarely
    parses, and a word or two that does ("Done.") is an expression, not code."""
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(not isinstance(node, ast.Expr) for node in tree.body)

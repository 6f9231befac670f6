"""From a model's answer to a child program: the one package that reads an answer's form
(SEARCH/REPLACE blocks, a unified diff, a whole program or the body of its EVOLVE-BLOCK, fenced
or bare, after reasoning and prose), applies it to the parent, and checks the child.

The door is `read_answer(parent, answer, language)`: the child and the form it was read in, or
the reason it makes none. A child made another way (the offline mutator's) passes the same
`check_child`. Every rejection is an `EditRejected` naming what failed.

Modules, in the order an answer passes through them:
  answers         which form the answer is in; its stated idea; reasoning stripped
  fences          Markdown code fences in an answer
  search_replace  SEARCH/REPLACE blocks, found and applied by their text
  hunks           unified-diff hunks, applied by their context
  programs        code read as the whole program or as the block bodies
  salvage         answers off the format whose intent is clear (Python), each its own form
  anchors         a whole program that changed frozen code, its blocks read between anchors
  blocks          EVOLVE-BLOCK regions and the frozen code around them (also used by problems,
                  novelty and the offline mutator)
  child           the checks every child passes, its canonical form, the diff shown
  errors          EditRejected
"""

from evolve.edit.answers import IDEA_CHARS, NO_EDIT, AnswerReading, read_answer, stated_idea, strip_reasoning
from evolve.edit.child import canonical_form, check_child, unified_diff
from evolve.edit.errors import EditRejected

__all__ = [
    "IDEA_CHARS",
    "NO_EDIT",
    "AnswerReading",
    "EditRejected",
    "canonical_form",
    "check_child",
    "read_answer",
    "stated_idea",
    "strip_reasoning",
    "unified_diff",
]

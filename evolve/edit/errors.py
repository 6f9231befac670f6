"""Why an answer makes no child: the one error every step from an answer to a child raises."""

from __future__ import annotations


class EditRejected(ValueError):
    """An answer, or the child it makes, is not accepted; the message names what failed, and is
    stored and shown to the model when its answer is sent back. `lines_to_copy`, when set, is the
    parent's exact text the answer meant to edit (a re-ask can show it to copy)."""

    def __init__(self, message: str, lines_to_copy: str | None = None):
        super().__init__(message)
        self.lines_to_copy = lines_to_copy


class SearchMissed(EditRejected):
    """A SEARCH part that matches nothing in the program (the one failure a salvage may mend)."""

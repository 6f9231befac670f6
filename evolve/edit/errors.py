"""Why an answer makes no child: the one error every step from an answer to a child raises."""

from __future__ import annotations


class EditRejected(ValueError):
    """An answer, or the child it makes, is not accepted; the message names what failed, and is
    stored and shown to the model when its answer is sent back."""

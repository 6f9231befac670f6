"""What a run may still spend on model calls (--max-cost), shared by the driver and the threads
that make the calls.

A call is made only once its price bound is reserved: the prompt's tokens at the input price plus
the model's max_tokens at the output price, or the dearest call seen so far when that is more
(a server that reports more tokens than it was allowed). A call the budget cannot hold is not made:
the driver does not launch the iteration, a re-ask is not sent. So spending passes the budget by
at most what a call costs beyond its bound, however the later calls' prices grow.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Hold:
    """One reservation; settled (or released) once, whoever gets there first."""

    amount: float
    open: bool = True


class Spending:
    def __init__(self, budget: float, first_call_bound: float):
        self.budget = budget
        # The bound of a first call, at the prompt's token budget: what the driver reserves per launch.
        self.first_call_bound = first_call_bound
        self.spent = 0.0
        self.reserved = 0.0
        self.dearest = 0.0  # the dearest call so far
        self.lock = threading.Lock()

    def start(self, spent: float) -> None:
        """What the run had spent before (a resumed run's earlier calls), added to what the
        calls made so far spent (a new run's first proposals, sent before its loop began)."""
        with self.lock:
            self.spent += spent

    def hold(self, bound: float | None = None, replacing: Hold | None = None) -> Hold | None:
        """Reserve one call's price bound (by default a first call's), in place of `replacing` if
        given; None, with `replacing` released, when what is left of the budget cannot hold it."""
        with self.lock:
            if replacing is not None and replacing.open:
                replacing.open = False
                self.reserved -= replacing.amount
            amount = max(bound if bound is not None else self.first_call_bound, self.dearest)
            if self.spent + self.reserved + amount > self.budget:
                return None
            self.reserved += amount
            return Hold(amount)

    def room(self) -> bool:
        """Whether one more first call could be reserved now."""
        with self.lock:
            return self.spent + self.reserved + max(self.first_call_bound, self.dearest) <= self.budget

    def settle(self, hold: Hold | None, cost: float) -> None:
        """The call ended and cost `cost`: its reservation becomes what it spent."""
        with self.lock:
            if hold is not None and hold.open:
                hold.open = False
                self.reserved -= hold.amount
            self.spent += cost
            self.dearest = max(self.dearest, cost)

    def release(self, hold: Hold | None) -> None:
        """A reservation no call used (the iteration raised, the call was not made)."""
        self.settle(hold, 0.0)

    @property
    def bound(self) -> float:
        """What one call reserves now, for the stop message."""
        with self.lock:
            return max(self.first_call_bound, self.dearest)

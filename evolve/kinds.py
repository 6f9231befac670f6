"""The statuses and kinds a run records: values, not string literals scattered over modules.

Each is a `StrEnum`, so it is stored as its plain value ("ok", "timeout"...) and compares equal to
it, which keeps databases written before these enums readable.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # all iterations done
    STOPPED = "stopped"  # a budget, a target, Ctrl-C
    FAILED = "failed"  # the initial program failed, the model calls kept failing, the machinery broke
    # How a `running` row reads once its driver's heartbeat stopped (it was killed); stored for a
    # run stopped by a full disk, where the database could still be written. `--resume` goes on.
    INTERRUPTED = "interrupted"


class StopKind(StrEnum):
    """Why a run stopped (evolve/stop_reason.py pairs it with the words a person reads); the
    engine decides on the kind, never on the words."""

    COMPLETED = "completed"  # all iterations done
    INTERRUPTED = "interrupted"  # Ctrl-C
    WALL_TIME = "wall_time"  # --max-seconds
    BUDGET = "budget"  # --max-cost
    TARGET_SCORE = "target_score"
    PATIENCE = "patience"  # no better program in the last N evaluations
    CALLS_FAILING = "calls_failing"  # every recent model call failed (a wrong key, model or address)
    INFRA_BROKEN = "infra_broken"  # the machinery stayed broken past --infra-wait
    INITIAL_FAILED = "initial_failed"  # the initial program fails its evaluation
    DISK_FULL = "disk_full"  # a disk filled; `--resume` goes on once there is space


class ProgramStatus(StrEnum):
    PENDING = "pending"  # stored, its evaluation not finished
    OK = "ok"
    FAILED = "failed"  # the candidate's own failure (see FailureKind)
    INTERRUPTED = "interrupted"  # the run stopped during its evaluation; may be proposed again


class CallOutcome(StrEnum):
    """What a model call (or an offline proposal) led to."""

    CHILD = "child"  # a new program, sent to evaluation
    REJECTED = "rejected"  # the answer gave no valid child
    DUPLICATE = "duplicate"  # the child is a program the run already has
    NEAR_DUPLICATE = "near_duplicate"  # the child is too similar to a program of its island (evolve/search/novelty.py)
    JUDGE = "judge"  # a novelty judge's call (not an iteration's outcome: stored with retried set)
    ERROR = "error"  # the call itself failed after its retries


class AnswerForm(StrEnum):
    """The form a model's answer was read in, whichever form the prompt asked for."""

    SEARCH_REPLACE = "search_replace"  # <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks
    UNIFIED_DIFF = "unified_diff"  # ---/+++/@@ hunks
    FULL_PROGRAM = "full_program"  # the whole program, with or without its EVOLVE-BLOCK markers
    BLOCK_BODY = "block_body"  # the new body of the EVOLVE-BLOCK(s) alone
    NONE = "none"  # no edit in any form could be found in the answer
    # Salvages (evolve/edit/salvage.py): an answer off the format whose intent is clear. Each is
    # its own form, so a run's report says how many children each rule gave. Only on a child.
    FULL_PROGRAM_SALVAGED = "full_program_salvaged"  # changed only comments/docstrings outside the blocks
    LOOSE_CODE_PLACED = "loose_code_placed"  # marker-less definitions placed in the block that holds them
    SEARCH_MISS_PLACED = "search_miss_placed"  # a SEARCH that matched nothing; its REPLACE placed so
    FULL_PROGRAM_ANCHORED = "full_program_anchored"  # changed frozen code; blocks read between its anchors

    @property
    def salvaged(self) -> bool:
        return self in (
            AnswerForm.FULL_PROGRAM_SALVAGED,
            AnswerForm.LOOSE_CODE_PLACED,
            AnswerForm.SEARCH_MISS_PLACED,
            AnswerForm.FULL_PROGRAM_ANCHORED,
        )


class Mutation(StrEnum):
    INITIAL = "initial"
    DIFF = "diff"
    FULL = "full"
    OFFLINE = "offline"
    CROSSOVER = "crossover"  # a child of two parents (second_parent_id)
    FIX = "fix"  # a failed program sent back with its error, to be repaired
    # Call rows only, never a program's: a novelty judge's call, and the row of an iteration whose
    # mutator raised before it had made a proposal (so no mutation of its own is known).
    JUDGE = "judge"
    MUTATOR_ERROR = "error"


class FailureKind(StrEnum):
    """Why an evaluation did not give a score. All but INFRASTRUCTURE are the candidate's doing."""

    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    INVALID_RESULT = "invalid result"
    EVALUATOR_ERROR = "evaluator error"  # evaluate.py raised while scoring this candidate
    CANDIDATE_REJECTED = "candidate rejected"  # evaluate.py returned an error for it
    CASCADE = "cascade"  # stopped at an early cascade stage
    SANDBOX_ERROR = "sandbox error"  # the sandbox could not run this candidate
    WORKER_DIED = "worker died"  # the Ray worker running the evaluation died (OOM kill, node loss)
    INTERRUPTED = "interrupted"
    INFRASTRUCTURE = "infrastructure"  # the machinery broke; never counted against a candidate


class EvaluationKind(StrEnum):
    TRAIN = "train"
    HELDOUT = "heldout"
    RESCORE = "rescore"  # `evolve rescore`: the program measured again under a changed evaluator


class EventKind(StrEnum):
    START = "start"
    RESUME = "resume"  # a stopped run goes on (`evolve run --resume`)
    MIGRATION = "migration"
    NEW_BEST = "new_best"
    STOP = "stop"
    PAUSE = "pause"  # the machinery failed; the run waits and retries
    RECOVERED = "recovered"  # the machinery answers again after a pause
    NODE_AVOIDED = "node_avoided"  # one node's machinery failed while others work: evaluations go elsewhere for a while
    HINT = "hint"  # a person's hint for the next prompts (evolve/store/hints.py)
    HINT_CLEARED = "hint_cleared"  # hints withdrawn
    RESCORE = "rescore"  # programs re-scored under a changed evaluator (`evolve rescore`)
    RESET = "reset"  # stagnant islands wiped and reseeded from the best of others (evolve/search/resets.py)


# A metric stored under this prefix is private: stored and reported, never shown to the model
# (an evaluator's "private" figures; evolve/sandbox/result.py names them, evolve/mutate/prompt.py drops them).
PRIVATE_PREFIX = "private."

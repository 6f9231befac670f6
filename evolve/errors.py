"""One hierarchy for every error evolve raises on purpose.

- `UserError`: the user can fix it (a problem folder, an option, a run name). Its message is one
  line naming the file, key or value, with a hint; the CLI prints it and exits 1, no traceback.
- `InfrastructureError`: the machinery broke (the Docker engine, an image, a Ray node). It is
  never a candidate's failure: the engine pauses, retries, and stops the run with this cause.

Anything else that escapes is our bug: the CLI logs its traceback to the run's log file.
"""

from __future__ import annotations


class EvolveError(Exception):
    """The root: the CLI catches this, and only this, as an expected error."""


class UserError(EvolveError):
    """Something the user can fix; the message is one line."""


class ProblemError(UserError):
    """A problem folder is invalid (the message names the file and the key)."""


class OptionError(UserError):
    """A command-line option or run setting is invalid."""


class RunNotFound(UserError):
    """No run of that name, folder or database."""


class RunError(UserError):
    """The run cannot start or go on (a budget that cannot hold, a name taken, the initial program failing)."""


class InfrastructureError(EvolveError):
    """The machinery failed, not the candidate: what broke and what to do."""


class DockerUnavailable(InfrastructureError):
    """The Docker engine does not answer."""


class ImageMissing(InfrastructureError):
    """The evaluation image is not on this node."""


class NodeLost(InfrastructureError):
    """A Ray node or worker running evaluations went away."""


class DiskFull(InfrastructureError):
    """The disk that holds the run's database, log or folder is full: what is committed is kept,
    and the run goes on with `evolve run --resume` once there is space."""

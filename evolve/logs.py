"""Logging for the driver and the Ray workers: warnings, errors and tracebacks go to the run's
`evolve.log`; `-v` shows them live on stderr too. Ray's own banners go to the log, not the terminal.

Every process of a run (the driver, the population actor, the model pool, each evaluation worker)
calls `log_to_file` with the run's log path once; it is idempotent, so a reused Ray worker moves
to the newest run's file.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

LOG_FILENAME = "evolve.log"
FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
_OURS = ("evolve", "ray")  # the loggers whose records belong in a run's log
RAY_STARTUP_LOGGERS = (
    "ray._private.authentication.authentication_token_setup",
    "ray._private.worker",
    "ray._private.services",
    "ray._private.node",
)


class _RunLogFile(logging.FileHandler):
    """The run's evolve.log. When it cannot be written (a full disk), its records are dropped
    quietly: logging's default prints a traceback per record to stderr, hundreds of lines."""

    failure: str | None = None  # the first error that stopped it

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        self.failure = self.failure or (str(error) if error is not None else "unknown error")


_file_handler: _RunLogFile | None = None
_stderr_handler: logging.Handler | None = None


def _loggers() -> list[logging.Logger]:
    return [logging.getLogger(name) for name in _OURS]


def configure(verbose: bool = False) -> None:
    """The CLI's choice: with `verbose`, warnings and errors also appear on stderr as they happen."""
    global _stderr_handler
    for logger in _loggers():
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        # Without a handler of its own, a library logger falls through to Python's last-resort
        # handler and prints to the terminal; the run's file (or nothing) takes its place.
        logger.propagate = False
        if _stderr_handler is not None:
            logger.removeHandler(_stderr_handler)
    if verbose:
        _stderr_handler = logging.StreamHandler()
        _stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        for logger in _loggers():
            logger.addHandler(_stderr_handler)
    else:
        _stderr_handler = None
        for logger in _loggers():
            if not logger.handlers:
                logger.addHandler(logging.NullHandler())


def log_to_file(path: str | Path | None) -> None:
    """Send warnings and errors of this process to `path` (the run's evolve.log)."""
    global _file_handler
    if path is None:
        return
    path = str(path)
    if _file_handler is not None and _file_handler.baseFilename == str(Path(path).resolve()):
        return
    for logger in _loggers():
        if _file_handler is not None:
            logger.removeHandler(_file_handler)
    if _file_handler is not None:
        _file_handler.close()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _file_handler = _RunLogFile(path, encoding="utf-8", delay=True)
    except OSError:  # a node that cannot write there (no shared filesystem): keep Ray's own log
        _file_handler = None
        return
    _file_handler.setLevel(logging.WARNING)
    _file_handler.setFormatter(logging.Formatter(FORMAT))
    for logger in _loggers():
        # Propagation is left as it is: the CLI turns it off (nothing on the terminal unless -v);
        # a library user's handlers (pytest's caplog among them) still see every record.
        logger.addHandler(_file_handler)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)


def adopt_ray_logger() -> None:
    """Ray puts a stderr handler of its own on the "ray" logger when it is imported: its banners
    ("Started a local Ray instance", token-auth notices) go to the run's log instead."""
    # ray.init() reconfigures the "ray" logger itself, so the loggers that speak during start-up
    # are taken over one by one as well.
    for name in ("ray", *RAY_STARTUP_LOGGERS):
        ray_logger = logging.getLogger(name)
        for handler in list(ray_logger.handlers):
            if handler not in (_file_handler, _stderr_handler):
                ray_logger.removeHandler(handler)
        for ours in (_file_handler, _stderr_handler):
            if ours is not None and ours not in ray_logger.handlers:
                ray_logger.addHandler(ours)
        if not ray_logger.handlers:
            ray_logger.addHandler(logging.NullHandler())
        ray_logger.propagate = False


def stop_log_file() -> None:
    """Detach the run's log file (its folder is being removed: a start that failed)."""
    global _file_handler
    if _file_handler is None:
        return
    for logger in _loggers():
        logger.removeHandler(_file_handler)
    _file_handler.close()
    _file_handler = None


def current_log_file() -> str | None:
    """The file this process logs to now (the run's evolve.log), if any, and if it can be written."""
    return _file_handler.baseFilename if _file_handler is not None and _file_handler.failure is None else None


def run_log_path(run_dir: str | Path) -> Path:
    return Path(run_dir).resolve() / LOG_FILENAME


_PROCESS_START = time.monotonic()  # this module is imported early in every evolve process


def milestone(what: str) -> None:
    """Start-up milestones, for `evolve -v run` (where the seconds before the first proposal go)."""
    logging.getLogger("evolve.engine.run").info("%.2f s: %s", time.monotonic() - _PROCESS_START, what)

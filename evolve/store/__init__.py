"""The SQL store: the models, opening a database, and every write (`RunWriter`)."""

from evolve.store.best import BestProgram, read_best_program
from evolve.store.db import DB_FILENAME, open_engine, session_factory, sqlite_url
from evolve.store.llm_call import CallRow
from evolve.store.models import Base, Evaluation, Event, Insight, LLMCall, Program, Run
from evolve.store.run_config import RunConfig
from evolve.store.writer import RunWriter, find_run

__all__ = [
    "DB_FILENAME",
    "Base",
    "BestProgram",
    "CallRow",
    "Evaluation",
    "Event",
    "Insight",
    "LLMCall",
    "Program",
    "Run",
    "RunConfig",
    "RunWriter",
    "find_run",
    "open_engine",
    "read_best_program",
    "session_factory",
    "sqlite_url",
]
